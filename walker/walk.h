/* walk.h -- the walk itself, given where the allocator is (internal: the
 * unit tests drive it on synthetic heap images). */
#ifndef HG_WALK_H
#define HG_WALK_H

#include "target/target.h"
#include "walker/locate.h"

/* Stop t, walk the heap described by loc, resume t; *out is the snapshot.
 * hg_snapshot_take() is hg_locate() followed by this. */
int hg_walk(hg_target *t, const hg_located *loc, const hg_snapshot_options *opt,
            hg_snapshot **out);

/* What a walk found, handed to a hook while the target is still stopped
 * (the holders analysis copies what it will scan then): every chunk, in
 * address order per heap, and the heaps themselves (an arena's memory:
 * its chunks, and glibc's own headers -- heap_info, a thread arena's
 * malloc_state -- which are nobody's objects).  The walker knows nothing
 * of what the hook does with them. */
typedef struct hg_walk_heap {
    uint64_t start, end;  /* [start, end): heap_info (or sbrk_base) to the
                             end of its usable part, rounded up to a page */
    int arena;
} hg_walk_heap;
typedef struct hg_walk_found {
    hg_target *t;
    const hg_located *loc;
    const hg_chunk *chunks;  /* tcache_perthread_structs as HG_STATE_OVERHEAD */
    size_t nchunks;
    const hg_walk_heap *heaps;
    size_t nheaps;
} hg_walk_found;
typedef int (*hg_walk_hook)(void *ctx, const hg_walk_found *found);
/* hg_walk, calling hook (with every chunk kept, whatever opt says) after
 * the walk and before the target resumes; its failure fails the walk.  The
 * snapshot then has the chunks (the caller frees them if it does not want
 * them). */
int hg_walk_hooked(hg_target *t, const hg_located *loc, const hg_snapshot_options *opt,
                   hg_walk_hook hook, void *ctx, hg_snapshot **out);

#endif
