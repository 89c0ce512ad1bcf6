/*
 * walk.c -- take a snapshot: stop the target, walk every arena, resume.
 *
 * Order of work, chosen so the target is stopped only while its memory is
 * read and heapgrab's memory stays far below the heap's size:
 *
 *   1. (running)  locate libc, its version, main_arena, mp_, layouts
 *                 (locate.c).
 *   2. (stopped)  read mp_ (here); sample page residency (residency.c);
 *                 read the arena ring and find every arena's heaps
 *                 (arenas.c) and every thread's tcache (tcache.c, tls.c);
 *                 walk each heap once, front to back, through a fixed
 *                 window (heap.c); record the chunks that may be on a free
 *                 list (chunkmap.h); follow the fastbin, bin and tcache
 *                 lists in heapgrab's memory (freelists.c, tcache.c); scan
 *                 for mmapped chunks (mmapped.c).
 *   3. (running)  turn the counts into totals, mallinfo2 and buckets
 *                 (results.c).
 *
 * Every list walk is bounded, every size and pointer is checked against
 * the heaps, and the first bad chunk of each kind becomes a problem in the
 * snapshot; the walk goes on where it can.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/progress.h"
#include "walker/walk.h"
#include "walker/walk_internal.h"

/* The target's mappings, for the profile; executable ones with their
 * module's build-id. */
static int copy_mappings(struct walk *w)
{
    hg_snapshot *s = w->s;
    hg_target *t = w->t;
    s->mappings = calloc(t->nmaps ? t->nmaps : 1, sizeof *s->mappings);
    if (!s->mappings)
        return hg_fail(HG_ENOMEM, "out of memory");
    for (size_t i = 0; i < t->nmaps; i++) {
        hg_mapping *m = &s->mappings[s->nmappings++];
        *m = t->maps[i];
        m->path = strdup(t->maps[i].path);
        m->build_id = t->maps[i].build_id ? strdup(t->maps[i].build_id) : NULL;
        if (!m->path || (t->maps[i].build_id && !m->build_id))
            return hg_fail(HG_ENOMEM, "out of memory");
    }
    return 0;
}

/* The hook's view of the walk: its chunks and heaps. */
static int call_hook(struct walk *w, hg_walk_hook hook, void *ctx)
{
    size_t n = 0;
    for (size_t i = 0; i < w->arenas.size; i++)
        n += w->arenas.ptr[i].heaps.size;
    hg_walk_heap *heaps = calloc(n ? n : 1, sizeof *heaps);
    if (!heaps)
        return hg_fail(HG_ENOMEM, "out of memory");
    n = 0;
    for (size_t i = 0; i < w->arenas.size; i++)
        for (size_t h = 0; h < w->arenas.ptr[i].heaps.size; h++) {
            const struct heap *hp = &w->arenas.ptr[i].heaps.ptr[h];
            /* a thread arena's heap is writable up to its size, the rest of
             * its reservation not; the mapping may run on past it when it
             * was merged with the next */
            heaps[n++] = (hg_walk_heap){hp->base, (hp->end + PAGE - 1) & ~(uint64_t)(PAGE - 1),
                                        (int)i};
        }
    hg_walk_found f = {w->t, &w->loc, w->chunks.ptr, w->chunks.size, heaps, n};
    int rc = hook(ctx, &f);
    free(heaps);
    return rc;
}

