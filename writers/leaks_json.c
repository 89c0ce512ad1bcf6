/*
 * leaks_json.c -- the leaks of a snapshot taken with holders as one JSON
 * object ("heapgrab leaks --json"):
 *
 *   {"direct_objects", "direct_bytes", "indirect_objects", "indirect_bytes",
 *    "possibly_objects", "possibly_bytes",
 *    "groups": [{"kind": "direct"|"indirect", "size", "objects", "bytes",
 *                "examples": [{"address": "0x...", "first_bytes": "hex"}]}]}
 *
 * Bytes are usable bytes (as inuse_bytes); groups most bytes first, as the
 * snapshot holds them; first_bytes are the example's first bytes as read
 * at the snapshot (at most HG_LEAK_EXAMPLE_BYTES), in hex.
 */
#include <stdio.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "writers/json_writer.h"

void jw_leaks(struct jw *w, const char *key, const hg_snapshot *s)
{
    const hg_leak_totals *lk = hg_snapshot_leaks(s);
    jw_open(w, key, '{');
    jw_u64(w, "direct_objects", lk->direct_objects);
    jw_u64(w, "direct_bytes", lk->direct_bytes);
    jw_u64(w, "indirect_objects", lk->indirect_objects);
    jw_u64(w, "indirect_bytes", lk->indirect_bytes);
    jw_u64(w, "possibly_objects", lk->possibly_objects);
    jw_u64(w, "possibly_bytes", lk->possibly_bytes);
    jw_open(w, "groups", '[');
    for (size_t i = 0, n = hg_snapshot_leak_group_count(s); i < n; i++) {
        const hg_leak_group *g = hg_snapshot_leak_group(s, i);
        jw_open(w, NULL, '{');
        jw_str(w, "kind", hg_object_class_name(g->cls));
        jw_u64(w, "size", g->size);
        jw_u64(w, "objects", g->objects);
        jw_u64(w, "bytes", g->bytes);
        jw_open(w, "examples", '[');
        size_t ne = g->nexamples < HG_LEAK_EXAMPLES ? g->nexamples : HG_LEAK_EXAMPLES;
        for (size_t e = 0; e < ne; e++) {
            size_t len = g->examples[e].len < HG_LEAK_EXAMPLE_BYTES ? g->examples[e].len
                                                                    : HG_LEAK_EXAMPLE_BYTES;
            jw_open(w, NULL, '{');
            jw_addr(w, "address", g->examples[e].address);
            jw_hex(w, "first_bytes", g->examples[e].bytes, len);
            jw_close(w, '}');
        }
        jw_close(w, ']');
        jw_close(w, '}');
    }
    jw_close(w, ']');
    jw_close(w, '}');
}

int hg_write_leaks_json(const hg_snapshot *s, FILE *out)
{
    if (!s || !out)
        return hg_fail(HG_EUSAGE, "hg_write_leaks_json: no snapshot or stream");
    if (!hg_snapshot_leaks(s))
        return hg_fail(HG_EUSAGE, "the snapshot was taken without holders: no leaks to write");
    struct jw w = {.f = out};
    jw_leaks(&w, NULL, s);
    return jw_finish(&w, "JSON");
}

int hg_write_leaks_json_string(const hg_snapshot *s, char **out)
{
    return jw_to_string(hg_write_leaks_json, s, out);
}
