/*
 * capture.c -- the stop's part of taking stacks (see capture.h).
 *
 * Registers and the live stack of every thread, from the stack pointer
 * (less the red zone) to the end of the mapping it is in, which for a
 * thread's stack is its outermost frame and for the main thread's the
 * environment above it; at most max_copy.  That is all a CFI or
 * frame-pointer walk reads, so the walk can wait until the target runs
 * again: unwinding 18 threads with libdwfl inside the stop took 0.1-0.2
 * ms; copying them takes 0.03 ms.  A walk that wants stack above the copy
 * stops there, and says so.
 */
#include <stdlib.h>
#include <string.h>

#include "stacks/capture.h"
#include "lib/array.h"
#include "lib/error.h"

/* Red zone: a leaf function may keep data in the 128 bytes below rsp. */
#define RED_ZONE 128
/* Where the stack's mapping is not known (a thread born after the mappings
 * were read), copy this much and take what is readable. */
#define UNKNOWN_STACK (64 * 1024)

int hg_copy_word(const hg_stack_copies *c, const hg_thread_copy *th, uint64_t addr,
                 uint64_t *out)
{
    if (addr < th->base || addr - th->base > th->len || th->len - (addr - th->base) < 8)
        return addr >= th->base + th->len && addr < th->map_end ? -1 : 0;
    memcpy(out, c->bytes + th->data_off + (addr - th->base), 8);
    return 1;
}

int hg_copy_stacks(hg_stack_copies *c, hg_target *t)
{
    c->n = 0;
    c->nbytes = 0;
    if (hg_array_reserve_((void **)&c->threads, &c->cap, sizeof *c->threads, t->nthreads) != 0 ||
        hg_array_reserve_((void **)&c->spans, &c->capspans, sizeof *c->spans, t->nthreads) != 0)
        return hg_fail(HG_ENOMEM, "out of memory");
    /* Where each stack is, then one read for all of them. */
    size_t nspans = 0;
    for (size_t i = 0; i < t->nthreads; i++) {
        const hg_thread *th = &t->threads[i];
        hg_thread_copy *tc = &c->threads[c->n++];
        memset(tc, 0, sizeof *tc);
        tc->tid = th->tid;
        tc->have_regs = th->have_regs;
        memcpy(tc->regs, th->regs, sizeof tc->regs);
        if (!th->have_regs)
            continue;
        uint64_t sp = th->regs[7];
        const hg_mapping *m = hg_find_mapping(t, sp);
        uint64_t lo = sp, hi;
        if (m) {
            lo = sp - m->start >= RED_ZONE ? sp - RED_ZONE : m->start;
            hi = m->end;
        } else {
            hi = sp + UNKNOWN_STACK < sp ? UINT64_MAX : sp + UNKNOWN_STACK;
        }
        tc->map_end = hi;
        if (hi - lo > c->max_copy)
            hi = lo + c->max_copy;
        tc->base = lo;
        tc->data_off = c->nbytes;
        tc->len = (size_t)(hi - lo); /* asked for; what was read, below */
        tc->unknown_map = !m;
        c->nbytes += tc->len;
        c->spans[nspans++] = (hg_span){.addr = lo, .len = tc->len};
    }
    if (hg_array_reserve_((void **)&c->bytes, &c->capbytes, 1, c->nbytes) != 0)
        return hg_fail(HG_ENOMEM, "out of memory");
    for (size_t i = 0, k = 0; i < c->n; i++)
        if (c->threads[i].have_regs)
            c->spans[k++].buf = c->bytes + c->threads[i].data_off;
    if (hg_read_spans(t, c->spans, nspans) < 0)
        return hg_error_code() ? hg_error_code() : HG_EIO;
    for (size_t i = 0, k = 0; i < c->n; i++) {
        hg_thread_copy *tc = &c->threads[i];
        if (!tc->have_regs)
            continue;
        size_t got = c->spans[k++].got;
        if (tc->unknown_map && got < tc->len)
            tc->map_end = tc->base + got; /* what could be read is all there is */
        tc->len = got;
        c->copied += got;
    }
    return 0;
}

void hg_stack_copies_free(hg_stack_copies *c)
{
    free(c->threads);
    free(c->bytes);
    free(c->spans);
    memset(c, 0, sizeof *c);
}
