/* profile.h -- thread stacks as sampler.c collects them and the writers
 * read them.  Internal: frontends use the accessors in heapgrab.h. */
#ifndef HG_PROFILE_H
#define HG_PROFILE_H

#include "heapgrab.h"
#include "target/symbolize.h"
#include "lib/hashmap.h"

#define HG_PROFILE_MAX_THREADS 65536

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
    /* The last reading of the threads' CPU times, sorted by tid, and when
     * it was taken: each sample gets what its thread used since. */
    hg_thread_state *prev;
    size_t nprev;
    uint64_t prev_at;
    int have_process_cpu;
    uint64_t process_cpu_at_start;
    uint64_t copied;       /* stack bytes copied at the stops */
    uint64_t cut;          /* thread samples whose stack went on above the copy */

    struct hg_prof_stack *stacks;
    size_t nstacks, capstacks;
    hg_u64map stack_of_hash; /* a stack's hash -> its index */

    hg_location *locs;     /* distinct pcs, symbolized */
    size_t nlocs, caplocs;
    hg_u64map loc_of_pc;   /* pc -> its index in locs */

    struct {               /* the last sample, for the dump */
        size_t stack;
        char state;
        const char *why;
    } last[HG_PROFILE_MAX_THREADS];
    size_t nlast;
    hg_thread_stack *threads;
    size_t nthreads;
};

#endif
