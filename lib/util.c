/* util.c -- the growable array and the hash map (array.h, hashmap.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/array.h"
#include "lib/hashmap.h"

int hg_array_reserve_(void **ptr, size_t *alloc, size_t item, size_t want)
{
    if (want <= *alloc)
        return 0;
    size_t cap = *alloc ? *alloc : 8;
    while (cap < want) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    if (cap > SIZE_MAX / item)
        return -1;
    void *p = realloc(*ptr, cap * item);
    if (!p)
        return -1;
    *ptr = p;
    *alloc = cap;
    return 0;
}

void hg_advise_huge(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = 2u << 20;
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t e = ((uintptr_t)p + len) & ~(huge - 1);
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)len;
#endif
}

static size_t slot_of(const hg_u64map *m, uint64_t key)
{
    size_t mask = m->cap - 1, i = (size_t)hg_hash64(key) & mask;
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & mask;
    return i;
}

static int grow(hg_u64map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    if (cap > SIZE_MAX / sizeof(uint64_t))
        return -1;
    hg_u64map bigger = {calloc(cap, sizeof(uint64_t)), malloc(cap * sizeof(uint64_t)), m->size,
                        cap, m->has_zero, m->zero_val};
    if (!bigger.keys || !bigger.vals) {
        free(bigger.keys);
        free(bigger.vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            size_t j = slot_of(&bigger, m->keys[i]);
            bigger.keys[j] = m->keys[i];
            bigger.vals[j] = m->vals[i];
        }
    free(m->keys);
    free(m->vals);
    *m = bigger;
    return 0;
}

int hg_u64map_put(hg_u64map *m, uint64_t key, uint64_t val)
{
    if (key == 0) {
        m->size += !m->has_zero;
        m->has_zero = 1;
        m->zero_val = val;
        return 0;
    }
    if ((m->size + 1) * 2 > m->cap && grow(m) != 0)
        return -1;
    size_t i = slot_of(m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->size++;
    }
    m->vals[i] = val;
    return 0;
}

uint64_t *hg_u64map_get(const hg_u64map *m, uint64_t key)
{
    if (key == 0)
        return m->has_zero ? (uint64_t *)&m->zero_val : NULL;
    if (!m->cap)
        return NULL;
    size_t i = slot_of(m, key);
    return m->keys[i] ? &m->vals[i] : NULL;
}

void hg_u64map_free(hg_u64map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
