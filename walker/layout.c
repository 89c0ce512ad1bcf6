/* layout.c -- glibc malloc struct layouts: from DWARF, or from this table. */
#include <stdio.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "walker/layout.h"

unsigned hg_glibc_version_number(const char *s)
{
    unsigned major, minor;
    if (sscanf(s, "%u.%u", &major, &minor) != 2 || major != 2 || minor > 99)
        return 0;
    return major * 100 + minor;
}

/* Facts common to every version handled (x86_64, 64-bit size_t). */
static void common(unsigned version, hg_layout *l)
{
    l->version = version;
    l->nbins = 128;
    l->heap_max_size = 64ull << 20; /* 2 * DEFAULT_MMAP_THRESHOLD_MAX */
    l->safe_linking = version >= 232;
    l->mmap_tail = version >= 243;
    l->tc_count_bytes = version >= 230 ? 2 : 1;
    l->tc_small_bins = 64;
    l->tc_bins = version >= 242 ? 76 : 64;
    l->tc_slots = version >= 242;
}

/*
 * The table.  Only layouts checked against a real libc's DWARF are marked
 * verified; the walker refuses the others without debug information rather
 * than print figures that might be wrong.
 *
 *   2.26-2.41  malloc_state: mutex 0, flags 4, have_fastchunks 8,
 *              fastbinsY[10] 16, top 96, last_remainder 104, bins 112,
 *              binmap 2144, next 2160, next_free 2168, attached_threads 2176,
 *              system_mem 2184, max_system_mem 2192; size 2200.
 *   < 2.35     malloc_par without thp_pagesize/hp_pagesize/hp_flags;
 *              heap_info 32 bytes.
 *   2.35+      malloc_par gains thp_pagesize, hp_pagesize, hp_flags (n_mmaps
 *              moves from 40 to 60); heap_info gains pagesize (48 bytes).
 *   2.42       tcache: uint16 num_slots[76] (free room, not entries), then
 *              entries[76]; bins 64-75 hold larger chunks sorted by size;
 *              malloc_par's tcache_bins renamed tcache_small_bins.
 *   2.43       no fastbins: malloc_state is mutex 0, flags 4, top 8,
 *              last_remainder 16, bins 24, binmap 2056, next 2072,
 *              next_free 2080, attached_threads 2088, system_mem 2096,
 *              max_system_mem 2104; size 2112.  malloc_par gains thp_mode
 *              at 40, moving everything after arena_max by 8 (size 144).
 *              A thread without a tcache points at a zeroed dummy in
 *              libc's rodata instead of NULL.
 *   2.44       malloc_state, heap_info and the tcache as in 2.43; malloc_par
 *              loses tcache_unsorted_limit, its last field (size 136, every
 *              offset as in 2.43).
 */
struct table_row {
    unsigned from, to;
    int verified;
    long lm_tls_offset;
};
static const struct table_row rows[] = {
    {231, 231, 1, 1104}, /* Debian 11 libc6-dbg 2.31-13: ptype /o */
    {232, 234, 0, -1},
    {235, 235, 1, -1},   /* Ubuntu 22.04 libc6-dbg 2.35-0ubuntu3 */
    {236, 236, 1, 1144}, /* Debian 12 libc6-dbg 2.36-9: ptype /o */
    {237, 238, 0, -1},
    {239, 239, 1, -1},   /* Ubuntu 24.04 libc6-dbg 2.39-0ubuntu8 */
    {240, 240, 0, -1},
    {241, 241, 1, 1160}, /* Debian 13 libc6-dbg 2.41-12: same malloc layouts as 2.36 */
    {242, 242, 1, -1},   /* Ubuntu 25.10 libc6-dbg 2.42-0ubuntu3 */
    {243, 243, 1, -1},   /* Debian sid libc6-dbg 2.43-7: ptype /o */
    {244, 244, 1, -1},   /* Debian experimental libc6-dbg 2.44-3: ptype /o */
};
#define NEWEST HG_GLIBC_NEWEST

static const struct table_row *row_for(unsigned version)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (version >= rows[i].from && version <= rows[i].to)
            return &rows[i];
    return NULL;
}

/* Releases after the newest one known may change malloc in ways no layout
 * shows (2.42 changed how the tcache counts, 2.43 removed the fastbins):
 * refuse them by name, debug information or not. */
