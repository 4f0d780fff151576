-- 314 wecom sync: the relations' staging table without its primary key.
-- Owner: siyu_cli.sync (writes and merges). Every staging write checked and extended the key's index, which a
-- write must hold in memory and which grows with the relations already staged (external_userids are random, so
-- each write touches all of it): from about 40,000 staged relations the writes no longer fit the 16 MB they run
-- under, and the fetch's peak grew with the corp. A re-fetched page still replaces its rows: the sync deletes the
-- rows of the write's (external_userid, staff_userid) keys before it inserts them, in the same transaction.
CREATE TABLE wecom_sync_contacts_keyless AS SELECT * FROM wecom_sync_contacts;  -- the columns, not the key
ALTER TABLE wecom_sync_contacts_keyless ALTER COLUMN batch_id SET NOT NULL;
ALTER TABLE wecom_sync_contacts_keyless ALTER COLUMN external_userid SET NOT NULL;
ALTER TABLE wecom_sync_contacts_keyless ALTER COLUMN staff_userid SET NOT NULL;
DROP TABLE wecom_sync_contacts;
ALTER TABLE wecom_sync_contacts_keyless RENAME TO wecom_sync_contacts;
