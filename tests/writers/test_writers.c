/*
 * test_writers.c -- the text, JSON and pprof writers on synthetic snapshots.
 *
 *   test_writers OUTDIR
 *
 * Builds a snapshot by hand (lib/snapshot.h), writes OUTDIR/heap.{txt,json,
 * pb.gz}, OUTDIR/empty.{txt,json,pb.gz} and OUTDIR/totals_fields.txt (the
 * library's list of hg_totals' fields, for check_json.py), and checks:
 *   - the pprof file is gzip, decodes with protobuf-c, has the four sample
 *     types, one sample per bucket with the right values, labels and
 *     synthetic stack, deduplicated strings and frames, the executable file
 *     mappings, and sample sums equal to the snapshot totals;
 *   - the text report holds the figures, stays within 100 columns and
 *     prints no control characters; unknown figures (a new snapshot's RSS,
 *     residency and stop time) show as n/a or not at all;
 *   - every writer reports HG_EIO when the stream fails.
 * The JSON is checked by tests/writers/check_json.py and the pprof file by
 * `go tool pprof` (tests/writers/check_pprof_go.sh), both on these files.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "heapgrab.h"
#include "lib/snapshot.h"
#include "tests/writers/readback.h"

int failures;

/* ------------------------------------------------------- the synthetic heap */

struct bk {
    int arena, state;
    uint64_t chunk_size, count, usable;
};

/* Keep in sync with tests/writers/check_json.py. */
static const struct bk BUCKETS[] = {
    {0, HG_STATE_INUSE, 32, 10, 240},
    {0, HG_STATE_INUSE, 48, 5, 200},
    {0, HG_STATE_INUSE, 1040, 3, 3096},
    {0, HG_STATE_TCACHE, 32, 3, 0},
    {0, HG_STATE_TCACHE, 48, 2, 0},
    {0, HG_STATE_FASTBIN, 64, 2, 0},
    {0, HG_STATE_BIN, 1024, 1, 0},
    {0, HG_STATE_BIN, 4096, 2, 0},
    {0, HG_STATE_TOP, 132000, 1, 0},
    {0, HG_STATE_OVERHEAD, 592, 1, 0},
    {1, HG_STATE_INUSE, 48, 7, 280},
    {1, HG_STATE_TCACHE, 48, 1, 0},
    {1, HG_STATE_BIN, 2048, 1, 0},
    {1, HG_STATE_TOP, 65536, 1, 0},
    {1, HG_STATE_OVERHEAD, 2224, 1, 0},
    {-1, HG_STATE_MMAPPED, 135168, 2, 270304},
    {-1, HG_STATE_MMAPPED, 266240, 1, 266224},
};
#define NBUCKETS (sizeof BUCKETS / sizeof *BUCKETS)

/* The pprof leaf frame (size class) of each chunk size above: below 1 KiB
 * the size itself, from 1 KiB two classes per power of two. */
static const char *size_frame(uint64_t chunk_size)
{
    switch (chunk_size) {
    case 32: return "size 32";
    case 48: return "size 48";
    case 64: return "size 64";
    case 592: return "size 592";
    case 1024: case 1040: return "size 1-1.5 KiB";
    case 2048: case 2224: return "size 2-3 KiB";
    case 4096: return "size 4-6 KiB";
    case 65536: return "size 64-96 KiB";
    case 132000: case 135168: return "size 128-192 KiB";
    case 266240: return "size 256-384 KiB";
    }
    return "?";
}

/* Raw bytes: a quote, a tab, \x01, UTF-8 'é' and an invalid byte 0xff. */
static const char EXE[] = "/opt/app/bin/weird \"name\"\t\x01\xc3\xa9\xff";
/* The same as valid UTF-8, as pprof strings must be. */
static const char EXE_UTF8[] = "/opt/app/bin/weird \"name\"\t\x01\xc3\xa9\xef\xbf\xbd";
static const char LONG_PROBLEM[] =
    "chunk size 0x4141414141414141 is larger than the arena's system_mem and the next "
    "chunk's prev_inuse bit is clear although the chunk is on no free list; walking "
    "stopped here";

