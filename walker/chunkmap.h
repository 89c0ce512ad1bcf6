/*
 * chunkmap.h -- chunks that may sit on a free list, found by the
 * sequential walk and looked up by address while the lists are followed.
 *
 * Following a free list through the target one system call per hop would
 * cost seconds on a big heap; instead the sequential walk records, for every
 * chunk that could be on a list, its link word, and the list walks happen
 * here in heapgrab's memory.  Entries arrive in address order per region, so
 * a sorted array with a per-page directory (16 bytes an entry, 4 bytes a
 * page) replaces a hash table at a third of the memory.
 */
#ifndef HG_CHUNKMAP_H
#define HG_CHUNKMAP_H

#include <stddef.h>
#include <stdint.h>

#include "lib/array.h"

enum {
    CM_CAND = 1,    /* looks in use, but its fd would be a valid free link */
    CM_BIN,         /* free by its neighbour's PREV_INUSE: must be in a bin */
    CM_TCACHE,      /* found on a tcache list */
    CM_FASTBIN,     /* found on a fastbin list */
    CM_BIN_SEEN     /* CM_BIN found on its bin list */
};

typedef struct cm_entry {
    uint64_t key;   /* chunk address | state (addresses are 16-aligned) */
    uint64_t val;   /* link (decoded fd) | (chunk size / 16) << 48 */
} cm_entry;

#define CM_ADDR(e) ((e)->key & ~15ull)
#define CM_STATE(e) ((int)((e)->key & 15))
#define CM_SET_STATE(e, s) ((e)->key = CM_ADDR(e) | (uint64_t)(s))
#define CM_LINK(e) ((e)->val & ((1ull << 48) - 1))
#define CM_SIZE(e) (((e)->val >> 48) << 4)   /* 0: too large to keep */
/* Sizes from CM_SIZE_MAX on do not fit in an entry: CM_SIZE says 0. */
#define CM_SIZE_MAX (1u << 20)
#define CM_VAL(link, size) ((link) | ((size) < CM_SIZE_MAX ? (uint64_t)(size) >> 4 << 48 : 0))

typedef struct cm_region {
    uint64_t start, end;
    size_t first, count; /* entries [first, first + count) */
    uint32_t *dir;       /* per page: index of first entry at or after it */
    int arena;
} cm_region;

typedef struct chunkmap {
    hg_array(cm_entry) e;  /* every region's, one region after the other */
    hg_array(cm_region) r;
    int open;            /* a region is being filled */
    size_t mapped;       /* e.ptr is a reservation of this many bytes */
} chunkmap;

void cm_init(chunkmap *cm);
void cm_free(chunkmap *cm);
/* Reserve room for the heaps' entries up front (optional). */
void cm_reserve(chunkmap *cm, uint64_t heap_bytes);
int cm_region_begin(chunkmap *cm, uint64_t start, uint64_t end, int arena);
int cm_add(chunkmap *cm, uint64_t addr, int state, uint64_t val);
int cm_region_end(chunkmap *cm);
/* Sort regions for lookup; call once all regions are done. */
void cm_finish(chunkmap *cm);
/* The entry for the chunk at addr, or NULL; *arena gets the region's
 * arena when addr lies in a walked region (else -1). */
cm_entry *cm_find(const chunkmap *cm, uint64_t addr, int *arena);
/* The arena of the walked region containing addr, or -1. */
int cm_arena_of(const chunkmap *cm, uint64_t addr);

#endif
