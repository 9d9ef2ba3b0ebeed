-- 006_store_overrides: an operator's pause or resume of a store, set with
-- `sluicectl pause STORE` (and removed with `sluicectl resume STORE`). It
-- stands over the config's `paused` until it is removed: sluiced reads the
-- table on start, keeps it across reloads, and logs each override it
-- applies. One row per store; the daemon writes it through its event loop.
CREATE TABLE store_overrides (
    store_id bigint PRIMARY KEY,
    paused   boolean NOT NULL,
    set_at   timestamptz NOT NULL DEFAULT now(),
    set_by   text
);
