/*
 * busy_target -- a heap that never rests: THREADS threads each keep SLOTS
 * live blocks of 16..2048 bytes and replace one at random, over and over,
 * as fast as they can or at about RATE MB/s allocated over all threads.
 * Prints {"pid": N, "live_bytes": ...} once the live set is built, then
 * runs until killed.  For --no-stop (tests/pause, bench/pause.sh).
 *
 *   busy_target [THREADS [SLOTS [RATE_MB_S]]]   defaults: 2, 100000, 0 (no limit)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long slots;
static double rate; /* bytes a second per thread, 0: no limit */
static pthread_barrier_t built;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *churn(void *arg)
{
    unsigned seed = (unsigned)(size_t)arg * 2654435761u + 1;
    void **v = calloc((size_t)slots, sizeof *v);
    if (!v)
        _exit(2);
    for (long i = 0; i < slots; i++)
        v[i] = malloc(16 + (size_t)(rand_r(&seed) % 2033));
    pthread_barrier_wait(&built);
    double t0 = now(), bytes = 0;
    for (unsigned long k = 1;; k++) {
        long i = rand_r(&seed) % slots;
        size_t n = 16 + (size_t)(rand_r(&seed) % 2033);
        free(v[i]);
        v[i] = malloc(n);
        memset(v[i], 1, n < 64 ? n : 64);
        bytes += (double)n;
        if (rate > 0 && k % 256 == 0) {
            double ahead = bytes / rate - (now() - t0);
            if (ahead > 0.001)
                usleep((useconds_t)(ahead * 1e6));
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    slots = argc > 2 ? atol(argv[2]) : 100000;
    rate = argc > 3 ? atof(argv[3]) * 1e6 : 0;
    if (threads < 1 || threads > 64 || slots < 1)
        return 2;
    rate /= threads;
    pthread_barrier_init(&built, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++) {
        pthread_t th;
        if (pthread_create(&th, NULL, churn, (void *)(size_t)(i + 1)) != 0)
            return 2;
    }
    pthread_barrier_wait(&built);
    printf("{\"pid\": %d, \"threads\": %d, \"slots\": %ld}\n", (int)getpid(), threads, slots);
    fflush(stdout);
    for (;;)
        pause();
}
