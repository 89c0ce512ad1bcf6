/*
 * progress.h -- the library's side of hg_progress (heapgrab.h): where the
 * long loops say how far they are.  Each call is a relaxed atomic store or
 * two when a frontend watches, one load when none does; safe to call while
 * the target is stopped.
 */
#ifndef HG_PROGRESS_H
#define HG_PROGRESS_H

#include <stdint.h>

#include "heapgrab.h"

void hg_progress_begin(const char *what, const char *unit, uint64_t total);
void hg_progress_set(uint64_t done);
void hg_progress_add(uint64_t n);
void hg_progress_end(void);

#endif
