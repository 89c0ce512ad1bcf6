/*
 * arenas.c -- the arenas and their heaps, read at the stop: the ring of
 * malloc_states from main_arena, the main arena's one heap from
 * sbrk_base, and each thread arena's chain of heap_info.  Each heap
 * becomes a [begin, end) for heap.c to walk; every pointer followed is
 * checked against the mappings first, and a bad one ends its chain with a
 * problem, never the snapshot (unless it is main_arena itself).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "walker/walk_internal.h"

/* [addr, addr + len) lies in one run of mappings (hg_mapping_run_end). */
static int in_mapping(struct walk *w, uint64_t addr, uint64_t len)
{
    if (!w->t->nmaps)
        return 1;
    uint64_t end = hg_mapping_run_end(w->t, addr);
    return end && addr + len <= end && addr + len >= addr;
}

static int read_arena(struct walk *w, uint64_t addr, struct arena *a)
{
    const hg_layout *L = w->L;
    a->addr = addr;
    a->raw = malloc(L->state_size);
    if (!a->raw)
        return hg_fail(HG_ENOMEM, "out of memory");
    if (!in_mapping(w, addr, L->state_size) || hg_read_exact(w->t, addr, a->raw, L->state_size))
        return hg_fail_wrap(HG_ENOTFOUND, "arena at 0x%" PRIx64 " is not readable", addr);
    a->top = rd64(a->raw, L->st_top);
    a->system_mem = rd64(a->raw, L->st_system_mem);
    uint32_t mutex;
    memcpy(&mutex, a->raw + L->st_mutex, sizeof mutex);
    a->mutex_held = mutex != 0;
    return 0;
}

static int add_heap(struct arena *a, uint64_t base, uint64_t begin, uint64_t end)
{
    struct heap *h = hg_array_push(a->heaps);
    if (!h)
        return hg_fail(HG_ENOMEM, "out of memory");
    *h = (struct heap){base, begin, end};
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
        for (size_t k = 0; k < a->heaps.size; k++)
            if (a->heaps.ptr[k].base == h)
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

/* The ring of arenas from main_arena (the first, index 0) by their next
 * pointers, then each one's heaps. */
int find_arenas(struct walk *w)
{
    uint64_t addr = w->loc.main_arena;
    for (;;) {
        if (w->arenas.size == MAX_ARENAS)
            return problem(w, -1, addr, "arena ring longer than %d: stopped following it", MAX_ARENAS);
        /* room for one more, counted once it is read */
        if (hg_array_reserve(w->arenas, w->arenas.size + 1) != 0)
            return hg_fail(HG_ENOMEM, "out of memory");
        struct arena *a = &w->arenas.ptr[w->arenas.size];
        memset(a, 0, sizeof *a);
        int rc = read_arena(w, addr, a);
        if (rc) {
            free(a->raw);
            if (w->arenas.size == 0)
                return rc;
            problem(w, -1, addr, "arena ring: bad next pointer 0x%" PRIx64, addr);
            break;
        }
        uint64_t top_size;
        if (a->top && hg_read_u64(w->t, a->top + SIZE_SZ, &top_size) == 0)
            a->top_size = top_size & ~(uint64_t)SIZE_BITS;
        w->arenas.size++;
        uint64_t next = rd64(a->raw, w->L->st_next);
        if (next == w->loc.main_arena)
            break;
        int dup = 0;
        for (size_t i = 0; i < w->arenas.size; i++)
            dup |= w->arenas.ptr[i].addr == next;
        if (dup) {
            problem(w, -1, next, "arena ring does not close at main_arena (loops at 0x%" PRIx64 ")", next);
            break;
        }
        addr = next;
    }
    for (size_t i = 0; i < w->arenas.size; i++) {
        struct arena *a = &w->arenas.ptr[i];
        int rc = i == 0 ? main_heaps(w, a) : thread_heaps(w, (int)i, a);
        if (rc < 0)
            return rc;
        a->hist = calloc(HG_STATE_COUNT, sizeof *a->hist);
        if (!a->hist)
            return hg_fail(HG_ENOMEM, "out of memory");
    }
    return 0;
}
