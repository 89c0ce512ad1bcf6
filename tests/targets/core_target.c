/*
 * core_target -- a small process to take cores of, for the hostile-core
 * tests (tests/cores/test_cores.py).  Its core must be small (the tests
 * write thousands of mutants of it) and still hold every kind of chunk:
 * a second thread with its own tcache, tcache, fastbin and bin chunks,
 * and one mmapped chunk.  One arena only: a thread arena reserves 64 MiB,
 * which gcore writes out whole.
 *
 * It prints one JSON line with its pid and its own mallinfo2() figures,
 * then blocks reading stdin until it is told "exit" (or killed).
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ready;
static void *volatile keep[64];

static void *worker(void *arg)
{
    (void)arg;
    /* some chunks held, some in this thread's tcache */
    void *mine[24];
    for (int i = 0; i < 24; i++)
        mine[i] = malloc(40 + 16 * (i % 4));
    for (int i = 0; i < 24; i += 3)
        free(mine[i]);
    keep[63] = mine[1];
    pthread_mutex_lock(&mu);
    ready = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (;;)
        pause();
    return NULL;
}

int main(void)
{
    mallopt(M_ARENA_MAX, 1);
    /* the mmapped chunk first: a large request consolidates the fastbins */
    void *big = malloc(200 * 1024);
    memset(big, 1, 64);
    keep[0] = big;
    void *p[200];
    for (int i = 0; i < 200; i++)
        p[i] = malloc(i < 100 ? 24 : 200 + 8 * i);
    /* The larger ones go to bins; then the small ones to the tcache (7)
     * and the fastbins (last: a free that grows top past 64 KiB would
     * consolidate the fastbins). */
    for (int i = 101; i < 200; i += 2)
        free(p[i]);
    for (int i = 0; i < 100; i += 4)
        free(p[i]);
    for (int i = 0; i < 60; i++)
        keep[i + 1] = p[i * 3 % 200 == 0 ? 1 : i * 3 % 200];

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024); /* keeps the core small */
    pthread_t th;
    if (pthread_create(&th, &attr, worker, NULL) != 0)
        return 1;
    pthread_mutex_lock(&mu);
    while (!ready)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);

    struct mallinfo2 mi = mallinfo2();
    char line[512];
    int n = snprintf(line, sizeof line,
                     "{\"pid\": %d, \"mallinfo2\": {\"arena\": %zu, \"ordblks\": %zu, "
                     "\"smblks\": %zu, \"hblks\": %zu, \"hblkhd\": %zu, \"usmblks\": %zu, "
                     "\"fsmblks\": %zu, \"uordblks\": %zu, \"fordblks\": %zu, "
                     "\"keepcost\": %zu}}\n",
                     (int)getpid(), mi.arena, mi.ordblks, mi.smblks, mi.hblks, mi.hblkhd,
                     mi.usmblks, mi.fsmblks, mi.uordblks, mi.fordblks, mi.keepcost);
    /* write(2), not stdio: printf would malloc a buffer after the figures */
    if (write(1, line, (size_t)n) != n)
        return 1;
    char buf[16];
    while (read(0, buf, sizeof buf) > 0)
        ;
    return 0;
}
