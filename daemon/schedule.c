/* schedule.c - owns the orders' timers and their kitchen bookings. */
#include "schedule.h"

#include "clock.h"
#include "deadline.h"
#include "log.h"

#include <stdlib.h>

struct schedule {
    store_table_t *stores;
    campaign_table_t *campaigns;
    deadline_heap_t deadlines;   /* each order's next timer: prep start, dispatch step */
};

schedule_t *schedule_new(store_table_t *stores, campaign_table_t *campaigns)
{
    schedule_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->stores = stores;
    self->campaigns = campaigns;
    return self;
}

void schedule_destroy(schedule_t **self)
{
    if (!self || !*self)
        return;
    deadline_free(&(*self)->deadlines);
    free(*self);
    *self = NULL;
}

kitchen_t *schedule_kitchen_of(schedule_t *self, const order_entry_t *e)
{
    store_t *store = store_table_find(self->stores, e->store_id);
    return store ? store_kitchen(self->stores, store) : NULL;
}

/* s_timer_after arms E's one timer at the earlier of its prep start (while
 * it waits in line) and its next dispatch step; never at or before AFTER_MS,
 * so a pass of the timers always ends. */
static void s_timer_after(schedule_t *self, order_entry_t *e, uint64_t after_ms)
{
    uint64_t due = dispatch_due_ms(e);
    if (e->waiting && e->prep_start_at_ms < due)
        due = e->prep_start_at_ms;
    if (due == UINT64_MAX) {
        deadline_clear(&self->deadlines, e);
        return;
    }
    if (due <= after_ms)
        due = after_ms + 1;
    if (!deadline_set(&self->deadlines, e, due))
        log_error("order %s: failed to set its timer: out of memory", e->order_id);
}

void schedule_timer(schedule_t *self, order_entry_t *e)
{
    s_timer_after(self, e, 0);
}

bool schedule_wait(schedule_t *self, order_entry_t *e)
{
    return deadline_set(&self->deadlines, e, e->prep_start_at_ms);
}

void schedule_prep_started(schedule_t *self, order_entry_t *e)
{
    if (e->waiting) {
        e->waiting = false;
        kitchen_t *k = schedule_kitchen_of(self, e);
        if (k && k->waiting)
            k->waiting--;
    }
    schedule_timer(self, e);
}

/* s_campaign_store: E's campaign and its store's config, false for a
 * regular order (or a store the config has dropped). */
static bool s_campaign_store(schedule_t *self, const order_entry_t *e, campaign_id_t *id,
                             const config_store_t **cfg)
{
    store_t *store = e->campaign ? store_table_find(self->stores, e->store_id) : NULL;
    *id = (campaign_id_t)(e->campaign - 1u);
    *cfg = store ? store->cfg : NULL;
    return *cfg != NULL;
}

/* s_kitchen_cancel gives back E's slot time from NOW_MS on. */
static void s_kitchen_cancel(schedule_t *self, order_entry_t *e, uint64_t now_ms)
{
    schedule_prep_started(self, e);
    kitchen_t *k = schedule_kitchen_of(self, e);
    if (k)
        kitchen_cancel(k, e->prep_slot, e->prep_start_at_ms, e->promised_ready_at_ms, now_ms);
}

void schedule_release(schedule_t *self, order_entry_t *e, uint64_t now_ms)
{
    s_kitchen_cancel(self, e, now_ms);
    campaign_id_t id;
    const config_store_t *cfg;
    if (s_campaign_store(self, e, &id, &cfg))
        campaign_give_back(self->campaigns, id, cfg, e->prep_start_at_ms,
                           e->promised_ready_at_ms, now_ms);
}

void schedule_unplace(schedule_t *self, order_entry_t *e, uint64_t now_ms)
{
    s_kitchen_cancel(self, e, now_ms);
    campaign_id_t id;
    const config_store_t *cfg;
    if (s_campaign_store(self, e, &id, &cfg))
        campaign_unplace(self->campaigns, id, cfg, e->prep_start_at_ms, e->promised_ready_at_ms,
                         e->updated_at_ms, now_ms);
    e->campaign = 0;  /* whatever happens to the entry now is no campaign's */
}

void schedule_ready(schedule_t *self, order_entry_t *e, uint64_t at_ms)
{
    schedule_prep_started(self, e);
    kitchen_t *k = schedule_kitchen_of(self, e);
    if (k)
        kitchen_ready(k, e->prep_slot, e->promised_ready_at_ms, at_ms);
    campaign_id_t id;
    const config_store_t *cfg;
    if (s_campaign_store(self, e, &id, &cfg))
        campaign_give_back(self->campaigns, id, cfg, e->prep_start_at_ms,
                           e->promised_ready_at_ms, at_ms);
}

void schedule_restore(schedule_t *self, order_entry_t *e, uint64_t now_ms)
{
    /* Where a MarkReady would make it READY, it is in the kitchen; where it
     * would only be noted (a rider is sought already), until its promised
     * ready time. */
    order_state_t to;
    order_effect_t ready = order_state_on((order_state_t)e->state, ORDER_EVENT_MARK_READY,
                                          ORDER_GUARD_NONE, &to);
    bool in_kitchen = ready == ORDER_EFFECT_MOVE ||
                      (ready == ORDER_EFFECT_NOTE && e->promised_ready_at_ms > now_ms);
    kitchen_t *k = in_kitchen ? schedule_kitchen_of(self, e) : NULL;
    if (!k)
        return;  /* done cooking, or the store left the config: no schedule to keep */
    kitchen_restore(k, e->prep_slot, e->promised_ready_at_ms);
    if (e->prep_start_at_ms > now_ms) {
        e->waiting = true;
        k->waiting++;
    }
}

void schedule_step(schedule_t *self, dispatch_t *dispatch)
{
    uint64_t now = clock_wall_ms();
    order_entry_t *e;
    while ((e = deadline_pop_due(&self->deadlines, now)) != NULL) {
        if (e->waiting && e->prep_start_at_ms <= now)
            schedule_prep_started(self, e);
        if (dispatch_due_ms(e) <= now)
            dispatch_run(dispatch, e, now);
        s_timer_after(self, e, now);
    }
}

uint64_t schedule_next_ms(const schedule_t *self)
{
    return deadline_next(&self->deadlines);
}
