/*
 * gt_target -- a ground-truth target for heapgrab's live tests.
 *
 * It takes commands on stdin, one per line, carries them out, and answers
 * each with one JSON line: its own mallinfo2() and exactly what it holds.
 * Then it blocks in read(2), so the heap is still while heapgrab looks.
 *
 * After startup it never uses stdio or allocates for its own bookkeeping:
 * a first printf would malloc a buffer, and a large malloc consolidates the
 * fastbins -- either would change the heap after the figures were taken.
 *
 *   alloc N SIZE            main thread mallocs N blocks and keeps them
 *   free K                  main thread frees the last K blocks it holds
 *   free_step FIRST N STEP  main thread frees N held blocks: FIRST, FIRST+STEP, ...
 *   thread_alloc T N SIZE   worker T (created on first use, own arena) mallocs
 *   thread_free T K         worker T frees its last K blocks
 *   big N SIZE              main thread mallocs N mmapped blocks (SIZE >= 1 MiB)
 *   free_big K              frees the last K of those
 *   big_align N ALIGN SIZE  like big, with posix_memalign (the chunk glibc
 *                           returns starts ALIGN-ish bytes into its mapping)
 *   hole SIZE               main thread frees a SIZE block kept between two
 *                           live ones (so it lands in a bin, not in top),
 *                           then malloc_trim(0) hands its pages back; the
 *                           answer's "hole" says how many of its bytes are
 *                           in whole pages that are not resident (mincore)
 *   trim                    malloc_trim(0)
 *   addrs                   answer, listing (from now on) the addresses of
 *                           the first 64 blocks main holds ("addrs")
 *   fork                    fork(); the parent waits for the child and exits with
 *                           its status, the child takes the commands from now
 *                           on (its answers give its own pid).  Workers do not
 *                           survive: their blocks stay held, and the next
 *                           thread_alloc/thread_free for one starts a new
 *                           thread for it in the child (glibc hands a new
 *                           thread a free arena: with one worker, the one it
 *                           used); its "tid" is 0 until then
 *   mallopt NAME VALUE      mallopt(M_NAME, VALUE), NAME one of trim_threshold,
 *                           top_pad, mmap_threshold, mmap_max, arena_test,
 *                           arena_max (exits 9 if glibc refuses it)
 *   large_bin               three free chunks in one large bin: blocks of 2000,
 *                           2016 and 2000 bytes (chunks 2016, 2032, 2016) kept
 *                           apart by live ones, freed, then sorted into the
 *                           bin by a malloc(4000) the target keeps; the answer's
 *                           "large" lists their chunk addresses in that order
 *   poke_nextsize I VALUE   the target corrupts itself: writes VALUE over the
 *                           fd_nextsize word of large_bin's chunk I (0-2).  Only
 *                           'report' and 'exit' are safe after this
 *   report                  just answer
 *   exit
 *
 * Built with -DGT_NO_THREADS it starts no thread (thread_* commands exit 4).
 *
 * Each answer also gives "thread_arenas", the number of thread arenas the
 * target expects: one per worker (workers never exit, and there are fewer
 * of them than glibc's limit of 8 arenas per core).
 */
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_HELD (1 << 21)
#define MAX_WORKERS 8
#define MAX_WHELD (1 << 16)
#define MAX_BIG 256

struct held {
    void **p;
    size_t n, cap;
};

static void *main_slots[MAX_HELD];
static struct held main_held = {main_slots, 0, MAX_HELD};
static uint64_t hole_addr, hole_size; /* the freed block's chunk */
static void *hole_guard[2];
static void *big_slots[MAX_BIG];
static struct held big_held = {big_slots, 0, MAX_BIG};

struct worker {
    pthread_t th;
    int running;          /* its thread exists (not in a forked child) */
    int started;
    int tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int cmd; /* 0 none, 1 alloc, 2 free */
    size_t n, size;
    void *slots[MAX_WHELD];
    struct held held;
};
static struct worker workers[MAX_WORKERS];

static size_t chunk_size(void *p) { return ((size_t *)p)[-1] & ~(size_t)7; }

