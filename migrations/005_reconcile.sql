-- 005_reconcile: settlement reconciliation (sluicectl reconcile). For one
-- day and one platform, a run compares the platform's settlement report
-- with `dispatches` and `orders` and keeps what disagrees. A run that fetched
-- its report replaces the day's earlier discrepancies of that platform in the
-- same transaction; a run that could not (platform unreachable) is recorded
-- as FAILED and leaves them in place. Runs are kept as an audit trail.
CREATE TYPE reconcile_kind AS ENUM (
    'MISSING_HERE',      -- the platform reports it delivered (or charges it); we have no such delivery
    'MISSING_THERE',     -- we have it delivered; the platform's report does not
    'FEE_MISMATCH',      -- both have it; the fees differ
    'DUPLICATE_CHARGE'); -- the platform lists the same dispatch key more than once

CREATE TYPE reconcile_status AS ENUM (
    'CLEAN',             -- the report and our records agree
    'DISCREPANCIES',     -- see reconcile_discrepancies
    'FAILED');           -- the report could not be fetched; `error` says why

CREATE TABLE reconcile_runs (
    run_id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    day                 date NOT NULL,
    utc_offset_minutes  integer NOT NULL,   -- the day runs from local midnight at this offset
    platform            text NOT NULL,
    started_at          timestamptz NOT NULL,
    finished_at         timestamptz NOT NULL DEFAULT now(),
    lines_theirs        integer,            -- settlement lines received (NULL: not fetched)
    lines_ours          integer,            -- our dispatches compared with them
    final               boolean,            -- the platform said the day will not change
    discrepancies       integer,
    status              reconcile_status NOT NULL,
    error               text
);

CREATE INDEX reconcile_runs_day ON reconcile_runs (day, platform, run_id);

CREATE TABLE reconcile_discrepancies (
    run_id           bigint NOT NULL REFERENCES reconcile_runs (run_id),
    day              date NOT NULL,
    platform         text NOT NULL,
    kind             reconcile_kind NOT NULL,
    dispatch_key     text NOT NULL,
    order_id         text,
    store_id         bigint,
    our_fee_cents    bigint,                -- NULL: we have no fee for it
    their_fee_cents  bigint,                -- NULL: not in their report
    detail           text
);

CREATE INDEX reconcile_discrepancies_day ON reconcile_discrepancies (day, platform);
CREATE INDEX reconcile_discrepancies_run ON reconcile_discrepancies (run_id);

-- A day's ended dispatches of one platform without a scan of all of them.
-- Partial: a live dispatch has no entry, so the daemon pays one more index
-- entry per dispatch when it ends, nothing while it is live.
CREATE INDEX dispatches_ended ON dispatches (platform, updated_at)
    WHERE state IN ('DELIVERED', 'CANCELLED');
