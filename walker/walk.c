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
 *                 for mmapped chunks (mmapped.c).  The list walks read
 *                 nothing of the target when the heap walk kept what they
 *                 need: on a live process they come after the resume
 *                 (walk_lists, walk_once).
 *   3. (running)  turn the counts into totals, mallinfo2 and buckets
 *                 (results.c).
 *
 * Every list walk is bounded, every size and pointer is checked against
 * the heaps, and the first bad chunk of each kind becomes a problem in the
 * snapshot; the walk goes on where it can.
 *
 * A live process is not walked while it is stopped, but copied
 * (target/target.h, hg_copy_take): step 2 runs on the copy once the
 * process runs again, the copy's "stop" only handing out the threads as
 * they were.  So the stop lasts as long as the copy.  When the copy would
 * be over the memory budget, step 2 runs during the stop as it always did;
 * with no_stop the copy is made while the process runs and the places the
 * walk finds torn are read again (walk_no_stop).
 */
#include <inttypes.h>
#include <stdint.h>
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
    w->tc = tc;
    w->ntc_threads = t->nthreads; /* a resumed target may forget its threads */
    if (rc == 0) {
        uint64_t heap_bytes = 0;
        for (size_t i = 0; i < w->arenas.size; i++)
            for (size_t h = 0; h < w->arenas.ptr[i].heaps.size; h++) {
                const struct heap *hp = &w->arenas.ptr[i].heaps.ptr[h];
                /* as walk_heap will: never past the mappings it starts in */
                uint64_t end = hp->end, mapped = hg_mapping_run_end(t, hp->begin);
                if (t->nmaps && mapped < end)
                    end = mapped;
                heap_bytes += end > hp->begin ? end - hp->begin : 0;
            }
        cm_reserve(&w->cm, heap_bytes);
        /* Every chunk kept: room for as many as the heaps can hold (a
         * 32-byte chunk at most each), asked for at once.  glibc maps an
         * allocation this large on its own, so only the pages filled cost
         * memory; growing by doubling faulted them in one at a time.  When
         * the room is refused the array grows as before; below 64 MiB of
         * heap it always does (a huge page zeroed for a few chunks would
         * cost more than it saves). */
        if (w->keep_chunks && heap_bytes >= (64u << 20) && heap_bytes / 32 < (1ull << 40) &&
            hg_array_reserve(w->chunks, (size_t)(heap_bytes / 32)) == 0) {
            hg_advise_huge(w->chunks.ptr, w->chunks.alloc * sizeof *w->chunks.ptr);
            if (w->keep_words && hg_array_reserve(w->words, (size_t)(heap_bytes / 32)) == 0)
                hg_advise_huge(w->words.ptr, w->words.alloc * sizeof *w->words.ptr);
        }
        hg_progress_begin("walking the heap", "bytes", heap_bytes);
        for (size_t i = 0; i < w->arenas.size && rc == 0; i++)
            for (size_t h = 0; h < w->arenas.ptr[i].heaps.size && rc == 0; h++)
                rc = walk_heap(w, (int)i, &w->arenas.ptr[i].heaps.ptr[h]);
        hg_progress_end();
    }
    if (rc == 0) {
        /* a heap walk that found nothing wrong and kept everything the
         * lists need lets them wait until the target runs again */
        w->deferred = w->may_defer && !w->big_sizes && w->s->problems_total == 0;
        if (!w->deferred)
            rc = walk_lists(w);
        if (rc == 0)
            rc = scan_mmapped(w);
    }
    if (rc == 0)
        rc = heap_resident(w);
    if (rc == 0 && t->ops->rss)
        w->s->rss_bytes = t->ops->rss(t);
    return rc;
}

