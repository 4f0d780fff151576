-- 001 core: members, orders, lines, groups, staff, tags, load log, rejects.
-- Owner: siyu_cli.ingest (the loader) writes all of these tables; everything else reads them.
-- Times are TIMESTAMPTZ (naive export times are read in the workspace timezone);
-- money is DECIMAL(18,2) in the workspace currency.

CREATE TABLE schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        VARCHAR NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL
);

-- One row per person after identity resolution.
CREATE TABLE members (
    member_id         VARCHAR PRIMARY KEY,   -- siyu's id: first of source member id / 'wx:'external_userid / 'u:'unionid / 'p:'phone
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

-- Every external id that points to a member (identity resolution: member id, external_userid, unionid, phone).
CREATE TABLE member_identities (
    id_type    VARCHAR NOT NULL,   -- source_member_id | external_userid | unionid | phone | email
    id_value   VARCHAR NOT NULL,
    member_id  VARCHAR NOT NULL,
    PRIMARY KEY (id_type, id_value)
);

-- Staff (guides, 导购) who own WeCom contacts and groups.
CREATE TABLE staff (
    userid      VARCHAR PRIMARY KEY,
    name        VARCHAR,
    store       VARCHAR,
    updated_at  TIMESTAMPTZ
);

-- WeCom contact relations: one row per (customer, staff member who added them).
CREATE TABLE wecom_contacts (
    external_userid  VARCHAR NOT NULL,
    staff_userid     VARCHAR NOT NULL,
    member_id        VARCHAR,
    added_at         TIMESTAMPTZ,
    add_way          VARCHAR,
    remark           VARCHAR,
    PRIMARY KEY (external_userid, staff_userid)
);

CREATE TABLE orders (
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
    updated_at      TIMESTAMPTZ,
    PRIMARY KEY (source, order_id)
);

CREATE TABLE order_lines (
    source          VARCHAR NOT NULL,
    order_id        VARCHAR NOT NULL,
    line_no         VARCHAR NOT NULL,   -- sub-order id, or the line's position within the order
    sku             VARCHAR,
    product_name    VARCHAR,
    category        VARCHAR,
    quantity        DECIMAL(18,3),
    unit_price      DECIMAL(18,2),
    amount          DECIMAL(18,2),
    refund_amount   DECIMAL(18,2) NOT NULL DEFAULT 0,
    batch_id        VARCHAR,
    PRIMARY KEY (source, order_id, line_no)
);

-- Customer groups (社群 / 客户群).
CREATE TABLE groups (
    group_id      VARCHAR PRIMARY KEY,   -- WeCom chat_id or the export's group id
    name          VARCHAR,
    owner_userid  VARCHAR,               -- group owner (staff), who confirms group mass-sends
    store         VARCHAR,
    city          VARCHAR,
    tags          VARCHAR[],
    created_at    TIMESTAMPTZ,
    member_count  INTEGER,               -- as exported; group_members may hold fewer
    notice        VARCHAR,
    batch_id      VARCHAR,
    updated_at    TIMESTAMPTZ
);

CREATE TABLE group_members (
    group_id         VARCHAR NOT NULL,
    external_userid  VARCHAR NOT NULL,   -- or another stable id of the person in the group
    member_id        VARCHAR,
    joined_at        TIMESTAMPTZ,
    batch_id         VARCHAR,
    PRIMARY KEY (group_id, external_userid)
);

CREATE TABLE member_tags (
    member_id  VARCHAR NOT NULL,
    tag_group  VARCHAR NOT NULL DEFAULT '',
    tag        VARCHAR NOT NULL,
    batch_id   VARCHAR,
    PRIMARY KEY (member_id, tag_group, tag)
);

CREATE VIEW tags AS
    SELECT tag_group, tag, count(*) AS members FROM member_tags GROUP BY ALL;

CREATE TABLE load_log (
    batch_id     VARCHAR PRIMARY KEY,
    kind         VARCHAR NOT NULL,      -- members | orders | groups
    file         VARCHAR NOT NULL,
    file_sha256  VARCHAR NOT NULL,
    preset       VARCHAR,
    source       VARCHAR,
    encoding     VARCHAR,
    rows_read    BIGINT NOT NULL DEFAULT 0,
    inserted     BIGINT NOT NULL DEFAULT 0,
    updated      BIGINT NOT NULL DEFAULT 0,
    unchanged    BIGINT NOT NULL DEFAULT 0,
    rejected     BIGINT NOT NULL DEFAULT 0,
    status       VARCHAR NOT NULL,      -- loaded | skipped (same file seen before) | failed
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ
);

CREATE TABLE rejects (
    batch_id    VARCHAR NOT NULL,
    file        VARCHAR NOT NULL,
    line        BIGINT,                 -- 1-based line number in the file (header = 1)
    "column"    VARCHAR,
    reason      VARCHAR NOT NULL,       -- e.g. BAD_AMOUNT, BAD_DATE, MISSING_KEY, SUMMARY_ROW, TOO_MANY_COLUMNS
    message     VARCHAR,
    raw         VARCHAR,                -- the raw text of the line or value
    created_at  TIMESTAMPTZ NOT NULL
);
