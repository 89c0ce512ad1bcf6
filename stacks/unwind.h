/* unwind.h -- call stacks of a stopped target's threads. */
#ifndef HG_UNWIND_H
#define HG_UNWIND_H

#include <stddef.h>
#include <stdint.h>

#include "target/target.h"

struct hg_unwinder;

/* Create before the stop (it loads the target's modules).  max_copy: bytes
 * of stack copied per thread at most, HG_STACK_COPY_PROFILE or
 * HG_STACK_COPY_DUMP (heapgrab.h); 0 is the first. */
struct hg_unwinder *hg_unwinder_new(hg_target *t, size_t max_copy);
void hg_unwinder_free(struct hg_unwinder *u);
/* While the target is stopped: copy every thread's registers and live
 * stack (capture.c).  Everything below works on that copy, after the
 * target runs on. */
int hg_unwinder_capture(struct hg_unwinder *u);
/* The same from another target holding the same threads and memory: a copy
 * of u's target made at its stop (target/copy.h). */
int hg_unwinder_capture_from(struct hg_unwinder *u, hg_target *copy);
size_t hg_unwinder_count(const struct hg_unwinder *u);
int hg_unwinder_tid(const struct hg_unwinder *u, size_t i);
/* The call stack of thread i of the last capture, innermost first, as
 * code addresses (return addresses minus one).  *why says why it stopped
 * early, or NULL; it is hg_unwind_cut when the walk wanted stack above
 * what was copied. */
extern const char hg_unwind_cut[];
int hg_unwind_thread(struct hg_unwinder *u, size_t i, uint64_t *pcs, size_t max, size_t *n,
                     const char **why);
/* The same, with sps[i] the stack pointer in frame i (0 where libdwfl
 * could not say): frame i's own stack slots are [sps[i], sps[i + 1]). */
int hg_unwind_thread_sps(struct hg_unwinder *u, size_t i, uint64_t *pcs, uint64_t *sps,
                         size_t max, size_t *n, const char **why);
/* The same walk by libdwfl alone, which hg_unwind_thread falls back on
 * when its own fast walk of cached CFA rules cannot go on (for
 * bench/unwinders, which checks that the two agree). */
int hg_unwind_thread_dwfl(struct hg_unwinder *u, size_t i, uint64_t *pcs, size_t max, size_t *n,
                          const char **why);
/* Threads walked by the fast walk and by libdwfl, so far. */
void hg_unwinder_walks(const struct hg_unwinder *u, uint64_t *fast, uint64_t *dwfl);
/* Stack bytes copied so far, over all captures. */
uint64_t hg_unwinder_copied(const struct hg_unwinder *u);
/* A word of thread i's copied stack (1), or 0 if outside it; its registers
 * (DWARF order), or NULL.  For bench/unwinders, which feeds another
 * unwinder the same copy. */
int hg_unwinder_word(struct hg_unwinder *u, size_t i, uint64_t addr, uint64_t *out);
const uint64_t *hg_unwinder_regs(const struct hg_unwinder *u, size_t i);

#endif
