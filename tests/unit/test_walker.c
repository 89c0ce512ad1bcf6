/*
 * test_walker -- the walker on synthetic glibc 2.36 heap images.
 *
 * A fake target serves three sparse memory images: one holding main_arena,
 * mp_, the threads' TLS slots and the main heap; one holding a thread
 * arena's heap at a 64 MiB-aligned address; one anonymous mapping holding
 * two mmapped chunks (the kernel merged their mappings).  The clean image
 * has a chunk in every state in both arenas, three threads (one tcache in
 * each arena, one thread without a tcache) and a tcache entry that crosses
 * arenas.  Expected figures are computed here from the chunk tables, the way
 * glibc's int_mallinfo would count them, never copied from walker output.
 * Then each corruption case breaks one thing and checks that the walker
 * names it, with its address, and goes on; the fuzz loop flips random bytes
 * and only asks that it never crash or hang.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target/target.h"
#include "target/procfs.h" /* hg_parse_maps */
#include "lib/error.h"
#include "lib/snapshot.h"
#include "walker/layout.h"
#include "walker/locate.h"
#include "walker/walk.h"

/* ------------------------------------------------------------ the image */

#define A_BASE 0x10000000ull   /* arena, mp_, TLS, main heap */
#define A_LEN 0x400000ull
#define B_BASE 0x24000000ull   /* thread heap: 64 MiB aligned */
#define B_LEN 0x100000ull      /* rw-p part; the rest of the 64 MiB is ---p */
#define C_BASE 0x30000000ull   /* two mmapped chunks in one merged mapping */
#define C_CHUNK1 0x21000ull
#define C_CHUNK2 0x3000ull
#define C_LEN (C_CHUNK1 + C_CHUNK2)
#define MAIN_ARENA (A_BASE + 0x1000)
#define MP (A_BASE + 0x2000)
#define TLS_OFFSET 0x100ull     /* fs_base - start of libc's TLS block */
#define TLS1 (A_BASE + 0x3000)  /* libc TLS blocks of threads 1..3 */
#define TLS2 (A_BASE + 0x3400)
#define TLS3 (A_BASE + 0x3800)
#define TCACHE_VAR 0x48
#define TCACHE_KEY 0x5eed5eed5eed5eedull
#define HEAP (A_BASE + 0x100000)
#define SYSTEM_MEM 0x21000ull
#define THREAD_HEAP_SIZE 0x10000ull
#define UNMAPPED 0x50000000ull

enum { TID1 = 4242, TID2 = 4243, TID3 = 4244 };

/* Image contents selected by build(). */
enum { IMG_THREAD = 1, IMG_MMAP = 2, IMG_FULL = 3 };

static unsigned char *img_a, *img_b, *img_c;
static hg_layout L;
static int img_flags;

static unsigned char *at(uint64_t addr)
{
    if (addr >= A_BASE && addr < A_BASE + A_LEN)
        return img_a + (addr - A_BASE);
    if (addr >= B_BASE && addr < B_BASE + B_LEN)
        return img_b + (addr - B_BASE);
    if (addr >= C_BASE && addr < C_BASE + C_LEN)
        return img_c + (addr - C_BASE);
    fprintf(stderr, "test bug: address 0x%" PRIx64 " outside the images\n", addr);
    abort();
}
static void put64(uint64_t addr, uint64_t v) { memcpy(at(addr), &v, 8); }
static void put32(uint64_t addr, uint32_t v) { memcpy(at(addr), &v, 4); }
static void put16(uint64_t addr, uint16_t v) { memcpy(at(addr), &v, 2); }
static void head(uint64_t chunk, uint64_t size_and_flags) { put64(chunk + 8, size_and_flags); }
static uint64_t protect(uint64_t pos, uint64_t ptr) { return (pos >> 12) ^ ptr; }
static uint64_t bin_at(uint64_t av, unsigned i) { return av + (uint64_t)L.st_bins + (i - 1) * 16 - 16; }
static uint64_t fld(uint64_t base, long off) { return base + (uint64_t)off; }

/* Chunk states as the test lays them out. */
enum { S_INUSE, S_TCS, S_FAST, S_BIN, S_TCACHE };
struct cdesc {
    uint64_t size;
    int state;
};

/* The main heap, in address order; then its top chunk. */
enum { M_TC, M_A1, M_F1, M_A2, M_T1, M_A3, M_B1, M_A4, M_F2, M_T2, M_A5, M_B2, M_A6, M_TOP };
static const struct cdesc mdesc[M_TOP] = {
    {0x290, S_TCS},  {0x30, S_INUSE}, {0x30, S_FAST},   {0x40, S_INUSE},  {0x40, S_TCACHE},
    {0x100, S_INUSE}, {0x200, S_BIN}, {0x50, S_INUSE},  {0x30, S_FAST},   {0x40, S_TCACHE},
    {0x20, S_INUSE},  {0x300, S_BIN}, {0x30, S_INUSE}};
static uint64_t mch[M_TOP + 1];

/* The thread arena's first heap.  T_X sits in thread 1's tcache although it
 * belongs to the thread arena (free() puts it in the caller's tcache). */
enum { T_TC, T_A1, T_F1, T_T1, T_X, T_A2, T_B1, T_A3, T_TOP };
static const struct cdesc tdesc[T_TOP] = {
    {0x290, S_TCS}, {0x40, S_INUSE}, {0x20, S_FAST}, {0x50, S_TCACHE}, {0x20, S_TCACHE},
    {0x60, S_INUSE}, {0x90, S_BIN},  {0x30, S_INUSE}};
static uint64_t tch[T_TOP + 1];
static uint64_t thread_arena;

static void empty_bins(uint64_t av)
{
    for (unsigned i = 1; i < 128; i++) {
        put64(fld(av, L.st_bins) + (i - 1) * 16, bin_at(av, i));
        put64(fld(av, L.st_bins) + (i - 1) * 16 + 8, bin_at(av, i));
    }
}

/* One chunk alone on bin i of arena av. */
static void link_bin(uint64_t av, unsigned i, uint64_t chunk)
{
    put64(fld(av, L.st_bins) + (i - 1) * 16, chunk);
    put64(fld(av, L.st_bins) + (i - 1) * 16 + 8, chunk);
    put64(chunk + 16, bin_at(av, i));
    put64(chunk + 24, bin_at(av, i));
}

/* Lay out chunks from start; the top chunk ends at end.  In a thread arena
 * chunks in use (tcache and fastbin ones included) carry NON_MAIN_ARENA;
 * glibc rewrites a binned chunk's header as size | PREV_INUSE. */
