/*
 * test_ticks.c -- the profile's tick grid (stacks/ticks.c) on made-up
 * clocks: a profile is played the way stacks/sampler.c plays it, with
 * stops of a given length and heapgrab late where the case says, and the
 * rules of ticks.h are checked at every tick:
 *   - on time, the ticks are the grid: start + i * period, the last one at
 *     the end, none skipped;
 *   - a tick heapgrab is a whole period late for is skipped, one late by
 *     less is taken at once;
 *   - the target is never stopped more than HG_PROFILE_MAX_STOPPED percent
 *     of the time, give or take one long stop (HG_TICKS_BURST_NS) and the
 *     stop under way, and the budget is used, not left idle;
 *   - the last tick is at the end; when the budget does not allow a stop
 *     then, it is not stopped for and counts as skipped;
 *   - ticks taken and skipped add up to the ticks of the profile.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "heapgrab.h"
#include "stacks/ticks.h"

static int failed;
#define CHECK(c, ...)                                                      \
    do {                                                                   \
        if (!(c)) {                                                        \
            fprintf(stderr, "%s:%d: expected %s: ", __FILE__, __LINE__, #c); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
            failed++;                                                      \
        }                                                                  \
    } while (0)

#define MS ((uint64_t)1000000)

/* A profile to play. */
struct play {
    uint64_t start, span, period;
    uint64_t stop_ns;      /* how long each stop keeps the target */
    uint64_t late_after;   /* heapgrab is held up after this sample (0: never)... */
    uint64_t late_ns;      /* ...this long */
    uint64_t jitter_ns;    /* each sleep overshoots by up to this (< period) */
};

/* What came of it. */
struct result {
    uint64_t nticks, samples, skipped, stopped, end_now;
    uint64_t last_due;
    int last_sampled;
    uint64_t max_late;     /* the most a taken tick was taken after its due */
    int budget_broken;     /* a stop went past the budget */
    int grid_broken;       /* a tick not on the grid (or the end) */
    int order_broken;      /* a tick not after the last one */
    int held_back;         /* a tick before the last one not to stop for */
};

static struct result play(const struct play *pl)
{
    struct result r = {0};
    hg_ticks g;
    hg_ticks_init(&g, pl->start, pl->span, pl->period);
    r.nticks = g.nticks;
    uint64_t now = pl->start, last_index = 0, rnd = 12345;
    for (int guard = 0; guard < 1000000; guard++) {
        hg_tick tk = hg_ticks_next(&g, now, r.stopped);
        if (tk.index <= last_index || tk.index > g.nticks)
            r.order_broken++;
        last_index = tk.index;
        if (tk.due != (tk.last ? pl->start + pl->span : pl->start + tk.index * pl->period))
            r.grid_broken++;
        /* the budget moves the next tick on; only the end, which is always
         * waited for, can find the target not to be stopped */
        if (!tk.may_stop && !tk.last)
            r.held_back++;
        if (tk.due > now) { /* sleep, waking a little late */
            rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
            now = tk.due + (pl->jitter_ns ? (rnd >> 33) % pl->jitter_ns : 0);
        }
        if (now - tk.due > r.max_late && tk.may_stop)
            r.max_late = now - tk.due;
        if (tk.may_stop) {
            now += pl->stop_ns;
            r.stopped += pl->stop_ns;
            r.samples++;
            /* at most the share of the time since the start, one long stop,
             * and this one */
            if (r.stopped > (now - pl->start) / 100 * HG_PROFILE_MAX_STOPPED +
                                HG_TICKS_BURST_NS + pl->stop_ns)
                r.budget_broken++;
            if (pl->late_after && r.samples == pl->late_after)
                now += pl->late_ns;
        }
        hg_ticks_done(&g, &tk, !tk.may_stop);
        if (tk.last) {
            r.last_due = tk.due;
            r.last_sampled = tk.may_stop;
            break;
        }
    }
    r.skipped = g.skipped;
    r.end_now = now;
    return r;
}

/* Checks that hold for every profile. */
static void common(const char *name, const struct play *pl, const struct result *r)
{
    CHECK(r->samples + r->skipped == r->nticks, "%s: %" PRIu64 " taken + %" PRIu64
          " skipped, of %" PRIu64 " ticks", name, r->samples, r->skipped, r->nticks);
    CHECK(r->last_due == pl->start + pl->span, "%s: the last tick at %" PRIu64 ", the end at %"
          PRIu64, name, r->last_due - pl->start, pl->span);
    CHECK(!r->grid_broken, "%s: %d ticks off the grid", name, r->grid_broken);
    CHECK(!r->order_broken, "%s: %d ticks out of order", name, r->order_broken);
    CHECK(!r->held_back, "%s: %d ticks before the end not to stop for", name, r->held_back);
    CHECK(!r->budget_broken, "%s: the target stopped past its budget %d times", name,
          r->budget_broken);
    CHECK(r->max_late < pl->period + pl->late_ns, "%s: a tick taken %" PRIu64 " ns late", name,
          r->max_late);
}

