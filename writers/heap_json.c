/*
 * heap_json.c -- a snapshot as one JSON object ("heapgrab stats --json").
 *
 * Keys in a fixed order, through the one JSON emitter (json_writer.h).
 * With holders, a "leaks" object after "problems": the four leak totals.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "writers/json_writer.h"

/* Every field of hg_totals, in the order of HG_TOTALS_FIELDS. */
static void jw_totals(struct jw *w, const hg_totals *t)
{
#define JW_TOTAL(name, unit, part, label) jw_u64(w, #name, t->name);
    HG_TOTALS_FIELDS(JW_TOTAL)
#undef JW_TOTAL
}

int hg_write_json(const hg_snapshot *s, FILE *out)
{
    if (!s || !out)
        return hg_fail(HG_EUSAGE, "hg_write_json: no snapshot or stream");

    struct jw w = {.f = out};
    jw_open(&w, NULL, '{');
    jw_str(&w, "heapgrab_version", HEAPGRAB_VERSION);
    jw_int(&w, "pid", hg_snapshot_pid(s));
    jw_str(&w, "exe", hg_snapshot_exe(s));
    jw_str(&w, "glibc", hg_snapshot_glibc_version(s));
    jw_str(&w, "locate", hg_snapshot_locate(s));
    jw_u64(&w, "time_nanos", hg_snapshot_time_ns(s));

    const hg_mallinfo2 *mi = hg_snapshot_mallinfo2(s);
    jw_open(&w, "mallinfo2", '{');
    jw_u64(&w, "arena", mi->arena);
    jw_u64(&w, "ordblks", mi->ordblks);
    jw_u64(&w, "smblks", mi->smblks);
    jw_u64(&w, "hblks", mi->hblks);
    jw_u64(&w, "hblkhd", mi->hblkhd);
    jw_u64(&w, "usmblks", mi->usmblks);
    jw_u64(&w, "fsmblks", mi->fsmblks);
    jw_u64(&w, "uordblks", mi->uordblks);
    jw_u64(&w, "fordblks", mi->fordblks);
    jw_u64(&w, "keepcost", mi->keepcost);
    jw_close(&w, '}');

    jw_open(&w, "totals", '{');
    jw_totals(&w, hg_snapshot_totals(s));
    jw_close(&w, '}');

    uint64_t rss = hg_snapshot_rss_bytes(s);
    uint64_t resident = hg_snapshot_heap_resident_bytes(s);
    jw_known(&w, "rss_bytes", rss);
    jw_known(&w, "heap_resident_bytes", resident);
    if (rss && rss != HG_UNKNOWN && resident != HG_UNKNOWN) {
        jw_item(&w, "heap_share_of_rss");
        fprintf(out, "%.3f", (double)resident / (double)rss);
    } else {
        jw_null(&w, "heap_share_of_rss");
    }

    jw_open(&w, "arenas", '[');
    for (size_t i = 0, n = hg_snapshot_arena_count(s); i < n; i++) {
        const hg_arena_info *a = hg_snapshot_arena(s, i);
        jw_open(&w, NULL, '{');
        jw_int(&w, "index", a->index);
        jw_addr(&w, "address", a->address);
        jw_bool(&w, "main", a->index == 0);
        jw_bool(&w, "mutex_held", a->mutex_held);
        jw_u64(&w, "heaps", a->heaps);
        jw_u64(&w, "system_mem", a->system_mem);
        jw_totals(&w, &a->totals);
        jw_close(&w, '}');
    }
    jw_close(&w, ']');

    jw_open(&w, "threads", '[');
    for (size_t i = 0, n = hg_snapshot_thread_count(s); i < n; i++) {
        const hg_thread_info *t = hg_snapshot_thread(s, i);
        jw_open(&w, NULL, '{');
        jw_int(&w, "tid", t->tid);
        if (t->tcache)
            jw_addr(&w, "tcache", t->tcache);
        else
            jw_null(&w, "tcache");
        if (t->arena >= 0)
            jw_int(&w, "arena", t->arena);
        else
            jw_null(&w, "arena");
        jw_u64(&w, "tcache_objects", t->tcache_objects);
        jw_u64(&w, "tcache_bytes", t->tcache_bytes);
        jw_close(&w, '}');
    }
    jw_close(&w, ']');

    jw_bool(&w, "consistent", hg_snapshot_consistent(s));
    jw_u64(&w, "problems_total", hg_snapshot_problem_total(s));
    jw_open(&w, "problems", '[');
    for (size_t i = 0, n = hg_snapshot_problem_count(s); i < n; i++) {
        const hg_problem *p = hg_snapshot_problem(s, i);
        jw_open(&w, NULL, '{');
        if (p->arena >= 0)
            jw_int(&w, "arena", p->arena);
        else
            jw_null(&w, "arena");
        jw_addr(&w, "address", p->address);
        jw_str(&w, "what", p->what ? p->what : "");
        jw_close(&w, '}');
    }
    jw_close(&w, ']');

    /* Only a snapshot taken with holders knows its leaks: the member is
     * there only then, so that the document of every other snapshot stays
     * as it was. */
    const hg_leak_totals *lk = hg_snapshot_leaks(s);
    if (lk) {
        jw_open(&w, "leaks", '{');
        jw_u64(&w, "direct_objects", lk->direct_objects);
        jw_u64(&w, "direct_bytes", lk->direct_bytes);
        jw_u64(&w, "indirect_objects", lk->indirect_objects);
        jw_u64(&w, "indirect_bytes", lk->indirect_bytes);
        jw_close(&w, '}');
    }

    /* the allocation sampler's figures, when it was read */
    const hg_sampler_info *si = hg_snapshot_sampler(s);
    if (si) {
        jw_open(&w, "sampler", '{');
        jw_u64(&w, "rate", si->rate);
        jw_u64(&w, "alloc_objects", si->alloc_objects);
        jw_u64(&w, "alloc_bytes", si->alloc_bytes);
        jw_u64(&w, "free_objects", si->free_objects);
        jw_u64(&w, "free_bytes", si->free_bytes);
        jw_u64(&w, "live_sampled", si->live_sampled);
        jw_u64(&w, "samples", si->samples);
        jw_u64(&w, "dropped_samples", si->dropped_samples);
        jw_close(&w, '}');
    }

    const hg_timing *tm = hg_snapshot_timing(s);
    jw_open(&w, "timing", '{');
    jw_known(&w, "stopped_ns", tm->stopped_ns);
    jw_u64(&w, "total_ns", tm->total_ns);
    jw_str(&w, "pause", hg_pause_name(tm->pause));
    jw_known(&w, "copy_ns", tm->copy_ns);
    jw_u64(&w, "copied_bytes", tm->copied_bytes);
    jw_u64(&w, "analysis_ns", tm->analysis_ns);
    jw_u64(&w, "rereads", tm->rereads);
    if (tm->fallback)
        jw_str(&w, "fallback", tm->fallback);
    else
        jw_null(&w, "fallback");
    jw_close(&w, '}');

    jw_close(&w, '}');
    return jw_finish(&w, "JSON");
}

int hg_write_json_string(const hg_snapshot *s, char **out)
{
    return jw_to_string(hg_write_json, s, out);
}

void hg_free(void *p) { free(p); }
