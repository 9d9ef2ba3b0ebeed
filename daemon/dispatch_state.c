/* dispatch_state.c - owns the transition table of a dispatch attempt and the
 * state sets derived from it. */
#include "dispatch_state.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ST(s) (1u << DISPATCH_##s)
/* Where the platform may still hold a rider, short of our cancel. */
#define OPEN (ST(SENDING) | ST(PENDING) | ST(ASSIGNED) | ST(ARRIVED) | ST(PICKED_UP))

/* Each row: from any state of FROM (a set), on EVENT, to TO. */
static const struct step {
    uint16_t from;
    uint8_t event, to;
} s_steps[] = {
    {ST(NONE), DISPATCH_EV_SEND, DISPATCH_SENDING},
    {ST(SENDING), DISPATCH_EV_PENDING, DISPATCH_PENDING},
    /* A rider's progress, forward only: a reply, a status, or an event after
     * a lost one may skip states; a cancel may come too late to stop it. */
    {ST(SENDING) | ST(PENDING), DISPATCH_EV_ASSIGNED, DISPATCH_ASSIGNED},
    {ST(SENDING) | ST(PENDING) | ST(ASSIGNED), DISPATCH_EV_ARRIVED, DISPATCH_ARRIVED},
    {(OPEN & ~ST(PICKED_UP)) | ST(CANCELLING), DISPATCH_EV_PICKED_UP, DISPATCH_PICKED_UP},
    {OPEN | ST(CANCELLING), DISPATCH_EV_DELIVERED, DISPATCH_DELIVERED},
    /* Ours: the attempt must end before the order may go elsewhere. */
    {OPEN, DISPATCH_EV_CANCEL, DISPATCH_CANCELLING},
    /* Released: the platform has no live rider for the key and never will. */
    {OPEN | ST(CANCELLING), DISPATCH_EV_CANCELLED, DISPATCH_CANCELLED},
    {ST(SENDING) | ST(CANCELLING), DISPATCH_EV_REFUSED, DISPATCH_REFUSED},
    {ST(SENDING), DISPATCH_EV_ERROR, DISPATCH_ERROR},
};

#define STEP_COUNT (sizeof s_steps / sizeof s_steps[0])

static const char *const s_state_names[DISPATCH_STATE_COUNT] = {
    [DISPATCH_NONE] = "NONE",           [DISPATCH_SENDING] = "SENDING",
    [DISPATCH_PENDING] = "PENDING",     [DISPATCH_ASSIGNED] = "ASSIGNED",
    [DISPATCH_ARRIVED] = "ARRIVED",     [DISPATCH_PICKED_UP] = "PICKED_UP",
    [DISPATCH_DELIVERED] = "DELIVERED", [DISPATCH_CANCELLING] = "CANCELLING",
    [DISPATCH_CANCELLED] = "CANCELLED", [DISPATCH_REFUSED] = "REFUSED",
    [DISPATCH_ERROR] = "ERROR",
};

static const char *const s_event_names[DISPATCH_EVENT_COUNT] = {
    [DISPATCH_EV_SEND] = "send",           [DISPATCH_EV_PENDING] = "pending",
    [DISPATCH_EV_ASSIGNED] = "assigned",   [DISPATCH_EV_ARRIVED] = "arrived",
    [DISPATCH_EV_PICKED_UP] = "picked_up", [DISPATCH_EV_DELIVERED] = "delivered",
    [DISPATCH_EV_CANCEL] = "cancel",       [DISPATCH_EV_CANCELLED] = "cancelled",
    [DISPATCH_EV_REFUSED] = "refused",     [DISPATCH_EV_ERROR] = "error",
};

bool dispatch_state_step(dispatch_state_t from, dispatch_event_t ev, dispatch_state_t *to)
{
    if ((unsigned)from >= DISPATCH_STATE_COUNT)
        return false;
    for (size_t i = 0; i < STEP_COUNT; i++)
        if ((s_steps[i].from & (1u << from)) && s_steps[i].event == ev) {
            *to = (dispatch_state_t)s_steps[i].to;
            return true;
        }
    return false;
}

bool dispatch_state_terminal(dispatch_state_t st)
{
    if (st == DISPATCH_NONE || (unsigned)st >= DISPATCH_STATE_COUNT)
        return false;
    for (size_t i = 0; i < STEP_COUNT; i++)
        if (s_steps[i].from & (1u << st))
            return false;
    return true;
}

bool dispatch_state_is_live(const char *name)
{
    dispatch_state_t st = dispatch_state_parse(name);
    return st != DISPATCH_NONE && !dispatch_state_terminal(st);
}

const char *dispatch_state_name(dispatch_state_t st)
{
    return (unsigned)st < DISPATCH_STATE_COUNT ? s_state_names[st] : "?";
}

const char *dispatch_state_event_name(dispatch_event_t ev)
{
    return (unsigned)ev < DISPATCH_EVENT_COUNT ? s_event_names[ev] : "?";
}

dispatch_state_t dispatch_state_parse(const char *name)
{
    for (int i = DISPATCH_NONE + 1; name && i < DISPATCH_STATE_COUNT; i++)
        if (strcmp(name, s_state_names[i]) == 0)
            return (dispatch_state_t)i;
    return DISPATCH_NONE;
}
