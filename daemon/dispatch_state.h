/* dispatch_state.h - owns the state machine of one dispatch attempt (its
 * `dispatches` row, migration 003) as data: one transition table {from,
 * event, to} that the dispatch engine steps through. A step the table does
 * not have is refused (the caller logs it and changes nothing); which states
 * are live and which terminal is derived from the table, never listed by
 * hand, so the SQL function dispatch_state_is_live can be checked against it.
 *
 *   (none) --send--> SENDING                the outbox row, before the request leaves
 *   SENDING --pending--> PENDING            accepted, no rider yet
 *   SENDING, PENDING, ... --assigned, arrived, picked_up, delivered-->
 *                                           the rider's progress, forward only (a
 *                                           report may skip states it missed)
 *   any live state but CANCELLING --cancel--> CANCELLING   we asked the platform to cancel
 *   CANCELLING --picked_up, delivered-->    too late: the rider has it
 *   live states --cancelled--> CANCELLED    released: our cancel or theirs, or no record
 *   SENDING, CANCELLING --refused--> REFUSED
 *   SENDING --error--> ERROR                answered Error (or not sent): no effect */
#ifndef SLUICE_DISPATCH_STATE_H
#define SLUICE_DISPATCH_STATE_H

#include <stdbool.h>

/* The dispatch_state enum of migration 003, in its order, after NONE. */
typedef enum dispatch_state {
    DISPATCH_NONE = 0,        /* no attempt: there is no row */
    DISPATCH_SENDING,
    DISPATCH_PENDING,
    DISPATCH_ASSIGNED,
    DISPATCH_ARRIVED,
    DISPATCH_PICKED_UP,
    DISPATCH_DELIVERED,
    DISPATCH_CANCELLING,
    DISPATCH_CANCELLED,
    DISPATCH_REFUSED,
    DISPATCH_ERROR,
    DISPATCH_STATE_COUNT
} dispatch_state_t;

typedef enum dispatch_event {
    DISPATCH_EV_SEND,         /* the engine chose the platform: the outbox row */
    DISPATCH_EV_PENDING,      /* the platform accepted the key; no rider yet */
    DISPATCH_EV_ASSIGNED,     /* the platform reports a rider assigned */
    DISPATCH_EV_ARRIVED,      /* ... at the store */
    DISPATCH_EV_PICKED_UP,    /* ... on the way with the order */
    DISPATCH_EV_DELIVERED,
    DISPATCH_EV_CANCEL,       /* the engine asks the platform to cancel the key */
    DISPATCH_EV_CANCELLED,    /* the platform released the key, or has no record of it */
    DISPATCH_EV_REFUSED,      /* the platform refused the key */
    DISPATCH_EV_ERROR,        /* the platform answered Error, or the request could not leave */
    DISPATCH_EVENT_COUNT
} dispatch_event_t;

/* dispatch_state_step: the state after EV in state FROM, in *TO; false when
 * the table has no such step (*TO is left alone). */
bool dispatch_state_step(dispatch_state_t from, dispatch_event_t ev, dispatch_state_t *to)
    __attribute__((warn_unused_result));

/* dispatch_state_terminal: ST is a row state with no step out of it. */
bool dispatch_state_terminal(dispatch_state_t st);
/* dispatch_state_is_live: NAME is a row state with a step out of it (the
 * platform may still hold a rider for the key); false for terminal states
 * and for names that are not states. The C side of SQL's function of the
 * same name. */
bool dispatch_state_is_live(const char *name);

/* dispatch_state_name: the row's name ("SENDING"), "NONE" for DISPATCH_NONE,
 * "?" out of range. dispatch_state_event_name: "send", "cancelled", ... */
const char *dispatch_state_name(dispatch_state_t st);
const char *dispatch_state_event_name(dispatch_event_t ev);
/* dispatch_state_parse: the row state named NAME; DISPATCH_NONE when NAME is
 * not one ("NONE" included). */
dispatch_state_t dispatch_state_parse(const char *name);

#endif
