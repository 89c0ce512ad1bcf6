/*
 * residency.c -- which pages of the heaps were resident at the stop.
 *
 * Sampled right after the stop, before any bulk read: reading a released
 * page maps the zero page there, after which the kernel calls it present.
 * From the sample come the holes the window does not read (hole_run), the
 * idle bytes released to the kernel (released_bytes) and the heaps'
 * resident bytes.  A core carries no residency: none of this happens.
 */
#include <stdlib.h>
#include <string.h>

#include "walker/walk_internal.h"

static int resid_cmp(const void *a, const void *b)
{
    const struct resid *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static uint64_t hole_run(void *ctx, uint64_t addr, uint64_t end, int *hole);

/* Residency of every mapping a heap or an mmapped chunk can live in. */
int sample_residency(struct walk *w)
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

uint64_t nonresident_bytes(struct walk *w, uint64_t lo, uint64_t hi)
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

/* The heaps' pages resident at the stop, whole pages from each heap's
 * base (heap_info and arena headers included). */
int heap_resident(struct walk *w)
{
    if (!w->have_pagemap)
        return 0;
    for (size_t i = 0; i < w->arenas.size; i++)
        for (size_t h = 0; h < w->arenas.ptr[i].heaps.size; h++) {
            const struct heap *hp = &w->arenas.ptr[i].heaps.ptr[h];
            uint64_t lo = hp->base & ~(uint64_t)(PAGE - 1);
            uint64_t hi = (hp->end + PAGE - 1) & ~(uint64_t)(PAGE - 1);
            w->s->heap_resident_bytes += (hi - lo) - nonresident_bytes(w, lo, hi);
        }
    return 0;
}
