/* snapshot.c -- building a snapshot (walker side) and reading it (public). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "lib/snapshot.h"

/* Buckets are found through a small open-addressing index while the walker
 * adds to them; the index is dropped once the snapshot is sorted. */
struct bucket_index {
    size_t *slots; /* bucket number + 1, 0 = empty */
    size_t cap;
};

static struct bucket_index *index_of(hg_snapshot *s);

typedef struct {
    hg_snapshot pub;
    struct bucket_index idx;
    size_t bucket_cap;
} snapshot_impl;

static struct bucket_index *index_of(hg_snapshot *s)
{
    return &((snapshot_impl *)s)->idx;
}

hg_snapshot *hg_snapshot_new(void)
{
    snapshot_impl *si = calloc(1, sizeof *si);
    if (!si)
        return NULL;
    si->pub.locate = "symbols";
    /* Unknown until the walk measures them (it cannot, on a core). */
    si->pub.rss_bytes = HG_UNKNOWN;
    si->pub.heap_resident_bytes = HG_UNKNOWN;
    si->pub.timing.stopped_ns = HG_UNKNOWN;
    si->pub.timing.copy_ns = HG_UNKNOWN;
    return &si->pub;
}

static size_t bucket_hash(int arena, int state, uint64_t size)
{
    uint64_t h = size * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)(arena + 1) * 0xC2B2AE3D27D4EB4Full;
    h ^= (uint64_t)state * 0x165667B19E3779F9ull;
    return (size_t)(h ^ (h >> 29));
}

static int index_grow(hg_snapshot *s)
{
    struct bucket_index *ix = index_of(s);
    size_t cap = ix->cap ? ix->cap * 2 : 256;
    while (cap < 2 * (s->nbuckets + 1))
        cap *= 2;
    size_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < s->nbuckets; i++) {
        hg_bucket *b = &s->buckets[i];
        size_t j = bucket_hash(b->arena, b->state, b->chunk_size) & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = i + 1;
    }
    free(ix->slots);
    ix->slots = slots;
    ix->cap = cap;
    return 0;
}

int hg_snapshot_add(hg_snapshot *s, int arena, int state, uint64_t chunk_size,
                    uint64_t count, uint64_t usable_bytes)
{
    snapshot_impl *si = (snapshot_impl *)s;
    struct bucket_index *ix = &si->idx;
    if (count == 0)
        return 0;
    if ((s->nbuckets + 1) * 2 > ix->cap && index_grow(s) < 0)
        return hg_fail(HG_ENOMEM, "out of memory");
    size_t j = bucket_hash(arena, state, chunk_size) & (ix->cap - 1);
    while (ix->slots[j]) {
        hg_bucket *b = &s->buckets[ix->slots[j] - 1];
        if (b->arena == arena && b->state == state && b->chunk_size == chunk_size) {
            b->count += count;
            b->bytes += count * chunk_size;
            b->usable_bytes += usable_bytes;
            return 0;
        }
        j = (j + 1) & (ix->cap - 1);
    }
    if (s->nbuckets == si->bucket_cap) {
        size_t cap = si->bucket_cap ? si->bucket_cap * 2 : 128;
        hg_bucket *nb = realloc(s->buckets, cap * sizeof *nb);
        if (!nb)
            return hg_fail(HG_ENOMEM, "out of memory");
        s->buckets = nb;
        si->bucket_cap = cap;
    }
    hg_bucket *b = &s->buckets[s->nbuckets++];
    b->arena = arena;
    b->state = state;
    b->chunk_size = chunk_size;
    b->count = count;
    b->bytes = count * chunk_size;
    b->usable_bytes = usable_bytes;
    ix->slots[j] = s->nbuckets;
    return 0;
}

static int bucket_cmp(const void *a, const void *b)
{
    const hg_bucket *x = a, *y = b;
    if (x->arena != y->arena)
        return x->arena < y->arena ? -1 : 1;
    if (x->state != y->state)
        return x->state < y->state ? -1 : 1;
    if (x->chunk_size != y->chunk_size)
        return x->chunk_size < y->chunk_size ? -1 : 1;
    return 0;
}

void hg_snapshot_sort_buckets(hg_snapshot *s)
{
    struct bucket_index *ix = index_of(s);
    if (s->nbuckets)
        qsort(s->buckets, s->nbuckets, sizeof *s->buckets, bucket_cmp);
    free(ix->slots);
    ix->slots = NULL;
    ix->cap = 0;
    /* Rebuilt lazily by the next hg_snapshot_add(), which grows it. */
}

int hg_snapshot_add_problem(hg_snapshot *s, unsigned keep, int arena,
                            uint64_t address, const char *fmt, ...)
{
    if (keep == 0)
        keep = 32;
    s->problems_total++;
    if (s->nproblems >= keep)
        return 0;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    hg_problem *np = realloc(s->problems, (s->nproblems + 1) * sizeof *np);
    if (!np)
        return hg_fail(HG_ENOMEM, "out of memory");
    s->problems = np;
    np[s->nproblems].arena = arena;
    np[s->nproblems].address = address;
    np[s->nproblems].what = strdup(buf);
    s->nproblems++;
    return 0;
}

