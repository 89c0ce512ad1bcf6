/*
 * holders.h -- who holds the memory (heapgrab.h's "who holds the memory"):
 * a snapshot whose walk also copies, while the target is stopped, every
 * in-use object and every root (holders_capture.c), and whose holders part
 * is then built from the copy with the target running: roots named, the
 * graph, dominators, retained sizes and leaks (holders.c).
 */
#ifndef HG_ANALYSIS_HOLDERS_H
#define HG_ANALYSIS_HOLDERS_H

#include "walker/walk.h"

/* hg_walk() with the holders part filled (opt->holders); a heap the
 * analysis cannot take (overlapping objects, a graph too large) gives a
 * snapshot without holders and a problem saying why. */
int hg_holders_take(hg_target *t, const hg_located *loc, const hg_snapshot_options *opt,
                    hg_snapshot **out);

#endif
