/*
 * test_stack_writers.c -- the thread-stack writers (pprof CPU profile and
 * text) on synthetic profiles.
 *
 *   test_stack_writers OUTDIR
 *
 * Builds two profiles by hand (lib/profile.h): one sampled at 100 Hz
 * whose thread names, function names, source files and executable hold
 * control characters and bytes that are not UTF-8, with a frame of unknown
 * function and a thread whose unwind found nothing; one with no sample at
 * all; and one whose only sample has no frame.  Writes OUTDIR/stacks.{pb.gz,txt} and OUTDIR/stacks_empty.{pb.gz,
 * txt} (go tool pprof reads the profiles: check_pprof_go.sh) and checks:
 *   - the profile decodes, every string valid UTF-8 (bad bytes U+FFFD),
 *     with its sample types, period, duration, comment, the executable's
 *     mapping first, one location per address with a line per inlined
 *     level, and each sample's values, labels and frames;
 *   - the text names every thread and frame, with control characters and
 *     invalid UTF-8 shown as '?': no byte of it can move a terminal;
 *   - the empty profile is written and decodes with no sample, the
 *     frameless one with its sample and no location;
 *   - both writers return HG_EIO on a full device, a read-only stream, a
 *     stream whose writes fail and a stream already in error, and
 *     HG_EUSAGE without a profile or a stream;
 *   - a device that fills up partway through the output (nothing written,
 *     one byte, half, all but one byte), on buffered and unbuffered
 *     streams: HG_EIO with a message every time, and what did reach the
 *     file is the start of the whole output, never other bytes; with room
 *     for exactly the output, success and the whole output;
 *   - the pprof builder both pprof writers use keeps each string and each
 *     function once, in the order first given, over 100000 of them.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "heapgrab.h"
#include "lib/profile.h"
#include "writers/pprof_builder.h"
#include "tests/writers/readback.h"

int failures;

/* ------------------------------------------------------ synthetic profile */

/* Raw bytes from the target: a newline, an escape, invalid UTF-8. */
static const char EXE[] = "/opt/app/bin/app\xff\n";
static const char EXE_UTF8[] = "/opt/app/bin/app\xef\xbf\xbd\n";
static const char LIBC[] = "/usr/lib/x86_64-linux-gnu/libc.so.6";

struct tline {
    const char *function, *file;
    int line, start_line, inlined;
};

struct tloc {
    uint64_t pc;
    const char *module, *build_id;
    uint64_t module_start, offset;
    struct tline lines[2];
    size_t nlines;
};

/* Locations, by index: libc's nanosleep; an inlined call and its caller in
 * the executable; main; an address in no module (unknown function). */
static const struct tloc LOCS[] = {
    {0x7ffff7e5a0f1, LIBC, "5e1b", 0x7ffff7dd0000, 0x11,
     {{"__GI___nanosleep", "../sysdeps/unix/sysv/linux/nanosleep.c", 25, 20, 0}}, 1},
    {0x555555555189, EXE, "abcdef0123", 0x555555554000, 0x19,
     {{"spin_step\xfe", "/src/t\x01.c", 31, 30, 1}, {"spin_leaf", "/src/t.c", 40, 35, 0}}, 2},
    {0x5555555551b0, EXE, "abcdef0123", 0x555555554000, 0x20,
     {{"main", "/src/t.c", 60, 55, 0}}, 1},
    {0x1234, NULL, NULL, 0, 0, {{0}}, 0},
};
#define NLOCS (sizeof LOCS / sizeof *LOCS)

struct tstack {
    int tid;
    const char *name;
    char state;
    const char *why;
    size_t locs[3], nlocs;
    uint64_t count, wall_ns, cpu_ns;
};

static const struct tstack STACKS[] = {
    {4242, "main\n\x1b[31m\xc3", 'S', NULL, {0, 2}, 2, 3, 30000000, 1000000},
    {4243, "spinner-\xc3\xa9", 'R', NULL, {1, 2}, 2, 5, 50000000, 48000000},
    {4244, "", '?', NULL, {3}, 1, 1, 10000000, 0},
    {4245, "lost", 'D', "no registers", {0}, 0, 1, 10000000, 2000000},
};
#define NSTACKS (sizeof STACKS / sizeof *STACKS)

