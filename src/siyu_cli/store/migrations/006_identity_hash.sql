-- 006: member_identities gets id_hash, DuckDB's hash(id_type, id_value) of its key. Owner: siyu_cli.ingest.
--
-- Why: a load looks every id of its file up in member_identities, a table that grows with the store (10M orders:
-- 5M identities). Joined on the two text columns, DuckDB hashes and compares every stored id (0.2–0.4 s of a
-- 50k-row daily file at 10M orders, and the lookup that grew most with the store). Joined on one integer
-- column, its hash join hands the table scan a Bloom filter of the file's hashes, which drops all but the
-- file's ids before the text columns are read (siyu_cli.ingest.identity: _hits; the text is still compared,
-- so a hash collision never matches two ids). An ART index on id_value was tried: DuckDB 2.0 used it neither
-- for joins nor for IN lists. DuckDB does not promise hash() stays the same across versions:
-- identity.check_hashes recomputes the column when it no longer matches (a DuckDB upgrade).
-- The table is rebuilt (as in 003) because DuckDB cannot make a column NOT NULL in the transaction that fills it;
-- NOT NULL makes a writer that forgets the hash fail instead of storing an id no lookup finds.
CREATE TABLE member_identities__new (
    id_type    VARCHAR NOT NULL,   -- source_member_id | external_userid | unionid | phone | email
    id_value   VARCHAR NOT NULL,
    member_id  VARCHAR NOT NULL,
    id_hash    UBIGINT NOT NULL    -- hash(id_type, id_value): what a load joins on (identity.ID_HASH)
);
INSERT INTO member_identities__new SELECT id_type, id_value, member_id, hash(id_type, id_value) FROM member_identities;
DROP TABLE member_identities;
ALTER TABLE member_identities__new RENAME TO member_identities;
