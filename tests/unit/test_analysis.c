/*
 * test_analysis.c -- the holders analysis core (analysis/): the object
 * index, the graph and its scanner, dominators, retained sizes, per-root
 * reach and leak classes.
 *
 * Three kinds of check:
 *   - small graphs whose answers are known by hand (a diamond, a chain, a
 *     shared object, cycles, leaked cycles and lists, interior pointers);
 *   - a few thousand seeded random heaps, scanned from generated memory,
 *     against a naive model written here the slow, obvious way: edges by a
 *     linear search over the objects, "d dominates w" as "w is unreachable
 *     once d is removed", reach by BFS, leak classes straight from their
 *     definitions;
 *   - size: a 10-million-object list (nothing may recurse), a long cycle
 *     (the longest compression paths), a long chain above many shared
 *     objects (the ancestor walk must not go quadratic), and the lookup
 *     against a brute-force search on chosen and random words.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/dominators.h"
#include "analysis/graph.h"
#include "analysis/leaks.h"
#include "analysis/objects.h"
#include "heapgrab.h"
#include "lib/error.h"

static int failed;
#define CHECK(c)                                                             \
    do {                                                                     \
        if (!(c)) {                                                          \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #c); \
            failed++;                                                        \
        }                                                                    \
    } while (0)
#define CHECK_OK(call)                                                                  \
    do {                                                                                \
        int rc_ = (call);                                                               \
        if (rc_ != 0) {                                                                 \
            fprintf(stderr, "%s:%d: %s: %d %s\n", __FILE__, __LINE__, #call, rc_,        \
                    hg_error_message());                                                \
            failed++;                                                                   \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* splitmix64: a seeded, repeatable stream */
static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

/* ------------------------------------------------------------------ */
/* Small graphs given as edge lists                                    */

/* Object i is at BASE + i * 0x100 with 0x40 + i usable bytes. */
#define BASE 0x100000ull
struct edge {
    uint32_t from, to; /* nodes: objects 0..n-1, then roots n.. */
    int interior;
};

struct built {
    hg_objects o;
    hg_graph g;
    hg_domtree d;
    hg_retained r;
    hg_leaks l;
};

static uint64_t size_of(uint32_t i)
{
    return 0x40 + i;
}

static void build_edges(struct built *b, uint32_t n, uint32_t nroots, const struct edge *e,
                        size_t ne)
{
    hg_objects_init(&b->o);
    for (uint32_t i = 0; i < n; i++)
        CHECK_OK(hg_objects_add(&b->o, BASE + i * 0x100ull, size_of(i)));
    CHECK_OK(hg_objects_finish(&b->o));
    CHECK_OK(hg_graph_init(&b->g, &b->o, nroots));
    /* edges are given in any order: add them node by node */
    for (uint32_t v = 0; v < n + nroots; v++) {
        int begun = 0;
        for (size_t k = 0; k < ne; k++)
            if (e[k].from == v) {
                if (!begun)
                    CHECK_OK(hg_graph_begin(&b->g, v));
                begun = 1;
                CHECK_OK(hg_graph_add(&b->g, e[k].to, e[k].interior));
            }
    }
    CHECK_OK(hg_graph_finish(&b->g));
    CHECK_OK(hg_dominators(&b->g, &b->d));
    CHECK_OK(hg_retained_sizes(&b->g, &b->d, &b->r));
    CHECK_OK(hg_leaks_classify(&b->g, &b->l));
}

static void free_built(struct built *b)
{
    hg_leaks_free(&b->l);
    hg_retained_free(&b->r);
    hg_domtree_free(&b->d);
    hg_graph_free(&b->g);
    hg_objects_free(&b->o);
}

#define R(k) (n + (k))   /* root k's node */
#define SUPER (n + nroots)
#define NONE HG_NO_NODE

static void check_idom(const struct built *b, const uint32_t *want, uint32_t count, int line)
{
    for (uint32_t v = 0; v < count; v++)
        if (b->d.idom[v] != want[v]) {
            fprintf(stderr, "%s:%d: idom[%u] is %u, expected %u\n", __FILE__, line, v,
                    b->d.idom[v], want[v]);
            failed++;
        }
}

static void check_classes(const struct built *b, const uint8_t *want, uint32_t n, int line)
{
    for (uint32_t v = 0; v < n; v++)
        if (b->l.class_of[v] != want[v]) {
            fprintf(stderr, "%s:%d: object %u is class %u, expected %u\n", __FILE__, line, v,
                    b->l.class_of[v], want[v]);
            failed++;
        }
}

enum { RE = HG_LEAK_REACHABLE, PO = HG_LEAK_POSSIBLY, DI = HG_LEAK_DIRECT, IN = HG_LEAK_INDIRECT };

