/*
 * corrupt_target -- a process that corrupts its own glibc heap in one
 * known way, then waits, for heapgrab to look at (tests/heap/
 * test_corrupt.py).  heapgrab never writes to a target; this target does
 * the damage itself.
 *
 *   corrupt_target KIND
 *
 * It first builds a heap with every kind of chunk: blocks in use in the
 * main arena and in a thread's arena, a full tcache bin and more of that
 * size in a fastbin, chunks in the unsorted bin, a small bin and (two sizes
 * of one bin, so the nextsize list is used) a large bin, and an mmapped
 * chunk.  Then it writes where KIND says, prints one JSON line
 *   {"pid": P, "kind": "...", "at": A, "span": N, "owner": O, "value": V}
 * (the damage lies in [at, at + span); owner is the start of the chunk or
 * structure it is in, value the pointer written, if any) and blocks in read(2) until stdin
 * closes.  After the damage it never calls malloc or free again: glibc
 * itself would abort on what it finds.
 *
 * The offsets of glibc's own structures are those of x86_64 glibc 2.32 to
 * 2.41 (safe-linked lists, 64 tcache bins with uint16 counts); the test
 * runs it on the build machine's glibc, and 'list' prints the kinds.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEAP_MAX (64ul << 20)
#define PREV_INUSE 1ul
#define IS_MMAPPED 2ul
#define NON_MAIN 4ul

/* struct malloc_state, 2.27 and later: mutex, flags, have_fastchunks,
 * fastbinsY[10], top, last_remainder, bins[254], binmap[4], next,
 * next_free, attached_threads, system_mem, max_system_mem */
enum {
    ST_FASTBINS = 16,
    ST_TOP = 96,
    ST_BINS = 112,
    ST_NEXT = 112 + 254 * 8 + 16,
    ST_SYSTEM_MEM = ST_NEXT + 24,
};
/* heap_info: ar_ptr, prev, size, mprotect_size, pagesize, pad */
enum { HI_AR = 0, HI_PREV = 8, HI_SIZE = 16 };

static uint64_t *hdr(void *mem) { return (uint64_t *)mem - 2; } /* prev_size, size */
static uint64_t csize(void *mem) { return hdr(mem)[1] & ~7ul; }
static uint64_t protect(void *pos, uint64_t v) { return ((uint64_t)pos >> 12) ^ v; }
static uint64_t *word(uint64_t addr) { return (uint64_t *)addr; }

static void *inuse[64];        /* main arena, kept */
static void *tc[7], *fast[3];  /* 72-byte blocks: tcache bin full, then fastbin */
static void *small_free[2];    /* 500-byte blocks, sorted into a small bin */
static void *unsorted_free;    /* 700-byte block left in the unsorted bin */
static void *large_a, *large_b, *large_c; /* large bin: sizes 0x7d0, 0x7e0, 0x7e0 */
static void *mm;               /* mmapped */
static void *thread_block, *thread_block2;
static uint64_t tcache_struct; /* main thread's tcache_perthread_struct */

static void *thread_main(void *arg)
{
    (void)arg;
    thread_block = malloc(200);
    thread_block2 = malloc(300);
    return NULL;
}

/* Blocks kept between free ones so they cannot merge: of a size nothing
 * else frees, so malloc takes them from the top, right after the block
 * before. */
#define GUARD 408
static void *volatile guard[8]; /* kept (the compiler drops unused mallocs) */
static void *volatile sorter;

