/*
 * test_allocs_writer.c -- writers/allocs_pprof.c on allocation profiles
 * made here: the sample types and period, each sample's values unsampled
 * with Go's formula (computed here independently: count and bytes times
 * 1 / (1 - exp(-avg/rate)), avg = bytes / count, truncated), the bytes
 * label, locations and lines; at rate 1 the values as counted; an empty
 * profile; and a stream that fails.
 *
 *     test_allocs_writer OUTDIR
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/allocs.h"
#include "tests/writers/readback.h"

int failures;

static int64_t go_scale(uint64_t v, uint64_t count, uint64_t bytes, uint64_t rate)
{
    if (count == 0 || bytes == 0)
        return 0;
    if (rate <= 1)
        return (int64_t)v;
    double avg = (double)bytes / (double)count;
    return (int64_t)((double)v / (1 - exp(-avg / (double)rate)));
}

static char *dup(const char *s) { return strdup(s); }

/* Two stacks over three locations: f <- main and g (inlined into h) <- main. */
static void make(hg_allocs *a, uint64_t rate)
{
    memset(a, 0, sizeof *a);
    a->pid = 42;
    strcpy(a->exe, "/bin/app");
    a->info.rate = rate;
    a->nlocs = 3;
    a->locs = calloc(3, sizeof *a->locs);
    const char *fn[3] = {"f", "g", "main"};
    for (int i = 0; i < 3; i++) {
        hg_location *l = &a->locs[i];
        l->pc = 0x401000 + (uint64_t)i * 16;
        l->module = dup("/bin/app");
        l->module_start = 0x400000;
        l->nlines = i == 1 ? 2 : 1;
        l->lines = calloc(l->nlines, sizeof *l->lines);
        l->lines[0] = (hg_loc_line){dup(fn[i]), dup("app.c"), 10 + i, 5, i == 1};
        if (i == 1)
            l->lines[1] = (hg_loc_line){dup("h"), dup("app.c"), 30, 28, 0};
    }
    a->nstacks = 2;
    a->stacks = calloc(2, sizeof *a->stacks);
    /* 10 objects of 1000 bytes, 4 freed; 3 of 2 MiB, none freed */
    a->stacks[0] = (struct hg_alloc_stack){1000, 10, 10000, 4, 4000, NULL, 2};
    a->stacks[1] = (struct hg_alloc_stack){2u << 20, 3, 6u << 20, 0, 0, NULL, 2};
    a->stacks[0].locs = malloc(2 * sizeof(size_t));
    a->stacks[0].locs[0] = 0;
    a->stacks[0].locs[1] = 2;
    a->stacks[1].locs = malloc(2 * sizeof(size_t));
    a->stacks[1].locs[0] = 1;
    a->stacks[1].locs[1] = 2;
}

static void release(hg_allocs *a)
{
    for (size_t i = 0; i < a->nstacks; i++)
        free(a->stacks[i].locs);
    free(a->stacks);
    for (size_t i = 0; i < a->nlocs; i++) {
        for (size_t k = 0; k < a->locs[i].nlines; k++) {
            free(a->locs[i].lines[k].function);
            free(a->locs[i].lines[k].file);
        }
        free(a->locs[i].lines);
        free(a->locs[i].module);
    }
    free(a->locs);
}