static void lay(uint64_t start, uint64_t end, const struct cdesc *d, int n, uint64_t *addr,
                int thread)
{
    uint64_t p = start;
    for (int i = 0; i < n; i++) {
        addr[i] = p;
        int prev_free = i > 0 && d[i - 1].state == S_BIN;
        uint64_t flags = prev_free ? 0 : 1;
        if (thread && d[i].state != S_BIN)
            flags |= 4;
        head(p, d[i].size | flags);
        if (prev_free)
            put64(p, d[i - 1].size);
        if (d[i].state == S_INUSE) /* user data: not a plausible link */
            memset(at(p + 16), 0x77, 16);
        p += d[i].size;
    }
    addr[n] = p;
    head(p, (end - p) | 1);
}

static void tcache_push(uint64_t tc, unsigned bin, uint64_t chunk)
{
    uint64_t cnt = fld(tc, L.tc_counts) + 2 * bin, ent = fld(tc, L.tc_entries) + 8 * bin;
    uint16_t c;
    memcpy(&c, at(cnt), 2);
    uint64_t old;
    memcpy(&old, at(ent), 8);
    put64(chunk + 16, protect(chunk + 16, old)); /* e->next */
    put64(chunk + 24, TCACHE_KEY);               /* e->key */
    put64(ent, chunk + 16);
    put16(cnt, (uint16_t)(c + 1));
}

static void fast_push(uint64_t av, unsigned i, uint64_t chunk)
{
    uint64_t old;
    memcpy(&old, at(fld(av, L.st_fastbins) + 8 * i), 8);
    put64(chunk + 16, protect(chunk + 16, old));
    put64(fld(av, L.st_fastbins) + 8 * i, chunk);
}

static void build(int flags)
{
    img_flags = flags;
    memset(img_a, 0, A_LEN);
    memset(img_b, 0, B_LEN);
    memset(img_c, 0, C_LEN);

    lay(HEAP, HEAP + SYSTEM_MEM, mdesc, M_TOP, mch, 0);
    uint64_t av = MAIN_ARENA;
    empty_bins(av);
    put64(fld(av, L.st_top), mch[M_TOP]);
    put64(fld(av, L.st_system_mem), SYSTEM_MEM);
    put64(fld(av, L.st_next), av);
    /* fastbin 1 (chunk 0x30): F2 -> F1 */
    fast_push(av, 1, mch[M_F1]);
    fast_push(av, 1, mch[M_F2]);
    /* unsorted: B1; small bin 48 (0x300): B2 */
    link_bin(av, 1, mch[M_B1]);
    link_bin(av, 0x300 >> 4, mch[M_B2]);
    /* thread 1's tcache, bin 2 (chunk 0x40): T2 -> T1 */
    uint64_t tc1 = mch[M_TC] + 16;
    tcache_push(tc1, 2, mch[M_T1]);
    tcache_push(tc1, 2, mch[M_T2]);
    put64(TLS1 + TCACHE_VAR, tc1);
    /* Each thread's control block (at fs_base) points to itself. */
    put64(TLS1 + TLS_OFFSET, TLS1 + TLS_OFFSET);
    put64(TLS2 + TLS_OFFSET, TLS2 + TLS_OFFSET);
    put64(TLS3 + TLS_OFFSET, TLS3 + TLS_OFFSET);

    /* mp_ */
    put64(fld(MP, L.mp_mmap_threshold), 128 * 1024);
    put64(fld(MP, L.mp_sbrk_base), HEAP);
    put64(fld(MP, L.mp_tcache_bins), 64);
    put64(fld(MP, L.mp_tcache_max_bytes), 1032);
    put64(fld(MP, L.mp_tcache_count), 7);

    if (flags & IMG_MMAP) {
        head(C_BASE, C_CHUNK1 | 2);
        head(C_BASE + C_CHUNK1, C_CHUNK2 | 2);
        memset(at(C_BASE + 16), 0x55, 64);
        put32(fld(MP, L.mp_n_mmaps), 2);
        put64(fld(MP, L.mp_mmapped_mem), C_LEN);
    }

    if (!(flags & IMG_THREAD))
        return;
    /* heap_info, malloc_state right after it, then the chunks */
    uint64_t h = B_BASE;
    thread_arena = h + L.heap_info_size;
    put64(fld(h, L.hi_ar_ptr), thread_arena);
    put64(fld(h, L.hi_prev), 0);
    put64(fld(h, L.hi_size), THREAD_HEAP_SIZE);
    uint64_t first = thread_arena + L.state_size;
    if ((first + 16) & 15)
        first += 16 - ((first + 16) & 15);
    lay(first, h + THREAD_HEAP_SIZE, tdesc, T_TOP, tch, 1);
    empty_bins(thread_arena);
    put64(fld(thread_arena, L.st_top), tch[T_TOP]);
    put64(fld(thread_arena, L.st_system_mem), THREAD_HEAP_SIZE);
    put64(fld(thread_arena, L.st_next), av);
    put64(fld(av, L.st_next), thread_arena);
    fast_push(thread_arena, 0, tch[T_F1]);
    link_bin(thread_arena, 0x90 >> 4, tch[T_B1]);
    /* thread 2's tcache (in the thread arena): bin 3 (0x50) holds T1 */
    uint64_t tc2 = tch[T_TC] + 16;
    tcache_push(tc2, 3, tch[T_T1]);
    put64(TLS2 + TCACHE_VAR, tc2);
    /* thread 1's tcache, bin 0 (0x20): the thread arena's X */
    tcache_push(tc1, 0, tch[T_X]);
}

/* ------------------------------------------------------- the fake target */

struct fake {
    long reads;        /* read() calls so far */
    long die_after;    /* the process "exits" at this read; -1: never */
    int gone;          /* it has */
    int stops, resumes;
};

static long fake_read(hg_target *t, uint64_t addr, void *buf, size_t len)
{
    struct fake *f = t->backend;
    if (f->die_after >= 0 && f->reads >= f->die_after) {
        f->gone = 1;
        return hg_fail(HG_ENOPROC, "process exited during the snapshot");
    }
    f->reads++;
    const struct {
        uint64_t base, len;
        unsigned char *img;
    } r[3] = {{A_BASE, A_LEN, img_a}, {B_BASE, B_LEN, img_b}, {C_BASE, C_LEN, img_c}};
    for (int i = 0; i < 3; i++)
        if (addr >= r[i].base && addr < r[i].base + r[i].len) {
            uint64_t n = r[i].base + r[i].len - addr; /* short at the end */
            if (n > len)
                n = len;
            memcpy(buf, r[i].img + (addr - r[i].base), (size_t)n);
            return (long)n;
        }
    return 0; /* unreadable */
}

static int fake_stop(hg_target *t, unsigned flags)
{
    (void)flags;
    struct fake *f = t->backend;
    free(t->threads);
    t->threads = malloc(3 * sizeof *t->threads);
    if (!t->threads)
        return hg_fail(HG_ENOMEM, "out of memory");
    const uint64_t tls[3] = {TLS1, TLS2, TLS3};
    const int tid[3] = {TID1, TID2, TID3};
    for (int i = 0; i < 3; i++)
        t->threads[i] = (hg_thread){.tid = tid[i], .stopped = 1, .fs_base = tls[i] + TLS_OFFSET};
    t->nthreads = 3;
    f->stops++;
    return 0;
}

