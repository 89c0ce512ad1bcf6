/*
 * soak_target -- a busy multithreaded program that checks its own memory,
 * for bench/soak.py: heapgrab snapshots it again and again for an hour
 * while it works, and it must come out of that with every byte as it left
 * it and every signal it was sent.
 *
 *   soak_target THREADS
 *
 * Each thread keeps up to 4096 blocks of random sizes (16 bytes to 256 KiB,
 * some mmapped), fills each with a pattern made from its address and a
 * sequence number, and checks the pattern before freeing it or when it
 * picks it again; some blocks are freed by another thread.  SIGRTMIN (a
 * queued signal: none is merged with another) is counted.  Each line on
 * stdin is answered with one line of counts:
 *   ops N checked N bad N signals N
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 4096

struct block {
    uint64_t *p;
    size_t words;
    uint64_t seq;
};

static atomic_ulong ops, checked, bad, signals;
static _Atomic(struct block *) handoff; /* a block one thread leaves for another to free */

static uint64_t word_at(const struct block *b, size_t i)
{
    return ((uint64_t)(uintptr_t)b->p * 0x9e3779b97f4a7c15ull) ^ (b->seq << 20) ^ i;
}

static void fill(struct block *b)
{
    for (size_t i = 0; i < b->words; i++)
        b->p[i] = word_at(b, i);
}

static void check(struct block *b)
{
    /* the first, last and a few words between: whole blocks would make
     * this a memory benchmark */
    size_t step = b->words > 64 ? b->words / 16 : 1;
    for (size_t i = 0; i < b->words; i += step)
        if (b->p[i] != word_at(b, i))
            atomic_fetch_add(&bad, 1);
    if (b->p[b->words - 1] != word_at(b, b->words - 1))
        atomic_fetch_add(&bad, 1);
    atomic_fetch_add(&checked, 1);
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *worker(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg * 0x2545f4914f6cdd1dull + 1;
    struct block *slots = calloc(SLOTS, sizeof *slots);
    uint64_t seq = 0;
    for (;;) {
        struct block *b = &slots[next_rand(&seed) % SLOTS];
        if (b->p) {
            check(b);
            if (next_rand(&seed) % 8 == 0) {
                /* give it to whoever comes next, free theirs */
                struct block *mine = malloc(sizeof *mine);
                *mine = *b;
                struct block *theirs = atomic_exchange(&handoff, mine);
                if (theirs) {
                    check(theirs);
                    free(theirs->p);
                    free(theirs);
                }
            } else {
                free(b->p);
            }
            b->p = NULL;
        }
        uint64_t r = next_rand(&seed);
        size_t bytes = r % 100 < 90 ? 16 + r % 2048 : r % 100 < 99 ? 4096 + r % 65536 : 131072 + r % 131072;
        b->words = bytes / 8;
        b->seq = ++seq;
        b->p = malloc(b->words * 8);
        if (!b->p)
            abort();
        fill(b);
        atomic_fetch_add(&ops, 1);
    }
    return NULL;
}

static void on_signal(int sig)
{
    (void)sig;
    atomic_fetch_add(&signals, 1);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 4;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGRTMIN, &sa, NULL);
    for (int i = 0; i < n; i++) {
        pthread_t th;
        pthread_create(&th, NULL, worker, (void *)(uintptr_t)(i + 1));
    }
    char line[64];
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        printf("ops %lu checked %lu bad %lu signals %lu\n", atomic_load(&ops),
               atomic_load(&checked), atomic_load(&bad), atomic_load(&signals));
        fflush(stdout);
    }
    return 0;
}
