/*
 * objects.h -- the object index: every in-use object of the target (a
 * malloc chunk's usable bytes), sorted by address, and the lookup that tells
 * which object an arbitrary 64-bit word points into.
 *
 * The holders analysis asks that question for every aligned word of every
 * object and root, so hundreds of millions of times: the lookup must cost a
 * few nanoseconds, and most words (zeros, small numbers, code pointers) must
 * be turned away before anything is searched.
 *
 * Layout, per object: its start address (uint64) and usable size (uint32;
 * UINT32_MAX sends the lookup to a side table, lib/hashmap.h, for the rare
 * object of 4 GiB or more): 12 bytes.  The objects fall into regions:
 * runs of objects with gaps under 64 KiB between them (a heap, an arena's
 * top part), and each object of 64 KiB or more alone (an mmapped chunk, a
 * big array).  A run region has a page directory: for each 4 KiB page, the
 * last object starting at or before the page's start; a word is then
 * searched only among the objects starting in its page.  A region costs 32
 * bytes and a run's directory 4 bytes a page, so the index costs 12 bytes an
 * object, 4 bytes a 4 KiB page of dense heap and 32 bytes a cluster or big
 * object: about 13 bytes an object for a heap of small objects.
 *
 *     hg_objects o;
 *     hg_objects_init(&o);
 *     hg_objects_add(&o, start, size) ... (any order)
 *     hg_objects_finish(&o);                // sorts; refuses overlaps
 *     uint32_t i = hg_objects_find(&o, word, &interior);
 *     if (i != HG_NO_OBJECT) ... hg_objects_start(&o, i), hg_objects_size(&o, i)
 *     hg_objects_free(&o);
 *
 * Object numbers are positions in address order (0 = lowest), fixed by
 * finish; at most HG_OBJECTS_MAX objects.
 */
#ifndef HG_ANALYSIS_OBJECTS_H
#define HG_ANALYSIS_OBJECTS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/hashmap.h"

#define HG_NO_OBJECT UINT32_MAX
/* Object numbers fit in 31 bits: the graph keeps a flag in the 32nd. */
#define HG_OBJECTS_MAX 0x7fffffffu
/* A size of this value is looked up in the side table. */
#define HG_OBJECTS_BIG UINT32_MAX

struct hg_objects_region {
    uint64_t lo;    /* its first object's start */
    uint64_t hi;    /* the end of its last object */
    uint32_t first; /* its objects are first..last */
    uint32_t last;
    uint64_t dir;   /* a run: its page directory at o->dir[dir]; UINT64_MAX: one object */
};

typedef struct hg_objects {
    uint64_t *start; /* n, ascending */
    uint32_t *size;  /* n; HG_OBJECTS_BIG: see big */
    hg_u64map big;   /* start address -> size, for sizes >= HG_OBJECTS_BIG */
    uint32_t n;
    size_t alloc;    /* room in start[] and size[] while adding */
    int finished;
    uint64_t lo, span;                  /* every object lies in [lo, lo + span) */
    uint64_t *region_lo;                /* nregions, ascending: the search key */
    struct hg_objects_region *regions;  /* nregions */
    uint32_t nregions;
    uint32_t *dir;                      /* every run's pages + 1 entries */
    uint64_t ndir;
} hg_objects;

void hg_objects_init(hg_objects *o);
/* Room for n objects in all, before adding them (optional; saves the
 * copies of growing).  0 or HG_ENOMEM. */
int hg_objects_reserve(hg_objects *o, uint64_t n);
/* One in-use object: its usable bytes are [start, start + size).  0,
 * HG_ENOMEM, or HG_EUSAGE past HG_OBJECTS_MAX objects, after finish, or
 * for a range that wraps past 2^64. */
int hg_objects_add(hg_objects *o, uint64_t start, uint64_t size);
/* Sort the objects and build the lookup.  HG_EUSAGE if two objects share
 * bytes (named by address), HG_ENOMEM. */
int hg_objects_finish(hg_objects *o);
void hg_objects_free(hg_objects *o);

static inline uint64_t hg_objects_start(const hg_objects *o, uint32_t i)
{
    return o->start[i];
}

/* Keyed by address, the side table needs no change when finish sorts. */
static inline uint64_t hg_objects_size(const hg_objects *o, uint32_t i)
{
    if (o->size[i] != HG_OBJECTS_BIG)
        return o->size[i];
    const uint64_t *v = hg_u64map_get(&o->big, o->start[i]);
    return v ? *v : HG_OBJECTS_BIG;
}

/* The slow part of hg_objects_find, for words inside the objects' span. */
uint32_t hg_objects_find_in(const hg_objects *o, uint64_t word, int *interior);

/* The object whose usable bytes hold the address word, or HG_NO_OBJECT;
 * *interior is set to 1 when word is past the object's start, 0 when it is
 * the start (left alone on a miss). */
static inline uint32_t hg_objects_find(const hg_objects *o, uint64_t word, int *interior)
{
    /* one compare turns away every word outside all objects' span */
    if (word - o->lo >= o->span)
        return HG_NO_OBJECT;
    return hg_objects_find_in(o, word, interior);
}

/* The same for n words at once (n at most HG_OBJECTS_BATCH): obj[i] and
 * interior[i] for words[i].  For a scanner: the lookups of a batch go
 * through the directory, the starts and the sizes in stages, each stage
 * fetching ahead what the next needs, so that the cache misses of words
 * pointing all over the heap overlap instead of following one another. */
#define HG_OBJECTS_BATCH 32
void hg_objects_find_batch(const hg_objects *o, const uint64_t *words, size_t n, uint32_t *obj,
                           uint8_t *interior);

/* Bytes held by the index (for the memory accounting). */
uint64_t hg_objects_memory(const hg_objects *o);

#endif
