-- 010_shards: daemon failover and shards (docs/operations.md, "Shards and
-- failover"). Nothing here is used by a node without daemon.shard: such a
-- node writes orders.shard as NULL and never calls these functions.
--
-- shard_leases: one row per shard. The node holding an unexpired row is the
-- shard's active node; it renews the row every lease_seconds / 3 and passes
-- its epoch to every write it makes (sluice_fence). A standby takes the row
-- once it has expired by the database's clock, never the nodes' own, and
-- bumps the epoch; from then on a write under the old epoch fails.
CREATE TABLE shard_leases (
    shard      text PRIMARY KEY CHECK (shard ~ '^[A-Za-z0-9._:-]{1,64}$'),
    holder     text NOT NULL,           -- daemon.node of the node holding it
    epoch      bigint NOT NULL,         -- bumped by every takeover
    endpoint   text NOT NULL,           -- the holder's daemon.advertise, for producers
    expires_at timestamptz NOT NULL
);

-- orders.shard: the shard of the node that accepted the order (NULL: a node
-- without a shard). A node restores only its own shard's live orders, through
-- this index; orders without a shard are not in it, so a single node pays
-- nothing for it. A nullable column without a default is a change to the
-- catalog alone; building the index reads the table once.
ALTER TABLE orders ADD COLUMN shard text;
CREATE INDEX orders_shard_live ON orders (shard)
    WHERE shard IS NOT NULL AND NOT order_state_is_terminal(state);

-- sluice_fence: called once by every write statement of a node with a
-- shard (a MATERIALIZED CTE). It holds the lease row FOR SHARE until the
-- write commits, so a takeover's UPDATE waits for the writes in flight, and
-- fails with SQLSTATE SLF01 (daemon/db.h: DB_FENCED_SQLSTATE) when EPOCH is
-- not the lease's: the writer has been replaced and must stop. Returns the
-- shard, which the batch insert writes to orders.shard.
CREATE FUNCTION sluice_fence(p_shard text, p_epoch bigint) RETURNS text
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    l shard_leases;
BEGIN
    SELECT * INTO l FROM shard_leases WHERE shard = p_shard FOR SHARE;
    IF NOT FOUND OR l.epoch <> p_epoch THEN
        RAISE EXCEPTION 'shard %: epoch % is stale: the lease is at epoch %, held by %',
                        p_shard, p_epoch, coalesce(l.epoch, 0), coalesce(nullif(l.holder, ''), 'nobody')
              USING ERRCODE = 'SLF01';
    END IF;
    RETURN p_shard;
END
$$;

-- sluice_lease_acquire: a standby's attempt, once a second. Takes the lease
-- for P_HOLDER when it has expired (creating the shard's row the first
-- time), with a new epoch, for P_MS milliseconds. Either way it returns the
-- lease as it is now and how long until it expires. The UPDATE only locks
-- the row when it is expired, so attempts never hold up the active's writes.
CREATE FUNCTION sluice_lease_acquire(p_shard text, p_holder text, p_endpoint text, p_ms integer)
    RETURNS TABLE (acquired boolean, lease_holder text, lease_epoch bigint,
                   lease_endpoint text, expires_in_ms bigint)
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    INSERT INTO shard_leases (shard, holder, epoch, endpoint, expires_at)
    VALUES (p_shard, '', 0, '', '-infinity')
    ON CONFLICT (shard) DO NOTHING;
    RETURN QUERY
        UPDATE shard_leases l
           SET holder = p_holder, epoch = l.epoch + 1, endpoint = p_endpoint,
               expires_at = now() + make_interval(secs => p_ms / 1000.0)
         WHERE l.shard = p_shard AND l.expires_at < now()
        RETURNING true, l.holder, l.epoch, l.endpoint, p_ms::bigint;
    IF NOT FOUND THEN
        RETURN QUERY
            SELECT false, l.holder, l.epoch, l.endpoint,
                   greatest(0, ceil(extract(epoch FROM l.expires_at - now()) * 1000))::bigint
              FROM shard_leases l WHERE l.shard = p_shard;
    END IF;
END
$$;

-- sluice_lease_renew: the active's renewal, every lease_seconds / 3. Extends
-- the lease only while P_HOLDER holds it at P_EPOCH; otherwise says who does.
CREATE FUNCTION sluice_lease_renew(p_shard text, p_holder text, p_epoch bigint, p_ms integer)
    RETURNS TABLE (renewed boolean, lease_holder text, lease_epoch bigint,
                   lease_endpoint text, expires_in_ms bigint)
    LANGUAGE plpgsql VOLATILE
    AS $$
BEGIN
    RETURN QUERY
        UPDATE shard_leases l SET expires_at = now() + make_interval(secs => p_ms / 1000.0)
         WHERE l.shard = p_shard AND l.holder = p_holder AND l.epoch = p_epoch
        RETURNING true, l.holder, l.epoch, l.endpoint, p_ms::bigint;
    IF NOT FOUND THEN
        RETURN QUERY
            SELECT false, l.holder, l.epoch, l.endpoint,
                   greatest(0, ceil(extract(epoch FROM l.expires_at - now()) * 1000))::bigint
              FROM shard_leases l WHERE l.shard = p_shard;
    END IF;
END
$$;

-- sluice_lease_release: a clean stop hands the lease over at once: expired
-- now, so a standby's next attempt takes it. Only while P_HOLDER holds it at
-- P_EPOCH.
CREATE FUNCTION sluice_lease_release(p_shard text, p_holder text, p_epoch bigint)
    RETURNS boolean
    LANGUAGE sql VOLATILE
    AS $$
    WITH released AS (
        UPDATE shard_leases SET expires_at = now() - interval '1 millisecond'
         WHERE shard = p_shard AND holder = p_holder AND epoch = p_epoch
        RETURNING 1)
    SELECT EXISTS (SELECT FROM released)
$$;
