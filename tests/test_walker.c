/*
 * test_walker -- the walker on synthetic glibc 2.36 heap images.
 *
 * A fake target serves two memory images: one holding main_arena, mp_, a
 * thread's TLS slot and the main heap; one holding a thread arena's heap at
 * a 64 MiB-aligned address.  The clean image has a chunk in every state;
 * the expected figures are computed here from the layout, the way glibc's
 * int_mallinfo would count them.  Then each corruption case breaks one
 * thing and checks that the walker names it, with its address, and goes
 * on; the fuzz loop flips random bytes and only asks that it never crash
 * or hang.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach/target.h"
#include "lib/snapshot.h"
#include "walker/layout.h"
#include "walker/locate.h"
#include "walker/walk.h"

/* ------------------------------------------------------------ the image */

#define A_BASE 0x10000000ull   /* arena, mp_, TLS, main heap */
#define A_LEN 0x400000ull
#define B_BASE 0x24000000ull   /* thread heap: 64 MiB aligned */
#define B_LEN 0x100000ull
#define MAIN_ARENA (A_BASE + 0x1000)
#define MP (A_BASE + 0x2000)
#define TLS (A_BASE + 0x3000)
#define TP (TLS + 0x100)       /* fs_base; libc's block at TP - 0x100 */
#define TCACHE_VAR 0x48
#define HEAP (A_BASE + 0x100000)
#define SYSTEM_MEM 0x21000ull
#define THREAD_HEAP_SIZE 0x10000ull

static unsigned char *img_a, *img_b;
static hg_layout L;

static unsigned char *at(uint64_t addr)
{
    if (addr >= A_BASE && addr < A_BASE + A_LEN)
        return img_a + (addr - A_BASE);
    if (addr >= B_BASE && addr < B_BASE + B_LEN)
        return img_b + (addr - B_BASE);
    fprintf(stderr, "test bug: address 0x%" PRIx64 " outside the images\n", addr);
    abort();
}
static void put64(uint64_t addr, uint64_t v) { memcpy(at(addr), &v, 8); }
static void put32(uint64_t addr, uint32_t v) { memcpy(at(addr), &v, 4); }
static void head(uint64_t chunk, uint64_t size_and_flags) { put64(chunk + 8, size_and_flags); }
static uint64_t protect(uint64_t pos, uint64_t ptr) { return (pos >> 12) ^ ptr; }
static uint64_t bin_at(uint64_t av, unsigned i) { return av + (uint64_t)L.st_bins + (i - 1) * 16 - 16; }

/* Chunks of the main heap, in address order. */
enum { TC, A1, F1, A2, T1, A3, B1, A4, F2, T2, A5, B2, A6, TOPC, NCH };
static const uint64_t sizes[NCH] = {0x290, 0x30, 0x30, 0x40, 0x40, 0x100, 0x200,
                                    0x50,  0x30, 0x40, 0x20, 0x300, 0x30, 0};
static uint64_t ch[NCH];
static uint64_t thread_arena, thread_chunk, thread_top;

static void empty_bins(uint64_t av)
{
    for (unsigned i = 1; i < 128; i++) {
        put64(av + (uint64_t)L.st_bins + (i - 1) * 16, bin_at(av, i));
        put64(av + (uint64_t)L.st_bins + (i - 1) * 16 + 8, bin_at(av, i));
    }
}

static void link_bin(uint64_t av, unsigned i, uint64_t chunk)
{
    put64(av + (uint64_t)L.st_bins + (i - 1) * 16, chunk);
    put64(av + (uint64_t)L.st_bins + (i - 1) * 16 + 8, chunk);
    put64(chunk + 16, bin_at(av, i));
    put64(chunk + 24, bin_at(av, i));
}

