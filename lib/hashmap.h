/*
 * hashmap.h -- the one hash map: 64-bit keys to 64-bit values, open
 * addressing with linear probing, at most half full.  Every table keyed by
 * an address, a pc or an id goes through it.
 *
 *     hg_u64map m = {0};
 *     if (hg_u64map_put(&m, key, value) != 0) ... out of memory
 *     const uint64_t *v = hg_u64map_get(&m, key);   // NULL: absent
 *     hg_u64map_free(&m);
 */
#ifndef HG_HASHMAP_H
#define HG_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct hg_u64map {
    uint64_t *keys, *vals; /* a key of 0 marks a free slot... */
    size_t size, cap;      /* cap: a power of two, or 0 */
    int has_zero;          /* ...so key 0 lives here */
    uint64_t zero_val;
} hg_u64map;

/* Mix the bits of x well enough for a power-of-two table (splitmix64's
 * finaliser). */
static inline uint64_t hg_hash64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Set key to val (added or replaced): 0, or -1 when out of memory. */
int hg_u64map_put(hg_u64map *m, uint64_t key, uint64_t val);
/* The value of key, or NULL; valid until the next put. */
uint64_t *hg_u64map_get(const hg_u64map *m, uint64_t key);
void hg_u64map_free(hg_u64map *m);

#endif
