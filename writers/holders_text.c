/*
 * holders_text.c -- who holds the memory, as a table ("heapgrab holders"):
 * the roots most retained bytes first, what each would free if it let go
 * (retained) and everything it reaches (reachable), then what several
 * roots hold together and the leak totals.
 *
 *   retained        bytes   objects  reachable  root
 *   12.3 MiB     12897280    100000   12.3 MiB  global g_tracker  server.c:12  (app)
 *
 * Names, files and modules come from the target: printed through
 * text_safe.h (control characters and invalid UTF-8 as '?').
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "writers/text_safe.h"

static const char *base_name(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    return slash ? slash + 1 : path;
}

/* The root in a few words: what kind, whose, which --
 *   global g_tracker  tracker.c:3  (app)
 *   stack of thread 1234 "worker": hold_on_stack at server.c:88  (app)
 *   TLS of thread 1234 "worker": t_buf  server.c:20  (app)
 *   registers of thread 1234 "worker"
 *   mapping 0x7f0000000000-0x7f0000100000 */
static void describe(FILE *f, const hg_root *r)
{
    static const char *const what[HG_ROOT_KIND_COUNT] = {"global", "stack of", "registers of",
                                                         "TLS of", "mapping"};
    fputs(r->kind >= 0 && r->kind < HG_ROOT_KIND_COUNT ? what[r->kind] : "?", f);
    if (r->kind == HG_ROOT_STACK || r->kind == HG_ROOT_REGISTERS || r->kind == HG_ROOT_TLS) {
        fprintf(f, " thread %d", r->thread);
        if (r->thread_name && r->thread_name[0]) {
            fputs(" \"", f);
            hg_text_put(f, r->thread_name);
            fputc('"', f);
        }
        if (r->kind == HG_ROOT_REGISTERS)
            return;
        fputc(':', f);
    }
    fputc(' ', f);
    hg_text_put(f, r->name ? r->name : "?");
    if (r->file) {
        fputs(r->kind == HG_ROOT_STACK ? " at " : "  ", f);
        hg_text_put(f, base_name(r->file));
        if (r->line > 0)
            fprintf(f, ":%d", r->line);
    }
    if (r->module && r->module[0]) {
        fputs("  (", f);
        hg_text_put(f, base_name(r->module));
        fputc(')', f);
    }
}

int hg_write_holders_text(const hg_snapshot *s, FILE *out)
{
    if (!s || !out)
        return hg_fail(HG_EUSAGE, "hg_write_holders_text: no snapshot or stream");
    const hg_leak_totals *lk = hg_snapshot_leaks(s);
    if (!lk)
        return hg_fail(HG_EUSAGE, "the snapshot was taken without holders: nothing to write");
    const hg_totals *t = hg_snapshot_totals(s);
    char h[2][32];
    size_t n = hg_snapshot_root_count(s);

    fprintf(out, "heapgrab: who holds the memory of pid %d: %" PRIu64 " bytes in %" PRIu64
            " objects in use, %zu root%s holding any\n\n", hg_snapshot_pid(s), t->inuse_bytes,
            t->inuse_objects, n, n == 1 ? "" : "s");
    fprintf(out, "%10s %16s %12s %10s  %s\n", "retained", "bytes", "objects", "reachable",
            "root");
    for (size_t i = 0; i < n; i++) {
        const hg_root *r = hg_snapshot_root(s, i);
        fprintf(out, "%10s %16" PRIu64 " %12" PRIu64 " %10s  ",
                hg_text_human(r->retained_bytes, h[0], sizeof h[0]), r->retained_bytes,
                r->retained_objects,
                r->reachable_bytes == HG_UNKNOWN
                    ? "-"
                    : hg_text_human(r->reachable_bytes, h[1], sizeof h[1]));
        describe(out, r);
        fputc('\n', out);
    }
    fprintf(out, "%10s %16" PRIu64 " %12" PRIu64 " %10s  (several roots)\n",
            hg_text_human(lk->several_bytes, h[0], sizeof h[0]), lk->several_bytes,
            lk->several_objects, "");
    fprintf(out, "%10s %16" PRIu64 " %12" PRIu64 " %10s  (leaked: direct %" PRIu64
            " bytes in %" PRIu64 ", indirect %" PRIu64 " bytes in %" PRIu64 ")\n",
            hg_text_human(lk->direct_bytes + lk->indirect_bytes, h[0], sizeof h[0]),
            lk->direct_bytes + lk->indirect_bytes, lk->direct_objects + lk->indirect_objects,
            "", lk->direct_bytes, lk->direct_objects, lk->indirect_bytes,
            lk->indirect_objects);
    if (lk->possibly_objects)
        fprintf(out, "\n%" PRIu64 " bytes in %" PRIu64 " objects are reachable only through "
                "pointers into their middle (possibly lost)\n", lk->possibly_bytes,
                lk->possibly_objects);
    fputs("\nretained: freed if that root let go; reachable: all it reaches "
          "(- not computed)\n", out);

    errno = 0;
    if (fflush(out) != 0 || ferror(out))
        return hg_fail(HG_EIO, "writing text: %s", errno ? strerror(errno) : "I/O error");
    return 0;
}
