/*
 * leaks.c -- the four classes of leaks.h, in three sweeps over the graph:
 *
 *   1. from the roots along start pointers only: reachable;
 *   2. from the roots and everything reachable, along interior pointers
 *      too: what this adds is possibly;
 *   3. every edge out of a leaked object makes its target (if leaked and
 *      not the object itself, which the graph never records) indirect; the
 *      leaked objects left are direct.
 *
 * The class array is the visited mark of the first two sweeps; each sweep
 * is a stack of objects, each object pushed once.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/leaks.h"
#include "heapgrab.h"
#include "lib/array.h"
#include "lib/error.h"

/* not yet seen: becomes direct when no sweep reaches it */
#define UNSEEN HG_LEAK_DIRECT

void hg_leaks_free(hg_leaks *l)
{
    free(l->class_of);
    memset(l, 0, sizeof *l);
}

typedef hg_array(uint32_t) stack_t_;

/* Mark w as cls and push it, if it is an object not yet seen. */
static int visit(uint8_t *cls, stack_t_ *st, const hg_graph *g, uint32_t w, uint8_t c)
{
    if (w >= g->nobjects || cls[w] != UNSEEN)
        return 0;
    cls[w] = c;
    uint32_t *top = hg_array_push(*st);
    if (!top)
        return -1;
    *top = w;
    return 0;
}

/* Follow the edges (all, or start pointers only) of everything on the
 * stack, marking what is found as c. */
static int sweep(uint8_t *cls, stack_t_ *st, const hg_graph *g, int all, uint8_t c)
{
    while (st->size) {
        uint32_t v = st->ptr[--st->size];
        for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++)
            if ((all || !(g->dst[e] & HG_EDGE_INTERIOR)) &&
                visit(cls, st, g, HG_EDGE_NODE(g->dst[e]), c) != 0)
                return -1;
    }
    return 0;
}

int hg_leaks_classify(const hg_graph *g, hg_leaks *l)
{
    memset(l, 0, sizeof *l);
    if (!g->finished)
        return hg_fail(HG_EUSAGE, "leaks in a graph not finished");
    uint32_t n = g->nobjects;
    uint8_t *cls = malloc(n ? n : 1);
    stack_t_ st = HG_ARRAY_INIT;
    if (!cls)
        goto nomem;
    memset(cls, UNSEEN, n);

    /* 1. reachable: from the roots, start pointers only */
    for (uint32_t r = 0; r < g->nroots; r++) {
        uint32_t v = hg_graph_root(g, r);
        for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++)
            if (!(g->dst[e] & HG_EDGE_INTERIOR) &&
                visit(cls, &st, g, HG_EDGE_NODE(g->dst[e]), HG_LEAK_REACHABLE) != 0)
                goto nomem;
        if (sweep(cls, &st, g, 0, HG_LEAK_REACHABLE) != 0)
            goto nomem;
    }

    /* 2. possibly: what interior pointers from the roots or from
     * reachable objects add */
    for (uint32_t v = 0; v < g->nnodes - 1; v++) {
        if (v < n && cls[v] != HG_LEAK_REACHABLE)
            continue;
        for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++)
            if ((g->dst[e] & HG_EDGE_INTERIOR) &&
                visit(cls, &st, g, HG_EDGE_NODE(g->dst[e]), HG_LEAK_POSSIBLY) != 0)
                goto nomem;
        if (sweep(cls, &st, g, 1, HG_LEAK_POSSIBLY) != 0)
            goto nomem;
    }
    hg_array_clear(st);

    /* 3. leaked objects pointed at by leaked objects are indirect */
    for (uint32_t v = 0; v < n; v++) {
        if (cls[v] < HG_LEAK_DIRECT)
            continue;
        for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++) {
            uint32_t w = HG_EDGE_NODE(g->dst[e]);
            if (w < n && cls[w] >= HG_LEAK_DIRECT)
                cls[w] = HG_LEAK_INDIRECT;
        }
    }

    for (uint32_t v = 0; v < n; v++) {
        l->total[cls[v]].objects++;
        l->total[cls[v]].bytes += hg_objects_size(g->objects, v);
    }
    l->class_of = cls;
    return 0;

nomem:
    free(cls);
    hg_array_clear(st);
    return hg_fail(HG_ENOMEM, "out of memory classifying %" PRIu32 " objects", n);
}
