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
 * table of live sampled objects by size (size_live), then a sparse page
 * map (one byte per 256-byte granule, leaves of 16 MiB made on demand)
 * counting the live sampled objects that start in each granule, so the
 * free of an unsampled object mostly costs one cached load and a branch.
 * (A count rather than a bit: two sampled objects may share a granule.)
 *
 * Locks, few and short, because a lock a sampled allocation takes is a
 * lock every thread of a busy program meets: with 8 threads on 2 CPUs and
 * one lock over the whole table, a sample waited 27 us on average for a
 * holder the scheduler had preempted (measured with bench/malloc_bench).
 *  - the live set is split in LIVE_STRIPES blocks by address, each with
 *    its own lock; only growing it takes them all;
 *  - a bucket, once published, changes only by atomic adds: finding the
 *    bucket of a stack takes no lock, adding one takes bucket_lock;
 *  - the module table is scanned under modules_lock only when the loader
 *    says something was loaded or unloaded since the last look.
 *
 * Safety:
 *  - recursion: the unwinder, or the loader it asks, may allocate; a
 *    per-thread flag makes any allocation made while sampling a plain one;
 *  - no lock of the table is held while unwinding or while asking the
 *    loader (dl_iterate_phdr), so a thread inside dlopen() that allocates
 *    never waits for a thread that waits for the loader's lock;
 *  - fork: atfork handlers take every lock before the fork and release
 *    them after, in parent and child; samples wait for the fork rather
 *    than enter the unwinder during it, and the child resets the loader's
 *    dl_iterate_phdr lock (after_fork_child); the child keeps the figures
 *    so far;
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
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
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
/* Room for the stacks: as many as buckets, of 12 return addresses on
 * average (a bucket takes the depth of its own stack only). */
#define NFRAMES (NBUCKETS * 12u)
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
static size_t nlive;           /* a power of two, LIVE_STRIPES blocks */
static int init_state;         /* 0 none, 1 under way, 2 done, 3 failed */
static int bucket_lock, modules_lock;
/* The live set's blocks: block k is live[k * (nlive / LIVE_STRIPES), ...),
 * an address's block is chosen by its hash, and probes wrap inside it. */
#define LIVE_STRIPES 64
static struct stripe {
    int lock;
    uint32_t count;             /* entries in the block */
    char pad[56];
} stripes[LIVE_STRIPES] __attribute__((aligned(64)));
static int forking;           /* before_fork to after_fork */
static int in_loader;         /* threads of ours in the unwinder or loader */
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

/* -ln(u) for u in (0, 1], without libm (which would cost the process
 * half a MiB of resident text for this one call): u = m * 2^e with m in
 * [1, 2), ln m = 2 atanh(s), s = (m - 1) / (m + 1) <= 1/3, by its series
 * to s^13 (error below 1e-7, far inside what a sampling interval needs). */
static double neg_log(double u)
{
    uint64_t bits;
    memcpy(&bits, &u, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & ((1ull << 52) - 1)) | (1023ull << 52);
    double m;
    memcpy(&m, &bits, sizeof m);
    double t = (m - 1) / (m + 1), t2 = t * t;
    double series = t * (1 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9 +
                    t2 * (1.0 / 11 + t2 * (1.0 / 13)))))));
    return -((double)e * 0.69314718055994530942 + 2 * series);
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
    double v = neg_log(u) * (double)rate;
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

/* The live set's first size: 4096 entries (64 KiB, 64 a stripe), room at
 * the default rate for the sampled objects of a 1.5 GiB live heap; it
 * doubles when a stripe is three quarters full. */
