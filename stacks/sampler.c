/*
 * sampler.c -- thread stacks: one stop (a dump) or a stop every 1/hz
 * seconds (a sampling profile), aggregated by thread and call stack.
 *
 * Each tick (stacks/ticks.c says when): read the threads' CPU times (the
 * live backend reads /proc/PID/task/TID/schedstat) before the stop, so the
 * stop does not count; stop the target, copy every thread's registers and
 * live stack, resume; then unwind the copies.  Names, source lines and
 * inlined frames are looked up only when the profile is finished, with
 * the target running, once per distinct address.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/array.h"
#include "lib/error.h"
#include "lib/hashmap.h"
#include "lib/profile.h"
#include "lib/progress.h"
#include "stacks/ticks.h"
#include "stacks/unwind.h"
#include "target/symbolize.h"
#include "target/target.h"

#define MAX_FRAMES 256
#define MAX_THREADS 65536

/* What the sampler keeps while it runs, beside the profile it fills. */
struct hg_sampling {
    /* The last reading of the threads' CPU times, sorted by tid, and when
     * it was taken: each sample gets what its thread used since. */
    hg_thread_state *prev;
    size_t nprev;
    uint64_t prev_at;
    int have_process_cpu;
    uint64_t process_cpu_at_start;
    hg_u64map stack_of_hash; /* a stack's hash -> its index */
    hg_u64map loc_of_pc;     /* pc -> its index in locs */
    struct {                 /* the last sample, for the dump */
        size_t stack;
        char state;
        const char *why;
    } last[MAX_THREADS];
    size_t nlast;
};

static void sampling_free(hg_profile *p)
{
    if (!p->sampling)
        return;
    hg_u64map_free(&p->sampling->stack_of_hash);
    hg_u64map_free(&p->sampling->loc_of_pc);
    free(p->sampling->prev);
    free(p->sampling);
    p->sampling = NULL;
}

