/*
 * heap_pprof.c -- a snapshot as a gzipped pprof profile (profile.proto).
 *
 * The profile has four sample types, like a Go heap profile:
 *   inuse_objects/count, inuse_space/bytes, free_objects/count, free_space/bytes
 * and one sample per histogram bucket (arena, state, chunk size).  Live
 * chunks (in use or mmapped) count as (objects, usable bytes, 0, 0); idle
 * chunks and allocator overhead as (0, 0, chunks, chunk bytes).
 *
 * There are no call stacks to report, so every sample gets a synthetic stack
 * that reads well in a flame graph, root to leaf:
 *     "arena main" | "arena 1 0x7f..." | "mmapped chunks"
 *       -> "state inuse" -> "size 48" | "size 4-6 KiB"
 * The leaf is the chunk's size class (size_class below).  Each distinct
 * frame name is one Function and one Location (no mapping, address 0).  Samples also carry the labels bytes (numeric, the exact
 * object size), arena and state, so -tagfocus / -tagshow work.  A snapshot
 * taken with types splits each live bucket by type: labels type (the
 * class) and type_source (vtable, dwarf; "size" on the untyped rest).
 *
 * The default sample type is inuse_space, so that a plain
 * `go tool pprof -top` ranks what the program holds.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "lib/snapshot.h"
#include "writers/pprof_builder.h"

/* ---------------------------------------------------------------- helpers */

static const hg_arena_info *find_arena(const hg_snapshot *s, int index)
{
    size_t n = hg_snapshot_arena_count(s);
    for (size_t i = 0; i < n; i++) {
        const hg_arena_info *a = hg_snapshot_arena(s, i);
        if (a && a->index == index)
            return a;
    }
    return NULL;
}

static void arena_label(int arena, char *buf, size_t len)
{
    if (arena < 0)
        snprintf(buf, len, "mmap");
    else if (arena == 0)
        snprintf(buf, len, "main");
    else
        snprintf(buf, len, "arena%d", arena);
}

static void arena_frame(const hg_snapshot *s, int arena, char *buf, size_t len)
{
    const hg_arena_info *a;
    if (arena < 0)
        snprintf(buf, len, "mmapped chunks");
    else if (arena == 0)
        snprintf(buf, len, "arena main");
    else if ((a = find_arena(s, arena)) != NULL)
        snprintf(buf, len, "arena %d 0x%" PRIx64, arena, a->address);
    else
        snprintf(buf, len, "arena %d", arena);
}

/* "1", "1.5", "768" with its unit: bytes, a power of two or one and a
 * half times one, in the largest binary unit it reaches. */
static int format_bound(char *buf, size_t len, uint64_t bytes, const char **unit)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    uint64_t scale = 1024;
    while (u < 5 && bytes / 1024 >= scale) {
        scale *= 1024;
        u++;
    }
    *unit = units[u];
    uint64_t whole = bytes / scale;
    return bytes % scale ? snprintf(buf, len, "%" PRIu64 ".5", whole)
                         : snprintf(buf, len, "%" PRIu64, whole);
}

/*
 * The leaf frame of a chunk: its size class.  Below 1 KiB every chunk size
 * (a multiple of 16: one tcache bin, one small bin) is its own class,
 * "size 48".  From 1 KiB on there are two classes per power of two, "size
 * 1-1.5 KiB" (1024 up to 1535 bytes), "size 1.5-2 KiB", "size 2-3 KiB" and
 * so on.  The exact object size is still in each sample's bytes label.
 *
 * Why classes: go tool pprof leaves out every node under 0.5% of the total
 * (-nodefraction), and a leaf per exact size made a plain -top of a heap
 * spread over a few hundred sizes show nothing but the arena and state
 * frames, "accounting for 0, 0%".  There are at most 63 + 2 x 50 + 1 = 164
 * classes, so the largest holds at least 0.6% of any total and -top always
 * shows it.
 */
