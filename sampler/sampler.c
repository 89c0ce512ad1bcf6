/*
 * sampler.c -- libheapgrab_sampler.so: an allocation sampler that lives in
 * the process (LD_PRELOAD, or linked in) and keeps its figures in memory,
 * in the table of table.h, for heapgrab to read from outside.  It sends
 * nothing anywhere: no thread, no signal, no file.
 *
 * Every allocation function of glibc is interposed and forwarded to
 * glibc's own entry points (__libc_malloc and its kin), which need no
 * dlsym and so work from the very first allocation, before any
 * constructor has run (the dynamic loader allocates through the
 * interposed malloc too).
 *
 * The fast path of an allocation is glibc's malloc, malloc_usable_size,
 * two increments of the thread's own counters and a subtraction and a
 * branch on the thread's countdown, all in initial-exec TLS.  The
 * countdown is a draw from an exponential distribution of mean `rate`
 * bytes: an allocation that takes it below zero is sampled, so each byte
 * is sampled with the same probability, and an object of s bytes with
 * probability 1 - exp(-s/rate) (which is how heapgrab unsamples, as Go).
 *
 * A sampled allocation records its call stack (libunwind's local
 * unwinder, unw_backtrace) into a bucket keyed by stack and size, and its
 * address into a live set.  free() must find sampled objects cheaply: a
 * sparse page map (one byte per 256-byte granule, leaves of 16 MiB made
 * on demand) counts the live sampled objects that start in each granule,
 * so the free of an unsampled object costs a load or two and a branch.
 * (A count rather than a bit: two sampled objects may share a granule.)
 *
 * Safety:
 *  - recursion: the unwinder, or the loader it asks, may allocate; a
 *    per-thread flag makes any allocation made while sampling a plain one;
 *  - the table's lock is never held while unwinding or while asking the
 *    loader (dl_iterate_phdr), so a thread inside dlopen() that allocates
 *    never waits for a thread that waits for the loader's lock;
 *  - fork: atfork handlers take both locks before the fork and release
 *    them after, in parent and child; the child keeps the figures so far;
 *  - thread exit: a pthread key's destructor folds the thread's counters
 *    into `retired` and frees its slot; allocations after that (other
 *    destructors) are counted in `shared`;
 *  - dlopen/dlclose: stacks are raw return addresses, and every module
 *    mapped when a stack was taken is appended to the module table (base,
 *    range, build-id, name), which is never shrunk: a stack from a library
 *    since unloaded still names the file, build-id and offset;
 *  - early start: before the constructor has run the table is set up on
 *    first need (mmap only) and samples at the default rate; the
 *    constructor reads HEAPGRAB_SAMPLE_RATE.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sys/syscall.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "sampler/table.h"

#define EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern char **__environ;

#define DEFAULT_RATE (512u * 1024u)
#define NSLOTS 1024
#define NBUCKETS (1u << 15)   /* storage, filled in order */
#define NINDEX (1u << 16)     /* the buckets' hash index: twice as many */
#define NMODULES 512
/* The page map counts live sampled objects per 256-byte granule, so that
 * the free of an object beside a sampled one seldom takes the lock. */
#define GRAIN_SHIFT 8
#define LEAF_SHIFT 16          /* granules per leaf: 65536, 16 MiB */
#define TOP_BITS (47 - GRAIN_SHIFT - LEAF_SHIFT)

/* The table, found by this one exported symbol. */
EXPORT struct hgs_header heapgrab_sampler_table;
static struct hgs_counters slot_array[NSLOTS] __attribute__((aligned(64)));

static uint8_t **pagemap;      /* top level: 2^TOP_BITS leaves */
static uint32_t *bucket_index; /* hash -> bucket + 1, 0: empty */
static size_t nlive;           /* a power of two */
static int init_state;         /* 0 none, 1 under way, 2 done, 3 failed */
static int table_lock, modules_lock;
static pthread_key_t exit_key;
static int have_exit_key;
static uint64_t self_start, self_end; /* this library's text, skipped */
static unsigned long long modules_adds = ~0ull, modules_subs = ~0ull;