#define LIVE_INITIAL 4096

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
    nlive = LIVE_INITIAL;
    void *buckets = map(sizeof(struct hgs_bucket) * NBUCKETS);
    void *live = map(sizeof(struct hgs_live) * nlive);
    void *modules = map(sizeof(struct hgs_module) * NMODULES);
    void *frames = map(sizeof(uint64_t) * NFRAMES);
    bucket_index = map(sizeof(uint32_t) * NINDEX);
    pagemap = map(sizeof(uint8_t *) << TOP_BITS);
    if (!buckets || !live || !modules || !frames || !pagemap || !bucket_index) {
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
    h->frames = (uint64_t)(uintptr_t)frames;
    h->nframes = NFRAMES;
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

/* The loader's count of modules added and removed, from its first
 * entry: 1 when it differs from what the table last saw. */
static int loader_changed(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)data;
    if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
        return 1;
    return info->dlpi_adds != __atomic_load_n(&modules_adds, __ATOMIC_RELAXED) ||
           info->dlpi_subs != __atomic_load_n(&modules_subs, __ATOMIC_RELAXED);
}

static int module_scan(struct dl_phdr_info *info, size_t size, void *data)
{
    int *first = data;
    if (*first) {
        *first = 0;
        if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
            __atomic_store_n(&modules_adds, info->dlpi_adds, __ATOMIC_RELAXED);
            __atomic_store_n(&modules_subs, info->dlpi_subs, __ATOMIC_RELAXED);
        }
    }
    add_module(info);
    return 0;
}

/* Bring the module table up to date with the loader: a look at the
 * loader's counts, without a lock of ours, and a scan under modules_lock
 * only when they moved. */
static void modules_refresh(void)
{
    if (!dl_iterate_phdr(loader_changed, NULL))
        return;
    int first = 1;
    lock(&modules_lock);
    dl_iterate_phdr(module_scan, &first);
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
        /* Two threads may make the same leaf (their samples lie in the
         * same 16 MiB, in two stripes): one wins, the other's goes.  When
         * both stored theirs, the count added to the leaf that was
         * replaced was lost, and that object's free was not seen: one
         * sampler_stress run in eight or so had live sampled objects the
         * counters said were freed. */
        uint8_t *fresh = map((size_t)1 << LEAF_SHIFT);
        if (!fresh)
            return NULL;
        uint8_t *none = NULL;
        if (__atomic_compare_exchange_n(slot, &none, fresh, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            leaf = fresh;
        } else {
            munmap(fresh, (size_t)1 << LEAF_SHIFT);
            leaf = none;
        }
    }
    return leaf ? &leaf[(a >> GRAIN_SHIFT) & ((1u << LEAF_SHIFT) - 1)] : NULL;
}

/* A granule's count of live sampled objects, changed by several stripes'
 * holders at once: atomically, and never past 255 (a saturated count
 * stays, and its granule just stays slow). */
