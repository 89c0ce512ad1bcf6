/*
 * synthetic.h -- a snapshot taken "with holders", built by hand, for the
 * holders outputs' tests: every figure of the holders model is known.
 *
 * The graph (usable sizes; a heap chunk is usable + 8):
 *   g_tracker (global, tracker.c:3)  -> tracker 24 -> array 1032 -> 3
 *             requests 56, each -> a body 104;  and, through an interior
 *             pointer only, one object 56 ("possibly")
 *   hold_on_stack (stack of thread 4243 "worker", server.c:88) -> 40
 *   t_buf (TLS of thread 4243) -> 72
 *   g_list (global)                  -> a list of 100 nodes of 24
 *   registers of thread 4242         -> 24
 *   mapping 0x7f0000000000-...       -> an mmapped object of 135152
 *   libapp.so+0x4020 (global, no symbol) -> a chain of 100 objects, 24 and 40
 *                                       in turn (deeper than 64 frames)
 *   g_empty (global)                 -> nothing (not ranked)
 *   several roots                    -> 40 -> 24
 *   leaked: 2 direct of 40; 3 indirect of 24
 * plus idle memory (tcache, a bin, top) in the buckets.
 */
#ifndef HG_TEST_SYNTHETIC_H
#define HG_TEST_SYNTHETIC_H

#include <stdio.h>

#include "heapgrab.h"

/* The root indexes in the model (holders' roots[], not the ranking). */
enum { R_TRACKER, R_STACK, R_TLS, R_LIST, R_REGS, R_MAPPING, R_DEEP, R_EMPTY, NROOTS };

#define DEEP_CHAIN 100
#define LIST_NODES 100

/* The snapshot; decl_file is where g_tracker is "declared" (a file the
 * test writes, so that go tool pprof -list can show it).  NULL if out of
 * memory. */
hg_snapshot *synthetic_holders_snapshot(const char *decl_file);
/* The model as JSON, for the Python checks to recompute every figure on
 * their own: {"objects": [[address, size, class, holder, arena]...],
 * "roots": [{...}]} with holder an object index, "root:N", "several" or
 * "leaked". */
void synthetic_model_json(const hg_snapshot *s, FILE *f);

/* The same snapshot as if taken without holders (for the Python tests,
 * which load this file as a shared library). */
void synthetic_drop_holders(hg_snapshot *s);

#endif