static void size_class(uint64_t chunk_size, char *buf, size_t len)
{
    if (chunk_size < 1024) {
        snprintf(buf, len, "size %" PRIu64, chunk_size);
        return;
    }
    if (chunk_size >= (uint64_t)1 << 60) { /* no heap is this big; a corrupt one may say so */
        snprintf(buf, len, "size 1 EiB or more");
        return;
    }
    uint64_t p2 = 1024;
    while (p2 <= chunk_size / 2)
        p2 *= 2;
    uint64_t lo = chunk_size < p2 + p2 / 2 ? p2 : p2 + p2 / 2;
    uint64_t hi = lo == p2 ? p2 + p2 / 2 : 2 * p2;
    char a[32], b[32];
    const char *ua, *ub;
    format_bound(a, sizeof a, lo, &ua);
    format_bound(b, sizeof b, hi, &ub);
    if (!strcmp(ua, ub))
        snprintf(buf, len, "size %s-%s %s", a, b, ub);
    else
        snprintf(buf, len, "size %s %s-%s %s", a, ua, b, ub);
}

static int is_live(int state)
{
    return state == HG_STATE_INUSE || state == HG_STATE_MMAPPED;
}

/* The first of the types' cells of bucket bk (cells are sorted by arena,
 * state, chunk size, type), or NULL. */
static const struct hg_type_cell *first_cell(const struct hg_types *ty, const hg_bucket *bk)
{
    size_t lo = 0, hi = ty->ncells;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct hg_type_cell *c = &ty->cells[mid];
        int before = c->arena != bk->arena ? c->arena < bk->arena
                     : c->state != bk->state ? c->state < bk->state
                                             : c->chunk_size < bk->chunk_size;
        if (before)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ty->ncells ? &ty->cells[lo] : NULL;
}

/* ------------------------------------------------------------------ writer */

enum { V_INUSE_OBJECTS, V_INUSE_SPACE, V_FREE_OBJECTS, V_FREE_SPACE, NVALUES };
enum { FRAMES_PER_SAMPLE = 3, LABELS_PER_SAMPLE = 3, TYPE_LABELS = 2 };

/* The location of a synthetic frame: a function of that name alone. */
static uint64_t frame(struct hg_pprof *b, const char *name)
{
    return hg_pprof_function_location(b, hg_pprof_function(b, name, NULL, 0));
}

