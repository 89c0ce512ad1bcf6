/* allocs.h -- the allocation profile model: what analysis/allocs.c reads
 * from the sampler's table (sampler/table.h) and writers/allocs_pprof.c
 * writes, as lib/snapshot.h is the heap's.  Internal: frontends use the
 * accessors in heapgrab.h. */
#ifndef HG_ALLOCS_H
#define HG_ALLOCS_H

#include "heapgrab.h"
#include "lib/location.h"

/* One bucket of the sampler: a call stack and an object size, with the
 * sampled allocations from it and the sampled frees of those (raw counts,
 * not yet unsampled). */
struct hg_alloc_stack {
    uint64_t size;         /* usable bytes of each object */
    uint64_t alloc_objects, alloc_bytes;
    uint64_t free_objects, free_bytes;
    size_t *locs;          /* index into hg_allocs.locs per frame, leaf first;
                              allocator and sampler frames already dropped */
    size_t nlocs;
};

struct hg_allocs {
    int pid;
    char exe[4096];
    uint64_t time_ns;      /* wall clock at the read, epoch ns */
    hg_sampler_info info;

    struct hg_alloc_stack *stacks;
    size_t nstacks;

    hg_location *locs;     /* distinct return addresses, symbolized (pc is
                              the call: return address - 1) */
    size_t nlocs;
};

#endif