static void build(void)
{
    void *small_tc[7], *tc700[7];
    int g = 0;
    /* the thread first: starting and joining it allocates and frees in the
     * main arena, which must be done before the lists are laid out */
    pthread_t th;
    pthread_create(&th, NULL, thread_main, NULL);
    pthread_join(th, NULL);
    for (int i = 0; i < 64; i++)
        inuse[i] = malloc(24 + 16 * (size_t)i);
    for (int i = 0; i < 7; i++)
        tc[i] = malloc(72);
    for (int i = 0; i < 3; i++)
        fast[i] = malloc(72);
    guard[g++] = malloc(GUARD);
    for (int i = 0; i < 7; i++)
        small_tc[i] = malloc(500);
    for (int i = 0; i < 2; i++) {
        small_free[i] = malloc(500);
        guard[g++] = malloc(GUARD);
    }
    large_a = malloc(1990);
    guard[g++] = malloc(GUARD);
    large_b = malloc(2000);
    guard[g++] = malloc(GUARD);
    large_c = malloc(2000);
    guard[g++] = malloc(GUARD);
    unsorted_free = malloc(700);
    guard[g++] = malloc(GUARD);
    for (int i = 0; i < 7; i++)
        tc700[i] = malloc(700);
    mm = malloc(1 << 20);
    /* each size's tcache bin full first, so the rest go to the bins */
    for (int i = 0; i < 7; i++) {
        free(tc[i]);
        free(small_tc[i]);
        free(tc700[i]);
    }
    for (int i = 0; i < 2; i++)
        free(small_free[i]);
    free(large_a);
    free(large_b);
    free(large_c);
    /* a request no free chunk fits sorts the unsorted ones into their
     * small and large bins (before any fastbin is used: a large request
     * would consolidate them) */
    sorter = malloc(3000);
    for (int i = 0; i < 3; i++)
        free(fast[i]);
    free(unsorted_free);
    /* the main thread's tcache_perthread_struct: what its 'tcache' TLS
     * variable, a word below the thread pointer, points at -- a chunk of
     * 0x290 bytes near the main heap's start */
    uint64_t tp = (uint64_t)__builtin_thread_pointer();
    for (uint64_t a = tp - 8; a > tp - 4096 && !tcache_struct; a -= 8) {
        uint64_t v = *word(a);
        if (!(v & 15) && v < (uint64_t)inuse[0] && (uint64_t)inuse[0] - v < (1u << 20) &&
            csize((void *)v) == 0x290)
            tcache_struct = v;
    }
}

/* main_arena, from a chunk in the unsorted bin: its bk is bin_at(1), the
 * bins array less 16 bytes. */
static uint64_t main_arena(void) { return ((uint64_t *)unsorted_free)[1] - ST_BINS + 16; }
static uint64_t thread_heap(void) { return (uint64_t)thread_block & ~(HEAP_MAX - 1); }
static uint64_t thread_arena(void) { return *(uint64_t *)(thread_heap() + HI_AR); }

/* the count of the 72-byte blocks' tcache bin (chunk 0x50): index 3 */
static uint64_t tcache_count_at(void) { return tcache_struct + 2 * 3; }

/* The main thread's 'tcache' TLS variable: the one word below the thread
 * pointer that holds the tcache struct's address. */
static uint64_t tcache_tls(void)
{
    uint64_t tp = (uint64_t)__builtin_thread_pointer();
    for (uint64_t a = tp - 8; a > tp - 4096; a -= 8)
        if (*word(a) == tcache_struct)
            return a;
    return 0;
}

struct kind {
    const char *name;
    uint64_t (*apply)(uint64_t *span); /* returns where it wrote */
};

/* What the damage belongs to (the chunk, arena, heap_info or tcache
 * struct written into) and the pointer written, if one was: heapgrab may
 * name either. */
static uint64_t owner, value;
#define OWNER(x) (owner = (uint64_t)(x))
#define VALUE(x) (value = (uint64_t)(x))

#define KIND(n) static uint64_t n(uint64_t *span)
#define SET(addr, v) (*word(addr) = (uint64_t)(v))

/* A chunk's size word, or a list pointer stored in a chunk (the pointer
 * as glibc would store it: safe-linked on the tcache and fastbins). */
static uint64_t set_size(void *mem, uint64_t v, uint64_t *span)
{
    OWNER(hdr(mem));
    *span = 16;
    hdr(mem)[1] = v;
    return (uint64_t)hdr(mem);
}
static uint64_t set_link(void *mem, long off, uint64_t v, int safe, uint64_t *span)
{
    OWNER(hdr(mem));
    VALUE(v);
    *span = 16 + (uint64_t)off + 8;
    SET((uint64_t)mem + (uint64_t)off, safe ? protect((char *)mem + off, v) : v);
    return (uint64_t)hdr(mem);
}
/* A word of one of glibc's own structures. */
static uint64_t set_word(uint64_t base, long off, uint64_t v, int pointer, uint64_t *span)
{
    OWNER(base);
    if (pointer)
        VALUE(v);
    *span = (uint64_t)off + 8;
    SET(base + (uint64_t)off, v);
    return base;
}

