/*
 * test_types_pprof.c -- the heap profile's type labels, in both views, on a
 * synthetic snapshot (the holders view cannot be had from a live process
 * until the library finds holders):
 *
 *   7 in-use chunks of 48 bytes in the main arena and one mmapped chunk:
 *   3 geo::Circle, 1 geo::Poly<float> (the mmapped one), 4 untyped;
 *   all held by one global.
 *
 * Each view must give, summed over its in-use samples: inuse_objects per
 * `type` label exactly those counts, `type_source` vtable on the typed and
 * size on the rest, every in-use sample one or the other; and no idle
 * sample a type.  A profile of the same snapshot without types has no type
 * label at all.
 *
 *     test_types_pprof DIR      (writes DIR/by_size.pprof, DIR/holders.pprof)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "heapgrab.h"
#include "lib/snapshot.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile Profile;

static int failures;
#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                 \
            fputc('\n', stderr);                          \
            failures++;                                   \
        }                                                 \
    } while (0)

#define BASE 0x555555560000ull
#define NCHUNKS 9 /* 7 in use, 1 free, 1 mmapped */

static hg_snapshot *build(int with_types)
{
    hg_snapshot *s = hg_snapshot_new();
    s->chunks = calloc(NCHUNKS, sizeof *s->chunks);
    s->nchunks = NCHUNKS;
    for (int i = 0; i < 8; i++)
        s->chunks[i] = (hg_chunk){BASE + 48u * i, 48, i == 7 ? 0 : 40, 0,
                                  i == 7 ? HG_STATE_BIN : HG_STATE_INUSE};
    s->chunks[8] = (hg_chunk){0x7f0000000000ull, 135168, 135152, -1, HG_STATE_MMAPPED};
    hg_snapshot_add(s, 0, HG_STATE_INUSE, 48, 7, 7 * 40);
    hg_snapshot_add(s, 0, HG_STATE_BIN, 48, 1, 0);
    hg_snapshot_add(s, -1, HG_STATE_MMAPPED, 135168, 1, 135152);
    hg_snapshot_sort_buckets(s);
    s->totals.inuse_objects = 8;
    s->totals.inuse_bytes = 7 * 40 + 135152;

    /* holders: every in-use chunk held by the one root, a global */
    struct hg_holders *h = hg_holders_new(8, 1);
    size_t k = 0;
    for (size_t i = 0; i < NCHUNKS; i++) {
        if (s->chunks[i].state == HG_STATE_BIN)
            continue;
        h->address[k] = s->chunks[i].address + 16;
        h->size[k] = s->chunks[i].usable;
        h->cls[k] = HG_OBJECT_REACHABLE;
        h->idom[k] = 8; /* node 8: the root */
        k++;
    }
    h->roots[0] = (hg_root){.kind = HG_ROOT_GLOBAL, .name = strdup("g_shapes")};
    h->by_retained[0] = 0;
    h->nranked = 1;
    s->holders = h;

    if (with_types) {
        /* in-use chunks 0, 2, 4 are circles, the mmapped one a polygon */
        struct hg_types *ty = calloc(1, sizeof *ty);
        ty->types = calloc(3, sizeof *ty->types);
        ty->types[0] = (hg_type){strdup("geo::Poly<float>"), HG_TYPE_VTABLE, 1, 135152};
        ty->types[1] = (hg_type){strdup("(untyped)"), HG_TYPE_SIZE, 4, 160};
        ty->types[2] = (hg_type){strdup("geo::Circle"), HG_TYPE_VTABLE, 3, 120};
        ty->ntypes = 3;
        ty->chunk_type = malloc(NCHUNKS * sizeof *ty->chunk_type);
        static const int32_t types[NCHUNKS] = {2, 1, 2, 1, 2, 1, 1, -1, 0};
        memcpy(ty->chunk_type, types, sizeof types);
        ty->cells = calloc(2, sizeof *ty->cells);
        ty->cells[0] = (struct hg_type_cell){-1, HG_STATE_MMAPPED, 135168, 0, 1, 135152};
        ty->cells[1] = (struct hg_type_cell){0, HG_STATE_INUSE, 48, 2, 3, 120};
        ty->ncells = 2;
        ty->totals = (hg_type_totals){4, 120 + 135152, 8, 7 * 40 + 135152};
        s->types = ty;
    }
    return s;
}

