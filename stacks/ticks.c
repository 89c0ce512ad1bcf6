/* ticks.c -- the tick grid (see ticks.h). */
#include "heapgrab.h"
#include "stacks/ticks.h"

void hg_ticks_init(hg_ticks *g, uint64_t start, uint64_t span, uint64_t period)
{
    g->start = start;
    g->period = period;
    g->end = start + span;
    g->nticks = (span + period - 1) / period;
    g->k = 0;
    g->skipped = 0;
}

hg_tick hg_ticks_next(const hg_ticks *g, uint64_t now, uint64_t stopped_ns)
{
    uint64_t start = g->start, period = g->period;
    /* the first moment at which the target will have been stopped at
     * most HG_PROFILE_MAX_STOPPED percent of the time so far, give or
     * take one stop of HG_TICKS_BURST_NS */
    uint64_t not_before = stopped_ns > HG_TICKS_BURST_NS
                              ? start + (stopped_ns - HG_TICKS_BURST_NS) /
                                            HG_PROFILE_MAX_STOPPED * 100
                              : start;
    uint64_t next = g->k + 1;
    if (start + next * period < not_before) /* let the target run */
        next = (not_before - start + period - 1) / period;
    else if (start + (next + 1) * period <= now) /* a whole tick late */
        next = (now - start + period - 1) / period;
    hg_tick tk = {0};
    tk.last = next >= g->nticks;
    if (tk.last)
        next = g->nticks;
    tk.index = next;
    tk.due = tk.last ? g->end : start + next * period;
    tk.passed = next - g->k - 1;
    tk.may_stop = tk.due >= not_before;
    return tk;
}

void hg_ticks_done(hg_ticks *g, const hg_tick *tk, int unsampled)
{
    g->skipped += tk->passed + (unsampled ? 1 : 0);
    g->k = tk->index;
}
