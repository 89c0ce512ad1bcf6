/*
 * test_holders_outputs.c -- the outputs of "who holds the memory" on a
 * synthetic snapshot (synthetic.h), whether or not the library can find
 * holders in a real process yet.
 *
 *   test_holders_outputs OUTDIR
 *
 * Writes into OUTDIR: holders.{txt,json}, leaks.{txt,json}, stats.{txt,json}
 * (with the leak totals), heap.pb.gz (the holders view), heap_by_size.pb.gz,
 * plain.pb.gz (a snapshot without holders), model.json (the model, for
 * check_outputs.py) and tracker.c (g_tracker's "declaration", for
 * go tool pprof -list), and checks here:
 *   - the holders profile read back: every object under its holders, the
 *     root frame outermost and its cum the root's retained objects and
 *     bytes; (several roots), (leaked) with direct and indirect, (free) with
 *     the idle buckets; the list as one frame "size 32 (chain)" in one sample (its
 *     count in inuse_objects, not the name: -base must see one frame grow);
 *     no stack over 64 frames, the deep chain cut to its outer frames,
 *     "(deeper holders)" and its leaf; root functions with file and line;
 *     labels bytes, arena, state, class; sums equal to the totals;
 *   - the size-class view unchanged (--by-size, and without holders);
 *   - the text outputs hold their figures and LeakSanitizer's phrasing;
 *   - without holders the holders and leaks writers refuse (HG_EUSAGE), and
 *     every new writer reports HG_EIO on a full device.
 * The JSON values are checked by check_outputs.py, independently.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "heapgrab.h"
#include "lib/snapshot.h"
#include "profile.pb-c.h"
#include "tests/holders_outputs/synthetic.h"

static int failures;

#define CHECK(cond, ...)                                                             \
    do {                                                                             \
        if (!(cond)) {                                                               \
            failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
        }                                                                            \
    } while (0)

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__Sample Sample;

static char *path_in(const char *dir, const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb)
                abort();
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static Profile *load(const char *path)
{
    size_t len;
    char *gz = slurp(path, &len);
    CHECK(gz != NULL, "cannot read %s", path);
    if (!gz)
        return NULL;
    z_stream z = {0};
    size_t cap = 1 << 20, n = 0;
    unsigned char *out = malloc(cap);
    int ret = inflateInit2(&z, 15 + 16);
    z.next_in = (unsigned char *)gz;
    z.avail_in = (uInt)len;
    while (ret == Z_OK) {
        if (n == cap) {
            cap *= 2;
            out = realloc(out, cap);
            if (!out)
                abort();
        }
        z.next_out = out + n;
        z.avail_out = (uInt)(cap - n);
        ret = inflate(&z, Z_NO_FLUSH);
        n = cap - z.avail_out;
    }
    inflateEnd(&z);
    free(gz);
    CHECK(ret == Z_STREAM_END, "%s is not one gzip stream", path);
    Profile *p = ret == Z_STREAM_END ? perftools__profiles__profile__unpack(NULL, n, out) : NULL;
    free(out);
    CHECK(p != NULL, "%s does not decode as a profile", path);
    return p;
}

static const char *str(const Profile *p, int64_t i)
{
    return i >= 0 && (size_t)i < p->n_string_table ? p->string_table[i] : "";
}

static const Perftools__Profiles__Function *function_of(const Profile *p, uint64_t loc,
                                                       int64_t *line)
{
    for (size_t i = 0; i < p->n_location; i++) {
        if (p->location[i]->id != loc || p->location[i]->n_line != 1)
            continue;
        *line = p->location[i]->line[0]->line;
        for (size_t j = 0; j < p->n_function; j++)
            if (p->function[j]->id == p->location[i]->line[0]->function_id)
                return p->function[j];
    }
    return NULL;
}

/* Frame k of a sample (0: the leaf), by name. */
static const char *frame(const Profile *p, const Sample *s, size_t k)
{
    int64_t line;
    const Perftools__Profiles__Function *f =
        k < s->n_location_id ? function_of(p, s->location_id[k], &line) : NULL;
    return f ? str(p, f->name) : "";
}

