/*
 * graph.c -- building the points-to graph (graph.h) in one pass, node by
 * node, the way the scanner reads the target: edges are appended to one
 * growing array and each node's first edge is recorded in off[].
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/graph.h"
#include "heapgrab.h"
#include "lib/array.h"
#include "lib/error.h"

int hg_graph_init(hg_graph *g, const hg_objects *objects, uint32_t nroots)
{
    memset(g, 0, sizeof *g);
    g->cur = HG_NO_NODE;
    if (!objects->finished)
        return hg_fail(HG_EUSAGE, "the object index is not built");
    uint64_t nnodes = (uint64_t)objects->n + nroots + 1;
    if (nnodes > (uint64_t)HG_EDGE_INTERIOR)
        return hg_fail(HG_EUSAGE, "%" PRIu32 " objects and %" PRIu32 " roots: at most 2^31 nodes in all",
                       objects->n, nroots);
    g->objects = objects;
    g->nobjects = objects->n;
    g->nroots = nroots;
    g->nnodes = (uint32_t)nnodes;
    g->off = calloc(nnodes + 1, sizeof *g->off);
    if (g->off)
        hg_advise_huge(g->off, (nnodes + 1) * sizeof *g->off);
    if (!g->off)
        return hg_fail(HG_ENOMEM, "out of memory for a graph of %" PRIu64 " nodes", nnodes);
    return 0;
}

void hg_graph_free(hg_graph *g)
{
    free(g->off);
    free(g->dst);
    memset(g, 0, sizeof *g);
    g->cur = HG_NO_NODE;
}

/* The nodes after the current one up to v have their edges from here on. */
static void open_to(hg_graph *g, uint32_t v)
{
    uint32_t from = g->cur == HG_NO_NODE ? 0 : g->cur + 1;
    for (uint32_t x = from; x <= v; x++)
        g->off[x] = (uint32_t)g->nedges;
    g->cur = v;
}

int hg_graph_begin(hg_graph *g, uint32_t v)
{
    if (g->finished || v >= hg_graph_super(g) || (g->cur != HG_NO_NODE && v <= g->cur))
        return hg_fail(HG_EUSAGE, "graph node %" PRIu32 " begun out of order (after %" PRIu32
                       ", %" PRIu32 " nodes)", v, g->cur, g->nnodes);
    open_to(g, v);
    return 0;
}

static int push_edge(hg_graph *g, uint32_t e)
{
    if (g->nedges == g->dst_alloc) {
        /* offsets are uint32: the last one, the edge count, must fit */
        if (g->nedges >= UINT32_MAX)
            return hg_fail(HG_ENOMEM, "more than %" PRIu32 " pointers between objects: more than "
                           "heapgrab's graph can count", UINT32_MAX);
        if (g->dst_alloc >= UINT32_MAX / 2) {
            uint32_t *d = realloc(g->dst, (size_t)UINT32_MAX * sizeof *d);
            if (!d)
                return hg_fail(HG_ENOMEM, "out of memory for %" PRIu64 " pointers between objects",
                               g->nedges + 1);
            g->dst = d;
            g->dst_alloc = UINT32_MAX;
        } else if (hg_array_reserve_((void **)&g->dst, &g->dst_alloc, sizeof *g->dst, g->nedges + 1) != 0)
            return hg_fail(HG_ENOMEM, "out of memory for %" PRIu64 " pointers between objects",
                           g->nedges + 1);
    }
    g->dst[g->nedges++] = e;
    return 0;
}

/* w is a node other than the current one. */
static inline int add_edge(hg_graph *g, uint32_t w, int interior)
{
    /* The current node's edge to w, if it is among those it added
     * recently: a slot of the small table holds the place of the last
     * edge to a target of that hash.  A slot left from an earlier node
     * points below off[cur]; the target read back confirms it. */
    uint32_t slot = w & (HG_GRAPH_RECENT - 1), e = g->recent[slot];
    if (e >= g->off[g->cur] && e < g->nedges && HG_EDGE_NODE(g->dst[e]) == w) {
        if (!interior)
            g->dst[e] = w; /* a pointer to the start makes the edge a start edge */
        return 0;
    }
    g->recent[slot] = (uint32_t)g->nedges;
    return push_edge(g, interior ? w | HG_EDGE_INTERIOR : w);
}

int hg_graph_add(hg_graph *g, uint32_t w, int interior)
{
    if (g->cur == HG_NO_NODE || g->finished || w >= g->nobjects)
        return hg_fail(HG_EUSAGE, "graph edge to %" PRIu32 " outside a node or the objects", w);
    if (w == g->cur)
        return 0;
    return add_edge(g, w, interior);
}

/* Words that may point into an object, waiting to be looked up together
 * (see hg_objects_find_batch), with the node each was read from. */
