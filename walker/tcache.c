/*
 * tcache.c -- each thread's tcache (glibc 2.26+).
 *
 * At the stop, read_threads reads each thread's slots of libc's
 * thread-local storage: its arena and its tcache pointer (the slots' offsets
 * come from libc's symbols, or from tls.c's search), and copies its
 * tcache_perthread_struct.  After the heap walk, walk_tcache follows each
 * bin through the chunk map: a chunk on one must be a candidate the heap
 * walk recorded, of the bin's size, and the bin must hold what its count
 * says.  The counts mean entries before 2.42 and free slots from 2.42.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "walker/walk_internal.h"

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Entries in tcache bin i, from the copy of a tcache_perthread_struct;
 * ~0 when the counter is impossible (more room than a bin has).  Before
 * 2.42 glibc counts entries; from 2.42 it counts the room left, which
 * starts at mp_.tcache_count. */
uint64_t tc_entries(const struct walk *w, const unsigned char *raw, unsigned i)
{
    const hg_layout *L = w->L;
    uint64_t c;
    if (L->tc_count_bytes == 2) {
        uint16_t c16;
        memcpy(&c16, raw + L->tc_counts + 2 * i, 2);
        c = c16;
    } else {
        c = raw[L->tc_counts + i];
    }
    if (!L->tc_slots)
        return c;
    return c <= w->tcache_count ? w->tcache_count - c : ~0ull;
}

/* The tcache bin glibc files a chunk of size sz under: one bin per size
 * up to 0x410, then (2.42+) one per power of two, as large_csize2tidx. */
static unsigned tc_bin_of(const struct walk *w, uint64_t sz)
{
    if (sz <= TCACHE_SMALL_MAX || w->L->tc_bins <= w->L->tc_small_bins)
        return (unsigned)((sz - MINSIZE) / 16);
    return w->L->tc_small_bins + (unsigned)(__builtin_clzll(TCACHE_SMALL_MAX) - __builtin_clzll(sz));
}

/* A thread's tcache pointer that means "no tcache": NULL, or (2.43) the
 * zeroed dummy in libc's read-only data that glibc points threads at
 * before their first malloc and after their tcache is torn down. */
int tcache_absent(struct walk *w, uint64_t v)
{
    if (v == 0)
        return 1;
    const hg_mapping *m = hg_find_mapping(w->t, v);
    const char *libc = w->loc.libc ? hg_module_path(w->loc.libc) : NULL;
    if (!m || m->perms[1] == 'w' || !libc || strcmp(m->path, libc) != 0)
        return 0;
    unsigned char raw[1024], zero[sizeof raw] = {0};
    size_t n = w->L->tcache_size < sizeof raw ? w->L->tcache_size : sizeof raw;
    return hg_read_exact(w->t, v, raw, n) == 0 && memcmp(raw, zero, n) == 0;
}

/* ptr is where a tcache_perthread_struct can be: the memory of a heap
 * chunk of exactly its size, or of an mmapped chunk (glibc's mmap
 * threshold set below the struct's size, e.g. to 0, mmaps it too). */
int tcache_chunk(struct walk *w, uint64_t ptr)
{
    uint64_t sz;
    if (!ptr || (ptr & ALIGN_MASK) || hg_read_u64(w->t, ptr - SIZE_SZ, &sz) != 0)
        return 0;
    if (plausible_link(w, ptr))
        return (sz & ~(uint64_t)SIZE_BITS) == w->tc_chunk_size;
    const hg_mapping *m = hg_find_mapping(w->t, ptr);
    uint64_t chunk_end = ptr - CHUNK_HDR + (sz & ~(uint64_t)SIZE_BITS);
    return m && hg_mapping_is_anon(m) && m->perms[1] == 'w' && (sz & SIZE_BITS) == IS_MMAPPED &&
           (sz & ~(uint64_t)SIZE_BITS) >= w->tc_chunk_size && chunk_end > ptr &&
           chunk_end <= hg_mapping_run_end(w->t, ptr);
}

/* The threads of the snapshot, each with its arena and tcache where they
 * can be told; *out gets a copy of each tcache (NULL raw: none), for
 * walk_tcache. */
