/* types.c -- the types part of a snapshot (lib/snapshot.h's struct
 * hg_types): release, and the public accessors of heapgrab.h. */
#include <stdlib.h>

#include "heapgrab.h"
#include "lib/snapshot.h"

void hg_types_free(struct hg_types *t)
{
    if (!t)
        return;
    for (size_t i = 0; t->types && i < t->ntypes; i++)
        free((char *)t->types[i].name);
    free(t->types);
    free(t->chunk_type);
    free(t->cells);
    free(t->note);
    free(t);
}

const char *hg_type_how_name(int how)
{
    static const char *const names[HG_TYPE_HOW_COUNT] = {"size", "vtable", "dwarf"};
    return how >= 0 && how < HG_TYPE_HOW_COUNT ? names[how] : "unknown";
}

size_t hg_snapshot_type_count(const hg_snapshot *s) { return s->types ? s->types->ntypes : 0; }

const hg_type *hg_snapshot_type(const hg_snapshot *s, size_t i)
{
    return s->types && i < s->types->ntypes ? &s->types->types[i] : NULL;
}

const hg_type_totals *hg_snapshot_type_totals(const hg_snapshot *s)
{
    return s->types ? &s->types->totals : NULL;
}

const char *hg_snapshot_types_note(const hg_snapshot *s)
{
    return s->types ? s->types->note : NULL;
}

long hg_snapshot_chunk_type(const hg_snapshot *s, size_t i)
{
    return s->types && i < s->nchunks ? s->types->chunk_type[i] : -1;
}
