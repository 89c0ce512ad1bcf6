/*
 * dominators.c -- semi-NCA dominators, retained sizes and per-root reach
 * (dominators.h).
 *
 * Everything between the DFS and the output works in preorder numbers
 * (0 = the super-root): a DFS ancestor always has a smaller number than its
 * descendants, and that is what the semidominator step and the ancestor walk
 * compare.  Nodes the DFS does not reach (leaks) get no number and take no
 * memory past the node -> number map, which is freed once the predecessors
 * are built.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/dominators.h"
#include "heapgrab.h"
#include "lib/array.h"
#include "lib/error.h"

void hg_domtree_free(hg_domtree *d)
{
    free(d->idom);
    free(d->order);
    memset(d, 0, sizeof *d);
}

/* The arrays here are one or two entries a node, millions of them, read
 * and written at random: on huge pages (hg_advise_huge). */
static void *big(void *p, size_t len)
{
    if (p)
        hg_advise_huge(p, len);
    return p;
}

static uint32_t *alloc_u32(size_t n)
{
    return big(malloc((n ? n : 1) * sizeof(uint32_t)), n * sizeof(uint32_t));
}

/* Shrink an array to n entries (keeping it if realloc cannot). */
static uint32_t *shrink_u32(uint32_t *p, size_t n)
{
    uint32_t *q = realloc(p, (n ? n : 1) * sizeof *p);
    return q ? q : p;
}

/*
 * The smallest label on the forest path from v up to, not including, its
 * first ancestor numbered w or less (v > w), compressing the path so that
 * each node on it then points at that ancestor.  A path can be millions of
 * nodes long, so instead of a stack the walk up reverses the ancestor
 * pointers and the walk back down restores them, pointed at the top.
 * label[x] is always the smallest semidominator on the path from x up to,
 * not including, ancestor[x].
 */
static uint32_t eval(uint32_t *ancestor, uint32_t *label, uint32_t v, uint32_t w)
{
    if (ancestor[v] <= w)
        return label[v];
    uint32_t below = HG_NO_NODE, x = v;
    while (ancestor[x] > w) {
        uint32_t up = ancestor[x];
        ancestor[x] = below;
        below = x;
        x = up;
    }
    /* x: the highest node above w; its ancestor is the top of the path */
    uint32_t top = ancestor[x], above = x;
    while (below != HG_NO_NODE) {
        uint32_t next = ancestor[below];
        if (label[above] < label[below])
            label[below] = label[above];
        ancestor[below] = top;
        above = below;
        below = next;
    }
    return label[v];
}