struct batch {
    size_t k;
    uint64_t word[HG_OBJECTS_BATCH];
    uint32_t node[HG_OBJECTS_BATCH];
    uint32_t obj[HG_OBJECTS_BATCH];
    uint8_t interior[HG_OBJECTS_BATCH];
};

/* Look the batch up and add its edges in the words' order, opening each
 * node as its first word comes. */
static int flush(hg_graph *g, struct batch *b)
{
    hg_objects_find_batch(g->objects, b->word, b->k, b->obj, b->interior);
    for (size_t j = 0; j < b->k; j++) {
        uint32_t v = b->node[j], t = b->obj[j];
        if (t == HG_NO_OBJECT || t == v)
            continue;
        if (v != g->cur)
            open_to(g, v);
        int rc = add_edge(g, t, b->interior[j]);
        if (rc)
            return rc;
    }
    b->k = 0;
    return 0;
}

/* Queue the words of len bytes at addr (target address) read by node v. */
static int scan_words(hg_graph *g, struct batch *b, uint32_t v, uint64_t addr,
                      const unsigned char *bytes, size_t len)
{
    /* the first word at an aligned address of the target */
    size_t skip = (size_t)(-addr & 7);
    if (skip >= len)
        return 0;
    const unsigned char *p = bytes + skip;
    size_t words = (len - skip) / 8;
    const uint64_t lo = g->objects->lo, span = g->objects->span;
    for (size_t i = 0; i < words; i++) {
        uint64_t w;
        memcpy(&w, p + i * 8, sizeof w);
        if (w - lo >= span) /* most words: not into any object */
            continue;
        b->word[b->k] = w;
        b->node[b->k++] = v;
        if (b->k == HG_OBJECTS_BATCH) {
            int rc = flush(g, b);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int hg_graph_scan(hg_graph *g, uint64_t addr, const void *bytes, size_t len)
{
    if (g->cur == HG_NO_NODE || g->finished)
        return hg_fail(HG_EUSAGE, "memory scanned outside a graph node");
    struct batch b;
    b.k = 0;
    int rc = scan_words(g, &b, g->cur, addr, bytes, len);
    return rc ? rc : flush(g, &b);
}

int hg_graph_scan_objects(hg_graph *g, uint32_t first, uint32_t count, uint64_t addr,
                          const void *bytes, size_t len)
{
    const hg_objects *o = g->objects;
    if (g->finished || (g->cur != HG_NO_NODE && first <= g->cur) || first > g->nobjects ||
        count > g->nobjects - first)
        return hg_fail(HG_EUSAGE, "objects %" PRIu32 "+%" PRIu32 " scanned out of order (after %"
                       PRIu32 ", %" PRIu32 " objects)", first, count, g->cur, g->nobjects);
    if (count == 0)
        return 0;
    uint32_t last = first + count - 1;
    uint64_t lo = o->start[first], hi = o->start[last] + hg_objects_size(o, last);
    if (lo < addr || hi - addr > len)
        return hg_fail(HG_EUSAGE, "objects 0x%" PRIx64 "..0x%" PRIx64 " are not all in the memory "
                       "given (0x%" PRIx64 ", %zu bytes)", lo, hi, addr, len);
    /* Edges come out in node order: each node is opened by its first
     * word found, the last one at the end (nodes with no edges get empty
     * lists on the way). */
    struct batch b;
    b.k = 0;
    for (uint32_t v = first; v <= last; v++) {
        uint64_t s = o->start[v];
        int rc = scan_words(g, &b, v, s, (const unsigned char *)bytes + (s - addr),
                            hg_objects_size(o, v));
        if (rc)
            return rc;
    }
    int rc = flush(g, &b);
    if (rc)
        return rc;
    if (g->cur == HG_NO_NODE || g->cur < last)
        open_to(g, last);
    return 0;
}

int hg_graph_finish(hg_graph *g)
{
    if (g->finished)
        return 0;
    uint32_t super = hg_graph_super(g);
    open_to(g, super);
    for (uint32_t r = 0; r < g->nroots; r++) {
        int rc = push_edge(g, hg_graph_root(g, r));
        if (rc)
            return rc;
    }
    g->off[g->nnodes] = (uint32_t)g->nedges;
    if (g->nedges < g->dst_alloc) {
        uint32_t *d = realloc(g->dst, (g->nedges ? g->nedges : 1) * sizeof *d);
        if (d) {
            g->dst = d;
            g->dst_alloc = g->nedges ? g->nedges : 1;
        }
    }
    g->finished = 1;
    return 0;
}

uint64_t hg_graph_memory(const hg_graph *g)
{
    return ((uint64_t)g->nnodes + 1) * sizeof *g->off + (uint64_t)g->dst_alloc * sizeof *g->dst;
}
