-- ceiling.sql - PostgreSQL's own ceiling for the rows sluiced writes: one
-- transaction inserts :batch orders (the shape sluice-load sends: two items,
-- no voucher, 100 stores) and their ACCEPTED events, generated server-side,
-- into the daemon's real schema (same tables, constraints and indexes), with
-- the session settings sluiced uses. Run by pgbench (tools/bench/bench.sh):
--   pgbench -n -f ceiling.sql -D batch=2000 -c CLIENTS -j CLIENTS -T SECONDS
-- orders/s = tps x batch. Each transaction takes its ids from one nextval of
-- bench_ceiling (created by the bench), so clients never collide.
SET synchronous_commit TO on;
WITH b AS (
    SELECT nextval('bench_ceiling') * :batch AS base, now() AS t0
), o AS (
    INSERT INTO orders (order_id, store_id, state, items, dropoff_lat, dropoff_lng, voucher_id,
                        customer_ref, producer_created_at, fingerprint, promised_ready_at,
                        promised_delivery_at, prep_slot, prep_start_at)
    SELECT 'ceiling-' || (b.base + i), 1001 + i % 100, 'ACCEPTED',
           '[{"sku":"sku-0","qty":1},{"sku":"sku-1","qty":1}]'::jsonb, 30.28, 120.15, NULL, NULL,
           b.t0, (b.base + i) * 2654435761, b.t0 + interval '150 s', b.t0 + interval '1650 s',
           0, b.t0
      FROM b, generate_series(1, :batch) AS i
    RETURNING order_id
)
INSERT INTO order_events (order_id, state) SELECT order_id, 'ACCEPTED' FROM o;