static void do_alloc(struct held *h, size_t n, size_t size)
{
    for (size_t i = 0; i < n && h->n < h->cap; i++) {
        void *p = malloc(size);
        if (!p)
            _exit(3);
        memset(p, 0x5a, size < 64 ? size : 64);
        h->p[h->n++] = p;
    }
}

static void do_free(struct held *h, size_t k)
{
    for (size_t i = 0; i < k && h->n > 0; i++)
        free(h->p[--h->n]);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->tid = (int)syscall(SYS_gettid);
    /* the thread's tcache and arena exist from now on, and its tcache
     * holds this one 0x20 chunk (volatile: the pair must not be elided) */
    void *volatile warm = malloc(24);
    free(warm);
    pthread_mutex_lock(&w->mu);
    w->started = 1;
    pthread_cond_broadcast(&w->cv);
    for (;;) {
        while (w->cmd == 0)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->cmd == 1)
            do_alloc(&w->held, w->n, w->size);
        else if (w->cmd == 2)
            do_free(&w->held, w->n);
        w->cmd = 0;
        pthread_cond_broadcast(&w->cv);
    }
    return NULL;
}

static struct worker *worker(int t)
{
#ifdef GT_NO_THREADS
    /* built without threads, so that no thread code (and none of its
     * version strings) is linked into a static build */
    (void)worker_main;
    (void)t;
    _exit(4);
#endif
    if (t < 0 || t >= MAX_WORKERS)
        _exit(4);
    struct worker *w = &workers[t];
    if (!w->running) {
        if (!w->held.p) {
            w->held.p = w->slots;
            w->held.cap = MAX_WHELD;
        }
        w->running = 1;
        w->started = 0;
        w->cmd = 0;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
#ifndef GT_NO_THREADS
        if (pthread_create(&w->th, NULL, worker_main, w) != 0)
            _exit(5);
#endif
        pthread_mutex_lock(&w->mu);
        while (!w->started)
            pthread_cond_wait(&w->cv, &w->mu);
        pthread_mutex_unlock(&w->mu);
    }
    return w;
}

static void worker_do(int t, int cmd, size_t n, size_t size)
{
    struct worker *w = worker(t);
    pthread_mutex_lock(&w->mu);
    w->cmd = cmd;
    w->n = n;
    w->size = size;
    pthread_cond_broadcast(&w->cv);
    while (w->cmd != 0)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

/* Output without stdio: append to a static buffer, write(2) at the end. */
static char out[1 << 16];
static size_t outlen;

static void put(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + outlen, sizeof out - outlen, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof out - outlen)
        outlen += (size_t)n;
}

static void put_held(const char *name, const struct held *h, int mmapped)
{
    size_t usable = 0, chunks = 0;
    for (size_t i = 0; i < h->n; i++) {
        usable += malloc_usable_size(h->p[i]);
        chunks += chunk_size(h->p[i]);
    }
    put("\"%s\":{\"n\":%zu,\"usable\":%zu,\"chunk\":%zu,\"mmapped\":%d}", name, h->n, usable,
        chunks, mmapped);
}

#if __GLIBC__ == 2 && __GLIBC_MINOR__ < 33
/* mallinfo2 came in glibc 2.33; mallinfo's int fields are exact for the
 * small heaps the tests build. */
struct mallinfo2 {
    size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};
static struct mallinfo2 mallinfo2(void)
{
    struct mallinfo m = mallinfo();
    struct mallinfo2 r = {(unsigned)m.arena,    (unsigned)m.ordblks,  (unsigned)m.smblks,
                          (unsigned)m.hblks,    (unsigned)m.hblkhd,   (unsigned)m.usmblks,
                          (unsigned)m.fsmblks,  (unsigned)m.uordblks, (unsigned)m.fordblks,
                          (unsigned)m.keepcost};
    return r;
}
#endif

static int list_addrs;
static uint64_t large_chunks[3]; /* large_bin's freed chunks */

