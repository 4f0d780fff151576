-- 371 experiments: randomised holdouts and message variants in the push ledger (owner: siyu_cli.push.experiments).
-- Additive: new columns default to NULL, so campaigns without an experiment read exactly as before.
ALTER TABLE push_campaigns ADD COLUMN holdout DOUBLE;      -- holdout share of the eligible recipients (0 = none)
ALTER TABLE push_recipients ADD COLUMN arm VARCHAR;        -- 'holdout' or a treatment arm; NULL = not in the experiment
ALTER TABLE push_batches ADD COLUMN arm VARCHAR;           -- the variant this batch's text belongs to

-- The arms of a campaign: target share of the eligible recipients and the arm's template (NULL for the holdout).
CREATE TABLE push_arms (
    campaign_id  VARCHAR NOT NULL,
    arm          VARCHAR NOT NULL,
    share        DOUBLE NOT NULL,
    template     VARCHAR,
    PRIMARY KEY (campaign_id, arm)
);
