/*
 * locate_heuristic.c -- main_arena and mp_ without libc's symbols.
 *
 * Without debug information main_arena and mp_ are found by what they look
 * like, inside libc's writable data (both are initialised, so in .data):
 *
 *  main_arena: every empty bin points at itself, fd == bk == bin_at(i), and
 *    a random word pair essentially never does; the other bins point at
 *    16-aligned heap memory; top lies in a writable mapping; the ring of
 *    next pointers returns to the candidate.
 *  mp_: sbrk_base equals top + size(top) - system_mem of that main_arena
 *    (the main arena is contiguous from sbrk_base), and what no setting can
 *    change holds (mp_like).
 *
 * Exactly one candidate must survive, else heapgrab refuses to guess.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "walker/locate_internal.h"

/* A copy of target memory: libc's writable data and the .bss after it. */
struct region {
    uint64_t start;
    unsigned char *buf;
    size_t len;
};

static int writable(hg_target *t, uint64_t addr)
{
    const hg_mapping *m = hg_find_mapping(t, addr);
    return m && m->perms[1] == 'w';
}

static int read_libc_data(hg_target *t, hg_module *libc, struct region *r)
{
    const char *path = hg_module_path(libc);
    uint64_t lo = 0, hi = 0;
    for (size_t i = 0; i < t->nmaps; i++) {
        const hg_mapping *m = &t->maps[i];
        if (strcmp(m->path, path) == 0 && m->perms[1] == 'w') {
            if (!lo)
                lo = m->start;
            hi = m->end;
        }
    }
    /* .bss continues in the anonymous memory right after: one run of
     * mappings, split or not (a static program's can be huge: main_arena
     * and mp_ are initialised data, so a .bss that would pass the limit is
     * left out) */
    const hg_mapping *bss = lo ? hg_find_mapping(t, hi) : NULL;
    if (bss && hg_mapping_is_anon(bss) && bss->perms[1] == 'w' &&
        hg_mapping_run_end(t, hi) - lo <= (16u << 20))
        hi = hg_mapping_run_end(t, hi);
    if (!lo || hi - lo > (16u << 20))
        return hg_fail(HG_ENOTFOUND, "no writable data mapping of %s", path);
    r->start = lo;
    r->len = hi - lo;
    r->buf = malloc(r->len);
    if (!r->buf)
        return hg_fail(HG_ENOMEM, "out of memory");
    long n = t->ops->read(t, lo, r->buf, r->len);
    if (n <= 0) {
        free(r->buf);
        return hg_fail_wrap(HG_ENOTFOUND, "cannot read %s's data at 0x%" PRIx64, path, lo);
    }
    r->len = (size_t)n;
    return 0;
}

static uint64_t get64(const struct region *r, size_t off)
{
    uint64_t v;
    memcpy(&v, r->buf + off, 8);
    return v;
}

static int arena_ring_closes(hg_target *t, const hg_layout *L, uint64_t a0, uint64_t next)
{
    for (int i = 0; i < 4096; i++) {
        if (next == a0)
            return 1;
        if ((next & 7) || !writable(t, next) || hg_read_u64(t, next + L->st_next, &next))
            return 0;
    }
    return 0;
}

static int main_arena_like(hg_target *t, const hg_layout *L, const struct region *r, size_t off)
{
    uint64_t a = r->start + off;
    unsigned empty = 0;
    for (unsigned i = 1; i < L->nbins; i++) {
        size_t b = off + (size_t)L->st_bins + (i - 1) * 16;
        uint64_t fd = get64(r, b), bk = get64(r, b + 8);
        uint64_t self = a + (uint64_t)L->st_bins + (i - 1) * 16 - 16;
        if (fd == self && bk == self)
            empty++;
        else if (fd == self || bk == self || (fd & 15) || (bk & 15) || !writable(t, fd) ||
                 !writable(t, bk))
            return 0;
    }
    if (empty == 0)
        return 0;
    uint32_t mutex, flags;
    memcpy(&mutex, r->buf + off + L->st_mutex, 4);
    memcpy(&flags, r->buf + off + L->st_flags, 4);
    if (mutex > 2 || flags > 7)
        return 0;
    /* Until the arena's first heap, top is glibc's initial_top: the arena's
     * own unsorted bin header (not 16-aligned from 2.43, where bins start
     * at 24) -- a program whose every chunk so far was mmapped. */
    uint64_t top = get64(r, off + (size_t)L->st_top);
    if (top != a + (uint64_t)L->st_bins - 16 && (!top || (top & 15) || !writable(t, top)))
        return 0;
    for (unsigned i = 0; i < L->nfastbins; i++) {
        uint64_t f = get64(r, off + (size_t)L->st_fastbins + 8 * i);
        if (f && ((f & 15) || !writable(t, f)))
            return 0;
    }
    return arena_ring_closes(t, L, a, get64(r, off + (size_t)L->st_next));
}

