-- 008_campaigns: the campaign each order was placed for (SubmitOrder.campaign;
-- NULL for a regular order). A restarted daemon reads back from it, before
-- it takes a campaign's orders again, how many orders each campaign has
-- placed (its budget), how many in the last second (its pace) and how many
-- at each store since the store's local midnight (its per_store_daily);
-- the queries are campaign_counts_sql and campaign_day_sql in
-- daemon/campaign.c. The live orders' restore reads it too, to give each
-- campaign back the prep time its orders booked.
--
-- A nullable column without a default is a change to the catalog alone.
-- The CHECK holds the name to SubmitOrder.campaign's rule; it is added NOT
-- VALID because every row already there is NULL, which passes it, so the
-- table need not be scanned to show it.
ALTER TABLE orders ADD COLUMN campaign text;
ALTER TABLE orders ADD CONSTRAINT orders_campaign_name
    CHECK (campaign ~ '^[A-Za-z0-9._:-]{1,64}$') NOT VALID;

-- Both rebuild queries are ranges of this index: one campaign's orders, all
-- of them or those accepted since a time. Regular orders are not in it, so
-- they do not pay for it.
CREATE INDEX orders_campaign_accepted ON orders (campaign, accepted_at)
    WHERE campaign IS NOT NULL;