/* Everything done while the target is stopped (step 2 above). */
static int walk_stopped(struct walk *w)
{
    const hg_layout *L = w->L;
    hg_target *t = w->t;
    unsigned char mp[512];
    if (L->par_size > sizeof mp || hg_read_exact(t, w->loc.mp, mp, L->par_size))
        return hg_fail_wrap(HG_ENOTFOUND, "cannot read mp_ at 0x%" PRIx64, w->loc.mp);
    uint32_t nm;
    memcpy(&nm, mp + L->mp_n_mmaps, sizeof nm);
    w->mp_n_mmaps = nm;
    w->mp_mmapped_mem = rd64(mp, L->mp_mmapped_mem);
    w->sbrk_base = rd64(mp, L->mp_sbrk_base);
    w->tcache_max_bytes = L->mp_tcache_max_bytes >= 0 ? rd64(mp, L->mp_tcache_max_bytes) : 0;
    w->tcache_count = L->mp_tcache_count >= 0 ? rd64(mp, L->mp_tcache_count) : 0;
    /* A tcache that takes chunks larger than the small bins (2.42+,
     * glibc.malloc.tcache_max) makes them list candidates too. */
    w->list_max = LIST_CHUNK_MAX;
    if (L->tc_bins > L->tc_small_bins && w->tcache_max_bytes > LIST_CHUNK_MAX)
        w->list_max = w->tcache_max_bytes < (4u << 20) ? w->tcache_max_bytes : (4u << 20);
    if (L->mp_hp_pagesize >= 0 && rd64(mp, L->mp_hp_pagesize) > L->heap_max_size)
        return hg_fail(HG_EUNSUPPORTED,
                       "glibc.malloc.hugetlb heaps larger than 64 MiB are not supported yet");

    int rc = sample_residency(w);
    if (rc == 0)
        rc = find_arenas(w);
    if (rc < 0)
        return rc;
    struct tcache_copy *tc = NULL;
    rc = read_threads(w, &tc);
    if (rc == 0) {
        uint64_t heap_bytes = 0;
        for (size_t i = 0; i < w->arenas.size; i++)
            for (size_t h = 0; h < w->arenas.ptr[i].heaps.size; h++) {
                const struct heap *hp = &w->arenas.ptr[i].heaps.ptr[h];
                heap_bytes += hp->end > hp->begin ? hp->end - hp->begin : 0;
            }
        hg_progress_begin("walking the heap", "bytes", heap_bytes);
        for (size_t i = 0; i < w->arenas.size && rc == 0; i++)
            for (size_t h = 0; h < w->arenas.ptr[i].heaps.size && rc == 0; h++)
                rc = walk_heap(w, (int)i, &w->arenas.ptr[i].heaps.ptr[h]);
        hg_progress_end();
    }
    if (rc == 0) {
        cm_finish(&w->cm);
        for (size_t i = 0; i < w->arenas.size; i++) {
            walk_fastbins(w, (int)i);
            walk_bins(w, (int)i);
        }
        for (size_t i = 0; i < t->nthreads; i++)
            if (tc[i].raw)
                walk_tcache(w, i, &tc[i]);
        settle(w);
        if (w->bk_sum != w->fd_sum && !w->bk_unsure)
            find_bad_bk(w);
        settle_chunks(w);
        rc = scan_mmapped(w);
    }
    if (rc == 0)
        rc = heap_resident(w);
    if (rc == 0 && t->ops->rss)
        w->s->rss_bytes = t->ops->rss(t);
    for (size_t i = 0; tc && i < t->nthreads; i++)
        free(tc[i].raw);
    free(tc);
    return rc;
}

int hg_walk(hg_target *t, const hg_located *loc, const hg_snapshot_options *opt,
            hg_snapshot **out)
{
    return hg_walk_hooked(t, loc, opt, NULL, NULL, out);
}

int hg_walk_hooked(hg_target *t, const hg_located *loc, const hg_snapshot_options *opt,
                   hg_walk_hook hook, void *ctx, hg_snapshot **out)
{
    uint64_t t0 = hg_now_ns();
    int rc;
    struct walk w;
    memset(&w, 0, sizeof w);
    *out = NULL;
    w.t = t;
    w.keep = opt && opt->max_problems ? opt->max_problems : 32;
    /* the types analysis needs every chunk and its first word; the holders
     * hook takes every chunk */
    w.keep_words = opt && opt->types;
    w.keep_chunks = (opt && opt->keep_chunks) || w.keep_words || hook;
    w.loc = *loc;
    w.L = &w.loc.L;
    cm_init(&w.cm);
    w.s = hg_snapshot_new();
    if (!w.s || hg_window_init(&w.win, t) < 0) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto out;
    }
    hg_snapshot *s = w.s;
    s->pid = t->process_id;
    snprintf(s->exe, sizeof s->exe, "%s", t->exe);
    snprintf(s->glibc_version, sizeof s->glibc_version, "%s", w.loc.version);
    s->locate = w.loc.how ? w.loc.how : "symbols";

    rc = t->ops->stop(t, 0);
    if (rc)
        goto out;
    s->time_ns = hg_wall_ns();
    rc = walk_stopped(&w);
    if (rc == 0 && hook)
        rc = call_hook(&w, hook, ctx);
    /* Whatever failed, a target that died under us is the reason. */
    int gone = t->ops->resume(t, &s->timing.stopped_ns);
    if (gone)
        rc = gone;
    if (rc == 0)
        rc = copy_mappings(&w);
    if (rc == 0)
        rc = finish(&w);
    /* the chunks go to the snapshot whenever they were kept: the types
     * analysis and the hook's caller need them after the stop, and a copy
     * would lengthen it */
    if (rc == 0 && w.keep_chunks) {
        s->chunks = w.chunks.ptr;
        s->nchunks = w.chunks.size;
        w.chunks.ptr = NULL;
        s->chunk_words = w.words.ptr;
        w.words.ptr = NULL;
    }
out:
    hg_array_clear(w.chunks);
    hg_array_clear(w.words);
    for (size_t i = 0; i < w.arenas.size; i++) {
        free(w.arenas.ptr[i].raw);
        hg_array_clear(w.arenas.ptr[i].heaps);
        free(w.arenas.ptr[i].hist);
    }
    hg_array_clear(w.arenas);
    free(w.tc_chunks);
    hg_window_free(&w.win);
    for (size_t i = 0; i < w.nresid; i++)
        free(w.resid[i].present);
    free(w.resid);
    cm_free(&w.cm);
    if (rc) {
        hg_snapshot_free(w.s);
        return rc;
    }
    w.s->timing.total_ns = hg_now_ns() - t0;
    *out = w.s;
    return 0;
}