static void test_known_graphs(void)
{
    struct built b;
    {
        /* a diamond: root -> 0 -> {1, 2} -> 3 */
        uint32_t n = 4, nroots = 1;
        struct edge e[] = {{R(0), 0, 0}, {0, 1, 0}, {0, 2, 0}, {1, 3, 0}, {2, 3, 0}};
        build_edges(&b, n, nroots, e, 5);
        uint32_t want[] = {R(0), 0, 0, 0, SUPER, SUPER};
        check_idom(&b, want, 6, __LINE__);
        CHECK(b.r.objects[0] == 4);
        CHECK(b.r.bytes[0] == size_of(0) + size_of(1) + size_of(2) + size_of(3));
        CHECK(b.r.objects[1] == 1 && b.r.bytes[1] == size_of(1));
        CHECK(b.r.objects[3] == 1);
        CHECK(b.r.objects[R(0)] == 4 && b.r.objects[SUPER] == 4);
        uint8_t cls[] = {RE, RE, RE, RE};
        check_classes(&b, cls, n, __LINE__);
        CHECK(b.l.total[RE].objects == 4);
        free_built(&b);
    }
    {
        /* a chain: root -> 0 -> 1 -> 2 -> 3 */
        uint32_t n = 4, nroots = 1;
        struct edge e[] = {{R(0), 0, 0}, {0, 1, 0}, {1, 2, 0}, {2, 3, 0}};
        build_edges(&b, n, nroots, e, 4);
        uint32_t want[] = {R(0), 0, 1, 2, SUPER, SUPER};
        check_idom(&b, want, 6, __LINE__);
        for (uint32_t i = 0; i < 4; i++)
            CHECK(b.r.objects[i] == 4 - i);
        CHECK(b.r.bytes[2] == size_of(2) + size_of(3));
        uint32_t which[] = {R(0), 2};
        hg_reach reach[2];
        CHECK_OK(hg_reach_from(&b.g, which, 2, reach));
        CHECK(reach[0].objects == 4 && reach[1].objects == 2);
        CHECK(reach[1].bytes == size_of(2) + size_of(3));
        free_built(&b);
    }
    {
        /* two roots share object 0 (held by neither alone); root 0 alone
         * holds 1, which points at 0 too */
        uint32_t n = 3, nroots = 2;
        struct edge e[] = {{R(0), 0, 0}, {R(0), 1, 0}, {R(1), 0, 0}, {1, 0, 0}, {0, 2, 0}};
        build_edges(&b, n, nroots, e, 5);
        uint32_t want[] = {SUPER, R(0), 0, SUPER, SUPER, SUPER};
        check_idom(&b, want, 6, __LINE__);
        CHECK(b.r.objects[R(0)] == 1 && b.r.objects[R(1)] == 0);
        CHECK(b.r.objects[0] == 2 && b.r.objects[SUPER] == 3);
        uint32_t which[] = {R(0), R(1)};
        hg_reach reach[2];
        CHECK_OK(hg_reach_from(&b.g, which, 2, reach));
        /* reach counts what is shared; retained does not */
        CHECK(reach[0].objects == 3 && reach[1].objects == 2);
        CHECK(reach[1].bytes == size_of(0) + size_of(2));
        free_built(&b);
    }
    {
        /* a cycle reachable from a root: root -> 0 -> 1 -> 2 -> 0 */
        uint32_t n = 3, nroots = 1;
        struct edge e[] = {{R(0), 0, 0}, {0, 1, 0}, {1, 2, 0}, {2, 0, 0}};
        build_edges(&b, n, nroots, e, 4);
        uint32_t want[] = {R(0), 0, 1, SUPER, SUPER};
        check_idom(&b, want, 5, __LINE__);
        CHECK(b.r.objects[0] == 3 && b.r.objects[2] == 1);
        uint8_t cls[] = {RE, RE, RE};
        check_classes(&b, cls, n, __LINE__);
        free_built(&b);
    }
    {
        /* leaks: a cycle 0 -> 1 -> 2 -> 0 (all indirect), 3 pointing at
         * itself only (the graph drops that edge: direct), a list 4 -> 5 ->
         * 6 (head direct), 7 alone (direct); 8 reachable and pointing into
         * the leaked list changes nothing */
        uint32_t n = 9, nroots = 1;
        struct edge e[] = {{R(0), 8, 0}, {0, 1, 0}, {1, 2, 0}, {2, 0, 1},
                           {3, 3, 0},    {4, 5, 0}, {5, 6, 1}, {6, 6, 1}};
        build_edges(&b, n, nroots, e, 8);
        uint8_t cls[] = {IN, IN, IN, DI, DI, IN, IN, DI, RE};
        check_classes(&b, cls, n, __LINE__);
        uint32_t want[] = {NONE, NONE, NONE, NONE, NONE, NONE, NONE, NONE, R(0), SUPER, SUPER};
        check_idom(&b, want, 11, __LINE__);
        CHECK(b.r.objects[0] == 0 && b.r.bytes[0] == 0);
        CHECK(b.l.total[IN].objects == 5);
        CHECK(b.l.total[IN].bytes ==
              size_of(0) + size_of(1) + size_of(2) + size_of(5) + size_of(6));
        CHECK(b.l.total[DI].objects == 3 && b.l.total[RE].objects == 1);
        CHECK(b.l.total[DI].bytes == size_of(3) + size_of(4) + size_of(7));
        CHECK(b.g.off[4] == b.g.off[3]); /* the self-pointer is no edge */
        free_built(&b);
    }
    {
        /* interior pointers: root -i-> 0 (possibly); root -> 1 and 1 -i-> 2
         * and 3 -> 2... 3 reached only via 2: 2 -> 3 (possibly, through an
         * interior link above it); 4 reached both ways (reachable); an
         * interior chain 5 -i-> 6 -i-> 7 under root 1 */
        uint32_t n = 8, nroots = 2;
        struct edge e[] = {{R(0), 0, 1}, {R(0), 1, 0}, {1, 2, 1}, {2, 3, 0}, {R(0), 4, 1},
                           {1, 4, 0},    {R(1), 5, 1}, {5, 6, 1}, {6, 7, 1}};
        build_edges(&b, n, nroots, e, 9);
        uint8_t cls[] = {PO, RE, PO, PO, RE, PO, PO, PO};
        check_classes(&b, cls, n, __LINE__);
        CHECK(b.l.total[PO].objects == 6 && b.l.total[RE].objects == 2);
        /* interior pointers hold as much as any for dominators */
        uint32_t want[] = {R(0), R(0), 1, 2, R(0), R(1), 5, 6, SUPER, SUPER, SUPER};
        check_idom(&b, want, 11, __LINE__);
        CHECK(b.r.objects[R(1)] == 3 && b.r.objects[R(0)] == 5);
        free_built(&b);
    }
    {
        /* a start pointer and an interior one to the same object, side by
         * side: one edge, a start edge */
        uint32_t n = 2, nroots = 1;
        struct edge e[] = {{R(0), 0, 0}, {0, 1, 1}, {0, 1, 0}, {0, 1, 1}};
        build_edges(&b, n, nroots, e, 4);
        CHECK(b.g.off[1] - b.g.off[0] == 1);
        CHECK(b.g.dst[b.g.off[0]] == 1);
        uint8_t cls[] = {RE, RE};
        check_classes(&b, cls, n, __LINE__);
        free_built(&b);
    }
    {
        /* no roots at all: everything leaked */
        uint32_t n = 2, nroots = 0;
        struct edge e[] = {{0, 1, 0}};
        build_edges(&b, n, nroots, e, 1);
        uint8_t cls[] = {DI, IN};
        check_classes(&b, cls, n, __LINE__);
        CHECK(b.d.nreached == 1 && b.d.idom[SUPER] == SUPER);
        free_built(&b);
    }
}

/* ------------------------------------------------------------------ */
/* Repeated pointers, and a 100-million-word object                    */

