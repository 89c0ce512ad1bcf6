/*
 * holders_pprof -- the heap profile's holders view written from a
 * synthetic holders model of the benchmark shape: a linked list of
 * L nodes (24 bytes) under g_list, and an array under g_tracker of R
 * requests (56 bytes) each owning a body (104 bytes): L + 1 + 2R objects.
 *
 *   holders_pprof L R [OUT]      (default 2000000 2500000: 7 million objects)
 *
 * Prints the writer's time and heapgrab's peak RSS, and the RSS the model
 * alone takes (measured before writing), so the writer's own memory is
 * the difference.  The model is what the analysis hands the writers
 * (lib/snapshot.h struct hg_holders); nothing here reads a process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "lib/snapshot.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long rss_kib(void)
{
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kib = atol(line + 6);
    if (f)
        fclose(f);
    return kib;
}

int main(int argc, char **argv)
{
    size_t nlist = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000000;
    size_t nreq = argc > 2 ? strtoul(argv[2], NULL, 10) : 2500000;
    const char *out = argc > 3 ? argv[3] : "/dev/null";
    size_t n = nlist + 1 + 2 * nreq, i = 0;
    hg_snapshot *s = hg_snapshot_new();
    struct hg_holders *h = s ? hg_holders_new(n, 2) : NULL;
    if (!h) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    s->holders = h;
    uint64_t a = 0x10000000;
    for (size_t k = 0; k < nlist; k++, i++) {
        h->address[i] = a;
        a += 32;
        h->size[i] = 24;
        h->idom[i] = k ? (uint32_t)(i - 1) : (uint32_t)n;   /* root 0 */
    }
    size_t array = i++;
    h->address[array] = a;
    h->size[array] = nreq * 8 + 8;
    a += nreq * 8 + 16;
    h->idom[array] = (uint32_t)(n + 1);                      /* root 1 */
    for (size_t k = 0; k < nreq; k++) {
        size_t req = i++, body = i++;
        h->address[req] = a;
        h->size[req] = 56;
        h->idom[req] = (uint32_t)array;
        h->address[body] = a + 64;
        h->size[body] = 104;
        h->idom[body] = (uint32_t)req;
        a += 64 + 112;
    }
    for (size_t k = 0; k < n; k++) {
        s->totals.inuse_objects++;
        s->totals.inuse_bytes += h->size[k];
    }
    h->roots[0] = (hg_root){.kind = HG_ROOT_GLOBAL, .name = strdup("g_list")};
    h->roots[1] = (hg_root){.kind = HG_ROOT_GLOBAL, .name = strdup("g_tracker")};
    long model = rss_kib();
    FILE *f = fopen(out, "w");
    if (!f) {
        perror(out);
        return 1;
    }
    double t0 = now();
    int rc = hg_write_pprof(s, f);
    double t1 = now();
    fclose(f);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%zu objects: holders view written in %.2f s (rc %d); RSS %ld MiB with the model "
           "alone, peak %ld MiB\n", n, t1 - t0, rc, model / 1024, ru.ru_maxrss / 1024);
    hg_snapshot_free(s);
    return rc ? 1 : 0;
}
