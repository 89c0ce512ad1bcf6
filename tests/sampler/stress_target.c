/*
 * stress_target.c -- the allocation sampler under load: 16 threads
 * allocating and freeing each other's objects, realloc chains, memalign,
 * threads that exit and new ones in their place, fork+exec, dlopen and
 * dlclose of a library that allocates (alloc_lib.c, argv[1]).  Then it
 * frees all it holds but a known set, prints {"pid": N, "kept_objects": K}
 * and waits for a line on stdin (heapgrab reads it meanwhile) before
 * exiting.  No crash, no deadlock is the first check; the counts are the
 * test's.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 16
#define ROUNDS 2
#define OPS 20000
#define RING 4096

static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static void *ring[RING];
static const char *lib_path;

static void *lib_objects[64];
static int nlib_objects;

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Put p in the ring; free what was in its place (another thread's). */
static void swap_into_ring(void *p, uint64_t r)
{
    pthread_mutex_lock(&ring_lock);
    void *old = ring[r % RING];
    ring[r % RING] = p;
    pthread_mutex_unlock(&ring_lock);
    free(old);
}

static void *worker(void *arg)
{
    uint64_t s = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    for (int i = 0; i < OPS; i++) {
        uint64_t r = next(&s);
        void *p = NULL;
        switch (r % 8) {
        case 0: p = malloc(r % 300 + 1); break;
        case 1: p = calloc(r % 20 + 1, 24); break;
        case 2: {
            /* a chain of reallocs, growing and shrinking */
            p = malloc(8);
            for (int k = 0; k < 6 && p; k++)
                p = realloc(p, (size_t)((r >> (k * 4)) % 5000) + 1);
            break;
        }
        case 3: p = memalign(64 << (r % 4), r % 2000 + 1); break;
        case 4: if (posix_memalign(&p, 256, r % 999 + 1) != 0) p = NULL; break;
        case 5: p = aligned_alloc(128, 512); break;
        case 6: p = malloc(r % 200000 + 1); break; /* some mmapped */
        default: p = valloc(r % 100 + 1); break;
        }
        if (p)
            swap_into_ring(p, r >> 20);
    }
    return NULL;
}

static void *forker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++) {
        pid_t c = fork();
        if (c == 0) {
            /* the child allocates too (the sampler's locks were released) */
            free(malloc(100));
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        if (c > 0)
            waitpid(c, NULL, 0);
    }
    return NULL;
}

static void *loader(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20; i++) {
        void *h = dlopen(lib_path, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            fprintf(stderr, "dlopen: %s\n", dlerror());
            exit(3);
        }
        void *(*make)(size_t) = (void *(*)(size_t))(uintptr_t)dlsym(h, "alloc_lib_make");
        for (int k = 0; k < 3 && make && nlib_objects < 64; k++)
            lib_objects[nlib_objects++] = make(1000 + (size_t)k);
        dlclose(h);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: stress_target ALLOC_LIB\n");
        return 2;
    }
    lib_path = argv[1];
    pthread_t fork_thread, load_thread;
    pthread_create(&fork_thread, NULL, forker, NULL);
    pthread_create(&load_thread, NULL, loader, NULL);
    for (int round = 0; round < ROUNDS; round++) {
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++)
            pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(round * THREADS + i + 1));
        for (int i = 0; i < THREADS; i++)
            pthread_join(t[i], NULL);
    }
    pthread_join(fork_thread, NULL);
    pthread_join(load_thread, NULL);
    /* keep the ring's first 100 objects, free the rest */
    int kept = 0;
    for (int i = 0; i < RING; i++) {
        if (i < 100 && ring[i]) {
            kept++;
            continue;
        }
        free(ring[i]);
        ring[i] = NULL;
    }
    printf("{\"pid\": %d, \"kept_objects\": %d, \"lib_objects\": %d}\n", (int)getpid(), kept,
           nlib_objects);
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        return 0;
    return 0;
}