static void test_repeats_and_huge_object(uint64_t words)
{
    /* objects: 0 is huge (words * 8 bytes), 1..3 small, after it */
    const uint64_t huge = 0x10000000000ull, small = huge + words * 8 + 0x1000;
    hg_objects o;
    hg_objects_init(&o);
    CHECK_OK(hg_objects_add(&o, huge, words * 8));
    for (int i = 0; i < 3; i++)
        CHECK_OK(hg_objects_add(&o, small + 0x40 * i, 0x30));
    CHECK_OK(hg_objects_finish(&o));
    hg_graph g;
    CHECK_OK(hg_graph_init(&g, &o, 1));

    /* the huge object, read in 1 MiB pieces: pointers to itself (none an
     * edge), to 1 and 2 alternating, interior ones to 3 with a single
     * start pointer to it in the last piece */
    enum { PIECE = 1 << 17 };
    uint64_t *buf = malloc(PIECE * 8);
    CHECK_OK(hg_graph_begin(&g, 0));
    for (uint64_t at = 0; at < words; at += PIECE) {
        uint64_t m = words - at < PIECE ? words - at : PIECE;
        for (uint64_t k = 0; k < m; k++) {
            uint64_t x = at + k;
            buf[k] = x % 5 == 0 ? huge + 8 * (x % 1000)
                   : x % 5 == 1 ? small
                   : x % 5 == 2 ? small + 0x40
                   : x % 5 == 3 ? small + 0x80 + 8
                   : x;
        }
        if (at + m == words)
            buf[m - 1] = small + 0x80;
        CHECK_OK(hg_graph_scan(&g, huge + 8 * at, buf, m * 8));
    }
    free(buf);
    uint32_t e0 = g.off[0];
    /* 1 and 2 alternating, and 3: also in the two-word object 1, which
     * points at 2, 3, 2, 3 ... */
    uint64_t pairs[6] = {small + 0x40, small + 0x88, small + 0x40, small + 0x80, small + 0x41, 0};
    CHECK_OK(hg_graph_begin(&g, 1));
    CHECK_OK(hg_graph_scan(&g, small, pairs, 0x30));
    CHECK_OK(hg_graph_begin(&g, 4));
    CHECK_OK(hg_graph_add(&g, 0, 0));
    CHECK_OK(hg_graph_finish(&g));
    CHECK(g.off[1] - e0 == 3);
    int starts = 0;
    for (uint32_t e = e0; e < g.off[1]; e++)
        starts += !(g.dst[e] & HG_EDGE_INTERIOR);
    CHECK(starts == 3); /* 3 had one start pointer among its interior ones */
    CHECK(g.off[2] - g.off[1] == 2);
    for (uint32_t e = g.off[1]; e < g.off[2]; e++)
        CHECK(!(g.dst[e] & HG_EDGE_INTERIOR));

    hg_domtree d;
    hg_retained r;
    hg_leaks l;
    CHECK_OK(hg_dominators(&g, &d));
    CHECK_OK(hg_retained_sizes(&g, &d, &r));
    CHECK_OK(hg_leaks_classify(&g, &l));
    CHECK(r.objects[0] == 4 && r.bytes[0] == words * 8 + 3 * 0x30);
    CHECK(d.idom[2] == 0 && d.idom[3] == 0);
    CHECK(l.total[HG_LEAK_REACHABLE].objects == 4);
    hg_leaks_free(&l);
    hg_retained_free(&r);
    hg_domtree_free(&d);
    hg_graph_free(&g);
    hg_objects_free(&o);
}

/* ------------------------------------------------------------------ */
/* Misuse and hostile input                                            */

static void test_refusals(void)
{
    hg_objects o;
    hg_objects_init(&o);
    CHECK_OK(hg_objects_add(&o, 0x1000, 0x20));
    CHECK_OK(hg_objects_add(&o, 0x1010, 0x20)); /* overlaps the first */
    CHECK(hg_objects_finish(&o) == HG_EUSAGE);
    CHECK(strstr(hg_error_message(), "0x1000") != NULL);
    hg_objects_free(&o);

    hg_objects_init(&o);
    CHECK_OK(hg_objects_add(&o, 0x1000, 0x20));
    CHECK_OK(hg_objects_add(&o, 0x1000, 0)); /* the same start twice */
    CHECK(hg_objects_finish(&o) == HG_EUSAGE);
    hg_objects_free(&o);

    hg_objects_init(&o);
    CHECK(hg_objects_add(&o, UINT64_MAX - 8, 16) == HG_EUSAGE); /* wraps */
    CHECK_OK(hg_objects_add(&o, 0x2000, 0x20));
    CHECK_OK(hg_objects_finish(&o));
    CHECK(hg_objects_add(&o, 0x3000, 0x20) == HG_EUSAGE); /* after finish */

    hg_graph g;
    CHECK_OK(hg_graph_init(&g, &o, 2));
    CHECK(hg_graph_add(&g, 0, 0) == HG_EUSAGE);    /* no node begun */
    uint64_t window[8] = {0x2000, 0x2008, 0, 0, 0, 0, 0, 0};
    /* an object not wholly in the window; more objects than there are */
    CHECK(hg_graph_scan_objects(&g, 0, 1, 0x2008, window, sizeof window) == HG_EUSAGE);
    CHECK(hg_graph_scan_objects(&g, 0, 1, 0x2000, window, 0x18) == HG_EUSAGE);
    CHECK(hg_graph_scan_objects(&g, 0, 2, 0x2000, window, sizeof window) == HG_EUSAGE);
    CHECK_OK(hg_graph_begin(&g, 1));
    CHECK(hg_graph_begin(&g, 1) == HG_EUSAGE);     /* not ascending */
    CHECK(hg_graph_add(&g, 1, 0) == HG_EUSAGE);    /* a root is no target */
    CHECK(hg_graph_begin(&g, 3) == HG_EUSAGE);     /* the super-root */
    CHECK_OK(hg_graph_add(&g, 0, 0));
    hg_domtree d;
    hg_leaks l;
    hg_reach rr;
    uint32_t root = 1;
    CHECK(hg_dominators(&g, &d) == HG_EUSAGE); /* not finished */
    CHECK(hg_leaks_classify(&g, &l) == HG_EUSAGE);
    CHECK(hg_reach_from(&g, &root, 1, &rr) == HG_EUSAGE);
    CHECK_OK(hg_graph_finish(&g));
    CHECK(hg_graph_scan(&g, 0x2000, "", 0) == HG_EUSAGE);
    uint32_t bad = 7;
    CHECK(hg_reach_from(&g, &bad, 1, &rr) == HG_EUSAGE);
    hg_graph_free(&g);
    hg_objects_free(&o);

    /* no objects at all */
    hg_objects_init(&o);
    CHECK_OK(hg_objects_finish(&o));
    int in = 7;
    CHECK(hg_objects_find(&o, 0, &in) == HG_NO_OBJECT && in == 7);
    CHECK(hg_objects_find(&o, UINT64_MAX, &in) == HG_NO_OBJECT);
    CHECK_OK(hg_graph_init(&g, &o, 1));
    CHECK_OK(hg_graph_begin(&g, 0));
    uint64_t words[2] = {0, 0x1000};
    CHECK_OK(hg_graph_scan(&g, 0x1000, words, sizeof words));
    CHECK_OK(hg_graph_finish(&g));
    CHECK_OK(hg_dominators(&g, &d));
    CHECK(d.nreached == 2);
    CHECK_OK(hg_leaks_classify(&g, &l));
    hg_leaks_free(&l);
    hg_domtree_free(&d);
    hg_graph_free(&g);
    hg_objects_free(&o);
}

