/*
 * pprof.c -- a snapshot as a gzipped pprof profile (profile.proto).
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
 * frame name is one Function and one Location (same id, no mapping,
 * address 0).  Samples also carry the labels bytes (numeric, the exact
 * object size), arena and state, so -tagfocus / -tagshow work.
 *
 * The default sample type is inuse_space, so that a plain
 * `go tool pprof -top` ranks what the program holds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "profile.pb-c.h"
#include "lib/utf8.h"
#include "writers/pprof_builder.h"

typedef Perftools__Profiles__Profile pb_profile;
typedef Perftools__Profiles__ValueType pb_value_type;
typedef Perftools__Profiles__Sample pb_sample;
typedef Perftools__Profiles__Label pb_label;
typedef Perftools__Profiles__Mapping pb_mapping;
typedef Perftools__Profiles__Location pb_location;
typedef Perftools__Profiles__Line pb_line;
typedef Perftools__Profiles__Function pb_function;

/* ------------------------------------------------------------------ frames */

/* Synthetic frames: frame id i+1 has the name string name[i].  Function and
 * Location share that id. */
struct frames {
    int64_t *name;
    size_t n, cap;
    uint64_t *id_of_str;  /* string index -> frame id (0 = none) */
    size_t nids;
};

static uint64_t frame_id(struct frames *f, struct hg_strtab *st, const char *name)
{
    int64_t si = hg_strtab_intern(st, name);
    if (si < 0)
        return 0;
    size_t idx = (size_t)si;
    if (idx >= f->nids) {
        size_t nids = f->nids ? f->nids : 64;
        while (nids <= idx)
            nids *= 2;
        uint64_t *ids = realloc(f->id_of_str, nids * sizeof *ids);
        if (!ids)
            return 0;
        memset(ids + f->nids, 0, (nids - f->nids) * sizeof *ids);
        f->id_of_str = ids;
        f->nids = nids;
    }
    if (f->id_of_str[idx])
        return f->id_of_str[idx];
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        int64_t *nm = realloc(f->name, cap * sizeof *nm);
        if (!nm)
            return 0;
        f->name = nm;
        f->cap = cap;
    }
    f->name[f->n++] = si;
    f->id_of_str[idx] = f->n;
    return f->n;
}

static void frames_free(struct frames *f)
{
    free(f->name);
    free(f->id_of_str);
}

/* ---------------------------------------------------------------- helpers */

static int64_t i64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

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

/* ------------------------------------------------------------------ writer */

enum { V_INUSE_OBJECTS, V_INUSE_SPACE, V_FREE_OBJECTS, V_FREE_SPACE, NVALUES };
enum { FRAMES_PER_SAMPLE = 3, LABELS_PER_SAMPLE = 3 };

