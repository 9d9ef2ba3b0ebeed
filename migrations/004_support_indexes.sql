-- 004_support_indexes: what sluicectl's store summary reads without a scan.
-- "Today's orders of store S" is a range of this index (the day starts at
-- the store's local midnight); "has store S ever had an order, and when was
-- the last" is its last entry. The order timeline needs nothing new:
-- orders by primary key, order_events by (order_id, event_id), dispatches by
-- (order_id, attempt). Live orders by state come from orders_store_live.
-- The cost is one more index entry per accepted order (see README, Support).
CREATE INDEX orders_store_accepted ON orders (store_id, accepted_at);