/* ------------------------------------------------------------------ */
/* The object index against a brute-force search                       */

static uint32_t brute_find(const uint64_t *start, const uint64_t *size, uint32_t n, uint64_t w,
                           int *interior)
{
    for (uint32_t i = 0; i < n; i++)
        if (w >= start[i] && w - start[i] < size[i]) {
            *interior = w != start[i];
            return i;
        }
    return HG_NO_OBJECT;
}

static void test_index(void)
{
    for (int round = 0; round < 6; round++) {
        rng_state = 1000 + round;
        uint32_t n = 500 + (uint32_t)below(2000);
        uint64_t *start = malloc(n * sizeof *start), *size = malloc(n * sizeof *size);
        uint64_t at = round == 0 ? 0 : below(1ull << 46); /* round 0: an object at address 0 */
        for (uint32_t i = 0; i < n; i++) {
            uint64_t r = below(1000), z;
            if (r < 3)
                z = (64 << 10) + below(1 << 20);          /* big: a region alone */
            else if (r < 4 && round == 1)
                z = (5ull << 30) + below(1000);           /* 4 GiB and more: the side table */
            else if (r < 10)
                z = 0;
            else
                z = below(300) + 1;
            start[i] = at;
            size[i] = z;
            uint64_t gap = below(100) < 3 ? (64 << 10) + below(1 << 22) : below(64);
            at += z + gap;
        }
        hg_objects o;
        hg_objects_init(&o);
        /* in shuffled order: finish must sort */
        uint32_t *perm = malloc(n * sizeof *perm);
        for (uint32_t i = 0; i < n; i++)
            perm[i] = i;
        for (uint32_t i = n - 1; i > 0; i--) {
            uint32_t j = (uint32_t)below(i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (uint32_t i = 0; i < n; i++)
            CHECK_OK(hg_objects_add(&o, start[perm[i]], size[perm[i]]));
        free(perm);
        CHECK_OK(hg_objects_finish(&o));
        CHECK(o.n == n);
        int ok = 1;
        for (uint32_t i = 0; i < n; i++)
            ok &= hg_objects_start(&o, i) == start[i] && hg_objects_size(&o, i) == size[i];
        CHECK(ok);
        if (round == 1)
            CHECK(o.big.size > 0);
        CHECK(o.nregions > 1);

        /* chosen words around every object, then random ones */
        uint64_t words_tried = 0, mismatches = 0;
        for (uint32_t i = 0; i < n + 5000; i++) {
            uint64_t cand[8];
            int nc = 0;
            if (i < n) {
                uint64_t s = start[i], z = size[i];
                cand[nc++] = s;
                cand[nc++] = s + z - 1;
                cand[nc++] = s + z;
                cand[nc++] = s - 1;
                cand[nc++] = s + below(z + 1);
                cand[nc++] = (s + below(z + 1)) | 1; /* unaligned */
            } else if (i == n) {
                cand[nc++] = 0;
                cand[nc++] = UINT64_MAX;
                cand[nc++] = 1;
                cand[nc++] = start[n - 1] + size[n - 1];
            } else {
                cand[nc++] = rnd();
                cand[nc++] = start[0] + below(at - start[0] + 1);
                cand[nc++] = (start[0] + below(at - start[0] + 1)) ^ 3;
            }
            uint32_t batch[8];
            uint8_t batch_in[8];
            hg_objects_find_batch(&o, cand, (size_t)nc, batch, batch_in);
            for (int k = 0; k < nc; k++) {
                int in1 = -1, in2 = -1;
                uint32_t a = hg_objects_find(&o, cand[k], &in1);
                uint32_t b = brute_find(start, size, n, cand[k], &in2);
                words_tried++;
                if (a != b || (a != HG_NO_OBJECT && in1 != in2) || batch[k] != b ||
                    (b != HG_NO_OBJECT && batch_in[k] != in2)) {
                    if (mismatches++ < 5)
                        fprintf(stderr, "lookup of 0x%" PRIx64 ": %u (%d), in a batch %u (%d), "
                                "expected %u (%d)\n", cand[k], a, in1, batch[k],
                                batch[k] != HG_NO_OBJECT ? batch_in[k] : -1, b, in2);
                }
            }
        }
        CHECK(mismatches == 0);
        CHECK(words_tried > 10000);
        hg_objects_free(&o);
        free(start);
        free(size);
    }
}

/* ------------------------------------------------------------------ */
/* Random heaps: generated memory, scanned, against a naive model       */

struct heap {
    uint32_t n, nroots, nnodes;        /* nodes as in the graph */
    uint64_t *start, *size;
    uint64_t **mem;                    /* per object and root: its words */
    uint64_t *memaddr;                 /* the target address of mem[v] (8-aligned) */
    uint32_t *nwords;
    /* the model's edges, as matrices: any pointer, and pointer to the start */
    uint8_t *any, *to_start;
};

#define M(h, a, b) ((size_t)(a) * (h)->nnodes + (b))

static uint64_t random_word(const struct heap *h, uint32_t self)
{
    uint64_t r = below(100);
    uint32_t t = (uint32_t)below(h->n);
    if (h->n == 0 || r < 45)
        return r < 30 ? 0 : below(5000); /* zeros and small numbers */
    if (r < 70)
        return h->start[t];
    if (r < 82)
        return h->start[t] + below(h->size[t] + 1); /* inside, or just past the end */
    if (r < 87 && self < h->n)
        return h->start[self] + below(h->size[self]); /* into itself */
    if (r < 92)
        return h->start[t] - 1 - below(16);
    return rnd();
}

static void make_heap(struct heap *h, uint32_t n, uint32_t nroots)
{
    memset(h, 0, sizeof *h);
    h->n = n;
    h->nroots = nroots;
    h->nnodes = n + nroots + 1;
    h->start = calloc(n + 1, sizeof *h->start);
    h->size = calloc(n + 1, sizeof *h->size);
    uint64_t at = 0x7f0000000000ull + below(1 << 20) * 16;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t r = below(100);
        uint64_t z = r < 5 ? 0 : r < 8 ? (64 << 10) + below(4096) : 8 + below(120);
        if (below(4) == 0)
            z |= 4; /* sizes not a multiple of 8 */
        at += below(8) == 0 ? 4 : 0; /* starts not 8-aligned */
        h->start[i] = at;
        h->size[i] = z;
        at += z + (below(50) == 0 ? (64 << 10) + below(1 << 20) : 16 + below(4) * 16);
    }
    h->mem = calloc(h->nnodes, sizeof *h->mem);
    h->memaddr = calloc(h->nnodes, sizeof *h->memaddr);
    h->nwords = calloc(h->nnodes, sizeof *h->nwords);
    h->any = calloc((size_t)h->nnodes * h->nnodes, 1);
    h->to_start = calloc((size_t)h->nnodes * h->nnodes, 1);
    for (uint32_t v = 0; v < n + nroots; v++) {
        uint64_t lo, hi;
        if (v < n) {
            lo = (h->start[v] + 7) & ~7ull;
            hi = (h->start[v] + h->size[v]) & ~7ull;
            if (hi < lo)
                hi = lo;
        } else {
            lo = 0x10000 + v * 0x1000ull;
            hi = lo + 8 * below(12);
        }
        h->memaddr[v] = lo;
        h->nwords[v] = (uint32_t)((hi - lo) / 8);
        h->mem[v] = calloc(h->nwords[v] + 1, 8);
        int big = h->nwords[v] > 64;
        for (uint32_t k = 0; k < h->nwords[v]; k++) {
            /* big objects: mostly zeros, a few pointers */
            uint64_t w = big && below(64) ? 0 : random_word(h, v);
            h->mem[v][k] = w;
            /* the model: a linear search over the objects */
            for (uint32_t t = 0; t < n; t++)
                if (t != v && w >= h->start[t] && w - h->start[t] < h->size[t]) {
                    h->any[M(h, v, t)] = 1;
                    if (w == h->start[t])
                        h->to_start[M(h, v, t)] = 1;
                }
        }
    }
    for (uint32_t r = 0; r < nroots; r++)
        h->any[M(h, n + nroots, n + r)] = h->to_start[M(h, n + nroots, n + r)] = 1;
}

static void free_heap(struct heap *h)
{
    for (uint32_t v = 0; v < h->nnodes; v++)
        free(h->mem[v]);
    free(h->mem);
    free(h->memaddr);
    free(h->nwords);
    free(h->any);
    free(h->to_start);
    free(h->start);
    free(h->size);
}

/* BFS over the model's edges from src, never entering `avoid`; edges as
 * `all` says (any pointer, or start pointers only).  seen[] gets 1s. */
static void model_bfs(const struct heap *h, const uint32_t *src, uint32_t nsrc, uint32_t avoid,
                      int all, uint8_t *seen, uint32_t *queue)
{
    memset(seen, 0, h->nnodes);
    uint32_t qh = 0, qt = 0;
    for (uint32_t i = 0; i < nsrc; i++)
        if (src[i] != avoid && !seen[src[i]]) {
            seen[src[i]] = 1;
            queue[qt++] = src[i];
        }
    while (qh < qt) {
        uint32_t v = queue[qh++];
        for (uint32_t w = 0; w < h->nnodes; w++)
            if (w != avoid && !seen[w] &&
                (all ? h->any[M(h, v, w)] : h->to_start[M(h, v, w)])) {
                seen[w] = 1;
                queue[qt++] = w;
            }
    }
}

static int check_heap(const struct heap *h, uint64_t seed)
{
    int before = failed;
    uint32_t n = h->n, nroots = h->nroots, N = h->nnodes, S = N - 1;
    hg_objects o;
    hg_objects_init(&o);
    for (uint32_t i = 0; i < n; i++)
        CHECK_OK(hg_objects_add(&o, h->start[i], h->size[i]));
    CHECK_OK(hg_objects_finish(&o));
    hg_graph g;
    CHECK_OK(hg_graph_init(&g, &o, nroots));
    for (uint32_t v = 0; v < n + nroots; v++) {
        if (v < n && below(2)) {
            /* a run of objects in one window, as the heap is read; the
             * bytes between them (chunk headers, free chunks) point at
             * objects too, and must not be seen */
            uint32_t u = v + (uint32_t)below(12);
            if (u >= n)
                u = n - 1;
            while (u > v && h->start[u] + h->size[u] - h->start[v] > (2u << 20))
                u--;
            uint64_t wlo = h->start[v] - below(3) * 8, whi = h->start[u] + h->size[u];
            size_t len = (size_t)(whi - wlo) + (size_t)below(16);
            uint64_t *win = malloc(len + 8);
            for (size_t x = 0; x < len / 8 + 1; x++)
                win[x] = random_word(h, n);
            /* the objects' bytes: their words, zeros past them; bytes not
             * in a whole aligned word stay junk, which the scanner must
             * not see */
            for (uint32_t x = v; x <= u; x++) {
                uint64_t a = h->memaddr[x], e = (h->start[x] + h->size[x]) & ~7ull;
                if (e > a)
                    memset((char *)win + (a - wlo), 0, e - a);
                memcpy((char *)win + (a - wlo), h->mem[x], 8ull * h->nwords[x]);
            }
            CHECK_OK(hg_graph_scan_objects(&g, v, u - v + 1, wlo, win, len));
            free(win);
            v = u;
            continue;
        }
        if (h->nwords[v] == 0 && below(2))
            continue; /* a node never begun has no edges */
        CHECK_OK(hg_graph_begin(&g, v));
        /* in pieces, as a scanner reading windows would; the first
         * piece may start before the first aligned word */
        uint32_t k = 0;
        while (k < h->nwords[v]) {
            uint32_t take = 1 + (uint32_t)below(h->nwords[v] - k);
            uint64_t addr = h->memaddr[v] + 8ull * k;
            const unsigned char *bytes = (const unsigned char *)(h->mem[v] + k);
            size_t len = take * 8ull;
            if (k == 0 && v < n && h->start[v] < addr) {
                /* hand the unaligned head over too: it must be skipped */
                unsigned char *tmp = malloc(len + 8);
                size_t head = (size_t)(addr - h->start[v]);
                memset(tmp, 0xab, head);
                memcpy(tmp + head, bytes, len);
                CHECK_OK(hg_graph_scan(&g, h->start[v], tmp, len + head));
                free(tmp);
            } else {
                CHECK_OK(hg_graph_scan(&g, addr, bytes, len));
            }
            k += take;
        }
    }
    CHECK_OK(hg_graph_finish(&g));

    /* the graph's edges are the model's */
    uint8_t *got = calloc(N, 1);
    for (uint32_t v = 0; v < N; v++) {
        memset(got, 0, N);
        for (uint32_t e = g.off[v]; e < g.off[v + 1]; e++) {
            uint32_t w = HG_EDGE_NODE(g.dst[e]);
            got[w] |= (g.dst[e] & HG_EDGE_INTERIOR) ? 1 : 3;
        }
        for (uint32_t w = 0; w < N; w++) {
            int any = got[w] != 0, start = got[w] == 3;
            if (any != h->any[M(h, v, w)] || start != h->to_start[M(h, v, w)]) {
                fprintf(stderr, "seed %" PRIu64 ": edge %u -> %u: graph %d/%d, model %d/%d\n", seed,
                        v, w, any, start, h->any[M(h, v, w)], h->to_start[M(h, v, w)]);
                failed++;
            }
        }
    }
    free(got);

    hg_domtree d;
    hg_retained r;
    hg_leaks l;
    CHECK_OK(hg_dominators(&g, &d));
    CHECK_OK(hg_retained_sizes(&g, &d, &r));
    CHECK_OK(hg_leaks_classify(&g, &l));

    /* the model's dominators: d dominates w iff w is reached from the
     * super-root but not once d is taken away */
    uint8_t *reach = malloc(N), *seen = malloc(N), *dom = calloc((size_t)N * N, 1);
    uint32_t *queue = malloc(N * sizeof *queue);
    uint32_t src = S;
    model_bfs(h, &src, 1, NONE, 1, reach, queue);
    for (uint32_t x = 0; x < N; x++) {
        model_bfs(h, &src, 1, x, 1, seen, queue);
        for (uint32_t w = 0; w < N; w++)
            dom[M(h, x, w)] = reach[w] && !seen[w];
    }
    for (uint32_t w = 0; w < N; w++) {
        uint32_t want = NONE;
        if (w == S) {
            want = S;
        } else if (reach[w]) {
            /* the strict dominator that all the others dominate */
            for (uint32_t x = 0; x < N; x++) {
                if (x == w || !dom[M(h, x, w)])
                    continue;
                int closest = 1;
                for (uint32_t y = 0; y < N; y++)
                    if (y != w && y != x && dom[M(h, y, w)] && !dom[M(h, y, x)])
                        closest = 0;
                if (closest)
                    want = x;
            }
        }
        if (d.idom[w] != want) {
            fprintf(stderr, "seed %" PRIu64 ": idom[%u] = %u, model %u\n", seed, w, d.idom[w],
                    want);
            failed++;
        }
        /* retained: the objects w dominates */
        uint64_t objs = 0, bytes = 0;
        for (uint32_t x = 0; x < n; x++)
            if (dom[M(h, w, x)]) {
                objs++;
                bytes += h->size[x];
            }
        if (r.objects[w] != objs || r.bytes[w] != bytes) {
            fprintf(stderr, "seed %" PRIu64 ": retained[%u] = %" PRIu64 "/%" PRIu64
                    ", model %" PRIu64 "/%" PRIu64 "\n", seed, w, r.objects[w], r.bytes[w], objs,
                    bytes);
            failed++;
        }
    }
    /* the order is a preorder: every node after its dominator */
    uint32_t *pos = malloc(N * sizeof *pos);
    memset(pos, 0xff, N * sizeof *pos);
    for (uint32_t q = 0; q < d.nreached; q++)
        pos[d.order[q]] = q;
    for (uint32_t w = 0; w < N; w++)
        if (w != S && reach[w])
            CHECK(pos[w] != NONE && pos[d.idom[w]] < pos[w]);
    free(pos);

    /* reach from every root and a few objects */
    uint32_t *which = malloc(N * sizeof *which), nw = 0;
    for (uint32_t v = 0; v < N; v++)
        if (v >= n || below(8) == 0)
            which[nw++] = v;
    hg_reach *rr = malloc((nw + 1) * sizeof *rr);
    CHECK_OK(hg_reach_from(&g, which, nw, rr));
    for (uint32_t i = 0; i < nw; i++) {
        model_bfs(h, &which[i], 1, NONE, 1, seen, queue);
        uint64_t objs = 0, bytes = 0;
        for (uint32_t x = 0; x < n; x++)
            if (seen[x]) {
                objs++;
                bytes += h->size[x];
            }
        if (rr[i].objects != objs || rr[i].bytes != bytes) {
            fprintf(stderr, "seed %" PRIu64 ": reach from %u = %" PRIu64 ", model %" PRIu64 "\n",
                    seed, which[i], rr[i].objects, objs);
            failed++;
        }
    }
    free(rr);
    free(which);

    /* leak classes, from their definitions */
    uint8_t *by_start = malloc(N);
    uint32_t *roots = malloc((nroots + 1) * sizeof *roots);
    for (uint32_t k = 0; k < nroots; k++)
        roots[k] = n + k;
    model_bfs(h, roots, nroots, NONE, 1, seen, queue);
    model_bfs(h, roots, nroots, NONE, 0, by_start, queue);
    uint64_t totals[HG_LEAK_CLASSES] = {0};
    for (uint32_t w = 0; w < n; w++) {
        uint8_t want;
        if (by_start[w])
            want = HG_LEAK_REACHABLE;
        else if (seen[w])
            want = HG_LEAK_POSSIBLY;
        else {
            want = HG_LEAK_DIRECT;
            for (uint32_t v = 0; v < n; v++)
                if (v != w && !seen[v] && h->any[M(h, v, w)])
                    want = HG_LEAK_INDIRECT;
        }
        totals[want] += h->size[w];
        if (l.class_of[w] != want) {
            fprintf(stderr, "seed %" PRIu64 ": object %u class %u, model %u\n", seed, w,
                    l.class_of[w], want);
            failed++;
        }
    }
    for (int c = 0; c < HG_LEAK_CLASSES; c++)
        CHECK(l.total[c].bytes == totals[c]);
    free(by_start);
    free(roots);
    free(reach);
    free(seen);
    free(dom);
    free(queue);
    hg_leaks_free(&l);
    hg_retained_free(&r);
    hg_domtree_free(&d);
    hg_graph_free(&g);
    hg_objects_free(&o);
    return failed == before;
}

static void test_random_heaps(void)
{
    int count = SANITIZED ? 1500 : 3000, bad = 0;
    for (int i = 0; i < count; i++) {
        uint64_t seed = 77 + (uint64_t)i;
        rng_state = seed;
        uint32_t n = (uint32_t)below(i < 100 ? 8 : 60), nroots = (uint32_t)below(5);
        struct heap h;
        make_heap(&h, n, nroots);
        if (!check_heap(&h, seed) && bad++ > 3) {
            free_heap(&h);
            break;
        }
        free_heap(&h);
    }
}

/* ------------------------------------------------------------------ */
/* Random graphs given as edges: bigger, denser, with long chains       */

static void test_random_graphs(void)
{
    int count = SANITIZED ? 20 : 60, bad = 0;
    for (int i = 0; i < count; i++) {
        uint64_t seed = 5000 + (uint64_t)i;
        rng_state = seed;
        struct heap h;
        uint32_t n = 50 + (uint32_t)below(250), nroots = 1 + (uint32_t)below(4);
        memset(&h, 0, sizeof h);
        h.n = n;
        h.nroots = nroots;
        h.nnodes = n + nroots + 1;
        h.start = calloc(n, sizeof *h.start);
        h.size = calloc(n, sizeof *h.size);
        for (uint32_t k = 0; k < n; k++) {
            h.start[k] = BASE + k * 0x100ull; /* for now: an object per 0x100 */
            h.size[k] = 0x40 + k % 0x40;
        }
        h.any = calloc((size_t)h.nnodes * h.nnodes, 1);
        h.to_start = calloc((size_t)h.nnodes * h.nnodes, 1);
        /* mostly a few long chains, then random edges, some back */
        for (uint32_t k = 0; k + 1 < n; k++)
            if (below(10) < 8) {
                h.any[M(&h, k, k + 1)] = 1;
                h.to_start[M(&h, k, k + 1)] = below(5) != 0;
            }
        uint32_t extra = (uint32_t)below(n / 2 + 1);
        for (uint32_t k = 0; k < extra; k++) {
            uint32_t a = (uint32_t)below(n + nroots), b = (uint32_t)below(n);
            if (a != b) {
                h.any[M(&h, a, b)] = 1;
                h.to_start[M(&h, a, b)] |= below(3) != 0;
            }
        }
        for (uint32_t r = 0; r < nroots; r++) {
            h.any[M(&h, n + r, below(n))] = 1;
            h.to_start[M(&h, h.nnodes - 1, n + r)] = h.any[M(&h, h.nnodes - 1, n + r)] = 1;
        }
        for (uint32_t v = 0; v < n + nroots; v++)
            for (uint32_t w = 0; w < n; w++)
                if (h.to_start[M(&h, v, w)])
                    h.any[M(&h, v, w)] = 1;
        /* memory for the scanner: start pointers and interior ones */
        h.mem = calloc(h.nnodes, sizeof *h.mem);
        h.memaddr = calloc(h.nnodes, sizeof *h.memaddr);
        h.nwords = calloc(h.nnodes, sizeof *h.nwords);
        for (uint32_t v = 0; v < n + nroots; v++) {
            h.memaddr[v] = v < n ? h.start[v] : 0x10000 + v * 0x1000ull;
            h.mem[v] = calloc(2 * (n + 1), 8);
            uint32_t k = 0;
            for (uint32_t w = 0; w < n; w++) {
                if (h.to_start[M(&h, v, w)])
                    h.mem[v][k++] = h.start[w];
                if (h.any[M(&h, v, w)] && (!h.to_start[M(&h, v, w)] || below(3) == 0))
                    h.mem[v][k++] = h.start[w] + 8 + below(h.size[w] - 8);
            }
            if (v < n && k > h.size[v] / 8)
                h.size[v] = 8ull * k; /* room for its words */
            h.nwords[v] = k;
        }
        /* sizes changed: lay the objects out again, pointers follow */
        uint64_t at = BASE;
        uint64_t *old = malloc(n * sizeof *old);
        for (uint32_t k = 0; k < n; k++) {
            old[k] = h.start[k];
            h.start[k] = at;
            at += (h.size[k] + 16 + 7) & ~7ull;
        }
        for (uint32_t v = 0; v < n + nroots; v++) {
            if (v < n)
                h.memaddr[v] = h.start[v];
            for (uint32_t k = 0; k < h.nwords[v]; k++) {
                uint64_t w = h.mem[v][k];
                uint32_t t = (uint32_t)((w - BASE) / 0x100);
                h.mem[v][k] = h.start[t] + (w - old[t]);
            }
        }
        free(old);
        int ok = check_heap(&h, seed);
        free_heap(&h);
        if (!ok && ++bad > 3)
            break;
    }
}

/* ------------------------------------------------------------------ */
/* Size: long lists, long cycles, a chain above many shared objects     */

static void test_long_list(uint32_t n, int cycle)
{
    hg_objects o;
    hg_objects_init(&o);
    CHECK_OK(hg_objects_reserve(&o, n));
    for (uint32_t i = 0; i < n; i++)
        CHECK_OK(hg_objects_add(&o, 0x100000000ull + 32ull * i, 24));
    CHECK_OK(hg_objects_finish(&o));
    hg_graph g;
    CHECK_OK(hg_graph_init(&g, &o, 1));
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        /* each node's first word points at the next one */
        uint64_t word = i + 1 < n ? 0x100000000ull + 32ull * (i + 1)
                                  : cycle ? 0x100000000ull + 8 : 0;
        rc |= hg_graph_begin(&g, i);
        rc |= hg_graph_scan(&g, 0x100000000ull + 32ull * i, &word, 8);
    }
    CHECK_OK(rc);
    CHECK_OK(hg_graph_begin(&g, n));
    CHECK_OK(hg_graph_add(&g, 0, 0));
    CHECK_OK(hg_graph_finish(&g));
    CHECK(g.nedges == (uint64_t)n + 1 + (cycle ? 1 : 0));

    hg_domtree d;
    hg_retained r;
    CHECK_OK(hg_dominators(&g, &d));
    CHECK(d.nreached == n + 2);
    int ok = d.idom[0] == n && d.idom[n] == n + 1;
    for (uint32_t i = 1; i < n; i++)
        ok &= d.idom[i] == i - 1;
    CHECK(ok);
    CHECK_OK(hg_retained_sizes(&g, &d, &r));
    ok = r.objects[n] == n && r.bytes[n] == 24ull * n;
    for (uint32_t i = 0; i < n; i++)
        ok &= r.objects[i] == n - i && r.bytes[i] == 24ull * (n - i);
    CHECK(ok);
    hg_retained_free(&r);
    hg_domtree_free(&d);

    hg_leaks l;
    CHECK_OK(hg_leaks_classify(&g, &l));
    CHECK(l.total[HG_LEAK_REACHABLE].objects == n);
    hg_leaks_free(&l);
    uint32_t which = n;
    hg_reach reach;
    CHECK_OK(hg_reach_from(&g, &which, 1, &reach));
    CHECK(reach.objects == n && reach.bytes == 24ull * n);
    hg_graph_free(&g);
    hg_objects_free(&o);
}

