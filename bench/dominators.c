/*
 * dominators.c -- the holders analysis core (analysis/) on a synthetic heap
 * shaped like issue 14's: about 7 million objects and 1 GiB, a long linked
 * list plus a big array owning millions of objects (some of which point at
 * each other or back into the list), a few leaks, a thousand roots.
 *
 * No target: the objects' memory is generated window by window, as a
 * scanner reading the target would see it (chunk headers, zeros, small
 * numbers, code and library addresses, heap pointers), and scanned.  Prints
 * the time of each step, the scanning rate, the peak RSS and the bytes per
 * object, and the load average (the machine is shared: read timings with
 * it).
 *
 *     bench_dominators [objects]      (default 7000000)
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "analysis/dominators.h"
#include "analysis/graph.h"
#include "analysis/leaks.h"
#include "analysis/objects.h"
#include "heapgrab.h"
#include "lib/clock.h"
#include "lib/error.h"

static uint64_t rng = 42;
static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* this thread's CPU time: on a shared machine, what the work cost */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double secs(uint64_t ns)
{
    return ns / 1e9;
}

/* resident and peak resident set, in bytes */
static void rss(uint64_t *now, uint64_t *peak)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    *now = *peak = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
            *now = kb << 10;
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
            *peak = kb << 10;
    }
    if (f)
        fclose(f);
}

static void loadavg(const char *when)
{
    char buf[128] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            strcpy(buf, "?\n");
        fclose(f);
    }
    printf("load average %s: %s", when, buf);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_dominators: %s: %d %s\n", what, rc, hg_error_message());
    exit(1);
}

#define MAIN_HEAP 0x555555a00000ull
#define ARRAY_AT 0x7f3a40000010ull
#define CODE_AT 0x555555554000ull
#define LIBC_AT 0x7f3a80000000ull

/* What a node is. */
enum kind { LIST, OWNED, LEAKED };

