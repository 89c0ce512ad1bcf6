/* chunkmap.c -- see chunkmap.h. */
#include <stdlib.h>
#include <string.h>

#include "walker/chunkmap.h"

#define PAGE_SHIFT 12

void cm_init(chunkmap *cm) { memset(cm, 0, sizeof *cm); }

void cm_free(chunkmap *cm)
{
    for (size_t i = 0; i < cm->nr; i++)
        free(cm->r[i].dir);
    free(cm->r);
    free(cm->e);
    memset(cm, 0, sizeof *cm);
}

int cm_region_begin(chunkmap *cm, uint64_t start, uint64_t end, int arena)
{
    cm_region *nr = realloc(cm->r, (cm->nr + 1) * sizeof *nr);
    if (!nr)
        return -1;
    cm->r = nr;
    cm_region *r = &cm->r[cm->nr++];
    memset(r, 0, sizeof *r);
    r->start = start;
    r->end = end;
    r->first = cm->n;
    r->arena = arena;
    cm->open = 1;
    return 0;
}

int cm_add(chunkmap *cm, uint64_t addr, int state, uint64_t val)
{
    if (cm->n == cm->cap) {
        /* Large reallocs are mremap()ed by glibc: growing costs no copy. */
        size_t cap = cm->cap ? cm->cap * 2 : 1 << 16;
        cm_entry *ne = realloc(cm->e, cap * sizeof *ne);
        if (!ne)
            return -1;
        cm->e = ne;
        cm->cap = cap;
    }
    cm->e[cm->n].key = addr | (uint64_t)state;
    cm->e[cm->n].val = val;
    cm->n++;
    return 0;
}

int cm_region_end(chunkmap *cm)
{
    cm_region *r = &cm->r[cm->nr - 1];
    cm->open = 0;
    r->count = cm->n - r->first;
    size_t npages = (size_t)((r->end - r->start + (1u << PAGE_SHIFT) - 1) >> PAGE_SHIFT);
    r->dir = malloc((npages + 1) * sizeof *r->dir);
    if (!r->dir)
        return -1;
    size_t j = 0;
    for (size_t pg = 0; pg <= npages; pg++) {
        uint64_t page_start = r->start + ((uint64_t)pg << PAGE_SHIFT);
        while (j < r->count && CM_ADDR(&cm->e[r->first + j]) < page_start)
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
    if (cm->nr > 1)
        qsort(cm->r, cm->nr, sizeof *cm->r, region_cmp);
}

static const cm_region *region_of(const chunkmap *cm, uint64_t addr)
{
    size_t lo = 0, hi = cm->nr;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr < cm->r[mid].start)
            hi = mid;
        else if (addr >= cm->r[mid].end)
            lo = mid + 1;
        else
            return &cm->r[mid];
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
    cm_entry *base = cm->e + r->first;
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
