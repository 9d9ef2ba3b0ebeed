/* order_state.c - owns the order state machine's table and what is derived
 * from it. */
#include "order_state.h"

#include <string.h>

#define MOVE ORDER_EFFECT_MOVE
#define NOTE ORDER_EFFECT_NOTE
#define REPEAT ORDER_EFFECT_REPEAT
#define MARKED ORDER_GUARD_MARKED_READY

static const char *const order_state_names[ORDER_STATE_COUNT] = {
    [ORDER_RECEIVED] = "RECEIVED",
    [ORDER_ACCEPTED] = "ACCEPTED",
    [ORDER_PREPARING] = "PREPARING",
    [ORDER_READY] = "READY",
    [ORDER_DISPATCHING] = "DISPATCHING",
    [ORDER_RIDER_ASSIGNED] = "RIDER_ASSIGNED",
    [ORDER_PICKED_UP] = "PICKED_UP",
    [ORDER_DELIVERED] = "DELIVERED",
    [ORDER_CANCELLED] = "CANCELLED",
    [ORDER_FAILED] = "FAILED",
};

static const char *const order_event_names[ORDER_EVENT_COUNT] = {
    [ORDER_EVENT_ACCEPT] = "ACCEPT",
    [ORDER_EVENT_START_PREP] = "START_PREP",
    [ORDER_EVENT_MARK_READY] = "MARK_READY",
    [ORDER_EVENT_DISPATCH] = "DISPATCH",
    [ORDER_EVENT_ASSIGN] = "ASSIGN",
    [ORDER_EVENT_PICK_UP] = "PICK_UP",
    [ORDER_EVENT_DELIVER] = "DELIVER",
    [ORDER_EVENT_CANCEL] = "CANCEL",
    [ORDER_EVENT_FAIL] = "FAIL",
    [ORDER_EVENT_REDISPATCH] = "REDISPATCH",
};

/* The first row that matches (from, event, guard) decides, so a guarded row
 * comes before the plain one of the same state and event. */
static const order_transition_t s_table[] = {
    {ORDER_RECEIVED, ORDER_EVENT_ACCEPT, ORDER_ACCEPTED, 0, MOVE},
    {ORDER_RECEIVED, ORDER_EVENT_CANCEL, ORDER_CANCELLED, 0, MOVE},

    {ORDER_ACCEPTED, ORDER_EVENT_START_PREP, ORDER_PREPARING, 0, MOVE},
    {ORDER_ACCEPTED, ORDER_EVENT_MARK_READY, ORDER_READY, 0, MOVE},
    {ORDER_ACCEPTED, ORDER_EVENT_DISPATCH, ORDER_DISPATCHING, 0, MOVE},
    {ORDER_ACCEPTED, ORDER_EVENT_CANCEL, ORDER_CANCELLED, 0, MOVE},
    {ORDER_ACCEPTED, ORDER_EVENT_FAIL, ORDER_FAILED, 0, MOVE},

    {ORDER_PREPARING, ORDER_EVENT_MARK_READY, ORDER_READY, 0, MOVE},
    {ORDER_PREPARING, ORDER_EVENT_DISPATCH, ORDER_DISPATCHING, 0, MOVE},
    {ORDER_PREPARING, ORDER_EVENT_CANCEL, ORDER_CANCELLED, 0, MOVE},
    {ORDER_PREPARING, ORDER_EVENT_FAIL, ORDER_FAILED, 0, MOVE},

    {ORDER_READY, ORDER_EVENT_MARK_READY, ORDER_READY, 0, REPEAT},
    {ORDER_READY, ORDER_EVENT_DISPATCH, ORDER_DISPATCHING, 0, MOVE},
    {ORDER_READY, ORDER_EVENT_CANCEL, ORDER_CANCELLED, 0, MOVE},
    {ORDER_READY, ORDER_EVENT_FAIL, ORDER_FAILED, 0, MOVE},

    /* A rider may be sought before the order is made: READY is then an
     * event row and the order keeps its delivery state. */
    {ORDER_DISPATCHING, ORDER_EVENT_MARK_READY, ORDER_DISPATCHING, MARKED, REPEAT},
    {ORDER_DISPATCHING, ORDER_EVENT_MARK_READY, ORDER_DISPATCHING, 0, NOTE},
    {ORDER_DISPATCHING, ORDER_EVENT_ASSIGN, ORDER_RIDER_ASSIGNED, 0, MOVE},
    /* A platform's status after lost events or a restart may skip steps. */
    {ORDER_DISPATCHING, ORDER_EVENT_PICK_UP, ORDER_PICKED_UP, 0, MOVE},
    {ORDER_DISPATCHING, ORDER_EVENT_DELIVER, ORDER_DELIVERED, 0, MOVE},
    {ORDER_DISPATCHING, ORDER_EVENT_REDISPATCH, ORDER_DISPATCHING, 0, MOVE},
    {ORDER_DISPATCHING, ORDER_EVENT_CANCEL, ORDER_CANCELLED, 0, MOVE},
    {ORDER_DISPATCHING, ORDER_EVENT_FAIL, ORDER_FAILED, 0, MOVE},

    {ORDER_RIDER_ASSIGNED, ORDER_EVENT_MARK_READY, ORDER_RIDER_ASSIGNED, MARKED, REPEAT},
    {ORDER_RIDER_ASSIGNED, ORDER_EVENT_MARK_READY, ORDER_RIDER_ASSIGNED, 0, NOTE},
    {ORDER_RIDER_ASSIGNED, ORDER_EVENT_PICK_UP, ORDER_PICKED_UP, 0, MOVE},
    {ORDER_RIDER_ASSIGNED, ORDER_EVENT_DELIVER, ORDER_DELIVERED, 0, MOVE},
    /* The platform took the rider back: the order looks for another. */
    {ORDER_RIDER_ASSIGNED, ORDER_EVENT_REDISPATCH, ORDER_DISPATCHING, 0, MOVE},
    {ORDER_RIDER_ASSIGNED, ORDER_EVENT_CANCEL, ORDER_CANCELLED, 0, MOVE},

    /* A rider has it, so it was made: a POS that taps late repeats. */
    {ORDER_PICKED_UP, ORDER_EVENT_MARK_READY, ORDER_PICKED_UP, 0, REPEAT},
    {ORDER_PICKED_UP, ORDER_EVENT_DELIVER, ORDER_DELIVERED, 0, MOVE},
    /* The platform gave it up after the pickup: it fails from DISPATCHING. */
    {ORDER_PICKED_UP, ORDER_EVENT_REDISPATCH, ORDER_DISPATCHING, 0, MOVE},
    {ORDER_PICKED_UP, ORDER_EVENT_CANCEL, ORDER_CANCELLED, 0, MOVE},

    {ORDER_DELIVERED, ORDER_EVENT_MARK_READY, ORDER_DELIVERED, 0, REPEAT},
    {ORDER_CANCELLED, ORDER_EVENT_CANCEL, ORDER_CANCELLED, 0, REPEAT},
    {ORDER_CANCELLED, ORDER_EVENT_MARK_READY, ORDER_CANCELLED, MARKED, REPEAT},
    {ORDER_FAILED, ORDER_EVENT_MARK_READY, ORDER_FAILED, MARKED, REPEAT},
};