static int has_frame(const Profile *p, const Sample *s, const char *name)
{
    for (size_t k = 0; k < s->n_location_id; k++)
        if (!strcmp(frame(p, s, k), name))
            return 1;
    return 0;
}

static const char *outermost(const Profile *p, const Sample *s)
{
    return s->n_location_id ? frame(p, s, s->n_location_id - 1) : "";
}

static const char *label(const Profile *p, const Sample *s, const char *key)
{
    for (size_t i = 0; i < s->n_label; i++)
        if (!strcmp(str(p, s->label[i]->key), key))
            return s->label[i]->str ? str(p, s->label[i]->str) : "(num)";
    return NULL;
}

/* The cum of a frame: what the samples that have it hold (value v). */
static int64_t cum(const Profile *p, const char *name, int v)
{
    int64_t sum = 0;
    for (size_t i = 0; i < p->n_sample; i++)
        if (has_frame(p, p->sample[i], name))
            sum += p->sample[i]->value[v];
    return sum;
}

static const char *root_frame_name(const hg_root *r, char *buf, size_t len)
{
    switch (r->kind) {
    case HG_ROOT_STACK: snprintf(buf, len, "%s (stack of thread %d \"%s\")", r->name, r->thread, r->thread_name); break;
    case HG_ROOT_TLS: snprintf(buf, len, "%s (TLS of thread %d \"%s\")", r->name, r->thread, r->thread_name); break;
    case HG_ROOT_REGISTERS: snprintf(buf, len, "registers of thread %d \"%s\"", r->thread, r->thread_name); break;
    case HG_ROOT_MAPPING: snprintf(buf, len, "mapping %s", r->name); break;
    default: snprintf(buf, len, "%s", r->name);
    }
    return buf;
}

enum { IO, IS, FO, FS };