static int fake_resume(hg_target *t, uint64_t *stopped_ns)
{
    struct fake *f = t->backend;
    *stopped_ns = 1000;
    f->resumes++;
    return f->gone ? hg_fail(HG_ENOPROC, "process exited during the snapshot") : 0;
}

static void fake_close(hg_target *t)
{
    free(t->backend);
    t->backend = NULL;
}

static const struct hg_target_ops fake_ops = {
    .version = HG_TARGET_OPS_VERSION, .kind = HG_TARGET_PROCESS,
    .read = fake_read, .stop = fake_stop, .resume = fake_resume, .resident = NULL,
    .close = fake_close};

static long last_reads;
static int last_balanced;
/* Show the images as the kernel shows a forked child whose heaps grew (or
 * a core of it): each split into several adjacent, alike mappings -- the
 * main heap, the thread heap and the first mmapped chunk cut mid-way --
 * and, right below the mmapped chunks, two pages that cannot be read (a
 * thread stack's guard pages, glibc 2.42+) in a mapping alike theirs. */
static int split_maps;
#define A_SPLIT (HEAP + 0x10000)
#define B_SPLIT (B_BASE + 0x8000)
#define C_SPLIT (C_BASE + 0x10000)

/* Where the walk is told main_arena and mp_ are (what hg_locate found). */
static uint64_t at_main_arena = MAIN_ARENA, at_mp = MP;

static hg_snapshot *walk_opts(int *rc_out, long die_after, unsigned max_problems)
{
    hg_target *t = hg_target_alloc(&fake_ops);
    struct fake *f = calloc(1, sizeof *f);
    if (!t || !f) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    f->die_after = die_after;
    t->backend = f;
    char maps[1024];
    if (split_maps)
        snprintf(maps, sizeof maps,
                 "%llx-%llx rw-p 00000000 00:00 0 \n"
                 "%llx-%llx rw-p 00000000 00:00 0 \n"
                 "%llx-%llx rw-p 00000000 00:00 0 \n"
                 "%llx-%llx rw-p 00000000 00:00 0 \n"
                 "%llx-%llx ---p 00000000 00:00 0 \n"
                 "%llx-%llx rw-p 00000000 00:00 0 \n"
                 "%llx-%llx rw-p 00000000 00:00 0 \n"
                 "%llx-%llx rw-p 00000000 00:00 0 \n",
                 A_BASE, A_SPLIT, A_SPLIT, A_BASE + A_LEN, B_BASE, B_SPLIT, B_SPLIT,
                 B_BASE + B_LEN, B_BASE + B_LEN, B_BASE + L.heap_max_size, C_BASE - 0x2000,
                 C_BASE, C_BASE, C_SPLIT, C_SPLIT, C_BASE + C_LEN);
    else
        snprintf(maps, sizeof maps,
                 "%llx-%llx rw-p 00000000 00:00 0 \n"
                 "%llx-%llx rw-p 00000000 00:00 0 \n"
                 "%llx-%llx ---p 00000000 00:00 0 \n"
                 "%llx-%llx rw-p 00000000 00:00 0 \n",
                 A_BASE, A_BASE + A_LEN, B_BASE, B_BASE + B_LEN, B_BASE + B_LEN,
                 B_BASE + L.heap_max_size, C_BASE, C_BASE + C_LEN);
    if (hg_parse_maps(t, maps) != 0) {
        fprintf(stderr, "hg_parse_maps: %s\n", hg_error_message());
        exit(1);
    }
    hg_located loc;
    memset(&loc, 0, sizeof loc);
    loc.how = "symbols";
    snprintf(loc.version, sizeof loc.version, "2.36");
    loc.L = L;
    loc.main_arena = at_main_arena;
    loc.mp = at_mp;
    loc.have_tls_offset = 1;
    loc.libc_tls_offset = TLS_OFFSET;
    loc.have_tcache_var = 1;
    loc.tcache_var = TCACHE_VAR;
    hg_snapshot_options opt = {0};
    opt.max_problems = max_problems;
    hg_snapshot *s = NULL;
    int rc = hg_walk(t, &loc, &opt, &s);
    last_reads = f->reads;
    last_balanced = f->stops == 1 && f->resumes == 1;
    hg_target_close(t);
    if (rc_out)
        *rc_out = rc;
    return s;
}

static hg_snapshot *walk(int *rc_out) { return walk_opts(rc_out, -1, 64); }

/* ------------------------------------------------------------- checking */

static int passed, failed, case_failed;

#define EXPECT_EQ(got, want)                                                                \
    do {                                                                                    \
        uint64_t g_ = (uint64_t)(got), w_ = (uint64_t)(want);                               \
        if (g_ != w_) {                                                                     \
            printf("    %s:%d: %s = %" PRIu64 " (0x%" PRIx64 "), expected %" PRIu64         \
                   " (0x%" PRIx64 ")\n", __FILE__, __LINE__, #got, g_, g_, w_, w_);          \
            case_failed = 1;                                                                \
        }                                                                                   \
    } while (0)

#define EXPECT(cond)                                                                        \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            printf("    %s:%d: expected %s\n", __FILE__, __LINE__, #cond);                  \
            case_failed = 1;                                                                \
        }                                                                                   \
    } while (0)

static void report(const char *name)
{
    printf("%s %s\n", case_failed ? "FAIL" : "ok  ", name);
    if (case_failed)
        failed++;
    else
        passed++;
    case_failed = 0;
}

/* A case that fails because of a walker bug reported to its owner: shown
 * as XFAIL and not counted as a failure; once the bug is fixed it passes and
 * says so (then make it a plain report()). */

static void dump_problems(const hg_snapshot *s)
{
    for (size_t i = 0; i < hg_snapshot_problem_count(s); i++)
        printf("      0x%" PRIx64 ": %s\n", hg_snapshot_problem(s, i)->address,
               hg_snapshot_problem(s, i)->what);
}

/* A problem at exactly this address whose text contains word. */
static int has_problem(const hg_snapshot *s, uint64_t addr, const char *word)
{
    for (size_t i = 0; i < hg_snapshot_problem_count(s); i++) {
        const hg_problem *p = hg_snapshot_problem(s, i);
        if (p->address == addr && strstr(p->what, word))
            return 1;
    }
    printf("    no problem at 0x%" PRIx64 " mentioning \"%s\"; problems:\n", addr, word);
    dump_problems(s);
    return 0;
}

static const hg_bucket *bucket(const hg_snapshot *s, int arena, int state, uint64_t size)
{
    for (size_t i = 0; i < hg_snapshot_bucket_count(s); i++) {
        const hg_bucket *b = hg_snapshot_bucket(s, i);
        if (b->arena == arena && b->state == state && b->chunk_size == size)
            return b;
    }
    return NULL;
}

