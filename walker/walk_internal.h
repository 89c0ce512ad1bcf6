/*
 * walk_internal.h -- what the files of the walk share: the walk's state
 * (struct walk, one struct arena per arena), glibc's chunk constants, the
 * helpers the per-chunk loops call, and each file's entry points.
 *
 * The walk is one job split along its seams (walk.c says in what order they
 * run):
 *
 *   walk.c        stop, walk, resume: the order of work
 *   residency.c   page residency sampled at the stop: holes, released bytes
 *   arenas.c      the arena ring, and each arena's heaps
 *   tcache.c      each thread's tcache: finding it, walking its bins
 *   tls.c         without libc's symbols, the tcache and thread_arena slots
 *                 of libc's thread-local storage, found by what they hold
 *   heap.c        one heap, front to back, chunk by chunk
 *   freelists.c   fastbins, bins (large bins' nextsize list, the bk check)
 *                 and what is on no list
 *   mmapped.c     mmapped chunks: finding them, memalign's moved headers,
 *                 a damaged header
 *   results.c     totals, mallinfo2 and the buckets, from the counts
 *
 * The helpers called once per chunk (rd64, window, plausible_link,
 * hist_add, count_inuse, keep_chunk, pair_hash) are static inline here, so
 * that splitting the walk into files added no call to its hot loops.
 */
#ifndef HG_WALK_INTERNAL_H
#define HG_WALK_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/array.h"
#include "lib/error.h"
#include "lib/snapshot.h"
#include "target/target.h"
#include "walker/chunkmap.h"
#include "walker/locate.h"
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
    hg_array(struct heap) heaps;
    int top_seen;

    hg_totals tot;
    uint64_t inuse_chunk_bytes;
    uint64_t list_fast_n, list_fast_bytes, list_bin_n, list_bin_bytes;
    int bins_cut;             /* a bin's list broke off before its head */
    uint64_t (*hist)[HIST_SLOTS]; /* [state][size/16] counts */
};

struct resid {
    uint64_t start, end;  /* a writable anonymous or [heap] mapping */
    uint8_t *present;     /* one byte per page */
};

struct walk {
    uint64_t progress;          /* heap bytes walked, for hg_progress */
    hg_target *t;
    hg_snapshot *s;
    hg_located loc;
    const hg_layout *L;
    unsigned keep;
    uint64_t mp_n_mmaps, mp_mmapped_mem, sbrk_base, tcache_max_bytes;
    uint64_t tcache_count;    /* mp_.tcache_count: a full bin (2.42+) */
    uint64_t list_max;        /* largest chunk that can be on a list */

    hg_array(struct arena) arenas;
    chunkmap cm;

    uint64_t *tc_chunks;      /* sorted tcache_perthread_struct chunk addrs */
    size_t ntc;
    uint64_t tc_chunk_size;

    hg_window win;            /* over target memory, for front-to-back walks */

    /* Every chunk, when the caller asked (keep_chunks).  Chunks that may
     * be on a tcache or fastbin list are recorded with CHUNK_MAYBE and
     * settled after the list walks. */
    int keep_chunks;
    hg_array(hg_chunk) chunks;
    /* With keep_words (the types analysis asked): the first word of each
     * kept chunk's usable bytes, parallel to chunks (0 for chunks not in
     * use).  The heap walk has it in hand already (it is a free chunk's
     * fd), so it costs a store per chunk; mmapped chunks, a read each. */
    int keep_words;
    hg_array(uint64_t) words;
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
    /* The copy was made while the process ran (no_stop): a list the copy
     * tore is cut short, and mallinfo2 counts an arena's free chunks from
     * the heap walk instead of its bins (finish). */
    int no_stop;

    /* The threads' tcache_perthread_structs, copied at the stop. */
    struct tcache_copy *tc;
    size_t ntc_threads;       /* tc's length: the threads at the stop */

    /* The list walks after the stop (walk.c, walk_lists).  They follow the
     * lists in heapgrab's memory, through the chunk map; what they would
     * read of the target is kept by the heap walk instead: the nextsize
     * links of free chunks that may be in a large bin.  may_defer: a live
     * process, no hook, so the lists may wait; deferred: they do;
     * big_sizes: a chunk map entry's size was too large to keep (the lists
     * would read it), so they do not; redo: a deferred list walk needed
     * the target after all, or found something wrong, and the walk starts
     * again with the lists in the stop, to report it as it always has. */
    int may_defer, deferred, big_sizes, redo;
    hg_array(struct nextsize) nextsize; /* in address order once sorted */
};

/* A thread's tcache_perthread_struct, copied at the stop. */
struct tcache_copy {
    uint64_t addr;
    unsigned char *raw;
};

/* A free chunk of a large bin's size: its fd_nextsize and bk_nextsize. */
struct nextsize {
    uint64_t addr, fd, bk;
};

#define MIN_LARGE_SIZE (NSMALLBINS * 16u)

#define problem(w, arena, addr, ...) \
    hg_snapshot_add_problem((w)->s, (w)->keep, (arena), (addr), __VA_ARGS__)

/* A kept chunk whose state the list walks settle (results.c). */
#define CHUNK_MAYBE (-1)