/* Add a bucket's figures to totals (the walker's accounting rules). */
static void account(hg_totals *t, const struct bk *b, int global)
{
    uint64_t bytes = b->count * b->chunk_size;
    switch (b->state) {
    case HG_STATE_INUSE:
        t->inuse_objects += b->count;
        t->inuse_bytes += b->usable;
        break;
    case HG_STATE_MMAPPED: /* live allocations: counted as in use too */
        if (global) {
            t->inuse_objects += b->count;
            t->inuse_bytes += b->usable;
            t->mmapped_objects += b->count;
            t->mmapped_bytes += bytes;
            t->sys_bytes += bytes;
        }
        break;
    case HG_STATE_TCACHE:
        t->tcache_objects += b->count;
        t->tcache_bytes += bytes;
        break;
    case HG_STATE_FASTBIN:
        t->fastbin_objects += b->count;
        t->fastbin_bytes += bytes;
        break;
    case HG_STATE_BIN:
        t->free_objects += b->count;
        t->free_bytes += bytes;
        break;
    case HG_STATE_TOP:
        t->top_bytes += bytes;
        break;
    case HG_STATE_OVERHEAD:
        t->overhead_bytes += bytes;
        break;
    }
}

static char *xstrdup(const char *s)
{
    char *p = s ? strdup(s) : NULL;
    if (s && !p)
        abort();
    return p;
}

static hg_snapshot *build_snapshot(void)
{
    hg_snapshot *s = hg_snapshot_new();
    if (!s)
        abort();
    s->pid = 4242;
    snprintf(s->exe, sizeof s->exe, "%s", EXE);
    snprintf(s->glibc_version, sizeof s->glibc_version, "2.36");
    s->locate = "symbols";
    s->time_ns = 1700000000123456789ull;
    s->timing.stopped_ns = 1234567;
    s->timing.total_ns = 9876543;
    s->rss_bytes = 104857600;          /* 100.0 MiB */
    s->heap_resident_bytes = 91542732; /* 87.3% of RSS */
    s->mallinfo2 = (hg_mallinfo2){.arena = 204800, .ordblks = 4, .smblks = 2,
                                  .hblks = 3, .hblkhd = 536576,
                                  .usmblks = UINT64_MAX, /* exact uint64 output */
                                  .fsmblks = 128, .uordblks = 3536, .fordblks = 8192,
                                  .keepcost = 132000};

    /* Buckets, added in reverse so the snapshot's sort is exercised. */
    for (size_t i = NBUCKETS; i-- > 0;) {
        const struct bk *b = &BUCKETS[i];
        if (hg_snapshot_add(s, b->arena, b->state, b->chunk_size, b->count, b->usable))
            abort();
    }
    hg_snapshot_sort_buckets(s);

    /* Arenas and totals from the same table. */
    s->narenas = 2;
    s->arenas = calloc(2, sizeof *s->arenas);
    if (!s->arenas)
        abort();
    s->arenas[0].index = 0;
    s->arenas[0].address = 0x7ffff7f9ac80ull;
    s->arenas[0].heaps = 1;
    s->arenas[1].index = 1;
    s->arenas[1].address = 0x7fffe8000030ull;
    s->arenas[1].heaps = 2;
    s->arenas[1].mutex_held = 1;
    for (size_t i = 0; i < NBUCKETS; i++) {
        const struct bk *b = &BUCKETS[i];
        if (b->arena >= 0) {
            hg_arena_info *a = &s->arenas[b->arena];
            account(&a->totals, b, 0);
            a->system_mem += b->count * b->chunk_size;
        }
        account(&s->totals, b, 1);
    }
    s->arenas[0].totals.released_bytes = 4096;
    for (size_t i = 0; i < 2; i++) {
        s->arenas[i].totals.sys_bytes = s->arenas[i].system_mem;
        s->totals.sys_bytes += s->arenas[i].system_mem;
        s->totals.released_bytes += s->arenas[i].totals.released_bytes;
    }

    s->nthreads = 3;
    s->threads = calloc(3, sizeof *s->threads);
    if (!s->threads)
        abort();
    s->threads[0] = (hg_thread_info){4242, 0x55555555a010ull, 0, 5, 192};
    s->threads[1] = (hg_thread_info){4243, 0x7fffe80008c0ull, 1, 1, 48};
    s->threads[2] = (hg_thread_info){4244, 0, -1, 0, 0};

    /* Four problems found, three kept; one about no particular chunk. */
    if (hg_snapshot_add_problem(s, 3, 1, 0x7fffe8001230ull, "bad size 0x%x in \"chunk\"\n", 17) ||
        hg_snapshot_add_problem(s, 3, -1, 0x7ffff0000000ull, "%s", LONG_PROBLEM) ||
        hg_snapshot_add_problem(s, 3, 0, 0, "mp_ counts %d mmapped chunks, found %d", 4, 3) ||
        hg_snapshot_add_problem(s, 3, 0, 0x555555560000ull, "never kept"))
        abort();

    static const struct {
        uint64_t start, end, offset;
        const char *perms, *path, *build_id;
    } maps[] = {
        {0x555555554000ull, 0x555555556000ull, 0, "r--p", "/opt/app/bin/app", "abcdef0123"},
        {0x555555556000ull, 0x55555555a000ull, 0x2000, "r-xp", "/opt/app/bin/app",
         "abcdef0123"},
        {0x555555560000ull, 0x555555581000ull, 0, "rw-p", "[heap]", NULL},
        {0x7ffff7dd0000ull, 0x7ffff7f25000ull, 0x26000, "r-xp",
         "/usr/lib/x86_64-linux-gnu/libc.so.6", NULL},
        {0x7ffff7ff0000ull, 0x7ffff7ff1000ull, 0, "rwxp", "", NULL},
    };
    s->nmappings = sizeof maps / sizeof *maps;
    s->mappings = calloc(s->nmappings, sizeof *s->mappings);
    if (!s->mappings)
        abort();
    for (size_t i = 0; i < s->nmappings; i++) {
        hg_mapping *m = &s->mappings[i];
        m->start = maps[i].start;
        m->end = maps[i].end;
        m->offset = maps[i].offset;
        memcpy(m->perms, maps[i].perms, 5);
        m->path = xstrdup(maps[i].path);
        m->build_id = xstrdup(maps[i].build_id);
    }
    return s;
}

