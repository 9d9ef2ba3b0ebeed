-- 011_cheap_checks: the same rule for ids, checked for a fraction of the
-- CPU. `~ '^[A-Za-z0-9._:-]{1,64}$'` makes PostgreSQL's regex engine build
-- an automaton with 64 counted states, and every inserted row walks it: on
-- the 2-core bench machine that check was a third of PostgreSQL's CPU for an
-- accepted order (tools/bench/ceiling.sql: 81,000 orders/s with it, 120,000
-- with the check below; docs/benchmarks.md, 2026-12-06). One or more of the
-- allowed characters, and at most 64 bytes (they are all ASCII, so bytes are
-- characters), is the same set of strings, so every row already stored
-- passed the new check when it passed the old one: the new constraints are
-- added NOT VALID, a change to the catalog alone, without a scan of the
-- tables. (ALTER TABLE ... VALIDATE CONSTRAINT would only confirm it.)
ALTER TABLE orders DROP CONSTRAINT orders_order_id_check;
ALTER TABLE orders ADD CONSTRAINT orders_order_id_check
    CHECK (order_id ~ '^[A-Za-z0-9._:-]+$' AND octet_length(order_id) <= 64) NOT VALID;

ALTER TABLE dispatches DROP CONSTRAINT dispatches_dispatch_key_check;
ALTER TABLE dispatches ADD CONSTRAINT dispatches_dispatch_key_check
    CHECK (dispatch_key ~ '^[A-Za-z0-9._:-]+$' AND octet_length(dispatch_key) <= 64) NOT VALID;

ALTER TABLE orders DROP CONSTRAINT orders_campaign_name;
ALTER TABLE orders ADD CONSTRAINT orders_campaign_name
    CHECK (campaign ~ '^[A-Za-z0-9._:-]+$' AND octet_length(campaign) <= 64) NOT VALID;
