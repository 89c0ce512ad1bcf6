/*
 * leaks.h -- every object classified as LeakSanitizer and Valgrind would:
 *
 *   reachable  a chain of pointers to its start leads to it from a root;
 *   possibly   reachable, but every chain from the roots goes through at
 *              least one interior pointer (Valgrind's "possibly lost": the
 *              program may hold it by an address inside it, or the word may
 *              be a number that happens to look like one);
 *   direct     reachable from no root, and pointed at by no other leaked
 *              object (LeakSanitizer's "direct leak": the head of what was
 *              lost; an object pointing only at itself is direct);
 *   indirect   reachable from no root, pointed at by another leaked object
 *              (so a leaked cycle, having no head, is all indirect).
 *
 * Interior pointers count everywhere, as LeakSanitizer counts them; a
 * pointer from an object into itself is never an edge (graph.h).  Needs
 * only the graph, not the dominators: one byte an object, and a stack of at
 * most 4 bytes an object while searching.
 */
#ifndef HG_ANALYSIS_LEAKS_H
#define HG_ANALYSIS_LEAKS_H

#include <stdint.h>

#include "analysis/graph.h"

enum hg_leak_class {
    HG_LEAK_REACHABLE = 0,
    HG_LEAK_POSSIBLY = 1,
    HG_LEAK_DIRECT = 2,
    HG_LEAK_INDIRECT = 3,
    HG_LEAK_CLASSES = 4
};

typedef struct hg_leaks {
    uint8_t *class_of; /* per object: an enum hg_leak_class */
    struct {
        uint64_t objects, bytes;
    } total[HG_LEAK_CLASSES];
} hg_leaks;

/* Classify the objects of a finished graph.  0, HG_EUSAGE (not finished)
 * or HG_ENOMEM. */
int hg_leaks_classify(const hg_graph *g, hg_leaks *l);
void hg_leaks_free(hg_leaks *l);

#endif