static void test_on_time(void)
{
    /* 100 Hz for 2 s, stops of 0.3 ms, sleeps a little late */
    struct play pl = {.start = 5 * MS, .span = 2000 * MS, .period = 10 * MS,
                      .stop_ns = 300000, .jitter_ns = 2 * MS};
    struct result r = play(&pl);
    common("on time", &pl, &r);
    CHECK(r.nticks == 200, "on time: %" PRIu64 " ticks", r.nticks);
    CHECK(r.samples == 200 && r.skipped == 0, "on time: %" PRIu64 " taken, %" PRIu64
          " skipped", r.samples, r.skipped);
    CHECK(r.last_sampled, "on time: the last tick was not stopped for");

    /* a length that is not a whole number of periods: the last tick is
     * the end, after the grid's last */
    pl.span = 2005 * MS;
    r = play(&pl);
    common("2.005 s", &pl, &r);
    CHECK(r.nticks == 201 && r.samples == 201, "2.005 s: %" PRIu64 " of %" PRIu64 " ticks",
          r.samples, r.nticks);

    /* 3 Hz: a period that does not divide a second */
    struct play odd = {.start = 0, .span = 1000 * MS, .period = 1000000000ull / 3,
                       .stop_ns = 300000};
    r = play(&odd);
    common("3 Hz", &odd, &r);
    CHECK(r.nticks == 4 && r.samples == 4, "3 Hz: %" PRIu64 " of %" PRIu64 " ticks", r.samples,
          r.nticks);
}

static void test_late(void)
{
    /* held up 35 ms after the 50th sample (at 500 ms): ticks 51 to 53 are
     * a whole period late and skipped, 54 is waited for */
    struct play pl = {.start = 0, .span = 2000 * MS, .period = 10 * MS, .stop_ns = 300000,
                      .late_after = 50, .late_ns = 35 * MS};
    struct result r = play(&pl);
    common("35 ms late", &pl, &r);
    CHECK(r.skipped == 3 && r.samples == 197, "35 ms late: %" PRIu64 " taken, %" PRIu64
          " skipped", r.samples, r.skipped);

    /* held up 15 ms: tick 51 (due at 510 ms, now 515.3) is late by less
     * than a period and taken at once; nothing is skipped */
    pl.late_ns = 15 * MS;
    r = play(&pl);
    common("15 ms late", &pl, &r);
    CHECK(r.skipped == 0 && r.samples == 200, "15 ms late: %" PRIu64 " taken, %" PRIu64
          " skipped", r.samples, r.skipped);
    CHECK(r.max_late >= 5 * MS, "15 ms late: the late tick was taken %" PRIu64 " ns late",
          r.max_late);

    /* held up longer than the profile: only the end is left, and taken */
    pl.late_after = 1;
    pl.late_ns = 5000 * MS;
    r = play(&pl);
    common("held up past the end", &pl, &r);
    CHECK(r.samples == 2 && r.skipped == 198, "held up past the end: %" PRIu64 " taken, %"
          PRIu64 " skipped", r.samples, r.skipped);
}

static void test_budget(void)
{
    /* 600 threads: each stop takes 25 ms, longer than a tick at 100 Hz */
    struct play pl = {.start = 7 * MS, .span = 2000 * MS, .period = 10 * MS, .stop_ns = 25 * MS};
    struct result r = play(&pl);
    common("25 ms stops", &pl, &r);
    uint64_t share = pl.span / 100 * HG_PROFILE_MAX_STOPPED;
    CHECK(r.stopped <= share + HG_TICKS_BURST_NS + pl.stop_ns, "25 ms stops: stopped %" PRIu64
          " ms of %" PRIu64, r.stopped / MS, pl.span / MS);
    /* the budget is spent, not left idle: the stops come as soon as it
     * allows them */
    CHECK(r.stopped + pl.stop_ns >= share, "25 ms stops: stopped only %" PRIu64 " ms",
          r.stopped / MS);
    CHECK(r.skipped > 0 && r.samples > 1, "25 ms stops: %" PRIu64 " taken, %" PRIu64 " skipped",
          r.samples, r.skipped);

    /* a stop at the limit every tick: 1 ms stops at 100 Hz are 10% */
    struct play at = {.start = 0, .span = 2000 * MS, .period = 10 * MS, .stop_ns = 1 * MS};
    r = play(&at);
    common("1 ms stops", &at, &r);
    CHECK(r.samples == 200, "1 ms stops: %" PRIu64 " taken of 200", r.samples);
}

static void test_last_tick(void)
{
    /* one stop of 60 ms in a profile of 100 ms: the budget allows no more
     * before 400 ms, so the ticks up to the end are skipped, and the last
     * one, at the end, is not stopped for: the first sample stands for
     * the whole profile */
    struct play pl = {.start = 0, .span = 100 * MS, .period = 10 * MS, .stop_ns = 60 * MS};
    struct result r = play(&pl);
    common("one long stop", &pl, &r);
    CHECK(r.samples == 1 && r.skipped == 9, "one long stop: %" PRIu64 " taken, %" PRIu64
          " skipped", r.samples, r.skipped);
    CHECK(!r.last_sampled, "one long stop: the last tick stopped the target");
    CHECK(r.end_now == pl.start + pl.span, "one long stop: ended at %" PRIu64 " ms",
          r.end_now / MS);

    /* the profile is one tick long: that tick is the end */
    struct play one = {.start = 0, .span = 3 * MS, .period = 10 * MS, .stop_ns = 300000};
    r = play(&one);
    common("one tick", &one, &r);
    CHECK(r.nticks == 1 && r.samples == 1, "one tick: %" PRIu64 " of %" PRIu64, r.samples,
          r.nticks);
}

int main(void)
{
    test_on_time();
    test_late();
    test_budget();
    test_last_tick();
    if (failed) {
        fprintf(stderr, "test_ticks: %d failed\n", failed);
        return 1;
    }
    printf("test_ticks: ok\n");
    return 0;
}