static int by_nextsize_addr(const void *x, const void *y)
{
    const struct nextsize *a = x, *b = y;
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* The fastbin, bin and tcache lists, followed through the chunk map, and
 * what they settle.  In the stop, or after it when w->deferred (then they
 * read nothing of the target: list_read_u64). */
int walk_lists(struct walk *w)
{
    cm_finish(&w->cm);
    if (w->deferred && w->nextsize.size > 1) {
        size_t i = 1;
        while (i < w->nextsize.size && w->nextsize.ptr[i - 1].addr < w->nextsize.ptr[i].addr)
            i++;
        if (i < w->nextsize.size) /* several heaps, not walked in address order */
            qsort(w->nextsize.ptr, w->nextsize.size, sizeof *w->nextsize.ptr, by_nextsize_addr);
    }
    for (size_t i = 0; i < w->arenas.size; i++) {
        walk_fastbins(w, (int)i);
        walk_bins(w, (int)i);
    }
    for (size_t i = 0; w->tc && i < w->ntc_threads; i++)
        if (w->tc[i].raw)
            walk_tcache(w, i, &w->tc[i]);
    settle(w);
    if (w->bk_sum != w->fd_sum && !w->bk_unsure)
        find_bad_bk(w);
    settle_chunks(w);
    return 0;
}

int hg_walk(hg_target *t, const hg_located *loc, const hg_snapshot_options *opt,
            hg_snapshot **out)
{
    return hg_walk_hooked(t, loc, opt, NULL, NULL, out);
}

/* One walk of t: stop it (a copy's stop only hands out its threads), walk,
 * call the hook, resume, finish.  *resumed_ns: when it ran again.  With
 * may_defer, the list walks may come after the resume (walk_lists); *redo
 * set: they could not, and nothing was made -- walk again without (the
 * target was stopped *redo_stopped_ns for nothing). */
static int walk_one(hg_target *t, const hg_located *loc, const hg_snapshot_options *opt,
                    hg_walk_hook hook, void *ctx, hg_snapshot **out, uint64_t *resumed_ns,
                    int may_defer, int *redo, uint64_t *redo_stopped_ns)
{
    int rc;
    struct walk w;
    memset(&w, 0, sizeof w);
    *out = NULL;
    *redo = 0;
    w.t = t;
    w.may_defer = may_defer && !hook;
    w.keep = opt && opt->max_problems ? opt->max_problems : 32;
    /* the types analysis needs every chunk and its first word; the holders
     * hook takes every chunk */
    w.keep_words = opt && opt->types;
    w.keep_chunks = (opt && opt->keep_chunks) || w.keep_words || hook;
    w.no_stop = opt && opt->no_stop;
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
    *resumed_ns = hg_now_ns();
    if (gone)
        rc = gone;
    if (rc == 0 && w.deferred) {
        rc = walk_lists(&w);
        if (rc == 0 && (w.redo || s->problems_total)) {
            /* for its report, the walk again with the lists in the stop */
            *redo = 1;
            *redo_stopped_ns = s->timing.stopped_ns;
            rc = -1;
        }
    }
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
    for (size_t i = 0; w.tc && i < w.ntc_threads; i++)
        free(w.tc[i].raw);
    free(w.tc);
    hg_array_clear(w.nextsize);
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
        return *redo ? 0 : rc;
    }
    *out = w.s;
    return 0;
}

/* Walking during a stop, the lists are followed after it: on bench/bigheap
 * (1.6 GiB, 4 million free chunks) the stop went from 0.75-0.87 s to
 * 0.42-0.50 s.  A heap whose lists need the target or show a fault is
 * walked again with them in the stop (two stops, for a corrupt heap only),
 * so what is reported never comes from a heap that moved. */
static int walk_once(hg_target *t, const hg_located *loc, const hg_snapshot_options *opt,
                     hg_walk_hook hook, void *ctx, hg_snapshot **out, uint64_t *resumed_ns)
{
    int redo;
    uint64_t first_stop = 0;
    int rc = walk_one(t, loc, opt, hook, ctx, out, resumed_ns, hg_copy_applies(t), &redo,
                      &first_stop);
    if (rc || !redo)
        return rc;
    rc = walk_one(t, loc, opt, hook, ctx, out, resumed_ns, 0, &redo, &first_stop);
    if (rc == 0 && *out && (*out)->timing.stopped_ns != HG_UNKNOWN)
        (*out)->timing.stopped_ns += first_stop;
    return rc;
}

/* The copy was wanted but not made: why, for timing.fallback (a frontend
 * says it; the library prints nothing). */
static int fell_back(char **why, const char *fmt, uint64_t a, uint64_t b)
{
    char text[256];
    snprintf(text, sizeof text, fmt, (double)a / (1 << 20), (double)b / (1 << 20));
    free(*why);
    *why = strdup(text);
    return 0;
}

