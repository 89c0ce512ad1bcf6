/* profile.h -- the profile model: thread stacks as stacks/sampler.c
 * collects them and the writers read them, as lib/snapshot.h is the heap's.
 * Internal: frontends use the accessors in heapgrab.h. */
#ifndef HG_PROFILE_H
#define HG_PROFILE_H

#include "heapgrab.h"
#include "lib/location.h"

/* One distinct (thread, call stack) and what it was sampled as. */
struct hg_prof_stack {
    int tid;
    char *name;            /* thread name, filled at the end */
    uint64_t *pcs;         /* innermost first */
    size_t npcs;
    size_t *locs;          /* index into locs per pc, filled at the end */
    uint64_t hash;
    uint64_t count, wall_ns, cpu_ns;
};

struct hg_profile {
    int pid;
    char exe[4096];
    unsigned hz;           /* 0 for a one-shot dump */
    uint64_t period_ns, time_ns;
    hg_profile_timing timing;
    int target_exited;
    uint64_t start_ns;     /* monotonic time of the first reading */
    uint64_t copied;       /* stack bytes copied at the stops */
    uint64_t cut;          /* thread samples whose stack went on above the copy */

    struct hg_prof_stack *stacks;
    size_t nstacks, capstacks;

    hg_location *locs;     /* distinct pcs, symbolized */
    size_t nlocs, caplocs;

    hg_thread_stack *threads; /* the last sample, frame by frame */
    size_t nthreads;

    /* The sampler's working state while it runs (stacks/sampler.c), NULL
     * once the profile is finished. */
    struct hg_sampling *sampling;
};

#endif
