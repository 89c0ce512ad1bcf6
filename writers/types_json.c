/*
 * types_json.c -- what the memory is, as one JSON object ("heapgrab types
 * --json"; doc/types.schema.json):
 *
 *   {"pid": 4242, "exe": "/usr/bin/app",
 *    "types": [{"name": "Circle", "objects": 1000, "bytes": 40000,
 *               "how": "vtable"}, ...],
 *    "typed_objects", "typed_bytes", "inuse_objects", "inuse_bytes"}
 *
 * The types most bytes first, the untyped chunks as one entry named
 * "(untyped)" (how "size"), so that the entries add up to inuse_*.  Bytes
 * are usable bytes (as inuse_bytes).
 */
#include <stdio.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "writers/json_writer.h"

int hg_write_types_json(const hg_snapshot *s, FILE *out)
{
    if (!s || !out)
        return hg_fail(HG_EUSAGE, "hg_write_types_json: no snapshot or stream");
    const hg_type_totals *tt = hg_snapshot_type_totals(s);
    if (!tt)
        return hg_fail(HG_EUSAGE, "the snapshot was taken without types");
    struct jw w = {.f = out};
    jw_open(&w, NULL, '{');
    jw_int(&w, "pid", hg_snapshot_pid(s));
    jw_str(&w, "exe", hg_snapshot_exe(s));
    jw_open(&w, "types", '[');
    for (size_t i = 0, n = hg_snapshot_type_count(s); i < n; i++) {
        const hg_type *t = hg_snapshot_type(s, i);
        jw_open(&w, NULL, '{');
        jw_str(&w, "name", t->name);
        jw_u64(&w, "objects", t->objects);
        jw_u64(&w, "bytes", t->bytes);
        jw_str(&w, "how", hg_type_how_name(t->how));
        jw_close(&w, '}');
    }
    jw_close(&w, ']');
    jw_u64(&w, "typed_objects", tt->typed_objects);
    jw_u64(&w, "typed_bytes", tt->typed_bytes);
    jw_u64(&w, "inuse_objects", tt->inuse_objects);
    jw_u64(&w, "inuse_bytes", tt->inuse_bytes);
    if (hg_snapshot_types_note(s))
        jw_str(&w, "note", hg_snapshot_types_note(s));
    jw_close(&w, '}');
    return jw_finish(&w, "the types");
}