static int too_new(unsigned version)
{
    if (version <= NEWEST)
        return 0;
    return hg_fail(HG_EUNSUPPORTED,
                   "glibc %u.%02u is newer than heapgrab knows: heapgrab supports 2.26 to %u.%02u",
                   version / 100, version % 100, NEWEST / 100, NEWEST % 100);
}

/* The table's layout for a version, checked or not. */
static void fill(unsigned version, const struct table_row *row, hg_layout *l)
{
    memset(l, 0, sizeof *l);
    common(version, l);
    l->source = "table";
    l->lm_tls_offset = row ? row->lm_tls_offset : -1;
    l->st_mutex = 0;
    l->st_flags = 4;
    l->mp_mmap_threshold = 16;
    if (version >= 243) {
        l->state_size = 2112;
        l->st_fastbins = -1;
        l->nfastbins = 0;
        l->st_top = 8;
        l->st_bins = 24;
        l->st_next = 2072;
        l->st_system_mem = 2096;
    } else {
        l->state_size = 2200;
        l->st_fastbins = 16;
        l->nfastbins = 10;
        l->st_top = 96;
        l->st_bins = 112;
        l->st_next = 2160;
        l->st_system_mem = 2184;
    }
    if (version >= 243) {
        l->par_size = version >= 244 ? 136 : 144;
        l->mp_hp_pagesize = 56;
        l->mp_n_mmaps = 68;
        l->mp_mmapped_mem = 88;
        l->mp_sbrk_base = 104;
        l->mp_tcache_bins = 112;
        l->mp_tcache_max_bytes = 120;
        l->mp_tcache_count = 128;
        l->heap_info_size = 48;
    } else if (version >= 235) {
        l->par_size = 136;
        l->mp_hp_pagesize = 48;
        l->mp_n_mmaps = 60;
        l->mp_mmapped_mem = 80;
        l->mp_sbrk_base = 96;
        l->mp_tcache_bins = 104;
        l->mp_tcache_max_bytes = 112;
        l->mp_tcache_count = 120;
        l->heap_info_size = 48;
    } else {
        l->par_size = 112;
        l->mp_hp_pagesize = -1;
        l->mp_n_mmaps = 40;
        l->mp_mmapped_mem = 56;
        l->mp_sbrk_base = 72;
        l->mp_tcache_bins = 80;
        l->mp_tcache_max_bytes = 88;
        l->mp_tcache_count = 96;
        l->heap_info_size = 32;
    }
    /* In every release: trim_threshold first, arena_test at 24; n_mmaps,
     * n_mmaps_max, max_n_mmaps and no_dyn_threshold are consecutive ints;
     * max_mmapped_mem follows mmapped_mem. */
    l->mp_trim_threshold = 0;
    l->mp_arena_test = 24;
    l->mp_n_mmaps_max = l->mp_n_mmaps + 4;
    l->mp_max_n_mmaps = l->mp_n_mmaps + 8;
    l->mp_no_dyn_threshold = l->mp_n_mmaps + 12;
    l->mp_max_mmapped_mem = l->mp_mmapped_mem + 8;
    l->hi_ar_ptr = 0;
    l->hi_prev = 8;
    l->hi_size = 16;
    l->tcache_size = l->tc_bins * (2 + 8);
    l->tc_counts = 0;
    l->tc_entries = l->tc_bins * 2;
}

int hg_layout_from_table(unsigned version, hg_layout *l)
{
    if (too_new(version))
        return HG_EUNSUPPORTED;
    const struct table_row *row = row_for(version);
    if (!row || !row->verified)
        return hg_fail(HG_EUNSUPPORTED,
                       "glibc %u.%02u without debug information is not supported yet: "
                       "install the libc debug symbols (Debian: libc6-dbg)",
                       version / 100, version % 100);
    fill(version, row, l);
    return 0;
}

unsigned hg_layout_shared(unsigned lo, unsigned hi)
{
    if (lo < 226 || hi > NEWEST || lo > hi)
        return 0;
    unsigned checked = 0;
    hg_layout first, l;
    for (unsigned v = lo; v <= hi; v++) {
        const struct table_row *row = row_for(v);
        fill(v, row, &l);
        /* what tells releases apart without bearing on malloc's memory */
        l.version = 0;
        l.lm_tls_offset = 0;
        if (v == lo)
            memcpy(&first, &l, sizeof l);
        else if (memcmp(&first, &l, sizeof l) != 0)
            return 0;
        if (!checked && row && row->verified)
            checked = v;
    }
    return checked;
}