static char *xstrdup(const char *s)
{
    char *p = s ? strdup(s) : NULL;
    if (s && !p)
        abort();
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

/* A profile as the sampler leaves it (freed by hg_profile_free).  SAMPLED:
 * every location and stack above; EMPTY: no sample, no location, no
 * thread, a one-shot dump; FRAMELESS: sampled, but its one thread's unwind
 * found no frame (no location at all). */
enum { SAMPLED, EMPTY, FRAMELESS };

static hg_profile *build_profile(int kind)
{
    hg_profile *p = xcalloc(1, sizeof *p);
    p->pid = 4242;
    snprintf(p->exe, sizeof p->exe, "%s", EXE);
    p->time_ns = 1700000000123456789ull;
    if (kind == EMPTY)
        return p;
    p->hz = 100;
    p->period_ns = 10000000;
    p->timing = (hg_profile_timing){.samples = 10, .stopped_ns_total = 3500000,
                                    .stopped_ns_max = 1200000, .duration_ns = 100000000,
                                    .skipped = 2, .cpu_ns = 500000000,
                                    .process_cpu_ns = 600000000};
    size_t nlocs = kind == FRAMELESS ? 0 : NLOCS;
    p->locs = xcalloc(nlocs, sizeof *p->locs);
    for (size_t i = 0; i < nlocs; i++) {
        const struct tloc *t = &LOCS[i];
        hg_location *l = &p->locs[i];
        l->pc = t->pc;
        l->module = xstrdup(t->module);
        l->build_id = xstrdup(t->build_id);
        l->module_start = t->module_start;
        l->offset = t->offset;
        l->lines = xcalloc(t->nlines, sizeof *l->lines);
        for (size_t k = 0; k < t->nlines; k++)
            l->lines[k] = (hg_loc_line){xstrdup(t->lines[k].function),
                                        xstrdup(t->lines[k].file), t->lines[k].line,
                                        t->lines[k].start_line, t->lines[k].inlined};
        l->nlines = t->nlines;
    }
    p->nlocs = nlocs;
    p->stacks = xcalloc(NSTACKS, sizeof *p->stacks);
    p->threads = xcalloc(NSTACKS, sizeof *p->threads);
    size_t n = 0;
    for (size_t j = 0; j < NSTACKS; j++) {
        const struct tstack *t = &STACKS[j];
        if (kind == FRAMELESS && t->nlocs)
            continue;
        size_t i = n++;
        struct hg_prof_stack *s = &p->stacks[i];
        s->tid = t->tid;
        s->name = xstrdup(t->name);
        s->pcs = xcalloc(t->nlocs, sizeof *s->pcs);
        s->locs = xcalloc(t->nlocs, sizeof *s->locs);
        for (size_t k = 0; k < t->nlocs; k++) {
            s->pcs[k] = LOCS[t->locs[k]].pc;
            s->locs[k] = t->locs[k];
        }
        s->npcs = t->nlocs;
        s->count = t->count;
        s->wall_ns = t->wall_ns;
        s->cpu_ns = t->cpu_ns;
        /* the dump's view of the same stack: one frame per line */
        hg_stack_frame *f = xcalloc(4, sizeof *f);
        size_t o = 0;
        for (size_t k = 0; k < t->nlocs; k++) {
            const hg_location *l = &p->locs[t->locs[k]];
            for (size_t m = 0; m < l->nlines || (m == 0 && !l->nlines); m++) {
                const hg_loc_line *ln = l->nlines ? &l->lines[m] : NULL;
                f[o++] = (hg_stack_frame){l->pc, ln ? ln->function : NULL, l->offset,
                                          ln ? ln->file : NULL, ln ? ln->line : 0,
                                          ln ? ln->inlined : 0, l->module};
            }
        }
        p->threads[i] = (hg_thread_stack){t->tid, s->name, t->state, o, f, t->why};
    }
    p->nstacks = p->nthreads = n;
    return p;
}

typedef int (*writer_fn)(const hg_profile *, FILE *);

static void write_to(const char *dir, const char *name, writer_fn fn, const hg_profile *p)
{
    char *path = path_in(dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (f) {
        int rc = fn(p, f);
        CHECK(rc == 0, "writing %s: %d %s", path, rc, hg_error_message());
        CHECK(fclose(f) == 0, "closing %s", path);
    }
    free(path);
}

/* ------------------------------------------------------------------ pprof */

static const Perftools__Profiles__Location *location(const Profile *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_location; i++)
        if (p->location[i]->id == id)
            return p->location[i];
    return NULL;
}

static const Perftools__Profiles__Function *function(const Profile *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_function; i++)
        if (p->function[i]->id == id)
            return p->function[i];
    return NULL;
}

