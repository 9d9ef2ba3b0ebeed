-- 003_dispatches: every attempt to hand an order to a delivery platform.
-- A row is written (state SENDING) and committed before the DispatchRequest
-- leaves the daemon: this table is the outbox. Its key is the idempotency key
-- the platform sees, "<order_id>:<attempt>", so a restarted daemon re-sends
-- an attempt under the same key and the platform drops the repeat.
CREATE TYPE dispatch_state AS ENUM (
    'SENDING',      -- written, maybe sent, no answer yet
    'PENDING',      -- accepted by the platform, no rider yet
    'ASSIGNED', 'ARRIVED', 'PICKED_UP',
    'DELIVERED',    -- terminal
    'CANCELLING',   -- we asked the platform to cancel; it may still hold a rider
    'CANCELLED',    -- terminal: the platform released it (our cancel or theirs)
    'REFUSED',      -- terminal: the platform said no
    'ERROR');       -- terminal: the platform answered Error, the request had no effect

CREATE TABLE dispatches (
    dispatch_key  text PRIMARY KEY CHECK (dispatch_key ~ '^[A-Za-z0-9._:-]{1,64}$'),
    order_id      text NOT NULL,
    attempt       integer NOT NULL CHECK (attempt >= 1),
    platform      text NOT NULL,
    state         dispatch_state NOT NULL,
    rider_ref     text,
    last_seq      integer NOT NULL DEFAULT 0,   -- the last rider event applied
    fee_cents     integer,
    pickup_at     timestamptz,                  -- the platform's latest pickup estimate
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX dispatches_order_attempt ON dispatches (order_id, attempt);
CREATE INDEX dispatches_live ON dispatches (platform)
    WHERE state NOT IN ('DELIVERED', 'CANCELLED', 'REFUSED', 'ERROR');

-- FAILED orders (no rider before ready_at + max_hold) are owed a refund;
-- finance reads this flag instead of parsing event details.
ALTER TABLE orders ADD COLUMN refund_due boolean NOT NULL DEFAULT false;