static Profile *read_back(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static unsigned char gz[1 << 20], raw[1 << 22];
    size_t len = fread(gz, 1, sizeof gz, f);
    fclose(f);
    z_stream z = {0};
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return NULL;
    z.next_in = gz;
    z.avail_in = (uInt)len;
    z.next_out = raw;
    z.avail_out = sizeof raw;
    int ret = inflate(&z, Z_FINISH);
    size_t n = sizeof raw - z.avail_out;
    inflateEnd(&z);
    return ret == Z_STREAM_END ? perftools__profiles__profile__unpack(NULL, n, raw) : NULL;
}

static const char *label(const Profile *p, const Perftools__Profiles__Sample *s, const char *key)
{
    for (size_t i = 0; i < s->n_label; i++)
        if (!strcmp(p->string_table[s->label[i]->key], key))
            return p->string_table[s->label[i]->str];
    return NULL;
}

/* The in-use objects per type label ("" for samples typed by size). */
static void check_profile(const char *path, const char *view, int with_types)
{
    Profile *p = read_back(path);
    CHECK(p != NULL, "%s: not a gzipped profile", path);
    if (!p)
        return;
    long circles = 0, polys = 0, untyped = 0, other = 0;
    for (size_t i = 0; i < p->n_sample; i++) {
        const Perftools__Profiles__Sample *sm = p->sample[i];
        const char *state = label(p, sm, "state"), *type = label(p, sm, "type");
        const char *source = label(p, sm, "type_source");
        int live = state && (!strcmp(state, "inuse") || !strcmp(state, "mmapped"));
        long objects = sm->n_value ? (long)sm->value[0] : 0;
        if (!with_types || !live) {
            CHECK(!type && !source, "%s: %s sample with a type label", view,
                  with_types ? "an idle" : "a types-less");
            continue;
        }
        CHECK(source != NULL, "%s: an in-use sample without type_source", view);
        if (source && !strcmp(source, "size")) {
            CHECK(!type, "%s: an untyped sample with a type", view);
            untyped += objects;
        } else if (type && source && !strcmp(source, "vtable")) {
            if (!strcmp(type, "geo::Circle"))
                circles += objects;
            else if (!strcmp(type, "geo::Poly<float>"))
                polys += objects;
            else
                other += objects;
        } else {
            other += objects;
        }
    }
    if (with_types)
        CHECK(circles == 3 && polys == 1 && untyped == 4 && other == 0,
              "%s: circles %ld (3), polygons %ld (1), untyped %ld (4), other %ld (0)", view,
              circles, polys, untyped, other);
    perftools__profiles__profile__free_unpacked(p, NULL);
}

static void write_and_check(const char *dir, const char *name, int holders_view, int with_types)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%s.pprof", dir, name, with_types ? "" : "_plain");
    hg_snapshot *s = build(with_types);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (f) {
        int rc = holders_view ? hg_write_pprof(s, f) : hg_write_pprof_by_size(s, f);
        fclose(f);
        CHECK(rc == 0, "%s: writing failed: %s", name, hg_error_message());
        check_profile(path, name, with_types);
    }
    hg_snapshot_free(s);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    for (int with_types = 0; with_types <= 1; with_types++) {
        write_and_check(dir, "by_size", 0, with_types);
        write_and_check(dir, "holders", 1, with_types);
    }
    if (failures)
        return 1;
    printf("ok: type labels in the size-class and the holders views\n");
    return 0;
}
