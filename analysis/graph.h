/*
 * graph.h -- the points-to graph of the holders analysis, in compressed
 * sparse rows (CSR): who points at whom.
 *
 * Nodes: 0..n-1 are the objects of an hg_objects index (same numbers);
 * n..n+R-1 the roots (a global, a stack frame, a thread's registers, a TLS
 * block, a mapping: here only numbers, the caller names them); n+R the
 * virtual super-root, whose edges go to every root, so that one traversal
 * from it sees everything the program can reach.
 *
 * Edges: an edge v -> w means some aligned word of v holds an address inside
 * object w's usable bytes.  It is stored as w, with the top bit set when the
 * word pointed past w's start (an interior pointer: LeakSanitizer counts it,
 * Valgrind calls what only such pointers reach "possibly lost").  Hence at
 * most 2^31 nodes.  Offsets are uint32: a graph of 2^32 edges or more is
 * refused (HG_ENOMEM, saying so) -- that takes at least 32 GiB of pointers
 * in the target, and 4-byte offsets keep the graph at 4 bytes a node + 4
 * bytes an edge.
 *
 * Built once, in node order, by the scanner:
 *
 *     hg_graph g;
 *     hg_graph_init(&g, &objects, nroots);
 *     hg_graph_begin(&g, v);                    // v ascending; skipped nodes have no edges
 *     hg_graph_scan(&g, addr, bytes, len);      // v's memory, any number of pieces
 *     hg_graph_add(&g, w, interior);            // or edges one by one
 *     hg_graph_scan_objects(&g, first, count, addr, window, len);  // many objects
 *     ...
 *     hg_graph_finish(&g);                      // adds the super-root's edges
 *     for (e = g.off[v]; e < g.off[v + 1]; e++) HG_EDGE_NODE(g.dst[e]) ...
 *
 * A pointer from an object into itself is not an edge (LeakSanitizer's rule:
 * a chunk holding only its own address is still a direct leak; dominators
 * do not change).  A node's repeated pointers to one object are merged into
 * one edge (a start edge if any of them pointed at the start) when the
 * earlier edge is still in a 64-slot table of the node's recent edges, by
 * target: an array of a million pointers to a few objects is a few edges,
 * at one compare a word.  Repeats the table has forgotten stay: they
 * change no answer.
 */
#ifndef HG_ANALYSIS_GRAPH_H
#define HG_ANALYSIS_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "analysis/objects.h"

#define HG_EDGE_INTERIOR 0x80000000u
#define HG_EDGE_NODE(e) ((e) & ~HG_EDGE_INTERIOR)
#define HG_NO_NODE UINT32_MAX
#define HG_GRAPH_RECENT 64

typedef struct hg_graph {
    const hg_objects *objects;
    uint32_t nobjects, nroots;
    uint32_t nnodes;  /* nobjects + nroots + 1; the super-root is nnodes - 1 */
    uint32_t *off;    /* nnodes + 1: node v's edges are dst[off[v] .. off[v+1]) */
    uint32_t *dst;    /* target node | HG_EDGE_INTERIOR */
    uint64_t nedges;
    size_t dst_alloc;
    uint32_t cur;     /* the node being filled; HG_NO_NODE before the first */
    uint32_t recent[HG_GRAPH_RECENT]; /* places of recent edges, by target hash */
    int finished;
} hg_graph;

static inline uint32_t hg_graph_root(const hg_graph *g, uint32_t r)
{
    return g->nobjects + r;
}

static inline uint32_t hg_graph_super(const hg_graph *g)
{
    return g->nnodes - 1;
}

/* An empty graph over objects (finished) with nroots roots.  HG_EUSAGE
 * when objects + roots + 1 exceed 2^31, HG_ENOMEM. */
int hg_graph_init(hg_graph *g, const hg_objects *objects, uint32_t nroots);
/* Start node v's edges: v above every node begun before, below the
 * super-root.  HG_EUSAGE otherwise. */
int hg_graph_begin(hg_graph *g, uint32_t v);
/* An edge from the current node to object w. */
int hg_graph_add(hg_graph *g, uint32_t w, int interior);
/* The edges of len bytes of memory that lie at addr in the target: each
 * 8-byte word at an 8-byte-aligned address of the target that points into
 * an object (words cut by the ends of the piece are not seen: give whole
 * words).  bytes needs no alignment of its own. */
int hg_graph_scan(hg_graph *g, uint64_t addr, const void *bytes, size_t len);
/* The same for count whole objects from first on, each begun in turn
 * (first above every node begun before), all lying in the len bytes at addr
 * in the target: a window of the heap as the scanner reads it.  Faster
 * than a call per object: the lookups of words from many objects are
 * batched.  HG_EUSAGE when an object is not wholly in the window. */
int hg_graph_scan_objects(hg_graph *g, uint32_t first, uint32_t count, uint64_t addr,
                          const void *bytes, size_t len);
/* Close the last node, add the super-root's edges to every root, give
 * back unused room. */
int hg_graph_finish(hg_graph *g);
void hg_graph_free(hg_graph *g);

/* Bytes held (for the memory accounting). */
uint64_t hg_graph_memory(const hg_graph *g);

#endif
