/* cmd_stacks.c -- heapgrab stacks (one stop: every thread's stack, as text
 * or with -o as pprof) and heapgrab profile (stops --hz times a second for
 * --seconds: a pprof CPU profile); what the profile cost the target and
 * what it could not see, on stderr. */
#include <stdio.h>

#include "cli/cli.h"

static int profile_writer(const void *p, FILE *f) { return hg_write_profile_pprof(p, f); }
static int profile_html_writer(const void *p, FILE *f)
{
    return hg_write_profile_report_html(p, NULL, f);
}
static int stacks_writer(const void *p, FILE *f) { return hg_write_stacks_text(p, f); }

/* After a profile: its samples, its length and how long the target was
 * stopped, on stderr; ticks skipped and stacks cut, if any. */
static void report(const hg_profile *p, int profile)
{
    const hg_profile_timing *tm = hg_profile_timing_of(p);
    if (profile) {
        fprintf(stderr,
                "heapgrab: %llu samples in %.2f s%s; all threads stopped %.3f ms per sample on "
                "average, %.3f ms at most\n",
                (unsigned long long)tm->samples, tm->duration_ns / 1e9,
                hg_profile_target_exited(p) ? " (the process exited)"
                : cli_stop_profile          ? " (interrupted)"
                                            : "",
                tm->samples ? tm->stopped_ns_total / 1e6 / (double)tm->samples : 0.0,
                tm->stopped_ns_max / 1e6);
        if (tm->skipped)
            fprintf(stderr, "heapgrab: %llu ticks skipped, to keep the target stopped at most "
                    "%d%% of the time (or heapgrab was late)\n",
                    (unsigned long long)tm->skipped, HG_PROFILE_MAX_STOPPED);
    }
    if (hg_profile_cut_stacks(p))
        fprintf(stderr, "heapgrab: %llu %s have stacks deeper than the %u KiB copied per "
                "thread at a stop: their outer frames are missing\n",
                (unsigned long long)hg_profile_cut_stacks(p),
                profile ? "thread samples" : "threads",
                (profile ? HG_STACK_COPY_PROFILE : HG_STACK_COPY_DUMP) / 1024);
}

static int run(const struct cli_args *a, int profile)
{
    int pprof = profile || a->output;
    cli_handle_signals(profile);
    struct output out;
    int status = output_open(&out, pprof ? a->output : NULL);
    if (status)
        return status;
    hg_target *t;
    if ((status = cli_open_target(a, &t)) != 0) {
        output_discard(&out);
        return status;
    }
    hg_profile_options po = {profile ? a->seconds : 0, a->hz, &cli_stop_profile};
    hg_profile *p;
    int rc = hg_profile_take(t, &po, &p);
    hg_target_close(t);
    if (rc) {
        output_discard(&out);
        return fail(rc);
    }
    status = output_write(&out, !pprof ? stacks_writer : a->html ? profile_html_writer
                                                                  : profile_writer, p);
    if (status == EXIT_OK)
        report(p, profile);
    hg_profile_free(p);
    return status;
}

int cmd_stacks(const struct cli_args *a) { return run(a, 0); }
int cmd_profile(const struct cli_args *a) { return run(a, 1); }
