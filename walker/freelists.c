/*
 * freelists.c -- each arena's fastbins and bins, followed in heapgrab's
 * memory through the chunk map the heap walk filled (chunkmap.h), never
 * one read of the target per link.
 *
 * A list may only hold chunks the heap walk found could be on it; a
 * chunk met twice is a cycle; every list is bounded by the number of
 * chunks.  A large bin's nextsize list is checked against its sorted fd
 * list; the bins' back links are checked by a sum (struct walk's bk_sum)
 * and read again only when it is wrong.  settle() ends the lists' work:
 * a candidate on no list is in use, a free chunk on no bin is reported.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "walker/walk_internal.h"

/* More hops than chunks in the map: the list loops. */
static uint64_t cm_bound(struct walk *w) { return w->cm.e.size + 1; }

/*
 * Arena ai's fastbins all at once, one hop of each list in turn: a hop is
 * a lookup in the chunk map at a place the last hop named, and on a large
 * heap each misses the cache (bench/bigheap's 2 million fastbin chunks
 * took 0.14 s an arena, one list after the other).  The lists are
 * independent, so their misses overlap.  Only for sound lists: at the
 * first thing wrong (a chunk that is no candidate, met twice, of another
 * size or arena), the chunks marked so far are unmarked and 0 returned,
 * and walk_fastbins follows the lists one by one to report it exactly as
 * it always has.  1: done.
 */
#define MAX_FASTBINS 16
static int fastbins_together(struct walk *w, int ai)
{
    struct arena *a = &w->arenas.ptr[ai];
    unsigned nb = w->L->nfastbins;
    if (nb > MAX_FASTBINS)
        return 0;
    uint64_t p[MAX_FASTBINS], n[MAX_FASTBINS] = {0}, bound = cm_bound(w);
    unsigned live = 0;
    for (unsigned i = 0; i < nb; i++) {
        p[i] = rd64(a->raw, w->L->st_fastbins + 8 * (long)i);
        live += p[i] != 0;
    }
    int sound = 1;
    while (live && sound) {
        for (unsigned i = 0; i < nb; i++) {
            if (!p[i])
                continue;
            int pa;
            cm_entry *e = cm_find(&w->cm, p[i], &pa);
            if (!e || CM_STATE(e) != CM_CAND || n[i] > bound || pa != ai ||
                (CM_SIZE(e) >> 4) - 2 != i) {
                sound = 0;
                break;
            }
            CM_SET_STATE(e, CM_FASTBIN);
            n[i]++;
            p[i] = CM_LINK(e);
            live -= p[i] == 0;
        }
    }
    if (!sound) {
        /* the first n[i] chunks of list i were candidates marked by it */
        for (unsigned i = 0; i < nb; i++) {
            uint64_t q = rd64(a->raw, w->L->st_fastbins + 8 * (long)i);
            for (uint64_t k = 0; k < n[i]; k++) {
                cm_entry *e = cm_find(&w->cm, q, NULL);
                CM_SET_STATE(e, CM_CAND);
                q = CM_LINK(e);
            }
        }
        return 0;
    }
    for (unsigned i = 0; i < nb; i++) {
        uint64_t sz = (uint64_t)(i + 2) << 4;
        a->tot.fastbin_objects += n[i];
        a->tot.fastbin_bytes += n[i] * sz;
        a->list_fast_n += n[i];
        a->list_fast_bytes += n[i] * sz;
        for (uint64_t k = 0; k < n[i]; k++)
            hist_add(w, a, ai, HG_STATE_FASTBIN, sz);
    }
    return 1;
}

/* Arena ai's fastbins: each chunk on one becomes CM_FASTBIN and is counted
 * in the arena that holds it; mallinfo2 counts it in the arena whose list
 * it is on. */