struct tls_state {
    int64_t countdown;         /* bytes to the next sample */
    struct hgs_counters *slot; /* this thread's counters, NULL: none yet */
    uint64_t rng;
    int armed;                 /* countdown drawn */
    int busy;                  /* inside the sampler: allocate plainly */
    int no_slot;               /* none was free, or the thread is ending */
};
static __thread struct tls_state tls __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------------ locks */

static void lock(int *l)
{
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(l, __ATOMIC_RELAXED))
            sched_yield();
}
static void unlock(int *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

/* ---------------------------------------------------------- the rate */

static uint64_t parse_rate(void)
{
    char **env = __environ;
    if (!env)
        return DEFAULT_RATE;
    static const char key[] = "HEAPGRAB_SAMPLE_RATE=";
    for (; *env; env++) {
        if (strncmp(*env, key, sizeof key - 1) != 0)
            continue;
        const char *s = *env + sizeof key - 1;
        uint64_t v = 0;
        if (!*s)
            return DEFAULT_RATE;
        for (; *s; s++) {
            if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
                return DEFAULT_RATE;
            v = v * 10 + (uint64_t)(*s - '0');
        }
        return v ? v : DEFAULT_RATE;
    }
    return DEFAULT_RATE;
}

static uint64_t next_random(void)
{
    /* xorshift64*: only needs to be uniform, not secret. */
    uint64_t x = tls.rng;
    if (!x) {
        unsigned lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        x = ((uint64_t)hi << 32 | lo) ^ (uint64_t)(uintptr_t)&tls ^ 0x9e3779b97f4a7c15ull;
        if (!x)
            x = 1;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    tls.rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Bytes to the next sample: exponential with mean rate (0 at rate 1:
 * every allocation). */
static int64_t next_interval(void)
{
    uint64_t rate = heapgrab_sampler_table.rate;
    if (rate <= 1)
        return 0;
    /* a uniform in (0, 1], never 0 so the log is finite */
    double u = ((next_random() >> 11) + 1) * (1.0 / 9007199254740992.0);
    double v = -log(u) * (double)rate;
    return v > 4e18 ? (int64_t)4e18 : (int64_t)v;
}

/* ------------------------------------------------------ the table */

static void *map(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int self_range(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uint64_t me = (uint64_t)(uintptr_t)data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uint64_t s = info->dlpi_addr + ph->p_vaddr, e = s + ph->p_memsz;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && me >= s && me < e) {
            self_start = s;
            self_end = e;
            return 1;
        }
    }
    return 0;
}

/* Room in the live set for the sampled objects of a 16 GiB live heap (at
 * least 4096, at most 4 Mi): at the default rate 32768 entries, 512 KiB;
 * the pages are touched only as entries are used. */
static size_t live_capacity(uint64_t rate)
{
    size_t n = 4096;
    while (n < (1u << 22) && (uint64_t)n * rate < (16ull << 30))
        n *= 2;
    return n;
}

/* Set the table up: mmap only, so it can run at any time, even inside
 * the loader's first allocation.  0, or -1 if there is no table. */
static int ensure_init(void)
{
    int st = __atomic_load_n(&init_state, __ATOMIC_ACQUIRE);
    if (LIKELY(st == 2))
        return 0;
    if (st == 3)
        return -1;
    int zero = 0;
    if (!__atomic_compare_exchange_n(&init_state, &zero, 1, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        while ((st = __atomic_load_n(&init_state, __ATOMIC_ACQUIRE)) == 1)
            sched_yield();
        return st == 2 ? 0 : -1;
    }
    struct hgs_header *h = &heapgrab_sampler_table;
    if (!h->rate)
        h->rate = parse_rate();
    nlive = live_capacity(h->rate);
    void *buckets = map(sizeof(struct hgs_bucket) * NBUCKETS);
    void *live = map(sizeof(struct hgs_live) * nlive);
    void *modules = map(sizeof(struct hgs_module) * NMODULES);
    bucket_index = map(sizeof(uint32_t) * NINDEX);
    pagemap = map(sizeof(uint8_t *) << TOP_BITS);
    if (!buckets || !live || !modules || !pagemap || !bucket_index) {
        __atomic_store_n(&init_state, 3, __ATOMIC_RELEASE);
        return -1;
    }
    h->version = HGS_VERSION;
    h->header_size = sizeof *h;
    h->counters_size = sizeof(struct hgs_counters);
    h->bucket_size = sizeof(struct hgs_bucket);
    h->live_size = sizeof(struct hgs_live);
    h->module_size = sizeof(struct hgs_module);
    h->max_depth = HGS_MAX_DEPTH;
    h->pid = (uint64_t)getpid();
    h->slots = (uint64_t)(uintptr_t)slot_array;
    h->nslots = NSLOTS;
    h->buckets = (uint64_t)(uintptr_t)buckets;
    h->nbuckets = NBUCKETS;
    h->live = (uint64_t)(uintptr_t)live;
    h->nlive = nlive;
    h->modules = (uint64_t)(uintptr_t)modules;
    h->nmodules_max = NMODULES;
    dl_iterate_phdr(self_range, (void *)(uintptr_t)&ensure_init);
    /* the magic last: a reader that sees it sees the rest */
    __atomic_store_n(&h->magic, HGS_MAGIC, __ATOMIC_RELEASE);
    __atomic_store_n(&init_state, 2, __ATOMIC_RELEASE);
    return 0;
}

/* --------------------------------------------------- exact counters */

static void thread_exit(void *arg)
{
    struct hgs_counters *s = arg, *r = &heapgrab_sampler_table.retired;
    /* from now on this thread counts into shared: its slot goes back */
    tls.slot = NULL;
    tls.no_slot = 1;
    __atomic_fetch_add(&r->alloc_objects, s->alloc_objects, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->alloc_bytes, s->alloc_bytes, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->free_objects, s->free_objects, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->free_bytes, s->free_bytes, __ATOMIC_RELAXED);
    s->alloc_objects = s->alloc_bytes = s->free_objects = s->free_bytes = 0;
    s->tid = 0;
    __atomic_store_n(&s->in_use, 0, __ATOMIC_RELEASE);
}

/* Count an allocation (sign 0) or a free (1) for a thread without a slot
 * of its own yet: take one, or count into shared. */
static void count_slow(size_t bytes, int is_free)
{
    if (!tls.no_slot) {
        for (size_t i = 0; i < NSLOTS; i++) {
            uint64_t zero = 0;
            if (__atomic_load_n(&slot_array[i].in_use, __ATOMIC_RELAXED) == 0 &&
                __atomic_compare_exchange_n(&slot_array[i].in_use, &zero, 1, 0,
                                            __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
                struct hgs_counters *s = &slot_array[i];
                s->tid = (uint64_t)syscall(SYS_gettid);
                /* set before anything below can allocate */
                tls.slot = s;
                if (is_free) {
                    s->free_objects++;
                    s->free_bytes += bytes;
                } else {
                    s->alloc_objects++;
                    s->alloc_bytes += bytes;
                }
                /* the key exists once the constructor ran; a thread
                 * that got its slot before keeps it to the end */
                if (have_exit_key) {
                    tls.busy++;
                    pthread_setspecific(exit_key, s);
                    tls.busy--;
                }
                return;
            }
        }
        tls.no_slot = 1;
    }
    struct hgs_counters *sh = &heapgrab_sampler_table.shared;
    if (is_free) {
        __atomic_fetch_add(&sh->free_objects, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&sh->free_bytes, bytes, __ATOMIC_RELAXED);
    } else {
        __atomic_fetch_add(&sh->alloc_objects, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&sh->alloc_bytes, bytes, __ATOMIC_RELAXED);
    }
}

/* -------------------------------------------------------- modules */

struct scan {
    int changed;
};

static void add_module(struct dl_phdr_info *info)
{
    struct hgs_header *h = &heapgrab_sampler_table;
    struct hgs_module *mods = (struct hgs_module *)(uintptr_t)h->modules;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    uint64_t start = UINT64_MAX, end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uint64_t s = info->dlpi_addr + ph->p_vaddr;
        if (s < start)
            start = s;
        if (s + ph->p_memsz > end)
            end = s + ph->p_memsz;
    }
    if (start >= end)
        return;
    for (uint64_t i = 0; i < h->nmodules; i++)
        if (mods[i].base == info->dlpi_addr && mods[i].start == start &&
            mods[i].end == end && strncmp(mods[i].name, name, HGS_NAME_MAX - 1) == 0)
            return;
    if (h->nmodules >= h->nmodules_max)
        return;
    struct hgs_module *m = &mods[h->nmodules];
    memset(m, 0, sizeof *m);
    m->base = info->dlpi_addr;
    m->start = start;
    m->end = end;
    strncpy(m->name, name, HGS_NAME_MAX - 1);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(uintptr_t)(info->dlpi_addr + ph->p_vaddr);
        const char *e = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= e) {
            const ElfW(Nhdr) *n = (const void *)p;
            const char *desc = p + sizeof *n + ((n->n_namesz + 3) & ~3u);
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
                memcmp(p + sizeof *n, "GNU", 4) == 0 && desc + n->n_descsz <= e) {
                size_t len = n->n_descsz < sizeof m->build_id ? n->n_descsz : sizeof m->build_id;
                memcpy(m->build_id, desc, len);
                m->build_id_len = len;
                break;
            }
            p = desc + ((n->n_descsz + 3) & ~3u);
        }
    }
    /* published after it is filled */
    __atomic_store_n(&h->nmodules, h->nmodules + 1, __ATOMIC_RELEASE);
}

