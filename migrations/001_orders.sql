-- 001_orders: the order record and its history.
-- States are an enum so that psql shows names, not numbers.
CREATE TYPE order_state AS ENUM (
    'RECEIVED', 'ACCEPTED', 'PREPARING', 'READY', 'DISPATCHING',
    'RIDER_ASSIGNED', 'PICKED_UP', 'DELIVERED', 'CANCELLED', 'FAILED');

CREATE TABLE orders (
    order_id              text PRIMARY KEY
                          CHECK (order_id ~ '^[A-Za-z0-9._:-]{1,64}$'),
    store_id              bigint NOT NULL CHECK (store_id BETWEEN 1 AND 4294967295),
    state                 order_state NOT NULL,
    items                 jsonb NOT NULL,           -- [{"sku": "...", "qty": n}, ...]
    dropoff_lat           double precision NOT NULL,
    dropoff_lng           double precision NOT NULL,
    voucher_id            text,
    customer_ref          text,
    producer_created_at   timestamptz,              -- the producer's clock, not compared
    fingerprint           bigint NOT NULL,          -- hash of the content that idempotency compares
    promised_ready_at     timestamptz NOT NULL,
    promised_delivery_at  timestamptz NOT NULL,
    accepted_at           timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX orders_store_live ON orders (store_id)
    WHERE state NOT IN ('DELIVERED', 'CANCELLED', 'FAILED');

-- No foreign key to orders: sluiced writes an order and its events in one
-- statement, and the per-row FK trigger cost a tenth of the commit time.
CREATE TABLE order_events (
    event_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   text NOT NULL,
    state      order_state NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    detail     text
);

CREATE INDEX order_events_order ON order_events (order_id, event_id);