static int str_is(const Profile *p, int64_t i, const char *want)
{
    const char *s = str_at(p, i);
    return s && strcmp(s, want) == 0;
}

/* What a writer must make of a target's string: each invalid byte U+FFFD. */
static void utf8_fixed(const char *s, char *out, size_t size)
{
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c && o + 4 < size; c++) {
        if (*c == 0xff || *c == 0xfe || (*c == 0xc3 && (c[1] & 0xc0) != 0x80)) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
        } else {
            out[o++] = (char)*c;
        }
    }
    out[o] = '\0';
}

static void check_common(const Profile *p, int empty)
{
    static const char *const types[3][2] = {
        {"samples", "count"}, {"wall", "nanoseconds"}, {"cpu", "nanoseconds"}};
    check_string_table(p);
    CHECK(p->n_sample_type == 3, "%zu sample types", p->n_sample_type);
    for (size_t i = 0; i < 3 && i < p->n_sample_type; i++)
        CHECK(str_is(p, p->sample_type[i]->type, types[i][0]) &&
                  str_is(p, p->sample_type[i]->unit, types[i][1]),
              "sample type %zu", i);
    /* a profile's default is cpu; a dump's (no times) the sample count */
    CHECK(str_is(p, p->default_sample_type, empty ? "samples" : "cpu"), "default sample type");
    CHECK(p->period_type && str_is(p, p->period_type->type, "wall") &&
              str_is(p, p->period_type->unit, "nanoseconds"),
          "period type");
    CHECK(p->time_nanos == 1700000000123456789ll, "time_nanos %" PRId64, p->time_nanos);
    CHECK(p->n_comment == 1, "%zu comments", p->n_comment);
    char want[256];
    snprintf(want, sizeof want, "heapgrab %s thread stacks of pid 4242 (%s): ", HEAPGRAB_VERSION,
             EXE_UTF8);
    CHECK(p->n_comment == 1 && str_at(p, p->comment[0]) &&
              strncmp(str_at(p, p->comment[0]), want, strlen(want)) == 0,
          "comment \"%s\"", p->n_comment ? str_at(p, p->comment[0]) : "");
}

