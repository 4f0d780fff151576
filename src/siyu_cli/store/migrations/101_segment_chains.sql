-- 101 segment chains: a snapshot stores only what changed since the previous one of its chain (issue 16).
-- Owner: siyu_cli.segment writes (run, prune), siyu_cli.forget and siyu_cli.members rewrite rows;
-- every reader keeps reading segment_members, now a view that rebuilds each snapshot's full rows.
--
-- A chain is a full snapshot (its head: chain_id NULL, every member stored) followed by snapshots whose
-- chain_id is the head's snapshot_id and which store a row only for a member whose row differs from the
-- previous snapshot of the chain (recency_days compared after ageing by the as_of difference), and a
-- tombstone (gone) for a member of the previous snapshot absent from this one. A snapshot's member is its
-- latest row among the rows of the chain's snapshots up to it (a real row before a tombstone of the same
-- snapshot), unless that row is a tombstone; recency_days ages by the days between the row's snapshot and
-- this one. The view has three parts, so `WHERE snapshot_id = ?` reads one snapshot's chain only: heads
-- (their rows as stored), head rows of a chained snapshot no later row of the chain up to it replaced (an
-- anti-join: cheaper than ranking every head row), and the latest later row per member.
-- Measured at 2.45M members (benchmarks/segment.py snapshot_bytes): 15.7 bytes per member per nightly
-- snapshot in full rows, well under a byte in changed rows.
ALTER TABLE segment_members RENAME TO segment_member_rows;
ALTER TABLE segment_member_rows ADD COLUMN gone BOOLEAN DEFAULT false;
ALTER TABLE segment_snapshots ADD COLUMN chain_id INTEGER;
-- the run's settings but as_of (siyu_cli.segment.chains.chain_key): a run continues a chain of equal key only
ALTER TABLE segment_snapshots ADD COLUMN chain_key VARCHAR;

CREATE VIEW segment_members AS
SELECT r.snapshot_id, r.member_id, r.recency_days, r.frequency, r.monetary, r.r_score, r.f_score, r.m_score,
       r.segment_id, r.segment_name, r.revenue, r.first_purchase, r.last_purchase
FROM segment_member_rows r JOIN segment_snapshots s ON s.snapshot_id = r.snapshot_id
WHERE s.chain_id IS NULL AND NOT coalesce(r.gone, false)
UNION ALL
SELECT s.snapshot_id, h.member_id, h.recency_days + CAST(coalesce(s.as_of - hs.as_of, 0) AS INTEGER),
       h.frequency, h.monetary, h.r_score, h.f_score, h.m_score, h.segment_id, h.segment_name, h.revenue,
       h.first_purchase, h.last_purchase
FROM segment_snapshots s
JOIN segment_snapshots hs ON hs.snapshot_id = s.chain_id
JOIN segment_member_rows h ON h.snapshot_id = hs.snapshot_id
LEFT JOIN (SELECT DISTINCT s2.snapshot_id, d.member_id
           FROM segment_snapshots s2
           JOIN segment_snapshots o ON o.chain_id = s2.chain_id AND o.snapshot_id <= s2.snapshot_id
           JOIN segment_member_rows d ON d.snapshot_id = o.snapshot_id) x
     ON x.snapshot_id = s.snapshot_id AND x.member_id = h.member_id
WHERE s.chain_id IS NOT NULL AND NOT coalesce(h.gone, false) AND x.member_id IS NULL
UNION ALL
SELECT snapshot_id, member_id, recency_days, frequency, monetary, r_score, f_score, m_score,
       segment_id, segment_name, revenue, first_purchase, last_purchase
FROM (
    SELECT s.snapshot_id, d.member_id,
           d.recency_days + CAST(coalesce(s.as_of - o.as_of, 0) AS INTEGER) AS recency_days,
           d.frequency, d.monetary, d.r_score, d.f_score, d.m_score, d.segment_id, d.segment_name, d.revenue,
           d.first_purchase, d.last_purchase, coalesce(d.gone, false) AS gone,
           row_number() OVER (PARTITION BY s.snapshot_id, d.member_id
                              ORDER BY d.snapshot_id DESC, coalesce(d.gone, false)) AS pick
    FROM segment_snapshots s
    JOIN segment_snapshots o ON o.chain_id = s.chain_id AND o.snapshot_id <= s.snapshot_id
    JOIN segment_member_rows d ON d.snapshot_id = o.snapshot_id
    WHERE s.chain_id IS NOT NULL
)
WHERE pick = 1 AND NOT gone;
