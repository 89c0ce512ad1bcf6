/*
 * heap.c -- one heap, front to back: the walk's hot loop.
 *
 * Every chunk header of the heap is read once, through the window (8 MiB
 * blocks, read ahead).  A chunk is counted where its state can be told
 * from the heap alone: in use, free in a bin (its neighbour's PREV_INUSE
 * is clear), a tcache struct, the top.  A chunk that looks in use but whose
 * first word would be a valid free-list link may sit in a tcache or a
 * fastbin: it goes into the chunk map (chunkmap.h) with that link, and the
 * list walks (freelists.c, tcache.c) settle it.  A bad header is reported
 * at its address and the walk resynchronises on the next run of good
 * chunks.
 */
#include <inttypes.h>

#include "lib/progress.h"
#include "walker/walk_internal.h"

#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 2048
#endif

/* Size word of the chunk at addr (no flags stripped), or ~0 if unreadable. */
static uint64_t size_word(struct walk *w, uint64_t addr, uint64_t limit)
{
    const unsigned char *p = window(w, addr, CHUNK_HDR, limit > addr + CHUNK_HDR ? limit : addr + CHUNK_HDR);
    return p ? rd64(p, SIZE_SZ) : ~0ull;
}

/* chunk is one of the threads' tcache_perthread_structs (read_threads). */
static int is_tcache_struct(struct walk *w, uint64_t chunk)
{
    size_t lo = 0, hi = w->ntc;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (w->tc_chunks[mid] == chunk)
            return 1;
        if (w->tc_chunks[mid] < chunk)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* A link as glibc stores it at pos, decoded (safe-linking, 2.32+). */
static uint64_t reveal(struct walk *w, uint64_t pos, uint64_t v)
{
    return w->L->safe_linking ? (pos >> 12) ^ v : v;
}

/* After a bad chunk at p: find the next address from which a run of three
 * well-formed chunks starts, within 1 MiB.  Returns 0 if none. */
static uint64_t resync(struct walk *w, uint64_t p, uint64_t end, uint64_t top)
{
    uint64_t stop = p + (1u << 20) < end ? p + (1u << 20) : end;
    for (uint64_t q = (p + 16) & ~(uint64_t)ALIGN_MASK; q + CHUNK_HDR <= stop; q += 16) {
        uint64_t r = q;
        int good = 0;
        for (; good < 3; good++) {
            if (r == top || r == end)
                break;
            uint64_t sz = size_word(w, r, end) & ~(uint64_t)SIZE_BITS;
            if (sz < MINSIZE || (sz & ALIGN_MASK) || r + sz > end)
                break;
            r += sz;
        }
        if (good == 3 || (good > 0 && (r == top || r == end)))
            return q;
    }
    return 0;
}

/* Walk heap h of arena ai; 0, or an error that ends the snapshot (out of
 * memory, the process gone).  A corrupt heap is problems, not an error. */
int walk_heap(struct walk *w, int ai, const struct heap *h)
{
    struct arena *a = &w->arenas.ptr[ai];
    const int main_arena = ai == 0;
    uint64_t p = h->begin, end = h->end;
    unsigned bad_flag_reports = 0, bad_size_reports = 0;

    /* Whatever the arena says, a heap never runs past the mappings it
     * starts in (several when it grew after a fork()). */
    uint64_t mapped = hg_mapping_run_end(w->t, h->begin);
    if (w->t->nmaps && (!mapped || end > mapped || end < p)) {
        problem(w, ai, h->base, "heap at 0x%" PRIx64 " claims to end at 0x%" PRIx64
                ", outside its mapping", h->base, end);
        end = mapped > p ? mapped : p;
    }
    a->tot.overhead_bytes += h->begin - h->base;
    if (cm_region_begin(&w->cm, h->begin, end, ai) < 0)
        return hg_fail(HG_ENOMEM, "out of memory");
    hg_window_reset(&w->win);

    uint64_t progress_at = p;
    while (p < end) {
        /* a store every MiB walked, for a frontend's progress line */
        if (p - progress_at >= (1u << 20)) {
            w->progress += p - progress_at;
            progress_at = p;
            hg_progress_set(w->progress);
        }
        if (p == a->top) {
            a->top_seen = 1;
            if (p + a->top_size != end)
                problem(w, ai, p, "top chunk of size 0x%" PRIx64 " does not end its heap at 0x%" PRIx64,
                        a->top_size, end);
            uint64_t top_end = p + a->top_size <= end ? p + a->top_size : end;
            a->tot.top_bytes += a->top_size;
            if (keep_chunk(w, p, a->top_size, 0, ai, HG_STATE_TOP, 0) < 0)
                return HG_ENOMEM;
            a->tot.released_bytes += nonresident_bytes(w, p + CHUNK_HDR, top_end);
            a->tot.overhead_bytes += end - top_end;
            p = end;
            break;
        }
        const unsigned char *c = window(w, p, 4 * SIZE_SZ, end);
        if (!c) {
            problem(w, ai, p, "heap memory unreadable at 0x%" PRIx64, p);
            a->tot.overhead_bytes += end - p;
            break;
        }
        uint64_t raw = rd64(c, SIZE_SZ), sz = raw & ~(uint64_t)SIZE_BITS;
        uint64_t fd = rd64(c, 2 * SIZE_SZ);

        /* The fenceposts that close an abandoned heap, in its last
         * 2 * MINSIZE bytes: a 16-byte chunk then a zero header; or, when
         * the old top was too small to free, that top itself as a 16- or
         * 32-byte chunk marked in use (without NON_MAIN_ARENA) followed by
         * the zero header. */
        if (!main_arena && end - p < 2 * MINSIZE && p != a->top &&
            (sz == CHUNK_HDR || sz == 0 ||
             (sz <= end - p - CHUNK_HDR &&
              (size_word(w, p + sz, end) & ~(uint64_t)SIZE_BITS) == 0))) {
            a->tot.overhead_bytes += end - p;
            p = end;
            break;
        }
        const char *bad = NULL;
        if (sz < MINSIZE)
            bad = "size below the minimum chunk";
        else if (sz & ALIGN_MASK)
            bad = "size not a multiple of 16";
        else if (p + sz > end || p + sz < p)
            bad = "size runs past the end of its heap";
        else if (raw & IS_MMAPPED)
            bad = "IS_MMAPPED set on a chunk inside an arena";
        else if (main_arena && (raw & NON_MAIN_ARENA))
            bad = "NON_MAIN_ARENA set in the main arena";
        if (bad) {
            problem(w, ai, p, "chunk at 0x%" PRIx64 ": %s (size field 0x%" PRIx64 ")", p, bad, raw);
            uint64_t q = resync(w, p, end, a->top);
            uint64_t to = q ? q : (a->top > p && a->top < end ? a->top : end);
            a->tot.overhead_bytes += to - p;
            p = to;
            continue;
        }
        uint64_t bk = rd64(c, 3 * SIZE_SZ);
        uint64_t next = p + sz, next_prev_size = sz;
        int next_prev_inuse = 1;
        if (next < end) {
            const unsigned char *nc = window(w, next, CHUNK_HDR,
                                             end > next + CHUNK_HDR ? end : next + CHUNK_HDR);
            if (!nc) {
                problem(w, ai, next, "heap memory unreadable at 0x%" PRIx64, next);
                a->tot.overhead_bytes += end - p;
                break;
            }
            /* The header after next, most likely: the walk stalled here
             * on every chunk, reading memory a read (or the copy) had
             * just written and no prefetcher had brought in. */
            __builtin_prefetch(nc + PREFETCH_AHEAD);
            next_prev_inuse = rd64(nc, SIZE_SZ) & PREV_INUSE;
            next_prev_size = rd64(nc, 0);
        }

        /* glibc rewrites a free chunk's header without NON_MAIN_ARENA, so
         * only chunks in use must carry it in a thread arena. */
        if (!main_arena && next_prev_inuse && !(raw & NON_MAIN_ARENA) && bad_flag_reports++ == 0)
            problem(w, ai, p, "chunk at 0x%" PRIx64 ": NON_MAIN_ARENA clear on a chunk in use in a "
                    "thread arena (size field 0x%" PRIx64 ")", p, raw);
        int kept = 0;
        if (sz == w->tc_chunk_size && is_tcache_struct(w, p)) {
            a->tot.overhead_bytes += sz;
            hist_add(w, a, ai, HG_STATE_OVERHEAD, sz);
            kept = keep_chunk(w, p, sz, 0, ai, HG_STATE_OVERHEAD, 0);
        } else if (!next_prev_inuse) {
            /* Free and in a bin (tcache and fastbin chunks keep their
             * neighbour's PREV_INUSE set). */
            a->tot.free_objects++;
            a->tot.free_bytes += sz;
            hist_add(w, a, ai, HG_STATE_BIN, sz);
            if (sz > PAGE)
                a->tot.released_bytes += nonresident_bytes(w, p + 6 * SIZE_SZ, p + sz);
            /* glibc writes a free chunk's size again at the start of the
             * next one (its prev_size): a size changed since is caught
             * here, at the chunk, rather than later where the walk goes
             * astray */
            if (next < end && next_prev_size != sz && bad_size_reports++ == 0)
                problem(w, ai, p, "free chunk at 0x%" PRIx64 ": size 0x%" PRIx64 " but the next "
                        "chunk's prev_size says 0x%" PRIx64, p, sz, next_prev_size);
            w->bk_sum += pair_hash(p, bk);
            if (sz >= CM_SIZE_MAX)
                w->big_sizes = 1;
            if (w->may_defer && sz >= MIN_LARGE_SIZE) {
                /* the large bins' nextsize links, for lists walked after
                 * the stop */
                const unsigned char *l = window(w, p, 6 * SIZE_SZ, end);
                struct nextsize *ns = l ? hg_array_push(w->nextsize) : NULL;
                if (ns)
                    *ns = (struct nextsize){p, rd64(l, 4 * SIZE_SZ), rd64(l, 5 * SIZE_SZ)};
                else
                    w->may_defer = 0;
            }
            /* A link beyond the 48 bits the map keeps is no address: it is
             * kept as 1, which no chunk has, and read again if followed. */
            if (cm_add(&w->cm, p, CM_BIN, CM_VAL(fd >> 48 ? 1 : fd, sz)) < 0)
                return hg_fail(HG_ENOMEM, "out of memory");
            kept = keep_chunk(w, p, sz, 0, ai, HG_STATE_BIN, 0);
        } else {
            uint64_t link = reveal(w, p + CHUNK_HDR, fd);
            if (sz <= w->list_max && plausible_link(w, link)) {
                if (sz >= CM_SIZE_MAX)
                    w->big_sizes = 1;
                if (cm_add(&w->cm, p, CM_CAND, CM_VAL(link, sz)) < 0)
                    return hg_fail(HG_ENOMEM, "out of memory");
                kept = keep_chunk(w, p, sz, 0, ai, CHUNK_MAYBE, fd);
            } else {
                count_inuse(w, ai, sz);
                kept = keep_chunk(w, p, sz, sz - SIZE_SZ, ai, HG_STATE_INUSE, fd);
            }
        }
        if (kept < 0)
            return HG_ENOMEM;
        p = next;
    }
    if (cm_region_end(&w->cm) < 0)
        return hg_fail(HG_ENOMEM, "out of memory");
    return 0;
}
