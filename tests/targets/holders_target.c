/*
 * holders_target -- a process that builds a known graph of heap objects and
 * says, from its own bookkeeping, what each root retains and what it
 * leaked, for the holders and leaks tests.
 *
 *   holders_target [N]      N requests (default 1000); the list is 10 * N long
 *
 * It prints one JSON line and then waits for stdin to close:
 *   {"pid", "roots": [{"kind", "name", "thread", "function",
 *                      "retained_objects", "retained_bytes"}...],
 *    "several_roots": {"objects", "bytes", "addresses"},
 *    "leaks": {"direct_objects", "direct_bytes", "indirect_objects",
 *              "indirect_bytes", "possibly_objects", "possibly_bytes"},
 *    "requested": {"direct_bytes", "indirect_bytes"}}
 * Bytes are usable bytes (malloc_usable_size), as heapgrab counts them;
 * "requested" gives what was asked of malloc, as LeakSanitizer counts it.
 *
 * The graph:
 *   g_tracker    -> struct tracker -> array of N request pointers -> N
 *                   requests, each owning a body of its own size
 *   g_list       -> a linked list of 10 * N nodes
 *   g_buffers[8] -> buffers; [3] is also g_alias's and [5] is also held on
 *                   the holder thread's stack (both: several roots), [7] is
 *                   mmapped (1 MiB)
 *   g_interior   -> 24 bytes into a block: reached only by an interior
 *                   pointer ("possibly")
 *   hold_on_stack, in the thread "holder": a local holding a blob
 *   t_buf        (TLS, in the holder thread) -> a blob
 *   t_dyn        (TLS of a dlopen'ed library, in the holder thread, when
 *                 the library is given as HOLDERS_TLS_LIB) -> a blob
 *   leaks:       8 blocks dropped (direct), a list of 50 whose head was
 *                dropped (1 direct, 49 indirect), a ring of 20 (all
 *                indirect), one block pointing at itself (direct)
 *   freed:       a tcache-sized block and an unsorted-bin-sized one, freed
 *                after pointers to leaked blocks were written into them
 *
 * Every block the target keeps is wholly written (calloc or memset), so no
 * stale pointer hides in it; the stack below the blocking call is scrubbed
 * so no dead frame keeps a leaked pointer.  Built with -fsanitize=leak
 * (LSAN), it calls __lsan_do_recoverable_leak_check() at the same point,
 * whose report the test compares with these counts.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef LSAN
#include <sanitizer/lsan_interface.h>
#endif
#include <stdarg.h>

#define NOINLINE __attribute__((noinline))

struct body {
    char bytes[1];
};
struct request {
    uint64_t id;
    struct body *body;
    char pad[40];
};
struct tracker {
    size_t n;
    struct request **reqs;
};
struct node {
    struct node *next;
    uint64_t value;
};
struct blob {
    uint64_t words[6];
};

struct tracker *g_tracker;
struct node *g_list;
char *g_buffers[8];
char *g_alias;
char *g_interior;
/* not static: a static one that is never read may lose its stores, and
 * its blob would be a leak */
__thread struct blob *t_buf;

struct account {
    uint64_t objects, bytes, requested;
};
static struct account r_tracker, r_list, r_buffers, r_interior, r_stack, r_tls, r_tls_dyn,
    several, direct, indirect, possibly;

static void *take(struct account *a, size_t n)
{
    void *p = calloc(1, n);
    if (!p)
        abort();
    a->objects++;
    a->bytes += malloc_usable_size(p);
    a->requested += n;
    return p;
}

static NOINLINE void build_tracker(size_t n)
{
    g_tracker = take(&r_tracker, sizeof *g_tracker);
    g_tracker->n = n;
    g_tracker->reqs = take(&r_tracker, n * sizeof *g_tracker->reqs);
    for (size_t i = 0; i < n; i++) {
        struct request *r = take(&r_tracker, sizeof *r);
        r->id = i;
        r->body = take(&r_tracker, 100 + (i * 37) % 3000);
        g_tracker->reqs[i] = r;
    }
}

static NOINLINE void build_list(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct node *x = take(&r_list, sizeof *x);
        x->value = i;
        x->next = g_list;
        g_list = x;
    }
}

static NOINLINE void build_buffers(void)
{
    for (int i = 0; i < 8; i++) {
        size_t n = i == 7 ? (1u << 20) : 256u << i;
        /* [3] and [5] are held by a second root too: retained by neither */
        g_buffers[i] = take(i == 3 || i == 5 ? &several : &r_buffers, n);
        memset(g_buffers[i], 'b', n);
    }
    g_alias = g_buffers[3];
}

static NOINLINE void build_interior(void)
{
    /* reachable, but only through a pointer into its middle */
    char *p = take(&r_interior, 64);
    possibly.objects++;
    possibly.bytes += malloc_usable_size(p);
    g_interior = p + 24;
}

