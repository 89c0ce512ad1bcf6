/* symbolize.h -- what an address of a target means (symbolize.c). */
#ifndef HG_SYMBOLIZE_H
#define HG_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#include "target/target.h"

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

/* Symbolize pc (the target may be running).  Returns 0: an address in no
 * module, or one heapgrab cannot name, gives a location without lines. */
int hg_symbolize(hg_target *t, uint64_t pc, hg_location *loc);
void hg_location_free(hg_location *loc);

#endif
