/*
 * many_arenas -- N threads (default 8), each with its own arena, allocating
 * a mix of sizes and freeing some; plus a few mmapped chunks.  Prints
 * "pid N" once every thread is done, then sleeps.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_barrier_t done;
/* kept where the compiler cannot prove them unused (or it drops the mallocs) */
static void *volatile big[3];

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(size_t)arg * 2654435761u;
    enum { N = 40000 };
    void **v = malloc(N * sizeof *v);
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t sz = (seed >> 16) % 8 == 0 ? 2048 + (seed % 30000) : 16 + (seed >> 8) % 400;
        v[i] = malloc(sz);
        memset(v[i], 1, sz < 32 ? sz : 32);
    }
    for (int i = 0; i < N; i += 4)
        free(v[i]);
    pthread_barrier_wait(&done);
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 8;
    if (n < 1 || n > 256)
        n = 8;
    pthread_barrier_init(&done, NULL, (unsigned)n + 1);
    for (int i = 0; i < 3; i++)
        big[i] = malloc((size_t)(i + 1) << 20);
    pthread_t th;
    for (int i = 0; i < n; i++)
        pthread_create(&th, NULL, worker, (void *)(size_t)(i + 1));
    pthread_barrier_wait(&done);
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    for (;;)
        pause();
}