/* Problems a walk of a copy made while the process ran: read the mappings
 * they point into again (all of them when one has no address).  The number
 * read again, or a negative code. */
static int reread_problems(hg_target *copy, const hg_snapshot *s, uint64_t *rereads)
{
    int all = s->problems_total > s->nproblems;
    for (size_t i = 0; i < s->nproblems && !all; i++) {
        int rc = s->problems[i].address ? hg_copy_reread(copy, s->problems[i].address) : 1;
        if (rc < 0)
            return rc;
        if (rc == 1)
            all = 1;
        else
            (*rereads)++;
    }
    if (all) {
        int rc = hg_copy_reread(copy, 0);
        if (rc < 0)
            return rc;
        (*rereads)++;
    }
    return 0;
}

/* Walks of a copy taken while the process runs: at most this many. */
#define NO_STOP_TRIES 8

/* --no-stop: copy without a stop, walk the copy, read again where the walk
 * found problems, walk again. */
static int walk_no_stop(hg_target *t, const hg_located *loc, const hg_snapshot_options *opt,
                        hg_walk_hook hook, void *ctx, uint64_t budget, hg_snapshot **out)
{
    hg_target *copy;
    uint64_t bytes, resumed, c0 = hg_now_ns(), rereads = 0;
    *out = NULL;
    uint64_t need = hg_copy_estimate(t);
    if (need <= budget && hg_copy_prepare(t, need) != 0)
        return hg_error_code();
    int rc = hg_copy_take(t, HG_COPY_RUNNING, budget, &copy, &bytes);
    if (rc == 1)
        return hg_fail(HG_EUSAGE, "--no-stop: a copy of %.0f MiB is over the memory budget "
                       "(%.0f MiB)", (double)bytes / (1 << 20), (double)budget / (1 << 20));
    if (rc)
        return rc;
    uint64_t copy_ns = hg_now_ns() - c0, a0 = hg_now_ns();
    hg_snapshot *s = NULL;
    for (int i = 0; i < NO_STOP_TRIES; i++) {
        if (s) {
            rc = reread_problems(copy, s, &rereads);
            hg_snapshot_free(s);
            s = NULL;
            if (rc)
                break;
        }
        rc = walk_once(copy, loc, opt, NULL, NULL, &s, &resumed);
        if (rc || s->problems_total == 0)
            break;
    }
    /* the hook takes what it needs of the walk once, from the copy as it
     * ended up */
    if (rc == 0 && hook) {
        hg_snapshot_free(s);
        s = NULL;
        rc = walk_once(copy, loc, opt, hook, ctx, &s, &resumed);
    }
    hg_target_close(copy);
    if (rc) {
        hg_snapshot_free(s);
        return rc;
    }
    s->timing.pause = HG_PAUSE_NO_STOP;
    s->timing.stopped_ns = 0;
    s->timing.copy_ns = copy_ns;
    s->timing.copied_bytes = bytes;
    s->timing.rereads = rereads;
    s->resumed_ns = a0;
    s->inconsistent = s->problems_total != 0;
    if (s->inconsistent)
        hg_snapshot_add_problem(s, (unsigned)s->nproblems + 1, -1, 0,
                                "--no-stop: problems remain after reading their places again "
                                "(%" PRIu64 " re-reads): the program changed them while they were read "
                                "(or the heap is corrupt; a stopped snapshot tells)", rereads);
    *out = s;
    return 0;
}

/* The walk, the target held as opt says: stopped for a copy (else for the
 * walk), or not at all. */