static void build_clean(int with_thread_arena)
{
    memset(img_a, 0, A_LEN);
    memset(img_b, 0, B_LEN);
    uint64_t p = HEAP;
    for (int i = 0; i < NCH; i++) {
        ch[i] = p;
        p += sizes[i];
    }
    uint64_t top_size = HEAP + SYSTEM_MEM - ch[TOPC];
    for (int i = 0; i < TOPC; i++) {
        int prev_free = i > 0 && (i - 1 == B1 || i - 1 == B2);
        head(ch[i], sizes[i] | (prev_free ? 0 : 1));
        if (prev_free)
            put64(ch[i], sizes[i - 1]); /* prev_size of a free neighbour */
        if (i != TC) /* user data; the tcache struct's own bytes are its counts */
            memset(at(ch[i] + 16), 0x77, 16);
    }
    head(ch[TOPC], top_size | 1);

    /* main_arena */
    uint64_t av = MAIN_ARENA;
    empty_bins(av);
    put64(av + (uint64_t)L.st_top, ch[TOPC]);
    put64(av + (uint64_t)L.st_system_mem, SYSTEM_MEM);
    put64(av + (uint64_t)L.st_next, av);
    /* fastbin 1 (chunk 0x30): F2 -> F1 */
    put64(av + (uint64_t)L.st_fastbins + 8 * 1, ch[F2]);
    put64(ch[F2] + 16, protect(ch[F2] + 16, ch[F1]));
    put64(ch[F1] + 16, protect(ch[F1] + 16, 0));
    /* unsorted: B1; small bin 48 (0x300): B2 */
    link_bin(av, 1, ch[B1]);
    link_bin(av, 0x300 >> 4, ch[B2]);

    /* tcache: bin 2 (chunk 0x40): T2 -> T1 */
    uint64_t tc = ch[TC] + 16;
    put32(tc + (uint64_t)L.tc_counts, 0);
    memcpy(at(tc + (uint64_t)L.tc_counts + 2 * 2), &(uint16_t){2}, 2);
    put64(tc + (uint64_t)L.tc_entries + 8 * 2, ch[T2] + 16);
    put64(ch[T2] + 16, protect(ch[T2] + 16, ch[T1] + 16));
    put64(ch[T1] + 16, protect(ch[T1] + 16, 0));
    put64(TLS + TCACHE_VAR, tc);

    /* mp_ */
    put64(MP + (uint64_t)L.mp_mmap_threshold, 128 * 1024);
    put64(MP + (uint64_t)L.mp_sbrk_base, HEAP);
    put64(MP + (uint64_t)L.mp_tcache_bins, 64);
    put64(MP + (uint64_t)L.mp_tcache_max_bytes, 1032);
    put64(MP + (uint64_t)L.mp_tcache_count, 7);

    if (!with_thread_arena)
        return;
    /* a thread arena: heap_info, malloc_state, one chunk in use, top */
    uint64_t h = B_BASE;
    thread_arena = h + L.heap_info_size;
    put64(h + (uint64_t)L.hi_ar_ptr, thread_arena);
    put64(h + (uint64_t)L.hi_prev, 0);
    put64(h + (uint64_t)L.hi_size, THREAD_HEAP_SIZE);
    empty_bins(thread_arena);
    thread_chunk = (thread_arena + L.state_size + 15) & ~15ull;
    if ((thread_chunk + 16) & 15)
        thread_chunk += 8;
    thread_top = thread_chunk + 0x40;
    head(thread_chunk, 0x40 | 1 | 4);
    head(thread_top, (h + THREAD_HEAP_SIZE - thread_top) | 1);
    put64(thread_arena + (uint64_t)L.st_top, thread_top);
    put64(thread_arena + (uint64_t)L.st_system_mem, THREAD_HEAP_SIZE);
    put64(thread_arena + (uint64_t)L.st_next, av);
    put64(av + (uint64_t)L.st_next, thread_arena);
}

/* ------------------------------------------------------- the fake target */

static long fake_read(hg_target *t, uint64_t addr, void *buf, size_t len)
{
    (void)t;
    const struct {
        uint64_t base, len;
        unsigned char *img;
    } r[2] = {{A_BASE, A_LEN, img_a}, {B_BASE, B_LEN, img_b}};
    for (int i = 0; i < 2; i++)
        if (addr >= r[i].base && addr < r[i].base + r[i].len) {
            uint64_t n = r[i].base + r[i].len - addr;
            if (n > len)
                n = len;
            memcpy(buf, r[i].img + (addr - r[i].base), (size_t)n);
            return (long)n;
        }
    return 0;
}

