/* locate.h -- finding glibc's malloc state in a target. */
#ifndef HG_LOCATE_H
#define HG_LOCATE_H

#include "target/target.h"
#include "walker/layout.h"

typedef struct hg_located {
    const char *how;            /* "symbols" or "heuristic" */
    char version[32];           /* "2.36", or a range: "2.35-2.41" */
    unsigned layout_version;    /* for a range, the checked release whose
                                 * malloc layout all of it shares; else 0 */
    hg_layout L;
    hg_module *libc;            /* libc.so, or the executable when static */
    int is_static;              /* glibc linked into the executable */
    uint64_t main_arena, mp;    /* addresses in the target */

    /* Static TLS: a thread's copy of libc's TLS variable at offset v lives
     * at fs_base - libc_tls_offset + v (x86_64, TLS variant II). */
    int have_tls_offset;
    uint64_t libc_tls_offset;
    int have_tcache_var, have_thread_arena_var;
    uint64_t tcache_var, thread_arena_var; /* offsets in libc's TLS block */
    uint64_t tls_size;          /* size of libc's TLS block (PT_TLS) */
} hg_located;

/* Runs while the target is running: everything found here (symbols,
 * layouts, link map) does not change while the process lives. */
int hg_locate(hg_target *t, int mode, hg_located *out);

#endif