static int walk_paused(hg_target *t, const hg_located *loc, const hg_snapshot_options *opt,
                       hg_walk_hook hook, void *ctx, hg_snapshot **out, uint64_t t0)
{
    uint64_t resumed = 0;
    int rc;
    *out = NULL;
    int64_t b = opt ? opt->memory_budget : 0;
    int want_copy = hg_copy_applies(t) && b >= 0 && !getenv("HEAPGRAB_NO_COPY");
    uint64_t budget = b > 0 ? (uint64_t)b : hg_copy_default_budget();
    if (opt && opt->no_stop && hg_copy_applies(t)) {
        rc = walk_no_stop(t, loc, opt, hook, ctx, b < 0 ? 0 : budget, out);
        if (rc == 0)
            (*out)->timing.total_ns = hg_now_ns() - t0;
        return rc;
    }
    if (opt && opt->no_stop)
        return hg_fail(HG_EUSAGE, "--no-stop: only for a live process heapgrab may stop");
    char *why = NULL;
    if (want_copy) {
        /* before the stop: the room for the copy, faulted in now */
        uint64_t need = hg_copy_estimate(t);
        if (need > budget) {
            want_copy = fell_back(&why, "walking while the target is stopped: a copy of its "
                                  "memory (%.0f MiB) is over the memory budget (%.0f MiB)",
                                  need, budget);
        } else if (hg_copy_prepare(t, need) != 0) {
            want_copy = fell_back(&why, "walking while the target is stopped: no room for a "
                                  "copy of its memory (%.0f MiB; budget %.0f MiB)", need, budget);
        }
    }
    if (!want_copy) {
        rc = walk_once(t, loc, opt, hook, ctx, out, &resumed);
        if (rc == 0) {
            hg_snapshot *s = *out;
            s->timing.pause = s->timing.stopped_ns == HG_UNKNOWN ? HG_PAUSE_NONE : HG_PAUSE_WALK;
            s->fallback = why;
            s->timing.fallback = why;
            s->resumed_ns = resumed;
            s->timing.total_ns = hg_now_ns() - t0;
            why = NULL;
        }
        free(why);
        return rc;
    }

    /* The stop: copy, resume. */
    rc = t->ops->stop(t, 0);
    if (rc)
        return rc;
    uint64_t when = hg_wall_ns(), c0 = hg_now_ns(), bytes = 0, stopped = 0;
    hg_target *copy = NULL;
    rc = hg_copy_take(t, 0, budget, &copy, &bytes);
    uint64_t copy_ns = hg_now_ns() - c0;
    if (rc == 1 || (rc < 0 && rc != HG_ENOPROC)) {
        /* over the budget after all (the heap grew since), or no memory for
         * it: walk now, as without a copy */
        if (rc == 1)
            fell_back(&why, "walking while the target is stopped: a copy of its memory "
                      "(%.0f MiB) is over the memory budget (%.0f MiB)", bytes, budget);
        else
            fell_back(&why, "walking while the target is stopped: the copy failed "
                      "(%.0f MiB; budget %.0f MiB)", bytes, budget);
        int gone = t->ops->resume(t, NULL);
        if (gone) {
            free(why);
            return gone;
        }
        rc = walk_once(t, loc, opt, hook, ctx, out, &resumed);
        if (rc == 0) {
            (*out)->timing.pause = HG_PAUSE_WALK;
            (*out)->fallback = why;
            (*out)->timing.fallback = why;
            (*out)->resumed_ns = resumed;
            (*out)->timing.total_ns = hg_now_ns() - t0;
            why = NULL;
        }
        free(why);
        return rc;
    }
    int gone = t->ops->resume(t, &stopped);
    if (rc == 0 && gone)
        rc = gone;
    free(why);
    if (rc) {
        hg_target_close(copy);
        return rc;
    }
    uint64_t a0 = hg_now_ns();
    rc = walk_once(copy, loc, opt, hook, ctx, out, &resumed);
    hg_target_close(copy);
    if (rc)
        return rc;
    hg_snapshot *s = *out;
    s->time_ns = when;
    s->timing.pause = HG_PAUSE_COPY;
    s->timing.stopped_ns = stopped;
    s->timing.copy_ns = copy_ns;
    s->timing.copied_bytes = bytes;
    s->resumed_ns = a0;
    s->timing.total_ns = hg_now_ns() - t0;
    return 0;
}

int hg_walk_hooked(hg_target *t, const hg_located *loc, const hg_snapshot_options *opt,
                   hg_walk_hook hook, void *ctx, hg_snapshot **out)
{
    uint64_t t0 = hg_now_ns();
    int rc = walk_paused(t, loc, opt, hook, ctx, out, t0);
    if (rc == 0) {
        uint64_t now = hg_now_ns();
        (*out)->timing.total_ns = now - t0;
        (*out)->timing.analysis_ns = now - (*out)->resumed_ns;
    }
    return rc;
}
