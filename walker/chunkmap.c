/* chunkmap.c -- see chunkmap.h. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "walker/chunkmap.h"

#define PAGE_SHIFT 12

void cm_init(chunkmap *cm) { memset(cm, 0, sizeof *cm); }

void cm_free(chunkmap *cm)
{
    for (size_t i = 0; i < cm->r.size; i++)
        free(cm->r.ptr[i].dir);
    hg_array_clear(cm->r);
    if (cm->mapped)
        munmap(cm->e.ptr, cm->mapped);
    else
        hg_array_clear(cm->e);
    memset(cm, 0, sizeof *cm);
}

/* Room for the entries of heaps of heap_bytes in all, reserved at once:
 * a chunk of MINSIZE (32 bytes) at most each, 16 bytes an entry.  Only
 * the pages filled cost memory, on huge pages where the kernel offers
 * them: growing by realloc faulted in one 4 KiB page at a time, 16,000
 * faults for bench/bigheap's 4.1 million entries, each a trap to the host
 * on a PVM guest.  Without the reservation (out of address space, or a
 * heap below 64 MiB, where a huge page zeroed for a few entries would cost
 * more than it saves) the array grows as before. */
void cm_reserve(chunkmap *cm, uint64_t heap_bytes)
{
    if (cm->e.ptr || heap_bytes < (64u << 20) || heap_bytes > (1ull << 46))
        return;
    size_t len = (size_t)(heap_bytes / 32 * sizeof(cm_entry));
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE);
#endif
    cm->e.ptr = p;
    cm->e.alloc = len / sizeof(cm_entry);
    cm->mapped = len;
}

int cm_region_begin(chunkmap *cm, uint64_t start, uint64_t end, int arena)
{
    cm_region *r = hg_array_push(cm->r);
    if (!r)
        return -1;
    memset(r, 0, sizeof *r);
    r->start = start;
    r->end = end;
    r->first = cm->e.size;
    r->arena = arena;
    cm->open = 1;
    return 0;
}

int cm_add(chunkmap *cm, uint64_t addr, int state, uint64_t val)
{
    /* Room is looked at here, not in a call per entry: this runs for most
     * chunks of the heap.  Large reallocs are mremap()ed by glibc: growing
     * costs no copy. */
    if (cm->e.size == cm->e.alloc) {
        if (cm->mapped) {
            /* the reservation was too small after all: move to the heap */
            cm_entry *p = malloc(2 * cm->e.alloc * sizeof *p);
            if (!p)
                return -1;
            memcpy(p, cm->e.ptr, cm->e.size * sizeof *p);
            munmap(cm->e.ptr, cm->mapped);
            cm->mapped = 0;
            cm->e.ptr = p;
            cm->e.alloc *= 2;
        } else if (hg_array_reserve(cm->e, cm->e.size < (1u << 16) ? 1u << 16
                                                                   : cm->e.size + 1) != 0) {
            return -1;
        }
    }
    cm->e.ptr[cm->e.size].key = addr | (uint64_t)state;
    cm->e.ptr[cm->e.size].val = val;
    cm->e.size++;
    return 0;
}

int cm_region_end(chunkmap *cm)
{
    cm_region *r = &cm->r.ptr[cm->r.size - 1];
    cm->open = 0;
    r->count = cm->e.size - r->first;
    size_t npages = (size_t)((r->end - r->start + (1u << PAGE_SHIFT) - 1) >> PAGE_SHIFT);
    r->dir = malloc((npages + 1) * sizeof *r->dir);
    if (!r->dir)
        return -1;
    size_t j = 0;
    for (size_t pg = 0; pg <= npages; pg++) {
        uint64_t page_start = r->start + ((uint64_t)pg << PAGE_SHIFT);
        while (j < r->count && CM_ADDR(&cm->e.ptr[r->first + j]) < page_start)
            j++;
        r->dir[pg] = (uint32_t)j;
    }
    return 0;
}

static int region_cmp(const void *a, const void *b)
{
    const cm_region *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

void cm_finish(chunkmap *cm)
{
    if (cm->r.size > 1)
        qsort(cm->r.ptr, cm->r.size, sizeof *cm->r.ptr, region_cmp);
}

static const cm_region *region_of(const chunkmap *cm, uint64_t addr)
{
    size_t lo = 0, hi = cm->r.size;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr < cm->r.ptr[mid].start)
            hi = mid;
        else if (addr >= cm->r.ptr[mid].end)
            lo = mid + 1;
        else
            return &cm->r.ptr[mid];
    }
    return NULL;
}

int cm_arena_of(const chunkmap *cm, uint64_t addr)
{
    const cm_region *r = region_of(cm, addr);
    return r ? r->arena : -1;
}

cm_entry *cm_find(const chunkmap *cm, uint64_t addr, int *arena)
{
    const cm_region *r = region_of(cm, addr);
    if (arena)
        *arena = r ? r->arena : -1;
    if (!r || !r->dir || (addr & 15))
        return NULL;
    size_t pg = (size_t)((addr - r->start) >> PAGE_SHIFT);
    size_t lo = r->dir[pg], hi = r->dir[pg + 1];
    cm_entry *base = cm->e.ptr + r->first;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t a = CM_ADDR(&base[mid]);
        if (a == addr)
            return &base[mid];
        if (a < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
