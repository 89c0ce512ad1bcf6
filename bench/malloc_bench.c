/*
 * malloc_bench.c -- a malloc-heavy benchmark for the allocation sampler's
 * cost: THREADS threads (default 8), each OPS times (default 2,000,000)
 * replacing a random one of its 1024 live objects with a new one of a
 * mixed size (70% 16-128 bytes, 25% up to 2 KiB, 5% up to 32 KiB).
 *
 *     malloc_bench [THREADS [OPS]]
 *
 * Prints one line of JSON: operations (an allocation and a free each),
 * wall seconds, CPU seconds of the whole process, and both per operation.
 * On a machine shared with other work the CPU time per operation is the
 * steadier figure: waiting for a CPU costs wall time, not CPU time.
 * bench/sampler.sh runs it with and without the sampler.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#define LIVE 1024

static long ops = 2000000;

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t pick_size(uint64_t r)
{
    unsigned p = (unsigned)(r % 100);
    r >>= 8;
    if (p < 70)
        return 16 + r % 113;
    if (p < 95)
        return 128 + r % 1921;
    return 2048 + r % 30721;
}

static void *worker(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 7;
    void *live[LIVE] = {0};
    uint64_t sum = 0;
    for (long i = 0; i < ops; i++) {
        uint64_t r = next(&s);
        size_t k = (size_t)(r >> 40) % LIVE;
        free(live[k]);
        char *p = malloc(pick_size(r));
        if (!p)
            abort();
        p[0] = (char)i;
        sum += (uintptr_t)p & 0xff;
        live[k] = p;
    }
    for (size_t k = 0; k < LIVE; k++)
        free(live[k]);
    return (void *)(uintptr_t)sum;
}

static double now(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 8;
    if (argc > 2)
        ops = atol(argv[2]);
    if (threads < 1 || threads > 256 || ops < 1)
        return 2;
    pthread_t t[256];
    double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double wall = now(CLOCK_MONOTONIC) - w0, cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    double n = (double)threads * (double)ops;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"ops\": %.0f, \"wall_s\": %.3f, \"cpu_s\": %.3f, \"wall_mops\": %.2f, "
           "\"cpu_ns_per_op\": %.1f, \"maxrss_kib\": %ld}\n",
           n, wall, cpu, n / wall / 1e6, cpu / n * 1e9, ru.ru_maxrss);
    return 0;
}