int hg_dominators(const hg_graph *g, hg_domtree *d)
{
    memset(d, 0, sizeof *d);
    if (!g->finished)
        return hg_fail(HG_EUSAGE, "dominators of a graph not finished");
    const uint32_t N = g->nnodes, S = hg_graph_super(g);
    const uint32_t *off = g->off, *dst = g->dst;
    uint32_t *pre = alloc_u32(N), *vertex = alloc_u32(N), *parent = alloc_u32(N),
             *cursor = alloc_u32(N);
    uint32_t *rev_off = big(calloc((size_t)N + 1, sizeof *rev_off), ((size_t)N + 1) * 4),
             *rev = NULL, *jump = NULL,
             *idom = NULL;
    int rc = 0;
    if (!pre || !vertex || !parent || !cursor || !rev_off)
        goto nomem;
    memset(pre, 0xff, (size_t)N * sizeof *pre);

    /* 1. Depth-first search from the super-root.  The path from the root
     * to the current node is the stack: parent[] leads back up it, and
     * cursor[] keeps each node's place in its edge list.  Each edge out of
     * a node reached is seen here once: its target's number of
     * predecessors is counted on the way (in rev_off[number + 1]). */
    uint32_t nr = 1, p = 0;
    pre[S] = 0;
    vertex[0] = S;
    parent[0] = 0;
    cursor[0] = off[S];
    for (;;) {
        uint32_t v = vertex[p];
        if (cursor[p] < off[v + 1]) {
            uint32_t w = HG_EDGE_NODE(dst[cursor[p]++]), q = pre[w];
            if (q == HG_NO_NODE) {
                q = pre[w] = nr;
                vertex[nr] = w;
                parent[nr] = p;
                cursor[nr] = off[w];
                p = nr++;
            }
            rev_off[q + 1]++;
        } else if (p == 0) {
            break;
        } else {
            p = parent[p];
        }
    }
    vertex = shrink_u32(vertex, nr);
    parent = shrink_u32(parent, nr);
    cursor = shrink_u32(cursor, nr);

    rev_off = shrink_u32(rev_off, (size_t)nr + 1);

    /* 2. Predecessor lists, in preorder numbers, of the nodes reached:
     * sum the counts, fill (each list's end moves to its start as it
     * fills). */
    for (uint32_t q = 0; q < nr; q++)
        rev_off[q + 1] += rev_off[q];
    rev = alloc_u32(rev_off[nr]);
    if (!rev)
        goto nomem;
    for (uint32_t q = 0; q < nr; q++) {
        uint32_t v = vertex[q];
        for (uint32_t e = off[v]; e < off[v + 1]; e++)
            rev[rev_off[pre[HG_EDGE_NODE(dst[e])]]++] = q;
    }
    for (uint32_t q = nr; q > 0; q--)
        rev_off[q] = rev_off[q - 1];
    rev_off[0] = 0;

    /* 3. Semidominators, in reverse preorder.  The node -> number map is
     * done with; its memory becomes the labels, the DFS cursors the
     * forest's ancestors (each node linked to its DFS parent). */
    uint32_t *label = shrink_u32(pre, nr), *ancestor = cursor;
    pre = NULL;
    cursor = NULL;
    for (uint32_t q = 0; q < nr; q++) {
        ancestor[q] = parent[q];
        label[q] = q;
    }
    for (uint32_t w = nr - 1; w > 0; w--) {
        uint32_t semi = parent[w]; /* the parent is a predecessor */
        for (uint32_t e = rev_off[w]; e < rev_off[w + 1]; e++) {
            uint32_t v = rev[e];
            uint32_t c = v <= w ? v : eval(ancestor, label, v, w);
            if (c < semi)
                semi = c;
        }
        /* w's list is read: its first slot keeps the semidominator */
        rev[rev_off[w]] = semi;
        label[w] = semi;
    }
    uint32_t *semi = label;
    for (uint32_t w = 1; w < nr; w++)
        semi[w] = rev[rev_off[w]];
    semi[0] = 0;
    free(rev);
    free(rev_off);
    rev = rev_off = NULL;

    /* 4. Immediate dominators, in preorder: the nearest ancestor of the
     * parent, in the dominator tree built so far, numbered at most the
     * semidominator.  Numbers fall going up that tree, so skew-binary jump
     * pointers (depth in the old ancestor array) find it in O(log N)
     * steps.  idom overwrites parent in place: idom[w] is written after
     * parent[w] is read, and only for w already past. */
    idom = parent;
    parent = NULL;
    uint32_t *depth = ancestor;
    ancestor = NULL;
    jump = alloc_u32(nr);
    if (!jump) {
        free(semi);
        free(depth);
        goto nomem;
    }
    idom[0] = 0;
    depth[0] = 0;
    jump[0] = 0;
    for (uint32_t w = 1; w < nr; w++) {
        uint32_t x = idom[w], s = semi[w];
        while (x > s)
            x = jump[x] > s ? jump[x] : idom[x];
        idom[w] = x;
        depth[w] = depth[x] + 1;
        uint32_t jx = jump[x];
        jump[w] = depth[x] - depth[jx] == depth[jx] - depth[jump[jx]] ? jump[jx] : x;
    }
    free(semi);
    free(depth);
    free(jump);
    jump = NULL;

    /* 5. Back to node numbers. */
    d->idom = alloc_u32(N);
    if (!d->idom)
        goto nomem;
    memset(d->idom, 0xff, (size_t)N * sizeof *d->idom);
    for (uint32_t q = 0; q < nr; q++)
        d->idom[vertex[q]] = vertex[idom[q]];
    free(idom);
    d->nnodes = N;
    d->order = vertex;
    d->nreached = nr;
    return 0;

nomem:
    rc = hg_fail(HG_ENOMEM, "out of memory for the dominators of %" PRIu32 " nodes and %" PRIu64
                 " edges", N, g->nedges);
    free(pre);
    free(vertex);
    free(parent);
    free(cursor);
    free(rev_off);
    free(rev);
    free(jump);
    free(idom);
    hg_domtree_free(d);
    return rc;
}