static int module_scan(struct dl_phdr_info *info, size_t size, void *data)
{
    struct scan *sc = data;
    if (!sc->changed) {
        /* the loader counts what it added and removed: unchanged since
         * the last look, nothing to do */
        if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs &&
            info->dlpi_adds == modules_adds && info->dlpi_subs == modules_subs)
            return 1;
        sc->changed = 1;
        if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
            modules_adds = info->dlpi_adds;
            modules_subs = info->dlpi_subs;
        }
    }
    add_module(info);
    return 0;
}

static void modules_refresh(void)
{
    struct scan sc = {0};
    lock(&modules_lock);
    dl_iterate_phdr(module_scan, &sc);
    unlock(&modules_lock);
}

/* ------------------------------------------------------- the samples */

static uint64_t hash_stack(void *const *pcs, int n, uint64_t size)
{
    uint64_t h = 0xcbf29ce484222325ull ^ size;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(uintptr_t)pcs[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h ? h : 1;
}

static uint8_t *page_counter(uint64_t a, int make)
{
    if (a >> 47)
        return NULL;
    uint8_t **slot = &pagemap[a >> (GRAIN_SHIFT + LEAF_SHIFT)];
    uint8_t *leaf = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!leaf && make) {
        leaf = map((size_t)1 << LEAF_SHIFT);
        if (!leaf)
            return NULL;
        __atomic_store_n(slot, leaf, __ATOMIC_RELEASE);
    }
    return leaf ? &leaf[(a >> GRAIN_SHIFT) & ((1u << LEAF_SHIFT) - 1)] : NULL;
}

