/* holders.c -- the holders part of a snapshot (lib/snapshot.h's struct
 * hg_holders): allocation, and the public accessors of heapgrab.h. */
#include <stdlib.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/snapshot.h"

struct hg_holders *hg_holders_new(size_t nobjects, size_t nroots)
{
    struct hg_holders *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    size_t n = nobjects ? nobjects : 1, nodes = nobjects + nroots + 1;
    h->nobjects = nobjects;
    h->nroots = nroots;
    h->address = calloc(n, sizeof *h->address);
    h->size = calloc(n, sizeof *h->size);
    h->cls = calloc(n, sizeof *h->cls);
    h->idom = calloc(n, sizeof *h->idom);
    h->retained_objects = calloc(nodes, sizeof *h->retained_objects);
    h->retained_bytes = calloc(nodes, sizeof *h->retained_bytes);
    h->roots = calloc(nroots ? nroots : 1, sizeof *h->roots);
    h->by_retained = calloc(nroots ? nroots : 1, sizeof *h->by_retained);
    if (!h->address || !h->size || !h->cls || !h->idom || !h->retained_objects ||
        !h->retained_bytes || !h->roots || !h->by_retained) {
        hg_holders_free(h);
        return NULL;
    }
    return h;
}

void hg_holders_free(struct hg_holders *h)
{
    if (!h)
        return;
    for (size_t i = 0; h->roots && i < h->nroots; i++) {
        free((char *)h->roots[i].name);
        free((char *)h->roots[i].module);
        free((char *)h->roots[i].file);
        free((char *)h->roots[i].thread_name);
    }
    free(h->address);
    free(h->size);
    free(h->cls);
    free(h->idom);
    free(h->retained_objects);
    free(h->retained_bytes);
    free(h->roots);
    free(h->by_retained);
    free(h->groups);
    free(h->arena);
    free(h);
}

const char *hg_root_kind_name(int kind)
{
    static const char *const names[HG_ROOT_KIND_COUNT] = {"global", "stack", "register", "tls",
                                                          "mapping"};
    return kind >= 0 && kind < HG_ROOT_KIND_COUNT ? names[kind] : "unknown";
}

const char *hg_object_class_name(int cls)
{
    static const char *const names[] = {"reachable", "possibly", "direct", "indirect"};
    return cls >= 0 && cls < 4 ? names[cls] : "unknown";
}

size_t hg_snapshot_root_count(const hg_snapshot *s) { return s->holders ? s->holders->nranked : 0; }

const hg_root *hg_snapshot_root(const hg_snapshot *s, size_t i)
{
    const struct hg_holders *h = s->holders;
    return h && i < h->nranked ? &h->roots[h->by_retained[i]] : NULL;
}

const hg_leak_totals *hg_snapshot_leaks(const hg_snapshot *s) { return s->holders ? &s->holders->leaks : NULL; }

size_t hg_snapshot_object_count(const hg_snapshot *s) { return s->holders ? s->holders->nobjects : 0; }

int hg_snapshot_object(const hg_snapshot *s, size_t i, hg_object *out)
{
    const struct hg_holders *h = s->holders;
    if (!h || i >= h->nobjects)
        return HG_EUSAGE;
    uint32_t d = h->idom[i];
    size_t super = h->nobjects + h->nroots;
    out->address = h->address[i];
    out->size = h->size[i];
    out->cls = h->cls[i];
    out->holder_root = -1;
    if (d == HG_HOLDERS_NONE)
        out->holder = HG_HOLDER_LEAKED;
    else if (d == super)
        out->holder = HG_HOLDER_SEVERAL;
    else if (d >= h->nobjects) {
        out->holder = HG_HOLDER_ROOT;
        out->holder_root = (int64_t)(d - h->nobjects);
    } else
        out->holder = d;
    out->retained_objects = h->retained_objects[i];
    out->retained_bytes = h->retained_bytes[i];
    return 0;
}

size_t hg_snapshot_leak_group_count(const hg_snapshot *s) { return s->holders ? s->holders->ngroups : 0; }

const hg_leak_group *hg_snapshot_leak_group(const hg_snapshot *s, size_t i)
{
    const struct hg_holders *h = s->holders;
    return h && i < h->ngroups ? &h->groups[i] : NULL;
}