static void check_profile(const char *path)
{
    Profile *p = load_profile(path);
    if (!p)
        return;
    check_common(p, 0);
    CHECK(p->period == 10000000 && p->duration_nanos == 100000000, "period or duration");
    CHECK(p->n_comment == 1 &&
              strstr(str_at(p, p->comment[0]),
                     ": 10 stops, all threads stopped 0.350 ms on average, 1.200 ms at most; "
                     "2 ticks skipped; cpu 0.500 s of the process's 0.600 s"),
          "comment \"%s\"", p->n_comment ? str_at(p, p->comment[0]) : "");

    /* Mappings: the executable first (pprof takes it for the main binary),
     * then libc, each up to its last address. */
    CHECK(p->n_mapping == 2, "%zu mappings", p->n_mapping);
    if (p->n_mapping == 2) {
        const Perftools__Profiles__Mapping *m = p->mapping[0];
        CHECK(m->id == 1 && str_is(p, m->filename, EXE_UTF8) && str_is(p, m->build_id, "abcdef0123") &&
                  m->memory_start == 0x555555554000 && m->memory_limit == 0x5555555551b1 &&
                  m->has_functions && m->has_filenames && m->has_line_numbers &&
                  m->has_inline_frames,
              "mapping 1 is not the executable's");
        m = p->mapping[1];
        CHECK(m->id == 2 && str_is(p, m->filename, LIBC) && str_is(p, m->build_id, "5e1b") &&
                  m->memory_start == 0x7ffff7dd0000 && m->memory_limit == 0x7ffff7e5a0f2,
              "mapping 2 is not libc's");
    }

    /* Locations: one per address, a line per inlined level. */
    CHECK(p->n_location == NLOCS, "%zu locations", p->n_location);
    for (size_t i = 0; i < NLOCS; i++) {
        const struct tloc *t = &LOCS[i];
        const Perftools__Profiles__Location *l = location(p, i + 1);
        CHECK(l && l->address == t->pc && l->n_line == t->nlines, "location %zu", i + 1);
        if (!l || l->n_line != t->nlines)
            continue;
        uint64_t want_map = !t->module ? 0 : t->module == EXE ? 1 : 2;
        CHECK(l->mapping_id == want_map, "location %zu: mapping %" PRIu64, i + 1, l->mapping_id);
        for (size_t k = 0; k < t->nlines; k++) {
            const Perftools__Profiles__Function *fn = function(p, l->line[k]->function_id);
            char name[128], file[128];
            utf8_fixed(t->lines[k].function, name, sizeof name);
            utf8_fixed(t->lines[k].file, file, sizeof file);
            CHECK(fn && str_is(p, fn->name, name) && str_is(p, fn->system_name, name) &&
                      str_is(p, fn->filename, file) && fn->start_line == t->lines[k].start_line &&
                      l->line[k]->line == t->lines[k].line,
                  "location %zu line %zu", i + 1, k);
        }
    }
    /* main is one function however many locations are in it */
    CHECK(p->n_function == 4, "%zu functions", p->n_function);

    /* Samples: values, labels and frames of each (thread, stack). */
    CHECK(p->n_sample == NSTACKS, "%zu samples", p->n_sample);
    for (size_t i = 0; i < p->n_sample && i < NSTACKS; i++) {
        const Perftools__Profiles__Sample *sm = p->sample[i];
        const struct tstack *t = &STACKS[i];
        CHECK(sm->n_value == 3 && sm->value[0] == (int64_t)t->count &&
                  sm->value[1] == (int64_t)t->wall_ns && sm->value[2] == (int64_t)t->cpu_ns,
              "sample %zu values", i);
        CHECK(sm->n_location_id == t->nlocs, "sample %zu: %zu frames", i, sm->n_location_id);
        for (size_t k = 0; k < sm->n_location_id && k < t->nlocs; k++)
            CHECK(sm->location_id[k] == t->locs[k] + 1, "sample %zu frame %zu", i, k);
        char name[64];
        utf8_fixed(t->name, name, sizeof name);
        CHECK(sm->n_label == 2 && str_is(p, sm->label[0]->key, "thread_name") &&
                  str_is(p, sm->label[0]->str, name) && str_is(p, sm->label[1]->key, "thread_id") &&
                  sm->label[1]->num == t->tid,
              "sample %zu labels", i);
    }
    perftools__profiles__profile__free_unpacked(p, NULL);
}

static void check_empty_profile(const char *path)
{
    Profile *p = load_profile(path);
    if (!p)
        return;
    check_common(p, 1);
    CHECK(p->n_sample == 0 && p->n_location == 0 && p->n_mapping == 0 && p->n_function == 0,
          "empty profile: %zu samples, %zu locations, %zu mappings, %zu functions",
          p->n_sample, p->n_location, p->n_mapping, p->n_function);
    perftools__profiles__profile__free_unpacked(p, NULL);
}

static void check_frameless_profile(const char *path)
{
    Profile *p = load_profile(path);
    if (!p)
        return;
    check_common(p, 0);
    CHECK(p->n_sample == 1 && p->sample[0]->n_location_id == 0 && p->sample[0]->n_value == 3 &&
              p->sample[0]->value[0] == 1 && p->n_location == 0 && p->n_mapping == 0 &&
              p->n_function == 0,
          "frameless profile: %zu samples, %zu locations, %zu mappings", p->n_sample,
          p->n_location, p->n_mapping);
    perftools__profiles__profile__free_unpacked(p, NULL);
}

/* ------------------------------------------------------------------- text */

/* Nothing that moves a terminal: printable ASCII, newlines, valid UTF-8
 * that is not a C1 control. */
static void check_inert(const char *txt, const char *what)
{
    CHECK(valid_utf8(txt), "%s is not UTF-8", what);
    for (const unsigned char *c = (const unsigned char *)txt; *c; c++) {
        CHECK(*c == '\n' || (*c >= 0x20 && *c != 0x7f), "%s: control byte 0x%02x at %zu", what,
              *c, (size_t)(c - (const unsigned char *)txt));
        CHECK(!(c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f), "%s: C1 control", what);
    }
}