void walk_fastbins(struct walk *w, int ai)
{
    if (fastbins_together(w, ai))
        return;
    struct arena *a = &w->arenas.ptr[ai];
    for (unsigned i = 0; i < w->L->nfastbins; i++) {
        uint64_t p = rd64(a->raw, w->L->st_fastbins + 8 * (long)i);
        for (uint64_t n = 0; p; n++) {
            int pa;
            cm_entry *e = cm_find(&w->cm, p, &pa);
            if (!e || CM_STATE(e) != CM_CAND || n > cm_bound(w)) {
                problem(w, ai, p, "fastbin %u of arena %d: entry %" PRIu64 " at 0x%" PRIx64 " %s",
                        i, ai, n, p,
                        !e ? "is not a chunk that could be free"
                           : CM_STATE(e) == CM_FASTBIN ? "repeats (cycle)"
                                                        : "is also on another list");
                break;
            }
            uint64_t sz = CM_SIZE(e);
            if ((sz >> 4) - 2 != i)
                problem(w, ai, p, "fastbin %u of arena %d holds a chunk of size 0x%" PRIx64 " at 0x%" PRIx64,
                        i, ai, sz, p);
            if (pa != ai)
                problem(w, ai, p, "fastbin %u of arena %d holds chunk 0x%" PRIx64 " of arena %d",
                        i, ai, p, pa);
            CM_SET_STATE(e, CM_FASTBIN);
            struct arena *owner = &w->arenas.ptr[pa];
            owner->tot.fastbin_objects++;
            owner->tot.fastbin_bytes += sz;
            hist_add(w, owner, pa, HG_STATE_FASTBIN, sz);
            a->list_fast_n++;
            a->list_fast_bytes += sz;
            p = CM_LINK(e);
        }
    }
}

/* A chunk of a large bin, with its size; a bin's are kept in fd order. */
struct bin_chunk {
    uint64_t addr, size;
};

/* A chunk's address and its place in the bin, sorted by address to tell
 * whether a link points at a chunk of the bin. */
struct bin_place {
    uint64_t addr;
    size_t k;
};

