/* modules.h -- what target/'s own files need of modules.c beyond
 * target.h.  Internal to target/. */
#ifndef HG_MODULES_H
#define HG_MODULES_H

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include "target/target.h"

/* libdwfl's module behind m. */
Dwfl_Module *hg_module_dwfl(const hg_module *m);

/* Classes and structs of m's DWARF by qualified name ("geo::Poly<float>",
 * "(anonymous namespace)::X", as the demangler writes them): for each
 * definition whose name is names[i], found(ctx, i, die) -- 1 if it takes
 * it (names[i] is then done), 0 to look further, <0 an error that ends the
 * search.  One pass over the namespaces and classes of every unit, dwz
 * partial units included, ended early when every name is done.  0,
 * HG_ENOTFOUND (m has no DWARF), HG_ENOMEM, or found's error. */
int hg_module_find_classes(hg_module *m, const char *const *names, size_t n,
                           int (*found)(void *ctx, size_t i, Dwarf_Die *die), void *ctx);

#endif