static int fake_stop(hg_target *t)
{
    t->threads = calloc(1, sizeof *t->threads);
    if (!t->threads)
        return -1;
    t->threads[0].tid = 4242;
    t->threads[0].fs_base = TP;
    t->nthreads = 1;
    return 0;
}

static void fake_resume(hg_target *t) { t->stopped_ns = 1000; }

static const struct hg_target_ops fake_ops = {
    .read = fake_read, .stop = fake_stop, .resume = fake_resume};

static hg_snapshot *walk(int *rc_out)
{
    hg_target *t = hg_target_alloc(&fake_ops);
    char maps[256];
    snprintf(maps, sizeof maps,
             "%llx-%llx rw-p 00000000 00:00 0 \n%llx-%llx rw-p 00000000 00:00 0 \n",
             A_BASE, A_BASE + A_LEN, B_BASE, B_BASE + B_LEN);
    hg_parse_maps(t, maps);
    hg_located loc;
    memset(&loc, 0, sizeof loc);
    loc.how = "symbols";
    snprintf(loc.version, sizeof loc.version, "2.36");
    loc.L = L;
    loc.main_arena = MAIN_ARENA;
    loc.mp = MP;
    loc.have_tls_offset = 1;
    loc.libc_tls_offset = TP - TLS;
    loc.have_tcache_var = 1;
    loc.tcache_var = TCACHE_VAR;
    hg_snapshot_options opt = {0};
    opt.max_problems = 64;
    hg_snapshot *s = NULL;
    int rc = hg_walk(t, &loc, &opt, &s);
    hg_target_close(t);
    if (rc_out)
        *rc_out = rc;
    return s;
}

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

/* A problem at exactly this address whose text contains word. */
static int has_problem(const hg_snapshot *s, uint64_t addr, const char *word)
{
    for (size_t i = 0; i < hg_snapshot_problem_count(s); i++) {
        const hg_problem *p = hg_snapshot_problem(s, i);
        if (p->address == addr && strstr(p->what, word))
            return 1;
    }
    printf("    no problem at 0x%" PRIx64 " mentioning \"%s\"; problems:\n", addr, word);
    for (size_t i = 0; i < hg_snapshot_problem_count(s); i++)
        printf("      0x%" PRIx64 ": %s\n", hg_snapshot_problem(s, i)->address,
               hg_snapshot_problem(s, i)->what);
    return 0;
}