/* Leaks, made in frames that return: the pointers die with them. */
static NOINLINE void leak_direct(int n)
{
    for (int i = 0; i < n; i++) {
        char *p = take(&direct, 40 + 8 * (size_t)i);
        memset(p, 'd', 40);
    }
}

static NOINLINE void leak_list(int n)
{
    struct node *head = NULL;
    for (int i = 0; i < n; i++) {
        struct node *x = take(i == n - 1 ? &direct : &indirect, sizeof *x);
        x->next = head;
        head = x;
    }
}

static NOINLINE void leak_ring(int n)
{
    struct node *first = take(&indirect, sizeof *first), *last = first;
    for (int i = 1; i < n; i++) {
        struct node *x = take(&indirect, sizeof *x);
        last->next = x;
        last = x;
    }
    last->next = first;
}

static NOINLINE void leak_self(void)
{
    struct node *x = take(&direct, sizeof *x);
    x->next = x; /* a pointer to itself keeps nothing (LeakSanitizer's rule) */
}

/* Freed blocks whose stale contents point at leaked blocks: free memory is
 * not scanned, so those stay leaked. */
static NOINLINE void free_with_stale_pointers(void)
{
    struct account junk = {0};
    void **small = take(&junk, 64), **large = take(&junk, 4000), **guard = take(&junk, 32);
    for (int i = 0; i < 8; i++)
        small[i] = large[i] = take(&direct, 48);
    free(small); /* to the tcache */
    free(large); /* to the unsorted bin (the guard keeps it from the top) */
    (void)guard; /* stays, unreachable: counted below */
    direct.objects++;
    direct.bytes += malloc_usable_size(guard);
    direct.requested += 32;
}

/* Zero the registers a call leaves dead: a thread blocked in read(2)
 * keeps in them whatever the code before left there (glibc 2.31 left the
 * holder's blob in the main thread's r10), and a stop sees them as they
 * are.  The compiler saves nothing for them: they are the caller's to lose. */
#if defined(__x86_64__)
#define CLEAR_DEAD_REGISTERS()                                                           \
    __asm__ volatile("xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\t"          \
                     "xor %%esi, %%esi\n\txor %%edi, %%edi\n\txor %%r8d, %%r8d\n\t"           \
                     "xor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\txor %%r11d, %%r11d"             \
                     ::: "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory")
/* The same for the registers a function keeps across calls: what the
 * blocking call's callees save of them lands in its red zone. */
#define CLEAR_SAVED_REGISTERS()                                                           \
    __asm__ volatile("xor %%ebx, %%ebx\n\txor %%r12d, %%r12d\n\txor %%r13d, %%r13d\n\t"     \
                     "xor %%r14d, %%r14d\n\txor %%r15d, %%r15d"                                \
                     ::: "rbx", "r12", "r13", "r14", "r15", "memory")
#else
#define CLEAR_DEAD_REGISTERS() ((void)0)
#define CLEAR_SAVED_REGISTERS() ((void)0)
#endif

/* Overwrite the stack below the caller, where dead frames left pointers. */
static NOINLINE void scrub_stack(void)
{
    volatile char wipe[256 * 1024];
    memset((char *)wipe, 0, sizeof wipe);
    /* the array is never read: without this, gcc 13 drops the memset */
    __asm__ volatile("" : : "r"(wipe) : "memory");
}

/* ------------------------------------------------------------ the holder */

static int holder_tid;
static int ready_pipe[2], stop_pipe[2], go_pipe[2];
static void *dyn_lib;

/* The thread-local blobs, set in a frame that returns: no register or
 * slot of the frame that blocks keeps their pointers (compilers differ in
 * what they leave there). */
static NOINLINE void set_tls(void)
{
#ifndef LSAN
    /* Not under LeakSanitizer: gcc 12's does not scan another thread's
     * static TLS on this glibc, and would call this blob leaked. */
    t_buf = take(&r_tls, sizeof *t_buf);
#else
    (void)r_tls;
#endif
    if (dyn_lib) {
        void (*set)(void *) = (void (*)(void *))dlsym(dyn_lib, "holders_tls_set");
        if (set)
            set(take(&r_tls_dyn, sizeof(struct blob)));
    }
}

/* Through a frame that returns, so that only the slot holds the pointer,
 * not a register of the frame that blocks. */
static NOINLINE void make_blob(struct blob *volatile *slot)
{
    *slot = take(&r_stack, sizeof **slot);
}

static NOINLINE void hold_on_stack(void)
{
    set_tls();
    /* the only pointer to this blob lives in this frame */
    struct blob *volatile keep;
    make_blob(&keep);
    /* and one buffer is shared with g_buffers[5] */
    char *volatile shared = g_buffers[5];
    holder_tid = (int)syscall(SYS_gettid);
    scrub_stack();
    char c = 1;
    if (write(ready_pipe[1], &c, 1) != 1)
        abort();
    CLEAR_SAVED_REGISTERS();
    CLEAR_DEAD_REGISTERS();
    while (read(stop_pipe[0], &c, 1) < 0)
        ;
    (void)keep;
    (void)shared;
}