KIND(size_zero) { return set_size(inuse[10], 0, span); }
KIND(size_tiny) { return set_size(inuse[10], 0x11, span); }
KIND(size_unaligned) { return set_size(inuse[10], hdr(inuse[10])[1] + 8, span); }
KIND(size_huge) { return set_size(inuse[10], 0x7ffffffff0ul | PREV_INUSE, span); }
KIND(size_mmapped_bit) { return set_size(inuse[10], hdr(inuse[10])[1] | IS_MMAPPED, span); }
KIND(size_main_nonmain) { return set_size(inuse[10], hdr(inuse[10])[1] | NON_MAIN, span); }
KIND(size_thread_main) { return set_size(thread_block, hdr(thread_block)[1] & ~NON_MAIN, span); }
KIND(size_thread_huge) { return set_size(thread_block, 0x7fff0 | PREV_INUSE | NON_MAIN, span); }
/* in use, but its neighbour says it is free: on no bin */
KIND(prev_inuse_clear)
{
    set_size(inuse[21], hdr(inuse[21])[1] & ~PREV_INUSE, span);
    OWNER(hdr(inuse[20]));
    *span = csize(inuse[20]) + 16;
    return (uint64_t)hdr(inuse[20]);
}
KIND(tcache_next_garbage) { return set_link(tc[6], 0, 0x4141414141414140ul, 1, span); }
KIND(tcache_next_stack) { static uint64_t x[4]; return set_link(tc[6], 0, (uint64_t)(x + 2) & ~15ul, 1, span); }
KIND(tcache_next_self) { return set_link(tc[6], 0, (uint64_t)tc[6], 1, span); }
KIND(tcache_next_misaligned) { return set_link(tc[6], 0, (uint64_t)tc[5] + 8, 1, span); }
KIND(tcache_next_inuse) { return set_link(tc[6], 0, (uint64_t)inuse[3], 1, span); }
KIND(tcache_next_fastbin) { return set_link(tc[6], 0, (uint64_t)fast[1], 1, span); }
KIND(tcache_count_high) { OWNER(tcache_struct); *span = 8; *(uint16_t *)tcache_count_at() += 3; return tcache_struct; }
KIND(tcache_count_low) { OWNER(tcache_struct); *span = 8; *(uint16_t *)tcache_count_at() = 2; return tcache_struct; }
KIND(tcache_entry_garbage) { return set_word(tcache_struct, 128 + 8 * 3, 0xdeadbeef0ul, 1, span); }
KIND(tcache_struct_size) { return set_size((void *)tcache_struct, 0x51, span); }
KIND(tcache_tls_garbage) { uint64_t a = tcache_tls(); return set_word(a, 0, 0x5151515151515150ul, 1, span); }
KIND(fastbin_fd_garbage) { return set_link(fast[2], 0, 0x4242424242424240ul, 1, span); }
KIND(fastbin_fd_self) { return set_link(fast[2], 0, (uint64_t)hdr(fast[2]), 1, span); }
KIND(fastbin_size_wrong) { return set_size(fast[1], 0x31, span); }
KIND(fastbin_head_garbage) { return set_word(main_arena(), ST_FASTBINS + 8 * 3, 0x4343434343434340ul, 1, span); }
KIND(unsorted_fd_garbage) { return set_link(unsorted_free, 0, 0x4444444444444440ul, 0, span); }
KIND(unsorted_bk_garbage) { return set_link(unsorted_free, 8, 0x4545454545454540ul, 0, span); }
KIND(unsorted_fd_inuse) { return set_link(unsorted_free, 0, (uint64_t)hdr(inuse[30]), 0, span); }
KIND(smallbin_fd_self) { return set_link(small_free[0], 0, (uint64_t)hdr(small_free[0]), 0, span); }
KIND(smallbin_size_wrong) { return set_size(small_free[0], 0x1f1, span); }
/* the large bin holds 0x7d0 then two of 0x7e0: every chunk gets the
 * garbage, so whichever heads a size run carries it */
