/*
 * leaks_text.c -- the leaks of a snapshot taken with holders, as a person
 * reads them ("heapgrab leaks"), in the words of LeakSanitizer's summary:
 *
 *   Direct leak of 96 byte(s) in 2 object(s) of 48 bytes
 *       0x55d0c0a012a0: 68 65 6c 6c 6f 00 00 00 ...  |hello...........|
 *                       00 00 ...                     |................|
 *   Indirect leak of ...
 *
 *   SUMMARY: heapgrab: 1234 byte(s) leaked in 12 allocation(s).
 *
 * A snapshot knows no allocation stacks (nothing recorded them): a group
 * is the leaks of one class and size, with up to HG_LEAK_EXAMPLES examples
 * and their first bytes.  Objects reachable only through interior
 * pointers are no leak; their total comes before the summary.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "writers/text_safe.h"

/* "68 65 6c ...  |hel...|": the bytes, and as characters where printable
 * ASCII (the rest '.'), 16 a line (a line of the report stays within 100
 * columns); lines after the first indented by indent. */
static void dump(FILE *f, const unsigned char *p, size_t n, int indent)
{
    for (size_t at = 0; at < n; at += 16) {
        size_t m = n - at < 16 ? n - at : 16;
        if (at)
            fprintf(f, "\n%*s", indent, "");
        for (size_t i = 0; i < 16; i++) {
            if (i < m)
                fprintf(f, "%s%02x", i ? " " : "", p[at + i]);
            else
                fputs("   ", f);
        }
        fputs("  |", f);
        for (size_t i = 0; i < m; i++)
            fputc(p[at + i] >= 0x20 && p[at + i] < 0x7f ? p[at + i] : '.', f);
        fputs("|", f);
    }
}

int hg_write_leaks_text(const hg_snapshot *s, FILE *out)
{
    if (!s || !out)
        return hg_fail(HG_EUSAGE, "hg_write_leaks_text: no snapshot or stream");
    const hg_leak_totals *lk = hg_snapshot_leaks(s);
    if (!lk)
        return hg_fail(HG_EUSAGE, "the snapshot was taken without holders: no leaks to write");

    uint64_t objects = lk->direct_objects + lk->indirect_objects;
    uint64_t bytes = lk->direct_bytes + lk->indirect_bytes;
    if (objects)
        fprintf(out, "heapgrab: detected memory leaks in pid %d\n\n", hg_snapshot_pid(s));
    else
        fprintf(out, "heapgrab: no leaks in pid %d\n\n", hg_snapshot_pid(s));
    for (size_t i = 0, n = hg_snapshot_leak_group_count(s); i < n; i++) {
        const hg_leak_group *g = hg_snapshot_leak_group(s, i);
        fprintf(out, "%s leak of %" PRIu64 " byte(s) in %" PRIu64 " object(s) of %" PRIu64
                " bytes\n", g->cls == HG_OBJECT_DIRECT ? "Direct" : "Indirect", g->bytes,
                g->objects, g->size);
        size_t ne = g->nexamples < HG_LEAK_EXAMPLES ? g->nexamples : HG_LEAK_EXAMPLES;
        for (size_t e = 0; e < ne; e++) {
            size_t len = g->examples[e].len < HG_LEAK_EXAMPLE_BYTES ? g->examples[e].len
                                                                    : HG_LEAK_EXAMPLE_BYTES;
            int col = fprintf(out, "    0x%" PRIx64 ": ", g->examples[e].address);
            dump(out, g->examples[e].bytes, len, col > 0 ? col : 0);
            fputc('\n', out);
        }
        if (g->objects > ne)
            fprintf(out, "    ... and %" PRIu64 " more\n", g->objects - ne);
        fputc('\n', out);
    }
    if (lk->possibly_objects)
        fprintf(out, "Possibly lost (reachable only through interior pointers): %" PRIu64
                " byte(s) in %" PRIu64 " object(s)\n\n",
                lk->possibly_bytes, lk->possibly_objects);
    fprintf(out, "SUMMARY: heapgrab: %" PRIu64 " byte(s) leaked in %" PRIu64
            " allocation(s).\n", bytes, objects);

    errno = 0;
    if (fflush(out) != 0 || ferror(out))
        return hg_fail(HG_EIO, "writing text: %s", errno ? strerror(errno) : "I/O error");
    return 0;
}
