/*
 * locate.c -- which libc, which version, and where its malloc state is.
 *
 * With debug information: main_arena and mp_ are local symbols of libc's
 * .symtab, struct layouts come from DWARF.  The TLS layout needed to find
 * each thread's tcache comes from the _thread_db_* descriptors glibc
 * exports for libthread_db (present without debug information).
 */
#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "walker/locate.h"

/* Another allocator in the process means glibc's figures would not be the
 * program's: say which one instead. */
static const char *foreign_allocator(hg_target *t)
{
    static const struct {
        const char *prefix, *name;
    } known[] = {
        {"libjemalloc", "jemalloc"}, {"libtcmalloc", "tcmalloc"},
        {"libmimalloc", "mimalloc"}, {"ld-musl", "musl's malloc"},
        {"libc.musl", "musl's malloc"}, {"libhoard", "Hoard"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (hg_module_find(t, known[i].prefix))
            return known[i].name;
    return NULL;
}

/* The 8 bytes at addr in the file of module m, as linked: what a static
 * initialiser put there, whatever the program or a tunable changed since.
 * 0, or -1 if the file cannot be read there. */
static int file_u64(hg_target *t, hg_module *m, uint64_t addr, uint64_t *out)
{
    char *path = hg_target_path(t, hg_module_path(m));
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    free(path);
    if (fd < 0 && (fd = open(t->exe, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    Elf64_Ehdr eh;
    int rc = -1;
    uint64_t va = addr - hg_module_bias(m);
    if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
        eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum < 4096)
        for (unsigned i = 0; i < eh.e_phnum && rc != 0; i++) {
            Elf64_Phdr ph;
            if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) != (ssize_t)sizeof ph)
                break;
            if (ph.p_type == PT_LOAD && va >= ph.p_vaddr && va - ph.p_vaddr + 8 <= ph.p_filesz &&
                pread(fd, out, 8, (off_t)(ph.p_offset + va - ph.p_vaddr)) == 8)
                rc = 0;
        }
    close(fd);
    return rc;
}

/*
 * A static program that never starts a thread links neither glibc's banner
 * nor nptl's version string: nothing in it names its release.  What bears
 * on malloc can still be told, from facts no compiler or distribution
 * changes: the sizes of main_arena and mp_ (the structs' sizes, in the
 * symbol table), and mp_'s initial tcache_max_bytes in the file (1032
 * before 2.42; from 2.42 a chunk size, 1040, or 1041 with 2.43's fix,
 * which Ubuntu's 2.42 has too).  When every release in the
 * range they leave has one malloc layout and heapgrab has checked one of
 * them, the program is read with it and the version is given as that
 * range ("2.35-2.41").
 */
static int static_version(hg_target *t, hg_module *exe, hg_located *r)
{
    char *out = r->version;
    size_t outlen = sizeof r->version;
    uint64_t arena, arena_size = 0, mp, mp_size = 0, max;
    const char *path = hg_module_path(exe);
    if (hg_module_symbol(exe, "main_arena", &arena, &arena_size, NULL) != 0 ||
        hg_module_symbol(exe, "mp_", &mp, &mp_size, NULL) != 0)
        return hg_fail(HG_EUNSUPPORTED, "cannot tell the glibc version of %s (no version string "
                       "linked in, no main_arena and mp_ in its symbol table)", path);
    unsigned lo = 226, hi = 243;
    long max_at = -1;
    if (arena_size == 2112)
        lo = 243;
    else if (arena_size == 2200)
        hi = 242;
    else
        lo = 999;
    if (mp_size == 144)
        lo = lo > 243 ? lo : 243, max_at = 120;
    else if (mp_size == 136)
        lo = lo > 235 ? lo : 235, hi = hi < 242 ? hi : 242, max_at = 112;
    else if (mp_size == 112)
        hi = hi < 234 ? hi : 234, max_at = 88;
    else
        lo = 999;
    if (max_at >= 0 && file_u64(t, exe, mp + (uint64_t)max_at, &max) != 0)
        return hg_fail(HG_EUNSUPPORTED, "cannot tell the glibc version of %s: no version string "
                       "linked in, and mp_ as linked cannot be read from the file", path);
    if (max_at >= 0) {
        if (max == 1032)
            hi = hi < 241 ? hi : 241;
        else if (max == 1040 || max == 1041)
            lo = lo > 242 ? lo : 242;
        else
            lo = 999;
    }
    unsigned v = lo <= hi ? hg_layout_shared(lo, hi) : 0;
    if (!v) {
        if (lo > hi)
            return hg_fail(HG_EUNSUPPORTED, "cannot tell the glibc version of %s: no version string "
                           "linked in, and its malloc (main_arena %" PRIu64 " bytes, mp_ %" PRIu64
                           " bytes) is none heapgrab knows", path, arena_size, mp_size);
        return hg_fail(HG_EUNSUPPORTED, "cannot tell the glibc version of %s: no version string "
                       "linked in, and glibc %u.%02u to %u.%02u, which its malloc could be, differ "
                       "in ways heapgrab cannot check", path, lo / 100, lo % 100, hi / 100, hi % 100);
    }
    r->layout_version = v;
    if (lo == hi)
        snprintf(out, outlen, "%u.%02u", lo / 100, lo % 100);
    else
        snprintf(out, outlen, "%u.%02u-%u.%02u", lo / 100, lo % 100, hi / 100, hi % 100);
    return 0;
}

/* glibc's banner ("... release version 2.36.") sits in libc's rodata. */
static int read_version(hg_target *t, hg_located *r)
{
    hg_module *libc = r->libc;
    char *out = r->version;
    size_t outlen = sizeof r->version;
    const char *path = hg_module_path(libc);
    static const char needle[] = "release version ";
    for (size_t i = 0; i < t->nmaps; i++) {
        const hg_mapping *m = &t->maps[i];
        if (strcmp(m->path, path) != 0 || m->perms[0] != 'r' || m->end - m->start > (64u << 20))
            continue;
        size_t len = m->end - m->start;
        char *buf = malloc(len + 1);
        if (!buf)
            return hg_fail(HG_ENOMEM, "out of memory");
        long n = t->ops->read(t, m->start, buf, len);
        if (n > 0) {
            buf[n] = '\0';
            char *hit = memmem(buf, (size_t)n, needle, sizeof needle - 1);
            while (hit) {
                const char *v = hit + sizeof needle - 1;
                if (hg_glibc_version_number(v)) {
                    size_t k = 0;
                    while (k + 1 < outlen && (v[k] == '.' || (v[k] >= '0' && v[k] <= '9')))
                        out[k] = v[k], k++;
                    while (k && out[k - 1] == '.')
                        k--;
                    out[k] = '\0';
                    free(buf);
                    return 0;
                }
                hit = memmem(hit + 1, (size_t)(buf + n - hit - 1), needle, sizeof needle - 1);
            }
        }
        free(buf);
    }
    /* A static program may not link the banner in; glibc's threads code
     * carries the version: __nptl_version in libc since 2.34, before that
     * nptl_version in libpthread (a local symbol). */
    static const char *const names[] = {"__nptl_version", "nptl_version"};
    for (size_t i = 0; i < 2; i++) {
        uint64_t at;
        char v[16] = {0};
        if (hg_module_symbol(libc, names[i], &at, NULL, NULL) == 0 &&
            hg_read_exact(t, at, v, sizeof v - 1) == 0 && hg_glibc_version_number(v)) {
            snprintf(out, outlen, "%s", v);
            return 0;
        }
    }
    if (!hg_module_find(t, "libc.so.") && !hg_module_find(t, "libc-2."))
        return static_version(t, libc, r);
    return hg_fail(HG_EUNSUPPORTED, "cannot tell the glibc version of %s (no version banner)",
                   path);
}

/* libthread_db descriptor: {size in bits, count, offset}. */
static int thread_db_field(hg_target *t, hg_module *m, const char *name, uint32_t desc[3])
{
    uint64_t addr;
    if (hg_module_symbol(m, name, &addr, NULL, NULL) != 0)
        return HG_ENOTFOUND;
    return hg_read_exact(t, addr, desc, 3 * sizeof(uint32_t));
}

/* l_tls_offset of libc's link_map: walk _r_debug.r_map to the entry whose
 * l_addr is libc's load bias. */
static int find_libc_tls_offset(hg_target *t, hg_located *r)
{
    if (r->is_static) {
        /* The executable is the only module with TLS, placed right below
         * the thread pointer: glibc's __libc_setup_tls gives it the offset
         * roundup(p_memsz, p_align) (x86_64, TLS variant II). */
        uint64_t align = hg_module_tls_align(r->libc), size = r->tls_size;
        if (!size)
            return HG_ENOTFOUND;
        if (align < 1)
            align = 1;
        r->libc_tls_offset = (size + align - 1) / align * align;
        r->have_tls_offset = 1;
        return 0;
    }
    uint32_t off_desc[3];
    /* glibc describes link_map for libthread_db: exported by libc since
     * 2.34; before, local symbols of libpthread (visible with its debug
     * information).  Failing both, the version table knows the offset. */
    hg_module *pt = hg_module_find(t, "libpthread");
    if (thread_db_field(t, r->libc, "_thread_db_link_map_l_tls_offset", off_desc) != 0 &&
        (!pt || thread_db_field(t, pt, "_thread_db_link_map_l_tls_offset", off_desc) != 0)) {
        if (r->L.lm_tls_offset < 0)
            return HG_ENOTFOUND;
        off_desc[2] = (uint32_t)r->L.lm_tls_offset;
    }
    hg_module *ld = hg_module_find(t, "ld-linux");
    if (!ld)
        ld = hg_module_find(t, "ld-");
    uint64_t r_debug;
    if (!ld || hg_module_symbol(ld, "_r_debug", &r_debug, NULL, NULL) != 0)
        return HG_ENOTFOUND;
    uint64_t lm, bias = hg_module_bias(r->libc);
    if (hg_read_u64(t, r_debug + 8, &lm) != 0) /* r_map */
        return HG_ENOTFOUND;
    for (int i = 0; lm && i < 4096; i++) {
        uint64_t l_addr, next;
        if (hg_read_u64(t, lm, &l_addr) != 0 || hg_read_u64(t, lm + 24, &next) != 0)
            return HG_ENOTFOUND;
        if (l_addr == bias) {
            uint64_t v;
            if (hg_read_u64(t, lm + off_desc[2], &v) != 0)
                return HG_ENOTFOUND;
            r->libc_tls_offset = v;
            r->have_tls_offset = 1;
            return 0;
        }
        lm = next;
    }
    return HG_ENOTFOUND;
}


/* ---------------------------------------------------------- heuristics */

/*
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
        char why[512];
        snprintf(why, sizeof why, "%s", hg_error_message());
        free(r->buf);
        return hg_fail(HG_ENOTFOUND, "cannot read %s's data at 0x%" PRIx64 ": %s", path, lo, why);
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

static int locate_heuristic(hg_target *t, hg_located *r)
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

static int locate_symbols(hg_located *r)
{
    if (hg_module_symbol(r->libc, "main_arena", &r->main_arena, NULL, NULL) != 0 ||
        hg_module_symbol(r->libc, "mp_", &r->mp, NULL, NULL) != 0) {
        const char *bid = hg_module_build_id(r->libc);
        return hg_fail(HG_ENOTFOUND,
                       "no debug symbols for %s (build-id %s): install them (Debian: "
                       "apt-get install libc6-dbg) or set DEBUGINFOD_URLS",
                       hg_module_path(r->libc), bid ? bid : "unknown");
    }
    unsigned v = r->layout_version ? r->layout_version : hg_glibc_version_number(r->version);
    int rc = hg_layout_from_dwarf(r->libc, v, &r->L);
    if (rc == HG_EUNSUPPORTED)
        return rc;
    if (rc != 0 && (rc = hg_layout_from_table(v, &r->L)) != 0)
        return rc;
    int tls;
    if (hg_module_symbol(r->libc, "tcache", &r->tcache_var, NULL, &tls) == 0 && tls)
        r->have_tcache_var = 1;
    if (hg_module_symbol(r->libc, "thread_arena", &r->thread_arena_var, NULL, &tls) == 0 && tls)
        r->have_thread_arena_var = 1;
    r->how = "symbols";
    return 0;
}

/* What the executable's readable mappings hold, as far as telling what
 * allocator it has goes. */
enum { HAS_GO = 1, HAS_GLIBC_MALLOC = 2 };

static unsigned exe_evidence(hg_target *t, hg_module *exe)
{
    /* Go's build information (.go.buildinfo) and build ID note; two of
     * glibc malloc's error messages, in every release from 2.26 on */
    static const struct {
        const char *text;
        size_t len;
        unsigned what;
    } marks[] = {
        {"\xff Go buildinf:", 14, HAS_GO},
        {"Go build ID: \"", 14, HAS_GO},
        {"free(): invalid pointer", 23, HAS_GLIBC_MALLOC},
        {"corrupted size vs. prev_size", 28, HAS_GLIBC_MALLOC},
    };
    unsigned found = 0, glibc_marks = 0;
    const char *path = exe ? hg_module_path(exe) : t->exe;
    for (size_t i = 0; i < t->nmaps; i++) {
        const hg_mapping *m = &t->maps[i];
        if (strcmp(m->path, path) != 0 || m->perms[0] != 'r' || m->end - m->start > (64u << 20))
            continue;
        size_t len = m->end - m->start;
        char *buf = malloc(len);
        if (!buf)
            break;
        long n = t->ops->read(t, m->start, buf, len);
        for (size_t k = 0; n > 0 && k < sizeof marks / sizeof marks[0]; k++)
            if (memmem(buf, (size_t)n, marks[k].text, marks[k].len)) {
                found |= marks[k].what;
                glibc_marks += marks[k].what == HAS_GLIBC_MALLOC;
            }
        free(buf);
    }
    if (glibc_marks < 2)
        found &= ~(unsigned)HAS_GLIBC_MALLOC;
    return found;
}

/*
 * No libc.so in the process: what its executable has linked in decides.
 * glibc's malloc is named in the symbol table (main_arena and mp_; musl
 * has a __libc_malloc too) or, stripped, known by its error messages.  Go
 * and musl programs bring allocators of their own: not glibc malloc.
 */
static int static_malloc(hg_target *t, hg_located *r)
{
    hg_module *exe = hg_module_find(t, NULL);
    uint64_t a;
    if (exe && hg_module_symbol(exe, "main_arena", &a, NULL, NULL) == 0 &&
        hg_module_symbol(exe, "mp_", &a, NULL, NULL) == 0) {
        r->libc = exe;
        r->is_static = 1;
        return 0;
    }
    unsigned has = exe_evidence(t, exe);
    if (has & HAS_GO)
        return hg_fail(HG_ENOTGLIBC, "process %d is a Go program (%s): Go's own allocator, not "
                       "glibc malloc", t->process_id, t->exe);
    if (exe && hg_module_symbol(exe, "__init_libc", &a, NULL, NULL) == 0 &&
        hg_module_symbol(exe, "__libc", &a, NULL, NULL) == 0)
        return hg_fail(HG_ENOTGLIBC, "process %d is a musl program (musl libc is linked into %s): "
                       "musl's malloc, not glibc's", t->process_id, t->exe);
    int stripped = !exe || (hg_module_symbol(exe, "main", &a, NULL, NULL) != 0 &&
                            hg_module_symbol(exe, "_start", &a, NULL, NULL) != 0);
    if (has & HAS_GLIBC_MALLOC)
        return hg_fail(HG_EUNSUPPORTED, "%s is statically linked with glibc's malloc (its error "
                       "messages are in it) but %s: heapgrab needs main_arena and mp_ from its "
                       "symbol table", t->exe, stripped ? "stripped" : "without malloc's symbols");
    return hg_fail(HG_ENOTGLIBC, "process %d does not use glibc malloc: no libc.so.6 is loaded "
                   "and %s, statically linked, has no glibc malloc in it%s", t->process_id,
                   t->exe, stripped ? " (stripped: none of glibc malloc's error messages)" : "");
}

int hg_locate(hg_target *t, int mode, hg_located *r)
{
    memset(r, 0, sizeof *r);
    r->libc = hg_module_find(t, "libc.so.");
    if (!r->libc)
        r->libc = hg_module_find(t, "libc-2.");
    const char *other = foreign_allocator(t);
    if (other)
        return hg_fail(HG_ENOTGLIBC, "process %d uses %s, not glibc malloc", t->process_id, other);
    if (!r->libc) {
        int rc = static_malloc(t, r);
        if (rc)
            return rc;
    }
    int rc = read_version(t, r);
    if (rc)
        return rc;
    unsigned v = r->layout_version ? r->layout_version : hg_glibc_version_number(r->version);
    if (v < 226)
        return hg_fail(HG_EUNSUPPORTED, "glibc %s is too old: heapgrab needs 2.26 or later",
                       r->version);

    if (mode == HG_LOCATE_HEURISTIC) {
        rc = locate_heuristic(t, r);
    } else {
        rc = locate_symbols(r);
        if (rc == HG_ENOTFOUND && mode == HG_LOCATE_AUTO) {
            char why[512];
            snprintf(why, sizeof why, "%s", hg_error_message());
            rc = locate_heuristic(t, r);
            if (rc == HG_ENOTFOUND || rc == HG_EUNSUPPORTED) {
                char without[512];
                snprintf(without, sizeof without, "%s", hg_error_message());
                hg_fail(rc, "%s; without them: %s", why, without);
            }
        }
    }
    if (rc)
        return rc;
    r->tls_size = hg_module_tls_size(r->libc);
    find_libc_tls_offset(t, r);
    return 0;
}
