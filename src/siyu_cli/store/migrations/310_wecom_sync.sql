-- 310 wecom sync: what `siyu sync wecom` pulls from the WeCom API, its resumable staging, and contact events.
-- Owner: siyu_cli.wecom.sync (writes); push, report, plan and segment read.
-- A relation/group/member row with synced_batch NULL came from a file (siyu load); a sync sets it to the
-- batch id of the sync that last added or changed the row (an unchanged row keeps its earlier one: readers ask
-- only "ever synced"), and a relation a previous sync saw that the API no longer returns becomes a contact event.

-- every follow_user relation's fields from externalcontact/batch/get_by_user
ALTER TABLE wecom_contacts ADD COLUMN description VARCHAR;
ALTER TABLE wecom_contacts ADD COLUMN remark_mobiles VARCHAR[];   -- as the guide typed them (personal data: mask in output)
ALTER TABLE wecom_contacts ADD COLUMN state VARCHAR;              -- the channel live-code's state (→ members.join_channel)
ALTER TABLE wecom_contacts ADD COLUMN oper_userid VARCHAR;        -- who added: the guide, or the customer's own userid
ALTER TABLE wecom_contacts ADD COLUMN tag_ids VARCHAR[];          -- corp tag ids on this relation (see wecom_corp_tags)
ALTER TABLE wecom_contacts ADD COLUMN synced_batch VARCHAR;       -- the sync that last added or changed it; NULL = from a file

-- one row per external contact (customer) as WeCom describes them
CREATE TABLE wecom_customers (
    external_userid  VARCHAR PRIMARY KEY,
    name             VARCHAR,
    type             INTEGER,          -- 1 微信 2 企业微信
    gender           INTEGER,          -- 0 unknown 1 male 2 female
    unionid          VARCHAR,          -- only when the corp bound a WeChat developer account; often absent
    corp_name        VARCHAR,
    member_id        VARCHAR,          -- the siyu member this customer is (identity resolution)
    synced_batch     VARCHAR,
    updated_at       TIMESTAMPTZ
);

-- the corp tag library (externalcontact/get_corp_tag_list)
CREATE TABLE wecom_corp_tags (
    tag_id        VARCHAR PRIMARY KEY,
    name          VARCHAR NOT NULL,
    group_id      VARCHAR NOT NULL,
    group_name    VARCHAR NOT NULL,
    created_at    TIMESTAMPTZ,
    sort_order    INTEGER,
    synced_batch  VARCHAR
);

CREATE VIEW wecom_relation_tags AS
    SELECT c.external_userid, c.staff_userid, c.member_id, t.tag_id, t.name AS tag, t.group_name AS tag_group
    FROM (SELECT external_userid, staff_userid, member_id, unnest(tag_ids) AS tag_id FROM wecom_contacts) c
    JOIN wecom_corp_tags t USING (tag_id);

-- groupchat/get details
ALTER TABLE groups ADD COLUMN synced_batch VARCHAR;
ALTER TABLE group_members ADD COLUMN member_type INTEGER;      -- 1 staff 2 external contact
ALTER TABLE group_members ADD COLUMN join_scene INTEGER;       -- 1 直接邀请 2 邀请链接 3 扫群二维码
ALTER TABLE group_members ADD COLUMN invitor VARCHAR;
ALTER TABLE group_members ADD COLUMN unionid VARCHAR;
ALTER TABLE group_members ADD COLUMN synced_batch VARCHAR;

-- the removed count of a load (a sync removes relations; file loads never do)
ALTER TABLE load_log ADD COLUMN removed BIGINT DEFAULT 0;

-- relations that appeared or disappeared between two syncs: the 流失 signal
CREATE TABLE contact_events (
    batch_id         VARCHAR NOT NULL,   -- the sync that saw the change
    kind             VARCHAR NOT NULL,   -- contact_added | contact_lost | group_joined | group_left
    external_userid  VARCHAR NOT NULL,
    staff_userid     VARCHAR,            -- the guide (contact_*) or NULL
    group_id         VARCHAR,            -- the group (group_*) or NULL
    member_id        VARCHAR,
    event_at         TIMESTAMPTZ NOT NULL,  -- when it happened: WeCom's createtime/join_time, else when the sync saw it
    since            TIMESTAMPTZ         -- for contact_lost/group_left: the previous sync (it happened in (since, at])
);

-- one row per sync: its phase and cursor, so a killed sync resumes where it stopped
CREATE TABLE wecom_sync_runs (
    batch_id     VARCHAR PRIMARY KEY,
    status       VARCHAR NOT NULL,      -- running | done | failed
    follow_users JSON,                  -- the guides the sync covers (fixed at its start)
    progress     JSON,                  -- {"contacts_batch": i, "cursor": "...", "groups_listed": bool, ...}
    counts       JSON,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ
);

-- staging of a running sync (emptied when its merge commits)
CREATE TABLE wecom_sync_contacts (
    batch_id         VARCHAR NOT NULL,
    external_userid  VARCHAR NOT NULL,
    staff_userid     VARCHAR NOT NULL,
    name             VARCHAR,
    type             INTEGER,
    gender           INTEGER,
    unionid          VARCHAR,
    corp_name        VARCHAR,
    remark           VARCHAR,
    description      VARCHAR,
    remark_mobiles   VARCHAR[],
    createtime       BIGINT,
    add_way          INTEGER,
    state            VARCHAR,
    oper_userid      VARCHAR,
    tag_ids          VARCHAR[],
    PRIMARY KEY (batch_id, external_userid, staff_userid)
);

CREATE TABLE wecom_sync_groups (
    batch_id     VARCHAR NOT NULL,
    chat_id      VARCHAR NOT NULL,
    fetched      BOOLEAN NOT NULL DEFAULT false,  -- listed (false) / groupchat/get done (true)
    name         VARCHAR,
    owner        VARCHAR,
    notice       VARCHAR,
    create_time  BIGINT,
    members      JSON,
    PRIMARY KEY (batch_id, chat_id)
);

CREATE TABLE wecom_sync_tags (
    batch_id    VARCHAR NOT NULL,
    tag_id      VARCHAR NOT NULL,
    name        VARCHAR,
    group_id    VARCHAR,
    group_name  VARCHAR,
    create_time BIGINT,
    sort_order  INTEGER,
    PRIMARY KEY (batch_id, tag_id)
);

-- guide activity per day (externalcontact/get_user_behavior_data, one call per guide)
CREATE TABLE wecom_behavior (
    userid                 VARCHAR NOT NULL,
    day                    DATE NOT NULL,
    new_apply_cnt          INTEGER,
    new_contact_cnt        INTEGER,
    chat_cnt               INTEGER,
    message_cnt            INTEGER,
    reply_percentage       DOUBLE,      -- NULL on days without chats
    avg_reply_time         DOUBLE,      -- minutes; NULL on days without chats
    negative_feedback_cnt  INTEGER,     -- customers who deleted or blocked the guide
    fetched_at             TIMESTAMPTZ,
    PRIMARY KEY (userid, day)
);

-- group activity per owner per day (externalcontact/groupchat/statistic)
CREATE TABLE wecom_group_stats (
    owner           VARCHAR NOT NULL,
    day             DATE NOT NULL,
    new_chat_cnt    INTEGER,
    chat_total      INTEGER,
    chat_has_msg    INTEGER,
    new_member_cnt  INTEGER,
    member_total    INTEGER,
    member_has_msg  INTEGER,
    msg_total       INTEGER,
    fetched_at      TIMESTAMPTZ,
    PRIMARY KEY (owner, day)
);