static void report(void)
{
    struct mallinfo2 m = mallinfo2();
    outlen = 0;
    put("{\"pid\":%d,\"mallinfo2\":{\"arena\":%zu,\"ordblks\":%zu,\"smblks\":%zu,\"hblks\":%zu,"
        "\"hblkhd\":%zu,\"usmblks\":%zu,\"fsmblks\":%zu,\"uordblks\":%zu,\"fordblks\":%zu,"
        "\"keepcost\":%zu},",
        (int)getpid(), m.arena, m.ordblks, m.smblks, m.hblks, m.hblkhd, m.usmblks, m.fsmblks,
        m.uordblks, m.fordblks, m.keepcost);
    put_held("main", &main_held, 0);
    put(",");
    put_held("big", &big_held, 1);
    /* whole pages inside the hole's chunk (past its 48-byte header and
     * links) that are not resident */
    size_t hole_released = 0;
    if (hole_size) {
        uint64_t lo = (hole_addr + 48 + 4095) & ~4095ull, hi = (hole_addr + hole_size) & ~4095ull;
        static unsigned char vec[1 << 16];
        if (hi > lo && (hi - lo) / 4096 <= sizeof vec &&
            mincore((void *)(uintptr_t)lo, hi - lo, vec) == 0)
            for (uint64_t i = 0; i < (hi - lo) / 4096; i++)
                hole_released += (vec[i] & 1) ? 0 : 4096;
    }
    put(",\"hole\":{\"chunk\":%zu,\"released\":%zu}", (size_t)hole_size, hole_released);
    int nworkers = 0;
    for (int t = 0; t < MAX_WORKERS; t++)
        nworkers += workers[t].held.p != NULL;
    put(",\"thread_arenas\":%d", nworkers);
    if (large_chunks[0])
        put(",\"large\":[%lu,%lu,%lu]", (unsigned long)large_chunks[0],
            (unsigned long)large_chunks[1], (unsigned long)large_chunks[2]);
    if (list_addrs) {
        put(",\"addrs\":[");
        for (size_t i = 0; i < main_held.n && i < 64; i++)
            put("%s%lu", i ? "," : "", (unsigned long)(uintptr_t)main_held.p[i]);
        put("]");
    }
    put(",\"main_tid\":%d,\"workers\":[", (int)getpid());
    int first = 1;
    for (int t = 0; t < MAX_WORKERS; t++) {
        if (!workers[t].held.p)
            continue;
        put("%s{\"index\":%d,\"tid\":%d,", first ? "" : ",", t, workers[t].tid);
        put_held("held", &workers[t].held, 0);
        put("}");
        first = 0;
    }
    put("]}\n");
    if (write(1, out, outlen) < 0)
        _exit(6);
}

/* One line from stdin into buf (without the newline); 0 at end of input. */
static int read_line(char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(0, &c, 1);
        if (r <= 0)
            return n > 0;
        if (c == '\n')
            break;
        if (n + 1 < cap)
            buf[n++] = c;
    }
    buf[n] = '\0';
    return 1;
}

