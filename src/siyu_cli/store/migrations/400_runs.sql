-- 400 runs: unattended pipeline runs (`siyu run`, `siyu runs`). Owner: siyu_cli.runner.
CREATE TABLE pipeline_runs (
    run_id        VARCHAR PRIMARY KEY,       -- e.g. nightly-20261124T020000-1a2b
    pipeline      VARCHAR NOT NULL,
    status        VARCHAR NOT NULL,          -- running | ok | failed | interrupted
    pid           INTEGER,                   -- the process that ran it (a 'running' row whose pid is gone was killed)
    host          VARCHAR,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    resumed_from  VARCHAR,                   -- run_id this run resumed (its finished steps were not redone)
    error         VARCHAR
);

CREATE TABLE pipeline_steps (
    run_id        VARCHAR NOT NULL,
    step_index    INTEGER NOT NULL,
    step          VARCHAR NOT NULL,          -- the step's name in the pipeline
    type          VARCHAR NOT NULL,          -- load | segment | report | push_due | sql
    status        VARCHAR NOT NULL,          -- running | ok | failed | skipped (done by the run it resumed)
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    counts        JSON,                      -- what the step did (rows loaded, snapshot id, messages sent…)
    error         VARCHAR,
    PRIMARY KEY (run_id, step_index)
);