int read_threads(struct walk *w, struct tcache_copy **out)
{
    const hg_layout *L = w->L;
    hg_target *t = w->t;
    hg_snapshot *s = w->s;
    *out = NULL;
    s->threads = calloc(t->nthreads ? t->nthreads : 1, sizeof *s->threads);
    struct tcache_copy *tc = calloc(t->nthreads ? t->nthreads : 1, sizeof *tc);
    w->tc_chunks = calloc(t->nthreads ? t->nthreads : 1, sizeof *w->tc_chunks);
    if (!s->threads || !tc || !w->tc_chunks) {
        free(tc);
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    *out = tc;
    /* request2size(sizeof(tcache_perthread_struct)) */
    w->tc_chunk_size = (L->tcache_size + SIZE_SZ + ALIGN_MASK) & ~(uint64_t)ALIGN_MASK;
    s->nthreads = t->nthreads;
    if (!w->loc.have_tcache_var && L->tcache_size && t->nthreads) {
        int rc = find_tcache_slot(w);
        if (rc)
            return rc;
    }
    if (!w->loc.have_thread_arena_var)
        find_thread_arena_slot(w);
    for (size_t i = 0; i < t->nthreads; i++) {
        hg_thread_info *ti = &s->threads[i];
        ti->tid = t->threads[i].tid;
        ti->arena = -1;
        uint64_t tp = t->threads[i].fs_base;
        if (!tp || !w->loc.have_tls_offset)
            continue;
        /* x86_64's thread control block starts with a pointer to itself.
         * When it does not, this thread's memory is missing: gdb's gcore
         * writes zeros for a whole thread stack it cannot read, which
         * happens with glibc 2.42+'s guard pages (MADV_GUARD_INSTALL). */
        uint64_t self;
        if (hg_read_u64(t, tp, &self) != 0 || self != tp) {
            problem(w, -1, tp, "thread %d: its thread control block at 0x%" PRIx64 " is not there "
                    "(%s); its tcache is not counted", ti->tid, tp,
                    t->ops->kind != HG_TARGET_CORE
                        ? "unreadable"
                        : "missing from the core, or zeros: gcore cannot read glibc 2.42+ "
                          "thread stacks, use a kernel core");
            continue;
        }
        uint64_t block = tp - w->loc.libc_tls_offset;
        if (w->loc.have_thread_arena_var) {
            uint64_t ar;
            if (hg_read_u64(t, block + w->loc.thread_arena_var, &ar) == 0)
                for (size_t k = 0; k < w->arenas.size; k++)
                    if (w->arenas.ptr[k].addr == ar)
                        ti->arena = (int)k;
        }
        if (!w->loc.have_tcache_var || !L->tcache_size)
            continue;
        uint64_t ptr;
        if (hg_read_u64(t, block + w->loc.tcache_var, &ptr) != 0 || tcache_absent(w, ptr))
            continue;
        uint64_t chunk = ptr - CHUNK_HDR;
        if (!tcache_chunk(w, ptr)) {
            problem(w, -1, ptr, "thread %d: tcache pointer 0x%" PRIx64 " is not a tcache chunk",
                    ti->tid, ptr);
            continue;
        }
        tc[i].raw = malloc(L->tcache_size);
        if (!tc[i].raw)
            return hg_fail(HG_ENOMEM, "out of memory");
        if (hg_read_exact(t, ptr, tc[i].raw, L->tcache_size) != 0) {
            free(tc[i].raw);
            tc[i].raw = NULL;
            continue;
        }
        tc[i].addr = ptr;
        ti->tcache = ptr;
        if (ti->arena < 0)
            ti->arena = -2; /* fixed up once the heaps are walked */
        w->tc_chunks[w->ntc++] = chunk;
    }
    qsort(w->tc_chunks, w->ntc, sizeof *w->tc_chunks, u64_cmp);
    return 0;
}

/* Thread ti's tcache bins, through the chunk map: each chunk on one becomes
 * CM_TCACHE and is counted in the arena that holds it. */
void walk_tcache(struct walk *w, size_t ti, const struct tcache_copy *tc)
{
    const hg_layout *L = w->L;
    hg_thread_info *info = &w->s->threads[ti];
    for (unsigned i = 0; i < L->tc_bins; i++) {
        uint64_t count = tc_entries(w, tc->raw, i);
        uint64_t e_ptr = rd64(tc->raw, L->tc_entries + 8 * (long)i), n = 0, prev_sz = 0;
        if (count == ~0ull) {
            problem(w, -1, tc->addr, "thread %d tcache bin %u: num_slots above tcache_count %" PRIu64,
                    info->tid, i, w->tcache_count);
            count = 0;
        }
        while (e_ptr) {
            int pa;
            uint64_t chunk = e_ptr - CHUNK_HDR;
            cm_entry *e = cm_find(&w->cm, chunk, &pa);
            if (!e || CM_STATE(e) != CM_CAND || n >= count) {
                problem(w, -1, e_ptr, "thread %d tcache 0x%" PRIx64 " bin %u (count %" PRIu64 "): entry %"
                        PRIu64 " at 0x%" PRIx64 " %s", info->tid, tc->addr, i, count, n, e_ptr,
                        e && CM_STATE(e) == CM_TCACHE ? "repeats (cycle or double free)"
                        : n >= count ? "is past the bin's count"
                        : !e         ? "is not a chunk that could be free"
                                     : "is also on a fastbin");
                break;
            }
            uint64_t sz = CM_SIZE(e);
            if (!sz) /* too large to keep in the entry: ask the target */
                if (list_read_u64(w, chunk + SIZE_SZ, &sz) == 0)
                    sz &= ~(uint64_t)SIZE_BITS;
            if (tc_bin_of(w, sz) != i)
                problem(w, pa, chunk, "thread %d tcache bin %u holds a chunk of size 0x%" PRIx64,
                        info->tid, i, sz);
            else if (sz < prev_sz) /* large bins are kept sorted, small ones are one size */
                problem(w, pa, chunk, "thread %d tcache bin %u is out of size order at 0x%" PRIx64,
                        info->tid, i, chunk);
            prev_sz = sz;
            CM_SET_STATE(e, CM_TCACHE);
            struct arena *owner = &w->arenas.ptr[pa];
            owner->tot.tcache_objects++;
            owner->tot.tcache_bytes += sz;
            hist_add(w, owner, pa, HG_STATE_TCACHE, sz);
            info->tcache_objects++;
            info->tcache_bytes += sz;
            n++;
            /* next is stored protected at e->next, i.e. at e_ptr itself */
            e_ptr = CM_LINK(e);
        }
        if (n < count && !e_ptr)
            problem(w, -1, tc->addr, "thread %d tcache bin %u: count %" PRIu64 " but %" PRIu64 " entries",
                    info->tid, i, count, n);
    }
}