static size_t live_index(uint64_t a) { return (size_t)((a * 0x9e3779b97f4a7c15ull) >> 40) & (nlive - 1); }

static size_t live_tombstones;

/*
 * Under table_lock: the live set again, in a new mapping of want entries,
 * without its tombstones.  Open addressing with deletions wears the empty
 * entries away (an insert takes the first tombstone or empty one on its
 * way), and a search for an address that is not there runs until an empty
 * entry: without this, the searches for the objects beside sampled ones
 * would end up going through the whole set.
 */
static int live_rebuild(size_t want)
{
    struct hgs_header *h = &heapgrab_sampler_table;
    struct hgs_live *fresh = map(sizeof(struct hgs_live) * want);
    if (!fresh)
        return -1;
    struct hgs_live *old = (struct hgs_live *)(uintptr_t)h->live;
    size_t nold = nlive;
    nlive = want;
    for (size_t i = 0; i < nold; i++) {
        if (old[i].address <= 1)
            continue;
        size_t j = live_index(old[i].address);
        while (fresh[j].address)
            j = (j + 1) & (nlive - 1);
        fresh[j] = old[i];
    }
    h->live = (uint64_t)(uintptr_t)fresh;
    h->nlive = nlive;
    live_tombstones = 0;
    munmap(old, sizeof(struct hgs_live) * nold);
    return 0;
}