/*
 * mp_ is recognised only by what holds whatever the program did to it --
 * mallopt(), GLIBC_TUNABLES, or the dynamic threshold glibc raises itself
 * when an mmapped chunk is freed -- in every release handled (malloc.c of
 * 2.26 to 2.43):
 *
 *  - sbrk_base is where the main arena starts;
 *  - the mmap counters move together: every mmapped chunk adds to n_mmaps
 *    and mmapped_mem (whole pages) and raises max_n_mmaps and
 *    max_mmapped_mem to them, every munmap takes from the first two;
 *  - no_dyn_threshold is 0 or 1, and stays 0 only while neither mallopt
 *    nor a tunable has set trim_threshold, top_pad, mmap_threshold or
 *    mmap_max: the thresholds are then glibc's defaults (both 128 KiB) or
 *    what the dynamic raise left (mmap_threshold the size of a freed chunk,
 *    from 128 KiB to DEFAULT_MMAP_THRESHOLD_MAX, trim_threshold twice it),
 *    and n_mmaps_max is DEFAULT_MMAP_MAX;
 *  - arena_test is at least 1 (mallopt and the tunable refuse 0);
 *  - the tcache settings agree with each other.
 *
 * glibc updates the counters one at a time without a lock, so a process
 * stopped between two such stores fails this and heapgrab refuses instead
 * of guessing.
 */
static int mp_like(const hg_layout *L, const struct region *r, size_t off, uint64_t sbrk_base)
{
    if (get64(r, off + (size_t)L->mp_sbrk_base) != sbrk_base)
        return 0;
    int32_t n_mmaps, max_n_mmaps, n_mmaps_max, no_dyn;
    memcpy(&n_mmaps, r->buf + off + L->mp_n_mmaps, 4);
    memcpy(&max_n_mmaps, r->buf + off + L->mp_max_n_mmaps, 4);
    memcpy(&n_mmaps_max, r->buf + off + L->mp_n_mmaps_max, 4);
    memcpy(&no_dyn, r->buf + off + L->mp_no_dyn_threshold, 4);
    uint64_t mmapped = get64(r, off + (size_t)L->mp_mmapped_mem);
    uint64_t max_mmapped = get64(r, off + (size_t)L->mp_max_mmapped_mem);
    if (n_mmaps < 0 || n_mmaps > max_n_mmaps || (n_mmaps == 0) != (mmapped == 0) ||
        mmapped > max_mmapped || (max_n_mmaps == 0) != (max_mmapped == 0) ||
        ((mmapped | max_mmapped) & 4095))
        return 0;
    if (no_dyn != 0 && no_dyn != 1)
        return 0;
    if (no_dyn == 0) {
        uint64_t mmap_thr = get64(r, off + (size_t)L->mp_mmap_threshold);
        uint64_t trim_thr = get64(r, off + (size_t)L->mp_trim_threshold);
        const uint64_t dflt = 128u << 10, max = 32u << 20;
        if (n_mmaps_max != 65536)
            return 0;
        if (!(mmap_thr == dflt && trim_thr == dflt) &&
            !(mmap_thr >= dflt && mmap_thr <= max && trim_thr == 2 * mmap_thr))
            return 0;
    }
    if (get64(r, off + (size_t)L->mp_arena_test) < 1)
        return 0;
    if (L->mp_tcache_bins >= 0 && L->mp_tcache_max_bytes >= 0 && L->tc_bins <= L->tc_small_bins) {
        /* glibc derives one from the other, tunables or not:
         * tcache_bins = csize2tidx(request2size(tcache_max_bytes)) + 1 */
        uint64_t bins = get64(r, off + (size_t)L->mp_tcache_bins);
        uint64_t max = get64(r, off + (size_t)L->mp_tcache_max_bytes);
        if (bins < 1 || bins > 64 || max > 64 * 16 + 8)
            return 0;
        uint64_t chunk = max + 8 + 15 < 32 ? 32 : (max + 8 + 15) & ~15ull;
        if ((chunk - 17) / 16 + 1 != bins)
            return 0;
    } else if (L->mp_tcache_bins >= 0 && L->mp_tcache_max_bytes >= 0) {
        /* 2.42+: tcache_max_bytes is a chunk size (2.43: plus one, as the
         * test became 'nb < max'), at most the last large bin's 4 MiB;
         * tcache_small_bins is its bin + 1 when it is a small size, else
         * all 64.  tcache_count fits num_slots' uint16. */
        uint64_t bins = get64(r, off + (size_t)L->mp_tcache_bins);
        uint64_t max = get64(r, off + (size_t)L->mp_tcache_max_bytes);
        uint64_t chunk = max & ~15ull;
        if (bins < 1 || bins > L->tc_small_bins || max - chunk > 1 || chunk < 32 ||
            chunk > (4ull << 20))
            return 0;
        if (chunk <= 0x410 ? (chunk - 32) / 16 + 1 != bins : bins != L->tc_small_bins)
            return 0;
        if (L->mp_tcache_count >= 0 && get64(r, off + (size_t)L->mp_tcache_count) > 65535)
            return 0;
    }
    return 1;
}