int main(void)
{
    static char line[256];
    /* stdio is not used, but should anything print, it must not allocate
     * a buffer behind the figures' back */
    setvbuf(stdout, NULL, _IONBF, 0);
    report(); /* the first answer: the heap as it starts */
    while (read_line(line, sizeof line)) {
        char cmd[32];
        unsigned long a = 0, b = 0, c = 0;
        int k = sscanf(line, "%31s %lu %lu %lu", cmd, &a, &b, &c);
        if (k < 1)
            continue;
        if (!strcmp(cmd, "alloc") && k == 3)
            do_alloc(&main_held, a, b);
        else if (!strcmp(cmd, "free") && k == 2)
            do_free(&main_held, a);
        else if (!strcmp(cmd, "free_step") && k == 4) {
            for (unsigned long i = 0, j = a; i < b && j < main_held.n; i++, j += c)
                if (main_held.p[j]) {
                    free(main_held.p[j]);
                    /* keep the array dense: move the last one here */
                    main_held.p[j] = NULL;
                }
            size_t w = 0;
            for (size_t i = 0; i < main_held.n; i++)
                if (main_held.p[i])
                    main_held.p[w++] = main_held.p[i];
            main_held.n = w;
        } else if (!strcmp(cmd, "thread_alloc") && k == 4)
            worker_do((int)a, 1, b, c);
        else if (!strcmp(cmd, "thread_free") && k == 3)
            worker_do((int)a, 2, b, 0);
        else if (!strcmp(cmd, "big") && k == 3)
            do_alloc(&big_held, a, b);
        else if (!strcmp(cmd, "big_align") && k == 4) {
            for (unsigned long i = 0; i < a && big_held.n < big_held.cap; i++) {
                void *p;
                if (posix_memalign(&p, b, c) != 0)
                    _exit(3);
                memset(p, 0x5a, 64);
                big_held.p[big_held.n++] = p;
            }
        } else if (!strcmp(cmd, "free_big") && k == 2)
            do_free(&big_held, a);
        else if (!strcmp(cmd, "hole") && k == 2 && !hole_size) {
            hole_guard[0] = malloc(64);
            void *h = malloc(a);
            hole_guard[1] = malloc(64);
            if (!hole_guard[0] || !h || !hole_guard[1])
                _exit(7);
            memset(h, 0x33, a);
            hole_addr = (uint64_t)(uintptr_t)h - 16;
            hole_size = chunk_size(h);
            free(h);
            malloc_trim(0);
        } else if (!strcmp(cmd, "addrs"))
            list_addrs = 1;
        else if (!strcmp(cmd, "trim"))
            malloc_trim(0);
        else if (!strcmp(cmd, "large_bin") && !large_chunks[0]) {
            /* volatile: a newer compiler drops malloc/free pairs and
             * blocks nobody reads */
            static void *volatile guards[3], *volatile sorter;
            static const size_t sizes[3] = {2000, 2016, 2000};
            void *volatile blocks[3];
            for (int i = 0; i < 3; i++) {
                blocks[i] = malloc(sizes[i]);
                guards[i] = malloc(64);
                if (!blocks[i] || !guards[i])
                    _exit(7);
                large_chunks[i] = (uint64_t)(uintptr_t)blocks[i] - 16;
            }
            for (int i = 0; i < 3; i++)
                free(blocks[i]);
            /* too big for any of them: they leave the unsorted bin for
             * their large bin, and this comes from top */
            if (!(sorter = malloc(4000)))
                _exit(7);
        } else if (!strcmp(cmd, "poke_nextsize") && k == 3 && a < 3 && large_chunks[0]) {
            uint64_t *fd_nextsize = (uint64_t *)(uintptr_t)(large_chunks[a] + 32);
            *fd_nextsize = b;
        } else if (!strcmp(cmd, "mallopt")) {
            static const struct {
                const char *name;
                int param;
            } params[] = {{"trim_threshold", M_TRIM_THRESHOLD}, {"top_pad", M_TOP_PAD},
                          {"mmap_threshold", M_MMAP_THRESHOLD}, {"mmap_max", M_MMAP_MAX},
                          {"arena_test", M_ARENA_TEST}, {"arena_max", M_ARENA_MAX}};
            char name[32];
            long value;
            int known = 0;
            if (sscanf(line, "%*s %31s %ld", name, &value) == 2)
                for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
                    if (!strcmp(name, params[i].name) && mallopt(params[i].param, (int)value) == 1)
                        known = 1;
            if (!known)
                _exit(9);
        } else if (!strcmp(cmd, "fork")) {
            pid_t child = fork();
            if (child < 0)
                _exit(8);
            if (child > 0) {
                int status;
                while (waitpid(child, &status, 0) < 0)
                    ;
                _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            }
            /* only this thread came along; the workers' locks and
             * condition variables are set up afresh with their next thread */
            for (int t = 0; t < MAX_WORKERS; t++) {
                workers[t].running = 0;
                workers[t].tid = 0;
            }
        } else if (!strcmp(cmd, "exit"))
            return 0;
        report();
    }
    return 0;
}
