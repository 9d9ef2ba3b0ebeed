-- 007_state_sets: which states are terminal or live, said once for SQL.
-- order_state_is_terminal is the daemon's state machine (daemon/order_state.c,
-- which derives the same set from its transition table; an integration test,
-- tests/integration/test_states.c, compares the two for every state).
-- dispatch_state_is_live: an attempt that may still hold or get a rider.
--
-- Each is a plain SQL expression, IMMUTABLE and not STRICT, so the planner
-- inlines it: a query's NOT order_state_is_terminal(state) becomes the very
-- predicate of the partial index orders_store_live (001), and
-- dispatch_state_is_live(state) that of dispatches_live (003). The lists are
-- written in the order of those predicates, so the indexes serve as before
-- and need no rebuild.
CREATE FUNCTION order_state_is_terminal(state order_state) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT state IN ('DELIVERED', 'CANCELLED', 'FAILED') $$;

CREATE FUNCTION dispatch_state_is_live(state dispatch_state) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT state NOT IN ('DELIVERED', 'CANCELLED', 'REFUSED', 'ERROR') $$;
