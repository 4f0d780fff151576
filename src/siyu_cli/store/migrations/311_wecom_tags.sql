-- 311 wecom tags: segments and audiences written back as WeCom corp tags (`siyu tags sync`).
-- Owner: siyu_cli.sync.tags. siyu only ever adds or removes tags listed in wecom_tag_owned (tags it created).

-- corp tags siyu created with add_corp_tag (never any other tag)
CREATE TABLE wecom_tag_owned (
    tag_id      VARCHAR PRIMARY KEY,
    group_id    VARCHAR NOT NULL,
    group_name  VARCHAR NOT NULL,
    name        VARCHAR NOT NULL,
    created_at  TIMESTAMPTZ
);

-- what siyu has applied (a successful mark_tag) per (customer, guide) relation: the base of the next diff
CREATE TABLE wecom_tag_state (
    external_userid  VARCHAR NOT NULL,
    staff_userid     VARCHAR NOT NULL,
    group_name       VARCHAR NOT NULL,
    tag_name         VARCHAR NOT NULL,
    run_id           VARCHAR,
    applied_at       TIMESTAMPTZ,
    PRIMARY KEY (external_userid, staff_userid, group_name, tag_name)
);

-- one row per tag sync; a running one is resumed by the next `siyu tags sync` of the same scope
CREATE TABLE wecom_tag_runs (
    run_id       VARCHAR PRIMARY KEY,
    mode         VARCHAR NOT NULL,     -- segment | audience
    group_name   VARCHAR NOT NULL,
    tag_name     VARCHAR,              -- audience mode: the one tag managed
    scheme       VARCHAR,
    snapshot_id  INTEGER,
    audience     VARCHAR,
    status       VARCHAR NOT NULL,     -- running | done | failed
    planned      BIGINT DEFAULT 0,
    done         BIGINT DEFAULT 0,
    skipped      BIGINT DEFAULT 0,
    failed       BIGINT DEFAULT 0,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    error        VARCHAR
);

-- every planned mark_tag call (one per relation whose tags change)
CREATE TABLE wecom_tag_ledger (
    run_id           VARCHAR NOT NULL,
    external_userid  VARCHAR NOT NULL,
    staff_userid     VARCHAR NOT NULL,
    member_id        VARCHAR,
    add_names        VARCHAR[],
    remove_names     VARCHAR[],
    status           VARCHAR NOT NULL,  -- pending | done | skipped (84061: no longer a contact) | failed
    errcode          INTEGER,
    done_at          TIMESTAMPTZ,
    PRIMARY KEY (run_id, external_userid, staff_userid)
);