/* ----------------------------------------------------------------- helpers */

typedef int (*writer_fn)(const hg_snapshot *, FILE *);

static int write_to(const char *path, writer_fn fn, const hg_snapshot *s)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return -1;
    }
    int rc = fn(s, f);
    CHECK(rc == 0, "writing %s: %d %s", path, rc, hg_error_message());
    if (fclose(f) != 0)
        return -1;
    return rc;
}

/* ------------------------------------------------------------------- pprof */

static const Perftools__Profiles__Location *location(const Profile *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_location; i++)
        if (p->location[i]->id == id)
            return p->location[i];
    return NULL;
}

static const char *function_name(const Profile *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_function; i++)
        if (p->function[i]->id == id)
            return str_at(p, p->function[i]->name);
    return NULL;
}

/* Name of the single function at location id, or "" if malformed. */
static const char *frame_name(const Profile *p, uint64_t id)
{
    const Perftools__Profiles__Location *l = location(p, id);
    if (!l || l->n_line != 1)
        return "";
    const char *n = function_name(p, l->line[0]->function_id);
    return n ? n : "";
}

static void check_profile_common(const Profile *p, const hg_snapshot *s)
{
    static const char *const types[4][2] = {
        {"inuse_objects", "count"}, {"inuse_space", "bytes"},
        {"free_objects", "count"}, {"free_space", "bytes"}};

    check_string_table(p);

    CHECK(p->n_sample_type == 4, "%zu sample types", p->n_sample_type);
    for (size_t i = 0; i < 4 && i < p->n_sample_type; i++) {
        const char *t = str_at(p, p->sample_type[i]->type);
        const char *u = str_at(p, p->sample_type[i]->unit);
        CHECK(t && u && strcmp(t, types[i][0]) == 0 && strcmp(u, types[i][1]) == 0,
              "sample type %zu is %s/%s", i, t ? t : "?", u ? u : "?");
    }
    const char *def = str_at(p, p->default_sample_type);
    CHECK(def && strcmp(def, "inuse_space") == 0, "default sample type %s", def ? def : "?");
    CHECK(p->period_type && str_at(p, p->period_type->type) &&
              strcmp(str_at(p, p->period_type->type), "space") == 0 &&
              str_at(p, p->period_type->unit) &&
              strcmp(str_at(p, p->period_type->unit), "bytes") == 0,
          "period type is not space/bytes");
    CHECK(p->period == 1, "period %" PRId64, p->period);
    CHECK((uint64_t)p->time_nanos == hg_snapshot_time_ns(s), "time_nanos %" PRId64,
          p->time_nanos);
    CHECK(p->duration_nanos == 0, "duration_nanos %" PRId64, p->duration_nanos);

    /* Locations and functions: ids 1..n, one line each, unique names. */
    CHECK(p->n_location == p->n_function, "%zu locations, %zu functions", p->n_location,
          p->n_function);
    for (size_t i = 0; i < p->n_location; i++) {
        const Perftools__Profiles__Location *l = p->location[i];
        CHECK(l->id != 0 && l->n_line == 1 && function_name(p, l->line[0]->function_id),
              "location %zu is malformed", i);
    }
    for (size_t i = 0; i < p->n_function; i++)
        for (size_t j = i + 1; j < p->n_function; j++)
            CHECK(p->function[i]->name != p->function[j]->name &&
                      p->function[i]->id != p->function[j]->id,
                  "functions %zu and %zu are duplicates", i, j);
}

