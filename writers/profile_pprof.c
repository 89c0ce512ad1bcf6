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

/* A module the locations fall in: from its start to past its last one. */
struct module {
    uint64_t start, limit;
    const hg_location *first;  /* its path and build id */
};

/*
 * The mappings: one per module the locations fall in, in the order they
 * are first seen, the executable first (pprof takes the first mapping for
 * the main binary).  map_of[i]: location i's mapping id, 0 if in none.
 */
static int add_mappings(struct hg_pprof *b, const hg_profile *p, uint64_t *map_of)
{
    hg_array(struct module) mods = HG_ARRAY_INIT;
    for (size_t i = 0; i < p->nlocs; i++) {
        const hg_location *l = &p->locs[i];
        map_of[i] = 0;
        if (!l->module)
            continue;
        size_t m = 0;
        while (m < mods.size && mods.ptr[m].start != l->module_start)
            m++;
        if (m == mods.size) {
            struct module *mod = hg_array_push(mods);
            if (!mod) {
                hg_array_clear(mods);
                return hg_fail(HG_ENOMEM, "out of memory");
            }
            *mod = (struct module){l->module_start, l->pc + 1, l};
        } else if (l->pc + 1 > mods.ptr[m].limit) {
            mods.ptr[m].limit = l->pc + 1;
        }
        map_of[i] = m + 1;
    }
    int have_main = 0;
    for (size_t m = 0; m < mods.size; m++) {
        const hg_location *l = mods.ptr[m].first;
        struct hg_pprof_mapping pm = {mods.ptr[m].start, mods.ptr[m].limit, 0, l->module,
                                      l->build_id, 1};
        uint64_t id = hg_pprof_mapping(b, &pm);
        /* the path as the target has it, before any UTF-8 repair */
        if (!have_main && strcmp(l->module, p->exe) == 0) {
            hg_pprof_main_mapping(b, id);
            have_main = 1;
        }
    }
    hg_array_clear(mods);
    return 0;
}

int hg_write_profile_pprof(const hg_profile *p, FILE *out)
{
    if (!p || !out)
        return hg_fail(HG_EUSAGE, "hg_write_profile_pprof: no profile or stream");
    struct hg_pprof *b = hg_pprof_new();
    uint64_t *map_of = calloc(p->nlocs ? p->nlocs : 1, sizeof *map_of);
    hg_array(struct hg_pprof_line) lines = HG_ARRAY_INIT;
    hg_array(uint64_t) ids = HG_ARRAY_INIT;
    int rc = 0;
    if (!b || !map_of) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto done;
    }

    /* The strings go into the table in the order they are first used. */
    hg_pprof_sample_type(b, "samples", "count");
    hg_pprof_sample_type(b, "wall", "nanoseconds");
    hg_pprof_sample_type(b, "cpu", "nanoseconds");
    int64_t k_name = hg_pprof_string(b, "thread_name");
    int64_t k_tid = hg_pprof_string(b, "thread_id");
    if ((rc = add_mappings(b, p, map_of)) != 0)
        goto done;

    /* Locations, one per distinct address (ids 1, 2, ... as p->locs), with
     * a Line per inlined level. */
    for (size_t i = 0; i < p->nlocs; i++) {
        const hg_location *l = &p->locs[i];
        lines.size = 0;
        if (hg_array_reserve(lines, l->nlines) != 0) {
            rc = hg_fail(HG_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t k = 0; k < l->nlines; k++) {
            const hg_loc_line *ln = &l->lines[k];
            lines.ptr[lines.size++] = (struct hg_pprof_line){
                hg_pprof_function(b, ln->function ? ln->function : "??",
                                  ln->file ? ln->file : "", ln->start_line),
                ln->line};
        }
        hg_pprof_location(b, map_of[i], l->pc, lines.ptr, lines.size);
    }

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
    hg_array_clear(lines);
    free(map_of);
    hg_pprof_free(b);
    return rc;
}