/* What one arena should hold, from its chunk table. */
struct expect {
    uint64_t system_mem, top, overhead;
    uint64_t inuse_n, inuse_usable, inuse_chunk;
    uint64_t fast_n, fast_bytes, bin_n, bin_bytes, tc_n, tc_bytes;
};

static struct expect expect_arena(const struct cdesc *d, int n, const uint64_t *addr,
                                  uint64_t heap_base, uint64_t end, uint64_t system_mem)
{
    struct expect e = {0};
    e.system_mem = system_mem;
    e.top = end - addr[n];
    e.overhead = addr[0] - heap_base; /* heap_info + malloc_state + alignment */
    for (int i = 0; i < n; i++) {
        uint64_t sz = d[i].size;
        switch (d[i].state) {
        case S_INUSE: e.inuse_n++, e.inuse_usable += sz - 8, e.inuse_chunk += sz; break;
        case S_TCS: e.overhead += sz; break;
        case S_FAST: e.fast_n++, e.fast_bytes += sz; break;
        case S_BIN: e.bin_n++, e.bin_bytes += sz; break;
        case S_TCACHE: e.tc_n++, e.tc_bytes += sz; break;
        }
    }
    /* every byte of the arena's memory is accounted for exactly once */
    if (e.inuse_chunk + e.overhead + e.fast_bytes + e.bin_bytes + e.tc_bytes + e.top != system_mem) {
        fprintf(stderr, "test bug: chunk table does not fill the heap\n");
        abort();
    }
    return e;
}

static void check_arena_totals(const hg_totals *t, const struct expect *e)
{
    EXPECT_EQ(t->sys_bytes, e->system_mem);
    EXPECT_EQ(t->inuse_objects, e->inuse_n);
    EXPECT_EQ(t->inuse_bytes, e->inuse_usable);
    EXPECT_EQ(t->free_objects, e->bin_n);
    EXPECT_EQ(t->free_bytes, e->bin_bytes);
    EXPECT_EQ(t->top_bytes, e->top);
    EXPECT_EQ(t->tcache_objects, e->tc_n);
    EXPECT_EQ(t->tcache_bytes, e->tc_bytes);
    EXPECT_EQ(t->fastbin_objects, e->fast_n);
    EXPECT_EQ(t->fastbin_bytes, e->fast_bytes);
    EXPECT_EQ(t->mmapped_objects, 0);
    EXPECT_EQ(t->mmapped_bytes, 0);
    EXPECT_EQ(t->released_bytes, 0);
    EXPECT_EQ(t->overhead_bytes, e->overhead);
}

static void test_clean(int flags, const char *name)
{
    build(flags);
    int rc;
    hg_snapshot *s = walk(&rc);
    EXPECT_EQ(rc, 0);
    EXPECT(last_balanced);
    if (!s) {
        report(name);
        return;
    }
    const int thr = flags & IMG_THREAD, mm = flags & IMG_MMAP;
    struct expect e[2];
    int na = thr ? 2 : 1;
    e[0] = expect_arena(mdesc, M_TOP, mch, HEAP, HEAP + SYSTEM_MEM, SYSTEM_MEM);
    if (thr)
        e[1] = expect_arena(tdesc, T_TOP, tch, B_BASE, B_BASE + THREAD_HEAP_SIZE,
                            THREAD_HEAP_SIZE);

    /* glibc's int_mallinfo, arena by arena */
    uint64_t arena = 0, ordblks = 0, smblks = 0, fsmblks = 0, fordblks = 0;
    struct expect sum = {0};
    for (int i = 0; i < na; i++) {
        arena += e[i].system_mem;
        ordblks += 1 + e[i].bin_n;
        smblks += e[i].fast_n;
        fsmblks += e[i].fast_bytes;
        fordblks += e[i].top + e[i].fast_bytes + e[i].bin_bytes;
        sum.inuse_n += e[i].inuse_n;
        sum.inuse_usable += e[i].inuse_usable;
        sum.fast_n += e[i].fast_n;
        sum.fast_bytes += e[i].fast_bytes;
        sum.bin_n += e[i].bin_n;
        sum.bin_bytes += e[i].bin_bytes;
        sum.tc_n += e[i].tc_n;
        sum.tc_bytes += e[i].tc_bytes;
        sum.top += e[i].top;
        sum.overhead += e[i].overhead;
    }
    uint64_t hblks = mm ? 2 : 0, hblkhd = mm ? C_LEN : 0;
    const hg_mallinfo2 *mi = hg_snapshot_mallinfo2(s);
    EXPECT_EQ(mi->arena, arena);
    EXPECT_EQ(mi->ordblks, ordblks);
    EXPECT_EQ(mi->smblks, smblks);
    EXPECT_EQ(mi->hblks, hblks);
    EXPECT_EQ(mi->hblkhd, hblkhd);
    EXPECT_EQ(mi->usmblks, 0);
    EXPECT_EQ(mi->fsmblks, fsmblks);
    EXPECT_EQ(mi->uordblks, arena - fordblks);
    EXPECT_EQ(mi->fordblks, fordblks);
    EXPECT_EQ(mi->keepcost, e[0].top);

    /* whole-heap totals: mmapped chunks are live allocations too */
    const hg_totals *t = hg_snapshot_totals(s);
    EXPECT_EQ(t->sys_bytes, arena + hblkhd);
    EXPECT_EQ(t->inuse_objects, sum.inuse_n + hblks);
    EXPECT_EQ(t->inuse_bytes, sum.inuse_usable + (mm ? C_LEN - 2 * 16 : 0));
    EXPECT_EQ(t->free_objects, sum.bin_n);
    EXPECT_EQ(t->free_bytes, sum.bin_bytes);
    EXPECT_EQ(t->top_bytes, sum.top);
    EXPECT_EQ(t->tcache_objects, sum.tc_n);
    EXPECT_EQ(t->tcache_bytes, sum.tc_bytes);
    EXPECT_EQ(t->fastbin_objects, sum.fast_n);
    EXPECT_EQ(t->fastbin_bytes, sum.fast_bytes);
    EXPECT_EQ(t->mmapped_objects, hblks);
    EXPECT_EQ(t->mmapped_bytes, hblkhd);
    EXPECT_EQ(t->released_bytes, 0);
    EXPECT_EQ(t->overhead_bytes, sum.overhead);

    /* per arena */
    EXPECT_EQ(hg_snapshot_arena_count(s), na);
    for (int i = 0; i < na && (size_t)i < hg_snapshot_arena_count(s); i++) {
        const hg_arena_info *ai = hg_snapshot_arena(s, (size_t)i);
        EXPECT_EQ(ai->index, i);
        EXPECT_EQ(ai->address, i ? thread_arena : MAIN_ARENA);
        EXPECT_EQ(ai->heaps, 1);
        EXPECT_EQ(ai->mutex_held, 0);
        EXPECT_EQ(ai->system_mem, e[i].system_mem);
        check_arena_totals(&ai->totals, &e[i]);
    }

    /* threads: 1 has a tcache in the main heap (plus a chunk of the thread
     * arena), 2 a tcache in the thread arena, 3 none */
    EXPECT_EQ(hg_snapshot_thread_count(s), 3);
    if (hg_snapshot_thread_count(s) == 3) {
        const hg_thread_info *t1 = hg_snapshot_thread(s, 0), *t2 = hg_snapshot_thread(s, 1),
                             *t3 = hg_snapshot_thread(s, 2);
        EXPECT_EQ(t1->tid, TID1);
        EXPECT_EQ(t1->tcache, mch[M_TC] + 16);
        EXPECT_EQ(t1->arena, 0);
        EXPECT_EQ(t1->tcache_objects, thr ? 3 : 2);
        EXPECT_EQ(t1->tcache_bytes, mdesc[M_T1].size + mdesc[M_T2].size + (thr ? tdesc[T_X].size : 0));
        EXPECT_EQ(t2->tid, TID2);
        EXPECT_EQ(t2->tcache, thr ? tch[T_TC] + 16 : 0);
        EXPECT_EQ((int64_t)t2->arena, thr ? 1 : -1);
        EXPECT_EQ(t2->tcache_objects, thr ? 1 : 0);
        EXPECT_EQ(t2->tcache_bytes, thr ? tdesc[T_T1].size : 0);
        EXPECT_EQ(t3->tid, TID3);
        EXPECT_EQ(t3->tcache, 0);
        EXPECT_EQ((int64_t)t3->arena, -1);
        EXPECT_EQ(t3->tcache_objects, 0);
    }

    /* a few histogram cells */
    const hg_bucket *b = bucket(s, 0, HG_STATE_INUSE, 0x30);
    EXPECT(b != NULL);
    if (b) {
        EXPECT_EQ(b->count, 2); /* A1, A6 */
        EXPECT_EQ(b->bytes, 2 * 0x30);
        EXPECT_EQ(b->usable_bytes, 2 * (0x30 - 8));
    }
    b = bucket(s, 0, HG_STATE_FASTBIN, 0x30);
    EXPECT(b && b->count == 2);
    b = bucket(s, 0, HG_STATE_TOP, e[0].top);
    EXPECT(b && b->count == 1);
    b = bucket(s, 0, HG_STATE_OVERHEAD, 0x290);
    EXPECT(b && b->count == 1);
    if (thr) {
        b = bucket(s, 1, HG_STATE_TCACHE, 0x20); /* X: counted in its own arena */
        EXPECT(b && b->count == 1);
        b = bucket(s, 1, HG_STATE_BIN, 0x90);
        EXPECT(b && b->count == 1);
        EXPECT(bucket(s, 0, HG_STATE_TCACHE, 0x20) == NULL);
    }
    if (mm) {
        b = bucket(s, -1, HG_STATE_MMAPPED, C_CHUNK1);
        EXPECT(b && b->count == 1 && b->usable_bytes == C_CHUNK1 - 16);
        b = bucket(s, -1, HG_STATE_MMAPPED, C_CHUNK2);
        EXPECT(b && b->count == 1 && b->usable_bytes == C_CHUNK2 - 16);
    } else {
        EXPECT(bucket(s, -1, HG_STATE_MMAPPED, C_CHUNK1) == NULL);
    }

    EXPECT_EQ(hg_snapshot_problem_total(s), 0);
    if (hg_snapshot_problem_total(s))
        dump_problems(s);
    EXPECT(strcmp(hg_snapshot_glibc_version(s), "2.36") == 0);
    EXPECT(strcmp(hg_snapshot_locate(s), "symbols") == 0);
    EXPECT_EQ(hg_snapshot_timing(s)->stopped_ns, 1000);
    hg_snapshot_free(s);
    report(name);
}