static void check_profile(const char *path, const hg_snapshot *s)
{
    Profile *p = load_profile(path);
    if (!p)
        return;
    check_profile_common(p, s);
    const hg_totals *t = hg_snapshot_totals(s);

    char want[256];
    CHECK(p->n_comment == 2, "%zu comments", p->n_comment);
    if (p->n_comment == 2) {
        snprintf(want, sizeof want, "heapgrab %s heap snapshot of pid 4242 (%s)",
                 HEAPGRAB_VERSION, EXE_UTF8);
        CHECK(str_at(p, p->comment[0]) && strcmp(str_at(p, p->comment[0]), want) == 0,
              "comment 0: %s", str_at(p, p->comment[0]));
        CHECK(str_at(p, p->comment[1]) &&
                  strcmp(str_at(p, p->comment[1]), "glibc 2.36, located by symbols") == 0,
              "comment 1: %s", str_at(p, p->comment[1]));
    }

    /* 10 size classes (13 sizes) + 7 states + 3 arenas, each one frame. */
    CHECK(p->n_location == 20, "%zu locations, want 20", p->n_location);

    /* Samples: match each to its bucket by labels and frames. */
    CHECK(p->n_sample == NBUCKETS, "%zu samples, want %zu", p->n_sample, NBUCKETS);
    int seen[NBUCKETS] = {0};
    uint64_t sum[4] = {0};
    for (size_t i = 0; i < p->n_sample; i++) {
        const Perftools__Profiles__Sample *sm = p->sample[i];
        CHECK(sm->n_value == 4 && sm->n_location_id == 3 && sm->n_label == 3,
              "sample %zu: %zu values, %zu locations, %zu labels", i, sm->n_value,
              sm->n_location_id, sm->n_label);
        if (sm->n_value != 4 || sm->n_location_id != 3 || sm->n_label != 3)
            continue;
        for (int v = 0; v < 4; v++) {
            CHECK(sm->value[v] >= 0, "negative value");
            sum[v] += (uint64_t)sm->value[v];
        }
        const char *arena = NULL, *state = NULL;
        int64_t bytes = -1;
        for (size_t j = 0; j < 3; j++) {
            const Perftools__Profiles__Label *lb = sm->label[j];
            const char *key = str_at(p, lb->key);
            if (key && strcmp(key, "bytes") == 0 && lb->str == 0)
                bytes = lb->num;
            else if (key && strcmp(key, "arena") == 0)
                arena = str_at(p, lb->str);
            else if (key && strcmp(key, "state") == 0)
                state = str_at(p, lb->str);
        }
        CHECK(arena && state && bytes >= 0, "sample %zu lacks a label", i);
        if (!arena || !state)
            continue;
        /* Frames, leaf first: size, state, arena. */
        const char *f0 = frame_name(p, sm->location_id[0]);
        const char *f1 = frame_name(p, sm->location_id[1]);
        const char *f2 = frame_name(p, sm->location_id[2]);
        snprintf(want, sizeof want, "state %s", state);
        CHECK(strcmp(f1, want) == 0, "frame \"%s\", want \"%s\"", f1, want);

        size_t k;
        for (k = 0; k < NBUCKETS; k++) {
            const struct bk *b = &BUCKETS[k];
            char al[16];
            if (b->arena < 0)
                snprintf(al, sizeof al, "mmap");
            else if (b->arena == 0)
                snprintf(al, sizeof al, "main");
            else
                snprintf(al, sizeof al, "arena%d", b->arena);
            if (strcmp(al, arena) == 0 && strcmp(hg_state_name(b->state), state) == 0 &&
                strcmp(size_frame(b->chunk_size), f0) == 0)
                break;
        }
        CHECK(k < NBUCKETS, "sample %zu (%s %s \"%s\") matches no bucket", i, arena,
              state, f0);
        if (k == NBUCKETS)
            continue;
        const struct bk *b = &BUCKETS[k];
        CHECK(!seen[k], "bucket %zu has two samples", k);
        seen[k] = 1;

        const char *arena_frame = b->arena < 0    ? "mmapped chunks"
                                  : b->arena == 0 ? "arena main"
                                                  : "arena 1 0x7fffe8000030";
        CHECK(strcmp(f2, arena_frame) == 0, "root frame \"%s\", want \"%s\"", f2,
              arena_frame);

        int live = b->state == HG_STATE_INUSE || b->state == HG_STATE_MMAPPED;
        int64_t wantv[4] = {0, 0, 0, 0};
        if (live) {
            wantv[0] = (int64_t)b->count;
            wantv[1] = (int64_t)b->usable;
        } else {
            wantv[2] = (int64_t)b->count;
            wantv[3] = (int64_t)(b->count * b->chunk_size);
        }
        for (int v = 0; v < 4; v++)
            CHECK(sm->value[v] == wantv[v], "bucket %zu value %d: %" PRId64 ", want %" PRId64,
                  k, v, sm->value[v], wantv[v]);
        int64_t want_bytes = live ? (int64_t)(b->usable / b->count) : (int64_t)b->chunk_size;
        CHECK(bytes == want_bytes, "bucket %zu: label bytes=%" PRId64 ", want %" PRId64, k,
              bytes, want_bytes);
    }
    for (size_t k = 0; k < NBUCKETS; k++)
        CHECK(seen[k], "bucket %zu has no sample", k);

    /* Sums equal the snapshot's totals (and the hand-computed figures). */
    CHECK(sum[0] == t->inuse_objects && sum[0] == 28, "inuse_objects sum %" PRIu64
          ", totals %" PRIu64, sum[0], t->inuse_objects);
    CHECK(sum[1] == t->inuse_bytes && sum[1] == 540344, "inuse_space sum %" PRIu64
          ", totals %" PRIu64, sum[1], t->inuse_bytes);
    uint64_t free_objects = t->free_objects + t->tcache_objects + t->fastbin_objects +
                            2 /* top chunks */ + 2 /* overhead */;
    uint64_t free_space = t->free_bytes + t->tcache_bytes + t->fastbin_bytes + t->top_bytes +
                          t->overhead_bytes;
    CHECK(sum[2] == free_objects, "free_objects sum %" PRIu64 ", want %" PRIu64, sum[2],
          free_objects);
    CHECK(sum[3] == free_space && sum[3] == 211984, "free_space sum %" PRIu64
          ", want %" PRIu64, sum[3], free_space);

    /* Mappings: the two executable file mappings only. */
    CHECK(p->n_mapping == 2, "%zu mappings, want 2", p->n_mapping);
    if (p->n_mapping == 2) {
        const Perftools__Profiles__Mapping *m = p->mapping[0];
        CHECK(m->id == 1 && m->memory_start == 0x555555556000ull &&
                  m->memory_limit == 0x55555555a000ull && m->file_offset == 0x2000 &&
                  str_at(p, m->filename) && strcmp(str_at(p, m->filename), "/opt/app/bin/app") == 0 &&
                  str_at(p, m->build_id) && strcmp(str_at(p, m->build_id), "abcdef0123") == 0,
              "mapping 1 is wrong");
        m = p->mapping[1];
        CHECK(m->id == 2 && m->memory_start == 0x7ffff7dd0000ull && m->file_offset == 0x26000 &&
                  str_at(p, m->filename) &&
                  strcmp(str_at(p, m->filename), "/usr/lib/x86_64-linux-gnu/libc.so.6") == 0 &&
                  m->build_id == 0,
              "mapping 2 is wrong");
    }
    for (size_t i = 0; i < p->n_location; i++)
        CHECK(p->location[i]->mapping_id <= p->n_mapping, "bad mapping id");

    perftools__profiles__profile__free_unpacked(p, NULL);
}