static void check_text(const char *path)
{
    size_t len = 0;
    char *txt = (char *)read_file(path, &len);
    CHECK(txt != NULL, "cannot read %s", path);
    if (!txt)
        return;
    check_inert(txt, path);
    static const char *const want[] = {
        "4 threads, stopped 1.20 ms\n",
        "\nthread 4242 \"main??[31m?\" (S sleeping)\n"
        "  #0   0x00007ffff7e5a0f1 __GI___nanosleep+0x11 at "
        "../sysdeps/unix/sysv/linux/nanosleep.c:25\n"
        "  #1   0x00005555555551b0 main+0x20 at /src/t.c:60\n",
        "\nthread 4243 \"spinner-\xc3\xa9\" (R running)\n"
        "  #0   0x0000555555555189 spin_step? (inlined) at /src/t?.c:31\n"
        "  #1   0x0000555555555189 spin_leaf+0x19 at /src/t.c:40\n"
        "  #2   0x00005555555551b0 main+0x20 at /src/t.c:60\n",
        "\nthread 4244 \"\" (? unknown)\n  #0   0x0000000000001234 ??\n",
        "\nthread 4245 \"lost\" (D disk sleep)\n  (unwinding stopped: no registers)\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        CHECK(strstr(txt, want[i]) != NULL, "text lacks \"%s\":\n%s", want[i], txt);
    free(txt);
}

static void check_empty_text(const char *path)
{
    size_t len = 0;
    char *txt = (char *)read_file(path, &len);
    CHECK(txt && strcmp(txt, "0 threads, stopped 0.00 ms\n") == 0, "empty text: \"%s\"",
          txt ? txt : "(unreadable)");
    free(txt);
}

/* ----------------------------------------------------------------- errors */

static void check_write_errors(const hg_profile *p, const char *which)
{
    static const struct {
        const char *name;
        writer_fn fn;
    } writers[] = {{"pprof", hg_write_profile_pprof}, {"text", hg_write_stacks_text}};
    for (size_t i = 0; i < 2; i++) {
        for (int kind = 0; kind < BAD_STREAMS; kind++) {
            FILE *f = bad_stream_open(kind);
            CHECK(f || kind == BAD_FULL, "cannot make %s", bad_stream_name[kind]);
            if (!f)
                continue;
            int rc = writers[i].fn(p, f);
            CHECK(rc == HG_EIO && hg_error_code() == HG_EIO && hg_error_message()[0],
                  "%s writer, %s profile, to %s: returned %d (%s)", writers[i].name, which,
                  bad_stream_name[kind], rc, hg_error_message());
            fclose(f);
        }
        CHECK(writers[i].fn(NULL, stdout) == HG_EUSAGE, "%s writer without a profile",
              writers[i].name);
        CHECK(writers[i].fn(p, NULL) == HG_EUSAGE, "%s writer without a stream",
              writers[i].name);
    }
}

/* Each writer's whole output, then the same written to a device that is
 * full after 0, 1, half, and all but one of its bytes, and after all of
 * them: the writers check for a failed write wherever it comes, not just
 * at their first or last one (a failure stdio only reports at the final
 * flush, and one an unbuffered stream reports at once). */
static void check_cut_writes(const hg_profile *p, const char *which)
{
    static const struct {
        const char *name;
        writer_fn fn;
    } writers[] = {{"pprof", hg_write_profile_pprof}, {"text", hg_write_stacks_text}};
    for (size_t i = 0; i < 2; i++) {
        char *whole = NULL;
        size_t n = 0;
        FILE *m = open_memstream(&whole, &n);
        CHECK(m != NULL, "open_memstream");
        if (!m)
            return;
        int rc = writers[i].fn(p, m);
        fclose(m);
        CHECK(rc == 0 && n > 1, "%s writer, %s profile, to memory: returned %d, %zu bytes",
              writers[i].name, which, rc, n);
        if (rc != 0 || n < 2) {
            free(whole);
            continue;
        }
        const size_t rooms[] = {0, 1, n / 2, n - 1, n};
        for (int unbuffered = 0; unbuffered < 2; unbuffered++)
            for (size_t r = 0; r < sizeof rooms / sizeof rooms[0]; r++) {
                struct cut_sink sink;
                FILE *f = cut_stream_open(&sink, rooms[r], unbuffered);
                CHECK(f != NULL, "fopencookie");
                if (!f)
                    continue;
                rc = writers[i].fn(p, f);
                int code = hg_error_code();
                const char *msg = hg_error_message();
                fclose(f);
                const char *how = unbuffered ? "unbuffered" : "buffered";
                if (rooms[r] < n)
                    CHECK(rc == HG_EIO && code == HG_EIO && msg[0],
                          "%s writer, %s profile, %s, full after %zu of %zu bytes: returned "
                          "%d (%s)",
                          writers[i].name, which, how, rooms[r], n, rc, msg);
                else
                    CHECK(rc == 0 && sink.len == n,
                          "%s writer, %s profile, %s, room for all %zu bytes: returned %d, "
                          "%zu bytes",
                          writers[i].name, which, how, n, rc, sink.len);
                CHECK(sink.len <= rooms[r] && (sink.len == 0 ||
                                               memcmp(sink.data, whole, sink.len) == 0),
                      "%s writer, %s profile, %s, full after %zu bytes: the %zu bytes "
                      "written are not the start of its output",
                      writers[i].name, which, how, rooms[r], sink.len);
                free(sink.data);
            }
        free(whole);
    }
}

