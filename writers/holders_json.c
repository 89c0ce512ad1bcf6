/*
 * holders_json.c -- who holds the memory, as one JSON object ("heapgrab
 * holders --json"):
 *
 *   {"roots": [{"kind", "name", "module", "file", "line", "thread",
 *               "function", "retained_objects", "retained_bytes",
 *               "reachable_objects", "reachable_bytes"}],
 *    "several_roots": {"objects", "bytes"},
 *    "leaks": {... as heapgrab leaks --json ...},
 *    "timing": {"stopped_ns", "total_ns"}}
 *
 * Roots most retained bytes first (the snapshot's ranking).  kind is
 * "global", "stack", "register", "tls" or "mapping".  What a root does not
 * have is null: module, file, line (0 in the model), thread (not a
 * thread's), function (only a stack frame has one: its function, which is
 * also its name), reachable_* (not computed, HG_UNKNOWN).
 */
#include <stdio.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "writers/json_writer.h"

static int has_thread(int kind)
{
    return kind == HG_ROOT_STACK || kind == HG_ROOT_REGISTERS || kind == HG_ROOT_TLS;
}

int hg_write_holders_json(const hg_snapshot *s, FILE *out)
{
    if (!s || !out)
        return hg_fail(HG_EUSAGE, "hg_write_holders_json: no snapshot or stream");
    const hg_leak_totals *lk = hg_snapshot_leaks(s);
    if (!lk)
        return hg_fail(HG_EUSAGE, "the snapshot was taken without holders: nothing to write");
    struct jw w = {.f = out};
    jw_open(&w, NULL, '{');
    jw_open(&w, "roots", '[');
    for (size_t i = 0, n = hg_snapshot_root_count(s); i < n; i++) {
        const hg_root *r = hg_snapshot_root(s, i);
        jw_open(&w, NULL, '{');
        jw_str(&w, "kind", hg_root_kind_name(r->kind));
        jw_str(&w, "name", r->name ? r->name : "?");
        jw_str(&w, "module", r->module);
        jw_str(&w, "file", r->file);
        if (r->line > 0)
            jw_int(&w, "line", r->line);
        else
            jw_null(&w, "line");
        if (has_thread(r->kind) && r->thread)
            jw_int(&w, "thread", r->thread);
        else
            jw_null(&w, "thread");
        jw_str(&w, "function", r->kind == HG_ROOT_STACK ? (r->name ? r->name : "?") : NULL);
        jw_u64(&w, "retained_objects", r->retained_objects);
        jw_u64(&w, "retained_bytes", r->retained_bytes);
        jw_known(&w, "reachable_objects", r->reachable_objects);
        jw_known(&w, "reachable_bytes", r->reachable_bytes);
        jw_close(&w, '}');
    }
    jw_close(&w, ']');
    jw_open(&w, "several_roots", '{');
    jw_u64(&w, "objects", lk->several_objects);
    jw_u64(&w, "bytes", lk->several_bytes);
    jw_close(&w, '}');
    jw_leaks(&w, "leaks", s);
    const hg_timing *tm = hg_snapshot_timing(s);
    jw_open(&w, "timing", '{');
    jw_known(&w, "stopped_ns", tm->stopped_ns);
    jw_u64(&w, "total_ns", tm->total_ns);
    jw_close(&w, '}');
    jw_close(&w, '}');
    return jw_finish(&w, "JSON");
}

int hg_write_holders_json_string(const hg_snapshot *s, char **out)
{
    return jw_to_string(hg_write_holders_json, s, out);
}
