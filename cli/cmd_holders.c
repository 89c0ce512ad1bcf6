/* cmd_holders.c -- heapgrab holders [--json] (the roots, most retained
 * bytes first, reachable bytes beside) and heapgrab leaks [--json] (the
 * leaked objects, as LeakSanitizer's summary reads): one snapshot taken
 * with holders, on standard output. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int run(const struct cli_args *a, int (*text)(const hg_snapshot *, FILE *),
               int (*json)(const hg_snapshot *, FILE *))
{
    cli_handle_signals(0);
    hg_target *t;
    int status = cli_open_target(a, &t);
    if (status)
        return status;
    hg_snapshot *s;
    int rc = cli_take(t, &a->snap, &s);
    hg_target_close(t);
    if (rc)
        return fail(rc);
    if (!hg_snapshot_leaks(s)) {
        /* The library took the snapshot but found no holders: a library
         * that cannot yet, rather than a heap that has none. */
        say("this libheapgrab did not find who holds the memory (no holders in the snapshot)");
        hg_snapshot_free(s);
        return EXIT_FAIL;
    }
    status = output_stdout_done(a->json ? json(s, stdout) : text(s, stdout));
    hg_snapshot_free(s);
    return status;
}

int cmd_holders(const struct cli_args *a)
{
    return run(a, hg_write_holders_text, hg_write_holders_json);
}

int cmd_leaks(const struct cli_args *a) { return run(a, hg_write_leaks_text, hg_write_leaks_json); }
