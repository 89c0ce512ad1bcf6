/*
 * allocs_readback.c -- an allocation profile read back, as JSON on stdout,
 * for test_sampler.py:
 *   {"sample_types": [["alloc_objects", "count"], ...],
 *    "period_type": ["space", "bytes"], "period": N,
 *    "leaves": {"FUNCTION": [v0, v1, v2, v3], ...},   summed per leaf
 *    "bytes_label_ok": true}   every sample's "bytes" label is its
 *                              alloc_space / alloc_objects (at rate 1)
 * The leaf is the function of the first location's first line: the
 * allocating function once allocator frames are dropped.  Exit 1 if the
 * file is not a profile.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/writers/readback.h"

int failures;

struct leaf {
    const char *name;
    int64_t v[4];
};

static const char *leaf_name(const Profile *p, const Perftools__Profiles__Sample *s)
{
    if (s->n_location_id == 0)
        return "(none)";
    for (size_t i = 0; i < p->n_location; i++) {
        const Perftools__Profiles__Location *l = p->location[i];
        if (l->id != s->location_id[0] || l->n_line == 0)
            continue;
        for (size_t k = 0; k < p->n_function; k++)
            if (p->function[k]->id == l->line[0]->function_id)
                return str_at(p, p->function[k]->name);
    }
    return "(unknown)";
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: allocs_readback PROFILE\n");
        return 2;
    }
    Profile *p = load_profile(argv[1]);
    if (!p)
        return 1;
    printf("{\"sample_types\": [");
    for (size_t i = 0; i < p->n_sample_type; i++)
        printf("%s[\"%s\", \"%s\"]", i ? ", " : "", str_at(p, p->sample_type[i]->type),
               str_at(p, p->sample_type[i]->unit));
    printf("], \"period_type\": [\"%s\", \"%s\"], \"period\": %" PRId64 ", ",
           p->period_type ? str_at(p, p->period_type->type) : "",
           p->period_type ? str_at(p, p->period_type->unit) : "", p->period);
    struct leaf *leaves = calloc(p->n_sample + 1, sizeof *leaves);
    size_t nleaves = 0;
    int label_ok = 1;
    for (size_t i = 0; i < p->n_sample; i++) {
        const Perftools__Profiles__Sample *s = p->sample[i];
        if (s->n_value != 4) {
            fprintf(stderr, "sample %zu has %zu values\n", i, s->n_value);
            return 1;
        }
        int have_bytes = 0;
        for (size_t k = 0; k < s->n_label; k++)
            if (strcmp(str_at(p, s->label[k]->key), "bytes") == 0) {
                have_bytes = 1;
                if (p->period <= 1 && s->value[0] &&
                    s->label[k]->num * s->value[0] != s->value[1])
                    label_ok = 0;
            }
        if (!have_bytes)
            label_ok = 0;
        const char *name = leaf_name(p, s);
        size_t j = 0;
        while (j < nleaves && strcmp(leaves[j].name, name) != 0)
            j++;
        if (j == nleaves)
            leaves[nleaves++].name = name;
        for (int k = 0; k < 4; k++)
            leaves[j].v[k] += s->value[k];
    }
    printf("\"leaves\": {");
    for (size_t j = 0; j < nleaves; j++)
        printf("%s\"%s\": [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "]", j ? ", " : "",
               leaves[j].name, leaves[j].v[0], leaves[j].v[1], leaves[j].v[2], leaves[j].v[3]);
    printf("}, \"bytes_label_ok\": %s}\n", label_ok ? "true" : "false");
    perftools__profiles__profile__free_unpacked(p, NULL);
    free(leaves);
    return failures ? 1 : 0;
}
