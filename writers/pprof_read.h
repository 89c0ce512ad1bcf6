/*
 * pprof_read.h -- a pprof profile read back: gzipped or not, decoded with
 * protobuf-c, its ids indexed.  What the report reads a PROFILE.pprof (and
 * --base) with, and what it reads heapgrab's own profiles with, so that a
 * report of a snapshot and a report of the same snapshot's .pprof are the
 * same page.
 *
 * Nothing in the input is trusted: a string, location or function index
 * out of range reads as "" or as absent, never out of bounds; the
 * decompressed size is bounded (HG_PPROF_READ_MAX).
 */
#ifndef HG_PPROF_READ_H
#define HG_PPROF_READ_H

#include <stddef.h>
#include <stdint.h>

#include "lib/hashmap.h"
#include "profile.pb-c.h"

/* A profile bigger than this once inflated is refused (HG_EUSAGE). */
#define HG_PPROF_READ_MAX (512u << 20)

struct hg_pprof_read {
    Perftools__Profiles__Profile *pb;
    hg_u64map locations, functions;   /* id -> index + 1 */
};

/* Decode len bytes of a profile (gzip or raw protobuf): 0, HG_EUSAGE (not
 * a profile; the message says why), or HG_ENOMEM.  what names the input in
 * messages. */
int hg_pprof_read(const void *data, size_t len, const char *what, struct hg_pprof_read *out);
void hg_pprof_read_free(struct hg_pprof_read *r);

/* String i of the table, "" if there is none. */
const char *hg_pprof_read_str(const struct hg_pprof_read *r, int64_t i);
/* The location or function of an id, NULL if there is none. */
const Perftools__Profiles__Location *hg_pprof_read_location(const struct hg_pprof_read *r,
                                                            uint64_t id);
const Perftools__Profiles__Function *hg_pprof_read_function(const struct hg_pprof_read *r,
                                                            uint64_t id);

#endif
