/*
 * capture.h -- what a stop keeps of each thread for the unwinder: its
 * registers and the live part of its stack, copied for all threads in one
 * read while the target is stopped.  The walks happen on the copies after
 * the target runs on (stacks/unwind.c).
 */
#ifndef HG_CAPTURE_H
#define HG_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "target/target.h"

/* One thread as the stop found it: registers and its stack's copy,
 * [base, base + len), at data_off in the copies' bytes. */
typedef struct hg_thread_copy {
    int tid;
    int have_regs;
    uint64_t regs[17];   /* DWARF order, as hg_thread's */
    uint64_t base;
    size_t len, data_off;
    uint64_t map_end;    /* end of the memory the stack is in (or base + len) */
    int unknown_map;     /* no known mapping holds the stack pointer */
} hg_thread_copy;

typedef struct hg_stack_copies {
    size_t max_copy;         /* bytes of stack copied per thread, at most */
    hg_thread_copy *threads; /* the last stop's */
    size_t n, cap;
    unsigned char *bytes;    /* their stacks */
    size_t nbytes, capbytes;
    hg_span *spans;          /* the reads that fill bytes */
    size_t capspans;
    uint64_t copied;         /* stack bytes copied, over all stops */
} hg_stack_copies;

/* While t is stopped (t->threads filled): copy every thread's registers
 * and live stack, replacing the last stop's.  0, or an HG_E* code. */
int hg_copy_stacks(hg_stack_copies *c, hg_target *t);
/* The 8 bytes at addr of th's stack copy: 1; 0 if addr is not in the
 * copy; -1 if it is above the copy but in the stack's memory (the copy
 * stopped short of what the walk wants). */
int hg_copy_word(const hg_stack_copies *c, const hg_thread_copy *th, uint64_t addr,
                 uint64_t *out);
void hg_stack_copies_free(hg_stack_copies *c);

#endif
