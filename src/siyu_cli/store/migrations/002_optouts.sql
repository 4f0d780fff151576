-- 002 opt-outs: people who asked not to be messaged. Shared by push (which manages it via
-- `siyu optout`) and plan (whose SOP lists exclude them), so it lives with the core tables.
CREATE TABLE optouts (
    member_id   VARCHAR NOT NULL,     -- a member_id, or an external_userid / phone when no member is known
    channel     VARCHAR NOT NULL DEFAULT 'all',   -- all | customer | group | app
    reason      VARCHAR,
    source      VARCHAR,              -- cli | import | wecom
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (member_id, channel)
);
