/* cmd_stats.c -- heapgrab stats [--json]: one snapshot, as a table or as
 * one JSON object, on standard output. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cmd_stats(const struct cli_args *a)
{
    cli_handle_signals(0);
    hg_target *t;
    int status = cli_open_target(a, &t);
    if (status)
        return status;
    hg_snapshot *s;
    int rc = cli_take(t, &a->snap, &s);
    /* the allocation sampler's figures too, when it is loaded */
    if (rc == 0 && a->json) {
        int src = hg_snapshot_read_sampler(s, t);
        if (src != 0 && src != HG_ENOSAMPLER)
            say("allocation sampler: %s", hg_error_message());
    }
    if (rc) {
        status = fail(rc);
    } else {
        status = output_stdout_done(a->json ? hg_write_json(s, stdout) : hg_write_text(s, stdout));
        hg_snapshot_free(s);
    }
    hg_target_close(t);
    return status;
}
