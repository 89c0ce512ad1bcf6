/* test_util.c -- the utility layer: the growable array and the hash map,
 * against a plain model of what they must hold. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "lib/hashmap.h"
#include "lib/error.h"
#include "heapgrab.h"

static int failed;
#define CHECK(c)                                                          \
    do {                                                                  \
        if (!(c)) {                                                       \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #c); \
            failed++;                                                     \
        }                                                                 \
    } while (0)

static void test_array(void)
{
    hg_array(uint32_t) a = HG_ARRAY_INIT;
    for (uint32_t i = 0; i < 100000; i++) {
        uint32_t *p = hg_array_push(a);
        CHECK(p != NULL);
        if (p)
            *p = i * 3;
    }
    CHECK(a.size == 100000);
    CHECK(a.alloc >= a.size);
    int ok = 1;
    for (uint32_t i = 0; i < a.size; i++)
        ok &= a.ptr[i] == i * 3;
    CHECK(ok);
    /* a size that would overflow is refused and changes nothing */
    size_t before = a.alloc;
    CHECK(hg_array_reserve(a, SIZE_MAX / 2) != 0);
    CHECK(a.alloc == before && a.size == 100000);
    hg_array_clear(a);
    CHECK(a.ptr == NULL && a.size == 0 && a.alloc == 0);
}

static void test_map(void)
{
    hg_u64map m = {0};
    CHECK(hg_u64map_get(&m, 5) == NULL);
    CHECK(hg_u64map_get(&m, 0) == NULL);
    /* keys that collide in a small table: multiples of a big power of two */
    enum { N = 200000 };
    for (uint64_t i = 0; i < N; i++)
        CHECK(hg_u64map_put(&m, i << 20, i + 7) == 0);
    CHECK(m.size == N);
    int ok = 1;
    for (uint64_t i = 0; i < N; i++) {
        const uint64_t *v = hg_u64map_get(&m, i << 20);
        ok &= v && *v == i + 7;
    }
    CHECK(ok);
    CHECK(hg_u64map_get(&m, 12345) == NULL);
    /* replacing keeps one entry; key 0 is a key like any other */
    CHECK(hg_u64map_put(&m, 1 << 20, 99) == 0);
    CHECK(*hg_u64map_get(&m, 1 << 20) == 99 && m.size == N);
    CHECK(*hg_u64map_get(&m, 0) == 7);
    CHECK(hg_u64map_put(&m, 0, 1) == 0 && *hg_u64map_get(&m, 0) == 1 && m.size == N);
    hg_u64map_free(&m);
    CHECK(m.size == 0 && hg_u64map_get(&m, 1 << 20) == NULL);
}

static void test_fail_wrap(void)
{
    hg_error_clear();
    CHECK(hg_fail_wrap(HG_EIO, "reading %s", "x") == HG_EIO);
    CHECK(strcmp(hg_error_message(), "reading x") == 0);
    hg_fail(HG_ENOPROC, "process %d exited", 42);
    CHECK(hg_fail_wrap(HG_ENOTFOUND, "arena at 0x%x is not readable", 0x10) == HG_ENOTFOUND);
    CHECK(strcmp(hg_error_message(), "arena at 0x10 is not readable: process 42 exited") == 0);
    CHECK(hg_error_code() == HG_ENOTFOUND);
    /* a long reason is cut, never overflows, and stays one line */
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[100] = '\n';
    hg_fail(HG_EIO, "%s", big);
    hg_fail_wrap(HG_EIO, "outer");
    CHECK(strncmp(hg_error_message(), "outer: aaa", 10) == 0);
    CHECK(strchr(hg_error_message(), '\n') == NULL);
    CHECK(strlen(hg_error_message()) < 1024);
}

int main(void)
{
    test_array();
    test_map();
    test_fail_wrap();
    printf("test_util: %s\n", failed ? "FAILED" : "ok");
    return failed != 0;
}