void hg_snapshot_free(hg_snapshot *s)
{
    if (!s)
        return;
    snapshot_impl *si = (snapshot_impl *)s;
    for (size_t i = 0; i < s->nproblems; i++)
        free((char *)s->problems[i].what);
    for (size_t i = 0; i < s->nmappings; i++) {
        free((char *)s->mappings[i].path);
        free((char *)s->mappings[i].build_id);
    }
    free(s->problems);
    free(s->mappings);
    free(s->chunks);
    free(s->arenas);
    free(s->buckets);
    free(s->threads);
    hg_holders_free(s->holders);
    free(s->chunk_words);
    hg_types_free(s->types);
    free(s->fallback);
    free(si->idx.slots);
    free(si);
}

const char *hg_state_name(int state)
{
    static const char *const names[HG_STATE_COUNT] = {
        "inuse", "tcache", "fastbin", "bin", "top", "overhead", "mmapped"};
    return state >= 0 && state < HG_STATE_COUNT ? names[state] : "unknown";
}

/* hg_totals' fields by name, from the one list (HG_TOTALS_FIELDS). */
#define TOTALS_NAME(name, unit, part, label) #name,
static const char *const totals_names[] = {HG_TOTALS_FIELDS(TOTALS_NAME)};
#undef TOTALS_NAME
_Static_assert(sizeof(hg_totals) == sizeof totals_names / sizeof *totals_names * sizeof(uint64_t),
               "every field of hg_totals is a uint64_t of HG_TOTALS_FIELDS");

size_t hg_totals_field_count(void) { return sizeof totals_names / sizeof *totals_names; }
const char *hg_totals_field_name(size_t i)
{
    return i < hg_totals_field_count() ? totals_names[i] : NULL;
}

int hg_snapshot_pid(const hg_snapshot *s) { return s->pid; }
const char *hg_snapshot_exe(const hg_snapshot *s) { return s->exe; }
const char *hg_snapshot_glibc_version(const hg_snapshot *s) { return s->glibc_version; }
const char *hg_snapshot_locate(const hg_snapshot *s) { return s->locate; }
uint64_t hg_snapshot_time_ns(const hg_snapshot *s) { return s->time_ns; }
const hg_mallinfo2 *hg_snapshot_mallinfo2(const hg_snapshot *s) { return &s->mallinfo2; }
const hg_totals *hg_snapshot_totals(const hg_snapshot *s) { return &s->totals; }
const hg_timing *hg_snapshot_timing(const hg_snapshot *s) { return &s->timing; }
int hg_snapshot_consistent(const hg_snapshot *s) { return !s->inconsistent; }

const char *hg_pause_name(int pause)
{
    static const char *const names[] = {"none", "walk", "copy", "no-stop"};
    return pause >= 0 && pause < 4 ? names[pause] : "?";
}
uint64_t hg_snapshot_rss_bytes(const hg_snapshot *s) { return s->rss_bytes; }
const hg_sampler_info *hg_snapshot_sampler(const hg_snapshot *s)
{
    return s && s->have_sampler ? &s->sampler : NULL;
}
uint64_t hg_snapshot_heap_resident_bytes(const hg_snapshot *s) { return s->heap_resident_bytes; }
size_t hg_snapshot_arena_count(const hg_snapshot *s) { return s->narenas; }
size_t hg_snapshot_bucket_count(const hg_snapshot *s) { return s->nbuckets; }
size_t hg_snapshot_thread_count(const hg_snapshot *s) { return s->nthreads; }
size_t hg_snapshot_problem_count(const hg_snapshot *s) { return s->nproblems; }
uint64_t hg_snapshot_problem_total(const hg_snapshot *s) { return s->problems_total; }
size_t hg_snapshot_mapping_count(const hg_snapshot *s) { return s->nmappings; }
size_t hg_snapshot_chunk_count(const hg_snapshot *s) { return s->nchunks; }
const hg_chunk *hg_snapshot_chunk(const hg_snapshot *s, size_t i)
{
    return i < s->nchunks ? &s->chunks[i] : NULL;
}

const hg_arena_info *hg_snapshot_arena(const hg_snapshot *s, size_t i)
{
    return i < s->narenas ? &s->arenas[i] : NULL;
}
const hg_bucket *hg_snapshot_bucket(const hg_snapshot *s, size_t i)
{
    return i < s->nbuckets ? &s->buckets[i] : NULL;
}
const hg_thread_info *hg_snapshot_thread(const hg_snapshot *s, size_t i)
{
    return i < s->nthreads ? &s->threads[i] : NULL;
}
const hg_problem *hg_snapshot_problem(const hg_snapshot *s, size_t i)
{
    return i < s->nproblems ? &s->problems[i] : NULL;
}
const hg_mapping *hg_snapshot_mapping(const hg_snapshot *s, size_t i)
{
    return i < s->nmappings ? &s->mappings[i] : NULL;
}
