/*
 * mmapped.c -- the chunks glibc mmaps one by one (large requests, or all
 * of them under a low mmap threshold).
 *
 * No list holds them: they are found by scanning the anonymous writable
 * mappings outside the heaps for chunk headers, first at each mapping's
 * start and each chunk's end, then, if that does not find what mp_
 * counts, at every page.  memalign moves a chunk's header forward
 * (mmapped_realigned).
 * When mp_ still counts more than were found, the first mapping that looks
 * like a chunk with a damaged header is named.
 */
#include <inttypes.h>
#include <string.h>

#include "walker/walk_internal.h"

/* Thread heaps are whole HEAP_MAX_SIZE reservations: mmapped chunks are
 * never inside one.  Returns 1 and *skip_to = the heap's end when lo is in
 * a heap, 0 and *skip_to = the nearest heap start when one begins before
 * hi, else -1. */
static int overlaps_heap(struct walk *w, uint64_t lo, uint64_t hi, uint64_t *skip_to)
{
    int found = -1;
    for (size_t i = 1; i < w->arenas.size; i++)
        for (size_t h = 0; h < w->arenas.ptr[i].heaps.size; h++) {
            uint64_t b = w->arenas.ptr[i].heaps.ptr[h].base, e = b + w->L->heap_max_size;
            if (lo >= b && lo < e) {
                *skip_to = e;
                return 1;
            }
            if (b > lo && b < hi && (found < 0 || b < *skip_to)) {
                *skip_to = b;
                found = 0;
            }
        }
    return found;
}

struct mmapped {
    uint64_t addr, prev_size, size;
};

struct mmapped_list {
    hg_array(struct mmapped) v;
    uint64_t bytes;           /* mapping bytes, as mp_.mmapped_mem counts */
};

/* The mapping an mmapped chunk with this header occupies: its offset from
 * the mapping start (prev_size) plus the chunk, plus (2.43+) the 16 bytes
 * glibc leaves after it. */
static uint64_t mmapped_span(const struct walk *w, const uint64_t hdr[2])
{
    uint64_t off = hdr[0] & ~(uint64_t)(w->L->mmap_tail ? 1 : 0); /* MMAP_HP */
    return off + (hdr[1] & ~(uint64_t)SIZE_BITS) + (w->L->mmap_tail ? CHUNK_HDR : 0);
}

static uint64_t mmapped_usable(const struct walk *w, uint64_t size)
{
    return w->L->mmap_tail ? size - SIZE_SZ : size - CHUNK_HDR;
}

/* A header read at the start q of a would-be mapping. */
static int mmapped_header_ok(const struct walk *w, const uint64_t hdr[2], uint64_t q, uint64_t seg_end)
{
    uint64_t sz = hdr[1] & ~(uint64_t)SIZE_BITS, span = mmapped_span(w, hdr);
    uint64_t off = span - sz - (w->L->mmap_tail ? CHUNK_HDR : 0);
    return (hdr[1] & SIZE_BITS) == IS_MMAPPED && !(off & ALIGN_MASK) && sz >= PAGE - 2 * CHUNK_HDR &&
           !(span & (PAGE - 1)) && q + span <= seg_end && q + span > q && span >= sz;
}

/*
 * memalign() of an mmapped chunk moves the chunk forward to the aligned
 * address and writes a new header there (prev_size = the lead), leaving the
 * old one at the mapping start.  Look for the moved header in the first
 * page: at lead k, prev_size == k and the chunk still ends where the
 * mapping says.  Alignments of a page or more are not looked for (the
 * mapping's bytes are right either way; only the chunk's size would be).
 */
static void mmapped_realigned(struct walk *w, const unsigned char *page, uint64_t len,
                              uint64_t hdr[2])
{
    if (hdr[0] != 0)
        return;
    uint64_t span = mmapped_span(w, hdr);
    if (len > span)
        len = span;
    for (uint64_t k = 16; k + CHUNK_HDR <= len; k += 16) {
        uint64_t c[2] = {rd64(page, (long)k), rd64(page, (long)k + 8)};
        if ((c[0] & ~(uint64_t)1) == k && (c[1] & SIZE_BITS) == IS_MMAPPED &&
            mmapped_span(w, c) == span) {
            hdr[0] = c[0];
            hdr[1] = c[1];
            return;
        }
    }
}

