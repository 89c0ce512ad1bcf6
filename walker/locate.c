/*
 * locate.c -- which libc, which version, and where its malloc state is.
 *
 * With debug information: main_arena and mp_ are local symbols of libc's
 * .symtab, struct layouts come from DWARF.  Without: by their structure
 * (locate_heuristic.c).  A program without libc.so has glibc linked in, or
 * another allocator (locate_static.c).  The TLS layout needed to find
 * each thread's tcache comes from the _thread_db_* descriptors glibc
 * exports for libthread_db (present without debug information); the
 * tcache's own slot, without symbols, is found at the stop (tls.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "walker/locate_internal.h"

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
        return static_version(libc, r);
    return hg_fail(HG_EUNSUPPORTED, "cannot tell the glibc version of %s (no version banner)",
                   path);
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
    if (hg_thread_db_field(t, r->libc, "_thread_db_link_map_l_tls_offset", off_desc) != 0 &&
        (!pt || hg_thread_db_field(t, pt, "_thread_db_link_map_l_tls_offset", off_desc) != 0)) {
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
            /* both reasons are given: this one is kept while the
             * heuristics make theirs, which hg_fail_wrap appends */
            char with_symbols[512];
            snprintf(with_symbols, sizeof with_symbols, "%s", hg_error_message());
            rc = locate_heuristic(t, r);
            if (rc == HG_ENOTFOUND || rc == HG_EUNSUPPORTED)
                hg_fail_wrap(rc, "%s; without them", with_symbols);
        }
    }
    if (rc)
        return rc;
    r->tls_size = hg_module_tls_size(r->libc);
    find_libc_tls_offset(t, r);
    return 0;
}