KIND(largebin_fd_nextsize)
{
    set_link(large_a, 16, 0x4646464646464640ul, 0, span);
    set_link(large_c, 16, 0x4646464646464640ul, 0, span);
    return set_link(large_b, 16, 0x4646464646464640ul, 0, span);
}
KIND(largebin_bk_nextsize)
{
    set_link(large_a, 24, 0x4747474747474740ul, 0, span);
    set_link(large_c, 24, 0x4747474747474740ul, 0, span);
    return set_link(large_b, 24, 0x4747474747474740ul, 0, span);
}
KIND(free_size_mismatch) { return set_size(large_a, hdr(large_a)[1] + 0x40, span); }
KIND(top_size_garbage) { void *top = (void *)(*word(main_arena() + ST_TOP) + 16); return set_size(top, 0x21, span); }
KIND(top_pointer_garbage) { return set_word(main_arena(), ST_TOP, (uint64_t)hdr(inuse[40]), 1, span); }
KIND(arena_next_garbage) { return set_word(main_arena(), ST_NEXT, 0x4848484848484840ul, 1, span); }
KIND(arena_next_loop) { return set_word(thread_arena(), ST_NEXT, thread_arena(), 1, span); }
KIND(system_mem_garbage) { return set_word(main_arena(), ST_SYSTEM_MEM, *word(main_arena() + ST_SYSTEM_MEM) * 1000, 0, span); }
KIND(thread_system_mem_zero) { return set_word(thread_arena(), ST_SYSTEM_MEM, 0, 0, span); }
KIND(heap_info_ar_ptr) { return set_word(thread_heap(), HI_AR, 0x4949494949494940ul, 1, span); }
KIND(heap_info_size) { return set_word(thread_heap(), HI_SIZE, 0, 0, span); }
KIND(heap_info_prev_loop) { return set_word(thread_heap(), HI_PREV, thread_heap(), 1, span); }
KIND(mmapped_size_garbage) { return set_size(mm, 0x123456789ul | IS_MMAPPED, span); }
KIND(mmapped_prev_size_garbage) { OWNER(hdr(mm)); *span = 16; hdr(mm)[0] = 0x1008; return (uint64_t)hdr(mm); }
KIND(mmapped_flag_clear) { return set_size(mm, hdr(mm)[1] & ~IS_MMAPPED, span); }

/* the control: no damage */
KIND(none) { *span = 0; return 0; }

#define K(n) {#n, n}
static const struct kind kinds[] = {
    K(none),
    K(size_zero), K(size_tiny), K(size_unaligned), K(size_huge), K(size_mmapped_bit),
    K(size_main_nonmain), K(size_thread_main), K(size_thread_huge), K(prev_inuse_clear),
    K(tcache_next_garbage), K(tcache_next_stack), K(tcache_next_self),
    K(tcache_next_misaligned), K(tcache_next_inuse), K(tcache_next_fastbin),
    K(tcache_count_high), K(tcache_count_low), K(tcache_entry_garbage), K(tcache_struct_size),
    K(tcache_tls_garbage), K(fastbin_fd_garbage), K(fastbin_fd_self), K(fastbin_size_wrong),
    K(fastbin_head_garbage), K(unsorted_fd_garbage), K(unsorted_bk_garbage),
    K(unsorted_fd_inuse), K(smallbin_fd_self), K(smallbin_size_wrong),
    K(largebin_fd_nextsize), K(largebin_bk_nextsize), K(free_size_mismatch),
    K(top_size_garbage), K(top_pointer_garbage), K(arena_next_garbage), K(arena_next_loop),
    K(system_mem_garbage), K(thread_system_mem_zero), K(heap_info_ar_ptr), K(heap_info_size),
    K(heap_info_prev_loop), K(mmapped_size_garbage), K(mmapped_prev_size_garbage),
    K(mmapped_flag_clear),
};

int main(int argc, char **argv)
{
    static char line[512];
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            printf("%s\n", kinds[i].name);
        return 0;
    }
    const struct kind *k = NULL;
    for (size_t i = 0; argc == 2 && i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(argv[1], kinds[i].name) == 0)
            k = &kinds[i];
    if (!k) {
        fprintf(stderr, "usage: corrupt_target KIND (corrupt_target list)\n");
        return 2;
    }
    build();
    if (!tcache_struct || !tcache_tls()) {
        fprintf(stderr, "corrupt_target: this glibc's heap is not laid out as expected\n");
        return 3;
    }
    uint64_t span = 0;
    uint64_t at = k->apply(&span);
    /* no stdio from here on: its buffer would be a malloc */
    int n = snprintf(line, sizeof line,
                     "{\"pid\": %d, \"kind\": \"%s\", \"at\": %llu, \"span\": %llu, "
                     "\"owner\": %llu, \"value\": %llu}\n",
                     (int)getpid(), k->name, (unsigned long long)at, (unsigned long long)span,
                     (unsigned long long)owner, (unsigned long long)value);
    if (write(1, line, (size_t)n) != n)
        return 1;
    char c;
    while (read(0, &c, 1) > 0)
        ;
    _exit(0);
}
