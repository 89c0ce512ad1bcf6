/* modules.h -- what target/'s own files need of modules.c beyond
 * target.h.  Internal to target/. */
#ifndef HG_MODULES_H
#define HG_MODULES_H

#include <elfutils/libdwfl.h>

#include "target/target.h"

/* libdwfl's module behind m. */
Dwfl_Module *hg_module_dwfl(const hg_module *m);

#endif
