/* cmd_snapshot.c -- heapgrab [snapshot]: a pprof heap profile (stacks: who
 * holds each object; --by-size: the size classes), or with
 * --count a series of them, --interval seconds apart, each in its own file
 * (%d in -o); a one-line summary of each on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli/cli.h"

static int pprof_writer(const void *s, FILE *f) { return hg_write_pprof(s, f); }
static int html_writer(const void *s, FILE *f) { return hg_write_report_html(s, NULL, f); }

/* The allocation sampler's figures at the previous snapshot, for the rate
 * between two. */
static hg_sampler_info prev_sampler;
static uint64_t prev_time_ns;
static int have_prev;

static void summary(const hg_snapshot *s, FILE *f)
{
    const hg_totals *t = hg_snapshot_totals(s);
    const hg_timing *tm = hg_snapshot_timing(s);
    fprintf(f, "heapgrab: pid %d: %llu objects, %llu bytes in use; %llu bytes from the OS",
            hg_snapshot_pid(s), (unsigned long long)t->inuse_objects,
            (unsigned long long)t->inuse_bytes, (unsigned long long)t->sys_bytes);
    if (tm->pause == HG_PAUSE_NO_STOP)
        fprintf(f, "; target never stopped%s", hg_snapshot_consistent(s) ? "" : " (not consistent)");
    else if (tm->stopped_ns != HG_UNKNOWN) /* a core was never stopped */
        fprintf(f, "; target stopped %.1f ms%s", tm->stopped_ns / 1e6,
                tm->pause == HG_PAUSE_COPY ? " to copy its memory" : "");
    const hg_leak_totals *lk = hg_snapshot_leaks(s);
    if (lk)
        fprintf(f, "; %llu bytes leaked in %llu objects",
                (unsigned long long)(lk->direct_bytes + lk->indirect_bytes),
                (unsigned long long)(lk->direct_objects + lk->indirect_objects));
    const hg_sampler_info *si = hg_snapshot_sampler(s);
    if (si && have_prev && hg_snapshot_time_ns(s) > prev_time_ns &&
        si->alloc_bytes >= prev_sampler.alloc_bytes) {
        double secs = (hg_snapshot_time_ns(s) - prev_time_ns) / 1e9;
        fprintf(f, "; allocating %.0f bytes/s, %.0f objects/s since the last snapshot",
                (si->alloc_bytes - prev_sampler.alloc_bytes) / secs,
                (si->alloc_objects - prev_sampler.alloc_objects) / secs);
    }
    if (si) {
        prev_sampler = *si;
        prev_time_ns = hg_snapshot_time_ns(s);
        have_prev = 1;
    }
    if (hg_snapshot_problem_total(s))
        fprintf(f, "; %llu problems (first: %s)",
                (unsigned long long)hg_snapshot_problem_total(s),
                hg_snapshot_problem(s, 0)->what);
    fputc('\n', f);
}

/* Open the output of snapshot number i; 0 or the exit status. */
static int open_numbered(struct output *out, const char *pattern, int i)
{
    char *name = pattern ? output_name(pattern, i) : NULL;
    if (pattern && !name) {
        say("out of memory");
        return EXIT_FAIL;
    }
    int status = output_open(out, name);
    free(name);
    return status;
}

int cmd_snapshot(const struct cli_args *a)
{
    cli_handle_signals(0);
    /* The first file is opened before the process is touched, each of the
     * others before its own snapshot. */
    struct output out = {0};
    int status = open_numbered(&out, a->output, 0);
    if (status)
        return status;
    hg_target *t;
    if ((status = cli_open_target(a, &t)) != 0) {
        output_discard(&out);
        return status;
    }
    for (int i = 0; i < a->count && !cli_interrupted; i++) {
        if (i > 0) {
            double iv = a->interval;
            struct timespec ts = {(time_t)iv, (long)((iv - (time_t)iv) * 1e9)};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !cli_interrupted)
                ;
            if ((status = open_numbered(&out, a->output, i)) != 0)
                break;
        }
        hg_snapshot *s;
        int rc = cli_take(t, &a->snap, &s);
        if (rc) {
            output_discard(&out);
            status = fail(rc);
            break;
        }
        /* with the allocation sampler loaded, the allocation rate between
         * snapshots goes in the summary */
        hg_snapshot_read_sampler(s, t);
        status = output_write(&out, a->html ? html_writer : pprof_writer, s);
        if (status == 0) {
            cli_progress_hold();
            summary(s, stderr);
            cli_progress_release();
        }
        hg_snapshot_free(s);
        if (status)
            break;
    }
    hg_target_close(t);
    return status;
}
