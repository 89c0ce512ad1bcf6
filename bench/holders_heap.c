/*
 * holders_heap -- the holders benchmark's heap: about 7 million chunks and
 * 1 GiB in use, as a long linked list (g_list) and a big array of owned
 * objects (g_array: one mmapped pointer array, each entry owning an object
 * that owns a small one), and a few leaks.  Prints one JSON line with what
 * it built, then waits for stdin to close.
 *
 *   holders_heap [CHUNKS]      default 7000000
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node {
    struct node *next;
    char payload[104];     /* 120 usable bytes a node */
};
struct owned {
    char *small;
    char payload[200];     /* 216 usable bytes */
};

struct node *g_list;
struct owned **g_array;

int main(int argc, char **argv)
{
    size_t chunks = argc > 1 ? strtoul(argv[1], NULL, 10) : 7000000;
    size_t nlist = chunks / 2, nown = (chunks - nlist) / 2;
    uint64_t bytes = 0;
    for (size_t i = 0; i < nlist; i++) {
        struct node *x = malloc(sizeof *x);
        if (!x)
            return 1;
        memset(x, 0, sizeof *x);
        x->next = g_list;
        g_list = x;
        bytes += malloc_usable_size(x);
    }
    g_array = calloc(nown, sizeof *g_array);
    if (!g_array)
        return 1;
    bytes += malloc_usable_size(g_array);
    for (size_t i = 0; i < nown; i++) {
        struct owned *o = malloc(sizeof *o);
        if (!o)
            return 1;
        memset(o, 0, sizeof *o);
        o->small = calloc(1, 24);
        g_array[i] = o;
        bytes += malloc_usable_size(o) + malloc_usable_size(o->small);
    }
    /* leaks: through a volatile pointer, or the compiler drops the malloc */
    for (int i = 0; i < 100; i++) {
        char *volatile p = malloc(64);
        memset(p, 0, 64);
        p = NULL; /* the slot must not keep the last one */
    }
    printf("{\"pid\": %d, \"objects\": %zu, \"bytes\": %llu}\n", (int)getpid(),
           nlist + 2 * nown + 1, (unsigned long long)bytes);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}
