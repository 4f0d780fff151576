-- 010 dimensions: canonical stores and staff aliases. Owner: siyu_cli.dimensions (`siyu stores`, `siyu staff`).
-- Canonical stores also come from siyu.toml ([stores.<id>]); these tables hold what operators add with
-- the CLI (and confirmed suggestions). Reports, audiences and plans resolve raw values through both.
CREATE TABLE dim_stores (
    store_id    VARCHAR PRIMARY KEY,   -- the canonical id (e.g. SH01)
    name        VARCHAR NOT NULL,      -- the canonical display name
    kind        VARCHAR NOT NULL DEFAULT 'physical',  -- physical | online (an online shop or channel, not a store)
    updated_at  TIMESTAMPTZ
);

-- A raw store value (as an export writes it) → canonical store id.
CREATE TABLE dim_store_aliases (
    alias       VARCHAR PRIMARY KEY,
    store_id    VARCHAR NOT NULL,
    source      VARCHAR,               -- cli | suggest (a confirmed suggestion)
    created_at  TIMESTAMPTZ
);

-- A raw guide value (a name, a WeCom alias, an old userid) → WeCom userid.
CREATE TABLE dim_staff_aliases (
    alias       VARCHAR PRIMARY KEY,
    userid      VARCHAR NOT NULL,
    source      VARCHAR,
    created_at  TIMESTAMPTZ
);