/* ---------------------------------------------------------- corruptions */

/* Build the full image, break it, walk, and check the walk went through
 * and named the fault at its address. */
typedef void (*breaker)(void);

static hg_snapshot *broken(breaker brk, uint64_t addr, const char *word)
{
    build(IMG_FULL);
    brk();
    int rc;
    hg_snapshot *s = walk(&rc);
    EXPECT_EQ(rc, 0);
    EXPECT(last_balanced);
    EXPECT(s != NULL);
    if (s)
        EXPECT(has_problem(s, addr, word));
    return s;
}

/* 0x123457: aligned, flags PREV_INUSE|IS_MMAPPED|NON_MAIN_ARENA, runs far
 * past the heap */
static void brk_size(void) { head(mch[M_A3], 0x123457); }
static void brk_size_small(void) { head(tch[T_A2], 0x11 | 4); }
static void brk_fast_cycle(void) { put64(mch[M_F1] + 16, protect(mch[M_F1] + 16, mch[M_F2])); }
static void brk_fast_outside(void) { put64(fld(MAIN_ARENA, L.st_fastbins) + 8, UNMAPPED); }
static void brk_bin_fd(void) { put64(mch[M_B2] + 16, 0xdeadbeef0ull); }
static void brk_thread_bin_fd(void) { put64(tch[T_B1] + 16, tch[T_A2] + 0x10); }
static void brk_tcache_count_high(void) { put16(mch[M_TC] + 16 + (uint64_t)L.tc_counts + 2 * 2, 5); }
static void brk_tcache_count_low(void) { put16(mch[M_TC] + 16 + (uint64_t)L.tc_counts + 2 * 2, 1); }
/* T2 -> T1 -> T2 ...: the loop closes exactly at the count */
static void brk_tcache_cycle(void) { put64(mch[M_T1] + 16, protect(mch[M_T1] + 16, mch[M_T2] + 16)); }
/* T2 freed twice: tcache_put links it to itself and counts 3 */
static void brk_tcache_double_free(void)
{
    put64(mch[M_T2] + 16, protect(mch[M_T2] + 16, mch[M_T2] + 16));
    put16(mch[M_TC] + 16 + (uint64_t)L.tc_counts + 2 * 2, 3);
}
static void brk_ring_loop(void) { put64(fld(thread_arena, L.st_next), thread_arena); }
static void brk_ring_garbage(void) { put64(fld(thread_arena, L.st_next), UNMAPPED); }
static void brk_top(void) { put64(fld(MAIN_ARENA, L.st_top), A_BASE + 0x300000); }
static void brk_heap_info(void) { put64(fld(B_BASE, L.hi_ar_ptr), 0x1230ull); }
static void brk_nma(void) { head(tch[T_A1], tdesc[T_A1].size | 1); }
static void brk_tcache_ptr(void) { put64(TLS2 + TCACHE_VAR, tch[T_A1] + 16); }
static void brk_mp_count(void) { put32(fld(MP, L.mp_n_mmaps), 3); }
static void lock_thread_arena(void) { put32(fld(thread_arena, L.st_mutex), 1); }

static uint64_t full_inuse_objects(void)
{
    uint64_t n = 2; /* mmapped */
    for (int i = 0; i < M_TOP; i++)
        n += mdesc[i].state == S_INUSE;
    for (int i = 0; i < T_TOP; i++)
        n += tdesc[i].state == S_INUSE;
    return n;
}