/* Root 0 holds a chain of k objects whose last points at m leaves; root 1
 * points at every leaf too, so no single root holds them: each leaf's
 * idom is the super-root, far above its DFS parent at the chain's end.
 * A plain walk up the tree would take k steps per leaf. */
static void test_chain_over_shared(uint32_t k, uint32_t m)
{
    uint32_t n = k + m;
    hg_objects o;
    hg_objects_init(&o);
    for (uint32_t i = 0; i < n; i++)
        CHECK_OK(hg_objects_add(&o, 0x200000000ull + 64ull * i, 48));
    CHECK_OK(hg_objects_finish(&o));
    hg_graph g;
    CHECK_OK(hg_graph_init(&g, &o, 2));
    int rc = 0;
    for (uint32_t i = 0; i + 1 < k; i++) {
        rc |= hg_graph_begin(&g, i);
        rc |= hg_graph_add(&g, i + 1, 0);
    }
    rc |= hg_graph_begin(&g, k - 1);
    for (uint32_t j = 0; j < m; j++)
        rc |= hg_graph_add(&g, k + j, 0);
    rc |= hg_graph_begin(&g, n);
    rc |= hg_graph_add(&g, 0, 0);
    rc |= hg_graph_begin(&g, n + 1);
    for (uint32_t j = 0; j < m; j++)
        rc |= hg_graph_add(&g, k + j, 1);
    CHECK_OK(rc);
    CHECK_OK(hg_graph_finish(&g));
    hg_domtree d;
    hg_retained r;
    CHECK_OK(hg_dominators(&g, &d));
    int ok = 1;
    for (uint32_t j = 0; j < m; j++)
        ok &= d.idom[k + j] == n + 2;
    for (uint32_t i = 1; i < k; i++)
        ok &= d.idom[i] == i - 1;
    CHECK(ok);
    CHECK_OK(hg_retained_sizes(&g, &d, &r));
    CHECK(r.objects[n] == k && r.objects[n + 1] == 0 && r.objects[n + 2] == n);
    hg_retained_free(&r);
    hg_domtree_free(&d);
    hg_graph_free(&g);
    hg_objects_free(&o);
}

