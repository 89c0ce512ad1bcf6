/*
 * tempbuf_server -- an HTTP/1.0 server on 127.0.0.1 whose handler builds
 * its answer in large temporary buffers and frees them.  Nothing leaks, yet
 * the RSS stays high: glibc keeps the freed memory (and raises its mmap
 * threshold after the first big free, so later big buffers come from the
 * heap).  A small request log, allocated after the buffers, keeps them
 * from merging back into the top chunk, so glibc cannot trim them: the log
 * is bounded (the last 256 requests), so nothing leaks, but the freed
 * buffers stay in the bins.  heapgrab stats shows them as idle, not in use.
 */
#include "samples/server.h"

static char *log_ring[256];
static unsigned long requests;

static int handle(char *reply, size_t cap)
{
    enum { NBIG = 4, NMID = 6 };
    char *big[NBIG], *mid[NMID];
    size_t sum = 0;
    for (int i = 0; i < NBIG; i++) {
        big[i] = malloc(1 << 20);
        if (!big[i])
            return -1;
        memset(big[i], i, 1 << 20);
    }
    for (int i = 0; i < NMID; i++) {
        size_t sz = 64 * 1024 + (size_t)i * 24 * 1024;
        mid[i] = malloc(sz);
        if (!mid[i])
            return -1;
        memset(mid[i], i, sz);
        sum += sz;
    }
    /* the log entry lands above the buffers, pinning them below it */
    unsigned slot = (unsigned)(requests++ % 256);
    free(log_ring[slot]);
    log_ring[slot] = malloc(64);
    if (log_ring[slot])
        snprintf(log_ring[slot], 64, "request %lu", requests);
    for (int i = 0; i < NBIG; i++)
        free(big[i]);
    for (int i = 0; i < NMID; i++)
        free(mid[i]);
    return snprintf(reply, cap, "ok %zu\n", sum + (size_t)NBIG * (1 << 20));
}

int main(int argc, char **argv) { return serve(argc > 1 ? atoi(argv[1]) : 8081, handle); }
