/*
 * types_text.c -- what the memory is, as a table ("heapgrab types"): one
 * line per type, most bytes first, with its objects, bytes, average size,
 * share of the in-use bytes and how it was found; the untyped chunks are
 * one line, "(untyped)".  Names come from the target and are printed with
 * anything unprintable as '?' (text_safe.h).
 */
#include <inttypes.h>
#include <stdio.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "writers/text_safe.h"

static double percent(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

int hg_write_types_text(const hg_snapshot *s, FILE *out)
{
    if (!s || !out)
        return hg_fail(HG_EUSAGE, "hg_write_types_text: no snapshot or stream");
    const hg_type_totals *tt = hg_snapshot_type_totals(s);
    if (!tt)
        return hg_fail(HG_EUSAGE, "the snapshot was taken without types");
    fprintf(out, "pid %d (", hg_snapshot_pid(s));
    hg_text_put(out, hg_snapshot_exe(s));
    fprintf(out, "): %" PRIu64 " bytes in use in %" PRIu64 " objects; typed %" PRIu64
            " bytes (%.1f%%) in %" PRIu64 " objects (%.1f%%)\n",
            tt->inuse_bytes, tt->inuse_objects, tt->typed_bytes,
            percent(tt->typed_bytes, tt->inuse_bytes), tt->typed_objects,
            percent(tt->typed_objects, tt->inuse_objects));
    const char *note = hg_snapshot_types_note(s);
    if (note) {
        fputs("note: ", out);
        hg_text_put(out, note);
        fputc('\n', out);
    }
    fprintf(out, "%12s %16s %10s %7s  %-7s %s\n", "objects", "bytes", "avg", "share", "how",
            "type");
    for (size_t i = 0, n = hg_snapshot_type_count(s); i < n; i++) {
        const hg_type *t = hg_snapshot_type(s, i);
        fprintf(out, "%12" PRIu64 " %16" PRIu64 " %10" PRIu64 " %6.1f%%  %-7s ", t->objects,
                t->bytes, t->objects ? t->bytes / t->objects : 0, percent(t->bytes, tt->inuse_bytes),
                hg_type_how_name(t->how));
        hg_text_put(out, t->name);
        fputc('\n', out);
    }
    if (fflush(out) != 0 || ferror(out))
        return hg_fail(HG_EIO, "writing the types: write error");
    return 0;
}