int main(int argc, char **argv)
{
    uint64_t want = argc > 1 ? strtoull(argv[1], NULL, 10) : 7000000;
    if (want < 100)
        want = 100;
    uint64_t base_rss, base_peak;
    rss(&base_rss, &base_peak);
    loadavg("at start");

    /* The layout: in the main heap, list nodes and owned objects
     * interleaved as a program allocating them would (a node, then the
     * object it holds), 2% of owned objects leaked (a third of those in
     * little cycles); the array alone in an mmapped chunk. */
    uint32_t nlist = (uint32_t)(want / 2), nown = (uint32_t)(want - nlist - 1);
    uint32_t n = nlist + nown + 1;
    /* per heap object, in address order: kind and usable size */
    uint8_t *kind = malloc(n);
    uint32_t *usable = malloc((size_t)n * sizeof *usable);
    if (!kind || !usable)
        die("out of memory", HG_ENOMEM);
    uint64_t at = MAIN_HEAP, total_bytes = 0;
    hg_objects o;
    hg_objects_init(&o);
    uint64_t wall0 = hg_now_ns(), t0 = cpu_ns();
    int rc = hg_objects_reserve(&o, n);
    if (rc)
        die("reserve", rc);
    uint32_t li = 0, oi = 0, nheap = 0;
    while (li < nlist || oi < nown) {
        int take_list = li < nlist && (oi >= nown || (rnd() & 1));
        uint32_t u = take_list ? 40 : 24 + 16 * (uint32_t)(rnd() % 29); /* 24..472, mean 248 */
        kind[nheap] = take_list ? LIST : (rnd() % 50 == 0 ? LEAKED : OWNED);
        usable[nheap] = u;
        if ((rc = hg_objects_add(&o, at, u)))
            die("add", rc);
        at += u + 8; /* the next chunk's size field sits in the last word */
        total_bytes += u;
        take_list ? li++ : oi++;
        nheap++;
    }
    uint64_t heap_end = at;
    /* the big array: one pointer for each owned object that is not leaked */
    uint32_t nowned_live = 0;
    for (uint32_t i = 0; i < nheap; i++)
        nowned_live += kind[i] == OWNED;
    uint64_t array_bytes = 8ull * nowned_live;
    if ((rc = hg_objects_add(&o, ARRAY_AT, array_bytes)))
        die("add", rc);
    total_bytes += array_bytes;
    if ((rc = hg_objects_finish(&o)))
        die("finish", rc);
    uint64_t t_index = cpu_ns() - t0;
    /* object numbers: the heap's in address order, then the array */
    uint32_t array_obj = nheap;

    /* where the list goes: in address order, node k -> node k+1 */
    uint32_t *list_next = malloc((size_t)nheap * sizeof *list_next);
    uint32_t *owned_idx = malloc((size_t)nowned_live * sizeof *owned_idx);
    if (!list_next || !owned_idx)
        die("out of memory", HG_ENOMEM);
    uint32_t prev = HG_NO_OBJECT, first_list = HG_NO_OBJECT, k = 0;
    for (uint32_t i = 0; i < nheap; i++) {
        list_next[i] = HG_NO_OBJECT;
        if (kind[i] == LIST) {
            if (prev != HG_NO_OBJECT)
                list_next[prev] = i;
            else
                first_list = i;
            prev = i;
        } else if (kind[i] == OWNED) {
            owned_idx[k++] = i;
        }
    }

    /* The roots: a global holding the list's head, a global holding the
     * array, and 1000 "stack frames" holding random objects. */
    uint32_t nroots = 1002;
    hg_graph g;
    if ((rc = hg_graph_init(&g, &o, nroots)))
        die("graph", rc);

    /* Scan, window by window: generate what the target would hold there
     * (each object's words and the chunk header after it), then scan each
     * object in it. */
    enum { WINDOW = 16 << 20 };
    uint64_t *win = malloc(WINDOW + 64);
    if (!win)
        die("out of memory", HG_ENOMEM);
    uint64_t t_gen = 0, t_scan = 0, words = 0;
    uint32_t i = 0;
    while (i < nheap) {
        uint64_t t1 = cpu_ns();
        uint64_t wlo = hg_objects_start(&o, i);
        uint32_t j = i;
        while (j < nheap && hg_objects_start(&o, j) + usable[j] + 8 - wlo <= WINDOW)
            j++;
        for (uint32_t x = i; x < j; x++) {
            uint64_t *w = win + (hg_objects_start(&o, x) - wlo) / 8;
            uint32_t nw = usable[x] / 8;
            for (uint32_t y = 0; y < nw; y++) {
                uint64_t r = rnd();
                /* data: zeros, small numbers, code and libc pointers */
                uint32_t c = r & 63;
                w[y] = c < 24 ? 0 : c < 44 ? (r >> 20) & 0xffff
                     : c < 50 ? CODE_AT + ((r >> 8) & 0xfffff)
                     : c < 54 ? LIBC_AT + ((r >> 8) & 0xffffff)
                     : r >> 7;
            }
            if (kind[x] == LIST)
                w[0] = list_next[x] == HG_NO_OBJECT ? 0 : hg_objects_start(&o, list_next[x]);
            /* 60% of owned objects point at another owned object (a start
             * pointer, 1 in 8 interior); leaked ones at the leaked one
             * three objects on, making chains */
            if (kind[x] != LIST && nw >= 2) {
                uint64_t r = rnd();
                if (kind[x] == LEAKED && x + 6 < nheap && kind[x + 3] != LIST) {
                    w[1] = hg_objects_start(&o, x + 3);
                } else if (r % 10 < 6) {
                    uint32_t t = owned_idx[(r >> 8) % nowned_live];
                    w[1] = hg_objects_start(&o, t) + ((r >> 4) % 8 == 0 ? 8 : 0);
                }
            }
            w[nw] = (usable[x] + 8) | 1; /* the next chunk's size field */
        }
        uint64_t t2 = cpu_ns();
        if ((rc = hg_graph_scan_objects(&g, i, j - i, wlo, win, WINDOW)))
            die("scan", rc);
        for (uint32_t x = i; x < j; x++)
            words += usable[x] / 8;
        t_gen += t2 - t1;
        t_scan += cpu_ns() - t2;
        i = j;
    }
    /* the array, in windows too */
    {
        if ((rc = hg_graph_begin(&g, array_obj)))
            die("begin", rc);
        uint64_t done = 0;
        while (done < nowned_live) {
            uint64_t t1 = cpu_ns();
            uint64_t m = nowned_live - done;
            if (m > WINDOW / 8)
                m = WINDOW / 8;
            for (uint64_t y = 0; y < m; y++)
                win[y] = hg_objects_start(&o, owned_idx[done + y]);
            uint64_t t2 = cpu_ns();
            if ((rc = hg_graph_scan(&g, ARRAY_AT + 8 * done, win, 8 * m)))
                die("scan", rc);
            t_gen += t2 - t1;
            t_scan += cpu_ns() - t2;
            words += m;
            done += m;
        }
    }
    /* the roots */
    uint64_t t1 = cpu_ns();
    if ((rc = hg_graph_begin(&g, hg_graph_root(&g, 0))) ||
        (rc = hg_graph_add(&g, first_list, 0)) ||
        (rc = hg_graph_begin(&g, hg_graph_root(&g, 1))) ||
        (rc = hg_graph_add(&g, array_obj, 0)))
        die("roots", rc);
    for (uint32_t r = 2; r < nroots; r++) {
        uint64_t frame[8];
        for (int y = 0; y < 8; y++)
            frame[y] = y < 2 ? hg_objects_start(&o, (uint32_t)(rnd() % nheap)) : rnd() >> 20;
        if ((rc = hg_graph_begin(&g, hg_graph_root(&g, r))) ||
            (rc = hg_graph_scan(&g, 0x7ffd00000000ull + 64ull * r, frame, sizeof frame)))
            die("roots", rc);
    }
    if ((rc = hg_graph_finish(&g)))
        die("finish", rc);
    t_scan += cpu_ns() - t1;
    free(win);
    free(list_next);
    free(owned_idx);
    free(kind);
    free(usable);

    uint64_t rss_graph, peak_graph;
    rss(&rss_graph, &peak_graph);

    /* the lookup alone, on random words around the heap (the worst case:
     * every one a cache miss), one by one and in batches */
    uint64_t hits = 0, hits2 = 0, nlook = 8000000;
    uint64_t *look = malloc(nlook * sizeof *look);
    if (!look)
        die("out of memory", HG_ENOMEM);
    for (uint64_t y = 0; y < nlook; y++) {
        uint64_t r = rnd();
        look[y] = (r & 3) == 0 ? r >> 16 : MAIN_HEAP + (r >> 8) % (heap_end - MAIN_HEAP);
    }
    t1 = cpu_ns();
    for (uint64_t y = 0; y < nlook; y++) {
        int in;
        hits += hg_objects_find(&o, look[y], &in) != HG_NO_OBJECT;
    }
    uint64_t t_look = cpu_ns() - t1;
    t1 = cpu_ns();
    for (uint64_t y = 0; y + HG_OBJECTS_BATCH <= nlook; y += HG_OBJECTS_BATCH) {
        uint32_t obj[HG_OBJECTS_BATCH];
        uint8_t in[HG_OBJECTS_BATCH];
        hg_objects_find_batch(&o, look + y, HG_OBJECTS_BATCH, obj, in);
        for (int z = 0; z < HG_OBJECTS_BATCH; z++)
            hits2 += obj[z] != HG_NO_OBJECT;
    }
    uint64_t t_look2 = cpu_ns() - t1;
    free(look);

    hg_leaks l;
    t1 = cpu_ns();
    if ((rc = hg_leaks_classify(&g, &l)))
        die("leaks", rc);
    uint64_t t_leaks = cpu_ns() - t1;

    hg_domtree d;
    t1 = cpu_ns();
    if ((rc = hg_dominators(&g, &d)))
        die("dominators", rc);
    uint64_t t_dom = cpu_ns() - t1;

    hg_retained ret;
    t1 = cpu_ns();
    if ((rc = hg_retained_sizes(&g, &d, &ret)))
        die("retained", rc);
    uint64_t t_ret = cpu_ns() - t1;

    /* reach of the ten roots retaining most */
    uint32_t top[10];
    hg_reach reach[10];
    for (int y = 0; y < 10; y++) {
        top[y] = hg_graph_root(&g, 0);
        uint64_t best = 0;
        for (uint32_t r = 0; r < nroots; r++) {
            uint32_t v = hg_graph_root(&g, r);
            int used = 0;
            for (int z = 0; z < y; z++)
                used |= top[z] == v;
            if (!used && ret.bytes[v] >= best) {
                best = ret.bytes[v];
                top[y] = v;
            }
        }
    }
    t1 = cpu_ns();
    if ((rc = hg_reach_from(&g, top, 10, reach)))
        die("reach", rc);
    uint64_t t_reach = cpu_ns() - t1;

    uint64_t wall = hg_now_ns() - wall0;
    uint64_t rss_end, peak;
    rss(&rss_end, &peak);
    uint64_t total = t_index + t_scan + t_leaks + t_dom + t_ret + t_reach;

    printf("objects %" PRIu32 " (%.2f GiB usable), roots %" PRIu32 ", edges %" PRIu64
           " (%.2f per object), regions %" PRIu32 ", directory pages %" PRIu64 "\n",
           o.n, total_bytes / 1073741824.0, nroots, g.nedges, (double)g.nedges / o.n, o.nregions,
           o.ndir);
    printf("CPU time of each step (this thread):\n");
    printf("index build      %7.3f s\n", secs(t_index));
    printf("scan             %7.3f s  (%" PRIu64 " words, %.0f M words/s; generating them took %.3f s more)\n",
           secs(t_scan), words, words / 1e6 / secs(t_scan), secs(t_gen));
    printf("leak classes     %7.3f s  (reachable %" PRIu64 ", possibly %" PRIu64 ", direct %" PRIu64
           ", indirect %" PRIu64 ")\n",
           secs(t_leaks), l.total[HG_LEAK_REACHABLE].objects, l.total[HG_LEAK_POSSIBLY].objects,
           l.total[HG_LEAK_DIRECT].objects, l.total[HG_LEAK_INDIRECT].objects);
    printf("dominators       %7.3f s  (%" PRIu32 " nodes reached)\n", secs(t_dom), d.nreached);
    printf("retained sizes   %7.3f s  (list head retains %" PRIu64 " objects, the array %" PRIu64 ")\n",
           secs(t_ret), ret.objects[hg_graph_root(&g, 0)], ret.objects[hg_graph_root(&g, 1)]);
    printf("reach of 10 roots%7.3f s  (first: %" PRIu64 " objects)\n", secs(t_reach), reach[0].objects);
    printf("total            %7.3f s  (without generating the memory; wall clock for all, lookup test and\n"
           "                            generating included: %.3f s)\n", secs(total), secs(wall));
    printf("lookup alone     %7.1f M random words/s one by one, %.1f M in batches of %d (%.0f%% hits%s)\n",
           nlook / 1e6 / secs(t_look), nlook / 1e6 / secs(t_look2), HG_OBJECTS_BATCH,
           100.0 * hits / nlook, hits == hits2 ? "" : ", BATCHES DISAGREE");
    printf("memory: index %.1f B/object, graph %.1f B/object (%.1f B/node + %.1f B/edge)\n",
           (double)hg_objects_memory(&o) / o.n, (double)hg_graph_memory(&g) / o.n,
           4.0 * (g.nnodes + 1) / g.nnodes, 4.0);
    printf("peak RSS %.1f MiB, %.1f MiB at start: %.1f bytes per object above the start\n",
           peak / 1048576.0, base_rss / 1048576.0, (double)(peak - base_rss) / o.n);
    printf("RSS after building the graph %.1f MiB; at the end %.1f MiB\n",
           rss_graph / 1048576.0, rss_end / 1048576.0);
    loadavg("at end");
    hg_leaks_free(&l);
    hg_retained_free(&ret);
    hg_domtree_free(&d);
    hg_graph_free(&g);
    hg_objects_free(&o);
    return 0;
}
