/*
 * walk.c -- take a snapshot: stop the target, walk every arena, resume.
 *
 * Order of work, chosen so the target is stopped only while its memory is
 * read and heapgrab's memory stays far below the heap's size:
 *
 *   1. (running)  locate libc, its version, main_arena, mp_, layouts.
 *   2. (stopped)  read mp_ and the arena ring; find every arena's heaps and
 *                 every thread's tcache; walk each heap once, front to back,
 *                 through a fixed window; record the chunks that may be on a
 *                 free list (chunkmap.h); follow the fastbin, bin and tcache
 *                 lists in heapgrab's memory; scan for mmapped chunks.
 *   3. (running)  turn the counts into totals, mallinfo2 and buckets.
 *
 * Every list walk is bounded, every size and pointer is checked against
 * the heaps, and the first bad chunk of each kind becomes a problem in the
 * snapshot; the walk goes on where it can.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/target.h"
#include "lib/error.h"
#include "lib/snapshot.h"
#include "walker/chunkmap.h"
#include "walker/locate.h"
#include "walker/walk.h"
#include "walker/window.h"

#define SIZE_SZ 8u
#define CHUNK_HDR 16u
#define MINSIZE 32u
#define ALIGN_MASK 15u
#define PREV_INUSE 1u
#define IS_MMAPPED 2u
#define NON_MAIN_ARENA 4u
#define SIZE_BITS 7u
#define PAGE 4096u
#define WINDOW HG_WINDOW
#define MAX_ARENAS 4096
#define MAX_HEAPS (1u << 20)
/* Largest chunk that can be in a tcache (1032-byte request) or a fastbin
 * (at most 0xb0): bigger ones are free only if their neighbour says so.
 * From 2.42 the tunable glibc.malloc.tcache_max can raise the tcache's
 * limit up to 4 MiB chunks; struct walk's list_max follows it. */
#define LIST_CHUNK_MAX 0x410u
#define TCACHE_SMALL_MAX 0x410u /* chunk size of the last small tcache bin */
#define HIST_SLOTS 4096u /* chunk sizes below 64 KiB counted in arrays */
#define NSMALLBINS 64u   /* bins from 64 on are large bins, sorted by size */

struct heap {
    uint64_t base;   /* heap_info, or sbrk_base for the main arena */
    uint64_t begin;  /* first chunk */
    uint64_t end;    /* end of the usable part */
};

struct arena {
    uint64_t addr;
    unsigned char *raw;       /* copy of its malloc_state */
    uint64_t top, top_size, system_mem;
    int mutex_held;
    struct heap *heaps;
    size_t nheaps;
    int top_seen;

    hg_totals tot;
    uint64_t inuse_chunk_bytes;
    uint64_t list_fast_n, list_fast_bytes, list_bin_n, list_bin_bytes;
    uint64_t (*hist)[HIST_SLOTS]; /* [state][size/16] counts */
};

struct resid {
    uint64_t start, end;  /* a writable anonymous or [heap] mapping */
    uint8_t *present;     /* one byte per page */
};

struct walk {
    hg_target *t;
    hg_snapshot *s;
    hg_located loc;
    const hg_layout *L;
    unsigned keep;
    uint64_t mp_n_mmaps, mp_mmapped_mem, sbrk_base, tcache_max_bytes;
    uint64_t tcache_count;    /* mp_.tcache_count: a full bin (2.42+) */
    uint64_t list_max;        /* largest chunk that can be on a list */

    struct arena *arenas;
    size_t narenas;
    chunkmap cm;

    uint64_t *tc_chunks;      /* sorted tcache_perthread_struct chunk addrs */
    size_t ntc;
    uint64_t tc_chunk_size;

    hg_window win;            /* over target memory, for front-to-back walks */

    /* Every chunk, when the caller asked (keep_chunks).  Chunks that may
     * be on a tcache or fastbin list are recorded with CHUNK_MAYBE and
     * settled after the list walks. */
    int keep_chunks;
    hg_chunk *chunks;
    size_t nchunks, capchunks;
    /* Page residency, sampled right after the stop and before any bulk
     * read: reading a released page through process_vm_readv maps the
     * zero page there, after which the kernel calls it present. */
    struct resid *resid;
    size_t nresid;
    int have_pagemap;

    /* The bins' back links, checked without keeping them: each free
     * chunk's (address, bk) pair, as the heap walk reads it, is summed
     * through a hash; the bin walks sum (chunk, the one before it) along
     * fd, and (bin head, its last chunk).  Sound lists give equal sums;
     * when they differ, the lists are walked again reading every bk, to
     * name the first wrong one.  Unsure when a list was already found
     * broken or a free chunk is on no bin (those are reported anyway). */
    uint64_t bk_sum, fd_sum;
    int bk_unsure;
};

#define problem(w, arena, addr, ...) \
    hg_snapshot_add_problem((w)->s, (w)->keep, (arena), (addr), __VA_ARGS__)

static uint64_t rd64(const unsigned char *p, long off)
{
    uint64_t v;
    memcpy(&v, p + off, sizeof v);
    return v;
}

/* [addr, addr + len) lies in one run of mappings (hg_mapping_run_end). */
/* A pair of addresses as one well-mixed word, for the bk check. */
static uint64_t pair_hash(uint64_t a, uint64_t b)
{
    uint64_t x = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return x;
}

static int in_mapping(struct walk *w, uint64_t addr, uint64_t len)
{
    if (!w->t->nmaps)
        return 1;
    uint64_t end = hg_mapping_run_end(w->t, addr);
    return end && addr + len <= end && addr + len >= addr;
}

/* ------------------------------------------------------------ counting */

#define CHUNK_MAYBE (-1)

static int keep_chunk(struct walk *w, uint64_t addr, uint64_t size, uint64_t usable, int arena,
                      int state)
{
    if (!w->keep_chunks)
        return 0;
    if (w->nchunks == w->capchunks) {
        size_t cap = w->capchunks ? w->capchunks * 2 : 4096;
        hg_chunk *nc = realloc(w->chunks, cap * sizeof *nc);
        if (!nc)
            return hg_fail(HG_ENOMEM, "out of memory (keeping every chunk)");
        w->chunks = nc;
        w->capchunks = cap;
    }
    w->chunks[w->nchunks++] = (hg_chunk){addr, size, usable, arena, state};
    return 0;
}

/* The chunks recorded as CHUNK_MAYBE take the state their list walk gave
 * them (tcache, fastbin) or are in use. */
static void settle_chunks(struct walk *w)
{
    for (size_t i = 0; i < w->nchunks; i++) {
        hg_chunk *c = &w->chunks[i];
        if (c->state != CHUNK_MAYBE)
            continue;
        cm_entry *e = cm_find(&w->cm, c->address, NULL);
        int st = e ? CM_STATE(e) : CM_CAND;
        c->state = st == CM_TCACHE ? HG_STATE_TCACHE : st == CM_FASTBIN ? HG_STATE_FASTBIN
                                                                      : HG_STATE_INUSE;
        c->usable = c->state == HG_STATE_INUSE ? c->size - SIZE_SZ : 0;
    }
}

static int hist_add(struct walk *w, struct arena *a, int ai, int state, uint64_t size)
{
    if (size / 16 < HIST_SLOTS && a->hist) {
        a->hist[state][size / 16]++;
        return 0;
    }
    uint64_t usable = state == HG_STATE_INUSE ? size - SIZE_SZ : 0;
    return hg_snapshot_add(w->s, ai, state, size, 1, usable);
}

static void count_inuse(struct walk *w, int ai, uint64_t size)
{
    struct arena *a = &w->arenas[ai];
    a->tot.inuse_objects++;
    a->tot.inuse_bytes += size - SIZE_SZ; /* malloc_usable_size of a heap chunk */
    a->inuse_chunk_bytes += size;
    hist_add(w, a, ai, HG_STATE_INUSE, size);
}

