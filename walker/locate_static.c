/*
 * locate_static.c -- a statically linked program: whether glibc's malloc
 * is in it (or Go's, or musl's), and, when it links no version string,
 * which glibc releases its malloc can be.  Both are told from facts in the
 * executable (its symbol table, its strings, mp_ as linked in the file),
 * since there is no libc.so to ask.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "walker/locate_internal.h"

/*
 * A static program that never starts a thread links neither glibc's banner
 * nor nptl's version string: nothing in it names its release.  What bears
 * on malloc can still be told, from facts no compiler or distribution
 * changes: the sizes of main_arena and mp_ (the structs' sizes, in the
 * symbol table), and mp_'s initial tcache_max_bytes in the file (1032
 * before 2.42; from 2.42 a chunk size, 1040, or 1041 with 2.43's fix,
 * which Ubuntu's 2.42 has too, as 2.44 does).  When every release in the
 * range they leave has one malloc layout and heapgrab has checked one of
 * them, the program is read with it and the version is given as that
 * range ("2.35-2.41").
 */
int static_version(hg_module *exe, hg_located *r)
{
    char *out = r->version;
    size_t outlen = sizeof r->version;
    uint64_t arena, arena_size = 0, mp, mp_size = 0, max;
    const char *path = hg_module_path(exe);
    if (hg_module_symbol(exe, "main_arena", &arena, &arena_size, NULL) != 0 ||
        hg_module_symbol(exe, "mp_", &mp, &mp_size, NULL) != 0)
        return hg_fail(HG_EUNSUPPORTED, "cannot tell the glibc version of %s (no version string "
                       "linked in, no main_arena and mp_ in its symbol table)", path);
    unsigned lo = 226, hi = HG_GLIBC_NEWEST;
    long max_at = -1;
    if (arena_size == 2112)
        lo = 243;
    else if (arena_size == 2200)
        hi = 242;
    else
        lo = 999;
    /* mp_ is 136 bytes twice: 2.35-2.42 (with fastbins, so a 2200-byte
     * main_arena) and from 2.44 (tcache_unsorted_limit gone), where
     * tcache_max_bytes sits 8 bytes further on. */
    if (mp_size == 144)
        lo = lo > 243 ? lo : 243, hi = hi < 243 ? hi : 243, max_at = 120;
    else if (mp_size == 136 && lo >= 243)
        lo = lo > 244 ? lo : 244, max_at = 120;
    else if (mp_size == 136)
        lo = lo > 235 ? lo : 235, hi = hi < 242 ? hi : 242, max_at = 112;
    else if (mp_size == 112)
        hi = hi < 234 ? hi : 234, max_at = 88;
    else
        lo = 999;
    if (max_at >= 0 && hg_module_file_read(exe, mp + (uint64_t)max_at, &max, sizeof max) != 0)
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
int static_malloc(hg_target *t, hg_located *r)
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
