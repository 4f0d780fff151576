-- 004 privacy: the id key's fingerprint, erasure tombstones and the erasure log (`siyu forget`).
-- Owner: siyu_cli.privacy / siyu_cli.forget; the loader reads erased_identities to skip erased people.

-- Which id key made this store's pseudonymous member ids (a keyed hash of a constant, never the key):
-- a store opened with another key is refused instead of silently splitting every person in two.
CREATE TABLE id_key (
    fingerprint  VARCHAR NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);

-- Tombstones: keyed hashes (HMAC-SHA256 under the id key, 64 hex) of the identifiers of erased people.
-- Never the identifiers themselves. A load skips rows naming one (counted as `erased`); push skips them.
CREATE TABLE erased_identities (
    id_type    VARCHAR NOT NULL,   -- source_member_id | external_userid | unionid | phone | email | member_id
    id_hash    VARCHAR NOT NULL,
    erased_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (id_type, id_hash)
);

-- One row per `siyu forget` that erased someone: when and how much, never who.
CREATE TABLE erasures (
    erasure_id   VARCHAR PRIMARY KEY,
    erased_at    TIMESTAMPTZ NOT NULL,
    people       INTEGER NOT NULL,   -- members erased
    identifiers  INTEGER NOT NULL,   -- tombstones written
    rows         JSON                -- {table: rows deleted or blanked}
);

-- rows a load skipped because they name an erased person
ALTER TABLE load_log ADD COLUMN erased BIGINT NOT NULL DEFAULT 0;
