/* modules.h -- what target/'s own files need of modules.c beyond
 * target.h.  Internal to target/. */
#ifndef HG_MODULES_H
#define HG_MODULES_H

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include "target/target.h"

/* libdwfl's module behind m. */
Dwfl_Module *hg_module_dwfl(const hg_module *m);

/* Every class, struct and union defined in dw (declarations skipped), in
 * unit order: visit(ctx, path, name, die) with its qualified name ("ns::C",
 * "(anonymous namespace)::X", as the demangler writes them) and its own.
 * Namespaces, classes and structs are descended into; dwz partial units
 * are walked once, where first imported.  visit returns 0 to go on, 1 to
 * stop (all found), <0 an error that ends the walk.  0, or that error, or
 * HG_ENOMEM. */
int hg_dwarf_each_class(Dwarf *dw,
                        int (*visit)(void *ctx, const char *path, const char *name, Dwarf_Die *die),
                        void *ctx);

/* Classes and structs of m's DWARF by qualified name: for each definition
 * whose name is names[i], found(ctx, i, die) -- 1 if it takes it (names[i]
 * is then done), 0 to look further, <0 an error that ends the search.
 * Ends early when every name is done.  0, HG_ENOTFOUND (m has no DWARF),
 * HG_ENOMEM, or found's error. */
int hg_module_find_classes(hg_module *m, const char *const *names, size_t n,
                           int (*found)(void *ctx, size_t i, Dwarf_Die *die), void *ctx);

#endif
