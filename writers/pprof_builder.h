/*
 * pprof_builder.h -- the one pprof builder, which both pprof writers use
 * (heap_pprof.c for heap profiles, profile_pprof.c for thread stacks and
 * CPU profiles).  As in google/pprof, the profile's model is apart from
 * its encoding: a writer says what is in the profile (sample types,
 * functions, locations, mappings, samples, comments), and the builder owns
 * how profile.proto holds it: the string table (index 0 is "", each string
 * once, valid UTF-8), ids, packing with protobuf-c, the check that the
 * packed size is the size announced, gzip, the flush and the stream's error
 * check.
 *
 *     struct hg_pprof *b = hg_pprof_new();
 *     hg_pprof_sample_type(b, "samples", "count");
 *     uint64_t fn = hg_pprof_function(b, "main", "main.c", 10);
 *     ...
 *     int rc = hg_pprof_write(b, out);
 *     hg_pprof_free(b);
 *
 * Strings go into the table in the order they are first given, so a writer
 * that gives them in the same order writes the same bytes.  Ids of
 * functions, locations and mappings are 1, 2, ... in the order they are
 * made.
 *
 * Running out of memory is remembered rather than returned by every call:
 * a call that fails returns 0 (the string "", or no id) and
 * hg_pprof_write() then fails with HG_ENOMEM.  A writer checks once.
 */
#ifndef HG_PPROF_BUILDER_H
#define HG_PPROF_BUILDER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct hg_pprof;

/* NULL when out of memory. */
struct hg_pprof *hg_pprof_new(void);
void hg_pprof_free(struct hg_pprof *b);

/* profile.proto's int64 for a figure: at most INT64_MAX. */
static inline int64_t hg_pprof_i64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* The string's index in the table, added if new (NULL is "").  Bytes that
 * are not UTF-8 (names from the target can hold any) become U+FFFD: strict
 * decoders reject a profile with an invalid string. */
int64_t hg_pprof_string(struct hg_pprof *b, const char *s);

/* The next value of every sample: its type and unit ("inuse_space",
 * "bytes"). */
void hg_pprof_sample_type(struct hg_pprof *b, const char *type, const char *unit);
/* The sample type go tool pprof shows unless told otherwise. */
void hg_pprof_default_sample_type(struct hg_pprof *b, const char *type);
/* What one sampling period is ("wall", "nanoseconds") and its length. */
void hg_pprof_period(struct hg_pprof *b, const char *type, const char *unit, int64_t period);
/* When the profile was taken (epoch ns) and the time it covers. */
void hg_pprof_time(struct hg_pprof *b, int64_t time_nanos, int64_t duration_nanos);
void hg_pprof_comment(struct hg_pprof *b, const char *text);

/* A mapping of the target: [start, limit) of file at offset. */
struct hg_pprof_mapping {
    uint64_t start, limit, offset;
    const char *file;
    const char *build_id;  /* or NULL */
    int symbolized;        /* the profile already has functions, file
                              names, line numbers and inlined frames for it */
};
/* The new mapping's id. */
uint64_t hg_pprof_mapping(struct hg_pprof *b, const struct hg_pprof_mapping *m);
/* Mapping id is the main binary: it is written first (where pprof looks
 * for it), taking the place of the first one, and ids are renumbered. */
void hg_pprof_main_mapping(struct hg_pprof *b, uint64_t id);

/* The id of the function (name, source file, start line), made once:
 * the same three give the same id.  file may be NULL. */
uint64_t hg_pprof_function(struct hg_pprof *b, const char *name, const char *file,
                           int64_t start_line);

/* One line of a location: a function and the line in it. */
struct hg_pprof_line {
    uint64_t function_id;
    int64_t line;
};
/* A new location at address in mapping (0: none), with one line per
 * inlined level, innermost first; its id. */
uint64_t hg_pprof_location(struct hg_pprof *b, uint64_t mapping_id, uint64_t address,
                           const struct hg_pprof_line *lines, size_t nlines);
/* The location that is function alone, without address or mapping (a
 * synthetic frame), made once per function; its id. */
uint64_t hg_pprof_function_location(struct hg_pprof *b, uint64_t function_id);

/* A label: key and str are string indices (str 0 for a numeric label). */
struct hg_pprof_label {
    int64_t key, str, num;
};
/* Locations for code addresses symbolized by target/symbolize (lib/
 * location.h): one mapping per module they fall in (the executable's made
 * the main one), one location per address with a Line per inlined level.
 * The locations get ids 1..n in locs' order. */
struct hg_location;
int hg_pprof_code_locations(struct hg_pprof *b, const struct hg_location *locs, size_t n,
                            const char *exe);

/* A sample: its locations (leaf first), one value per sample type, and its
 * labels. */
void hg_pprof_sample(struct hg_pprof *b, const uint64_t *locations, size_t nlocations,
                     const int64_t *values, const struct hg_pprof_label *labels,
                     size_t nlabels);

/* Encode the profile, gzip it to out and flush out: 0, HG_ENOMEM (now or
 * at any call before), HG_EINTERNAL (protobuf-c packed another size than it
 * announced), or HG_EIO (out failed, or was in error already).  Once. */
int hg_pprof_write(struct hg_pprof *b, FILE *out);

#endif