int hg_write_pprof(const hg_snapshot *s, FILE *out)
{
    if (!s || !out)
        return hg_fail(HG_EUSAGE, "hg_write_pprof: no snapshot or stream");

    int rc = 0;
    struct hg_strtab st = {0};
    struct frames fr = {0};
    size_t nb = hg_snapshot_bucket_count(s);
    size_t nmap_all = hg_snapshot_mapping_count(s);

    /* Everything below is freed at 'done'. */
    pb_sample *samples = calloc(nb ? nb : 1, sizeof *samples);
    pb_sample **sample_ptrs = calloc(nb ? nb : 1, sizeof *sample_ptrs);
    uint64_t *loc_ids = calloc(nb ? nb * FRAMES_PER_SAMPLE : 1, sizeof *loc_ids);
    int64_t *values = calloc(nb ? nb * NVALUES : 1, sizeof *values);
    pb_label *labels = calloc(nb ? nb * LABELS_PER_SAMPLE : 1, sizeof *labels);
    pb_label **label_ptrs = calloc(nb ? nb * LABELS_PER_SAMPLE : 1, sizeof *label_ptrs);
    pb_mapping *mappings = calloc(nmap_all ? nmap_all : 1, sizeof *mappings);
    pb_mapping **mapping_ptrs = calloc(nmap_all ? nmap_all : 1, sizeof *mapping_ptrs);
    pb_function *functions = NULL;
    pb_function **function_ptrs = NULL;
    pb_location *locations = NULL;
    pb_location **location_ptrs = NULL;
    pb_line *lines = NULL;
    pb_line **line_ptrs = NULL;
    uint8_t *packed = NULL;

    if (!samples || !sample_ptrs || !loc_ids || !values || !labels || !label_ptrs ||
        !mappings || !mapping_ptrs)
        goto nomem;

    if (hg_strtab_intern(&st, "") != 0)
        goto nomem;

    /* Sample types, in the order of the values. */
    static const char *const type_names[NVALUES][2] = {
        {"inuse_objects", "count"},
        {"inuse_space", "bytes"},
        {"free_objects", "count"},
        {"free_space", "bytes"},
    };
    pb_value_type types[NVALUES];
    pb_value_type *type_ptrs[NVALUES];
    for (int i = 0; i < NVALUES; i++) {
        pb_value_type vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
        int64_t t = hg_strtab_intern(&st, type_names[i][0]);
        int64_t u = hg_strtab_intern(&st, type_names[i][1]);
        if (t < 0 || u < 0)
            goto nomem;
        vt.type = t;
        vt.unit = u;
        types[i] = vt;
        type_ptrs[i] = &types[i];
    }
    pb_value_type period_type = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
    int64_t k_space = hg_strtab_intern(&st, "space");
    int64_t k_bytes_unit = hg_strtab_intern(&st, "bytes");
    int64_t k_bytes = k_bytes_unit;                 /* label key "bytes" */
    int64_t k_arena = hg_strtab_intern(&st, "arena");
    int64_t k_state = hg_strtab_intern(&st, "state");
    int64_t k_default = hg_strtab_intern(&st, "inuse_space");
    if (k_space < 0 || k_bytes_unit < 0 || k_arena < 0 || k_state < 0 || k_default < 0)
        goto nomem;
    period_type.type = k_space;
    period_type.unit = k_bytes_unit;

    /* One sample per bucket. */
    for (size_t i = 0; i < nb; i++) {
        const hg_bucket *b = hg_snapshot_bucket(s, i);
        char name[96];
        pb_sample sm = PERFTOOLS__PROFILES__SAMPLE__INIT;
        uint64_t *ids = &loc_ids[i * FRAMES_PER_SAMPLE];
        int64_t *v = &values[i * NVALUES];

        /* Leaf first: size, state, arena. */
        size_class(b->chunk_size, name, sizeof name);
        ids[0] = frame_id(&fr, &st, name);
        snprintf(name, sizeof name, "state %s", hg_state_name(b->state));
        ids[1] = frame_id(&fr, &st, name);
        arena_frame(s, b->arena, name, sizeof name);
        ids[2] = frame_id(&fr, &st, name);
        if (!ids[0] || !ids[1] || !ids[2])
            goto nomem;

        uint64_t object_bytes;
        if (is_live(b->state)) {
            v[V_INUSE_OBJECTS] = i64(b->count);
            v[V_INUSE_SPACE] = i64(b->usable_bytes);
            object_bytes = b->count ? b->usable_bytes / b->count : 0;
        } else {
            v[V_FREE_OBJECTS] = i64(b->count);
            v[V_FREE_SPACE] = i64(b->bytes);
            object_bytes = b->chunk_size;
        }

        pb_label *lb = &labels[i * LABELS_PER_SAMPLE];
        pb_label **lp = &label_ptrs[i * LABELS_PER_SAMPLE];
        for (int j = 0; j < LABELS_PER_SAMPLE; j++) {
            pb_label init = PERFTOOLS__PROFILES__LABEL__INIT;
            lb[j] = init;
            lp[j] = &lb[j];
        }
        lb[0].key = k_bytes;
        lb[0].num = i64(object_bytes);
        arena_label(b->arena, name, sizeof name);
        lb[1].key = k_arena;
        lb[1].str = hg_strtab_intern(&st, name);
        lb[2].key = k_state;
        lb[2].str = hg_strtab_intern(&st, hg_state_name(b->state));
        if (lb[1].str < 0 || lb[2].str < 0)
            goto nomem;

        sm.n_location_id = FRAMES_PER_SAMPLE;
        sm.location_id = ids;
        sm.n_value = NVALUES;
        sm.value = v;
        sm.n_label = LABELS_PER_SAMPLE;
        sm.label = lp;
        samples[i] = sm;
        sample_ptrs[i] = &samples[i];
    }

    /* Executable file mappings. */
    size_t nmap = 0;
    for (size_t i = 0; i < nmap_all; i++) {
        const hg_mapping *m = hg_snapshot_mapping(s, i);
        if (!m || !m->path || !m->path[0] || m->perms[2] != 'x')
            continue;
        pb_mapping pm = PERFTOOLS__PROFILES__MAPPING__INIT;
        pm.id = nmap + 1;
        pm.memory_start = m->start;
        pm.memory_limit = m->end;
        pm.file_offset = m->offset;
        pm.filename = hg_strtab_intern(&st, m->path);
        pm.build_id = m->build_id ? hg_strtab_intern(&st, m->build_id) : 0;
        if (pm.filename < 0 || pm.build_id < 0)
            goto nomem;
        mappings[nmap] = pm;
        mapping_ptrs[nmap] = &mappings[nmap];
        nmap++;
    }

    /* Comments. */
    char comment[4096 + 128];
    int64_t comments[2];
    const char *exe = hg_snapshot_exe(s);
    const char *glibc = hg_snapshot_glibc_version(s);
    const char *locate = hg_snapshot_locate(s);
    snprintf(comment, sizeof comment, "heapgrab %s heap snapshot of pid %d (%s)",
             HEAPGRAB_VERSION, hg_snapshot_pid(s), exe && exe[0] ? exe : "?");
    comments[0] = hg_strtab_intern(&st, comment);
    snprintf(comment, sizeof comment, "glibc %s, located by %s",
             glibc && glibc[0] ? glibc : "?", locate && locate[0] ? locate : "?");
    comments[1] = hg_strtab_intern(&st, comment);
    if (comments[0] < 0 || comments[1] < 0)
        goto nomem;

    /* Functions and locations, one of each per frame. */
    size_t nf = fr.n;
    functions = calloc(nf ? nf : 1, sizeof *functions);
    function_ptrs = calloc(nf ? nf : 1, sizeof *function_ptrs);
    locations = calloc(nf ? nf : 1, sizeof *locations);
    location_ptrs = calloc(nf ? nf : 1, sizeof *location_ptrs);
    lines = calloc(nf ? nf : 1, sizeof *lines);
    line_ptrs = calloc(nf ? nf : 1, sizeof *line_ptrs);
    if (!functions || !function_ptrs || !locations || !location_ptrs || !lines ||
        !line_ptrs)
        goto nomem;
    for (size_t i = 0; i < nf; i++) {
        pb_function fn = PERFTOOLS__PROFILES__FUNCTION__INIT;
        pb_line ln = PERFTOOLS__PROFILES__LINE__INIT;
        pb_location loc = PERFTOOLS__PROFILES__LOCATION__INIT;
        fn.id = i + 1;
        fn.name = fr.name[i];
        fn.system_name = fr.name[i];
        functions[i] = fn;
        function_ptrs[i] = &functions[i];
        ln.function_id = i + 1;
        lines[i] = ln;
        line_ptrs[i] = &lines[i];
        loc.id = i + 1;
        loc.n_line = 1;
        loc.line = &line_ptrs[i];
        locations[i] = loc;
        location_ptrs[i] = &locations[i];
    }

    pb_profile p = PERFTOOLS__PROFILES__PROFILE__INIT;
    p.n_sample_type = NVALUES;
    p.sample_type = type_ptrs;
    p.n_sample = nb;
    p.sample = sample_ptrs;
    p.n_mapping = nmap;
    p.mapping = mapping_ptrs;
    p.n_location = nf;
    p.location = location_ptrs;
    p.n_function = nf;
    p.function = function_ptrs;
    p.n_string_table = st.n;
    p.string_table = st.v;
    p.time_nanos = i64(hg_snapshot_time_ns(s));
    p.duration_nanos = 0;
    p.period_type = &period_type;
    p.period = 1; /* nothing is sampled */
    p.n_comment = 2;
    p.comment = comments;
    p.default_sample_type = k_default;

    size_t len = perftools__profiles__profile__get_packed_size(&p);
    packed = malloc(len ? len : 1);
    if (!packed)
        goto nomem;
    if (perftools__profiles__profile__pack(&p, packed) != len) {
        rc = hg_fail(HG_EINTERNAL, "protobuf-c packed a profile of unexpected size");
        goto done;
    }
    rc = hg_gzip_write(packed, len, out);
    errno = 0;
    if (rc == 0 && (fflush(out) != 0 || ferror(out)))
        rc = hg_fail(HG_EIO, "writing profile: %s", errno ? strerror(errno) : "I/O error");
    goto done;

nomem:
    rc = hg_fail(HG_ENOMEM, "out of memory");
done:
    free(packed);
    free(line_ptrs);
    free(lines);
    free(location_ptrs);
    free(locations);
    free(function_ptrs);
    free(functions);
    free(mapping_ptrs);
    free(mappings);
    free(label_ptrs);
    free(labels);
    free(values);
    free(loc_ids);
    free(sample_ptrs);
    free(samples);
    frames_free(&fr);
    hg_strtab_free(&st);
    return rc;
}