#define S_ROWS (sizeof s_table / sizeof s_table[0])

const char *order_state_name(order_state_t state)
{
    return state < ORDER_STATE_COUNT ? order_state_names[state] : "UNKNOWN";
}

bool order_state_parse(const char *name, order_state_t *state)
{
    for (int i = 0; i < ORDER_STATE_COUNT; i++) {
        if (strcmp(order_state_names[i], name) == 0) {
            *state = (order_state_t)i;
            return true;
        }
    }
    return false;
}

const char *order_event_name(order_event_t event)
{
    return event < ORDER_EVENT_COUNT ? order_event_names[event] : "UNKNOWN";
}

order_effect_t order_state_on(order_state_t from, order_event_t event, unsigned facts,
                              order_state_t *to)
{
    *to = from;
    for (size_t i = 0; i < S_ROWS; i++) {
        const order_transition_t *r = &s_table[i];
        if (r->from != from || r->event != event || (facts & r->guard) != r->guard)
            continue;
        if (r->effect == ORDER_EFFECT_MOVE)
            *to = r->to;
        return r->effect;
    }
    return ORDER_EFFECT_REFUSED;
}

bool order_state_moves(order_state_t from, order_state_t to, order_event_t *event)
{
    for (size_t i = 0; i < S_ROWS; i++) {
        const order_transition_t *r = &s_table[i];
        if (r->effect == ORDER_EFFECT_MOVE && r->from == from && r->to == to) {
            if (event)
                *event = r->event;
            return true;
        }
    }
    return false;
}

bool order_state_is_terminal(order_state_t state)
{
    for (size_t i = 0; i < S_ROWS; i++)
        if (s_table[i].effect == ORDER_EFFECT_MOVE && s_table[i].from == state &&
            s_table[i].to != state)
            return false;
    return true;
}

bool order_state_in_kitchen(order_state_t state)
{
    order_state_t to;
    order_effect_t effect = order_state_on(state, ORDER_EVENT_MARK_READY, ORDER_GUARD_NONE, &to);
    return effect == ORDER_EFFECT_MOVE || effect == ORDER_EFFECT_NOTE;
}

const order_transition_t *order_state_table(size_t *count)
{
    *count = S_ROWS;
    return s_table;
}

/* s_initial: no row moves an order into STATE from another state. */
static bool s_initial(order_state_t state)
{
    for (size_t i = 0; i < S_ROWS; i++)
        if (s_table[i].effect == ORDER_EFFECT_MOVE && s_table[i].to == state &&
            s_table[i].from != state)
            return false;
    return true;
}

bool order_state_print_mermaid(FILE *out)
{
    bool ok = fprintf(out, "stateDiagram-v2\n") > 0;
    for (int st = 0; st < ORDER_STATE_COUNT; st++)
        if (s_initial((order_state_t)st))
            ok = ok && fprintf(out, "    [*] --> %s\n", order_state_names[st]) > 0;
    for (size_t i = 0; i < S_ROWS; i++) {
        const order_transition_t *r = &s_table[i];
        if (r->effect == ORDER_EFFECT_MOVE)
            ok = ok && fprintf(out, "    %s --> %s: %s\n", order_state_names[r->from],
                               order_state_names[r->to], order_event_names[r->event]) > 0;
        else if (r->effect == ORDER_EFFECT_NOTE)
            ok = ok && fprintf(out, "    %s --> %s: %s (event row only)\n",
                               order_state_names[r->from], order_state_names[r->to],
                               order_event_names[r->event]) > 0;
    }
    for (int st = 0; st < ORDER_STATE_COUNT; st++)
        if (order_state_is_terminal((order_state_t)st))
            ok = ok && fprintf(out, "    %s --> [*]\n", order_state_names[st]) > 0;
    return ok && fflush(out) == 0 && !ferror(out);
}
