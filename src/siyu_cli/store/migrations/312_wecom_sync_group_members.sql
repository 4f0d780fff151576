-- 312 wecom sync: group members staged one row each (not one JSON array per group).
-- Owner: siyu_cli.sync (writes and merges). A scan of per-group JSON arrays holds a whole vector of them
-- (up to 2,048 groups' member lists) at once, which DuckDB cannot spill: the merge's memory grew with the
-- number of groups. Rows of a re-fetched group are replaced by the sync (delete + insert, no index needed).
CREATE TABLE wecom_sync_group_members (
    batch_id    VARCHAR NOT NULL,
    chat_id     VARCHAR NOT NULL,
    userid      VARCHAR NOT NULL,   -- a staff userid (type 1) or an external_userid (type 2)
    type        INTEGER,
    join_time   BIGINT,
    join_scene  INTEGER,
    invitor     VARCHAR,
    unionid     VARCHAR
);
-- the member count of a fetched group (its members are in wecom_sync_group_members; members JSON is left NULL)
ALTER TABLE wecom_sync_groups ADD COLUMN member_count INTEGER;
