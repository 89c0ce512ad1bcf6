/*
 * results.c -- the counts of the walk made into the snapshot, after the
 * target is let go: per-arena and total figures, glibc's mallinfo2 as
 * int_mallinfo would count it from the lists, the buckets of the profile,
 * the kept chunks' final states, and the checks that need every count (a
 * held lock, a top never reached, chunks that do not add up to
 * system_mem).
 */
#include <inttypes.h>
#include <stdlib.h>

#include "walker/walk_internal.h"

/* The chunks recorded as CHUNK_MAYBE take the state their list walk gave
 * them (tcache, fastbin) or are in use. */
void settle_chunks(struct walk *w)
{
    for (size_t i = 0; i < w->chunks.size; i++) {
        hg_chunk *c = &w->chunks.ptr[i];
        if (c->state != CHUNK_MAYBE)
            continue;
        cm_entry *e = cm_find(&w->cm, c->address, NULL);
        int st = e ? CM_STATE(e) : CM_CAND;
        c->state = st == CM_TCACHE ? HG_STATE_TCACHE : st == CM_FASTBIN ? HG_STATE_FASTBIN
                                                                      : HG_STATE_INUSE;
        c->usable = c->state == HG_STATE_INUSE ? c->size - SIZE_SZ : 0;
        if (w->keep_words && c->state != HG_STATE_INUSE)
            w->words.ptr[i] = 0; /* a list link, not an object's word */
    }
}

/* Every figure of a added to d (the list of fields is heapgrab.h's). */
static void add_totals(hg_totals *d, const hg_totals *a)
{
#define ADD_FIELD_(name, unit, part, label) d->name += a->name;
    HG_TOTALS_FIELDS(ADD_FIELD_)
#undef ADD_FIELD_
}

/* The snapshot's arenas, totals, mallinfo2 and buckets. */
int finish(struct walk *w)
{
    hg_snapshot *s = w->s;
    hg_mallinfo2 *mi = &s->mallinfo2;
    s->arenas = calloc(w->arenas.size, sizeof *s->arenas);
    if (!s->arenas)
        return hg_fail(HG_ENOMEM, "out of memory");
    s->narenas = w->arenas.size;
    hg_totals sum = {0};
    for (size_t i = 0; i < w->arenas.size; i++) {
        struct arena *a = &w->arenas.ptr[i];
        hg_arena_info *ai = &s->arenas[i];
        ai->index = (int)i;
        ai->address = a->addr;
        ai->mutex_held = a->mutex_held;
        ai->heaps = (unsigned)a->heaps.size;
        ai->system_mem = a->system_mem;
        a->tot.sys_bytes = a->system_mem;
        ai->totals = a->tot;
        add_totals(&sum, &a->tot);

        /* glibc's int_mallinfo, from the lists as glibc walks them.  But
         * a copy made while the process ran tears lists: every chunk after
         * the tear would count in use (a bias of +0.3-0.8% in use on
         * bench/pause.sh's busy target), where the heap walk saw each free
         * chunk as free (its neighbour's PREV_INUSE), torn or not. */
        uint64_t bin_n = a->list_bin_n, bin_bytes = a->list_bin_bytes;
        if (w->no_stop && a->bins_cut) {
            bin_n = a->tot.free_objects;
            bin_bytes = a->tot.free_bytes;
        }
        uint64_t avail = a->top_size + a->list_fast_bytes + bin_bytes;
        mi->ordblks += 1 + bin_n;
        mi->smblks += a->list_fast_n;
        mi->fsmblks += a->list_fast_bytes;
        mi->fordblks += avail;
        mi->uordblks += a->system_mem - avail;
        mi->arena += a->system_mem;

        if (a->mutex_held)
            problem(w, (int)i, a->addr,
                    "arena %zu's lock was held at the stop: its lists may be mid-update", i);
        if (a->heaps.size && !a->top_seen)
            problem(w, (int)i, a->top, "arena %zu: walk never reached the top chunk 0x%" PRIx64, i, a->top);
        uint64_t accounted = a->inuse_chunk_bytes + a->tot.free_bytes + a->tot.top_bytes +
                             a->tot.tcache_bytes + a->tot.fastbin_bytes + a->tot.overhead_bytes;
        if (a->heaps.size && accounted != a->system_mem)
            problem(w, (int)i, a->addr,
                    "arena %zu: chunks account for %" PRIu64 " bytes but system_mem is %" PRIu64,
                    i, accounted, a->system_mem);
        if (a->list_bin_n != a->tot.free_objects)
            problem(w, (int)i, a->addr,
                    "arena %zu: %" PRIu64 " chunks on bins but %" PRIu64 " free chunks in the heap",
                    i, a->list_bin_n, a->tot.free_objects);

        for (int st = 0; st < HG_STATE_COUNT; st++)
            for (uint64_t k = 0; k < HIST_SLOTS; k++) {
                uint64_t c = a->hist[st][k];
                if (!c)
                    continue;
                uint64_t sz = k * 16;
                if (hg_snapshot_add(s, (int)i, st, sz, c, st == HG_STATE_INUSE ? c * (sz - SIZE_SZ) : 0))
                    return hg_error_code();
            }
        if (a->top_size &&
            hg_snapshot_add(s, (int)i, HG_STATE_TOP, a->top_size, 1, 0))
            return hg_error_code();
        /* Heap and arena headers, fenceposts and unparsable stretches are
         * overhead without being chunks: one sample for them, so that the
         * profile adds up to the same figures as the stats. */
        uint64_t in_hist = 0;
        for (uint64_t k = 0; k < HIST_SLOTS; k++)
            in_hist += a->hist[HG_STATE_OVERHEAD][k] * k * 16;
        if (a->tot.overhead_bytes > in_hist &&
            hg_snapshot_add(s, (int)i, HG_STATE_OVERHEAD, a->tot.overhead_bytes - in_hist, 1, 0))
            return hg_error_code();
    }
    mi->hblks = w->mp_n_mmaps;
    mi->hblkhd = w->mp_mmapped_mem;
    mi->usmblks = 0;
    mi->keepcost = w->arenas.size ? w->arenas.ptr[0].top_size : 0;

    /* totals.inuse_* already hold the mmapped chunks (scan_mmapped). */
    s->totals.sys_bytes = mi->arena + mi->hblkhd;
    sum.sys_bytes = 0;
    add_totals(&s->totals, &sum);

    for (size_t i = 0; i < s->nthreads; i++)
        if (s->threads[i].arena == -2)
            s->threads[i].arena = cm_arena_of(&w->cm, s->threads[i].tcache - CHUNK_HDR);
    hg_snapshot_sort_buckets(s);
    return 0;
}
