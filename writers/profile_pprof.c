/*
 * profile_pprof.c -- thread stacks (a dump or a sampling profile) as a
 * gzipped pprof CPU profile, as Go writes one:
 *   sample types samples/count, wall/nanoseconds (the time each sample
 *   stands for), cpu/nanoseconds (the CPU time its thread used in that
 *   time; a dump has neither); period_type wall/nanoseconds with period
 *   1e9/hz; duration and time set.
 * One Sample per distinct (thread, stack), labels thread_name (string) and
 * thread_id (number).  One Location per distinct address, with one Line per
 * inlined level (innermost first); Functions carry file names and start
 * lines so `go tool pprof -list` shows source; Mappings carry build IDs and
 * say everything is symbolized already.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/array.h"
#include "lib/error.h"
#include "lib/profile.h"
#include "writers/pprof_builder.h"

enum { V_SAMPLES, V_WALL, V_CPU, NVALUES };

int hg_write_profile_pprof(const hg_profile *p, FILE *out)
{
    if (!p || !out)
        return hg_fail(HG_EUSAGE, "hg_write_profile_pprof: no profile or stream");
    struct hg_pprof *b = hg_pprof_new();
    hg_array(uint64_t) ids = HG_ARRAY_INIT;
    int rc = 0;
    if (!b) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto done;
    }

    /* The strings go into the table in the order they are first used. */
    hg_pprof_sample_type(b, "samples", "count");
    hg_pprof_sample_type(b, "wall", "nanoseconds");
    hg_pprof_sample_type(b, "cpu", "nanoseconds");
    int64_t k_name = hg_pprof_string(b, "thread_name");
    int64_t k_tid = hg_pprof_string(b, "thread_id");
    /* Locations 1, 2, ... as p->locs */
    if ((rc = hg_pprof_code_locations(b, p->locs, p->nlocs, p->exe)) != 0)
        goto done;

    /* Samples: one per distinct (thread, stack). */
    for (size_t i = 0; i < p->nstacks; i++) {
        const struct hg_prof_stack *s = &p->stacks[i];
        if (hg_array_reserve(ids, s->npcs) != 0) {
            rc = hg_fail(HG_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t k = 0; k < s->npcs; k++)
            ids.ptr[k] = s->locs[k] + 1;
        int64_t v[NVALUES] = {hg_pprof_i64(s->count), hg_pprof_i64(s->wall_ns),
                              hg_pprof_i64(s->cpu_ns)};
        struct hg_pprof_label lb[2] = {
            {.key = k_name, .str = hg_pprof_string(b, s->name ? s->name : "")},
            {.key = k_tid, .num = s->tid}};
        hg_pprof_sample(b, ids.ptr, s->npcs, v, lb, 2);
    }

    char comment[4096 + 512];
    const hg_profile_timing *tm = &p->timing;
    int n = snprintf(comment, sizeof comment,
                     "heapgrab %s thread stacks of pid %d (%s): %" PRIu64 " stops, all threads "
                     "stopped %.3f ms on average, %.3f ms at most; %" PRIu64 " ticks skipped",
                     HEAPGRAB_VERSION, p->pid, p->exe, tm->samples,
                     tm->samples ? tm->stopped_ns_total / 1e6 / (double)tm->samples : 0.0,
                     tm->stopped_ns_max / 1e6, tm->skipped);
    /* What the cpu samples hold against the process's own CPU clock: the
     * rest was used by threads after the last tick that saw them and before
     * they ended. */
    if (p->hz && tm->process_cpu_ns && n > 0 && (size_t)n < sizeof comment)
        snprintf(comment + n, sizeof comment - (size_t)n,
                 "; cpu %.3f s of the process's %.3f s", tm->cpu_ns / 1e9,
                 tm->process_cpu_ns / 1e9);
    hg_pprof_comment(b, comment);
    hg_pprof_period(b, "wall", "nanoseconds", hg_pprof_i64(p->period_ns));
    hg_pprof_default_sample_type(b, p->hz ? "cpu" : "samples");
    hg_pprof_time(b, hg_pprof_i64(p->time_ns), hg_pprof_i64(tm->duration_ns));
    rc = hg_pprof_write(b, out);
done:
    hg_array_clear(ids);
    hg_pprof_free(b);
    return rc;
}
