-- life.sql - PostgreSQL alone doing the writes of the whole life of :batch
-- orders, the baseline of the order-life section (tools/bench/bench-life.sh):
-- the same tables, constraints and indexes (the daemon's schema), and per
-- order the rows sluiced writes: the accept (orders row and its event), then
-- five steps (dispatching, assigned, at the store, picked up, delivered),
-- each an orders update, a dispatches insert or update and an event row.
-- Each step of the batch is its own transaction, as the daemon commits
-- steps in runs. Run by pgbench:
--   pgbench -n -f life.sql -D batch=500 -c CLIENTS -j CLIENTS -T SECONDS
-- orders/s through the whole life = tps x batch. The ids come from one
-- nextval of bench_life per script (created by the bench).
SET synchronous_commit TO on;
SELECT nextval('bench_life') * :batch AS base \gset
WITH o AS (
    INSERT INTO orders (order_id, store_id, state, items, dropoff_lat, dropoff_lng,
                        producer_created_at, fingerprint, promised_ready_at,
                        promised_delivery_at, prep_slot, prep_start_at)
    SELECT 'life-' || (:base + i), 1 + i % 1000, 'ACCEPTED',
           '[{"sku":"sku-0","qty":1}]'::jsonb, 30.28, 120.15, now(), (:base + i) * 2654435761,
           now() + interval '2 s', now() + interval '60 s', 0, now()
      FROM generate_series(1, :batch) AS i
    RETURNING order_id
)
INSERT INTO order_events (order_id, state) SELECT order_id, 'ACCEPTED' FROM o;
WITH u AS (
    UPDATE orders SET state = 'DISPATCHING', updated_at = now()
     WHERE order_id = ANY (ARRAY(SELECT 'life-' || (:base + i) FROM generate_series(1, :batch) i))
    RETURNING order_id
), d AS (
    INSERT INTO dispatches (dispatch_key, order_id, attempt, platform, state, fee_cents)
    SELECT order_id || ':1', order_id, 1, 'p1', 'SENDING', 2085 FROM u
)
INSERT INTO order_events (order_id, state, detail)
SELECT order_id, 'DISPATCHING', 'dispatching to p1 (attempt 1, key ' || order_id || ':1): rider at the store ~17:40:36Z, fee 2085 cents' FROM u;
WITH u AS (
    UPDATE orders SET state = 'RIDER_ASSIGNED', updated_at = now()
     WHERE order_id = ANY (ARRAY(SELECT 'life-' || (:base + i) FROM generate_series(1, :batch) i))
    RETURNING order_id
), d AS (
    UPDATE dispatches SET state = 'ASSIGNED', rider_ref = 'p1-r1736', last_seq = 1, updated_at = now()
     WHERE dispatch_key IN (SELECT order_id || ':1' FROM u)
)
INSERT INTO order_events (order_id, state, detail)
SELECT order_id, 'RIDER_ASSIGNED', 'p1 accepted: rider p1-r1736' FROM u;
WITH u AS (
    UPDATE orders SET updated_at = now()
     WHERE order_id = ANY (ARRAY(SELECT 'life-' || (:base + i) FROM generate_series(1, :batch) i))
    RETURNING order_id
), d AS (
    UPDATE dispatches SET state = 'ARRIVED', last_seq = 2, updated_at = now()
     WHERE dispatch_key IN (SELECT order_id || ':1' FROM u)
)
INSERT INTO order_events (order_id, state, detail)
SELECT order_id, 'RIDER_ASSIGNED', 'p1: rider p1-r1736 at the store' FROM u;
WITH u AS (
    UPDATE orders SET state = 'PICKED_UP', updated_at = now()
     WHERE order_id = ANY (ARRAY(SELECT 'life-' || (:base + i) FROM generate_series(1, :batch) i))
    RETURNING order_id
), d AS (
    UPDATE dispatches SET state = 'PICKED_UP', last_seq = 3, pickup_at = now(), updated_at = now()
     WHERE dispatch_key IN (SELECT order_id || ':1' FROM u)
)
INSERT INTO order_events (order_id, state, detail)
SELECT order_id, 'PICKED_UP', 'p1: rider p1-r1736 picked it up after waiting 0 s' FROM u;
WITH u AS (
    UPDATE orders SET state = 'DELIVERED', updated_at = now()
     WHERE order_id = ANY (ARRAY(SELECT 'life-' || (:base + i) FROM generate_series(1, :batch) i))
    RETURNING order_id
), d AS (
    UPDATE dispatches SET state = 'DELIVERED', last_seq = 4, updated_at = now()
     WHERE dispatch_key IN (SELECT order_id || ':1' FROM u)
)
INSERT INTO order_events (order_id, state, detail)
SELECT order_id, 'DELIVERED', 'p1: delivered by rider p1-r1736, fee 2085 cents' FROM u;