/*
 * mmapped chunks live in anonymous rw-p memory, each at the start of what
 * was its own mapping.  The kernel merges neighbouring ones into one
 * mapping, and splits one chunk's mapping in two when part of it changes
 * (mlock, a name) -- and a core has one PT_LOAD per mapping -- so the scan
 * goes over runs of alike mappings (hg_mapping_run_end), a chunk may span
 * several, and a header is looked for at each chunk's end and at each
 * mapping's start.
 */
static int find_mmapped(struct walk *w, int every_page, struct mmapped_list *out)
{
    out->v.size = 0;
    out->bytes = 0;
    uint64_t done = 0; /* end of the last run scanned */
    for (size_t i = 0; i < w->t->nmaps; i++) {
        const hg_mapping *m = &w->t->maps[i];
        if (!hg_mapping_is_anon(m) || strcmp(m->perms, "rw-p") != 0 || m->start < done)
            continue;
        uint64_t q = m->start, run_end = hg_mapping_run_end(w->t, m->start);
        done = run_end;
        hg_window_reset(&w->win);
        while (q + CHUNK_HDR <= run_end) {
            uint64_t skip = 0, seg_end = run_end;
            int ov = overlaps_heap(w, q, run_end, &skip);
            if (ov == 1) {
                q = skip;
                continue;
            }
            if (ov == 0)
                seg_end = skip;
            /* One read per would-be chunk: its first page holds the header
             * and, after memalign, the moved one. */
            uint64_t hdr[2], len = seg_end - q < PAGE ? seg_end - q : PAGE;
            unsigned char buf[PAGE];
            const unsigned char *c = every_page ? window(w, q, len, seg_end) : buf;
            /* Past memory that cannot be read (a thread stack's guard pages,
             * glibc 2.42+) or that holds no chunk, the next place a chunk can
             * start is the next mapping of the run. */
            const hg_mapping *in = hg_find_mapping(w->t, q);
            uint64_t next_mapping = in && in->end < seg_end ? in->end : seg_end;
            if (!c || (!every_page && hg_read_exact(w->t, q, buf, len) != 0)) {
                q = next_mapping;
                hg_window_reset(&w->win);
                continue;
            }
            memcpy(hdr, c, sizeof hdr);
            if (!mmapped_header_ok(w, hdr, q, seg_end)) {
                q = every_page ? q + PAGE : next_mapping;
                continue;
            }
            struct mmapped *found = hg_array_push(out->v);
            if (!found)
                return hg_fail(HG_ENOMEM, "out of memory");
            mmapped_realigned(w, c, len, hdr);
            uint64_t sz = hdr[1] & ~(uint64_t)SIZE_BITS, span = mmapped_span(w, hdr);
            *found = (struct mmapped){q + span - sz - (w->L->mmap_tail ? CHUNK_HDR : 0),
                                      hdr[0], sz};
            out->bytes += span;
            q += span;
        }
    }
    return 0;
}

/*
 * mp_ counts more mmapped chunks than the scan found: one whose header is
 * damaged is no longer recognised.  Name it if it can be told: a mapping
 * (not a heap, not a chunk found) whose first words still look half like
 * a chunk's header -- IS_MMAPPED set but the rest wrong, or a size that is
 * about the mapping's length.  The first such mapping is reported.
 */