static void check_rate(const char *dir, uint64_t rate)
{
    hg_allocs a;
    make(&a, rate);
    char name[64];
    snprintf(name, sizeof name, "allocs_rate%llu.pb.gz", (unsigned long long)rate);
    char *path = path_in(dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f, "cannot write %s", path);
    if (!f)
        return;
    CHECK(hg_write_allocs_pprof(&a, f) == 0, "write: %s", hg_error_message());
    fclose(f);
    Profile *p = load_profile(path);
    if (p) {
        check_string_table(p);
        const char *types[4][2] = {{"alloc_objects", "count"}, {"alloc_space", "bytes"},
                                   {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
        CHECK(p->n_sample_type == 4, "%zu sample types", p->n_sample_type);
        for (size_t i = 0; i < 4 && i < p->n_sample_type; i++)
            CHECK(!strcmp(str_at(p, p->sample_type[i]->type), types[i][0]) &&
                      !strcmp(str_at(p, p->sample_type[i]->unit), types[i][1]),
                  "sample type %zu", i);
        CHECK(p->period_type && !strcmp(str_at(p, p->period_type->type), "space") &&
                  !strcmp(str_at(p, p->period_type->unit), "bytes"),
              "period type");
        CHECK(p->period == (int64_t)rate, "period %lld", (long long)p->period);
        CHECK(p->n_sample == 2, "%zu samples", p->n_sample);
        for (size_t i = 0; i < p->n_sample && i < 2; i++) {
            const struct hg_alloc_stack *s = &a.stacks[i];
            const Perftools__Profiles__Sample *ps = p->sample[i];
            uint64_t io = s->alloc_objects - s->free_objects, ib = s->alloc_bytes - s->free_bytes;
            int64_t want[4] = {go_scale(s->alloc_objects, s->alloc_objects, s->alloc_bytes, rate),
                               go_scale(s->alloc_bytes, s->alloc_objects, s->alloc_bytes, rate),
                               go_scale(io, io, ib, rate), go_scale(ib, io, ib, rate)};
            CHECK(ps->n_value == 4, "sample %zu: %zu values", i, ps->n_value);
            for (size_t k = 0; k < 4 && k < ps->n_value; k++)
                CHECK(ps->value[k] == want[k], "rate %llu sample %zu value %zu: %lld, want %lld",
                      (unsigned long long)rate, i, k, (long long)ps->value[k],
                      (long long)want[k]);
            CHECK(ps->n_label == 1 && !strcmp(str_at(p, ps->label[0]->key), "bytes") &&
                      ps->label[0]->num == (int64_t)s->size,
                  "sample %zu: bytes label", i);
            CHECK(ps->n_location_id == 2, "sample %zu: %zu locations", i, ps->n_location_id);
        }
        /* the inlined location has two lines, innermost first */
        int found = 0;
        for (size_t i = 0; i < p->n_location; i++)
            if (p->location[i]->n_line == 2)
                found++;
        CHECK(found == 1, "locations with two lines: %d", found);
        CHECK(p->n_mapping == 1 && !strcmp(str_at(p, p->mapping[0]->filename), "/bin/app"),
              "the mapping");
        perftools__profiles__profile__free_unpacked(p, NULL);
    }
    /* a stream that fails: HG_EIO, never a crash */
    for (int k = 0; k < BAD_STREAMS; k++) {
        FILE *bad = bad_stream_open(k);
        if (!bad)
            continue;
        CHECK(hg_write_allocs_pprof(&a, bad) == HG_EIO, "%s stream", bad_stream_name[k]);
        fclose(bad);
    }
    release(&a);
    free(path);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_allocs_writer OUTDIR\n");
        return 2;
    }
    check_rate(argv[1], 524288);
    check_rate(argv[1], 1);
    check_rate(argv[1], 65536);
    /* empty: a valid profile with no samples */
    hg_allocs e;
    memset(&e, 0, sizeof e);
    e.info.rate = 524288;
    char *path = path_in(argv[1], "allocs_empty.pb.gz");
    FILE *f = fopen(path, "wb");
    CHECK(f && hg_write_allocs_pprof(&e, f) == 0, "empty profile");
    if (f)
        fclose(f);
    Profile *p = load_profile(path);
    CHECK(p && p->n_sample == 0, "empty profile read back");
    if (p)
        perftools__profiles__profile__free_unpacked(p, NULL);
    free(path);
    CHECK(hg_write_allocs_pprof(NULL, stdout) == HG_EUSAGE, "no profile");
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    return failures ? 1 : 0;
}