static void check_empty_profile(const char *path, const hg_snapshot *s)
{
    Profile *p = load_profile(path);
    if (!p)
        return;
    check_profile_common(p, s);
    CHECK(p->n_sample == 0 && p->n_location == 0 && p->n_mapping == 0,
          "empty snapshot: %zu samples, %zu locations, %zu mappings", p->n_sample,
          p->n_location, p->n_mapping);
    perftools__profiles__profile__free_unpacked(p, NULL);
}

/* -------------------------------------------------------------------- text */

static void check_text(const char *path)
{
    size_t len = 0;
    char *txt = (char *)read_file(path, &len);
    CHECK(txt != NULL, "cannot read %s", path);
    if (!txt)
        return;
    CHECK(strlen(txt) == len, "NUL byte in the text report");

    static const char *const want[] = {
        "heapgrab " HEAPGRAB_VERSION ": pid 4242, glibc 2.36 (located by symbols), "
        "target stopped 1.23 ms\n",
        "exe: /opt/app/bin/weird \"name\"??\xc3\xa9?\n",
        "from the OS (sys)",
        "in use (usable)",
        "540344",           /* in-use bytes, exact */
        "527.7 KiB",        /* 540344 B */
        "\n    tcache ",
        "fastbins",
        "released (not resident)",
        "\n  mmapped (also in use)  ",
        "2 arenas\n",
        "0x7ffff7f9ac80",
        "0x7fffe8000030",
        " held\n",
        "3 threads\n",
        "0x55555555a010",
        "RSS 100.0 MiB, heap resident 87.3 MiB (87.3% of RSS)\n",
        "4 problems found, first 3 shown:\n",
        "\n  arena 0: mp_ counts 4 mmapped chunks, found 3\n",
        "  arena 1: first bad chunk at 0x7fffe8001230 : bad size 0x11 in \"chunk\"?\n",
        "  first bad chunk at 0x7ffff0000000 : chunk size 0x4141414141414141",
        "is larger than the arena's\n    system_mem", /* wrapped */
        " stopped here\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        CHECK(strstr(txt, want[i]) != NULL, "text report lacks \"%s\"", want[i]);
    CHECK(strstr(txt, "never kept") == NULL, "a dropped problem is printed");

    /* Width and control characters. */
    size_t col = 0, line = 1;
    for (const unsigned char *c = (const unsigned char *)txt; *c; c++) {
        if (*c == '\n') {
            line++;
            col = 0;
            continue;
        }
        CHECK(*c >= 0x20 && *c != 0x7f, "control character 0x%02x on line %zu", *c, line);
        if ((*c & 0xc0) != 0x80) /* count code points, roughly */
            col++;
        CHECK(col <= 100, "line %zu is wider than 100 columns", line);
        if (col > 100)
            break;
    }
    free(txt);
}