static void page_count_add(uint8_t *pc, int delta)
{
    uint8_t v = __atomic_load_n(pc, __ATOMIC_RELAXED);
    do {
        if (v == 255 || (delta < 0 && v == 0))
            return;
    } while (!__atomic_compare_exchange_n(pc, &v, (uint8_t)(v + delta), 1, __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
}

/*
 * Live sampled objects by usable size, in SIZE_SLOTS counters (sizes 16
 * apart; a larger size shares a slot with a smaller): the first test of
 * every free().  It is 4 KiB that every free reads, so it stays in the
 * cache, where the page map's leaf of a freed object mostly is not: with
 * the page map alone, one free in three or four missed the cache there
 * (cachegrind, bench/malloc_bench).  At the default rate few sizes have a
 * live sampled object, so most frees stop here; the others go on to the
 * page map.  A count is raised before the object's address is handed out
 * and lowered after it left the live set: it is never 0 while an object
 * of its sizes is live.
 */
#define SIZE_SLOTS 1024u
static uint32_t size_live[SIZE_SLOTS] __attribute__((aligned(64)));

static inline uint32_t *size_slot(uint64_t usable)
{
    return &size_live[(usable >> 4) & (SIZE_SLOTS - 1)];
}

static uint64_t bucket_size(uint64_t bucket)
{
    return ((struct hgs_bucket *)(uintptr_t)heapgrab_sampler_table.buckets)[bucket].size;
}

static uint64_t live_hash(uint64_t a) { return a * 0x9e3779b97f4a7c15ull; }
static size_t stripe_of(uint64_t a) { return (size_t)(live_hash(a) >> 58); }

static void lock_all_stripes(void)
{
    for (size_t k = 0; k < LIVE_STRIPES; k++)
        lock(&stripes[k].lock);
}

static void unlock_all_stripes(void)
{
    for (size_t k = LIVE_STRIPES; k-- > 0;)
        unlock(&stripes[k].lock);
}

/* Under stripe k's lock (or all of them): a's slot in the live set of n
 * entries at live -- its entry, or the empty one where it would go. */
static size_t live_slot(const struct hgs_live *live, size_t n, uint64_t a)
{
    size_t block = n / LIVE_STRIPES, base = stripe_of(a) * block;
    size_t i = (size_t)(live_hash(a) >> 20) & (block - 1);
    while (live[base + i].address && live[base + i].address != a)
        i = (i + 1) & (block - 1);
    return base + i;
}

/*
 * With every stripe locked: the live set again, twice as large.  There
 * are no tombstones to drop: a deletion moves the entries after it back
 * (live_take), so a probe ends at the first empty entry as if the deleted
 * one had never been.
 */
static int live_grow(void)
{
    struct hgs_header *h = &heapgrab_sampler_table;
    size_t want = nlive * 2;
    struct hgs_live *fresh = want <= (1u << 26) ? map(sizeof(struct hgs_live) * want) : NULL;
    if (!fresh)
        return -1;
    struct hgs_live *old = (struct hgs_live *)(uintptr_t)h->live;
    for (size_t k = 0; k < LIVE_STRIPES; k++)
        stripes[k].count = 0;
    for (size_t i = 0; i < nlive; i++)
        if (old[i].address) {
            fresh[live_slot(fresh, want, old[i].address)] = old[i];
            stripes[stripe_of(old[i].address)].count++;
        }
    size_t nold = nlive;
    nlive = want;
    /* a reader sees the new array with its size, then the old goes */
    h->live = (uint64_t)(uintptr_t)fresh;
    h->nlive = nlive;
    munmap(old, sizeof(struct hgs_live) * nold);
    return 0;
}

/* Add a live entry: 0, or -1 when there is no room (its free will not be
 * seen, and is counted in dropped_live). */
static int live_put(uint64_t a, uint64_t bucket)
{
    struct hgs_header *h = &heapgrab_sampler_table;
    uint8_t *pc = page_counter(a, 1);
    if (!pc)
        return -1;
    size_t k = stripe_of(a);
    lock(&stripes[k].lock);
    while (stripes[k].count >= (nlive / LIVE_STRIPES) * 3 / 4) {
        /* full: grow, which takes every stripe's lock, in order */
        unlock(&stripes[k].lock);
        lock_all_stripes();
        int rc = stripes[k].count >= (nlive / LIVE_STRIPES) * 3 / 4 ? live_grow() : 0;
        unlock_all_stripes();
        if (rc != 0)
            return -1;
        lock(&stripes[k].lock);
    }
    struct hgs_live *live = (struct hgs_live *)(uintptr_t)h->live;
    size_t i = live_slot(live, nlive, a);
    if (!live[i].address) {
        live[i].bucket = bucket;
        __atomic_store_n(&live[i].address, a, __ATOMIC_RELEASE);
        stripes[k].count++;
        __atomic_fetch_add(&h->live_count, 1, __ATOMIC_RELAXED);
        page_count_add(pc, 1);
        __atomic_fetch_add(size_slot(bucket_size(bucket)), 1, __ATOMIC_RELAXED);
    }
    unlock(&stripes[k].lock);
    return 0;
}

/* Take a's entry out of the live set: its bucket, or -1 if a is not a live
 * sampled object. */
static int64_t live_take(uint64_t a)
{
    struct hgs_header *h = &heapgrab_sampler_table;
    size_t k = stripe_of(a);
    lock(&stripes[k].lock);
    struct hgs_live *live = (struct hgs_live *)(uintptr_t)h->live;
    size_t block = nlive / LIVE_STRIPES, base = k * block;
    size_t i = live_slot(live, nlive, a);
    if (!live[i].address) {
        unlock(&stripes[k].lock);
        return -1;
    }
    int64_t bucket = (int64_t)live[i].bucket;
    /* Backward shift: move back every later entry of the run that would
     * be found from i or before, so that no probe meets a hole. */
    size_t hole = i - base, j = hole;
    for (;;) {
        j = (j + 1) & (block - 1);
        uint64_t b = live[base + j].address;
        if (!b)
            break;
        size_t home = (size_t)(live_hash(b) >> 20) & (block - 1);
        /* b stays if its home lies cyclically in (hole, j] */
        if (hole <= j ? (home > hole && home <= j) : (home > hole || home <= j))
            continue;
        live[base + hole] = live[base + j];
        hole = j;
    }
    live[base + hole].address = 0;
    live[base + hole].bucket = 0;
    stripes[k].count--;
    __atomic_fetch_sub(&h->live_count, 1, __ATOMIC_RELAXED);
    unlock(&stripes[k].lock);
    uint8_t *pc = page_counter(a, 0);
    if (pc)
        page_count_add(pc, -1);
    __atomic_fetch_sub(size_slot(bucket_size((uint64_t)bucket)), 1, __ATOMIC_RELAXED);
    return bucket;
}

/*
 * The bucket of a stack and size: its index, or -1.  Without add it takes
 * no lock: an index entry, once set, never changes, and is set only after
 * its bucket is filled.  With add (under bucket_lock) a bucket is made
 * when there is none, in the next free place: the buckets are filled in
 * order, so heapgrab reads only the used ones and only they take memory.
 */
static int64_t find_bucket(uint64_t hash, uint64_t size, void *const *pcs, int depth, int add)
{
    struct hgs_header *h = &heapgrab_sampler_table;
    struct hgs_bucket *b = (struct hgs_bucket *)(uintptr_t)h->buckets;
    uint64_t *frames = (uint64_t *)(uintptr_t)h->frames;
    size_t j = hash & (NINDEX - 1);
    for (size_t probes = 0; probes < NINDEX; probes++, j = (j + 1) & (NINDEX - 1)) {
        uint32_t k = __atomic_load_n(&bucket_index[j], __ATOMIC_ACQUIRE);
        if (k == 0)
            break;
        const struct hgs_bucket *c = &b[k - 1];
        if (c->hash == hash && c->size == size && c->depth == (uint64_t)depth &&
            memcmp(frames + c->frame, pcs, (size_t)depth * sizeof(void *)) == 0)
            return k - 1;
    }
    if (!add || __atomic_load_n(&bucket_index[j], __ATOMIC_RELAXED) != 0 ||
        h->buckets_used >= NBUCKETS || h->frames_used + (uint64_t)depth > NFRAMES)
        return -1;
    uint64_t i = h->buckets_used, f = h->frames_used;
    memcpy(frames + f, pcs, (size_t)depth * sizeof(void *));
    __atomic_store_n(&h->frames_used, f + (uint64_t)depth, __ATOMIC_RELEASE);
    b[i].size = size;
    b[i].depth = (uint64_t)depth;
    b[i].modules_seen = __atomic_load_n(&h->nmodules, __ATOMIC_ACQUIRE);
    b[i].frame = f;
    b[i].hash = hash;
    /* published once filled: to the lookups, then to heapgrab */
    __atomic_store_n(&bucket_index[j], (uint32_t)i + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&h->buckets_used, i + 1, __ATOMIC_RELEASE);
    return (int64_t)i;
}

/* Into the loader (the unwinder, dl_iterate_phdr), once no fork is under
 * way (before_fork); loader_leave when out.  A sample waits for the fork
 * rather than lose its stack (it holds no lock the fork needs). */
static void loader_enter(void)
{
    for (;;) {
        __atomic_fetch_add(&in_loader, 1, __ATOMIC_SEQ_CST);
        if (!__atomic_load_n(&forking, __ATOMIC_SEQ_CST))
            return;
        __atomic_fetch_sub(&in_loader, 1, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&forking, __ATOMIC_SEQ_CST))
            sched_yield();
    }
}

static void loader_leave(void) { __atomic_fetch_sub(&in_loader, 1, __ATOMIC_SEQ_CST); }

static void record(void *p, size_t size)
{
    if (tls.busy || ensure_init() != 0)
        return;
    tls.busy++;
    struct hgs_header *h = &heapgrab_sampler_table;
    loader_enter();
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
    loader_leave();
    uint64_t hash = hash_stack(pcs + first, depth, size);
    int64_t i = find_bucket(hash, size, pcs + first, depth, 0);
    if (i < 0) {
        lock(&bucket_lock);
        i = find_bucket(hash, size, pcs + first, depth, 1);
        unlock(&bucket_lock);
    }
    if (i < 0) {
        __atomic_fetch_add(&h->dropped_samples, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&h->dropped_bytes, size, __ATOMIC_RELAXED);
    } else {
        struct hgs_bucket *b = (struct hgs_bucket *)(uintptr_t)h->buckets + i;
        __atomic_fetch_add(&b->alloc_objects, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&b->alloc_bytes, size, __ATOMIC_RELAXED);
        __atomic_fetch_add(&h->samples, 1, __ATOMIC_RELAXED);
        if (live_put((uint64_t)(uintptr_t)p, (uint64_t)i) != 0)
            __atomic_fetch_add(&h->dropped_live, 1, __ATOMIC_RELAXED);
    }
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

static inline int64_t sampled_take(void *p, size_t usable, int count_free)
{
    if (LIKELY(__atomic_load_n(size_slot(usable), __ATOMIC_RELAXED) == 0))
        return -1;
    uint64_t a = (uint64_t)(uintptr_t)p;
    uint8_t **top = __atomic_load_n(&pagemap, __ATOMIC_ACQUIRE);
    if (UNLIKELY(!top) || UNLIKELY(a >> 47))
        return -1;
    uint8_t *leaf = __atomic_load_n(&top[a >> (GRAIN_SHIFT + LEAF_SHIFT)], __ATOMIC_ACQUIRE);
    if (LIKELY(!leaf) || LIKELY(!leaf[(a >> GRAIN_SHIFT) & ((1u << LEAF_SHIFT) - 1)]))
        return -1;
    return sampled_take_slow(a, count_free);
}

/* A sampled object's free, counted in its bucket. */
static void count_sampled_free(int64_t bi)
{
    struct hgs_bucket *b = (struct hgs_bucket *)(uintptr_t)heapgrab_sampler_table.buckets + bi;
    __atomic_fetch_add(&b->free_objects, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&b->free_bytes, b->size, __ATOMIC_RELAXED);
}

static int64_t sampled_take_slow(uint64_t a, int count_free)
{
    int64_t bi = live_take(a);
    if (bi >= 0 && count_free)
        count_sampled_free(bi);
    return bi;
}

static void sampled_put_back(void *p, int64_t bi)
{
    if (live_put((uint64_t)(uintptr_t)p, (uint64_t)bi) != 0)
        __atomic_fetch_add(&heapgrab_sampler_table.dropped_live, 1, __ATOMIC_RELAXED);
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
    size_t u = usable_size(p);
    on_free(u);
    /* out of the live set before glibc may hand the address out again */
    sampled_take(p, u, 1);
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
    int64_t bi = sampled_take(old, u0, 0);
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
    if (UNLIKELY(bi >= 0))
        count_sampled_free(bi);
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
    /* No thread of ours may be inside the loader at the fork: glibc's
     * child gets dl_iterate_phdr's lock as it was (it resets only
     * dl_load_lock), and a child whose parent had a sample's unwind under
     * way hung at its own first sample (sampler_stress, under ASan).  New
     * unwinds wait until the fork is done; those under way end.
     * (A thread of the program inside dlopen or dl_iterate_phdr at the
     * fork leaves the same lock held, with or without the sampler:
     * after_fork_child resets it.)
     * The wait is bounded: dlopen allocates while it holds the loader's
     * write lock (_dl_find_object_update), so a sample of its waits for
     * this fork while an unwind of ours waits for that lock; after 20 ms
     * the fork goes ahead, and the child's reset covers the lock. */
    __atomic_store_n(&forking, 1, __ATOMIC_SEQ_CST);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (__atomic_load_n(&in_loader, __ATOMIC_SEQ_CST)) {
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) > 20000000L)
            break;
    }
    lock(&modules_lock);
    lock(&bucket_lock);
    lock_all_stripes();
}