/* A word of the target that a list walk needs (a link or size the chunk
 * map could not keep): refused once the target runs again. */
static inline int list_read_u64(struct walk *w, uint64_t addr, uint64_t *v)
{
    if (w->deferred) {
        w->redo = 1;
        *v = 0;
        return -1;
    }
    return hg_read_u64(w->t, addr, v);
}

/* ------------------------------------------------ helpers of the hot loops */

static inline uint64_t rd64(const unsigned char *p, long off)
{
    uint64_t v;
    memcpy(&v, p + off, sizeof v);
    return v;
}

/* A pair of addresses as one well-mixed word, for the bk check. */
static inline uint64_t pair_hash(uint64_t a, uint64_t b)
{
    uint64_t x = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return x;
}

static inline const unsigned char *window(struct walk *w, uint64_t addr, uint64_t need,
                                          uint64_t limit)
{
    /* the window's own test first, here: this runs twice a chunk */
    const hg_window *win = &w->win;
    if (addr >= win->start && addr + need <= win->end && addr + need > addr)
        return win->data + (addr - win->start);
    return hg_window_get(&w->win, addr, need, limit);
}

/* A link word as a free list would hold it: 0, or a 16-aligned address
 * inside one of the heaps (tcache links may cross arenas). */
static inline int plausible_link(struct walk *w, uint64_t v)
{
    if (v == 0)
        return 1;
    if (v & ALIGN_MASK)
        return 0;
    for (size_t i = 0; i < w->arenas.size; i++) {
        struct arena *a = &w->arenas.ptr[i];
        for (size_t h = 0; h < a->heaps.size; h++)
            if (v >= a->heaps.ptr[h].begin && v < a->heaps.ptr[h].end)
                return 1;
    }
    return 0;
}

/* first: the chunk's first word of usable bytes where it may be in use
 * (kept with keep_words), else 0. */
static inline int keep_chunk(struct walk *w, uint64_t addr, uint64_t size, uint64_t usable,
                             int arena, int state, uint64_t first)
{
    if (!w->keep_chunks)
        return 0;
    /* room is looked at here, so that a chunk kept costs no call */
    if (w->chunks.size == w->chunks.alloc &&
        hg_array_reserve(w->chunks, w->chunks.size + 1) != 0)
        return hg_fail(HG_ENOMEM, "out of memory (keeping every chunk)");
    if (w->keep_words && w->words.size == w->words.alloc &&
        hg_array_reserve(w->words, w->words.size + 1) != 0)
        return hg_fail(HG_ENOMEM, "out of memory (keeping every chunk)");
    w->chunks.ptr[w->chunks.size++] = (hg_chunk){addr, size, usable, arena, state};
    if (w->keep_words)
        w->words.ptr[w->words.size++] = first;
    return 0;
}

static inline int hist_add(struct walk *w, struct arena *a, int ai, int state, uint64_t size)
{
    if (size / 16 < HIST_SLOTS && a->hist) {
        a->hist[state][size / 16]++;
        return 0;
    }
    uint64_t usable = state == HG_STATE_INUSE ? size - SIZE_SZ : 0;
    return hg_snapshot_add(w->s, ai, state, size, 1, usable);
}

static inline void count_inuse(struct walk *w, int ai, uint64_t size)
{
    struct arena *a = &w->arenas.ptr[ai];
    a->tot.inuse_objects++;
    a->tot.inuse_bytes += size - SIZE_SZ; /* malloc_usable_size of a heap chunk */
    a->inuse_chunk_bytes += size;
    hist_add(w, a, ai, HG_STATE_INUSE, size);
}

/* ------------------------------------------------------ each file's work */

/* Not exported from libheapgrab.so: these are the walk's own, and a
 * program loading the library must not be able to stand in for them. */
#pragma GCC visibility push(hidden)

/* residency.c */
int sample_residency(struct walk *w);
/* Pages wholly inside [lo, hi) that were not resident at the stop. */
uint64_t nonresident_bytes(struct walk *w, uint64_t lo, uint64_t hi);
int heap_resident(struct walk *w);

/* arenas.c: the arena ring from main_arena, and every arena's heaps */
int find_arenas(struct walk *w);

/* walk.c: the fastbin, bin and tcache lists and what they settle */
int walk_lists(struct walk *w);

/* tcache.c */
int read_threads(struct walk *w, struct tcache_copy **out);
void walk_tcache(struct walk *w, size_t ti, const struct tcache_copy *tc);
uint64_t tc_entries(const struct walk *w, const unsigned char *raw, unsigned i);
int tcache_absent(struct walk *w, uint64_t v);
int tcache_chunk(struct walk *w, uint64_t ptr);

/* tls.c */
int find_tcache_slot(struct walk *w);
void find_thread_arena_slot(struct walk *w);

/* heap.c */
int walk_heap(struct walk *w, int ai, const struct heap *h);

/* freelists.c */
void walk_fastbins(struct walk *w, int ai);
void walk_bins(struct walk *w, int ai);
void find_bad_bk(struct walk *w);
void settle(struct walk *w);

/* mmapped.c */
int scan_mmapped(struct walk *w);

/* results.c */
void settle_chunks(struct walk *w);
int finish(struct walk *w);

#pragma GCC visibility pop

#endif