/* ------------------------------------------------------------------ */
/* Out of memory: HG_ENOMEM from every step, never a crash              */

/* The whole pipeline on a list with a shared tail and a leaked cycle;
 * returns the first failure. */
static int pipeline(uint32_t n)
{
    hg_objects o;
    hg_graph g;
    hg_domtree d = {0};
    hg_retained r = {0};
    hg_leaks l = {0};
    memset(&g, 0, sizeof g);
    hg_objects_init(&o);
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++)
        rc = hg_objects_add(&o, 0x100000000ull + 64ull * i, 48);
    if (!rc)
        rc = hg_objects_finish(&o);
    if (!rc)
        rc = hg_graph_init(&g, &o, 2);
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        uint64_t words[6] = {0x100000000ull + 64ull * ((i + 1) % n),
                             0x100000000ull + 64ull * (n - 1), 0, 0, 0, 0};
        rc = hg_graph_scan_objects(&g, i, 1, 0x100000000ull + 64ull * i, words, sizeof words);
    }
    if (!rc)
        rc = hg_graph_begin(&g, n);
    if (!rc)
        rc = hg_graph_add(&g, n / 2, 0);
    if (!rc)
        rc = hg_graph_finish(&g);
    if (!rc)
        rc = hg_leaks_classify(&g, &l);
    if (!rc)
        rc = hg_dominators(&g, &d);
    if (!rc)
        rc = hg_retained_sizes(&g, &d, &r);
    uint32_t which[2] = {n, n / 2};
    hg_reach reach[2];
    if (!rc)
        rc = hg_reach_from(&g, which, 2, reach);
    hg_leaks_free(&l);
    hg_retained_free(&r);
    hg_domtree_free(&d);
    hg_graph_free(&g);
    hg_objects_free(&o);
    return rc;
}

