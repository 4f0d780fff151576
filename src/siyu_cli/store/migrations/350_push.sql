-- 350 push: campaigns, batches and the per-recipient ledger (owner: siyu_cli.push).
-- State machine of a batch and of each recipient: planned -> in_flight -> sent | failed | skipped.
-- A batch is committed as in_flight BEFORE its WeCom call and completed after it; an in_flight
-- batch found after a crash is reconciled against WeCom's own records, never re-sent blindly.

CREATE TABLE push_campaigns (
    campaign_id   VARCHAR PRIMARY KEY,
    name          VARCHAR,
    channel       VARCHAR NOT NULL,        -- customer | group | app | robot
    audience      VARCHAR,                 -- the audience spec as given (segment:A, tag:VIP, sql:..., list:...)
    snapshot_id   INTEGER,                 -- segment snapshot used, when the audience is a segment
    segment_id    VARCHAR,
    status        VARCHAR NOT NULL,        -- ready | sending | sent | partial | cancelled | empty
    created_at    TIMESTAMPTZ NOT NULL,
    sent_at       TIMESTAMPTZ,             -- when the last batch completed
    template      VARCHAR,                 -- Jinja2 template of the text
    attachments   JSON,                    -- WeCom attachment dicts (images by local path until sent)
    personalised  BOOLEAN NOT NULL DEFAULT false,
    due_key       VARCHAR UNIQUE,          -- DueMessage.key for campaigns made by push_due
    scheduled_at  TIMESTAMPTZ,
    cancelled_at  TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ
);

CREATE TABLE push_batches (
    campaign_id   VARCHAR NOT NULL,
    batch_id      VARCHAR NOT NULL,        -- b000001 … in send order
    sender        VARCHAR,                 -- guide / group owner (customer, group); NULL for app and robot
    text          VARCHAR,                 -- rendered text of this batch (one text per API call)
    recipients    INTEGER NOT NULL,
    state         VARCHAR NOT NULL,        -- planned | in_flight | sent | failed | skipped
    msgid         VARCHAR,                 -- WeCom msgid of the mass-send task / app message
    attempts      INTEGER NOT NULL DEFAULT 0,
    started_at    TIMESTAMPTZ,             -- when it went in_flight (reconciliation window start)
    finished_at   TIMESTAMPTZ,
    error         VARCHAR,
    reconciled    BOOLEAN NOT NULL DEFAULT false,   -- outcome recovered from WeCom's records after a crash
    reminders     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, batch_id)
);

CREATE TABLE push_recipients (
    campaign_id   VARCHAR NOT NULL,
    recipient_id  VARCHAR NOT NULL,        -- external_userid (customer), chat_id (group), staff userid (app), robot key name
    member_id     VARCHAR,
    batch_id      VARCHAR,                 -- NULL for recipients excluded before batching
    sender        VARCHAR,
    state         VARCHAR NOT NULL,        -- planned | in_flight | sent | failed | skipped
    delivery      VARCHAR,                 -- NULL | delivered | not_friend | quota_exceeded | unconfirmed
    reason        VARCHAR,                 -- skipped/failed reason: opted_out, frequency_cap, platform_cap, no_wecom_id, not_contact, quiet_hours, errcode …
    msgid         VARCHAR,
    sent_at       TIMESTAMPTZ,
    delivered_at  TIMESTAMPTZ,
    PRIMARY KEY (campaign_id, recipient_id)
);
