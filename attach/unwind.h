/* unwind.h -- call stacks of a stopped target, and symbolized addresses. */
#ifndef HG_UNWIND_H
#define HG_UNWIND_H

#include <stddef.h>
#include <stdint.h>

#include "attach/target.h"

struct hg_unwinder;

/* Create before the stop (it loads the target's modules). */
struct hg_unwinder *hg_unwinder_new(hg_target *t);
void hg_unwinder_free(struct hg_unwinder *u);
/* While the target is stopped: the call stack of t->threads[ti], innermost
 * first, as code addresses (return addresses minus one).  *why says why it
 * stopped early, or NULL.  Call with ti = 0 first after each stop. */
int hg_unwind_thread(struct hg_unwinder *u, size_t ti, uint64_t *pcs, size_t max, size_t *n,
                     const char **why);
uint64_t hg_unwinder_reads(const struct hg_unwinder *u);
/* One word of target memory through u's per-stop page cache, as the
 * unwinder reads it (1, or 0 if unreadable); forget empties the cache.
 * For bench/unwinders, which feeds another unwinder the same way. */
int hg_unwinder_word(struct hg_unwinder *u, uint64_t addr, uint64_t *out);
void hg_unwinder_forget(struct hg_unwinder *u);

/* One source position of an address: a function, and for inlined calls one
 * entry per level, innermost first. */
typedef struct hg_loc_line {
    char *function;     /* demangled; NULL if unknown */
    char *file;
    int line, start_line;
    int inlined;        /* inlined into the next entry */
} hg_loc_line;

typedef struct hg_location {
    uint64_t pc;
    char *module;       /* path, NULL if the address is in no module */
    char *build_id;
    uint64_t module_start;
    uint64_t offset;    /* from the symbol's start */
    hg_loc_line *lines;
    size_t nlines;
} hg_location;

/* Symbolize pc (the target may be running). */
int hg_symbolize(hg_target *t, uint64_t pc, hg_location *loc);
void hg_location_free(hg_location *loc);

#endif