static void test_clean(int with_thread_arena)
{
    build_clean(with_thread_arena);
    int rc;
    hg_snapshot *s = walk(&rc);
    EXPECT_EQ(rc, 0);
    if (!s) {
        report(with_thread_arena ? "clean image, two arenas" : "clean image, main arena");
        return;
    }
    uint64_t top = HEAP + SYSTEM_MEM - ch[TOPC];
    uint64_t inuse_usable = 0, inuse_n = 0;
    for (int i = A1; i < TOPC; i++)
        if (i == A1 || i == A2 || i == A3 || i == A4 || i == A5 || i == A6)
            inuse_usable += sizes[i] - 8, inuse_n++;
    uint64_t bins = sizes[B1] + sizes[B2], fast = sizes[F1] + sizes[F2];
    const hg_totals *t = hg_snapshot_totals(s);
    const hg_mallinfo2 *mi = hg_snapshot_mallinfo2(s);
    uint64_t arena = SYSTEM_MEM, ord = 1 + 2, fordblks = top + fast + bins;
    uint64_t thread_top_size = B_BASE + THREAD_HEAP_SIZE - thread_top;
    if (with_thread_arena) {
        inuse_n += 1;
        inuse_usable += 0x40 - 8;
        arena += THREAD_HEAP_SIZE;
        ord += 1;
        fordblks += thread_top_size;
    }
    EXPECT_EQ(hg_snapshot_arena_count(s), with_thread_arena ? 2 : 1);
    EXPECT_EQ(t->inuse_objects, inuse_n);
    EXPECT_EQ(t->inuse_bytes, inuse_usable);
    EXPECT_EQ(t->tcache_objects, 2);
    EXPECT_EQ(t->tcache_bytes, sizes[T1] + sizes[T2]);
    EXPECT_EQ(t->fastbin_objects, 2);
    EXPECT_EQ(t->fastbin_bytes, fast);
    EXPECT_EQ(t->free_objects, 2);
    EXPECT_EQ(t->free_bytes, bins);
    EXPECT_EQ(t->top_bytes, top + (with_thread_arena ? thread_top_size : 0));
    EXPECT_EQ(t->overhead_bytes, sizes[TC] + (with_thread_arena ? thread_chunk - B_BASE : 0));
    EXPECT_EQ(t->sys_bytes, arena);
    /* glibc's int_mallinfo */
    EXPECT_EQ(mi->arena, arena);
    EXPECT_EQ(mi->ordblks, ord);
    EXPECT_EQ(mi->smblks, 2);
    EXPECT_EQ(mi->hblks, 0);
    EXPECT_EQ(mi->hblkhd, 0);
    EXPECT_EQ(mi->usmblks, 0);
    EXPECT_EQ(mi->fsmblks, fast);
    EXPECT_EQ(mi->fordblks, fordblks);
    EXPECT_EQ(mi->uordblks, arena - fordblks);
    EXPECT_EQ(mi->keepcost, top);
    EXPECT_EQ(hg_snapshot_thread_count(s), 1);
    if (hg_snapshot_thread_count(s) == 1) {
        const hg_thread_info *ti = hg_snapshot_thread(s, 0);
        EXPECT_EQ(ti->tid, 4242);
        EXPECT_EQ(ti->tcache, ch[TC] + 16);
        EXPECT_EQ(ti->tcache_objects, 2);
        EXPECT_EQ(ti->arena, 0);
    }
    EXPECT_EQ(hg_snapshot_problem_total(s), 0);
    for (size_t i = 0; i < hg_snapshot_problem_count(s); i++)
        printf("    unexpected problem: %s\n", hg_snapshot_problem(s, i)->what);
    hg_snapshot_free(s);
    report(with_thread_arena ? "clean image, two arenas" : "clean image, main arena");
}

/* Build the clean image, break it, walk, and check the walk went through
 * and named the fault at its address. */
typedef void (*breaker)(void);

static hg_snapshot *broken(breaker brk, uint64_t addr, const char *word)
{
    build_clean(1);
    brk();
    int rc;
    hg_snapshot *s = walk(&rc);
    EXPECT_EQ(rc, 0);
    EXPECT(s != NULL);
    if (s)
        EXPECT(has_problem(s, addr, word));
    return s;
}

static void brk_size(void) { head(ch[A3], 0x123457); }
static void brk_fast_cycle(void) { put64(ch[F1] + 16, protect(ch[F1] + 16, ch[F2])); }
static void brk_fast_outside(void) { put64(MAIN_ARENA + (uint64_t)L.st_fastbins + 8, A_BASE + 0x300000); }
static void brk_bin_fd(void) { put64(ch[B2] + 16, 0xdeadbeef0ull); }
static void brk_tcache_count(void)
{
    memcpy(at(ch[TC] + 16 + (uint64_t)L.tc_counts + 2 * 2), &(uint16_t){5}, 2);
}
static void brk_tcache_cycle(void) { put64(ch[T1] + 16, protect(ch[T1] + 16, ch[T2] + 16)); }
static void brk_ring(void) { put64(thread_arena + (uint64_t)L.st_next, thread_arena); }
static void brk_top(void) { put64(MAIN_ARENA + (uint64_t)L.st_top, A_BASE + 0x300000); }
static void brk_heap_info(void) { put64(B_BASE + (uint64_t)L.hi_ar_ptr, 0x1230ull); }
static void lock_thread_arena(void) { put32(thread_arena + (uint64_t)L.st_mutex, 1); }

