/*
 * alloc_target.c -- the allocation sampler's ground truth: allocates known
 * amounts from known functions and says what it did.
 *
 * Commands, one a line on stdin; after each, one line of JSON on stdout:
 *   work       the exact workload: small_allocs, medium_callocs,
 *              aligned_allocs, realloc_chain (a few MiB in all)
 *   big        the sampling workload: big_small_allocs and
 *              big_large_allocs, 256 MiB and more each
 *   many       many_live: 100,000 small objects kept (more sampled objects
 *              live at rate 1 than the default rate's live set holds)
 *   quit       exit
 * The JSON holds, per function, the objects and usable bytes
 * (malloc_usable_size) allocated and still in use, over every command so
 * far, and the objects and bytes allocated and freed by that command alone
 * ("delta"): nothing else allocates between two commands, so an exact
 * counter's change over a command is that delta.  The first line is
 * {"pid": N} once the target is ready.
 *
 * Each function calls the allocator itself (noinline, work after the
 * call), so it is the leaf of its sampled stacks.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { SMALL, MEDIUM, ALIGNED, REALLOC, BIG_SMALL, BIG_LARGE, MANY, NFUNCS };
static const char *const names[NFUNCS] = {"small_allocs", "medium_callocs", "aligned_allocs",
                                          "realloc_chain", "big_small_allocs",
                                          "big_large_allocs", "many_live"};
struct fig {
    uint64_t alloc_objects, alloc_bytes, inuse_objects, inuse_bytes;
};
static struct fig figs[NFUNCS];
static uint64_t d_alloc_objects, d_alloc_bytes, d_free_objects, d_free_bytes;

/* kept objects, so in-use figures are known */
static void *kept[1 << 16];
static size_t nkept;

static void took(int f, void *p)
{
    size_t u = malloc_usable_size(p);
    figs[f].alloc_objects++;
    figs[f].alloc_bytes += u;
    figs[f].inuse_objects++;
    figs[f].inuse_bytes += u;
    d_alloc_objects++;
    d_alloc_bytes += u;
}

static void gave(int f, void *p)
{
    size_t u = malloc_usable_size(p);
    figs[f].inuse_objects--;
    figs[f].inuse_bytes -= u;
    d_free_objects++;
    d_free_bytes += u;
    free(p);
}

static void keep(void *p)
{
    if (nkept < sizeof kept / sizeof *kept)
        kept[nkept++] = p;
}

__attribute__((noinline)) static void small_allocs(int n)
{
    for (int i = 0; i < n; i++) {
        char *p = malloc(40 + (size_t)(i % 3) * 8);
        if (!p)
            abort();
        p[0] = (char)i;
        took(SMALL, p);
        if (i % 4 == 0)
            keep(p);
        else
            gave(SMALL, p);
    }
}

__attribute__((noinline)) static void medium_callocs(int n)
{
    for (int i = 0; i < n; i++) {
        char *p = calloc(1, 3000);
        if (!p)
            abort();
        p[1] = (char)i;
        took(MEDIUM, p);
        if (i % 2 == 0)
            keep(p);
        else
            gave(MEDIUM, p);
    }
}

__attribute__((noinline)) static void aligned_allocs(int n)
{
    for (int i = 0; i < n; i++) {
        void *p = NULL;
        if (posix_memalign(&p, 4096, 10000) != 0)
            abort();
        ((char *)p)[2] = (char)i;
        took(ALIGNED, p);
        if (i % 3 == 0)
            keep(p);
        else
            gave(ALIGNED, p);
    }
}

/* realloc: the old object counts as freed, the new one as allocated */
__attribute__((noinline)) static void realloc_chain(int n)
{
    char *p = malloc(16);
    if (!p)
        abort();
    took(REALLOC, p);
    for (int i = 1; i < n; i++) {
        size_t old = malloc_usable_size(p);
        char *q = realloc(p, 16 + (size_t)i * 100);
        if (!q)
            abort();
        figs[REALLOC].inuse_objects--;
        figs[REALLOC].inuse_bytes -= old;
        d_free_objects++;
        d_free_bytes += old;
        q[0] = (char)i;
        took(REALLOC, q);
        p = q;
    }
    keep(p);
}

__attribute__((noinline)) static void big_small_allocs(size_t total)
{
    for (size_t done = 0; done < total;) {
        char *p = malloc(200);
        if (!p)
            abort();
        p[0] = 1;
        took(BIG_SMALL, p);
        done += malloc_usable_size(p);
        gave(BIG_SMALL, p);
    }
}

__attribute__((noinline)) static void big_large_allocs(size_t total)
{
    int i = 0;
    for (size_t done = 0; done < total; i++) {
        char *p = malloc(100000);
        if (!p)
            abort();
        p[0] = 1;
        took(BIG_LARGE, p);
        done += malloc_usable_size(p);
        if (i % 64 == 0)
            keep(p);
        else
            gave(BIG_LARGE, p);
    }
}

#define MANY_LIVE 100000
static void *many[MANY_LIVE];

__attribute__((noinline)) static void many_live(void)
{
    for (int i = 0; i < MANY_LIVE; i++) {
        char *p = malloc(24);
        if (!p)
            abort();
        p[0] = (char)i;
        took(MANY, p);
        many[i] = p;
    }
}

static void report(void)
{
    printf("{\"pid\": %d, \"delta\": {\"alloc_objects\": %llu, \"alloc_bytes\": %llu, "
           "\"free_objects\": %llu, \"free_bytes\": %llu}, \"functions\": {",
           (int)getpid(), (unsigned long long)d_alloc_objects,
           (unsigned long long)d_alloc_bytes, (unsigned long long)d_free_objects,
           (unsigned long long)d_free_bytes);
    for (int f = 0; f < NFUNCS; f++)
        printf("%s\"%s\": [%llu, %llu, %llu, %llu]", f ? ", " : "", names[f],
               (unsigned long long)figs[f].alloc_objects,
               (unsigned long long)figs[f].alloc_bytes,
               (unsigned long long)figs[f].inuse_objects,
               (unsigned long long)figs[f].inuse_bytes);
    printf("}}\n");
    fflush(stdout);
}

int main(void)
{
    char line[64];
    /* stdio's buffers are made now, before the first count is read */
    printf("{\"pid\": %d}\n", (int)getpid());
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        d_alloc_objects = d_alloc_bytes = d_free_objects = d_free_bytes = 0;
        if (!strncmp(line, "work", 4)) {
            small_allocs(20000);
            medium_callocs(3000);
            aligned_allocs(600);
            realloc_chain(500);
        } else if (!strncmp(line, "big", 3)) {
            big_small_allocs((size_t)256 << 20);
            big_large_allocs((size_t)512 << 20);
        } else if (!strncmp(line, "many", 4)) {
            many_live();
        } else if (!strncmp(line, "quit", 4)) {
            return 0;
        }
        report();
    }
    return 0;
}