int hg_write_pprof(const hg_snapshot *s, FILE *out)
{
    if (!s || !out)
        return hg_fail(HG_EUSAGE, "hg_write_pprof: no snapshot or stream");
    struct hg_pprof *b = hg_pprof_new();
    if (!b)
        return hg_fail(HG_ENOMEM, "out of memory");

    /* Sample types, in the order of the values.  The strings go into the
     * table in the order they are first used here. */
    hg_pprof_sample_type(b, "inuse_objects", "count");
    hg_pprof_sample_type(b, "inuse_space", "bytes");
    hg_pprof_sample_type(b, "free_objects", "count");
    hg_pprof_sample_type(b, "free_space", "bytes");
    hg_pprof_period(b, "space", "bytes", 1); /* nothing is sampled */
    int64_t k_bytes = hg_pprof_string(b, "bytes");
    int64_t k_arena = hg_pprof_string(b, "arena");
    int64_t k_state = hg_pprof_string(b, "state");
    int64_t k_type = s->types ? hg_pprof_string(b, "type") : 0;
    int64_t k_source = s->types ? hg_pprof_string(b, "type_source") : 0;
    hg_pprof_default_sample_type(b, "inuse_space");

    /* One sample per bucket. */
    for (size_t i = 0, nb = hg_snapshot_bucket_count(s); i < nb; i++) {
        const hg_bucket *bk = hg_snapshot_bucket(s, i);
        char name[96];
        uint64_t ids[FRAMES_PER_SAMPLE];
        int64_t v[NVALUES] = {0};

        /* Leaf first: size, state, arena. */
        size_class(bk->chunk_size, name, sizeof name);
        ids[0] = frame(b, name);
        snprintf(name, sizeof name, "state %s", hg_state_name(bk->state));
        ids[1] = frame(b, name);
        arena_frame(s, bk->arena, name, sizeof name);
        ids[2] = frame(b, name);

        uint64_t object_bytes;
        if (is_live(bk->state)) {
            v[V_INUSE_OBJECTS] = hg_pprof_i64(bk->count);
            v[V_INUSE_SPACE] = hg_pprof_i64(bk->usable_bytes);
            object_bytes = bk->count ? bk->usable_bytes / bk->count : 0;
        } else {
            v[V_FREE_OBJECTS] = hg_pprof_i64(bk->count);
            v[V_FREE_SPACE] = hg_pprof_i64(bk->bytes);
            object_bytes = bk->chunk_size;
        }

        struct hg_pprof_label lb[LABELS_PER_SAMPLE + TYPE_LABELS] = {
            {.key = k_bytes, .num = hg_pprof_i64(object_bytes)}};
        arena_label(bk->arena, name, sizeof name);
        lb[1] = (struct hg_pprof_label){.key = k_arena, .str = hg_pprof_string(b, name)};
        lb[2] = (struct hg_pprof_label){.key = k_state,
                                        .str = hg_pprof_string(b, hg_state_name(bk->state))};
        if (!s->types || !is_live(bk->state)) {
            hg_pprof_sample(b, ids, FRAMES_PER_SAMPLE, v, lb, LABELS_PER_SAMPLE);
            continue;
        }
        /* With types, a live bucket is one sample per type found in it
         * (labels type and type_source) and one for the rest, untyped
         * (type_source "size"). */
        const struct hg_types *ty = s->types;
        const struct hg_type_cell *c = first_cell(ty, bk);
        uint64_t count = bk->count, usable = bk->usable_bytes;
        for (; c && c < ty->cells + ty->ncells && c->arena == bk->arena &&
               c->state == bk->state && c->chunk_size == bk->chunk_size; c++) {
            const hg_type *t = &ty->types[c->type];
            int64_t tv[NVALUES] = {0};
            tv[V_INUSE_OBJECTS] = hg_pprof_i64(c->count);
            tv[V_INUSE_SPACE] = hg_pprof_i64(c->usable_bytes);
            lb[0].num = hg_pprof_i64(c->count ? c->usable_bytes / c->count : 0);
            lb[3] = (struct hg_pprof_label){.key = k_type, .str = hg_pprof_string(b, t->name)};
            lb[4] = (struct hg_pprof_label){
                .key = k_source, .str = hg_pprof_string(b, hg_type_how_name(t->how))};
            hg_pprof_sample(b, ids, FRAMES_PER_SAMPLE, tv, lb, LABELS_PER_SAMPLE + TYPE_LABELS);
            count -= c->count < count ? c->count : count;
            usable -= c->usable_bytes < usable ? c->usable_bytes : usable;
        }
        if (count) {
            v[V_INUSE_OBJECTS] = hg_pprof_i64(count);
            v[V_INUSE_SPACE] = hg_pprof_i64(usable);
            lb[0].num = hg_pprof_i64(usable / count);
            lb[3] = (struct hg_pprof_label){
                .key = k_source, .str = hg_pprof_string(b, hg_type_how_name(HG_TYPE_SIZE))};
            hg_pprof_sample(b, ids, FRAMES_PER_SAMPLE, v, lb, LABELS_PER_SAMPLE + 1);
        }
    }

    /* Executable file mappings. */
    for (size_t i = 0, n = hg_snapshot_mapping_count(s); i < n; i++) {
        const hg_mapping *m = hg_snapshot_mapping(s, i);
        if (!m || !m->path || !m->path[0] || m->perms[2] != 'x')
            continue;
        struct hg_pprof_mapping pm = {m->start, m->end, m->offset, m->path, m->build_id, 0};
        hg_pprof_mapping(b, &pm);
    }

    /* Comments. */
    char comment[4096 + 128];
    const char *exe = hg_snapshot_exe(s);
    const char *glibc = hg_snapshot_glibc_version(s);
    const char *locate = hg_snapshot_locate(s);
    snprintf(comment, sizeof comment, "heapgrab %s heap snapshot of pid %d (%s)",
             HEAPGRAB_VERSION, hg_snapshot_pid(s), exe && exe[0] ? exe : "?");
    hg_pprof_comment(b, comment);
    snprintf(comment, sizeof comment, "glibc %s, located by %s",
             glibc && glibc[0] ? glibc : "?", locate && locate[0] ? locate : "?");
    hg_pprof_comment(b, comment);

    hg_pprof_time(b, hg_pprof_i64(hg_snapshot_time_ns(s)), 0);
    int rc = hg_pprof_write(b, out);
    hg_pprof_free(b);
    return rc;
}
