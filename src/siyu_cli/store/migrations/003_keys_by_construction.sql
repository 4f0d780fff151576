-- 003: orders, members and member_identities keep their keys unique by construction, without an index.
-- Owner: siyu_cli.ingest (the only writer of these tables).
--
-- Why: a PRIMARY KEY makes DuckDB maintain an ART index, which must fit in memory and cost more than
-- everything else in a load (1M orders: 4.5 s with the three indexes, 2.3 s without; the commit alone
-- went from 0.8 s to 0.02 s). The loader already guarantees the keys: each file is folded to one row per
-- key, classified against the table (new / changed / unchanged) and only new keys are inserted, all in
-- one transaction under DuckDB's single-writer lock; tests/test_load_keys.py checks the keys stay unique
-- through reloads, overlapping exports, repeated rows and identity merges. Reads join on these columns
-- (hash joins), which never used the index. DuckDB cannot drop a constraint, so each table is rebuilt
-- with the same columns, order, types and defaults.

-- members: unique member_id, kept by the loader
CREATE TABLE members__new (
    member_id         VARCHAR NOT NULL,      -- siyu's id: first of source member id / 'wx:'external_userid / 'u:'unionid / 'p:'phone
    source            VARCHAR,               -- preset/platform that first created the member (youzan, shopify, wecom, siyu…)
    source_member_id  VARCHAR,               -- the back-office's own member/customer id, when the export has one
    external_userid   VARCHAR,               -- WeCom external contact id (wo…/wm…), NULL when not a WeCom contact
    unionid           VARCHAR,               -- WeChat unionid
    phone             VARCHAR,               -- normalised 11-digit mainland mobile; NULL when unknown or masked
    phone_masked      VARCHAR,               -- a masked phone as exported (138****1234); never used for matching
    email             VARCHAR,
    name              VARCHAR,
    nickname          VARCHAR,
    gender            VARCHAR,               -- male / female / NULL
    birthday          DATE,
    level             VARCHAR,               -- membership level as exported
    points            BIGINT,
    join_at           TIMESTAMPTZ,           -- became a member / customer
    join_channel      VARCHAR,               -- acquisition channel (live-code source, mini-program, store…)
    store             VARCHAR,               -- home store
    guide_userid      VARCHAR,               -- WeCom userid of the owning guide (专属导购 / 添加人账号)
    guide_name        VARCHAR,
    first_batch       VARCHAR,
    updated_batch     VARCHAR,
    updated_at        TIMESTAMPTZ
);
INSERT INTO members__new SELECT * FROM members;
DROP TABLE members;
ALTER TABLE members__new RENAME TO members;

-- member_identities: unique (id_type, id_value), kept by the loader
CREATE TABLE member_identities__new (
    id_type    VARCHAR NOT NULL,   -- source_member_id | external_userid | unionid | phone | email
    id_value   VARCHAR NOT NULL,
    member_id  VARCHAR NOT NULL
);
INSERT INTO member_identities__new SELECT * FROM member_identities;
DROP TABLE member_identities;
ALTER TABLE member_identities__new RENAME TO member_identities;

-- orders: unique (source, order_id), kept by the loader
CREATE TABLE orders__new (
    source          VARCHAR NOT NULL,   -- platform / preset (youzan, shopify, taobao, siyu, or a custom mapping name)
    order_id        VARCHAR NOT NULL,   -- kept as text exactly as the platform shows it (no scientific notation)
    member_id       VARCHAR,            -- resolved member, NULL for non-member orders
    buyer_phone     VARCHAR,            -- normalised phone from the order (NULL if masked/virtual)
    buyer_ref       VARCHAR,            -- what the order named the buyer by (member id, email, nick) as exported
    status          VARCHAR NOT NULL,   -- unpaid | paid | cancelled | refunded | partially_refunded
    status_raw      VARCHAR,
    created_at      TIMESTAMPTZ,
    paid_at         TIMESTAMPTZ,        -- NULL = never paid
    total_amount    DECIMAL(18,2),      -- goods + shipping before discounts, when exported
    paid_amount     DECIMAL(18,2),      -- what the buyer paid
    refund_amount   DECIMAL(18,2) NOT NULL DEFAULT 0,
    net_amount      DECIMAL(18,2) NOT NULL DEFAULT 0,  -- paid - refund for paid orders, 0 for unpaid/cancelled
    item_count      INTEGER,            -- number of items (units), when known
    store           VARCHAR,
    channel         VARCHAR,
    guide_userid    VARCHAR,
    batch_id        VARCHAR,
    updated_at      TIMESTAMPTZ
);
INSERT INTO orders__new SELECT * FROM orders;
DROP TABLE orders;
ALTER TABLE orders__new RENAME TO orders;