static int resid_cmp(const void *a, const void *b)
{
    const struct resid *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static uint64_t hole_run(void *ctx, uint64_t addr, uint64_t end, int *hole);

/* Residency of every mapping a heap or an mmapped chunk can live in. */
static int sample_residency(struct walk *w)
{
    hg_target *t = w->t;
    if (!t->ops->resident)
        return 0;
    w->resid = calloc(t->nmaps ? t->nmaps : 1, sizeof *w->resid);
    if (!w->resid)
        return hg_fail(HG_ENOMEM, "out of memory");
    for (size_t i = 0; i < t->nmaps; i++) {
        const hg_mapping *m = &t->maps[i];
        if (m->perms[0] != 'r' || m->perms[1] != 'w' ||
            (!hg_mapping_is_anon(m) && strcmp(m->path, "[heap]") != 0))
            continue;
        size_t pages = (size_t)((m->end - m->start) / PAGE);
        struct resid *r = &w->resid[w->nresid];
        r->present = malloc(pages ? pages : 1);
        if (!r->present)
            return hg_fail(HG_ENOMEM, "out of memory");
        if (t->ops->resident(t, m->start, pages, r->present) != 0) {
            free(r->present);
            r->present = NULL;
            continue; /* unknown: count nothing as released there */
        }
        r->start = m->start;
        r->end = m->end;
        w->nresid++;
    }
    qsort(w->resid, w->nresid, sizeof *w->resid, resid_cmp);
    w->have_pagemap = 1;
    w->s->heap_resident_bytes = 0; /* known from here on (HG_UNKNOWN before) */
    w->win.holes = hole_run;
    w->win.holes_ctx = w;
    return 0;
}

static uint64_t hole_run(void *ctx, uint64_t addr, uint64_t end, int *hole)
{
    struct walk *w = ctx;
    *hole = 0;
    for (size_t i = 0; i < w->nresid; i++) {
        const struct resid *r = &w->resid[i];
        if (addr < r->start || addr >= r->end)
            continue;
        uint64_t pg = (addr - r->start) / PAGE, last = (r->end - r->start) / PAGE;
        *hole = r->present[pg] == 0;
        uint64_t stop = end < r->end ? end : r->end;
        while (++pg < last && r->start + pg * PAGE < stop && (r->present[pg] == 0) == *hole)
            ;
        uint64_t run_end = r->start + pg * PAGE;
        return (run_end < stop ? run_end : stop) - addr;
    }
    /* outside every sampled mapping: read it, up to the next one */
    uint64_t next = end;
    for (size_t i = 0; i < w->nresid; i++)
        if (w->resid[i].start > addr && w->resid[i].start < next)
            next = w->resid[i].start;
    return next - addr;
}

/* Pages wholly inside [lo, hi) that were not resident at the stop. */
static uint64_t nonresident_bytes(struct walk *w, uint64_t lo, uint64_t hi)
{
    lo = (lo + PAGE - 1) & ~(uint64_t)(PAGE - 1);
    hi &= ~(uint64_t)(PAGE - 1);
    uint64_t missing = 0;
    if (!w->have_pagemap)
        return 0;
    for (size_t i = 0; i < w->nresid && lo < hi; i++) {
        const struct resid *r = &w->resid[i];
        if (r->end <= lo || r->start >= hi)
            continue;
        uint64_t a = lo > r->start ? lo : r->start, b = hi < r->end ? hi : r->end;
        for (uint64_t pg = (a - r->start) / PAGE; pg < (b - r->start) / PAGE; pg++)
            missing += r->present[pg] != 1;
    }
    return missing * PAGE;
}

/* ------------------------------------------------------------- window */

static const unsigned char *window(struct walk *w, uint64_t addr, uint64_t need,
                                   uint64_t limit)
{
    return hg_window_get(&w->win, addr, need, limit);
}

/* Size word of the chunk at addr (no flags stripped), or ~0 if unreadable. */
static uint64_t size_word(struct walk *w, uint64_t addr, uint64_t limit)
{
    const unsigned char *p = window(w, addr, CHUNK_HDR, limit > addr + CHUNK_HDR ? limit : addr + CHUNK_HDR);
    return p ? rd64(p, SIZE_SZ) : ~0ull;
}

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

/* A link word as a free list would hold it: 0, or a 16-aligned address
 * inside one of the heaps (tcache links may cross arenas). */
static int plausible_link(struct walk *w, uint64_t v)
{
    if (v == 0)
        return 1;
    if (v & ALIGN_MASK)
        return 0;
    for (size_t i = 0; i < w->narenas; i++) {
        struct arena *a = &w->arenas[i];
        for (size_t h = 0; h < a->nheaps; h++)
            if (v >= a->heaps[h].begin && v < a->heaps[h].end)
                return 1;
    }
    return 0;
}

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

/* ------------------------------------------------------- one heap walk */

static int walk_heap(struct walk *w, int ai, const struct heap *h)
{
    struct arena *a = &w->arenas[ai];
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

    while (p < end) {
        if (p == a->top) {
            a->top_seen = 1;
            if (p + a->top_size != end)
                problem(w, ai, p, "top chunk of size 0x%" PRIx64 " does not end its heap at 0x%" PRIx64,
                        a->top_size, end);
            uint64_t top_end = p + a->top_size <= end ? p + a->top_size : end;
            a->tot.top_bytes += a->top_size;
            if (keep_chunk(w, p, a->top_size, 0, ai, HG_STATE_TOP) < 0)
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
            kept = keep_chunk(w, p, sz, 0, ai, HG_STATE_OVERHEAD);
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
            /* A link beyond the 48 bits the map keeps is no address: it is
             * kept as 1, which no chunk has, and read again if followed. */
            if (cm_add(&w->cm, p, CM_BIN, CM_VAL(fd >> 48 ? 1 : fd, sz)) < 0)
                return hg_fail(HG_ENOMEM, "out of memory");
            kept = keep_chunk(w, p, sz, 0, ai, HG_STATE_BIN);
        } else {
            uint64_t link = reveal(w, p + CHUNK_HDR, fd);
            if (sz <= w->list_max && plausible_link(w, link)) {
                if (cm_add(&w->cm, p, CM_CAND, CM_VAL(link, sz)) < 0)
                    return hg_fail(HG_ENOMEM, "out of memory");
                kept = keep_chunk(w, p, sz, 0, ai, CHUNK_MAYBE);
            } else {
                count_inuse(w, ai, sz);
                kept = keep_chunk(w, p, sz, sz - SIZE_SZ, ai, HG_STATE_INUSE);
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

/* ------------------------------------------------------- arenas, heaps */

static int read_arena(struct walk *w, uint64_t addr, struct arena *a)
{
    const hg_layout *L = w->L;
    a->addr = addr;
    a->raw = malloc(L->state_size);
    if (!a->raw)
        return hg_fail(HG_ENOMEM, "out of memory");
    if (!in_mapping(w, addr, L->state_size) || hg_read_exact(w->t, addr, a->raw, L->state_size)) {
        char why[512];
        snprintf(why, sizeof why, "%s", hg_error_message());
        return hg_fail(HG_ENOTFOUND, "arena at 0x%" PRIx64 " is not readable: %s", addr, why);
    }
    a->top = rd64(a->raw, L->st_top);
    a->system_mem = rd64(a->raw, L->st_system_mem);
    uint32_t mutex;
    memcpy(&mutex, a->raw + L->st_mutex, sizeof mutex);
    a->mutex_held = mutex != 0;
    return 0;
}

static int add_heap(struct arena *a, uint64_t base, uint64_t begin, uint64_t end)
{
    struct heap *nh = realloc(a->heaps, (a->nheaps + 1) * sizeof *nh);
    if (!nh)
        return hg_fail(HG_ENOMEM, "out of memory");
    a->heaps = nh;
    a->heaps[a->nheaps++] = (struct heap){base, begin, end};
    return 0;
}

/* The main arena's memory: [sbrk_base, sbrk_base + system_mem). */
static int main_heaps(struct walk *w, struct arena *a)
{
    uint32_t flags;
    memcpy(&flags, a->raw + w->L->st_flags, sizeof flags);
    if (a->top == 0 || w->sbrk_base == 0)
        return 0; /* malloc never used the main arena */
    if (flags & 2u) /* NONCONTIGUOUS_BIT: sbrk failed, mmap()ed pieces */
        problem(w, 0, a->addr,
                "main arena is non-contiguous (sbrk failed); only its first piece is walked");
    uint64_t begin = w->sbrk_base;
    /* sysmalloc aligns the first chunk so chunk2mem is 16-aligned. */
    uint64_t mis = (begin + CHUNK_HDR) & ALIGN_MASK;
    if (mis)
        begin += 16 - mis;
    uint64_t end = w->sbrk_base + a->system_mem;
    /* The main heap is one run of [heap] mappings (one, unless it grew
     * after a fork()): a system_mem that runs past it is corrupt, and the
     * walk stays inside what is mapped. */
    uint64_t mapped = hg_mapping_run_end(w->t, w->sbrk_base);
    if (w->t->nmaps && (!mapped || end > mapped || end < begin)) {
        problem(w, 0, a->addr,
                "main arena: system_mem 0x%" PRIx64 " from sbrk_base 0x%" PRIx64
                " runs past its mapping", a->system_mem, w->sbrk_base);
        if (!mapped)
            return 0;
        end = mapped;
    }
    if (a->top < begin || a->top >= end) {
        problem(w, 0, a->top, "main arena top 0x%" PRIx64 " lies outside [0x%" PRIx64 ", 0x%" PRIx64 ")",
                a->top, begin, end);
        end = a->top > begin ? a->top : end;
    }
    return add_heap(a, w->sbrk_base, begin, end);
}

/* A thread arena's heaps: heap_info at the 64 MiB-aligned base below top,
 * then the chain of prev pointers. */
static int thread_heaps(struct walk *w, int ai, struct arena *a)
{
    const hg_layout *L = w->L;
    uint64_t h = a->top & ~(L->heap_max_size - 1);
    unsigned char hi[128];
    for (unsigned n = 0; h; n++) {
        if (n >= MAX_HEAPS)
            return problem(w, ai, h, "arena at 0x%" PRIx64 ": heap chain too long (cycle?)", a->addr);
        if ((h & (L->heap_max_size - 1)) || !in_mapping(w, h, L->heap_info_size) ||
            hg_read_exact(w->t, h, hi, L->heap_info_size)) {
            problem(w, ai, h, "arena at 0x%" PRIx64 ": bad heap_info pointer 0x%" PRIx64, a->addr, h);
            break;
        }
        uint64_t ar = rd64(hi, L->hi_ar_ptr), prev = rd64(hi, L->hi_prev),
                 size = rd64(hi, L->hi_size);
        if (ar != a->addr || size < L->heap_info_size || size > L->heap_max_size) {
            problem(w, ai, h, "heap_info at 0x%" PRIx64 " does not belong to arena 0x%" PRIx64
                    " (ar_ptr 0x%" PRIx64 ", size 0x%" PRIx64 ")", h, a->addr, ar, size);
            break;
        }
        for (size_t k = 0; k < a->nheaps; k++)
            if (a->heaps[k].base == h)
                return problem(w, ai, h, "heap chain of arena 0x%" PRIx64 " loops", a->addr);
        uint64_t begin = h + L->heap_info_size;
        if (a->addr == begin) {
            /* The arena's first heap holds the malloc_state itself. */
            begin = a->addr + L->state_size;
            uint64_t mis = (begin + CHUNK_HDR) & ALIGN_MASK;
            if (mis)
                begin += 16 - mis;
        }
        int rc = add_heap(a, h, begin, h + size);
        if (rc)
            return rc;
        h = prev;
    }
    return 0;
}

static int find_arenas(struct walk *w)
{
    uint64_t addr = w->loc.main_arena;
    for (;;) {
        if (w->narenas == MAX_ARENAS)
            return problem(w, -1, addr, "arena ring longer than %d: stopped following it", MAX_ARENAS);
        struct arena *na = realloc(w->arenas, (w->narenas + 1) * sizeof *na);
        if (!na)
            return hg_fail(HG_ENOMEM, "out of memory");
        w->arenas = na;
        struct arena *a = &w->arenas[w->narenas];
        memset(a, 0, sizeof *a);
        int rc = read_arena(w, addr, a);
        if (rc) {
            free(a->raw);
            if (w->narenas == 0)
                return rc;
            problem(w, -1, addr, "arena ring: bad next pointer 0x%" PRIx64, addr);
            break;
        }
        uint64_t top_size;
        if (a->top && hg_read_u64(w->t, a->top + SIZE_SZ, &top_size) == 0)
            a->top_size = top_size & ~(uint64_t)SIZE_BITS;
        w->narenas++;
        uint64_t next = rd64(a->raw, w->L->st_next);
        if (next == w->loc.main_arena)
            break;
        int dup = 0;
        for (size_t i = 0; i < w->narenas; i++)
            dup |= w->arenas[i].addr == next;
        if (dup) {
            problem(w, -1, next, "arena ring does not close at main_arena (loops at 0x%" PRIx64 ")", next);
            break;
        }
        addr = next;
    }
    for (size_t i = 0; i < w->narenas; i++) {
        struct arena *a = &w->arenas[i];
        int rc = i == 0 ? main_heaps(w, a) : thread_heaps(w, (int)i, a);
        if (rc < 0)
            return rc;
        a->hist = calloc(HG_STATE_COUNT, sizeof *a->hist);
        if (!a->hist)
            return hg_fail(HG_ENOMEM, "out of memory");
    }
    return 0;
}

/* ------------------------------------------------------------ threads */

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct tcache_copy {
    uint64_t addr;
    unsigned char *raw;
};

/* Entries in tcache bin i, from the copy of a tcache_perthread_struct;
 * ~0 when the counter is impossible (more room than a bin has).  Before
 * 2.42 glibc counts entries; from 2.42 it counts the room left, which
 * starts at mp_.tcache_count. */
static uint64_t tc_entries(const struct walk *w, const unsigned char *raw, unsigned i)
{
    const hg_layout *L = w->L;
    uint64_t c;
    if (L->tc_count_bytes == 2) {
        uint16_t c16;
        memcpy(&c16, raw + L->tc_counts + 2 * i, 2);
        c = c16;
    } else {
        c = raw[L->tc_counts + i];
    }
    if (!L->tc_slots)
        return c;
    return c <= w->tcache_count ? w->tcache_count - c : ~0ull;
}

/* The tcache bin glibc files a chunk of size sz under: one bin per size
 * up to 0x410, then (2.42+) one per power of two, as large_csize2tidx. */
static unsigned tc_bin_of(const struct walk *w, uint64_t sz)
{
    if (sz <= TCACHE_SMALL_MAX || w->L->tc_bins <= w->L->tc_small_bins)
        return (unsigned)((sz - MINSIZE) / 16);
    return w->L->tc_small_bins + (unsigned)(__builtin_clzll(TCACHE_SMALL_MAX) - __builtin_clzll(sz));
}

/* A thread's tcache pointer that means "no tcache": NULL, or (2.43) the
 * zeroed dummy in libc's read-only data that glibc points threads at
 * before their first malloc and after their tcache is torn down. */
static int tcache_absent(struct walk *w, uint64_t v)
{
    if (v == 0)
        return 1;
    const hg_mapping *m = hg_find_mapping(w->t, v);
    const char *libc = w->loc.libc ? hg_module_path(w->loc.libc) : NULL;
    if (!m || m->perms[1] == 'w' || !libc || strcmp(m->path, libc) != 0)
        return 0;
    unsigned char raw[1024], zero[sizeof raw] = {0};
    size_t n = w->L->tcache_size < sizeof raw ? w->L->tcache_size : sizeof raw;
    return hg_read_exact(w->t, v, raw, n) == 0 && memcmp(raw, zero, n) == 0;
}

/* ptr is where a tcache_perthread_struct can be: the memory of a heap
 * chunk of exactly its size, or of an mmapped chunk (glibc's mmap
 * threshold set below the struct's size, e.g. to 0, mmaps it too). */
static int tcache_chunk(struct walk *w, uint64_t ptr)
{
    uint64_t sz;
    if (!ptr || (ptr & ALIGN_MASK) || hg_read_u64(w->t, ptr - SIZE_SZ, &sz) != 0)
        return 0;
    if (plausible_link(w, ptr))
        return (sz & ~(uint64_t)SIZE_BITS) == w->tc_chunk_size;
    const hg_mapping *m = hg_find_mapping(w->t, ptr);
    uint64_t chunk_end = ptr - CHUNK_HDR + (sz & ~(uint64_t)SIZE_BITS);
    return m && hg_mapping_is_anon(m) && m->perms[1] == 'w' && (sz & SIZE_BITS) == IS_MMAPPED &&
           (sz & ~(uint64_t)SIZE_BITS) >= w->tc_chunk_size && chunk_end > ptr &&
           chunk_end <= hg_mapping_run_end(w->t, ptr);
}

/* A tcache_perthread_struct pointer: a tcache chunk whose entries are
 * empty exactly where the counts are zero. */
static int tcache_like(struct walk *w, uint64_t ptr)
{
    const hg_layout *L = w->L;
    unsigned char raw[1024];
    if (!tcache_chunk(w, ptr) || L->tcache_size > sizeof raw ||
        hg_read_exact(w->t, ptr, raw, L->tcache_size) != 0)
        return 0;
    for (unsigned i = 0; i < L->tc_bins; i++) {
        uint64_t e = rd64(raw, L->tc_entries + 8 * (long)i), c = tc_entries(w, raw, i);
        if (c == ~0ull || (e == 0) != (c == 0) || (e && !plausible_link(w, e)))
            return 0;
    }
    return 1;
}

/*
 * Without libc's symbols the offset of its 'tcache' TLS variable is not
 * known: try every slot of libc's TLS block and keep the one that, in every
 * thread, is NULL or points at a well-formed tcache (and is not NULL in at
 * least one).  More than one such slot: refuse.
 */
static int find_tcache_slot(struct walk *w)
{
    hg_target *t = w->t;
    uint64_t size = w->loc.tls_size;
    if (!w->loc.have_tls_offset || !size || size > 65536 || !t->nthreads)
        return hg_fail(HG_ENOTFOUND, "cannot find libc's thread-local storage, hence the tcache");
    unsigned char *blocks = malloc(size * t->nthreads);
    if (!blocks)
        return hg_fail(HG_ENOMEM, "out of memory");
    for (size_t i = 0; i < t->nthreads; i++)
        if (!t->threads[i].fs_base ||
            hg_read_exact(t, t->threads[i].fs_base - w->loc.libc_tls_offset, blocks + i * size, size))
            memset(blocks + i * size, 0, size);
    unsigned found = 0, sized = 0;
    uint64_t slot = 0;
    for (uint64_t off = 0; off + 8 <= size; off += 8) {
        int good = 1, nonnull = 0;
        for (size_t i = 0; i < t->nthreads; i++) {
            uint64_t v = rd64(blocks + i * size, (long)off);
            if (!v || (!plausible_link(w, v) && tcache_absent(w, v)))
                continue;
            nonnull++;
            if (tcache_chunk(w, v))
                sized++;
            if (good)
                good = tcache_like(w, v);
        }
        if (good && nonnull) {
            found++;
            slot = off;
        }
    }
    free(blocks);
    if (found == 0 && sized == 0)
        return 0; /* no thread has called malloc yet: no tcache anywhere */
    if (found != 1)
        return hg_fail(HG_ENOTFOUND, "%s in libc's thread-local storage: install the libc "
                       "debug symbols", found ? "several tcache candidates" : "no tcache pointer");
    w->loc.tcache_var = slot;
    w->loc.have_tcache_var = 1;
    return 0;
}

/*
 * Without symbols, libc's 'thread_arena' slot is found like the tcache's:
 * the one slot of libc's TLS block (other than the tcache's) that in every
 * thread is NULL or the address of a known arena, and not NULL in at least
 * one.  Not unique: the arena stays unknown where no tcache tells it.
 */
static void find_thread_arena_slot(struct walk *w)
{
    hg_target *t = w->t;
    uint64_t size = w->loc.tls_size;
    if (!w->loc.have_tls_offset || !size || size > 65536 || !t->nthreads)
        return;
    unsigned char *blocks = malloc(size * t->nthreads);
    if (!blocks)
        return;
    for (size_t i = 0; i < t->nthreads; i++)
        if (!t->threads[i].fs_base ||
            hg_read_exact(t, t->threads[i].fs_base - w->loc.libc_tls_offset, blocks + i * size, size))
            memset(blocks + i * size, 0, size);
    unsigned found = 0;
    uint64_t slot = 0;
    for (uint64_t off = 0; off + 8 <= size; off += 8) {
        if (w->loc.have_tcache_var && off == w->loc.tcache_var)
            continue;
        int good = 1, nonnull = 0;
        for (size_t i = 0; i < t->nthreads && good; i++) {
            uint64_t v = rd64(blocks + i * size, (long)off);
            if (!v)
                continue;
            nonnull++;
            good = 0;
            for (size_t k = 0; k < w->narenas && !good; k++)
                good = w->arenas[k].addr == v;
        }
        if (good && nonnull) {
            found++;
            slot = off;
        }
    }
    free(blocks);
    if (found == 1) {
        w->loc.thread_arena_var = slot;
        w->loc.have_thread_arena_var = 1;
    }
}

static int read_threads(struct walk *w, struct tcache_copy **out)
{
    const hg_layout *L = w->L;
    hg_target *t = w->t;
    hg_snapshot *s = w->s;
    *out = NULL;
    s->threads = calloc(t->nthreads ? t->nthreads : 1, sizeof *s->threads);
    struct tcache_copy *tc = calloc(t->nthreads ? t->nthreads : 1, sizeof *tc);
    w->tc_chunks = calloc(t->nthreads ? t->nthreads : 1, sizeof *w->tc_chunks);
    if (!s->threads || !tc || !w->tc_chunks) {
        free(tc);
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    *out = tc;
    /* request2size(sizeof(tcache_perthread_struct)) */
    w->tc_chunk_size = (L->tcache_size + SIZE_SZ + ALIGN_MASK) & ~(uint64_t)ALIGN_MASK;
    s->nthreads = t->nthreads;
    if (!w->loc.have_tcache_var && L->tcache_size && t->nthreads) {
        int rc = find_tcache_slot(w);
        if (rc)
            return rc;
    }
    if (!w->loc.have_thread_arena_var)
        find_thread_arena_slot(w);
    for (size_t i = 0; i < t->nthreads; i++) {
        hg_thread_info *ti = &s->threads[i];
        ti->tid = t->threads[i].tid;
        ti->arena = -1;
        uint64_t tp = t->threads[i].fs_base;
        if (!tp || !w->loc.have_tls_offset)
            continue;
        /* x86_64's thread control block starts with a pointer to itself.
         * When it does not, this thread's memory is missing: gdb's gcore
         * writes zeros for a whole thread stack it cannot read, which
         * happens with glibc 2.42+'s guard pages (MADV_GUARD_INSTALL). */
        uint64_t self;
        if (hg_read_u64(t, tp, &self) != 0 || self != tp) {
            problem(w, -1, tp, "thread %d: its thread control block at 0x%" PRIx64 " is not there "
                    "(%s); its tcache is not counted", ti->tid, tp,
                    t->ops->kind != HG_TARGET_CORE
                        ? "unreadable"
                        : "missing from the core, or zeros: gcore cannot "
                          "read glibc 2.42+ thread stacks, use a kernel core");
            continue;
        }
        uint64_t block = tp - w->loc.libc_tls_offset;
        if (w->loc.have_thread_arena_var) {
            uint64_t ar;
            if (hg_read_u64(t, block + w->loc.thread_arena_var, &ar) == 0)
                for (size_t k = 0; k < w->narenas; k++)
                    if (w->arenas[k].addr == ar)
                        ti->arena = (int)k;
        }
        if (!w->loc.have_tcache_var || !L->tcache_size)
            continue;
        uint64_t ptr;
        if (hg_read_u64(t, block + w->loc.tcache_var, &ptr) != 0 || tcache_absent(w, ptr))
            continue;
        uint64_t chunk = ptr - CHUNK_HDR;
        if (!tcache_chunk(w, ptr)) {
            problem(w, -1, ptr, "thread %d: tcache pointer 0x%" PRIx64 " is not a tcache chunk",
                    ti->tid, ptr);
            continue;
        }
        tc[i].raw = malloc(L->tcache_size);
        if (!tc[i].raw)
            return hg_fail(HG_ENOMEM, "out of memory");
        if (hg_read_exact(t, ptr, tc[i].raw, L->tcache_size) != 0) {
            free(tc[i].raw);
            tc[i].raw = NULL;
            continue;
        }
        tc[i].addr = ptr;
        ti->tcache = ptr;
        if (ti->arena < 0)
            ti->arena = -2; /* fixed up once the heaps are walked */
        w->tc_chunks[w->ntc++] = chunk;
    }
    qsort(w->tc_chunks, w->ntc, sizeof *w->tc_chunks, u64_cmp);
    return 0;
}

/* ---------------------------------------------------------- free lists */

static uint64_t cm_bound(struct walk *w) { return w->cm.n + 1; }

static void walk_fastbins(struct walk *w, int ai)
{
    struct arena *a = &w->arenas[ai];
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
            struct arena *owner = &w->arenas[pa];
            owner->tot.fastbin_objects++;
            owner->tot.fastbin_bytes += sz;
            hist_add(w, owner, pa, HG_STATE_FASTBIN, sz);
            a->list_fast_n++;
            a->list_fast_bytes += sz;
            p = CM_LINK(e);
        }
    }
}

/* Chunks of one large bin, in fd order, with their sizes. */
struct bin_chunks {
    uint64_t *addr, *size;
    size_t n, cap;
};

static int bin_chunks_add(struct bin_chunks *b, uint64_t addr, uint64_t size)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        uint64_t *na = realloc(b->addr, cap * sizeof *na);
        if (!na)
            return -1;
        b->addr = na;
        uint64_t *ns = realloc(b->size, cap * sizeof *ns);
        if (!ns)
            return -1;
        b->size = ns;
        b->cap = cap;
    }
    b->addr[b->n] = addr;
    b->size[b->n++] = size;
    return 0;
}

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

/*
 * A large bin keeps its chunks sorted by size, largest first along fd, and
 * a second list for finding a size quickly: the first chunk of each size
 * links by fd_nextsize to the first of the next smaller size (the smallest
 * back to the largest) and by bk_nextsize the other way; every other chunk
 * has both 0.  glibc follows these links when it files or takes a chunk,
 * so a wrong one is a corruption even where the fd list is sound.  The
 * first chunk that breaks the order or holds a wrong link is reported.
 */
static void check_large_bin(struct walk *w, int ai, unsigned bin, const struct bin_chunks *b)
{
    size_t n = b->n;
    hg_span *spans = calloc(n, sizeof *spans);
    uint64_t (*links)[2] = calloc(n, sizeof *links);
    size_t *first_of = calloc(n, sizeof *first_of);
    struct bin_place *sorted = calloc(n, sizeof *sorted);
    if (!spans || !links || !first_of || !sorted)
        goto out; /* the check is skipped, the figures do not need it */
    for (size_t k = 0; k < n; k++)
        spans[k] = (hg_span){b->addr[k] + 4 * SIZE_SZ, sizeof links[k], links[k], 0};
    if (hg_read_spans(w->t, spans, n) != 0)
        goto out;
    for (size_t k = 0; k < n; k++)
        sorted[k] = (struct bin_place){b->addr[k], k};
    qsort(sorted, n, sizeof *sorted, by_address);
    /* first_of[j]: index of the j-th chunk that is the first of its size */
    size_t nfirst = 0;
    for (size_t k = 0; k < n; k++) {
        const uint64_t c = b->addr[k], sz = b->size[k];
        if (k > 0 && sz > b->size[k - 1]) {
            problem(w, ai, c, "large bin %u of arena %d: chunk at 0x%" PRIx64 " of size 0x%" PRIx64
                    " follows a smaller one (0x%" PRIx64 "): the bin is not sorted", bin, ai, c, sz,
                    b->size[k - 1]);
            goto out;
        }
        if (k == 0 || sz != b->size[k - 1])
            first_of[nfirst++] = k;
    }
    for (size_t j = 0, k = 0; k < n; k++) {
        const uint64_t c = b->addr[k];
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
                want = b->addr[first_of[d ? (j + nfirst - 1) % nfirst : (j + 1) % nfirst]];
            if (v == want)
                continue;
            size_t at = bin_place_of(sorted, n, v);
            const char *why = !first ? "should be 0: the chunk is not the first of its size"
                              : v == 0 ? "is 0, yet the chunk is the first of its size"
                              : at == n ? "is not a chunk on this bin"
                              : d == 0 ? "does not lead to the first chunk of the next smaller size"
                                       : "does not lead to the first chunk of the next larger size";
            problem(w, ai, c, "large bin %u of arena %d: chunk at 0x%" PRIx64 " (size 0x%" PRIx64
                    "): %s 0x%" PRIx64 " %s", bin, ai, c, b->size[k], name, v, why);
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

static void walk_bins(struct walk *w, int ai)
{
    struct arena *a = &w->arenas[ai];
    const hg_layout *L = w->L;
    struct bin_chunks large = {0};
    for (unsigned i = 1; i < L->nbins; i++) {
        long off = L->st_bins + (long)(i - 1) * 16;
        uint64_t head = a->addr + (uint64_t)off - CHUNK_HDR; /* bin_at(av, i) */
        uint64_t p = rd64(a->raw, off), prev = head;
        int whole = 1, keep = i >= NSMALLBINS;
        large.n = 0;
        for (uint64_t n = 0; p != head; n++) {
            cm_entry *e = cm_find(&w->cm, p, NULL);
            if (!e || CM_STATE(e) != CM_BIN || n > cm_bound(w)) {
                /* a link too wide for the map was kept as 1: say what it was */
                uint64_t bad = p;
                if (p == 1 && prev != head)
                    hg_read_u64(w->t, prev + 2 * SIZE_SZ, &bad);
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
                if (hg_read_u64(w->t, p + SIZE_SZ, &sz) == 0)
                    sz &= ~(uint64_t)SIZE_BITS;
            a->list_bin_n++;
            a->list_bin_bytes += sz;
            if (keep && bin_chunks_add(&large, p, sz) < 0)
                keep = 0; /* out of memory: this bin's nextsize list goes unchecked */
            w->fd_sum += pair_hash(p, prev);
            prev = p;
            p = CM_LINK(e);
        }
        /* the head's bk is the last chunk (the head itself when empty) */
        w->fd_sum += pair_hash(head, prev);
        w->bk_sum += pair_hash(head, rd64(a->raw, off + 8));
        if (!whole)
            w->bk_unsure = 1;
        /* the nextsize list is checked against a whole, sound fd list */
        if (keep && whole && large.n)
            check_large_bin(w, ai, i, &large);
    }
    free(large.addr);
    free(large.size);
}

/*
 * The back links disagree with the forward ones somewhere (the sums of
 * walk_bins differ): walk the bins again, reading each chunk's bk from the
 * target, and name the first chunk whose bk is not the one before it.
 * Only a corrupt heap pays for these reads.
 */
static void find_bad_bk(struct walk *w)
{
    const hg_layout *L = w->L;
    for (size_t ai = 0; ai < w->narenas; ai++) {
        struct arena *a = &w->arenas[ai];
        for (unsigned i = 1; i < L->nbins; i++) {
            long off = L->st_bins + (long)(i - 1) * 16;
            uint64_t head = a->addr + (uint64_t)off - CHUNK_HDR;
            uint64_t p = rd64(a->raw, off), prev = head, bk;
            for (uint64_t n = 0; p != head && n <= cm_bound(w); n++) {
                cm_entry *e = cm_find(&w->cm, p, NULL);
                if (!e || hg_read_u64(w->t, p + 3 * SIZE_SZ, &bk) != 0)
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

static void walk_tcache(struct walk *w, size_t ti, const struct tcache_copy *tc)
{
    const hg_layout *L = w->L;
    hg_thread_info *info = &w->s->threads[ti];
    for (unsigned i = 0; i < L->tc_bins; i++) {
        uint64_t count = tc_entries(w, tc->raw, i);
        uint64_t e_ptr = rd64(tc->raw, L->tc_entries + 8 * (long)i), n = 0, prev_sz = 0;
        if (count == ~0ull) {
            problem(w, -1, tc->addr, "thread %d tcache bin %u: num_slots above tcache_count %" PRIu64,
                    info->tid, i, w->tcache_count);
            count = 0;
        }
        while (e_ptr) {
            int pa;
            uint64_t chunk = e_ptr - CHUNK_HDR;
            cm_entry *e = cm_find(&w->cm, chunk, &pa);
            if (!e || CM_STATE(e) != CM_CAND || n >= count) {
                problem(w, -1, e_ptr, "thread %d tcache 0x%" PRIx64 " bin %u (count %" PRIu64 "): entry %"
                        PRIu64 " at 0x%" PRIx64 " %s", info->tid, tc->addr, i, count, n, e_ptr,
                        e && CM_STATE(e) == CM_TCACHE ? "repeats (cycle or double free)"
                        : n >= count ? "is past the bin's count"
                        : !e         ? "is not a chunk that could be free"
                                     : "is also on a fastbin");
                break;
            }
            uint64_t sz = CM_SIZE(e);
            if (!sz) /* too large to keep in the entry: ask the target */
                if (hg_read_u64(w->t, chunk + SIZE_SZ, &sz) == 0)
                    sz &= ~(uint64_t)SIZE_BITS;
            if (tc_bin_of(w, sz) != i)
                problem(w, pa, chunk, "thread %d tcache bin %u holds a chunk of size 0x%" PRIx64,
                        info->tid, i, sz);
            else if (sz < prev_sz) /* large bins are kept sorted, small ones are one size */
                problem(w, pa, chunk, "thread %d tcache bin %u is out of size order at 0x%" PRIx64,
                        info->tid, i, chunk);
            prev_sz = sz;
            CM_SET_STATE(e, CM_TCACHE);
            struct arena *owner = &w->arenas[pa];
            owner->tot.tcache_objects++;
            owner->tot.tcache_bytes += sz;
            hist_add(w, owner, pa, HG_STATE_TCACHE, sz);
            info->tcache_objects++;
            info->tcache_bytes += sz;
            n++;
            /* next is stored protected at e->next, i.e. at e_ptr itself */
            e_ptr = CM_LINK(e);
        }
        if (n < count && !e_ptr)
            problem(w, -1, tc->addr, "thread %d tcache bin %u: count %" PRIu64 " but %" PRIu64 " entries",
                    info->tid, i, count, n);
    }
}

/* Chunks that looked like list members but were on no list are in use;
 * bin chunks found on no bin are a corruption. */
static void settle(struct walk *w)
{
    uint64_t orphans = 0;
    for (size_t r = 0; r < w->cm.nr; r++) {
        cm_region *reg = &w->cm.r[r];
        for (size_t k = 0; k < reg->count; k++) {
            cm_entry *e = &w->cm.e[reg->first + k];
            if (CM_STATE(e) == CM_CAND) {
                uint64_t sz = CM_SIZE(e);
                if (!sz && hg_read_u64(w->t, CM_ADDR(e) + SIZE_SZ, &sz) == 0)
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

/* ------------------------------------------------------ mmapped chunks */

/* Thread heaps are whole HEAP_MAX_SIZE reservations: mmapped chunks are
 * never inside one.  Returns 1 and *skip_to = the heap's end when lo is in
 * a heap, 0 and *skip_to = the nearest heap start when one begins before
 * hi, else -1. */
static int overlaps_heap(struct walk *w, uint64_t lo, uint64_t hi, uint64_t *skip_to)
{
    int found = -1;
    for (size_t i = 1; i < w->narenas; i++)
        for (size_t h = 0; h < w->arenas[i].nheaps; h++) {
            uint64_t b = w->arenas[i].heaps[h].base, e = b + w->L->heap_max_size;
            if (lo >= b && lo < e) {
                *skip_to = e;
                return 1;
            }
            if (b > lo && b < hi && (found < 0 || b < *skip_to)) {
                *skip_to = b;
                found = 0;
            }
        }
    return found;
}

struct mmapped {
    uint64_t addr, prev_size, size;
};

struct mmapped_list {
    struct mmapped *v;
    size_t n, cap;
    uint64_t bytes;           /* mapping bytes, as mp_.mmapped_mem counts */
};

/* The mapping an mmapped chunk with this header occupies: its offset from
 * the mapping start (prev_size) plus the chunk, plus (2.43+) the 16 bytes
 * glibc leaves after it. */
static uint64_t mmapped_span(const struct walk *w, const uint64_t hdr[2])
{
    uint64_t off = hdr[0] & ~(uint64_t)(w->L->mmap_tail ? 1 : 0); /* MMAP_HP */
    return off + (hdr[1] & ~(uint64_t)SIZE_BITS) + (w->L->mmap_tail ? CHUNK_HDR : 0);
}

static uint64_t mmapped_usable(const struct walk *w, uint64_t size)
{
    return w->L->mmap_tail ? size - SIZE_SZ : size - CHUNK_HDR;
}

/* A header read at the start q of a would-be mapping. */
static int mmapped_header_ok(const struct walk *w, const uint64_t hdr[2], uint64_t q, uint64_t seg_end)
{
    uint64_t sz = hdr[1] & ~(uint64_t)SIZE_BITS, span = mmapped_span(w, hdr);
    uint64_t off = span - sz - (w->L->mmap_tail ? CHUNK_HDR : 0);
    return (hdr[1] & SIZE_BITS) == IS_MMAPPED && !(off & ALIGN_MASK) && sz >= PAGE - 2 * CHUNK_HDR &&
           !(span & (PAGE - 1)) && q + span <= seg_end && q + span > q && span >= sz;
}

/*
 * memalign() of an mmapped chunk moves the chunk forward to the aligned
 * address and writes a new header there (prev_size = the lead), leaving the
 * old one at the mapping start.  Look for the moved header in the first
 * page: at lead k, prev_size == k and the chunk still ends where the
 * mapping says.  Alignments of a page or more are not looked for (the
 * mapping's bytes are right either way; only the chunk's size would be).
 */
static void mmapped_realigned(struct walk *w, const unsigned char *page, uint64_t len,
                              uint64_t hdr[2])
{
    if (hdr[0] != 0)
        return;
    uint64_t span = mmapped_span(w, hdr);
    if (len > span)
        len = span;
    for (uint64_t k = 16; k + CHUNK_HDR <= len; k += 16) {
        uint64_t c[2] = {rd64(page, (long)k), rd64(page, (long)k + 8)};
        if ((c[0] & ~(uint64_t)1) == k && (c[1] & SIZE_BITS) == IS_MMAPPED &&
            mmapped_span(w, c) == span) {
            hdr[0] = c[0];
            hdr[1] = c[1];
            return;
        }
    }
}

/*
 * mmapped chunks live in anonymous rw-p memory, each at the start of what
 * was its own mapping.  The kernel merges neighbouring ones into one
 * mapping, and splits one chunk's mapping in two when part of it changes
 * (mlock, a name) -- and a core has one PT_LOAD per mapping -- so the scan
 * goes over runs of alike mappings (hg_mapping_run_end), a chunk may span
 * several, and a header is looked for at each chunk's end and at each
 * mapping's start.
 */
static int find_mmapped(struct walk *w, int every_page, struct mmapped_list *out)
{
    out->n = 0;
    out->bytes = 0;
    uint64_t done = 0; /* end of the last run scanned */
    for (size_t i = 0; i < w->t->nmaps; i++) {
        const hg_mapping *m = &w->t->maps[i];
        if (!hg_mapping_is_anon(m) || strcmp(m->perms, "rw-p") != 0 || m->start < done)
            continue;
        uint64_t q = m->start, run_end = hg_mapping_run_end(w->t, m->start);
        done = run_end;
        hg_window_reset(&w->win);
        while (q + CHUNK_HDR <= run_end) {
            uint64_t skip = 0, seg_end = run_end;
            int ov = overlaps_heap(w, q, run_end, &skip);
            if (ov == 1) {
                q = skip;
                continue;
            }
            if (ov == 0)
                seg_end = skip;
            /* One read per would-be chunk: its first page holds the header
             * and, after memalign, the moved one. */
            uint64_t hdr[2], len = seg_end - q < PAGE ? seg_end - q : PAGE;
            unsigned char buf[PAGE];
            const unsigned char *c = every_page ? window(w, q, len, seg_end) : buf;
            /* Past memory that cannot be read (a thread stack's guard pages,
             * glibc 2.42+) or that holds no chunk, the next place a chunk can
             * start is the next mapping of the run. */
            const hg_mapping *in = hg_find_mapping(w->t, q);
            uint64_t next_mapping = in && in->end < seg_end ? in->end : seg_end;
            if (!c || (!every_page && hg_read_exact(w->t, q, buf, len) != 0)) {
                q = next_mapping;
                hg_window_reset(&w->win);
                continue;
            }
            memcpy(hdr, c, sizeof hdr);
            if (!mmapped_header_ok(w, hdr, q, seg_end)) {
                q = every_page ? q + PAGE : next_mapping;
                continue;
            }
            if (out->n == out->cap) {
                size_t cap = out->cap ? out->cap * 2 : 64;
                struct mmapped *nv = realloc(out->v, cap * sizeof *nv);
                if (!nv)
                    return hg_fail(HG_ENOMEM, "out of memory");
                out->v = nv;
                out->cap = cap;
            }
            mmapped_realigned(w, c, len, hdr);
            uint64_t sz = hdr[1] & ~(uint64_t)SIZE_BITS, span = mmapped_span(w, hdr);
            out->v[out->n++] = (struct mmapped){q + span - sz - (w->L->mmap_tail ? CHUNK_HDR : 0),
                                                hdr[0], sz};
            out->bytes += span;
            q += span;
        }
    }
    return 0;
}

/*
 * mp_ counts more mmapped chunks than the scan found: one whose header is
 * damaged is no longer recognised.  Name it if it can be told: a mapping
 * (not a heap, not a chunk found) whose first words still look half like
 * a chunk's header -- IS_MMAPPED set but the rest wrong, or a size that is
 * about the mapping's length.  The first such mapping is reported.
 */
static void find_bad_mmapped(struct walk *w, const struct mmapped_list *l)
{
    uint64_t done = 0;
    size_t k = 0; /* the chunks found, in address order as the mappings */
    for (size_t i = 0; i < w->t->nmaps; i++) {
        const hg_mapping *m = &w->t->maps[i];
        if (!hg_mapping_is_anon(m) || strcmp(m->perms, "rw-p") != 0 || m->start < done)
            continue;
        uint64_t q = m->start, run_end = hg_mapping_run_end(w->t, q), skip;
        done = run_end;
        if (overlaps_heap(w, q, run_end, &skip) == 1)
            continue;
        /* step over the chunks found at the start of the run (the kernel
         * merges adjacent ones into one mapping) to where one is missing */
        while (k < l->n && l->v[k].addr < q)
            k++;
        for (; k < l->n && l->v[k].addr < run_end; k++) {
            uint64_t hdr[2] = {l->v[k].prev_size, l->v[k].size};
            uint64_t start = l->v[k].addr - (mmapped_span(w, hdr) - l->v[k].size -
                                             (w->L->mmap_tail ? CHUNK_HDR : 0));
            if (start != q)
                break;
            q += mmapped_span(w, hdr);
        }
        uint64_t hdr[2];
        if (q + CHUNK_HDR > run_end || hg_read_exact(w->t, q, hdr, sizeof hdr) != 0)
            continue;
        uint64_t sz = hdr[1] & ~(uint64_t)SIZE_BITS, len = run_end - q;
        int flagged = (hdr[1] & (IS_MMAPPED | NON_MAIN_ARENA)) == IS_MMAPPED;
        int sized = sz <= len && sz >= PAGE;
        if (flagged || sized) {
            problem(w, -1, q, "mapping at 0x%" PRIx64 " (%" PRIu64 " bytes) looks like an mmapped "
                    "chunk with a damaged header (prev_size 0x%" PRIx64 ", size field 0x%" PRIx64 ")",
                    q, len, hdr[0], hdr[1]);
            return;
        }
    }
}

static int scan_mmapped(struct walk *w)
{
    hg_snapshot *s = w->s;
    struct mmapped_list l = {0};
    int rc = find_mmapped(w, 0, &l);
    if (rc == 0 && (l.n != w->mp_n_mmaps || l.bytes != w->mp_mmapped_mem))
        rc = find_mmapped(w, 1, &l);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        uint64_t sz = l.v[i].size;
        s->totals.inuse_objects++;
        s->totals.inuse_bytes += mmapped_usable(w, sz); /* malloc_usable_size */
        rc = hg_snapshot_add(s, -1, HG_STATE_MMAPPED, sz, 1, mmapped_usable(w, sz));
        if (rc == 0)
            rc = keep_chunk(w, l.v[i].addr, sz, mmapped_usable(w, sz), -1, HG_STATE_MMAPPED);
        if (w->have_pagemap)
            s->heap_resident_bytes += (sz + PAGE - 1) / PAGE * PAGE -
                                      nonresident_bytes(w, l.v[i].addr, l.v[i].addr + sz);
    }
    s->totals.mmapped_objects = l.n;
    s->totals.mmapped_bytes = l.bytes;
    if (rc == 0 && (l.n != w->mp_n_mmaps || l.bytes != w->mp_mmapped_mem)) {
        problem(w, -1, 0,
                "found %zu mmapped chunks (%" PRIu64 " bytes) but mp_ counts %" PRIu64
                " (%" PRIu64 " bytes)", l.n, l.bytes, w->mp_n_mmaps, w->mp_mmapped_mem);
        if (l.n < w->mp_n_mmaps)
            find_bad_mmapped(w, &l);
    }
    free(l.v);
    return rc;
}

/* ------------------------------------------------------------ results */

static void add_totals(hg_totals *d, const hg_totals *a)
{
    d->sys_bytes += a->sys_bytes;
    d->inuse_objects += a->inuse_objects;
    d->inuse_bytes += a->inuse_bytes;
    d->free_objects += a->free_objects;
    d->free_bytes += a->free_bytes;
    d->top_bytes += a->top_bytes;
    d->tcache_objects += a->tcache_objects;
    d->tcache_bytes += a->tcache_bytes;
    d->fastbin_objects += a->fastbin_objects;
    d->fastbin_bytes += a->fastbin_bytes;
    d->released_bytes += a->released_bytes;
    d->overhead_bytes += a->overhead_bytes;
}

static int finish(struct walk *w)
{
    hg_snapshot *s = w->s;
    hg_mallinfo2 *mi = &s->mallinfo2;
    s->arenas = calloc(w->narenas, sizeof *s->arenas);
    if (!s->arenas)
        return hg_fail(HG_ENOMEM, "out of memory");
    s->narenas = w->narenas;
    hg_totals sum = {0};
    for (size_t i = 0; i < w->narenas; i++) {
        struct arena *a = &w->arenas[i];
        hg_arena_info *ai = &s->arenas[i];
        ai->index = (int)i;
        ai->address = a->addr;
        ai->mutex_held = a->mutex_held;
        ai->heaps = (unsigned)a->nheaps;
        ai->system_mem = a->system_mem;
        a->tot.sys_bytes = a->system_mem;
        ai->totals = a->tot;
        add_totals(&sum, &a->tot);

        /* glibc's int_mallinfo, from the lists as glibc walks them. */
        uint64_t avail = a->top_size + a->list_fast_bytes + a->list_bin_bytes;
        mi->ordblks += 1 + a->list_bin_n;
        mi->smblks += a->list_fast_n;
        mi->fsmblks += a->list_fast_bytes;
        mi->fordblks += avail;
        mi->uordblks += a->system_mem - avail;
        mi->arena += a->system_mem;

        if (a->mutex_held)
            problem(w, (int)i, a->addr,
                    "arena %zu's lock was held at the stop: its lists may be mid-update", i);
        if (a->nheaps && !a->top_seen)
            problem(w, (int)i, a->top, "arena %zu: walk never reached the top chunk 0x%" PRIx64, i, a->top);
        uint64_t accounted = a->inuse_chunk_bytes + a->tot.free_bytes + a->tot.top_bytes +
                             a->tot.tcache_bytes + a->tot.fastbin_bytes + a->tot.overhead_bytes;
        if (a->nheaps && accounted != a->system_mem)
            problem(w, (int)i, a->addr,
                    "arena %zu: chunks account for %" PRIu64 " bytes but system_mem is %" PRIu64,
                    i, accounted, a->system_mem);
        if (a->list_bin_n != a->tot.free_objects)
            problem(w, (int)i, a->addr,
                    "arena %zu: %" PRIu64 " chunks on bins but %" PRIu64 " free chunks in the heap",
                    i, a->list_bin_n, a->tot.free_objects);

        for (int st = 0; st < HG_STATE_COUNT; st++)
            for (uint64_t k = 0; k < HIST_SLOTS; k++) {
                uint64_t c = a->hist[st][k];
                if (!c)
                    continue;
                uint64_t sz = k * 16;
                if (hg_snapshot_add(s, (int)i, st, sz, c, st == HG_STATE_INUSE ? c * (sz - SIZE_SZ) : 0))
                    return hg_error_code();
            }
        if (a->top_size &&
            hg_snapshot_add(s, (int)i, HG_STATE_TOP, a->top_size, 1, 0))
            return hg_error_code();
        /* Heap and arena headers, fenceposts and unparsable stretches are
         * overhead without being chunks: one sample for them, so that the
         * profile adds up to the same figures as the stats. */
        uint64_t in_hist = 0;
        for (uint64_t k = 0; k < HIST_SLOTS; k++)
            in_hist += a->hist[HG_STATE_OVERHEAD][k] * k * 16;
        if (a->tot.overhead_bytes > in_hist &&
            hg_snapshot_add(s, (int)i, HG_STATE_OVERHEAD, a->tot.overhead_bytes - in_hist, 1, 0))
            return hg_error_code();
    }
    mi->hblks = w->mp_n_mmaps;
    mi->hblkhd = w->mp_mmapped_mem;
    mi->usmblks = 0;
    mi->keepcost = w->narenas ? w->arenas[0].top_size : 0;

    /* totals.inuse_* already hold the mmapped chunks (scan_mmapped). */
    s->totals.sys_bytes = mi->arena + mi->hblkhd;
    sum.sys_bytes = 0;
    add_totals(&s->totals, &sum);

    for (size_t i = 0; i < s->nthreads; i++)
        if (s->threads[i].arena == -2)
            s->threads[i].arena = cm_arena_of(&w->cm, s->threads[i].tcache - CHUNK_HDR);
    hg_snapshot_sort_buckets(s);
    return 0;
}

static int heap_resident(struct walk *w)
{
    if (!w->have_pagemap)
        return 0;
    for (size_t i = 0; i < w->narenas; i++)
        for (size_t h = 0; h < w->arenas[i].nheaps; h++) {
            const struct heap *hp = &w->arenas[i].heaps[h];
            uint64_t lo = hp->base & ~(uint64_t)(PAGE - 1);
            uint64_t hi = (hp->end + PAGE - 1) & ~(uint64_t)(PAGE - 1);
            w->s->heap_resident_bytes += (hi - lo) - nonresident_bytes(w, lo, hi);
        }
    return 0;
}

/* --------------------------------------------------------- the snapshot */

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

static int walk_stopped(struct walk *w)
{
    const hg_layout *L = w->L;
    hg_target *t = w->t;
    unsigned char mp[512];
    if (L->par_size > sizeof mp || hg_read_exact(t, w->loc.mp, mp, L->par_size)) {
        char why[512];
        snprintf(why, sizeof why, "%s", hg_error_message());
        return hg_fail(HG_ENOTFOUND, "cannot read mp_ at 0x%" PRIx64 ": %s", w->loc.mp, why);
    }
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
        for (size_t i = 0; i < w->narenas && rc == 0; i++)
            for (size_t h = 0; h < w->arenas[i].nheaps && rc == 0; h++)
                rc = walk_heap(w, (int)i, &w->arenas[i].heaps[h]);
    }
    if (rc == 0) {
        cm_finish(&w->cm);
        for (size_t i = 0; i < w->narenas; i++) {
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
    uint64_t t0 = hg_now_ns();
    int rc;
    struct walk w;
    memset(&w, 0, sizeof w);
    *out = NULL;
    w.t = t;
    w.keep = opt && opt->max_problems ? opt->max_problems : 32;
    w.keep_chunks = opt && opt->keep_chunks;
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
    /* Whatever failed, a target that died under us is the reason. */
    int gone = t->ops->resume(t, &s->timing.stopped_ns);
    if (gone)
        rc = gone;
    if (rc == 0)
        rc = copy_mappings(&w);
    if (rc == 0)
        rc = finish(&w);
    if (rc == 0) {
        s->chunks = w.chunks;
        s->nchunks = w.nchunks;
        w.chunks = NULL;
    }
out:
    free(w.chunks);
    for (size_t i = 0; i < w.narenas; i++) {
        free(w.arenas[i].raw);
        free(w.arenas[i].heaps);
        free(w.arenas[i].hist);
    }
    free(w.arenas);
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

int hg_snapshot_take(hg_target *t, const hg_snapshot_options *opt, hg_snapshot **out)
{
    uint64_t t0 = hg_now_ns();
    hg_located loc;
    *out = NULL;
    hg_error_clear();
    int rc = hg_locate(t, opt ? opt->locate : HG_LOCATE_AUTO, &loc);
    if (rc && hg_target_check_alive(t) == HG_ENOPROC)
        rc = HG_ENOPROC; /* the target died meanwhile: that is the reason */
    if (rc == 0)
        rc = hg_walk(t, &loc, opt, out);
    if (rc == 0)
        (*out)->timing.total_ns = hg_now_ns() - t0;
    return rc;
}
