-- 330 member merges: two existing members found to be one person, and how to undo it.
-- Owner: siyu_cli.members (merge / split / why); siyu_cli.ingest.identity merges during a load.
-- The audit rows hold personal data (previous member rows, ids): `siyu forget` deletes them with the person.

-- One row per merge: `merged_id` was folded into `survivor_id`.
CREATE TABLE member_merges (
    merge_id     VARCHAR PRIMARY KEY,
    survivor_id  VARCHAR NOT NULL,
    merged_id    VARCHAR NOT NULL,      -- the member id that no longer exists (until a split)
    reason       VARCHAR NOT NULL,      -- load (a row linked their ids) | cli (`siyu members merge`)
    via_type     VARCHAR,               -- the id type that linked them (phone, external_userid, …); NULL for cli
    via_value    VARCHAR,               -- that id (personal data: masked in every output)
    batch_id     VARCHAR,               -- the load batch whose row linked them (load_log.batch_id)
    actor        VARCHAR,               -- who: 'siyu load' or 'cli:<os user>'
    note         VARCHAR,
    merged_at    TIMESTAMPTZ NOT NULL,
    undone_at    TIMESTAMPTZ,           -- set by `siyu members split`; a split pair is never merged again automatically
    undone_by    VARCHAR
);

-- What a merge changed, so a split restores it: rows repointed (moved: the table's key), rows dropped because
-- the survivor already had one with the same key (dropped: the whole row), the merged member's row (member)
-- and the survivor's row before the merge filled its blanks (survivor).
CREATE TABLE member_merge_rows (
    merge_id    VARCHAR NOT NULL,
    table_name  VARCHAR NOT NULL,
    action      VARCHAR NOT NULL,       -- moved | dropped | member | survivor
    row_key     VARCHAR,                -- the key columns joined by U+001F (moved / dropped)
    row_data    JSON                    -- the full previous row (dropped / member / survivor)
);

-- Links a load refused to follow (guardrails), one row per linking id, updated each time a load sees it again.
CREATE TABLE identity_conflicts (
    reason       VARCHAR NOT NULL,      -- SHARED_ID | DISTINCT_MEMBER_IDS | SPLIT_KEPT_APART
    id_type      VARCHAR NOT NULL,
    id_value     VARCHAR NOT NULL,      -- personal data: masked in every output
    member_ids   VARCHAR[],             -- the members it would have joined (at most 20)
    members      INTEGER,               -- how many
    first_batch  VARCHAR,
    last_batch   VARCHAR,
    first_seen   TIMESTAMPTZ,
    last_seen    TIMESTAMPTZ,
    PRIMARY KEY (reason, id_type, id_value)
);

-- load history adds up: rows folded into another row's record, members merged into another, links refused
ALTER TABLE load_log ADD COLUMN merged BIGINT DEFAULT 0;
ALTER TABLE load_log ADD COLUMN members_merged BIGINT DEFAULT 0;
ALTER TABLE load_log ADD COLUMN identity_conflicts BIGINT DEFAULT 0;