static void *holder_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "holder");
    char c;
    if (read(go_pipe[0], &c, 1) != 1)
        abort();
    hold_on_stack();
    return NULL;
}

/* --------------------------------------------------------------- report */

static char out[8192];
static size_t used;

static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void put(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + used, sizeof out - used, fmt, ap);
    va_end(ap);
    if (n > 0)
        used += (size_t)n < sizeof out - used ? (size_t)n : sizeof out - used - 1;
}

static void root(const char *kind, const char *name, int thread, const char *function,
                 const struct account *a, int comma)
{
    put("{\"kind\": \"%s\", \"name\": \"%s\", \"thread\": %d, \"function\": \"%s\", "
        "\"retained_objects\": %llu, \"retained_bytes\": %llu}%s",
        kind, name, thread, function, (unsigned long long)a->objects,
        (unsigned long long)a->bytes, comma ? ", " : "");
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
    const char *lib = getenv("HOLDERS_TLS_LIB");
    if (lib && !(dyn_lib = dlopen(lib, RTLD_NOW))) {
        fprintf(stderr, "holders_target: %s\n", dlerror());
        return 2;
    }
    if (pipe(ready_pipe) || pipe(stop_pipe) || pipe(go_pipe))
        return 1;
    /* The holder thread first, waiting for the graph: a new thread starts
     * with its creator's registers, and glibc before 2.36 has its first
     * frames push them into the end of its control block, where they stay
     * -- they must not be pointers of the graph. */
    pthread_t th;
    if (pthread_create(&th, NULL, holder_main, NULL) != 0)
        return 1;
    build_tracker(n);
    build_list(10 * n);
    build_buffers();
    build_interior();
    char c = 1;
    if (write(go_pipe[1], &c, 1) != 1)
        return 1;
    if (read(ready_pipe[0], &c, 1) != 1)
        return 1;
    /* The leaks last, once nothing else will allocate in the main arena:
     * a later malloc could be carved out of the freed blocks, and it would
     * keep their stale pointers in a block in use. */
    leak_direct(8);
    leak_list(50);
    leak_ring(20);
    leak_self();
    free_with_stale_pointers();

    put("{\"pid\": %d, \"holder_tid\": %d, \"roots\": [", (int)getpid(), holder_tid);
    root("global", "g_tracker", 0, "", &r_tracker, 1);
    root("global", "g_list", 0, "", &r_list, 1);
    root("global", "g_buffers", 0, "", &r_buffers, 1);
    root("global", "g_interior", 0, "", &r_interior, 1);
    root("stack", "", holder_tid, "hold_on_stack", &r_stack, 1);
#ifndef LSAN
    root("tls", "t_buf", holder_tid, "", &r_tls, dyn_lib != NULL);
#endif
    if (dyn_lib)
        root("tls", "t_dyn", holder_tid, "", &r_tls_dyn, 0);
    put("], \"several_roots\": {\"objects\": %llu, \"bytes\": %llu, "
        "\"addresses\": [%llu, %llu]}, ",
        (unsigned long long)several.objects, (unsigned long long)several.bytes,
        (unsigned long long)(uintptr_t)g_buffers[3], (unsigned long long)(uintptr_t)g_buffers[5]);
    put("\"leaks\": {\"direct_objects\": %llu, \"direct_bytes\": %llu, "
        "\"indirect_objects\": %llu, \"indirect_bytes\": %llu, "
        "\"possibly_objects\": %llu, \"possibly_bytes\": %llu}, ",
        (unsigned long long)direct.objects, (unsigned long long)direct.bytes,
        (unsigned long long)indirect.objects, (unsigned long long)indirect.bytes,
        (unsigned long long)possibly.objects, (unsigned long long)possibly.bytes);
    put("\"requested\": {\"direct_bytes\": %llu, \"indirect_bytes\": %llu}}\n",
        (unsigned long long)direct.requested, (unsigned long long)indirect.requested);
#ifdef LSAN
    /* LeakSanitizer's own verdict at this very point (its report goes to
     * stderr; the test reads it).  It scans its own frames too, and a slot
     * of theirs that it never writes keeps what a dead frame left there:
     * with the target's path 12 bytes longer, the stack moved and one of
     * leak_direct's pointers was seen (18 direct leaks instead of 19).  The
     * dead frames and the registers are wiped first, as for heapgrab. */
    scrub_stack();
    CLEAR_SAVED_REGISTERS();
    CLEAR_DEAD_REGISTERS();
    __lsan_do_recoverable_leak_check();
#endif
    if (write(1, out, used) != (ssize_t)used)
        return 1;
    scrub_stack();
    CLEAR_SAVED_REGISTERS();
    CLEAR_DEAD_REGISTERS();
    while (read(0, &c, 1) > 0)
        ;
    if (write(stop_pipe[1], &c, 1) != 1)
        return 1;
    pthread_join(th, NULL);
    return 0;
}
