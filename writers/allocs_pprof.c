/*
 * allocs_pprof.c -- the allocation sampler's stacks as a gzipped pprof
 * profile, as Go writes its heap profile (runtime/pprof, writeHeapProto):
 *   sample types alloc_objects/count, alloc_space/bytes,
 *   inuse_objects/count, inuse_space/bytes; period_type space/bytes with
 *   period the sampling rate; one Sample per bucket (a stack and an object
 *   size) with a numeric label "bytes", the size.
 * Values are unsampled as Go does (scaleHeapSample): an object of s bytes
 * was sampled with probability 1 - exp(-s/rate), so each count and byte
 * figure is divided by it; at rate 1 the figures are as counted.
 * Locations carry lines (inlined levels innermost first), functions carry
 * file names and start lines so `go tool pprof -list` shows source, and
 * mappings say the profile is symbolized already.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/allocs.h"
#include "lib/array.h"
#include "lib/error.h"
#include "writers/pprof_builder.h"

enum { V_ALLOC_OBJECTS, V_ALLOC_SPACE, V_INUSE_OBJECTS, V_INUSE_SPACE, NVALUES };

/* Go's scaleHeapSample. */
static void unsample(uint64_t count, uint64_t bytes, uint64_t rate, int64_t *c, int64_t *b)
{
    if (count == 0 || bytes == 0) {
        *c = *b = 0;
        return;
    }
    if (rate <= 1) {
        *c = hg_pprof_i64(count);
        *b = hg_pprof_i64(bytes);
        return;
    }
    double avg = (double)bytes / (double)count;
    double scale = 1 / (1 - exp(-avg / (double)rate));
    double vc = (double)count * scale, vb = (double)bytes * scale;
    *c = vc >= 9.2e18 ? INT64_MAX : (int64_t)vc;
    *b = vb >= 9.2e18 ? INT64_MAX : (int64_t)vb;
}

int hg_write_allocs_pprof(const hg_allocs *a, FILE *out)
{
    if (!a || !out)
        return hg_fail(HG_EUSAGE, "hg_write_allocs_pprof: no profile or stream");
    struct hg_pprof *b = hg_pprof_new();
    hg_array(uint64_t) ids = HG_ARRAY_INIT;
    int rc = 0;
    if (!b) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto done;
    }
    hg_pprof_sample_type(b, "alloc_objects", "count");
    hg_pprof_sample_type(b, "alloc_space", "bytes");
    hg_pprof_sample_type(b, "inuse_objects", "count");
    hg_pprof_sample_type(b, "inuse_space", "bytes");
    int64_t k_bytes = hg_pprof_string(b, "bytes");
    /* Locations 1, 2, ... as a->locs */
    if ((rc = hg_pprof_code_locations(b, a->locs, a->nlocs, a->exe)) != 0)
        goto done;
    for (size_t i = 0; i < a->nstacks; i++) {
        const struct hg_alloc_stack *s = &a->stacks[i];
        if (hg_array_reserve(ids, s->nlocs) != 0) {
            rc = hg_fail(HG_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t k = 0; k < s->nlocs; k++)
            ids.ptr[k] = s->locs[k] + 1;
        int64_t v[NVALUES];
        unsample(s->alloc_objects, s->alloc_bytes, a->info.rate, &v[V_ALLOC_OBJECTS],
                 &v[V_ALLOC_SPACE]);
        unsample(s->alloc_objects - s->free_objects, s->alloc_bytes - s->free_bytes,
                 a->info.rate, &v[V_INUSE_OBJECTS], &v[V_INUSE_SPACE]);
        struct hg_pprof_label lb = {.key = k_bytes, .num = hg_pprof_i64(s->size)};
        hg_pprof_sample(b, ids.ptr, s->nlocs, v, &lb, 1);
    }
    char comment[4096 + 512];
    const hg_sampler_info *in = &a->info;
    snprintf(comment, sizeof comment,
             "heapgrab %s allocations of pid %d (%s): sampled every %" PRIu64
             " bytes on average; exact totals: %" PRIu64 " objects, %" PRIu64
             " bytes allocated, %" PRIu64 " objects, %" PRIu64 " bytes freed; %" PRIu64
             " samples (%" PRIu64 " dropped)",
             HEAPGRAB_VERSION, a->pid, a->exe, in->rate, in->alloc_objects, in->alloc_bytes,
             in->free_objects, in->free_bytes, in->samples, in->dropped_samples);
    hg_pprof_comment(b, comment);
    hg_pprof_period(b, "space", "bytes", hg_pprof_i64(in->rate));
    hg_pprof_default_sample_type(b, "inuse_space");
    hg_pprof_time(b, hg_pprof_i64(a->time_ns), 0);
    rc = hg_pprof_write(b, out);
done:
    hg_array_clear(ids);
    hg_pprof_free(b);
    return rc;
}