static void check_empty_text(const char *path)
{
    size_t len = 0;
    char *txt = (char *)read_file(path, &len);
    CHECK(txt != NULL, "cannot read %s", path);
    if (!txt)
        return;
    /* A new snapshot knows no RSS, residency or stop time (a core's): the
     * report says n/a or leaves them out, never 0. */
    CHECK(strstr(txt, "0 arenas\n") && strstr(txt, "0 threads\n") &&
              strstr(txt, "\nRSS n/a, heap resident n/a\n") && !strstr(txt, "problem") &&
              !strstr(txt, "stopped") && strstr(txt, "(located by symbols)\n"),
          "empty text report:\n%s", txt);
    free(txt);
}

/* ------------------------------------------------------------------ errors */

static void check_write_errors(const hg_snapshot *s)
{
    static const struct {
        const char *name;
        writer_fn fn;
    } writers[] = {
        {"text", hg_write_text}, {"json", hg_write_json}, {"pprof", hg_write_pprof}};
    for (size_t i = 0; i < 3; i++) {
        for (int kind = 0; kind < BAD_STREAMS; kind++) {
            FILE *f = bad_stream_open(kind);
            CHECK(f || kind == BAD_FULL, "cannot make %s", bad_stream_name[kind]);
            if (!f)
                continue;
            int rc = writers[i].fn(s, f);
            CHECK(rc == HG_EIO && hg_error_code() == HG_EIO,
                  "%s writer to %s returned %d (%s)", writers[i].name, bad_stream_name[kind],
                  rc, hg_error_message());
            fclose(f);
        }
        int rc = writers[i].fn(NULL, stdout);
        CHECK(rc == HG_EUSAGE, "%s writer without a snapshot returned %d",
              writers[i].name, rc);
    }
}