/* Under table_lock: add a live entry. */
static int live_put(uint64_t a, uint64_t bucket)
{
    struct hgs_header *h = &heapgrab_sampler_table;
    struct hgs_live *live = (struct hgs_live *)(uintptr_t)h->live;
    if (h->live_count >= nlive - nlive / 8) /* keep probes short */
        return -1;
    uint8_t *pc = page_counter(a, 1);
    if (!pc)
        return -1;
    size_t i = live_index(a);
    while (live[i].address > 1)
        i = (i + 1) & (nlive - 1);
    if (live[i].address == 1)
        live_tombstones--;
    live[i].bucket = bucket;
    live[i].address = a;
    h->live_count++;
    if (*pc < 255)
        __atomic_store_n(pc, (uint8_t)(*pc + 1), __ATOMIC_RELEASE);
    return 0;
}

/* Under table_lock: take a's entry out; its bucket, or -1 if a is not a
 * live sampled object. */
static int64_t live_take(uint64_t a)
{
    struct hgs_header *h = &heapgrab_sampler_table;
    struct hgs_live *live = (struct hgs_live *)(uintptr_t)h->live;
    size_t i = live_index(a);
    for (size_t n = 0; n < nlive && live[i].address != 0; n++, i = (i + 1) & (nlive - 1)) {
        if (live[i].address == a) {
            live[i].address = 1;
            h->live_count--;
            int64_t bucket = (int64_t)live[i].bucket;
            uint8_t *pc = page_counter(a, 0);
            /* a saturated count stays: its page just stays slow */
            if (pc && *pc > 0 && *pc < 255)
                __atomic_store_n(pc, (uint8_t)(*pc - 1), __ATOMIC_RELEASE);
            if (++live_tombstones > nlive / 4)
                live_rebuild(nlive);
            return bucket;
        }
    }
    return -1;
}

static void record(void *p, size_t size)
{
    if (tls.busy || ensure_init() != 0)
        return;
    tls.busy++;
    void *pcs[HGS_MAX_DEPTH + 8];
    int n = unw_backtrace(pcs, HGS_MAX_DEPTH + 8);
    int first = 0;
    /* our own frames are no part of the program's stack */
    while (first < n && (uint64_t)(uintptr_t)pcs[first] >= self_start &&
           (uint64_t)(uintptr_t)pcs[first] < self_end)
        first++;
    int depth = n - first;
    if (depth > HGS_MAX_DEPTH)
        depth = HGS_MAX_DEPTH;
    if (depth < 0)
        depth = 0;
    modules_refresh();
    uint64_t hash = hash_stack(pcs + first, depth, size);
    struct hgs_header *h = &heapgrab_sampler_table;
    struct hgs_bucket *b = (struct hgs_bucket *)(uintptr_t)h->buckets;
    lock(&table_lock);
    /* the index holds bucket + 1; the buckets are filled in order, so
     * heapgrab reads only the used ones and only they take memory */
    size_t j = hash & (NINDEX - 1), probes = 0;
    int64_t i = -1;
    for (; probes < NINDEX; probes++, j = (j + 1) & (NINDEX - 1)) {
        uint32_t k = bucket_index[j];
        if (k == 0)
            break;
        struct hgs_bucket *c = &b[k - 1];
        if (c->hash == hash && c->size == size && c->depth == (uint64_t)depth &&
            memcmp(c->pcs, pcs + first, depth * sizeof(void *)) == 0) {
            i = k - 1;
            break;
        }
    }
    if (i < 0 && probes < NINDEX && h->buckets_used < NBUCKETS) {
        i = (int64_t)h->buckets_used;
        b[i].size = size;
        b[i].depth = (uint64_t)depth;
        b[i].modules_seen = __atomic_load_n(&h->nmodules, __ATOMIC_ACQUIRE);
        memcpy(b[i].pcs, pcs + first, depth * sizeof(void *));
        b[i].hash = hash;
        bucket_index[j] = (uint32_t)i + 1;
        /* published once filled */
        __atomic_store_n(&h->buckets_used, h->buckets_used + 1, __ATOMIC_RELEASE);
    }
    if (i < 0) {
        h->dropped_samples++;
        h->dropped_bytes += size;
    } else {
        b[i].alloc_objects++;
        b[i].alloc_bytes += size;
        h->samples++;
        if (live_put((uint64_t)(uintptr_t)p, (uint64_t)i) != 0)
            h->dropped_live++;
    }
    unlock(&table_lock);
    tls.busy--;
}

