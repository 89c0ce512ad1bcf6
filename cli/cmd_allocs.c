/* cmd_allocs.c -- heapgrab allocs PID|CORE [-o FILE]: the allocation
 * sampler's table, read from the process or its core, as a pprof profile
 * in the form of Go's heap profile; a one-line summary on stderr.  Without
 * the sampler, one line saying how to start the program with it (exit
 * status EXIT_NOSAMPLER). */
#include <stdio.h>

#include "cli/cli.h"

static int allocs_writer(const void *p, FILE *f) { return hg_write_allocs_pprof(p, f); }
static int allocs_html_writer(const void *p, FILE *f)
{
    return hg_write_allocs_report_html(p, NULL, f);
}

int cmd_allocs(const struct cli_args *a)
{
    cli_handle_signals(0);
    struct output out;
    int status = output_open(&out, a->output);
    if (status)
        return status;
    hg_target *t;
    if ((status = cli_open_target(a, &t)) != 0) {
        output_discard(&out);
        return status;
    }
    hg_allocs *al;
    int rc = hg_allocs_take(t, &al);
    hg_target_close(t);
    if (rc) {
        output_discard(&out);
        return fail(rc);
    }
    status = output_write(&out, a->html ? allocs_html_writer : allocs_writer, al);
    if (status == EXIT_OK) {
        const hg_sampler_info *in = hg_allocs_info(al);
        fprintf(stderr,
                "heapgrab: %llu objects, %llu bytes allocated; %llu objects, %llu bytes freed; "
                "%llu samples (one per %llu bytes), %llu sampled objects live\n",
                (unsigned long long)in->alloc_objects, (unsigned long long)in->alloc_bytes,
                (unsigned long long)in->free_objects, (unsigned long long)in->free_bytes,
                (unsigned long long)in->samples, (unsigned long long)in->rate,
                (unsigned long long)in->live_sampled);
        if (in->dropped_samples || in->dropped_live)
            fprintf(stderr, "heapgrab: the sampler's table was full: %llu samples dropped, "
                    "%llu live objects not tracked\n",
                    (unsigned long long)in->dropped_samples,
                    (unsigned long long)in->dropped_live);
    }
    hg_allocs_free(al);
    return status;
}
