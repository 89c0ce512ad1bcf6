/*
 * types_json.c -- what the memory is, as one JSON object ("heapgrab types
 * --json"):
 *
 *   {"pid": 4242, "exe": "/usr/bin/app",
 *    "types": [{"name": "Circle", "objects": 1000, "bytes": 40000,
 *               "how": "vtable"}, ...],
 *    "typed_objects": ..., "typed_bytes": ..., "inuse_objects": ...,
 *    "inuse_bytes": ...}
 *
 * The types most bytes first, the untyped chunks as one entry named
 * "(untyped)" (how "size"), so that the entries add up to inuse_*.  Names
 * come from the target: escaped per RFC 8259, bytes that are not UTF-8 as
 * U+FFFD.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "lib/utf8.h"

static void put_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    fputc('"', f);
    while (n) {
        size_t len = 1;
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else if (*p < 0x80)
            fputc(*p, f);
        else if ((len = hg_utf8_len(p, n)) != 0)
            fwrite(p, 1, len, f);
        else
            fputs("\\ufffd", f), len = 1;
        p += len;
        n -= len;
    }
    fputc('"', f);
}

int hg_write_types_json(const hg_snapshot *s, FILE *out)
{
    if (!s || !out)
        return hg_fail(HG_EUSAGE, "hg_write_types_json: no snapshot or stream");
    const hg_type_totals *tt = hg_snapshot_type_totals(s);
    if (!tt)
        return hg_fail(HG_EUSAGE, "the snapshot was taken without types");
    fprintf(out, "{\n  \"pid\": %d,\n  \"exe\": ", hg_snapshot_pid(s));
    put_string(out, hg_snapshot_exe(s));
    fputs(",\n  \"types\": [", out);
    for (size_t i = 0, n = hg_snapshot_type_count(s); i < n; i++) {
        const hg_type *t = hg_snapshot_type(s, i);
        fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", out);
        put_string(out, t->name);
        fprintf(out, ", \"objects\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"how\": \"%s\"}",
                t->objects, t->bytes, hg_type_how_name(t->how));
    }
    fprintf(out, "%s],\n  \"typed_objects\": %" PRIu64 ",\n  \"typed_bytes\": %" PRIu64
            ",\n  \"inuse_objects\": %" PRIu64 ",\n  \"inuse_bytes\": %" PRIu64 "\n}\n",
            hg_snapshot_type_count(s) ? "\n  " : "", tt->typed_objects, tt->typed_bytes,
            tt->inuse_objects, tt->inuse_bytes);
    if (fflush(out) != 0 || ferror(out))
        return hg_fail(HG_EIO, "writing the types: write error");
    return 0;
}
