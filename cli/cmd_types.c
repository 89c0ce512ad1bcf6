/* cmd_types.c -- heapgrab types [--json]: what the memory is, one snapshot
 * typed by vtables, as a table or as one JSON object on standard output. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cmd_types(const struct cli_args *a)
{
    cli_handle_signals(0);
    hg_target *t;
    int status = cli_open_target(a, &t);
    if (status)
        return status;
    hg_snapshot_options opt = a->snap;
    opt.types = 1;
    hg_snapshot *s;
    int rc = cli_take(t, &opt, &s);
    if (rc) {
        status = fail(rc);
    } else {
        status = output_stdout_done(a->json ? hg_write_types_json(s, stdout)
                                            : hg_write_types_text(s, stdout));
        hg_snapshot_free(s);
    }
    hg_target_close(t);
    return status;
}