static void test_corruptions(void)
{
    hg_snapshot *s;

    s = broken(brk_size, mch[M_A3], "runs past the end of its heap");
    /* resynchronised at B1: only A3 is lost, every later chunk is found */
    if (s) {
        const hg_totals *t = hg_snapshot_totals(s);
        EXPECT_EQ(t->inuse_objects, full_inuse_objects() - 1);
        EXPECT_EQ(t->free_objects, 3);
        EXPECT_EQ(t->fastbin_objects, 3);
        EXPECT_EQ(t->tcache_objects, 4);
        if (hg_snapshot_arena_count(s) == 2)
            EXPECT_EQ(hg_snapshot_arena(s, 0)->totals.overhead_bytes,
                      mdesc[M_TC].size + mdesc[M_A3].size);
    }
    hg_snapshot_free(s);
    report("garbage size mid-heap: reported, walk resynchronises");

    s = broken(brk_size_small, tch[T_A2], "below the minimum");
    if (s) {
        const hg_totals *t = hg_snapshot_totals(s);
        EXPECT_EQ(t->inuse_objects, full_inuse_objects() - 1);
        EXPECT_EQ(t->free_objects, 3); /* T_B1 after the bad chunk */
        EXPECT_EQ(t->top_bytes, (HEAP + SYSTEM_MEM - mch[M_TOP]) +
                                    (B_BASE + THREAD_HEAP_SIZE - tch[T_TOP]));
    }
    hg_snapshot_free(s);
    report("size below MINSIZE in a thread arena: reported, walk resynchronises");

    s = broken(brk_fast_cycle, mch[M_F2], "repeats (cycle)");
    hg_snapshot_free(s);
    report("fastbin cycle");

    s = broken(brk_fast_outside, UNMAPPED, "not a chunk that could be free");
    hg_snapshot_free(s);
    report("fastbin entry outside the heap");

    s = broken(brk_bin_fd, 0xdeadbeef0ull, "not a free chunk");
    hg_snapshot_free(s);
    report("bin fd into garbage");

    s = broken(brk_thread_bin_fd, tch[T_A2] + 0x10, "not a free chunk");
    hg_snapshot_free(s);
    report("thread arena bin fd into the middle of a chunk");

    s = broken(brk_tcache_count_high, mch[M_TC] + 16, "count 5 but 2 entries");
    hg_snapshot_free(s);
    report("tcache count above its list's length");

    s = broken(brk_tcache_count_low, mch[M_T1] + 16, "past the bin's count");
    hg_snapshot_free(s);
    report("tcache count below its list's length");

    s = broken(brk_tcache_double_free, mch[M_T2] + 16, "repeats (cycle or double free)");
    if (s)
        EXPECT_EQ(hg_snapshot_totals(s)->tcache_objects, 3); /* T2 once, T1 not reached */
    hg_snapshot_free(s);
    report("tcache cycle (double free) within the count");

    /* repeats, or past the count: either way the entry that closes the loop */
    s = broken(brk_tcache_cycle, mch[M_T2] + 16, "bin 2 (count 2): entry 2 at");
    if (s)
        EXPECT_EQ(hg_snapshot_totals(s)->tcache_objects, 4);
    hg_snapshot_free(s);
    report("tcache cycle closing at the count");

    s = broken(brk_ring_loop, thread_arena, "ring does not close");
    hg_snapshot_free(s);
    report("arena ring does not return to main_arena");

    s = broken(brk_ring_garbage, UNMAPPED, "bad next pointer");
    if (s)
        EXPECT_EQ(hg_snapshot_arena_count(s), 2);
    hg_snapshot_free(s);
    report("arena ring leads into unmapped memory");

    s = broken(brk_top, A_BASE + 0x300000, "top 0x10300000 lies outside");
    hg_snapshot_free(s);
    report("top pointer outside the heap");

    s = broken(brk_heap_info, B_BASE, "does not belong to arena");
    hg_snapshot_free(s);
    report("heap_info with a wrong ar_ptr");

    s = broken(brk_nma, tch[T_A1], "NON_MAIN_ARENA clear");
    hg_snapshot_free(s);
    report("chunk in use in a thread arena without NON_MAIN_ARENA");

    s = broken(brk_tcache_ptr, tch[T_A1] + 16, "is not a tcache chunk");
    hg_snapshot_free(s);
    report("thread's tcache pointer at an ordinary chunk");

    s = broken(brk_mp_count, 0, "mp_ counts 3");
    if (s)
        EXPECT_EQ(hg_snapshot_totals(s)->mmapped_objects, 2);
    hg_snapshot_free(s);
    report("mp_.n_mmaps disagrees with the mmapped chunks found");

    s = broken(lock_thread_arena, thread_arena, "lock was held");
    if (s && hg_snapshot_arena_count(s) == 2) {
        EXPECT_EQ(hg_snapshot_arena(s, 1)->mutex_held, 1);
        EXPECT_EQ(hg_snapshot_arena(s, 0)->mutex_held, 0);
        EXPECT_EQ(hg_snapshot_totals(s)->inuse_objects, full_inuse_objects());
    }
    hg_snapshot_free(s);
    report("an arena locked at the stop is said to be");
}

/* With its mappings split, a heap is still bounded by the end of their run:
 * a thread heap whose size reaches into its PROT_NONE reserve, and a main
 * arena whose system_mem runs past the last [heap] part, are reported. */
static void brk_heap_size(void) { put64(fld(B_BASE, L.hi_size), B_LEN + 0x1000); }
static void brk_system_mem(void) { put64(fld(MAIN_ARENA, L.st_system_mem), A_BASE + A_LEN - HEAP + 0x1000); }

static void test_heap_past_split(void)
{
    hg_snapshot *s = broken(brk_heap_size, B_BASE, "outside its mapping");
    hg_snapshot_free(s);
    report("split thread heap whose heap_info size runs into its reserve");
    s = broken(brk_system_mem, MAIN_ARENA, "runs past its mapping");
    hg_snapshot_free(s);
    report("split main heap whose system_mem runs past its last part");
}

/* Three free chunks in large bin 64 of the main arena, carved from the
 * top: L1 (0x420) then L2 and L3 (0x410 each) along fd, each followed by a
 * chunk in use.  The nextsize list links the first of each size: L1 <-> L2;
 * L3, second of its size, has both links 0. */
static uint64_t lb[3];

