/*
 * ticks.h -- when a profile stops the target: the tick grid.
 *
 * Ticks 1, 2, ... lie on a grid of one period from the profile's start;
 * the last one is at the end, the profile's length after the start.  A
 * tick is skipped when heapgrab is a whole tick late for it (a tick late
 * by less is taken at once), and when taking it would have kept the target
 * stopped more than HG_PROFILE_MAX_STOPPED percent of the time since the
 * start, give or take one stop of HG_TICKS_BURST_NS.  (A thousand threads
 * take 25 ms to stop; at 100 Hz they would be stopped most of the time.)
 * Each sample stands for the time since the previous one, so skipped
 * ticks still count.  The last tick is always waited for; if the target
 * may not be stopped then, the last sample stands for the time up to the
 * end, and the tick counts as skipped.
 *
 * Nothing here reads a clock: the times are arguments, so the rules can
 * be checked on made-up clocks (tests/unit/test_ticks.c).
 */
#ifndef HG_TICKS_H
#define HG_TICKS_H

#include <stdint.h>

/* The one long stop the budget allows beyond its share. */
#define HG_TICKS_BURST_NS 20000000ull

typedef struct hg_ticks {
    uint64_t start, period, end; /* the grid: start + i * period; the end */
    uint64_t nticks;             /* ticks in all, the last one at the end */
    uint64_t k;                  /* the last tick taken or skipped (0: none) */
    uint64_t skipped;            /* ticks not taken so far */
} hg_ticks;

/* The next tick to take. */
typedef struct hg_tick {
    uint64_t index;     /* its number, 1 to nticks */
    uint64_t due;       /* when to take it; it may be past already */
    uint64_t passed;    /* ticks skipped to come to it */
    int last;           /* the tick at the end */
    int may_stop;       /* the stop budget allows stopping the target for
                           it (always, but for the last tick) */
} hg_tick;

/* A grid of period ns from start for span ns (period > 0). */
void hg_ticks_init(hg_ticks *g, uint64_t start, uint64_t span, uint64_t period);
/* The next tick, as things stand at now, the target having been stopped
 * stopped_ns in all since the start. */
hg_tick hg_ticks_next(const hg_ticks *g, uint64_t now, uint64_t stopped_ns);
/* Tick tk was come to (whether or not its sample worked): the ticks passed
 * over count as skipped, and tk itself too when it did not stop the target
 * (unsampled). */
void hg_ticks_done(hg_ticks *g, const hg_tick *tk, int unsampled);

#endif
