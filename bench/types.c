/*
 * types.c -- what typing the chunks costs, on a live process:
 *
 *     bench_types PID [ROUNDS]        (default 3 rounds)
 *
 * Each round takes a snapshot keeping every chunk (what types needs
 * anyway), then one with types: the walk and its stop with and without the
 * first words, and the typing itself (analysis/types.c) timed alone, in
 * wall and CPU time, per in-use chunk.  The machine may be shared: read
 * the CPU times.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "analysis/types.h"
#include "heapgrab.h"
#include "lib/clock.h"
#include "lib/snapshot.h"
#include "walker/walk.h"

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int walk(hg_target *t, const hg_located *loc, int types, hg_snapshot **s, uint64_t *wall,
                uint64_t *cpu)
{
    hg_snapshot_options opt = {.keep_chunks = 1, .types = types};
    uint64_t w0 = hg_now_ns(), c0 = cpu_ns();
    int rc = hg_walk(t, loc, &opt, s);
    *wall = hg_now_ns() - w0;
    *cpu = cpu_ns() - c0;
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_types PID [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    hg_target *t;
    hg_located loc;
    if (hg_target_attach_pid(atoi(argv[1]), 0, &t) != 0 || hg_locate(t, HG_LOCATE_AUTO, &loc) != 0) {
        fprintf(stderr, "bench_types: %s\n", hg_error_message());
        return 1;
    }
    for (int r = 0; r < rounds; r++) {
        hg_snapshot *plain, *typed;
        uint64_t pw, pc, tw, tc;
        if (walk(t, &loc, 0, &plain, &pw, &pc) != 0 || walk(t, &loc, 1, &typed, &tw, &tc) != 0) {
            fprintf(stderr, "bench_types: %s\n", hg_error_message());
            return 1;
        }
        uint64_t w0 = hg_now_ns(), c0 = cpu_ns();
        if (hg_types_find(t, typed, NULL) != 0) {
            fprintf(stderr, "bench_types: %s\n", hg_error_message());
            return 1;
        }
        uint64_t aw = hg_now_ns() - w0, ac = cpu_ns() - c0;
        const hg_type_totals *tt = hg_snapshot_type_totals(typed);
        printf("round %d: %zu chunks, %" PRIu64 " in use (%.1f%% of bytes typed, %zu types)\n", r,
               typed->nchunks, tt->inuse_objects,
               tt->inuse_bytes ? 100.0 * tt->typed_bytes / tt->inuse_bytes : 0.0,
               hg_snapshot_type_count(typed));
        printf("  walk keeping chunks:        %7.3f s wall, %7.3f s cpu, stopped %7.3f s\n",
               pw / 1e9, pc / 1e9, plain->timing.stopped_ns / 1e9);
        printf("  walk keeping first words:   %7.3f s wall, %7.3f s cpu, stopped %7.3f s\n",
               tw / 1e9, tc / 1e9, typed->timing.stopped_ns / 1e9);
        printf("  typing (target running):    %7.3f s wall, %7.3f s cpu, %.1f ns cpu per in-use chunk\n",
               aw / 1e9, ac / 1e9, tt->inuse_objects ? (double)ac / tt->inuse_objects : 0.0);
        hg_snapshot_free(plain);
        hg_snapshot_free(typed);
    }
    hg_target_close(t);
    return 0;
}
