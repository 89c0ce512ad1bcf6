/*
 * types.h -- what the memory is: each in-use chunk's type, from what its
 * first word points at (types.c).
 */
#ifndef HG_ANALYSIS_TYPES_H
#define HG_ANALYSIS_TYPES_H

#include "heapgrab.h"
#include "target/target.h"

struct hc_capture;

/*
 * Type every in-use chunk of s (taken with the types option: its chunks
 * and their first words) and store the result in s->types.  The target
 * may be running: only vtables, typeinfo objects and their name strings are
 * read from it, which the program does not change.  With cap, the holders'
 * copy of the stop (the in-use objects, module data, stacks, TLS), the
 * static types of DWARF are propagated from typed variables through it.
 * 0, or HG_ENOMEM.
 */
int hg_types_find(hg_target *t, hg_snapshot *s, const struct hc_capture *cap);

/* The largest name string read from a target (longer ones type nothing). */
#define HG_TYPE_NAME_MAX 4096

#endif
