-- 002_prep_schedule: where each order sits in its store's prep schedule, so
-- that a restarted daemon rebuilds every schedule exactly and never hands a
-- promised slot out twice.
ALTER TABLE orders
    ADD COLUMN prep_slot     smallint CHECK (prep_slot >= 0),
    ADD COLUMN prep_start_at timestamptz;