static void check_holders_profile(const char *path, const hg_snapshot *s, const char *decl)
{
    Profile *p = load(path);
    if (!p)
        return;
    const struct hg_holders *h = s->holders;
    const hg_totals *t = hg_snapshot_totals(s);
    int64_t sum[4] = {0};
    size_t deepest = 0, chain_samples = 0, deeper = 0;
    for (size_t i = 0; i < p->n_sample; i++) {
        const Sample *sm = p->sample[i];
        for (int v = 0; v < 4; v++)
            sum[v] += sm->value[v];
        if (sm->n_location_id > deepest)
            deepest = sm->n_location_id;
        CHECK(sm->n_location_id <= HG_PPROF_MAX_FRAMES, "a stack of %zu frames", sm->n_location_id);
        CHECK(!strncmp(frame(p, sm, 0), "size ", 5), "leaf %s is no size class", frame(p, sm, 0));
        int is_free = !strcmp(outermost(p, sm), "(free)");
        CHECK(is_free == (sm->value[IO] == 0 && sm->value[FO] > 0),
              "sample %zu: under %s with values %" PRId64 "/%" PRId64, i, outermost(p, sm),
              sm->value[IO], sm->value[FO]);
        if (!is_free) {
            CHECK(label(p, sm, "class") && label(p, sm, "state") && label(p, sm, "arena") &&
                      label(p, sm, "bytes"),
                  "sample %zu lacks a label", i);
            int64_t bytes = -1;
            for (size_t l = 0; l < sm->n_label; l++)
                if (!strcmp(str(p, sm->label[l]->key), "bytes"))
                    bytes = sm->label[l]->num;
            CHECK(bytes > 0 && bytes * sm->value[IO] == sm->value[IS],
                  "sample %zu: bytes %" PRId64 " x %" PRId64 " != %" PRId64, i, bytes,
                  sm->value[IO], sm->value[IS]);
        } else {
            CHECK(!label(p, sm, "class"), "an idle sample has a class");
        }
        if (has_frame(p, sm, "size 32 (chain)")) {
            chain_samples++;
            CHECK(!strcmp(outermost(p, sm), "g_list") && sm->value[IO] == LIST_NODES &&
                      sm->n_location_id == 2,
                  "the list's sample: %" PRId64 " objects under %s, %zu frames", sm->value[IO],
                  outermost(p, sm), sm->n_location_id);
        }
        if (has_frame(p, sm, "(deeper holders)")) {
            deeper += (size_t)sm->value[IO];
            CHECK(sm->n_location_id == HG_PPROF_MAX_FRAMES &&
                      !strcmp(frame(p, sm, 1), "(deeper holders)") &&
                      !strcmp(outermost(p, sm), "libapp.so+0x4020"),
                  "a cut stack: %zu frames, [1] %s, under %s", sm->n_location_id, frame(p, sm, 1),
                  outermost(p, sm));
        }
        if (!strcmp(label(p, sm, "class") ? label(p, sm, "class") : "", "possibly"))
            CHECK(!strcmp(outermost(p, sm), "g_tracker") && sm->value[IO] == 1 &&
                      sm->n_location_id == 2,
                  "the possibly object under %s", outermost(p, sm));
        if (!strcmp(label(p, sm, "state") ? label(p, sm, "state") : "", "mmapped"))
            CHECK(!strcmp(label(p, sm, "arena"), "mmap") &&
                      !strcmp(outermost(p, sm), "mapping 0x7f0000000000-0x7f0000100000") &&
                      !strcmp(frame(p, sm, 0), "size 128-192 KiB"),
                  "the mmapped object: arena %s, under %s, leaf %s", label(p, sm, "arena"),
                  outermost(p, sm), frame(p, sm, 0));
    }
    CHECK(deepest == HG_PPROF_MAX_FRAMES, "deepest stack %zu frames", deepest);
    CHECK(chain_samples == 1, "%zu samples for the list", chain_samples);
    /* The chain of 100 under g_deep (1 frame): depth 63 fits whole. */
    CHECK(deeper == DEEP_CHAIN - 62, "%zu objects cut short", deeper);
    CHECK(sum[IO] == (int64_t)t->inuse_objects && sum[IS] == (int64_t)t->inuse_bytes,
          "in use %" PRId64 " objects %" PRId64 " bytes, totals %" PRIu64 " %" PRIu64, sum[IO],
          sum[IS], t->inuse_objects, t->inuse_bytes);
    uint64_t idle_objects = 0, idle_bytes = 0;
    for (size_t i = 0; i < hg_snapshot_bucket_count(s); i++) {
        const hg_bucket *b = hg_snapshot_bucket(s, i);
        if (b->state != HG_STATE_INUSE && b->state != HG_STATE_MMAPPED) {
            idle_objects += b->count;
            idle_bytes += b->bytes;
        }
    }
    CHECK(sum[FO] == (int64_t)idle_objects && sum[FS] == (int64_t)idle_bytes,
          "free %" PRId64 " %" PRId64, sum[FO], sum[FS]);
    CHECK(cum(p, "(free)", FS) == (int64_t)idle_bytes, "(free) cum");
    CHECK(cum(p, "state tcache", FO) == 3, "the allocator's view under (free)");

    /* Each root: cum = retained. */
    char name[256];
    for (size_t r = 0; r < h->nroots; r++) {
        const hg_root *o = &h->roots[r];
        root_frame_name(o, name, sizeof name);
        CHECK(cum(p, name, IS) == (int64_t)o->retained_bytes &&
                  cum(p, name, IO) == (int64_t)o->retained_objects,
              "root %s: cum %" PRId64 " bytes %" PRId64 " objects, retains %" PRIu64 " %" PRIu64,
              name, cum(p, name, IS), cum(p, name, IO), o->retained_bytes, o->retained_objects);
    }
    const hg_leak_totals *lk = hg_snapshot_leaks(s);
    CHECK(cum(p, "(several roots)", IS) == (int64_t)lk->several_bytes &&
              cum(p, "(several roots)", IO) == (int64_t)lk->several_objects,
          "(several roots) cum %" PRId64, cum(p, "(several roots)", IS));
    CHECK(cum(p, "(leaked)", IS) == (int64_t)(lk->direct_bytes + lk->indirect_bytes),
          "(leaked) cum %" PRId64, cum(p, "(leaked)", IS));
    CHECK(cum(p, "direct leak", IS) == (int64_t)lk->direct_bytes &&
              cum(p, "direct leak", IO) == (int64_t)lk->direct_objects,
          "direct leak cum %" PRId64, cum(p, "direct leak", IS));
    CHECK(cum(p, "indirect leak", IS) == (int64_t)lk->indirect_bytes &&
              cum(p, "indirect leak", IO) == (int64_t)lk->indirect_objects,
          "indirect leak cum %" PRId64, cum(p, "indirect leak", IS));
    /* The tracker's path: g_tracker -> tracker -> array -> request -> body. */
    int found = 0;
    for (size_t i = 0; i < p->n_sample; i++) {
        const Sample *sm = p->sample[i];
        if (sm->n_location_id == 5 && !strcmp(frame(p, sm, 4), "g_tracker")) {
            found = 1;
            CHECK(!strcmp(frame(p, sm, 3), "size 32") && !strcmp(frame(p, sm, 2), "size 1040") == 0 &&
                      !strcmp(frame(p, sm, 2), "size 1-1.5 KiB") && !strcmp(frame(p, sm, 1), "size 64") &&
                      !strcmp(frame(p, sm, 0), "size 112") && sm->value[IO] == 3,
                  "the bodies' path %s <- %s <- %s <- %s, %" PRId64 " objects", frame(p, sm, 0),
                  frame(p, sm, 1), frame(p, sm, 2), frame(p, sm, 3), sm->value[IO]);
        }
    }
    CHECK(found, "no sample for the requests' bodies");
    /* Root functions: file and line. */
    int tracker_ok = 0, stack_ok = 0;
    for (size_t i = 0; i < p->n_location; i++) {
        int64_t line;
        const Perftools__Profiles__Function *f = function_of(p, p->location[i]->id, &line);
        if (!f)
            continue;
        if (!strcmp(str(p, f->name), "g_tracker"))
            tracker_ok = !strcmp(str(p, f->filename), decl) && f->start_line == 3 && line == 3;
        if (!strcmp(str(p, f->name), "hold_on_stack (stack of thread 4243 \"worker\")"))
            stack_ok = !strcmp(str(p, f->filename), "/src/app/server.c") && line == 88;
    }
    CHECK(tracker_ok, "g_tracker's function lacks its file and line");
    CHECK(stack_ok, "hold_on_stack's frame lacks its file and line");
    /* Identical stacks were summed: far fewer samples than objects. */
    CHECK(p->n_sample < h->nobjects / 2, "%zu samples for %zu objects", p->n_sample,
          h->nobjects);
    perftools__profiles__profile__free_unpacked(p, NULL);
}