/* The names of hg_totals' fields as the library lists them, one a line:
 * check_json.py expects exactly these keys in every totals object. */
static void write_totals_fields(const char *dir)
{
    char *p = path_in(dir, "totals_fields.txt");
    FILE *f = fopen(p, "w");
    CHECK(f != NULL, "cannot write %s", p);
    size_t n = hg_totals_field_count();
    CHECK(n * sizeof(uint64_t) == sizeof(hg_totals), "%zu totals fields for %zu bytes", n,
          sizeof(hg_totals));
    for (size_t i = 0; f && i < n; i++)
        fprintf(f, "%s\n", hg_totals_field_name(i));
    CHECK(hg_totals_field_name(n) == NULL, "a totals field past the last one");
    if (f)
        CHECK(fclose(f) == 0, "writing %s", p);
    free(p);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    mkdir(dir, 0777);

    hg_snapshot *s = build_snapshot();
    hg_snapshot *empty = hg_snapshot_new();
    if (!empty)
        abort();

    static const struct {
        const char *suffix;
        writer_fn fn;
    } outputs[] = {{"txt", hg_write_text}, {"json", hg_write_json}, {"pb.gz", hg_write_pprof}};
    for (size_t i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "heap.%s", outputs[i].suffix);
        char *p = path_in(dir, name);
        CHECK(write_to(p, outputs[i].fn, s) == 0, "writing %s", p);
        free(p);
        snprintf(name, sizeof name, "empty.%s", outputs[i].suffix);
        p = path_in(dir, name);
        CHECK(write_to(p, outputs[i].fn, empty) == 0, "writing %s", p);
        free(p);
    }

    write_totals_fields(dir);
    char *p = path_in(dir, "heap.pb.gz");
    check_profile(p, s);
    free(p);
    p = path_in(dir, "empty.pb.gz");
    check_empty_profile(p, empty);
    free(p);
    p = path_in(dir, "heap.txt");
    check_text(p);
    free(p);
    p = path_in(dir, "empty.txt");
    check_empty_text(p);
    free(p);
    check_write_errors(s);

    hg_snapshot_free(s);
    hg_snapshot_free(empty);
    if (failures) {
        fprintf(stderr, "test_writers: %d check%s failed\n", failures, failures == 1 ? "" : "s");
        return 1;
    }
    printf("test_writers: all checks passed (%s)\n", dir);
    return 0;
}
