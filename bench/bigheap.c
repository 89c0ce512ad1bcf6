/*
 * bigheap -- the benchmark heap: about 1.5 GiB in 12.5 million chunks over
 * two arenas (main thread and one worker, half each), a third of them freed
 * in a scattered pattern so tcache, fastbins and bins all fill.  Prints
 * "pid N" and a JSON line with its own mallinfo2(), then waits.
 *
 *   bigheap [CHUNKS [MAX_SIZE]]     defaults: 12500000 chunks, sizes 16..232
 *
 * Reporting uses write(2) only: a first printf would allocate its buffer,
 * and an allocation can consolidate the fastbins after the figures.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static size_t per_thread, max_size;
static pthread_barrier_t built;

static void build(unsigned seed)
{
    /* bookkeeping outside the heap, so it does not count */
    void **v = mmap(NULL, per_thread * sizeof *v, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v == MAP_FAILED)
        _exit(2);
    for (size_t i = 0; i < per_thread; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t sz = 16 + (seed >> 16) % (max_size - 15);
        v[i] = malloc(sz);
        if (!v[i])
            _exit(3);
        memset(v[i], 0x11, sz < 32 ? sz : 32);
    }
    for (size_t i = 0; i < per_thread; i += 3)
        free(v[i]);
    munmap(v, per_thread * sizeof *v);
}

static void *worker(void *arg)
{
    (void)arg;
    build(7);
    pthread_barrier_wait(&built);
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv)
{
    size_t chunks = argc > 1 ? strtoull(argv[1], NULL, 10) : 12500000;
    max_size = argc > 2 ? strtoull(argv[2], NULL, 10) : 232;
    if (chunks < 2 || max_size < 16)
        return 1;
    per_thread = chunks / 2;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pthread_barrier_init(&built, NULL, 2);
    pthread_t th;
    pthread_create(&th, NULL, worker, NULL);
    build(1);
    pthread_barrier_wait(&built);
    clock_gettime(CLOCK_MONOTONIC, &b);
    struct mallinfo2 m = mallinfo2();
    char out[1024];
    int n = snprintf(out, sizeof out,
                     "pid %d\n{\"build_s\":%.2f,\"mallinfo2\":{\"arena\":%zu,\"ordblks\":%zu,"
                     "\"smblks\":%zu,\"hblks\":%zu,\"hblkhd\":%zu,\"usmblks\":%zu,\"fsmblks\":%zu,"
                     "\"uordblks\":%zu,\"fordblks\":%zu,\"keepcost\":%zu}}\n",
                     (int)getpid(), (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9,
                     m.arena, m.ordblks, m.smblks, m.hblks, m.hblkhd, m.usmblks, m.fsmblks,
                     m.uordblks, m.fordblks, m.keepcost);
    if (write(1, out, (size_t)n) < 0)
        return 1;
    for (;;)
        pause();
}
