/*
 * holders_capture.h -- what the holders analysis keeps of one stop: the
 * in-use objects and a copy of their bytes, a copy of every place that can
 * hold a pointer to them (module data, thread stacks, registers, other
 * writable mappings), each thread's frames and TLS blocks.  Copied while the
 * target is stopped (a hook of the walk, walker/walk.h), analysed after it
 * runs on (holders.c), so that the stop grows only by one read of that
 * memory and the analysis sees one instant.
 */
#ifndef HG_HOLDERS_CAPTURE_H
#define HG_HOLDERS_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/array.h"
#include "stacks/unwind.h"
#include "target/target.h"
#include "walker/walk.h"

/* A range of target memory copied at the stop: bytes at off in buf. */
struct hc_span {
    uint64_t addr;
    uint64_t len;
    uint64_t off;
};

/* A region that may hold roots. */
enum hc_region_kind { HC_GLOBAL = 0, HC_STACK, HC_MAPPING };
struct hc_region {
    int kind;
    uint64_t addr, len, off; /* bytes at off in the roots' buffer */
    int thread;              /* HC_STACK: index in threads */
    char *module;            /* HC_GLOBAL: the module's path (owned) */
    int bss;                 /* HC_GLOBAL: anonymous memory right after the
                                module's file, its .bss as far as the
                                module's image goes, then a mapping */
};

struct hc_thread {
    int tid;
    int have_regs;
    uint64_t regs[17];
    uint64_t fs_base, sp;
    uint64_t stack_lo, stack_hi; /* the copied part of its stack */
};

/* A module's static TLS block: at fs_base - offset in every thread. */
struct hc_tls_module {
    uint64_t modid, offset, size;
    uint64_t module_addr;    /* an address inside the module (its l_ld) */
};

struct hc_capture {
    /* the in-use objects' bytes: in the walk's order at the stop, sorted
     * by hc_sort_spans after it */
    hg_array(struct hc_span) spans;
    int spans_sorted;
    unsigned char *heap;
    uint64_t heap_len;
    /* the copy's room, faulted in before the stop (hc_capture_prepare) */
    unsigned char *pre;         /* mapped: munmap */
    uint64_t pre_len;
    uint64_t heap_mapped;       /* heap is the prepared room, this long */
    int heap_borrowed;          /* heap is the room of the copy the walk
                                   ran on (target/target.h): the live
                                   target's, valid until its next snapshot */

    hg_array(struct hc_region) regions;
    unsigned char *roots;
    uint64_t roots_len;

    struct hc_thread *threads;
    size_t nthreads;
    struct hg_unwinder *unwinder;        /* captured at the stop, or NULL */

    hg_array(struct hc_tls_module) tls;
    uint64_t dtv_off;                    /* tcbhead_t.dtv: fs_base + 8 */
    uint64_t pthread_size;               /* sizeof (struct pthread), 0 unknown */

    uint64_t main_arena, main_arena_size, mp, mp_size; /* glibc's own: no edges */
    uint64_t unread_bytes;               /* what could not be read */
    uint64_t skipped_bytes, skipped_start; /* writable mappings too large to scan */
    uint64_t copied_bytes;
};

/* Before the stop: room for the copy of the in-use objects, as large as
 * the target's heap-like mappings are now, written once so that its pages
 * are faulted in while the target runs, not while it is stopped. */
void hc_capture_prepare(struct hc_capture *c, const hg_target *t);
/* The walk's hook (ctx: a struct hc_capture, its unwinder set or NULL). */
int hc_capture_stopped(void *ctx, const hg_walk_found *found);
void hc_capture_free(struct hc_capture *c);
/* An in-use object of the walk's chunks: 1 and its usable bytes, *noscan
 * when its words are not edges (glibc's tcache_perthread_struct is held,
 * but its words are free-list links); 0 for a chunk that is no object. */
static inline int hc_chunk_object(const hg_chunk *ch, uint64_t *start, uint64_t *size,
                                  int *noscan)
{
    *start = ch->address + 16;
    *noscan = 0;
    if (ch->state == HG_STATE_INUSE || ch->state == HG_STATE_MMAPPED) {
        *size = ch->usable;
    } else {
        /* free, or glibc's own (a tcache_perthread_struct is malloc'd, but
         * it is allocator overhead, as stats and mallinfo2 count it, and
         * its words are links to free chunks): no object, never a leak,
         * never an edge */
        return 0;
    }
    return *size != 0;
}
void hc_sort_spans(struct hc_capture *c);
/* The copied bytes at addr (len of them), or NULL if they were not copied. */
const unsigned char *hc_heap_bytes(const struct hc_capture *c, uint64_t addr, uint64_t len);

#endif
