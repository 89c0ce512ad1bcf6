/* location.h -- what an address of a target's code means, as the
 * symbolizer (target/symbolize.c) finds it and the profile writers read it. */
#ifndef HG_LOCATION_H
#define HG_LOCATION_H

#include <stddef.h>
#include <stdint.h>

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

void hg_location_free(hg_location *loc);

#endif