/* The countdown ran out: arm it the first time, else sample. */
static __attribute__((noinline)) void sample_slow(void *p, size_t size)
{
    /* the rate must be known before the first draw (the very first
     * allocation of the process comes here with none) */
    if (UNLIKELY(heapgrab_sampler_table.rate == 0) && ensure_init() != 0)
        return;
    if (!tls.armed) {
        tls.armed = 1;
        tls.countdown += next_interval();
        if (tls.countdown >= 0)
            return;
    }
    tls.countdown = next_interval();
    record(p, size);
}

/* A possibly sampled object is going: take it out of the live set, and
 * with count_free count the free in its bucket.  Its bucket, or -1. */
static __attribute__((noinline)) int64_t sampled_take_slow(uint64_t a, int count_free);

static inline int64_t sampled_take(void *p, int count_free)
{
    uint64_t a = (uint64_t)(uintptr_t)p;
    uint8_t **top = __atomic_load_n(&pagemap, __ATOMIC_ACQUIRE);
    if (UNLIKELY(!top) || UNLIKELY(a >> 47))
        return -1;
    uint8_t *leaf = __atomic_load_n(&top[a >> (GRAIN_SHIFT + LEAF_SHIFT)], __ATOMIC_ACQUIRE);
    if (LIKELY(!leaf) || LIKELY(!leaf[(a >> GRAIN_SHIFT) & ((1u << LEAF_SHIFT) - 1)]))
        return -1;
    return sampled_take_slow(a, count_free);
}

static int64_t sampled_take_slow(uint64_t a, int count_free)
{
    lock(&table_lock);
    int64_t bi = live_take(a);
    if (bi >= 0 && count_free) {
        struct hgs_bucket *b = (struct hgs_bucket *)(uintptr_t)heapgrab_sampler_table.buckets;
        b[bi].free_objects++;
        b[bi].free_bytes += b[bi].size;
    }
    unlock(&table_lock);
    return bi;
}

static void sampled_put_back(void *p, int64_t bi)
{
    lock(&table_lock);
    if (live_put((uint64_t)(uintptr_t)p, (uint64_t)bi) != 0)
        heapgrab_sampler_table.dropped_live++;
    unlock(&table_lock);
}

/* --------------------------------------------------- the fast paths */

/*
 * malloc_usable_size(p) of an object glibc's malloc handed out, read from
 * its chunk header as glibc itself does (musable() in malloc.c without
 * memory tagging, which x86-64 has not): the chunk's size less its header,
 * and less the whole mmap header for a chunk of its own.  A call to glibc
 * costs as much again as the rest of the fast path.
 */
static inline size_t usable_size(void *p)
{
    size_t field = ((const size_t *)p)[-1];
    size_t chunk = field & ~(size_t)7;
    return field & 2 ? chunk - 2 * sizeof(size_t) : chunk - sizeof(size_t);
}

static inline void on_alloc(void *p)
{
    if (UNLIKELY(!p))
        return;
    size_t u = usable_size(p);
    struct hgs_counters *s = tls.slot;
    if (LIKELY(s != NULL)) {
        s->alloc_objects++;
        s->alloc_bytes += u;
    } else {
        count_slow(u, 0);
    }
    tls.countdown -= (int64_t)u;
    if (UNLIKELY(tls.countdown < 0))
        sample_slow(p, u);
}

static inline void on_free(size_t u)
{
    struct hgs_counters *s = tls.slot;
    if (LIKELY(s != NULL)) {
        s->free_objects++;
        s->free_bytes += u;
    } else {
        count_slow(u, 1);
    }
}