/* ---------------------------------------------------------------- builder */

static void check_builder(void)
{
    struct hg_pprof *b = hg_pprof_new();
    CHECK(b != NULL, "no builder");
    if (!b)
        return;
    enum { N = 100000 };
    char s[32];
    int ok = hg_pprof_string(b, "") == 0 && hg_pprof_string(b, NULL) == 0 &&
             hg_pprof_string(b, "f.c") == 1;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < N; i++) {
            snprintf(s, sizeof s, "name %d", i);
            ok &= hg_pprof_string(b, s) == i + 2;
            ok &= hg_pprof_function(b, s, "f.c", i % 7) == (uint64_t)i + 1;
        }
    CHECK(ok, "strings or functions not kept once each, in order");
    /* the same name in another file or at another line is another function */
    CHECK(hg_pprof_function(b, "name 1", "g.c", 1) == N + 1 &&
              hg_pprof_function(b, "name 1", "f.c", 2) == N + 2 &&
              hg_pprof_function(b, "name 1", NULL, 1) == N + 3,
          "functions told apart by name only");
    uint64_t loc = hg_pprof_function_location(b, 5);
    CHECK(loc == 1 && hg_pprof_function_location(b, 5) == 1 &&
              hg_pprof_function_location(b, 6) == 2,
          "a synthetic frame's location made more than once");
    hg_pprof_free(b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    mkdir(dir, 0777);
    hg_profile *p = build_profile(SAMPLED), *empty = build_profile(EMPTY);
    hg_profile *frameless = build_profile(FRAMELESS);

    write_to(dir, "stacks.pb.gz", hg_write_profile_pprof, p);
    write_to(dir, "stacks.txt", hg_write_stacks_text, p);
    write_to(dir, "stacks_empty.pb.gz", hg_write_profile_pprof, empty);
    write_to(dir, "stacks_empty.txt", hg_write_stacks_text, empty);
    write_to(dir, "stacks_frameless.pb.gz", hg_write_profile_pprof, frameless);
    write_to(dir, "stacks_frameless.txt", hg_write_stacks_text, frameless);

    char *path = path_in(dir, "stacks.pb.gz");
    check_profile(path);
    free(path);
    path = path_in(dir, "stacks_empty.pb.gz");
    check_empty_profile(path);
    free(path);
    path = path_in(dir, "stacks_frameless.pb.gz");
    check_frameless_profile(path);
    free(path);
    path = path_in(dir, "stacks.txt");
    check_text(path);
    free(path);
    path = path_in(dir, "stacks_frameless.txt");
    size_t len;
    char *txt = (char *)read_file(path, &len);
    CHECK(txt && strstr(txt, "\nthread 4245 \"lost\" (D disk sleep)\n"
                             "  (unwinding stopped: no registers)\n"),
          "frameless text: \"%s\"", txt ? txt : "(unreadable)");
    free(txt);
    free(path);
    path = path_in(dir, "stacks_empty.txt");
    check_empty_text(path);
    free(path);
    check_write_errors(p, "a sampled");
    check_write_errors(empty, "an empty");
    check_write_errors(frameless, "a frameless");
    check_cut_writes(p, "a sampled");
    check_cut_writes(empty, "an empty");
    check_cut_writes(frameless, "a frameless");
    check_builder();

    hg_profile_free(p);
    hg_profile_free(empty);
    hg_profile_free(frameless);
    if (failures) {
        fprintf(stderr, "test_stack_writers: %d check%s failed\n", failures,
                failures == 1 ? "" : "s");
        return 1;
    }
    printf("test_stack_writers: all checks passed (%s)\n", dir);
    return 0;
}