/* The size-class view: three frames, arena outermost, no class label. */
static void check_size_profile(const char *path, const hg_snapshot *s)
{
    Profile *p = load(path);
    if (!p)
        return;
    CHECK(p->n_sample == hg_snapshot_bucket_count(s), "%zu samples, %zu buckets", p->n_sample,
          hg_snapshot_bucket_count(s));
    int64_t inuse = 0;
    for (size_t i = 0; i < p->n_sample; i++) {
        const Sample *sm = p->sample[i];
        inuse += sm->value[IS];
        CHECK(sm->n_location_id == 3 && !strncmp(frame(p, sm, 0), "size ", 5) &&
                  !strncmp(frame(p, sm, 1), "state ", 6) && !label(p, sm, "class"),
              "sample %zu is not the size-class view", i);
    }
    CHECK(inuse == (int64_t)hg_snapshot_totals(s)->inuse_bytes, "inuse %" PRId64, inuse);
    perftools__profiles__profile__free_unpacked(p, NULL);
}

typedef int (*writer_fn)(const hg_snapshot *, FILE *);

static void write_to(const char *dir, const char *name, writer_fn fn, const hg_snapshot *s)
{
    char *path = path_in(dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    int rc = fn(s, f);
    CHECK(rc == 0, "writing %s: %d %s", path, rc, hg_error_message());
    CHECK(fclose(f) == 0, "closing %s", path);
    free(path);
}

static void want_text(const char *dir, const char *name, const char *const *want, size_t n)
{
    char *path = path_in(dir, name);
    size_t len;
    char *text = slurp(path, &len);
    CHECK(text != NULL, "cannot read %s", path);
    for (size_t i = 0; text && i < n; i++)
        CHECK(strstr(text, want[i]) != NULL, "%s lacks \"%s\":\n%s", name, want[i], text);
    for (size_t i = 0; text && i < len; i++)
        CHECK(text[i] == '\n' || (unsigned char)text[i] >= 0x20, "%s: control byte %02x", name,
              (unsigned char)text[i]);
    free(text);
    free(path);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_holders_outputs OUTDIR\n");
        return 2;
    }
    const char *dir = argv[1];
    mkdir(dir, 0777);

    /* g_tracker's declaration, on line 3, for -list. */
    char *decl = path_in(dir, "tracker.c");
    FILE *f = fopen(decl, "w");
    if (!f || fputs("#include \"server.h\"\n\nstruct tracker *g_tracker;\n\nint main(void) { return 0; }\n", f) < 0 ||
        fclose(f) != 0) {
        perror(decl);
        return 1;
    }

    hg_snapshot *s = synthetic_holders_snapshot(decl);
    if (!s) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    write_to(dir, "holders.json", hg_write_holders_json, s);
    write_to(dir, "holders.txt", hg_write_holders_text, s);
    write_to(dir, "leaks.json", hg_write_leaks_json, s);
    write_to(dir, "leaks.txt", hg_write_leaks_text, s);
    write_to(dir, "stats.json", hg_write_json, s);
    write_to(dir, "stats.txt", hg_write_text, s);
    write_to(dir, "heap.pb.gz", hg_write_pprof, s);
    write_to(dir, "heap_by_size.pb.gz", hg_write_pprof_by_size, s);
    char *model = path_in(dir, "model.json");
    f = fopen(model, "w");
    if (!f) {
        perror(model);
        return 1;
    }
    synthetic_model_json(s, f);
    CHECK(fclose(f) == 0, "writing %s", model);
    free(model);

    char *heap = path_in(dir, "heap.pb.gz"), *by_size = path_in(dir, "heap_by_size.pb.gz");
    check_holders_profile(heap, s, decl);
    check_size_profile(by_size, s);

    static const char *const holders_txt[] = {
        "who holds the memory of pid 4242",
        "global g_tracker  tracker.c:3  (app)",
        "stack of thread 4243 \"worker\": hold_on_stack at server.c:88  (app)",
        "TLS of thread 4243 \"worker\": t_buf  server.c:20  (app)",
        "registers of thread 4242 \"app\"\n",
        "mapping 0x7f0000000000-0x7f0000100000",
        "(several roots)",
        "(leaked: direct 80 bytes in 2, indirect 72 bytes in 3)",
        "56 bytes in 1 objects are reachable only through pointers into their middle",
    };
    want_text(dir, "holders.txt", holders_txt, sizeof holders_txt / sizeof *holders_txt);
    static const char *const leaks_txt[] = {
        "detected memory leaks in pid 4242",
        "Direct leak of 80 byte(s) in 2 object(s) of 40 bytes\n",
        "Indirect leak of 72 byte(s) in 3 object(s) of 24 bytes\n",
        ": 6c 65 61 6b 20",
        "|leak ",
        "Possibly lost (reachable only through interior pointers): 56 byte(s) in 1 object(s)",
        "SUMMARY: heapgrab: 152 byte(s) leaked in 5 allocation(s).\n",
    };
    want_text(dir, "leaks.txt", leaks_txt, sizeof leaks_txt / sizeof *leaks_txt);
    {
        /* each example 16 bytes a line: the report stays within 100 columns */
        char *path = path_in(dir, "leaks.txt");
        size_t len, col = 0, widest = 0;
        char *text = slurp(path, &len);
        for (size_t i = 0; text && i < len; i++) {
            col = text[i] == '\n' ? 0 : col + 1;
            widest = col > widest ? col : widest;
        }
        CHECK(widest <= 100, "leaks.txt has a line of %zu columns", widest);
        free(text);
        free(path);
    }
    static const char *const stats_txt[] = {
        "leaks: 80 bytes direct in 2 objects, 72 bytes indirect in 3 objects",
    };
    want_text(dir, "stats.txt", stats_txt, 1);

    /* The holders table ranks: g_deep's chain (3200 bytes) first. */
    {
        char *path = path_in(dir, "holders.txt");
        size_t len;
        char *text = slurp(path, &len);
        const char *deep = text ? strstr(text, "libapp.so+0x4020") : NULL;
        const char *tracker = text ? strstr(text, "g_tracker") : NULL;
        const char *list = text ? strstr(text, "g_list") : NULL;
        CHECK(deep && tracker && list && deep < list && list < tracker,
              "holders.txt is not ranked by retained bytes");
        CHECK(text && !strstr(text, "g_empty"), "a root retaining nothing is listed");
        free(text);
        free(path);
    }

    /* Without holders: the size view, and the holders writers refuse. */
    struct hg_holders *keep = s->holders;
    s->holders = NULL;
    write_to(dir, "plain.pb.gz", hg_write_pprof, s);
    char *plain = path_in(dir, "plain.pb.gz");
    check_size_profile(plain, s);
    writer_fn need[] = {hg_write_holders_json, hg_write_holders_text, hg_write_leaks_json,
                        hg_write_leaks_text};
    for (size_t i = 0; i < 4; i++) {
        FILE *null = fopen("/dev/null", "w");
        int rc = need[i](s, null);
        CHECK(rc == HG_EUSAGE, "writer %zu without holders: %d", i, rc);
        fclose(null);
    }
    s->holders = keep;

    /* A corrupt model (the writer trusts nothing): holders in cycles, of
     * one size class (the list's head held by its tail) and across classes
     * (the tracker held by a body it holds), and a holder out of range.
     * Bounded work, every object still counted once, no stack over 64. */
    {
        struct hg_holders *h = s->holders;
        size_t n = h->nobjects;
        uint32_t saved[3] = {h->idom[0], h->idom[9], h->idom[n - 1]};
        h->idom[0] = 4;                  /* tracker <- request 1 <- array <- tracker */
        h->idom[9] = 9 + LIST_NODES - 1; /* the list's head <- its tail */
        h->idom[n - 1] = (uint32_t)(n + h->nroots + 7);
        write_to(dir, "corrupt.pb.gz", hg_write_pprof, s);
        char *corrupt = path_in(dir, "corrupt.pb.gz");
        Profile *p = load(corrupt);
        int64_t objects = 0, bytes = 0;
        for (size_t i = 0; p && i < p->n_sample; i++) {
            objects += p->sample[i]->value[IO];
            bytes += p->sample[i]->value[IS];
            CHECK(p->sample[i]->n_location_id <= HG_PPROF_MAX_FRAMES, "corrupt: %zu frames",
                  p->sample[i]->n_location_id);
        }
        CHECK(objects == (int64_t)n && bytes == (int64_t)hg_snapshot_totals(s)->inuse_bytes,
              "corrupt model: %" PRId64 " objects, %" PRId64 " bytes", objects, bytes);
        CHECK(p && cum(p, "(holder unknown)", IO) >= 1, "no object under (holder unknown)");
        if (p)
            perftools__profiles__profile__free_unpacked(p, NULL);
        free(corrupt);
        h->idom[0] = saved[0];
        h->idom[9] = saved[1];
        h->idom[n - 1] = saved[2];
    }

    /* A full device: HG_EIO, never a crash. */
    writer_fn all[] = {hg_write_holders_json, hg_write_holders_text, hg_write_leaks_json,
                       hg_write_leaks_text, hg_write_pprof, hg_write_pprof_by_size};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        FILE *full = fopen("/dev/full", "w");
        if (!full)
            break;
        int rc = all[i](s, full);
        CHECK(rc == HG_EIO, "writer %zu on /dev/full: %d", i, rc);
        fclose(full);
    }
    char *js = NULL;
    CHECK(hg_write_holders_json_string(s, &js) == 0 && js && js[0] == '{', "holders JSON string");
    hg_free(js);
    CHECK(hg_write_leaks_json_string(s, &js) == 0 && js && js[0] == '{', "leaks JSON string");
    hg_free(js);

    hg_snapshot_free(s);
    free(heap);
    free(by_size);
    free(plain);
    free(decl);
    if (failures) {
        fprintf(stderr, "test_holders_outputs: %d failures\n", failures);
        return 1;
    }
    printf("test_holders_outputs: all checks passed\n");
    return 0;
}