/* Allocation failure on demand: the test's own malloc family, in front of
 * glibc's, fails the k-th call after fail_in is set to k (only then: every
 * other allocation goes through).  Not under the sanitizers, whose
 * allocator is in front already. */
#if !SANITIZED
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);
static long fail_in; /* 0: off */
static long live;    /* blocks allocated and not freed */
static int failing(void)
{
    return fail_in > 0 && --fail_in == 0;
}
static void *counted(void *p)
{
    live += p != NULL;
    return p;
}
void *malloc(size_t n)
{
    return failing() ? NULL : counted(__libc_malloc(n));
}
void *calloc(size_t n, size_t z)
{
    return failing() ? NULL : counted(__libc_calloc(n, z));
}
void *realloc(void *p, size_t n)
{
    if (failing())
        return NULL;
    void *q = __libc_realloc(p, n);
    live += p == NULL && q != NULL;
    return q;
}
void *aligned_alloc(size_t a, size_t n)
{
    return failing() ? NULL : counted(__libc_memalign(a, n));
}
void free(void *p)
{
    live -= p != NULL;
    __libc_free(p);
}
#endif

static void test_out_of_memory(void)
{
#if !SANITIZED
    /* fail the first allocation, then the second, ... until the whole
     * pipeline runs through with none failed: each must give HG_ENOMEM,
     * and nothing may crash or leak (the ASan build runs the rest) */
    int enomem = 0;
    for (long k = 1; k < 100000; k++) {
        long before = live;
        fail_in = k;
        int rc = pipeline(20000);
        if (live != before) {
            fprintf(stderr, "allocation %ld failing: %ld blocks leaked\n", k, live - before);
            failed++;
        }
        int hit = fail_in == 0;
        fail_in = 0;
        if (!hit) {
            CHECK(rc == 0);
            break;
        }
        /* 0 when the failed call was giving back room (a shrink) */
        if (rc != HG_ENOMEM && rc != 0) {
            fprintf(stderr, "allocation %ld failing: %d %s\n", k, rc, hg_error_message());
            failed++;
        }
        enomem += rc == HG_ENOMEM;
    }
    CHECK(enomem > 20);
#else
    CHECK(pipeline(20000) == 0);
#endif
}

int main(void)
{
    test_known_graphs();
    test_refusals();
    test_out_of_memory();
    test_index();
    test_random_heaps();
    test_random_graphs();
    test_repeats_and_huge_object(SANITIZED ? 10000000 : 100000000);
    test_long_list(100000, 1);
    test_chain_over_shared(200000, 200000);
    test_long_list(SANITIZED ? 3000000 : 10000000, 0);
    test_long_list(SANITIZED ? 1000000 : 10000000, 1);
    if (failed) {
        fprintf(stderr, "%d check(s) failed\n", failed);
        return 1;
    }
    printf("analysis: all checks passed\n");
    return 0;
}
