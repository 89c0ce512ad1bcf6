/*
 * tls.c -- without libc's symbols, where in libc's thread-local storage
 * each thread keeps its tcache and its arena (the 'tcache' and
 * 'thread_arena' variables).  The TLS block itself is found by locate.c
 * (libc_tls_offset, from libthread_db's descriptors and the link map); the
 * slots inside it are told by what every thread holds there, at the stop,
 * and when that is not unique heapgrab refuses to guess.
 */
#include <stdlib.h>
#include <string.h>

#include "walker/walk_internal.h"

/* A tcache_perthread_struct pointer: a tcache chunk whose entries are
 * empty exactly where the counts are zero. */
static int tcache_like(struct walk *w, uint64_t ptr)
{
    const hg_layout *L = w->L;
    unsigned char raw[1024];
    if (!tcache_chunk(w, ptr) || L->tcache_size > sizeof raw ||
        hg_read_exact(w->t, ptr, raw, L->tcache_size) != 0)
        return 0;
    for (unsigned i = 0; i < L->tc_bins; i++) {
        uint64_t e = rd64(raw, L->tc_entries + 8 * (long)i), c = tc_entries(w, raw, i);
        if (c == ~0ull || (e == 0) != (c == 0) || (e && !plausible_link(w, e)))
            return 0;
    }
    return 1;
}

/*
 * Without libc's symbols the offset of its 'tcache' TLS variable is not
 * known: try every slot of libc's TLS block and keep the one that, in every
 * thread, is NULL or points at a well-formed tcache (and is not NULL in at
 * least one).  More than one such slot: refuse.
 */
int find_tcache_slot(struct walk *w)
{
    hg_target *t = w->t;
    uint64_t size = w->loc.tls_size;
    if (!w->loc.have_tls_offset || !size || size > 65536 || !t->nthreads)
        return hg_fail(HG_ENOTFOUND, "cannot find libc's thread-local storage, hence the tcache");
    unsigned char *blocks = malloc(size * t->nthreads);
    if (!blocks)
        return hg_fail(HG_ENOMEM, "out of memory");
    for (size_t i = 0; i < t->nthreads; i++)
        if (!t->threads[i].fs_base ||
            hg_read_exact(t, t->threads[i].fs_base - w->loc.libc_tls_offset, blocks + i * size, size))
            memset(blocks + i * size, 0, size);
    unsigned found = 0, sized = 0;
    uint64_t slot = 0;
    for (uint64_t off = 0; off + 8 <= size; off += 8) {
        int good = 1, nonnull = 0;
        for (size_t i = 0; i < t->nthreads; i++) {
            uint64_t v = rd64(blocks + i * size, (long)off);
            if (!v || (!plausible_link(w, v) && tcache_absent(w, v)))
                continue;
            nonnull++;
            if (tcache_chunk(w, v))
                sized++;
            if (good)
                good = tcache_like(w, v);
        }
        if (good && nonnull) {
            found++;
            slot = off;
        }
    }
    free(blocks);
    if (found == 0 && sized == 0)
        return 0; /* no thread has called malloc yet: no tcache anywhere */
    if (found != 1)
        return hg_fail(HG_ENOTFOUND, "%s in libc's thread-local storage: install the libc "
                       "debug symbols", found ? "several tcache candidates" : "no tcache pointer");
    w->loc.tcache_var = slot;
    w->loc.have_tcache_var = 1;
    return 0;
}

/*
 * Without symbols, libc's 'thread_arena' slot is found like the tcache's:
 * the one slot of libc's TLS block (other than the tcache's) that in every
 * thread is NULL or the address of a known arena, and not NULL in at least
 * one.  Not unique: the arena stays unknown where no tcache tells it.
 */
void find_thread_arena_slot(struct walk *w)
{
    hg_target *t = w->t;
    uint64_t size = w->loc.tls_size;
    if (!w->loc.have_tls_offset || !size || size > 65536 || !t->nthreads)
        return;
    unsigned char *blocks = malloc(size * t->nthreads);
    if (!blocks)
        return;
    for (size_t i = 0; i < t->nthreads; i++)
        if (!t->threads[i].fs_base ||
            hg_read_exact(t, t->threads[i].fs_base - w->loc.libc_tls_offset, blocks + i * size, size))
            memset(blocks + i * size, 0, size);
    unsigned found = 0;
    uint64_t slot = 0;
    for (uint64_t off = 0; off + 8 <= size; off += 8) {
        if (w->loc.have_tcache_var && off == w->loc.tcache_var)
            continue;
        int good = 1, nonnull = 0;
        for (size_t i = 0; i < t->nthreads && good; i++) {
            uint64_t v = rd64(blocks + i * size, (long)off);
            if (!v)
                continue;
            nonnull++;
            good = 0;
            for (size_t k = 0; k < w->arenas.size && !good; k++)
                good = w->arenas.ptr[k].addr == v;
        }
        if (good && nonnull) {
            found++;
            slot = off;
        }
    }
    free(blocks);
    if (found == 1) {
        w->loc.thread_arena_var = slot;
        w->loc.have_thread_arena_var = 1;
    }
}