static void after_fork(void)
{
    unlock_all_stripes();
    unlock(&bucket_lock);
    unlock(&modules_lock);
    __atomic_store_n(&forking, 0, __ATOMIC_SEQ_CST);
}

/*
 * The lock dl_iterate_phdr holds (the loader's dl_load_write_lock), found
 * once: glibc's fork resets the loader's dl_load_lock in the child but not
 * this one, so a child forked while another thread of the parent was in
 * dl_iterate_phdr or dlopen finds it held by a thread it does not have,
 * and its first sample's unwind waits for ever.  Under ASan, whose every
 * new thread asks dl_iterate_phdr for its TLS, sampler_stress's children
 * hung in 5 of 20 runs.  The child resets it as glibc resets the other.
 * It is found as the one recursive mutex inside _rtld_global (ld.so's,
 * exported) that this thread holds while a dl_iterate_phdr callback runs;
 * if there is not exactly one, nothing is reset.
 */
static pthread_mutex_t *loader_write_lock;

static int find_write_lock(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)info;
    (void)size;
    const Elf64_Sym *sym = arg;
    unsigned char *g = (unsigned char *)(uintptr_t)sym->st_value;
    int tid = (int)syscall(SYS_gettid), found = 0;
    pthread_mutex_t *hit = NULL;
    for (size_t off = 0; off + sizeof(pthread_mutex_t) <= sym->st_size; off += 8) {
        pthread_mutex_t *m = (pthread_mutex_t *)(void *)(g + off);
        if (m->__data.__owner == tid && m->__data.__lock != 0 && m->__data.__count >= 1 &&
            (m->__data.__kind & 3) == PTHREAD_MUTEX_RECURSIVE_NP) {
            hit = m;
            found++;
        }
    }
    if (found == 1)
        loader_write_lock = hit;
    return 1; /* once is enough */
}

static void find_loader_write_lock(void)
{
    void *g = dlsym(RTLD_DEFAULT, "_rtld_global");
    Dl_info di;
    const Elf64_Sym *sym = NULL;
    if (!g || !dladdr1(g, &di, (void **)&sym, RTLD_DL_SYMENT) || !sym ||
        sym->st_size < sizeof(pthread_mutex_t))
        return;
    Elf64_Sym copy = *sym;
    copy.st_value = (Elf64_Addr)(uintptr_t)g; /* where it is, not where it was linked */
    dl_iterate_phdr(find_write_lock, &copy);
}

static void after_fork_child(void)
{
    heapgrab_sampler_table.pid = (uint64_t)getpid();
    if (loader_write_lock)
        *loader_write_lock = (pthread_mutex_t)PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
    after_fork();
}

__attribute__((constructor)) static void sampler_start(void)
{
    tls.busy++;
    heapgrab_sampler_table.rate = parse_rate();
    (void)ensure_init();
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
    find_loader_write_lock();
    /* allocations before now were sampled at the default rate */
    tls.armed = 1;
    tls.countdown = next_interval();
    tls.busy--;
}
