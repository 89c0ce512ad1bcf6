/*
 * demo -- a process with a recognisable heap, for the README's first
 * command: 10000 "leaked" 10 KB buffers, 50000 small objects of which some
 * are freed (into tcache, fastbins and bins), two threads with their own
 * arenas, and two mmapped 4 MiB chunks.  Prints "pid N", then sleeps.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEAKS 10000
#define SMALL 50000

static void *leaked[LEAKS];
static void *small[SMALL];
static void *big[2];
static pthread_barrier_t ready;

static void *worker(void *arg)
{
    size_t n = (size_t)arg;
    void **v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = malloc(32 + (i % 40) * 16);
    for (size_t i = 0; i < n; i += 3)
        free(v[i]);
    pthread_barrier_wait(&ready);
    for (;;)
        pause();
    return NULL;
}

int main(void)
{
    pthread_barrier_init(&ready, NULL, 3);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, worker, (void *)(size_t)(20000 * (i + 1)));
    for (int i = 0; i < 2; i++) {
        big[i] = malloc(4 << 20);
        memset(big[i], 1, 4 << 20);
    }
    for (int i = 0; i < LEAKS; i++) {
        leaked[i] = malloc(10 * 1024);
        memset(leaked[i], 'x', 10 * 1024);
    }
    for (int i = 0; i < SMALL; i++)
        small[i] = malloc(16 + (i % 12) * 8);
    for (int i = 0; i < SMALL; i += 5)
        free(small[i]);
    pthread_barrier_wait(&ready);
    char line[64];
    int n = snprintf(line, sizeof line, "pid %d\n", (int)getpid());
    if (write(1, line, (size_t)n) < 0)
        return 1;
    for (;;)
        pause();
}