static int by_address(const void *x, const void *y)
{
    const struct bin_place *a = x, *b = y;
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* Place in the bin of the chunk at addr, or n if none is there. */
static size_t bin_place_of(const struct bin_place *sorted, size_t n, uint64_t addr)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid].addr == addr)
            return sorted[mid].k;
        if (sorted[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return n;
}

/* The nextsize links the heap walk kept for the free chunk at addr. */
static const struct nextsize *nextsize_of(const struct walk *w, uint64_t addr)
{
    size_t lo = 0, hi = w->nextsize.size;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->nextsize.ptr[mid].addr == addr)
            return &w->nextsize.ptr[mid];
        if (w->nextsize.ptr[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/*
 * A large bin keeps its chunks sorted by size, largest first along fd, and
 * a second list for finding a size quickly: the first chunk of each size
 * links by fd_nextsize to the first of the next smaller size (the smallest
 * back to the largest) and by bk_nextsize the other way; every other chunk
 * has both 0.  glibc follows these links when it files or takes a chunk,
 * so a wrong one is a corruption even where the fd list is sound.  The
 * first chunk that breaks the order or holds a wrong link is reported.
 */
static void check_large_bin(struct walk *w, int ai, unsigned bin, const struct bin_chunk *b,
                            size_t n)
{
    hg_span *spans = calloc(n, sizeof *spans);
    uint64_t (*links)[2] = calloc(n, sizeof *links);
    size_t *first_of = calloc(n, sizeof *first_of);
    struct bin_place *sorted = calloc(n, sizeof *sorted);
    if (!spans || !links || !first_of || !sorted)
        goto out; /* the check is skipped, the figures do not need it */
    for (size_t k = 0; k < n; k++)
        spans[k] = (hg_span){b[k].addr + 4 * SIZE_SZ, sizeof links[k], links[k], 0};
    if (w->deferred) {
        /* after the stop: the links the heap walk kept */
        for (size_t k = 0; k < n; k++) {
            const struct nextsize *ns = nextsize_of(w, b[k].addr);
            if (!ns) {
                w->redo = 1;
                goto out;
            }
            links[k][0] = ns->fd;
            links[k][1] = ns->bk;
            spans[k].got = sizeof links[k];
        }
    } else if (hg_read_spans(w->t, spans, n) != 0) {
        goto out;
    }
    for (size_t k = 0; k < n; k++)
        sorted[k] = (struct bin_place){b[k].addr, k};
    qsort(sorted, n, sizeof *sorted, by_address);
    /* first_of[j]: index of the j-th chunk that is the first of its size */
    size_t nfirst = 0;
    for (size_t k = 0; k < n; k++) {
        const uint64_t c = b[k].addr, sz = b[k].size;
        if (k > 0 && sz > b[k - 1].size) {
            problem(w, ai, c, "large bin %u of arena %d: chunk at 0x%" PRIx64 " of size 0x%" PRIx64
                    " follows a smaller one (0x%" PRIx64 "): the bin is not sorted", bin, ai, c, sz,
                    b[k - 1].size);
            goto out;
        }
        if (k == 0 || sz != b[k - 1].size)
            first_of[nfirst++] = k;
    }
    for (size_t j = 0, k = 0; k < n; k++) {
        const uint64_t c = b[k].addr;
        const int first = j < nfirst && first_of[j] == k;
        for (int d = 0; d < 2; d++) {
            const char *name = d ? "bk_nextsize" : "fd_nextsize";
            uint64_t v = links[k][d], want = 0;
            if (spans[k].got != sizeof links[k]) {
                problem(w, ai, c, "large bin %u of arena %d: chunk at 0x%" PRIx64
                        ": its nextsize links are unreadable", bin, ai, c);
                goto out;
            }
            if (first)
                want = b[first_of[d ? (j + nfirst - 1) % nfirst : (j + 1) % nfirst]].addr;
            if (v == want)
                continue;
            size_t at = bin_place_of(sorted, n, v);
            const char *why = !first ? "should be 0: the chunk is not the first of its size"
                              : v == 0 ? "is 0, yet the chunk is the first of its size"
                              : at == n ? "is not a chunk on this bin"
                              : d == 0 ? "does not lead to the first chunk of the next smaller size"
                                       : "does not lead to the first chunk of the next larger size";
            problem(w, ai, c, "large bin %u of arena %d: chunk at 0x%" PRIx64 " (size 0x%" PRIx64
                    "): %s 0x%" PRIx64 " %s", bin, ai, c, b[k].size, name, v, why);
            goto out;
        }
        j += first;
    }
out:
    free(spans);
    free(links);
    free(first_of);
    free(sorted);
}

/* Arena ai's unsorted, small and large bins: each chunk on one must be a
 * free chunk the heap walk saw (CM_BIN); it becomes CM_BIN_SEEN. */
void walk_bins(struct walk *w, int ai)
{
    struct arena *a = &w->arenas.ptr[ai];
    const hg_layout *L = w->L;
    hg_array(struct bin_chunk) large = HG_ARRAY_INIT;
    for (unsigned i = 1; i < L->nbins; i++) {
        long off = L->st_bins + (long)(i - 1) * 16;
        uint64_t head = a->addr + (uint64_t)off - CHUNK_HDR; /* bin_at(av, i) */
        uint64_t p = rd64(a->raw, off), prev = head;
        int whole = 1, keep = i >= NSMALLBINS;
        large.size = 0;
        for (uint64_t n = 0; p != head; n++) {
            cm_entry *e = cm_find(&w->cm, p, NULL);
            if (!e || CM_STATE(e) != CM_BIN || n > cm_bound(w)) {
                /* a link too wide for the map was kept as 1: say what it was */
                uint64_t bad = p;
                if (p == 1 && prev != head)
                    list_read_u64(w, prev + 2 * SIZE_SZ, &bad);
                problem(w, ai, bad, "bin %u of arena %d: entry %" PRIu64 " at 0x%" PRIx64 " %s", i, ai,
                        n, bad,
                        !e ? "is not a free chunk of this heap"
                           : CM_STATE(e) == CM_BIN_SEEN ? "repeats (cycle)"
                                                       : "is not free by its neighbour's PREV_INUSE");
                whole = 0;
                break;
            }
            CM_SET_STATE(e, CM_BIN_SEEN);
            uint64_t sz = CM_SIZE(e);
            if (!sz) /* too large to keep in the entry: ask the target */
                if (list_read_u64(w, p + SIZE_SZ, &sz) == 0)
                    sz &= ~(uint64_t)SIZE_BITS;
            a->list_bin_n++;
            a->list_bin_bytes += sz;
            struct bin_chunk *bc = keep ? hg_array_push(large) : NULL;
            if (bc)
                *bc = (struct bin_chunk){p, sz};
            else
                keep = 0; /* out of memory: this bin's nextsize list goes unchecked */
            w->fd_sum += pair_hash(p, prev);
            prev = p;
            p = CM_LINK(e);
        }
        /* the head's bk is the last chunk (the head itself when empty) */
        w->fd_sum += pair_hash(head, prev);
        w->bk_sum += pair_hash(head, rd64(a->raw, off + 8));
        if (!whole) {
            w->bk_unsure = 1;
            a->bins_cut = 1;
        }
        /* the nextsize list is checked against a whole, sound fd list */
        if (keep && whole && large.size)
            check_large_bin(w, ai, i, large.ptr, large.size);
    }
    hg_array_clear(large);
}

/*
 * The back links disagree with the forward ones somewhere (the sums of
 * walk_bins differ): walk the bins again, reading each chunk's bk from the
 * target, and name the first chunk whose bk is not the one before it.
 * Only a corrupt heap pays for these reads.
 */
void find_bad_bk(struct walk *w)
{
    const hg_layout *L = w->L;
    for (size_t ai = 0; ai < w->arenas.size; ai++) {
        struct arena *a = &w->arenas.ptr[ai];
        for (unsigned i = 1; i < L->nbins; i++) {
            long off = L->st_bins + (long)(i - 1) * 16;
            uint64_t head = a->addr + (uint64_t)off - CHUNK_HDR;
            uint64_t p = rd64(a->raw, off), prev = head, bk;
            for (uint64_t n = 0; p != head && n <= cm_bound(w); n++) {
                cm_entry *e = cm_find(&w->cm, p, NULL);
                if (!e || list_read_u64(w, p + 3 * SIZE_SZ, &bk) != 0)
                    break;
                if (bk != prev) {
                    problem(w, (int)ai, p, "bin %u of arena %zu: chunk at 0x%" PRIx64 " has bk 0x%"
                            PRIx64 ", not the chunk before it on the list (0x%" PRIx64 ")",
                            i, ai, p, bk, prev);
                    return;
                }
                prev = p;
                p = CM_LINK(e);
            }
            if (p == head && rd64(a->raw, off + 8) != prev) {
                problem(w, (int)ai, head, "bin %u of arena %zu: its head's bk is 0x%" PRIx64
                        ", not its last chunk 0x%" PRIx64, i, ai, rd64(a->raw, off + 8), prev);
                return;
            }
        }
    }
}

/* Chunks that looked like list members but were on no list are in use;
 * bin chunks found on no bin are a corruption. */
void settle(struct walk *w)
{
    uint64_t orphans = 0;
    for (size_t r = 0; r < w->cm.r.size; r++) {
        cm_region *reg = &w->cm.r.ptr[r];
        for (size_t k = 0; k < reg->count; k++) {
            cm_entry *e = &w->cm.e.ptr[reg->first + k];
            if (CM_STATE(e) == CM_CAND) {
                uint64_t sz = CM_SIZE(e);
                if (!sz && list_read_u64(w, CM_ADDR(e) + SIZE_SZ, &sz) == 0)
                    sz &= ~(uint64_t)SIZE_BITS; /* too large for the entry (2.42+ tcache_max) */
                if (sz)
                    count_inuse(w, reg->arena, sz);
            }
            else if (CM_STATE(e) == CM_BIN && orphans++ == 0)
                problem(w, reg->arena, CM_ADDR(e),
                        "chunk at 0x%" PRIx64 " is free (next chunk's PREV_INUSE clear) but on no bin",
                        (uint64_t)CM_ADDR(e));
        }
    }
    if (orphans > 1)
        problem(w, -1, 0, "%" PRIu64 " free chunks in all are on no bin", orphans);
    /* an orphan's bk was summed but no list reached it: the sums cannot
     * agree, and the orphan is what is wrong */
    if (orphans)
        w->bk_unsure = 1;
}
