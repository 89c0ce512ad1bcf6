/* symbolize.h -- what an address of a target means (symbolize.c). */
#ifndef HG_SYMBOLIZE_H
#define HG_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/location.h"
#include "target/target.h"

/* Symbolize pc (the target may be running).  Returns 0: an address in no
 * module, or one heapgrab cannot name, gives a location without lines. */
int hg_symbolize(hg_target *t, uint64_t pc, hg_location *loc);

/* A C++ type's name from its mangling as a `_ZTS` string or a `_ZTV`
 * symbol's tail holds it ("N3geo4PolyIfEE" -> "geo::Poly<float>"),
 * malloc'd.  NULL when it is not a valid mangled type, or out of memory;
 * without a demangler (libstdc++'s __cxa_demangle cannot be loaded) a copy
 * of the mangling itself. */
char *hg_demangle_type(const char *mangling);

#endif
