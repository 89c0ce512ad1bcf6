/*
 * write_synthetic -- the report of a snapshot taken with holders, whose
 * every figure is known (tests/holders_outputs/synthetic.h), for
 * test_report.py and test_browser.py: until the library finds holders in
 * a live process, this is how the page's holders view is checked.
 *
 *   write_synthetic OUTDIR   writes holders.html (hg_write_report_html),
 *                            holders.pprof (hg_write_pprof, the same
 *                            stacks) and holders-stats.json (hg_write_json)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapgrab.h"
#include "tests/holders_outputs/synthetic.h"

static int report(const hg_snapshot *s, FILE *f) { return hg_write_report_html(s, NULL, f); }

static int write_to(const char *dir, const char *name,
                    int (*write)(const hg_snapshot *, FILE *), const hg_snapshot *s)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return 1;
    }
    int rc = write(s, f);
    if (fclose(f) != 0 || rc) {
        fprintf(stderr, "%s: %s\n", path, rc ? hg_error_message() : "write failed");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: write_synthetic OUTDIR\n");
        return 2;
    }
    hg_snapshot *s = synthetic_holders_snapshot(NULL);
    if (!s) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    int bad = write_to(argv[1], "holders.html", report, s) |
              write_to(argv[1], "holders.pprof", hg_write_pprof, s) |
              write_to(argv[1], "holders-stats.json", hg_write_json, s);
    hg_snapshot_free(s);
    return bad;
}
