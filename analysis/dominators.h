/*
 * dominators.h -- who keeps what alive: the dominator tree of the
 * points-to graph (graph.h), retained sizes, and what one root reaches.
 *
 * Node d dominates object w when every path from the super-root to w goes
 * through d: if d let go of its pointers, w would be freed.  The immediate
 * dominator idom(w) is the closest such d.  An object whose idom is the
 * super-root is held by several roots at once and by no single one.  The
 * retained size of d is its subtree in that tree: what freeing d (or a
 * root dropping its pointers) would free.
 *
 * The algorithm is semi-NCA (Georgiadis, Werneck and Tarjan's variant of
 * Lengauer-Tarjan): a depth-first search
 * from the super-root, semidominators computed in reverse preorder over the
 * predecessors with a path-compressed forest (Lengauer and Tarjan's first
 * half), then each immediate dominator as the nearest common ancestor of a
 * node's DFS parent and semidominator in the tree built so far.  Nothing is
 * recursive (a 10-million-object list is a 10-million-deep DFS) and every
 * step is bounded: O(E log N) for the semidominators (compression without
 * balancing), O(N log N) for the ancestors, whose walk up the tree takes
 * skew-binary jump pointers so that a long chain under many shared objects
 * does not make it quadratic.
 *
 * Memory, at its peak (building the semidominators), with n nodes reached
 * and E edges among them: 4 bytes a node for the predecessors' offsets and 4
 * an edge for the predecessors, and 4 arrays of 4 bytes a reached node
 * (preorder -> node, DFS parent, forest ancestor, path label): 20n + 4E on
 * top of the graph itself.  The semidominator of a node is kept in the
 * first slot of its own predecessor list, which is read once and then free.
 * What is kept: idom (4 bytes a node) and order (4 a reached node).
 *
 * The whole pipeline, per object, for a heap of small objects with E = 1.3
 * edges an object (bench/dominators.c measures it):
 *
 *   object index    12 + 4 a 4 KiB page           ~12.1  kept
 *   graph           4 a node + 4 an edge           ~9.2  kept
 *   leak classes    1 (a stack of <= 4 while sorting) 1  kept
 *   dominators      20 + 4 an edge, while running ~25.2  then idom + order: 8
 *   retained sizes  16                              16   kept
 *   reach           1 bit + a stack of <= 4, while running
 *
 * so at most ~47.5 bytes an object while the dominators run and ~46.4 after
 * (plus the stack of a reach), for a graph the forward edges of which stay
 * for the reach of the roots the caller picks by retained size.
 */
#ifndef HG_ANALYSIS_DOMINATORS_H
#define HG_ANALYSIS_DOMINATORS_H

#include <stddef.h>
#include <stdint.h>

#include "analysis/graph.h"

typedef struct hg_domtree {
    uint32_t nnodes;
    /* node -> its immediate dominator; HG_NO_NODE when the super-root does
     * not reach it (a leak); the super-root is its own */
    uint32_t *idom;
    /* the nodes reached, in DFS preorder (order[0] is the super-root):
     * every node comes after its dominators */
    uint32_t *order;
    uint32_t nreached;
} hg_domtree;

/* The dominator tree of a finished graph.  0, HG_EUSAGE (not finished) or
 * HG_ENOMEM. */
int hg_dominators(const hg_graph *g, hg_domtree *d);
void hg_domtree_free(hg_domtree *d);

/* Per node: objects and usable bytes of its dominator subtree, itself
 * included (a root or the super-root counts only what it holds; a node
 * not reached holds nothing). */
typedef struct hg_retained {
    uint64_t *objects;
    uint64_t *bytes;
} hg_retained;

/* Summed over the tree in reverse preorder.  0, HG_EUSAGE (d is not g's
 * tree) or HG_ENOMEM. */
int hg_retained_sizes(const hg_graph *g, const hg_domtree *d, hg_retained *r);
void hg_retained_free(hg_retained *r);

/* What one node reaches, itself included if it is an object. */
typedef struct hg_reach {
    uint64_t objects;
    uint64_t bytes;
} hg_reach;

/* For each of the n nodes in which (roots, usually; any node will do):
 * everything reachable from it alone, shared or not, into out[i].  One
 * traversal per node, O(what it reaches + N/64 to clear the bitmap), with
 * one visited bitmap for all.  0, HG_EUSAGE for a node out of range or a
 * graph not finished, HG_ENOMEM. */
int hg_reach_from(const hg_graph *g, const uint32_t *which, size_t n, hg_reach *out);

#endif