static void test_corruptions(void)
{
    hg_snapshot *s;

    s = broken(brk_size, ch[A3], "size");
    /* resynchronised: the chunks after the bad one are still found */
    if (s) {
        EXPECT_EQ(hg_snapshot_totals(s)->free_objects, 2);
        EXPECT_EQ(hg_snapshot_totals(s)->fastbin_objects, 2);
        EXPECT_EQ(hg_snapshot_totals(s)->tcache_objects, 2);
    }
    hg_snapshot_free(s);
    report("garbage size mid-heap: reported, walk resynchronises");

    s = broken(brk_fast_cycle, ch[F2], "cycle");
    hg_snapshot_free(s);
    report("fastbin cycle");

    s = broken(brk_fast_outside, A_BASE + 0x300000, "fastbin");
    hg_snapshot_free(s);
    report("fastbin entry outside the heap");

    s = broken(brk_bin_fd, 0xdeadbeef0ull, "bin");
    hg_snapshot_free(s);
    report("bin fd into garbage");

    s = broken(brk_tcache_count, ch[TC] + 16, "count 5 but 2");
    hg_snapshot_free(s);
    report("tcache count disagrees with its list");

    s = broken(brk_tcache_cycle, ch[T2] + 16, "repeats");
    hg_snapshot_free(s);
    report("tcache cycle");

    s = broken(brk_ring, thread_arena, "ring");
    hg_snapshot_free(s);
    report("arena ring does not return to main_arena");

    s = broken(brk_top, A_BASE + 0x300000, "top");
    hg_snapshot_free(s);
    report("top pointer outside the heap");

    s = broken(brk_heap_info, B_BASE, "heap_info");
    hg_snapshot_free(s);
    report("heap_info with a wrong ar_ptr");

    s = broken(lock_thread_arena, thread_arena, "lock was held");
    if (s && hg_snapshot_arena_count(s) == 2) {
        EXPECT_EQ(hg_snapshot_arena(s, 1)->mutex_held, 1);
        EXPECT_EQ(hg_snapshot_arena(s, 0)->mutex_held, 0);
        EXPECT_EQ(hg_snapshot_totals(s)->inuse_objects, 7); /* figures still taken */
    }
    hg_snapshot_free(s);
    report("an arena locked at the stop is said to be");
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL fuzz: the walker hung\n";
    if (write(1, msg, sizeof msg - 1) < 0)
        _exit(3);
    _exit(2);
}

static void test_fuzz(void)
{
    unsigned seed = 12345, iterations = 2000, walked = 0, with_problems = 0;
    signal(SIGALRM, on_alarm);
    alarm(120);
    for (unsigned it = 0; it < iterations; it++) {
        build_clean(1);
        unsigned flips = 1 + it % 8;
        for (unsigned k = 0; k < flips; k++) {
            seed = seed * 1103515245u + 12345u;
            uint64_t where;
            switch ((seed >> 8) % 4) {
            case 0: where = HEAP + (seed >> 4) % (ch[TOPC] - HEAP + 32); break;
            case 1: where = MAIN_ARENA + (seed >> 4) % L.state_size; break;
            case 2: where = B_BASE + (seed >> 4) % 0x1000; break;
            default: where = ch[TC] + (seed >> 4) % sizes[TC]; break;
            }
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 9) & 1)
                *at(where) ^= (unsigned char)(1u << ((seed >> 12) % 8));
            else
                put64(where & ~7ull, ((uint64_t)seed << 32) ^ seed);
        }
        int rc;
        hg_snapshot *s = walk(&rc);
        EXPECT(rc <= 0);
        if (s) {
            walked++;
            with_problems += hg_snapshot_problem_total(s) > 0;
            hg_snapshot_free(s);
        }
    }
    alarm(0);
    printf("    fuzz: %u images, %u walked to a snapshot, %u with problems found\n", iterations,
           walked, with_problems);
    EXPECT(with_problems > iterations / 2);
    report("fuzz: random corruption never crashes or hangs");
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
    test_clean(0);
    test_clean(1);
    test_corruptions();
    test_fuzz();
    free(img_a);
    free(img_b);
    printf("test_walker: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