static void find_bad_mmapped(struct walk *w, const struct mmapped_list *l)
{
    uint64_t done = 0;
    size_t k = 0; /* the chunks found, in address order as the mappings */
    for (size_t i = 0; i < w->t->nmaps; i++) {
        const hg_mapping *m = &w->t->maps[i];
        if (!hg_mapping_is_anon(m) || strcmp(m->perms, "rw-p") != 0 || m->start < done)
            continue;
        uint64_t q = m->start, run_end = hg_mapping_run_end(w->t, q), skip;
        done = run_end;
        if (overlaps_heap(w, q, run_end, &skip) == 1)
            continue;
        /* step over the chunks found at the start of the run (the kernel
         * merges adjacent ones into one mapping) to where one is missing */
        while (k < l->v.size && l->v.ptr[k].addr < q)
            k++;
        for (; k < l->v.size && l->v.ptr[k].addr < run_end; k++) {
            uint64_t hdr[2] = {l->v.ptr[k].prev_size, l->v.ptr[k].size};
            uint64_t start = l->v.ptr[k].addr - (mmapped_span(w, hdr) - l->v.ptr[k].size -
                                             (w->L->mmap_tail ? CHUNK_HDR : 0));
            if (start != q)
                break;
            q += mmapped_span(w, hdr);
        }
        uint64_t hdr[2];
        if (q + CHUNK_HDR > run_end || hg_read_exact(w->t, q, hdr, sizeof hdr) != 0)
            continue;
        uint64_t sz = hdr[1] & ~(uint64_t)SIZE_BITS, len = run_end - q;
        int flagged = (hdr[1] & (IS_MMAPPED | NON_MAIN_ARENA)) == IS_MMAPPED;
        int sized = sz <= len && sz >= PAGE;
        if (flagged || sized) {
            problem(w, -1, q, "mapping at 0x%" PRIx64 " (%" PRIu64 " bytes) looks like an mmapped "
                    "chunk with a damaged header (prev_size 0x%" PRIx64 ", size field 0x%" PRIx64 ")",
                    q, len, hdr[0], hdr[1]);
            return;
        }
    }
}

/* The mmapped chunks, counted into the snapshot's totals and buckets. */
int scan_mmapped(struct walk *w)
{
    hg_snapshot *s = w->s;
    struct mmapped_list l = {0};
    int rc = find_mmapped(w, 0, &l);
    if (rc == 0 && (l.v.size != w->mp_n_mmaps || l.bytes != w->mp_mmapped_mem))
        rc = find_mmapped(w, 1, &l);
    for (size_t i = 0; rc == 0 && i < l.v.size; i++) {
        uint64_t sz = l.v.ptr[i].size;
        s->totals.inuse_objects++;
        s->totals.inuse_bytes += mmapped_usable(w, sz); /* malloc_usable_size */
        rc = hg_snapshot_add(s, -1, HG_STATE_MMAPPED, sz, 1, mmapped_usable(w, sz));
        /* the first word, for the types analysis: one read a chunk, and
         * mmapped chunks are few (each is 128 KiB or more by default) */
        uint64_t first = 0;
        if (rc == 0 && w->keep_words && hg_read_u64(w->t, l.v.ptr[i].addr + CHUNK_HDR, &first) != 0)
            first = 0;
        if (rc == 0)
            rc = keep_chunk(w, l.v.ptr[i].addr, sz, mmapped_usable(w, sz), -1, HG_STATE_MMAPPED,
                            first);
        if (w->have_pagemap)
            s->heap_resident_bytes += (sz + PAGE - 1) / PAGE * PAGE -
                                      nonresident_bytes(w, l.v.ptr[i].addr, l.v.ptr[i].addr + sz);
    }
    s->totals.mmapped_objects = l.v.size;
    s->totals.mmapped_bytes = l.bytes;
    if (rc == 0 && (l.v.size != w->mp_n_mmaps || l.bytes != w->mp_mmapped_mem)) {
        problem(w, -1, 0,
                "found %zu mmapped chunks (%" PRIu64 " bytes) but mp_ counts %" PRIu64
                " (%" PRIu64 " bytes)", l.v.size, l.bytes, w->mp_n_mmaps, w->mp_mmapped_mem);
        if (l.v.size < w->mp_n_mmaps)
            find_bad_mmapped(w, &l);
    }
    hg_array_clear(l.v);
    return rc;
}
