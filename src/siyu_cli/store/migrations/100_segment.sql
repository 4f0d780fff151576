-- 100 segment: RFM snapshots. Owner: siyu_cli.segment writes; push/report/plan read.
-- One row per `siyu segment` run; params holds the as-of, window, units, thresholds used and the
-- scheme's segment catalogue (ids, Chinese names, actions), so a snapshot explains itself later.
CREATE TABLE segment_snapshots (
    snapshot_id  INTEGER PRIMARY KEY,
    created_at   TIMESTAMPTZ,
    as_of        DATE,
    scheme       VARCHAR,
    params       JSON,
    members      BIGINT,
    label        VARCHAR
);

-- Per-member measures, scores and segment of a snapshot.
-- recency_days NULL and frequency 0 for members with no purchase in the window (segment 'no_purchase').
-- rfm8: r/f/m_score are 1 (high: recent / frequent / big) or 0 (low); rfm11 and custom schemes: 1..5.
-- monetary is the measure used for scoring (total or average net spend); revenue is always the net total.
CREATE TABLE segment_members (
    snapshot_id     INTEGER NOT NULL,
    member_id       VARCHAR NOT NULL,
    recency_days    INTEGER,
    frequency       INTEGER,
    monetary        DECIMAL(18,2),
    r_score         INTEGER,
    f_score         INTEGER,
    m_score         INTEGER,
    segment_id      VARCHAR,
    segment_name    VARCHAR,
    revenue         DECIMAL(18,2),
    first_purchase  DATE,
    last_purchase   DATE
);
