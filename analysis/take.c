/*
 * take.c -- hg_snapshot_take(): find the allocator, walk the heap (the
 * target stopped only for that, and for the holders' copy of its objects
 * and roots), then the analyses the options ask for, with the target
 * running again: holders (holders.c), types (types.c).
 */
#include <stdlib.h>

#include "analysis/holders.h"
#include "analysis/types.h"
#include "lib/clock.h"
#include "lib/error.h"
#include "lib/snapshot.h"
#include "walker/walk.h"

int hg_snapshot_take(hg_target *t, const hg_snapshot_options *opt, hg_snapshot **out)
{
    uint64_t t0 = hg_now_ns();
    hg_located loc;
    *out = NULL;
    hg_error_clear();
    int rc = hg_locate(t, opt ? opt->locate : HG_LOCATE_AUTO, &loc);
    if (rc && hg_target_check_alive(t) == HG_ENOPROC)
        rc = HG_ENOPROC; /* the target died meanwhile: that is the reason */
    /* types take the holders' copy too: DWARF's types are propagated
     * through it (holders.c runs the types analysis before freeing it) */
    if (rc == 0)
        rc = opt && (opt->holders || opt->types) ? hg_holders_take(t, &loc, opt, out)
                                                 : hg_walk(t, &loc, opt, out);
    if (rc == 0 && opt && opt->types) {
        /* the first words served their purpose: 8 bytes a chunk back */
        free((*out)->chunk_words);
        (*out)->chunk_words = NULL;
    }
    if (rc == 0) {
        uint64_t now = hg_now_ns();
        (*out)->timing.total_ns = now - t0;
        (*out)->timing.analysis_ns = now - (*out)->resumed_ns;
    }
    return rc;
}
