/*
 * layout.h -- where glibc keeps things, per version (x86_64).
 *
 * Offsets come from the target's libc DWARF when it has debug information,
 * otherwise from the table in layout.c.  Everything the walker reads out of
 * a malloc_state, malloc_par, heap_info or tcache_perthread_struct goes
 * through this struct, never through a constant.
 */
#ifndef HG_LAYOUT_H
#define HG_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "target/target.h"

/* The newest glibc whose malloc heapgrab has checked (2.44); newer ones are
 * refused by name, with or without debug information. */
#define HG_GLIBC_NEWEST 244

typedef struct hg_layout {
    unsigned version;          /* 236 for 2.36 */
    const char *source;        /* "dwarf" or "table" */

    /* struct malloc_state */
    size_t state_size;
    long st_mutex, st_flags, st_fastbins, st_top, st_bins, st_next,
        st_system_mem;
    unsigned nfastbins;        /* 10; 0 where fastbins are gone (2.43) */
    unsigned nbins;            /* NBINS = 128 */

    /* struct malloc_par */
    size_t par_size;
    long mp_mmap_threshold, mp_n_mmaps, mp_mmapped_mem, mp_sbrk_base, mp_tcache_bins,
        mp_tcache_max_bytes, mp_tcache_count, mp_hp_pagesize;
    /* what only the heuristics read (-1 where unknown) */
    long mp_trim_threshold, mp_arena_test, mp_n_mmaps_max, mp_max_n_mmaps,
        mp_no_dyn_threshold, mp_max_mmapped_mem;

    /* heap_info */
    size_t heap_info_size;
    long hi_ar_ptr, hi_prev, hi_size;
    uint64_t heap_max_size;    /* HEAP_MAX_SIZE: heaps are aligned to it */

    /* tcache_perthread_struct */
    size_t tcache_size;
    long tc_counts, tc_entries;
    unsigned tc_count_bytes;   /* 1 before 2.30, 2 after */
    unsigned tc_bins;          /* TCACHE_MAX_BINS: 64, 76 from 2.42 */
    unsigned tc_small_bins;    /* bins of one chunk size each (64); from
                                * 2.42 the rest hold power-of-two ranges
                                * of larger chunks, sorted by size */
    int tc_slots;              /* 2.42+: the uint16 array is num_slots, the
                                * room left (tcache_count - entries), not
                                * the number of entries */

    int safe_linking;          /* 2.32+: PROTECT_PTR on fd / next */
    int mmap_tail;             /* 2.43+: an mmapped chunk ends 16 bytes before
                                * its mapping (size = map - offset - 16),
                                * usable = size - 8, and prev_size's bit 0
                                * marks huge pages; before, size = map -
                                * offset and usable = size - 16 */

    /* struct link_map's l_tls_offset (ld.so), -1 if unknown: needed only
     * where glibc's _thread_db_* descriptors are not visible (before 2.34
     * they are local symbols of libpthread). */
    long lm_tls_offset;
} hg_layout;

/* Parse "2.36" into 236; 0 if not a version. */
unsigned hg_glibc_version_number(const char *s);

/* Fill from the built-in table.  Returns 0, or HG_EUNSUPPORTED. */
int hg_layout_from_table(unsigned version, hg_layout *out);

/* When only a range of releases is known (a static program that links no
 * version string): the one release from lo to hi that heapgrab has
 * checked, if every release there has its malloc layout; else 0. */
unsigned hg_layout_shared(unsigned lo, unsigned hi);

/* Fill from the DWARF of module m (the target's libc).  Returns 0, or
 * HG_ENOTFOUND when the debug information does not describe malloc. */
int hg_layout_from_dwarf(hg_module *m, unsigned version, hg_layout *out);

#endif
