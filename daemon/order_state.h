/* order_state.h - owns the order state machine: the states (named as in the
 * database enum), the events that happen to an order, and the one transition
 * table {from, event, to, guard, effect} that says what each event does in
 * each state (design section 4). Terminal and live states, and whether an
 * order may still be in the kitchen, are derived from the table; the SQL
 * functions of migration 007 say the same (tests/integration/test_states.c
 * compares them), and `sluiced --states` draws the table. */
#ifndef SLUICE_ORDER_STATE_H
#define SLUICE_ORDER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Lifecycle of an order. The names are the ones in the database enum. */
typedef enum order_state {
    ORDER_RECEIVED, ORDER_ACCEPTED, ORDER_PREPARING, ORDER_READY,
    ORDER_DISPATCHING, ORDER_RIDER_ASSIGNED, ORDER_PICKED_UP,
    ORDER_DELIVERED, ORDER_CANCELLED, ORDER_FAILED,
    ORDER_STATE_COUNT
} order_state_t;

/* What happens to an order. Requesters send MARK_READY and CANCEL; intake
 * commits ACCEPT; the dispatch engine's steps are the rest. */
typedef enum order_event {
    ORDER_EVENT_ACCEPT,       /* its row committed */
    ORDER_EVENT_START_PREP,   /* a prep slot started making it */
    ORDER_EVENT_MARK_READY,   /* the store's POS says it is made (MarkReady) */
    ORDER_EVENT_DISPATCH,     /* its first attempt's outbox row (a rider is sought) */
    ORDER_EVENT_ASSIGN,       /* a rider accepted it */
    ORDER_EVENT_PICK_UP,
    ORDER_EVENT_DELIVER,
    ORDER_EVENT_CANCEL,       /* the customer or the merchant (CancelOrder) */
    ORDER_EVENT_FAIL,         /* no rider in time: refund due */
    ORDER_EVENT_REDISPATCH,   /* the attempt ended without the order: the next pool */
    ORDER_EVENT_COUNT
} order_event_t;

/* What an event does in a state. */
typedef enum order_effect {
    ORDER_EFFECT_REFUSED = 0,  /* no row: the event cannot happen in this state */
    ORDER_EFFECT_MOVE,         /* the order takes TO: a row update and an event row */
    ORDER_EFFECT_NOTE,         /* an event row only; the order keeps its state */
    ORDER_EFFECT_REPEAT,       /* already so: answered with the status, nothing written */
} order_effect_t;

/* Facts about one order that a row's guard may require (a bit set). */
enum {
    ORDER_GUARD_NONE = 0,
    ORDER_GUARD_MARKED_READY = 1u << 0,   /* the store has said it is ready already */
};

typedef struct order_transition {
    order_state_t from;
    order_event_t event;
    order_state_t to;          /* FROM itself unless the effect is MOVE */
    unsigned guard;            /* ORDER_GUARD_* bits the order must have */
    order_effect_t effect;
} order_transition_t;

const char *order_state_name(order_state_t state);
/* order_state_parse: false when NAME is not a state. */
bool order_state_parse(const char *name, order_state_t *state);
const char *order_event_name(order_event_t event);

/* order_state_on: what EVENT does to an order in FROM with the guard facts
 * FACTS; the first row that matches decides. *TO gets the state the order
 * is in afterwards (FROM unless MOVE); REFUSED when no row matches. */
order_effect_t order_state_on(order_state_t from, order_event_t event, unsigned facts,
                              order_state_t *to);

/* order_state_moves: does some event move an order from FROM to TO? *EVENT
 * (may be NULL) gets the first such. FROM == TO moves only by a row too. */
bool order_state_moves(order_state_t from, order_state_t to, order_event_t *event);

/* order_state_is_terminal: no event moves the order out of STATE. The SQL
 * function order_state_is_terminal (migration 007) must agree. */
bool order_state_is_terminal(order_state_t state);

/* order_state_in_kitchen: the order may still be being made, which is when
 * a MarkReady would still move or note it (not a repeat, not refused). */
bool order_state_in_kitchen(order_state_t state);

/* order_state_table returns the rows and their number, in the order they
 * are matched. */
const order_transition_t *order_state_table(size_t *count);

/* order_state_print_mermaid writes the table as a Mermaid stateDiagram-v2:
 * every MOVE and NOTE row an arrow, the initial and terminal states joined
 * to [*]. False when writing failed. */
bool order_state_print_mermaid(FILE *out) __attribute__((warn_unused_result));

#endif
