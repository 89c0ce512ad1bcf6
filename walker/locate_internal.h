/*
 * locate_internal.h -- the parts of hg_locate() that have files of their
 * own: finding main_arena and mp_ by their structure, without libc's
 * symbols (locate_heuristic.c), and telling glibc malloc and its version
 * in a statically linked program (locate_static.c).
 */
#ifndef HG_LOCATE_INTERNAL_H
#define HG_LOCATE_INTERNAL_H

#include "walker/locate.h"

/* Not exported from libheapgrab.so (see walk_internal.h). */
#pragma GCC visibility push(hidden)

/* main_arena and mp_ in libc's data, by what they look like: r->main_arena,
 * r->mp, r->L (from the version table) and r->how; HG_ENOTFOUND unless
 * exactly one candidate of each is found. */
int locate_heuristic(hg_target *t, hg_located *r);

/* No libc.so in the process: glibc malloc linked into the executable
 * (r->libc is the executable, r->is_static), or an error naming what the
 * program has instead (Go, musl, a stripped glibc). */
int static_malloc(hg_target *t, hg_located *r);

/* A static program with no version string linked in: the range of glibc
 * releases its malloc's sizes allow, if they share one layout
 * (r->version, r->layout_version). */
int static_version(hg_module *exe, hg_located *r);

#pragma GCC visibility pop

#endif
