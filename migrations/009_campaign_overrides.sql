-- 009_campaign_overrides: an operator's pause of a campaign, set with
-- `sluicectl campaign pause NAME` and lifted with `sluicectl campaign resume
-- NAME` (which deletes the row: the config's campaigns.[].paused decides
-- again). A row stands over the config until it is removed: sluiced reads the
-- table before it serves, keeps each pause across reloads (also while the
-- config does not name the campaign) and stores a pause before it answers.
-- The name follows SubmitOrder.campaign's rule, like orders.campaign (008).
CREATE TABLE campaign_overrides (
    campaign text PRIMARY KEY CHECK (campaign ~ '^[A-Za-z0-9._:-]{1,64}$'),
    set_at   timestamptz NOT NULL DEFAULT now(),
    set_by   text
);
