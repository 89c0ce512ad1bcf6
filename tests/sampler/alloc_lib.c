/* alloc_lib.c -- a library the stress target dlopen()s and dlclose()s
 * again and again: it allocates when loaded, when called, and frees when
 * unloaded, and hands out objects that outlive it (their sampled stacks
 * then point into a library no longer mapped). */
#include <stdlib.h>
#include <string.h>

static char *loaded;

__attribute__((constructor)) static void lib_start(void) { loaded = strdup("loaded"); }
__attribute__((destructor)) static void lib_end(void) { free(loaded); }

__attribute__((noinline)) void *alloc_lib_make(size_t n)
{
    char *p = malloc(n);
    if (p)
        memset(p, 7, n);
    return p;
}