EXPORT void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    on_alloc(p);
    return p;
}

EXPORT void free(void *p)
{
    if (!p)
        return;
    on_free(usable_size(p));
    /* out of the live set before glibc may hand the address out again */
    sampled_take(p, 1);
    __libc_free(p);
}

EXPORT void *calloc(size_t n, size_t size)
{
    void *p = __libc_calloc(n, size);
    on_alloc(p);
    return p;
}

EXPORT void *realloc(void *old, size_t n)
{
    if (!old)
        return malloc(n);
    if (n == 0) {
        /* glibc frees and returns NULL */
        free(old);
        return NULL;
    }
    size_t u0 = usable_size(old);
    int64_t bi = sampled_take(old, 0);
    void *p = __libc_realloc(old, n);
    if (!p) {
        /* the old object stays as it was */
        if (UNLIKELY(bi >= 0))
            sampled_put_back(old, bi);
        return NULL;
    }
    /* a free of the old object and an allocation of the new, as the
     * figures of a heap profile count them */
    on_free(u0);
    if (UNLIKELY(bi >= 0)) {
        struct hgs_bucket *b = (struct hgs_bucket *)(uintptr_t)heapgrab_sampler_table.buckets;
        lock(&table_lock);
        b[bi].free_objects++;
        b[bi].free_bytes += b[bi].size;
        unlock(&table_lock);
    }
    on_alloc(p);
    return p;
}

EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(old, total);
}

EXPORT void *memalign(size_t align, size_t n)
{
    void *p = __libc_memalign(align, n);
    on_alloc(p);
    return p;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    /* glibc 2.36's aligned_alloc is memalign; later ones refuse an
     * alignment that is not a power of two */
    void *p = __libc_memalign(align, n);
    on_alloc(p);
    return p;
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0 || align == 0)
        return EINVAL;
    int saved = errno;
    void *p = __libc_memalign(align, n);
    if (!p) {
        errno = saved;
        return ENOMEM;
    }
    on_alloc(p);
    *out = p;
    return 0;
}

EXPORT void *valloc(size_t n)
{
    void *p = __libc_valloc(n);
    on_alloc(p);
    return p;
}

EXPORT void *pvalloc(size_t n)
{
    void *p = __libc_pvalloc(n);
    on_alloc(p);
    return p;
}

/* ---------------------------------------------------- fork and start */

static void before_fork(void)
{
    lock(&modules_lock);
    lock(&table_lock);
}

static void after_fork(void)
{
    unlock(&table_lock);
    unlock(&modules_lock);
}

static void after_fork_child(void)
{
    heapgrab_sampler_table.pid = (uint64_t)getpid();
    after_fork();
}

/* The rate is set from the environment again here, after the table was
 * made (the loader allocates before libc sets environ up, and the table
 * may have been made then, for the default rate): a live set too small
 * for the rate is moved into a larger one. */
static void resize_live(void)
{
    size_t want = live_capacity(heapgrab_sampler_table.rate);
    lock(&table_lock);
    if (want > nlive)
        live_rebuild(want);
    unlock(&table_lock);
}

__attribute__((constructor)) static void sampler_start(void)
{
    tls.busy++;
    heapgrab_sampler_table.rate = parse_rate();
    if (ensure_init() == 0)
        resize_live();
    if (pthread_key_create(&exit_key, thread_exit) == 0)
        have_exit_key = 1;
    /* the main thread's slot, if it took one before the key existed */
    if (tls.slot && have_exit_key)
        pthread_setspecific(exit_key, tls.slot);
    pthread_atfork(before_fork, after_fork, after_fork_child);
    /* libunwind sets itself up (and may allocate) at its first unwind:
     * have that happen now, not inside the program's first sampled
     * allocation, where it would add an allocation the program never made
     * to the counters of the moment */
    void *warm[4];
    (void)unw_backtrace(warm, 4);
    /* allocations before now were sampled at the default rate */
    tls.armed = 1;
    tls.countdown = next_interval();
    tls.busy--;
}