static uint64_t hash_words(uint64_t h, const uint64_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= w[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h;
}

/* ---------------------------------------------------------- aggregation */

/* The stack (tid, pcs) in p->stacks, added if new.  stack_of_hash leads
 * from a stack's hash to it; two stacks that hash alike take the next
 * keys on. */
static int find_or_add_stack(hg_profile *p, int tid, const uint64_t *pcs, size_t n, size_t *out)
{
    uint64_t h = hash_words(0xcbf29ce484222325ull ^ (uint64_t)tid, pcs, n), key = h;
    for (const uint64_t *v; (v = hg_u64map_get(&p->sampling->stack_of_hash, key)) != NULL; key++) {
        const struct hg_prof_stack *s = &p->stacks[*v];
        if (s->hash == h && s->tid == tid && s->npcs == n && memcmp(s->pcs, pcs, n * 8) == 0) {
            *out = (size_t)*v;
            return 0;
        }
    }
    if (hg_array_reserve_((void **)&p->stacks, &p->capstacks, sizeof *p->stacks,
                          p->nstacks + 1) != 0)
        return hg_fail(HG_ENOMEM, "out of memory");
    struct hg_prof_stack *s = &p->stacks[p->nstacks];
    memset(s, 0, sizeof *s);
    s->pcs = malloc((n ? n : 1) * sizeof *s->pcs);
    if (!s->pcs || hg_u64map_put(&p->sampling->stack_of_hash, key, p->nstacks) != 0) {
        free(s->pcs);
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    memcpy(s->pcs, pcs, n * sizeof *pcs);
    s->npcs = n;
    s->tid = tid;
    s->hash = h;
    *out = p->nstacks++;
    return 0;
}

static int by_tid(const void *a, const void *b)
{
    int x = ((const hg_thread_state *)a)->tid, y = ((const hg_thread_state *)b)->tid;
    return (x > y) - (x < y);
}

static const hg_thread_state *find_thread_state(const hg_thread_state *v, size_t n, int tid)
{
    hg_thread_state key = {.tid = tid};
    return n ? bsearch(&key, v, n, sizeof *v, by_tid) : NULL;
}

/*
 * The CPU time thread tid used between the previous reading and this one
 * (now).  A thread this reading missed (born since the last stop, which
 * found it) gets none now and all of it at its next sample; a thread the
 * previous reading missed was born since, so all its time is new.
 */
static uint64_t cpu_since(const hg_profile *p, const hg_thread_state *now, size_t nnow, int tid)
{
    const hg_thread_state *c = find_thread_state(now, nnow, tid);
    if (!c || !c->have_cpu)
        return 0;
    const hg_thread_state *b = find_thread_state(p->sampling->prev, p->sampling->nprev, tid);
    if (b && b->have_cpu && b->cpu_ns <= c->cpu_ns)
        return c->cpu_ns - b->cpu_ns;
    return c->cpu_ns; /* new, or a new thread with an old one's tid */
}

/* Every thread's CPU time (a profile) or run state (a dump) now, without
 * stopping the target, sorted by tid; and the process's CPU time. */
static int read_threads(hg_profile *p, hg_target *t, hg_thread_state **out, size_t *n,
                        int *have_pcpu, uint64_t *pcpu)
{
    *out = NULL;
    *n = 0;
    *have_pcpu = 0;
    unsigned what = p->hz ? HG_THREAD_CPU_TIME : HG_THREAD_RUN_STATE;
    int rc = t->ops->thread_states ? t->ops->thread_states(t, what, out, n) : 0;
    if (rc)
        return rc;
    if (*n > 1)
        qsort(*out, *n, sizeof **out, by_tid);
    *have_pcpu = p->hz && t->ops->process_cpu && t->ops->process_cpu(t, pcpu) == 0;
    return 0;
}

/* The reading a profile starts from: the first sample's CPU times are
 * counted from it, and its time is the profile's start. */
static int first_reading(hg_profile *p, hg_target *t)
{
    uint64_t pcpu = 0;
    int rc = read_threads(p, t, &p->sampling->prev, &p->sampling->nprev, &p->sampling->have_process_cpu, &pcpu);
    p->start_ns = p->sampling->prev_at = hg_now_ns();
    p->time_ns = hg_wall_ns();
    p->sampling->process_cpu_at_start = pcpu;
    return rc;
}

/* A reading has been used: it is the one the next tick counts from. */
static void reading_done(hg_profile *p, hg_thread_state *ti, size_t nti, uint64_t at,
                         int have_pcpu, uint64_t pcpu)
{
    free(p->sampling->prev);
    p->sampling->prev = ti;
    p->sampling->nprev = nti;
    p->sampling->prev_at = at;
    p->timing.duration_ns = at - p->start_ns;
    if (p->sampling->have_process_cpu && have_pcpu && pcpu >= p->sampling->process_cpu_at_start)
        p->timing.process_cpu_ns = pcpu - p->sampling->process_cpu_at_start;
}

/*
 * One tick.  Read the threads' CPU times (before the stop, which would
 * change them); stop, copy the stacks, resume; unwind every thread.  Each
 * thread's sample stands for the time since the previous reading: its
 * wall time is that interval, its CPU time what the thread used in it.
 *
 * With stop 0 (the last tick of a profile, when stopping the target again
 * would keep it stopped more than its share of the time), the target is
 * not stopped: the stacks of the last sample stand for the time up to now
 * as well, and get its wall and CPU time.  Unless none of those threads is
 * left: then the stop tells whether the process is gone, or samples the
 * threads it has now.
 */
static int sample(hg_profile *p, hg_target *t, struct hg_unwinder *u, int stop)
{
    hg_thread_state *ti = NULL;
    size_t nti = 0;
    int have_pcpu = 0;
    uint64_t pcpu = 0;
    int rc = read_threads(p, t, &ti, &nti, &have_pcpu, &pcpu);
    if (rc)
        return rc;
    uint64_t at = hg_now_ns();
    uint64_t wall = p->hz ? at - p->sampling->prev_at : 0;
    if (!stop) {
        int alive = 0;
        for (size_t i = 0; i < p->sampling->nlast; i++) {
            const hg_thread_state *c = find_thread_state(ti, nti, p->stacks[p->sampling->last[i].stack].tid);
            alive += c && c->have_cpu;
        }
        for (size_t i = 0; i < p->sampling->nlast && alive; i++) {
            struct hg_prof_stack *s = &p->stacks[p->sampling->last[i].stack];
            const hg_thread_state *c = find_thread_state(ti, nti, s->tid);
            if (!c || !c->have_cpu)
                continue; /* ended since the last sample */
            uint64_t cpu = cpu_since(p, ti, nti, s->tid);
            s->wall_ns += wall;
            s->cpu_ns += cpu;
            p->timing.cpu_ns += cpu;
        }
        if (alive) {
            reading_done(p, ti, nti, at, have_pcpu, pcpu);
            return 0;
        }
    }
    /* Every stop is as short as it can be: the unwinder asks libdwfl
     * where the code is, and the mappings read at attach say where the
     * stacks are. */
    rc = t->ops->stop(t, HG_STOP_KEEP_MAPS);
    if (rc) {
        free(ti);
        return rc;
    }
    /* Copy what the walks need and let the target go; walk afterwards. */
    rc = hg_unwinder_capture(u);
    uint64_t held = HG_UNKNOWN;
    int gone = t->ops->resume(t, &held);
    if (rc == 0)
        rc = gone;
    uint64_t pcs[MAX_FRAMES];
    p->sampling->nlast = 0;
    size_t nthreads = hg_unwinder_count(u);
    for (size_t i = 0; i < nthreads && rc == 0; i++) {
        size_t n;
        const char *why;
        int tid = hg_unwinder_tid(u, i);
        rc = hg_unwind_thread(u, i, pcs, MAX_FRAMES, &n, &why);
        if (rc)
            break;
        size_t si = 0;
        if ((rc = find_or_add_stack(p, tid, pcs, n, &si)) != 0)
            break;
        struct hg_prof_stack *s = &p->stacks[si];
        const hg_thread_state *c = find_thread_state(ti, nti, tid);
        if (why == hg_unwind_cut)
            p->cut++;
        uint64_t cpu = p->hz ? cpu_since(p, ti, nti, tid) : 0;
        s->count++;
        s->wall_ns += wall;
        s->cpu_ns += cpu;
        p->timing.cpu_ns += cpu;
        if (p->sampling->nlast < MAX_THREADS) {
            p->sampling->last[p->sampling->nlast].stack = si;
            p->sampling->last[p->sampling->nlast].state = c ? c->state : '?';
            p->sampling->last[p->sampling->nlast].why = why;
            p->sampling->nlast++;
        }
    }
    reading_done(p, ti, nti, at, have_pcpu, pcpu);
    p->timing.samples++;
    if (held != HG_UNKNOWN) { /* a core is never stopped */
        p->timing.stopped_ns_total += held;
        if (held > p->timing.stopped_ns_max)
            p->timing.stopped_ns_max = held;
    }
    return rc;
}

/* ---------------------------------------------------------- symbolizing */

/* The location of pc in p->locs, symbolized the first time. */
static int location_of(hg_profile *p, hg_target *t, uint64_t pc, size_t *out)
{
    const uint64_t *known = hg_u64map_get(&p->sampling->loc_of_pc, pc);
    if (known) {
        *out = (size_t)*known;
        return 0;
    }
    if (hg_array_reserve_((void **)&p->locs, &p->caplocs, sizeof *p->locs, p->nlocs + 1) != 0 ||
        hg_u64map_put(&p->sampling->loc_of_pc, pc, p->nlocs) != 0)
        return hg_fail(HG_ENOMEM, "out of memory");
    hg_symbolize(t, pc, &p->locs[p->nlocs]);
    *out = p->nlocs++;
    return 0;
}

static char *thread_name(hg_target *t, int tid)
{
    char buf[64] = "";
    if (t->ops->thread_name)
        t->ops->thread_name(t, tid, buf, sizeof buf);
    return strdup(buf);
}

static int finish(hg_profile *p, hg_target *t)
{
    for (size_t i = 0; i < p->nstacks; i++) {
        struct hg_prof_stack *s = &p->stacks[i];
        s->locs = calloc(s->npcs ? s->npcs : 1, sizeof *s->locs);
        if (!s->locs)
            return hg_fail(HG_ENOMEM, "out of memory");
        for (size_t k = 0; k < s->npcs; k++)
            if (location_of(p, t, s->pcs[k], &s->locs[k]) < 0)
                return HG_ENOMEM;
    }
    /* thread names (a core has none: "thread TID") */
    for (size_t i = 0; i < p->nstacks; i++) {
        struct hg_prof_stack *s = &p->stacks[i];
        for (size_t k = 0; k < i && !s->name; k++)
            if (p->stacks[k].tid == s->tid)
                s->name = strdup(p->stacks[k].name);
        if (!s->name)
            s->name = thread_name(t, s->tid);
        if (!s->name)
            return hg_fail(HG_ENOMEM, "out of memory");
    }
    /* the last sample, frame by frame, inlined calls expanded */
    p->threads = calloc(p->sampling->nlast ? p->sampling->nlast : 1, sizeof *p->threads);
    if (!p->threads)
        return hg_fail(HG_ENOMEM, "out of memory");
    for (size_t i = 0; i < p->sampling->nlast; i++) {
        const struct hg_prof_stack *s = &p->stacks[p->sampling->last[i].stack];
        hg_thread_stack *ts = &p->threads[i];
        size_t nf = 0;
        for (size_t k = 0; k < s->npcs; k++)
            nf += p->locs[s->locs[k]].nlines ? p->locs[s->locs[k]].nlines : 1;
        hg_stack_frame *f = calloc(nf ? nf : 1, sizeof *f);
        if (!f)
            return hg_fail(HG_ENOMEM, "out of memory");
        size_t o = 0;
        for (size_t k = 0; k < s->npcs; k++) {
            const hg_location *l = &p->locs[s->locs[k]];
            for (size_t m = 0; m < l->nlines || (m == 0 && !l->nlines); m++) {
                const hg_loc_line *ln = l->nlines ? &l->lines[m] : NULL;
                f[o++] = (hg_stack_frame){.pc = l->pc,
                                          .function = ln ? ln->function : NULL,
                                          .offset = l->offset,
                                          .file = ln ? ln->file : NULL,
                                          .line = ln ? ln->line : 0,
                                          .inlined = ln ? ln->inlined : 0,
                                          .module = l->module};
            }
        }
        ts->tid = s->tid;
        ts->name = s->name;
        ts->state = p->sampling->last[i].state;
        ts->frames = f;
        ts->nframes = o;
        ts->error = p->sampling->last[i].why;
    }
    p->nthreads = p->sampling->nlast;
    return 0;
}

/* ---------------------------------------------------------------- API */

int hg_profile_take(hg_target *t, const hg_profile_options *opt, hg_profile **out)
{
    *out = NULL;
    double seconds = opt ? opt->seconds : 0;
    unsigned hz = opt && opt->hz ? opt->hz : 100;
    if (!(seconds >= 0 && seconds <= 1e9) || hz > 10000)
        return hg_fail(HG_EUSAGE, "profile: seconds must be from 0 to 1e9 and hz at most 10000");
    hg_profile *p = calloc(1, sizeof *p);
    if (p && !(p->sampling = calloc(1, sizeof *p->sampling))) {
        free(p);
        p = NULL;
    }
    if (!p)
        return hg_fail(HG_ENOMEM, "out of memory");
    p->pid = t->process_id;
    snprintf(p->exe, sizeof p->exe, "%s", t->exe);
    p->hz = seconds > 0 ? hz : 0;
    p->period_ns = 1000000000ull / hz;
    p->time_ns = hg_wall_ns();
    /* modules: before any stop; a one-shot dump copies whole stacks */
    struct hg_unwinder *u = hg_unwinder_new(t, seconds > 0 ? HG_STACK_COPY_PROFILE
                                                           : HG_STACK_COPY_DUMP);
    if (!u) {
        int rc = hg_error_code();
        hg_profile_free(p);
        return rc ? rc : HG_EINTERNAL;
    }
    int rc;
    if (seconds <= 0) {
        p->start_ns = p->sampling->prev_at = hg_now_ns();
        rc = sample(p, t, u, 1); /* a dump: one stop */
    } else {
        rc = first_reading(p, t);
    }
    /* The ticks lie on a grid of 1/hz from the first reading (ticks.h) */
    hg_ticks grid;
    hg_ticks_init(&grid, p->start_ns, (uint64_t)(seconds * 1e9), p->period_ns);
    /* progress in ticks of the grid, sampled or skipped: time, in effect */
    hg_progress_begin("profiling", "ticks", (uint64_t)(seconds * 1e9) / p->period_ns);
    while (rc == 0 && seconds > 0) {
        hg_progress_set((hg_now_ns() - p->start_ns) / p->period_ns);
        if (opt && opt->stop && *opt->stop)
            break;
        uint64_t now = hg_now_ns();
        hg_tick tk = hg_ticks_next(&grid, now, p->timing.stopped_ns_total);
        if (tk.due > now) {
            struct timespec ts = {(time_t)((tk.due - now) / 1000000000ull),
                                  (long)((tk.due - now) % 1000000000ull)};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !(opt && opt->stop && *opt->stop))
                ;
            if (opt && opt->stop && *opt->stop)
                break;
        }
        uint64_t samples = p->timing.samples;
        rc = sample(p, t, u, tk.may_stop);
        /* the last tick, when the last sample stands for it, is skipped */
        hg_ticks_done(&grid, &tk, rc == 0 && p->timing.samples == samples);
        p->timing.skipped = grid.skipped;
        if (rc == HG_ENOPROC && p->timing.samples > 0) {
            p->target_exited = 1; /* keep what was sampled */
            rc = 0;
            break;
        }
        /* The signal that asks to end the profile can cut a stop short
         * (the target is released by then): keep what was sampled. */
        if (rc == HG_EINTR && opt && opt->stop && *opt->stop && p->timing.samples > 0) {
            rc = 0;
            break;
        }
        if (tk.last)
            break;
    }
    hg_progress_end();
    p->copied = hg_unwinder_copied(u);
    hg_unwinder_free(u);
    /* ended before its first sample (the first stop comes one period after
     * the start): there is no profile to write */
    if (rc == 0 && seconds > 0 && p->timing.samples == 0 && opt && opt->stop && *opt->stop)
        rc = hg_fail(HG_EINTR, "the profile was interrupted before its first sample");
    if (rc == 0)
        rc = finish(p, t);
    if (rc) {
        hg_profile_free(p);
        return rc;
    }
    sampling_free(p);
    *out = p;
    return 0;
}

void hg_profile_free(hg_profile *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nstacks; i++) {
        free(p->stacks[i].pcs);
        free(p->stacks[i].locs);
        free(p->stacks[i].name);
    }
    free(p->stacks);
    sampling_free(p);
    for (size_t i = 0; i < p->nlocs; i++)
        hg_location_free(&p->locs[i]);
    free(p->locs);
    for (size_t i = 0; p->threads && i < p->nthreads; i++)
        free((void *)p->threads[i].frames);
    free(p->threads);
    free(p);
}

size_t hg_profile_thread_count(const hg_profile *p) { return p->nthreads; }
const hg_thread_stack *hg_profile_thread(const hg_profile *p, size_t i)
{
    return i < p->nthreads ? &p->threads[i] : NULL;
}
const hg_profile_timing *hg_profile_timing_of(const hg_profile *p) { return &p->timing; }
int hg_profile_target_exited(const hg_profile *p) { return p->target_exited; }
uint64_t hg_profile_cut_stacks(const hg_profile *p) { return p->cut; }
