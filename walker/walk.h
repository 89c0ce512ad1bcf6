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

#endif
