/*
 * snapshot.h -- the snapshot as the walker fills it and the writers read it.
 * Internal: frontends use the accessors in heapgrab.h.
 */
#ifndef HG_SNAPSHOT_H
#define HG_SNAPSHOT_H

#include "heapgrab.h"

struct hg_snapshot {
    int pid;
    char exe[4096];
    char glibc_version[32];
    const char *locate;            /* static string */
    uint64_t time_ns;              /* wall clock at the stop, epoch ns */
    hg_timing timing;
    uint64_t rss_bytes;            /* HG_UNKNOWN unless measured */
    uint64_t heap_resident_bytes;  /* HG_UNKNOWN unless measured */

    hg_mallinfo2 mallinfo2;
    hg_totals totals;

    hg_arena_info *arenas;
    size_t narenas;

    hg_bucket *buckets;            /* sorted: arena, state, chunk_size */
    size_t nbuckets;

    hg_thread_info *threads;
    size_t nthreads;

    hg_problem *problems;          /* 'what' strings owned by the snapshot */
    size_t nproblems;
    uint64_t problems_total;

    hg_mapping *mappings;          /* path/build_id strings owned */
    size_t nmappings;

    hg_chunk *chunks;              /* only with keep_chunks */
    size_t nchunks;

    /* With holders (NULL without): who holds what. */
    struct hg_holders *holders;

    /* With types: the first word of each chunk's usable bytes, as read at
     * the stop, parallel to chunks (0 for chunks not in use), until the
     * types analysis has typed them (then NULL); and what it made of them
     * (NULL without). */
    uint64_t *chunk_words;
    struct hg_types *types;
    /* The allocation sampler's figures (hg_snapshot_read_sampler). */
    int have_sampler;
    hg_sampler_info sampler;
    /* hg_snapshot_consistent; and timing.fallback's text (owned) */
    int inconsistent;
    char *fallback;
    uint64_t resumed_ns;           /* hg_now_ns() when the target ran again */
};

/*
 * The types analysis as the writers read it.  types[] holds every type
 * found and the one "(untyped)" entry, most bytes first; chunk_type[i] is
 * chunk i's index in types[], or -1 for a chunk not in use.  cells[] splits
 * the in-use buckets by type, for the profile: one cell per (arena, state,
 * chunk size, type) of typed chunks, sorted by those four (the untyped
 * remainder of a bucket is the bucket less its cells).
 */
struct hg_type_cell {
    int arena, state;
    uint64_t chunk_size;
    uint32_t type;
    uint64_t count, usable_bytes;
};
struct hg_types {
    hg_type *types;                /* names owned */
    size_t ntypes;
    int32_t *chunk_type;           /* nchunks */
    hg_type_totals totals;
    struct hg_type_cell *cells;
    size_t ncells;
    char *note;                    /* what the output says about DWARF, or NULL */
};
void hg_types_free(struct hg_types *t);

/*
 * The holders analysis as the writers read it.  Nodes are numbered as in
 * the analysis: objects 0..nobjects-1 in address order, then roots
 * nobjects..nobjects+nroots-1, then the virtual super-root; idom[] holds
 * node numbers (HG_HOLDERS_NONE for an object no root reaches).  An object
 * whose idom is the super-root is held by several roots.
 */
#define HG_HOLDERS_NONE UINT32_MAX
struct hg_holders {
    size_t nobjects;
    uint64_t *address;             /* usable start, ascending */
    uint64_t *size;                /* usable bytes */
    uint8_t *cls;                  /* enum hg_object_class */
    uint32_t *idom;                /* immediate dominator, a node number */
    uint64_t *retained_objects, *retained_bytes; /* per node: nobjects + nroots + 1 */

    hg_root *roots;                /* node nobjects + i is roots[i]; strings owned */
    size_t nroots;
    size_t *by_retained;           /* root indexes, most retained bytes first,
                                      those retaining nothing left out */
    size_t nranked;

    /* Optional (NULL: not recorded): each object's arena index, -1 for an
     * mmapped chunk.  The heap profile labels samples with it; without it
     * they have no arena label. */
    int16_t *arena;

    hg_leak_totals leaks;
    hg_leak_group *groups;         /* most bytes first */
    size_t ngroups;
};

/* For the analysis and for tests that build snapshots: a holders part for
 * n objects and r roots, every array allocated (zeroed), or NULL. */
struct hg_holders *hg_holders_new(size_t nobjects, size_t nroots);
void hg_holders_free(struct hg_holders *h);

/* Allocation helpers for the walker and for tests that build snapshots. */
hg_snapshot *hg_snapshot_new(void);
/* Add to the bucket (arena, state, chunk_size); buckets are sorted later. */
int hg_snapshot_add(hg_snapshot *s, int arena, int state, uint64_t chunk_size,
                    uint64_t count, uint64_t usable_bytes);
void hg_snapshot_sort_buckets(hg_snapshot *s);
int hg_snapshot_add_problem(hg_snapshot *s, unsigned keep, int arena,
                            uint64_t address, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