static void carve_large(void)
{
    static const uint64_t sizes[3] = {0x420, 0x410, 0x410};
    uint64_t p = mch[M_TOP], av = MAIN_ARENA, bin = bin_at(MAIN_ARENA, 64);
    for (int i = 0; i < 3; i++) {
        lb[i] = p;
        head(p, sizes[i] | 1);
        head(p + sizes[i], 0x30);   /* in use, its neighbour free */
        put64(p + sizes[i], sizes[i]);
        memset(at(p + sizes[i] + 16), 0x77, 16);
        p += sizes[i] + 0x30;
    }
    head(p, (HEAP + SYSTEM_MEM - p) | 1);
    put64(fld(av, L.st_top), p);
    for (int i = 0; i < 3; i++) {
        put64(lb[i] + 16, i < 2 ? lb[i + 1] : bin);  /* fd */
        put64(lb[i] + 24, i > 0 ? lb[i - 1] : bin);  /* bk */
    }
    put64(fld(av, L.st_bins) + 63 * 16, lb[0]);
    put64(fld(av, L.st_bins) + 63 * 16 + 8, lb[2]);
    put64(lb[0] + 32, lb[1]), put64(lb[0] + 40, lb[1]);
    put64(lb[1] + 32, lb[0]), put64(lb[1] + 40, lb[0]);
    put64(lb[2] + 32, 0), put64(lb[2] + 40, 0);
}
static void lb_garbage(void) { carve_large(); put64(lb[0] + 32, 0x4141414141414140ull); }
static void lb_second_linked(void) { carve_large(); put64(lb[2] + 32, lb[0]); }
static void lb_first_zero(void) { carve_large(); put64(lb[1] + 32, 0); }
static void lb_bk_self(void) { carve_large(); put64(lb[0] + 40, lb[0]); }
static void lb_skips(void) { carve_large(); put64(lb[0] + 32, lb[2]); }
/* fd order L2, L1, L3: a larger chunk after a smaller one */
static void lb_unsorted(void)
{
    carve_large();
    uint64_t bin = bin_at(MAIN_ARENA, 64);
    put64(fld(MAIN_ARENA, L.st_bins) + 63 * 16, lb[1]);
    put64(lb[1] + 16, lb[0]), put64(lb[1] + 24, bin);
    put64(lb[0] + 16, lb[2]), put64(lb[0] + 24, lb[1]);
    put64(lb[2] + 24, lb[0]);
}

static void test_large_bin(void)
{
    build(IMG_FULL);
    int rc;
    hg_snapshot *s = walk(&rc);
    uint64_t free0 = s ? hg_snapshot_totals(s)->free_objects : 0;
    uint64_t ord0 = s ? hg_snapshot_mallinfo2(s)->ordblks : 0;
    hg_snapshot_free(s);
    build(IMG_FULL);
    carve_large();
    s = walk(&rc);
    EXPECT_EQ(rc, 0);
    EXPECT(s != NULL);
    if (s) {
        EXPECT_EQ(hg_snapshot_problem_total(s), 0);
        if (hg_snapshot_problem_total(s))
            dump_problems(s);
        EXPECT_EQ(hg_snapshot_totals(s)->free_objects, free0 + 3);
        EXPECT_EQ(hg_snapshot_mallinfo2(s)->ordblks, ord0 + 3);
    }
    hg_snapshot_free(s);
    report("large bin with a sound nextsize list: three free chunks, no problem");

    static const struct {
        breaker brk;
        int chunk;
        const char *word, *name;
    } cases[] = {
        {lb_garbage, 0, "fd_nextsize 0x4141414141414140 is not a chunk on this bin",
         "large bin: garbage fd_nextsize"},
        {lb_second_linked, 2, "should be 0", "large bin: second chunk of a size with a nextsize link"},
        {lb_first_zero, 1, "fd_nextsize 0x0 is 0, yet", "large bin: first chunk of a size unlinked"},
        {lb_bk_self, 0, "bk_nextsize", "large bin: bk_nextsize pointing at itself"},
        {lb_skips, 0, "next smaller size", "large bin: fd_nextsize to a chunk that is not first of its size"},
        {lb_unsorted, 0, "not sorted", "large bin out of size order"},
    };
    /* every build lays the chunks out alike: lb[] is known before brk runs */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s = broken(cases[i].brk, lb[cases[i].chunk], cases[i].word);
        if (s && hg_snapshot_problem_total(s) != 1) {
            EXPECT_EQ(hg_snapshot_problem_total(s), 1);
            dump_problems(s);
        }
        hg_snapshot_free(s);
        report(cases[i].name);
    }
}

/* The process exits at the k-th read: the walk fails with HG_ENOPROC, the
 * target is resumed, nothing leaks (ASan build). */
static void gone_at(long k, long total)
{
    int rc;
    hg_snapshot *s = walk_opts(&rc, k, 64);
    if (rc != HG_ENOPROC || s)
        printf("    process gone at read %ld of %ld: rc %d (%s)\n", k, total, rc,
               hg_error_message());
    EXPECT_EQ((int64_t)rc, (int64_t)HG_ENOPROC);
    EXPECT(s == NULL);
    EXPECT(last_balanced);
    hg_snapshot_free(s);
}

static void test_gone(void)
{
    build(IMG_FULL);
    int rc;
    hg_snapshot *s = walk(&rc);
    EXPECT_EQ(rc, 0);
    hg_snapshot_free(s);
    long total = last_reads;
    EXPECT(total > 4);
    for (long k = 2; k < total; k++)
        gone_at(k, total);
    report("process exits mid-walk: HG_ENOPROC, target resumed");

    gone_at(0, total); /* reading mp_ */
    gone_at(1, total); /* reading main_arena */
    report("process exits at the first reads (mp_, main_arena): HG_ENOPROC");
}

