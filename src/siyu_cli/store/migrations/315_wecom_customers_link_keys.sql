-- 315 wecom sync: what each synced customer was linked by.
-- Owner: siyu_cli.sync.linking. A hash of the member a customer was linked to and of the inputs linking read for it
-- (unionid, remark phone, first relation's time, channel and guide); a later sync resolves again only the customers
-- whose hash no longer matches (new, changed, or whose member was merged or split since), see docs/wecom.md.
ALTER TABLE wecom_customers ADD COLUMN link_keys VARCHAR;
