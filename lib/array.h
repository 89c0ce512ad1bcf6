/*
 * array.h -- the one growable array, in the manner of libgit2's
 * git_array_t: a struct of pointer, size and allocation, grown by doubling.
 *
 *     hg_array(struct thing) things = HG_ARRAY_INIT;
 *     struct thing *t = hg_array_push(things);   // NULL: out of memory
 *     if (!t) return hg_fail(HG_ENOMEM, "out of memory");
 *     ... things.ptr[i], things.size ...
 *     hg_array_clear(things);
 *
 * A pushed element is not initialised.  Pointers into the array are valid
 * until the next push.
 */
#ifndef HG_ARRAY_H
#define HG_ARRAY_H

#include <stddef.h>
#include <stdlib.h>

#define hg_array(T) struct { T *ptr; size_t size, alloc; }
#define HG_ARRAY_INIT {NULL, 0, 0}

/* Room for at least want elements of item bytes at *ptr: 0, or -1 when out
 * of memory or the size would overflow (nothing is changed then). */
int hg_array_reserve_(void **ptr, size_t *alloc, size_t item, size_t want);

#define hg_array_reserve(a, want) \
    hg_array_reserve_((void **)&(a).ptr, &(a).alloc, sizeof *(a).ptr, (want))
/* A new last element, or NULL when out of memory. */
#define hg_array_push(a) \
    (hg_array_reserve((a), (a).size + 1) == 0 ? &(a).ptr[(a).size++] : NULL)
/* Advise the kernel to back the whole 2 MiB pages of [p, p + len) with
 * huge pages where it can.  For an array of hundreds of MiB filled once:
 * 512 times fewer page faults (on a PVM guest each one traps to the host)
 * and fewer TLB misses when it is searched. */
void hg_advise_huge(void *p, size_t len);

#define hg_array_clear(a) \
    do {                  \
        free((a).ptr);    \
        (a).ptr = NULL;   \
        (a).size = 0;     \
        (a).alloc = 0;    \
    } while (0)

#endif