int hg_layout_from_dwarf(hg_module *m, unsigned version, hg_layout *l)
{
    if (too_new(version))
        return HG_EUNSUPPORTED;
    memset(l, 0, sizeof *l);
    common(version, l);
    l->source = "dwarf";
    const struct table_row *row = row_for(version);
    l->lm_tls_offset = row && row->verified ? row->lm_tls_offset : -1;

    static const char *const st_names[] = {"mutex", "flags", "fastbinsY", "top",
                                           "bins", "next", "system_mem"};
    long st[7];
    if (hg_module_struct(m, "malloc_state", &l->state_size, st_names, st, 7) != 0)
        return HG_ENOTFOUND;
    l->st_mutex = st[0];
    l->st_flags = st[1];
    l->st_fastbins = st[2];
    l->st_top = st[3];
    l->st_bins = st[4];
    l->st_next = st[5];
    l->st_system_mem = st[6];
    /* fastbinsY runs up to top; gone entirely in 2.43. */
    l->nfastbins = l->st_fastbins >= 0 && l->st_top > l->st_fastbins
                       ? (unsigned)((l->st_top - l->st_fastbins) / 8)
                       : 0;

    static const char *const mp_names[] = {"n_mmaps", "mmapped_mem", "sbrk_base",
                                           "tcache_bins", "tcache_max_bytes",
                                           "tcache_count", "hp_pagesize", "mmap_threshold",
                                           "tcache_small_bins", "trim_threshold",
                                           "arena_test", "n_mmaps_max", "max_n_mmaps",
                                           "no_dyn_threshold", "max_mmapped_mem"};
    long mp[15];
    if (hg_module_struct(m, "malloc_par", &l->par_size, mp_names, mp, 15) != 0)
        return HG_ENOTFOUND;
    l->mp_trim_threshold = mp[9];
    l->mp_arena_test = mp[10];
    l->mp_n_mmaps_max = mp[11];
    l->mp_max_n_mmaps = mp[12];
    l->mp_no_dyn_threshold = mp[13];
    l->mp_max_mmapped_mem = mp[14];
    if (mp[3] < 0)
        mp[3] = mp[8]; /* renamed in 2.42 */
    l->mp_n_mmaps = mp[0];
    l->mp_mmapped_mem = mp[1];
    l->mp_sbrk_base = mp[2];
    l->mp_tcache_bins = mp[3];
    l->mp_tcache_max_bytes = mp[4];
    l->mp_tcache_count = mp[5];
    l->mp_hp_pagesize = mp[6];
    l->mp_mmap_threshold = mp[7];

    static const char *const hi_names[] = {"ar_ptr", "prev", "size"};
    long hi[3];
    if (hg_module_struct(m, "_heap_info", &l->heap_info_size, hi_names, hi, 3) != 0)
        return HG_ENOTFOUND;
    l->hi_ar_ptr = hi[0];
    l->hi_prev = hi[1];
    l->hi_size = hi[2];

    static const char *const tc_names[] = {"counts", "entries", "num_slots"};
    long tc[3];
    int have_tc = hg_module_struct(m, "tcache_perthread_struct", &l->tcache_size, tc_names, tc, 3) == 0;
    /* The array's name says how it counts: counts (entries) before 2.42,
     * num_slots (room left) after. */
    if (have_tc && tc[0] < 0 && tc[2] >= 0) {
        tc[0] = tc[2];
        l->tc_slots = 1;
    } else if (have_tc && tc[0] >= 0) {
        l->tc_slots = 0;
    }
    if (have_tc && tc[0] >= 0 && tc[1] > tc[0]) {
        l->tc_counts = tc[0];
        l->tc_entries = tc[1];
        /* counts[B] then entries[B]: size = B * (count_bytes + 8). */
        size_t per = l->tcache_size / (l->tc_count_bytes + 8);
        if (per > 0 && per * (l->tc_count_bytes + 8) == l->tcache_size)
            l->tc_bins = (unsigned)per;
    } else {
        l->tcache_size = 0; /* built without tcache */
    }

    for (int i = 0; i < 7; i++)
        if (st[i] < 0 && i != 2)
            return HG_ENOTFOUND;
    if (mp[0] < 0 || mp[1] < 0 || mp[2] < 0 || hi[0] < 0 || hi[1] < 0 || hi[2] < 0)
        return HG_ENOTFOUND;
    return 0;
}