void hg_retained_free(hg_retained *r)
{
    free(r->objects);
    free(r->bytes);
    r->objects = r->bytes = NULL;
}

int hg_retained_sizes(const hg_graph *g, const hg_domtree *d, hg_retained *r)
{
    r->objects = r->bytes = NULL;
    if (d->nnodes != g->nnodes || !d->idom)
        return hg_fail(HG_EUSAGE, "retained sizes with a dominator tree of another graph");
    size_t n = g->nnodes ? g->nnodes : 1;
    r->objects = big(calloc(n, sizeof *r->objects), n * sizeof *r->objects);
    r->bytes = big(calloc(n, sizeof *r->bytes), n * sizeof *r->bytes);
    if (!r->objects || !r->bytes) {
        hg_retained_free(r);
        return hg_fail(HG_ENOMEM, "out of memory for the retained sizes of %" PRIu32 " nodes",
                       g->nnodes);
    }
    for (uint32_t q = 0; q < d->nreached; q++) {
        uint32_t v = d->order[q];
        if (v < g->nobjects) {
            r->objects[v] = 1;
            r->bytes[v] = hg_objects_size(g->objects, v);
        }
    }
    /* children after parents in preorder: sum from the end */
    for (uint32_t q = d->nreached; q-- > 1;) {
        uint32_t v = d->order[q], up = d->idom[v];
        r->objects[up] += r->objects[v];
        r->bytes[up] += r->bytes[v];
    }
    return 0;
}

int hg_reach_from(const hg_graph *g, const uint32_t *which, size_t n, hg_reach *out)
{
    if (!g->finished)
        return hg_fail(HG_EUSAGE, "reach in a graph not finished");
    for (size_t i = 0; i < n; i++)
        if (which[i] >= g->nnodes)
            return hg_fail(HG_EUSAGE, "node %" PRIu32 " is not in the graph (%" PRIu32 " nodes)",
                           which[i], g->nnodes);
    size_t words = ((size_t)g->nnodes + 63) / 64;
    uint64_t *seen = calloc(words ? words : 1, sizeof *seen);
    hg_array(uint32_t) stack = HG_ARRAY_INIT;
    if (!seen)
        return hg_fail(HG_ENOMEM, "out of memory");
#define SEEN(x) (seen[(x) >> 6] >> ((x)&63) & 1)
#define MARK(x) (seen[(x) >> 6] |= (uint64_t)1 << ((x)&63))
    for (size_t i = 0; i < n; i++) {
        if (i)
            memset(seen, 0, words * sizeof *seen);
        hg_reach sum = {0, 0};
        uint32_t v = which[i];
        MARK(v);
        stack.size = 0;
        uint32_t *top = hg_array_push(stack);
        if (!top)
            goto nomem;
        *top = v;
        if (v < g->nobjects) {
            sum.objects++;
            sum.bytes += hg_objects_size(g->objects, v);
        }
        while (stack.size) {
            v = stack.ptr[--stack.size];
            for (uint32_t e = g->off[v]; e < g->off[v + 1]; e++) {
                uint32_t w = HG_EDGE_NODE(g->dst[e]);
                if (SEEN(w))
                    continue;
                MARK(w);
                if (w < g->nobjects) {
                    sum.objects++;
                    sum.bytes += hg_objects_size(g->objects, w);
                }
                if (!(top = hg_array_push(stack)))
                    goto nomem;
                *top = w;
            }
        }
        out[i] = sum;
    }
#undef SEEN
#undef MARK
    free(seen);
    hg_array_clear(stack);
    return 0;
nomem:
    free(seen);
    hg_array_clear(stack);
    return hg_fail(HG_ENOMEM, "out of memory");
}