int locate_heuristic(hg_target *t, hg_located *r)
{
    unsigned v = r->layout_version ? r->layout_version : hg_glibc_version_number(r->version);
    int rc = hg_layout_from_table(v, &r->L);
    if (rc)
        return rc;
    const hg_layout *L = &r->L;
    struct region reg = {0};
    if ((rc = read_libc_data(t, r->libc, &reg)) != 0)
        return rc;
    unsigned found = 0;
    for (size_t off = 0; off + L->state_size <= reg.len; off += 8)
        if (main_arena_like(t, L, &reg, off)) {
            found++;
            r->main_arena = reg.start + off;
        }
    if (found != 1) {
        free(reg.buf);
        if (found)
            return hg_fail(HG_ENOTFOUND,
                           "%u places in %s look like main_arena: refusing to guess; "
                           "install the libc debug symbols", found, hg_module_path(r->libc));
        return hg_fail(HG_ENOTFOUND,
                       "main_arena not found in %s's data: install the libc debug symbols",
                       hg_module_path(r->libc));
    }
    /* The main arena is one contiguous piece from sbrk_base to its top's end. */
    size_t aoff = (size_t)(r->main_arena - reg.start);
    uint64_t top = get64(&reg, aoff + (size_t)L->st_top), top_size = 0;
    uint64_t system_mem = get64(&reg, aoff + (size_t)L->st_system_mem);
    hg_read_u64(t, top + 8, &top_size);
    /* Before the main arena's first sbrk, top is glibc's initial_top (inside
     * main_arena), system_mem is 0 and so is sbrk_base. */
    uint64_t sbrk_base = system_mem ? top + (top_size & ~7ull) - system_mem : 0;
    found = 0;
    for (size_t off = 0; off + L->par_size <= reg.len; off += 8)
        if (mp_like(L, &reg, off, sbrk_base)) {
            found++;
            r->mp = reg.start + off;
        }
    free(reg.buf);
    if (found != 1)
        return hg_fail(HG_ENOTFOUND,
                       "%u candidates for mp_ in %s: refusing to guess; install the libc "
                       "debug symbols", found, hg_module_path(r->libc));
    r->how = "heuristic";
    return 0;
}