/* ----------------------------------------------------------------- fuzz */

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL fuzz: the walker hung\n";
    if (write(1, msg, sizeof msg - 1) < 0)
        _exit(3);
    _exit(2);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_fuzz(void)
{
    unsigned iterations = 2000, walked = 0, with_problems = 0, failed_rc = 0;
    unsigned by_code[16] = {0}; /* -rc of walks that returned an error */
    signal(SIGALRM, on_alarm);
    build(IMG_FULL);
    carve_large();
    uint64_t main_top = lb[2] + 0x410 + 0x30;
    /* where to flip: [start, len) */
    const struct {
        uint64_t start, len;
    } zone[] = {
        {HEAP, main_top - HEAP + 32},                   /* main heap chunks, large bin */
        {mch[M_TC], 0x290},                             /* thread 1's tcache */
        {MAIN_ARENA, L.state_size},                     /* main_arena */
        {B_BASE, tch[T_TOP] - B_BASE + 32},             /* heap_info, arena, chunks */
        {tch[T_TC], 0x290},                             /* thread 2's tcache */
        {MP, L.par_size},                               /* mp_ */
        {TLS1 + TCACHE_VAR, 8}, {TLS2 + TCACHE_VAR, 8}, /* tcache pointers */
        {C_BASE, 16}, {C_BASE + C_CHUNK1, 16},          /* mmapped headers */
    };
    const unsigned nzones = sizeof zone / sizeof zone[0];
    /* the walker only reads: undo each iteration's flips instead of
     * rebuilding the 5 MiB image (which dominates under ASan) */
    struct {
        uint64_t addr;
        unsigned char old[8];
    } undo[8];
    for (unsigned it = 0; it < iterations; it++) {
        unsigned flips = 1 + it % 8;
        for (unsigned k = 0; k < flips; k++) {
            uint64_t r = next_rand();
            /* weight the heaps and arenas: zones 0-4 three times as often */
            unsigned z = (unsigned)(r % (5 * 3 + nzones - 5));
            z = z < 15 ? z / 3 : z - 10;
            uint64_t where = zone[z].start + (r >> 16) % zone[z].len;
            uint64_t v = next_rand();
            undo[k].addr = where & ~7ull;
            memcpy(undo[k].old, at(undo[k].addr), 8);
            switch (v % 4) {
            case 0: *at(where) ^= (unsigned char)(1u << ((v >> 8) % 8)); break;
            case 1: *at(where) = (unsigned char)(v >> 8); break;
            case 2: put64(where & ~7ull, v >> 3); break;
            default: /* a plausible pointer into a heap */
                put64(where & ~7ull, ((v >> 8) & 1 ? HEAP : B_BASE) + ((v >> 16) % 0x11000 & ~15ull));
                break;
            }
        }
        alarm(20);
        int rc;
        hg_snapshot *s = walk_opts(&rc, -1, 8);
        alarm(0);
        for (unsigned k = flips; k-- > 0;)
            memcpy(at(undo[k].addr), undo[k].old, 8);
        if (rc > 0 || (rc == 0) != (s != NULL) || !last_balanced) {
            printf("    iteration %u: rc %d, snapshot %p\n", it, rc, (void *)s);
            failed_rc++;
        }
        if (rc < 0 && -rc < 16)
            by_code[-rc]++;
        if (s) {
            walked++;
            with_problems += hg_snapshot_problem_total(s) > 0;
            if (hg_snapshot_problem_count(s) > 8)
                failed_rc++;
            hg_snapshot_free(s);
        }
    }
    /* the undo log restored every byte */
    unsigned char *a = malloc(A_LEN), *b = malloc(B_LEN);
    if (a && b) {
        memcpy(a, img_a, A_LEN);
        memcpy(b, img_b, B_LEN);
        build(IMG_FULL);
        carve_large();
        EXPECT(memcmp(a, img_a, A_LEN) == 0 && memcmp(b, img_b, B_LEN) == 0);
    }
    free(a);
    free(b);
    printf("    fuzz: %u images, %u walked to a snapshot, %u with problems found\n", iterations,
           walked, with_problems);
    for (int c = 1; c < 16; c++)
        if (by_code[c])
            printf("    fuzz: %u walks failed with %s\n", by_code[c], hg_code_name(-c));
    /* a corrupt heap is reported, not refused: only mp_ / main_arena
     * damage may stop a walk (ENOTFOUND, EUNSUPPORTED for a hugetlb size) */
    EXPECT_EQ(by_code[-HG_EINTERNAL] + by_code[-HG_ENOMEM] + by_code[-HG_EIO], 0);
    EXPECT_EQ(failed_rc, 0);
    EXPECT(with_problems > iterations / 2);
    report("fuzz: random corruption never crashes or hangs");
}

/* main_arena or mp_ unreadable at the stop: the walk cannot start, and
 * says which and why (the target's own reason for the failed read). */
static void test_unreadable_state(void)
{
    build(IMG_FULL);
    char want[256];
    int rc;
    at_mp = UNMAPPED;
    hg_snapshot *s = walk(&rc);
    at_mp = MP;
    EXPECT(s == NULL);
    EXPECT_EQ(rc, HG_ENOTFOUND);
    snprintf(want, sizeof want, "cannot read mp_ at 0x%llx: cannot read %zu bytes at 0x%llx",
             UNMAPPED, L.par_size, UNMAPPED);
    if (strcmp(hg_error_message(), want) != 0) {
        printf("    error \"%s\", expected \"%s\"\n", hg_error_message(), want);
        case_failed = 1;
    }
    EXPECT(last_balanced);
    report("mp_ unreadable: ENOTFOUND, naming mp_ and why");

    /* in the thread heap's reservation (a mapping), but never readable */
    const uint64_t there = B_BASE + B_LEN + 0x1000;
    at_main_arena = there;
    s = walk(&rc);
    at_main_arena = MAIN_ARENA;
    EXPECT(s == NULL);
    EXPECT_EQ(rc, HG_ENOTFOUND);
    snprintf(want, sizeof want, "arena at 0x%" PRIx64 " is not readable: cannot read %zu bytes at 0x%"
             PRIx64, there, L.state_size, there);
    if (strcmp(hg_error_message(), want) != 0) {
        printf("    error \"%s\", expected \"%s\"\n", hg_error_message(), want);
        case_failed = 1;
    }
    EXPECT(last_balanced);
    report("main_arena unreadable: ENOTFOUND, naming the arena and why");
}

/* The table's newest release (2.44: 2.43's malloc_state and tcache, mp_
 * without tcache_unsorted_limit) is read; the release after it is refused
 * by name, with the range heapgrab supports. */
static void test_table_edges(void)
{
    hg_layout l;
    case_failed = 0;
    EXPECT(hg_layout_from_table(HG_GLIBC_NEWEST, &l) == 0);
    EXPECT(l.version == 244 && l.state_size == 2112 && l.par_size == 136 && l.nfastbins == 0);
    EXPECT(l.mp_tcache_max_bytes == 120 && l.mp_tcache_count == 128 && l.tc_bins == 76 &&
           l.tc_slots && l.mmap_tail);
    EXPECT(hg_layout_from_table(243, &l) == 0 && l.par_size == 144);
    EXPECT(hg_layout_from_table(HG_GLIBC_NEWEST + 1, &l) == HG_EUNSUPPORTED);
    EXPECT(strstr(hg_error_message(), "2.45") && strstr(hg_error_message(), "2.26 to 2.44"));
    EXPECT(hg_layout_shared(244, 245) == 0);
    report("layout table: 2.44 read, 2.45 refused by name");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (hg_layout_from_table(236, &L) != 0) {
        printf("no 2.36 layout\n");
        return 1;
    }
    img_a = calloc(1, A_LEN);
    img_b = calloc(1, B_LEN);
    img_c = calloc(1, C_LEN);
    if (!img_a || !img_b || !img_c)
        return 1;
    test_clean(0, "clean image: main arena only");
    test_clean(IMG_MMAP, "clean image: main arena, mmapped chunks");
    test_clean(IMG_FULL, "clean image: two arenas, three threads, mmapped chunks");
    split_maps = 1;
    test_clean(IMG_FULL, "clean image, every heap and an mmapped chunk split into two "
                         "mappings (heaps grown after fork), unreadable pages before them");
    test_heap_past_split();
    split_maps = 0;
    test_corruptions();
    test_large_bin();
    test_gone();
    test_unreadable_state();
    test_fuzz();
    test_table_edges();
    free(img_a);
    free(img_b);
    free(img_c);
    printf("test_walker: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
