-- 370 clv: buy-till-you-die fits (BG/NBD + Gamma-Gamma). Owner: siyu_cli.clv writes; push/plan/report/segment read.
-- One row per `siyu clv` run. params holds the fitted parameters (BG/NBD r, alpha, a, b with time in weeks;
-- Gamma-Gamma p, q, v in the workspace currency), the settings used (horizon, discount) and fit diagnostics.
CREATE TABLE clv_fits (
    fit_id        INTEGER PRIMARY KEY,
    created_at    TIMESTAMPTZ NOT NULL,    -- when the fit ran (the "fit date")
    as_of         DATE NOT NULL,           -- end of the observation period (inclusive, workspace timezone)
    params        JSON NOT NULL,
    buyers        BIGINT NOT NULL,         -- members with at least one purchase (fitted by BG/NBD)
    repeat_buyers BIGINT NOT NULL,         -- buyers with a repeat purchase day (fitted by Gamma-Gamma)
    library       VARCHAR                  -- e.g. pymc-marketing 0.19.2
);

-- Per buyer of a fit: the summary the models saw and their predictions. Members who never bought have no row.
-- frequency = repeat purchase days (distinct local purchase days − 1); recency_days = last − first purchase day;
-- t_days = as_of − first purchase day; avg_repeat_spend = mean net spend per repeat purchase day (NULL if none).
CREATE TABLE clv_members (
    fit_id            INTEGER NOT NULL,
    member_id         VARCHAR NOT NULL,
    frequency         INTEGER NOT NULL,
    recency_days      INTEGER NOT NULL,
    t_days            INTEGER NOT NULL,
    avg_repeat_spend  DECIMAL(18,2),
    p_alive           DOUBLE,              -- P(still a customer) at as_of
    purchases_30d     DOUBLE,              -- expected purchase days in the next 30 days
    purchases_90d     DOUBLE,              -- … in the next 90 days
    expected_spend    DOUBLE,              -- expected net spend per future purchase (Gamma-Gamma)
    clv               DOUBLE,              -- expected net spend over the fit's horizon (discounted)
    PRIMARY KEY (fit_id, member_id)
);
