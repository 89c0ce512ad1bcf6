/*
 * hostile_table.c -- a program that exports heapgrab_sampler_table itself
 * and fills it with what a crafted or corrupt process could hold, one case
 * per run:  hostile_table CASE  (or "count": how many cases).  It prints
 * {"pid": N, "what": "...", "status": [allowed exit statuses of heapgrab
 * allocs]} and waits for stdin to close.  heapgrab must refuse or read
 * each within bounded work, never crash or loop.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sampler/table.h"

__attribute__((visibility("default"))) struct hgs_header heapgrab_sampler_table;

static void *garbage(size_t len, uint64_t seed)
{
    uint64_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        exit(2);
    for (size_t i = 0; i < len / 8; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        p[i] = seed;
    }
    return p;
}

static void valid(struct hgs_header *h)
{
    h->magic = HGS_MAGIC;
    h->version = HGS_VERSION;
    h->header_size = sizeof *h;
    h->counters_size = sizeof(struct hgs_counters);
    h->bucket_size = sizeof(struct hgs_bucket);
    h->live_size = sizeof(struct hgs_live);
    h->module_size = sizeof(struct hgs_module);
    h->max_depth = HGS_MAX_DEPTH;
    h->rate = 1;
    h->nslots = 16;
    h->slots = (uint64_t)(uintptr_t)garbage(16 * sizeof(struct hgs_counters), 1);
    h->nbuckets = 1024;
    h->buckets_used = 1024;
    h->buckets = (uint64_t)(uintptr_t)garbage(1024 * sizeof(struct hgs_bucket), 2);
    h->nlive = 1024;
    h->live = (uint64_t)(uintptr_t)garbage(1024 * sizeof(struct hgs_live), 3);
    h->nmodules_max = 8;
    h->nmodules = 8;
    h->modules = (uint64_t)(uintptr_t)garbage(8 * sizeof(struct hgs_module), 4);
    h->nframes = 4096;
    h->frames_used = 4096;
    h->frames = (uint64_t)(uintptr_t)garbage(4096 * sizeof(uint64_t), 5);
}

#define NCASES 15

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    if (!strcmp(argv[1], "count")) {
        printf("%d\n", NCASES);
        return 0;
    }
    struct hgs_header *h = &heapgrab_sampler_table;
    valid(h);
    const char *what = "", *status = "[1]";
    switch (atoi(argv[1])) {
    case 0: what = "wrong magic"; h->magic ^= 1; break;
    case 1: what = "a later version"; h->version = 99; status = "[6]"; break;
    case 2: what = "another bucket size"; h->bucket_size = 8; break;
    case 3: what = "2^40 buckets"; h->nbuckets = 1ull << 40; break;
    case 4: what = "more buckets used than there are"; h->buckets_used = 1025; break;
    case 5: what = "buckets unmapped"; h->buckets = 0x10; break;
    case 6: what = "garbage buckets (depths, counts, addresses)"; status = "[0]"; break;
    case 7: what = "2^40 thread slots"; h->nslots = 1ull << 40; break;
    case 8: what = "buckets wrap around"; h->buckets = UINT64_MAX - 100; break;
    case 9: what = "not started"; h->magic = 0; status = "[11]"; break;
    case 10: what = "more modules than room"; h->nmodules = 9; break;
    case 11: what = "modules unreadable, garbage buckets"; h->modules = 0x20; status = "[0]";
        break;
    case 12: what = "more frames used than there are"; h->frames_used = 4097; break;
    case 13: what = "frames unmapped"; h->frames = 0x30; break;
    case 14: what = "2^40 frames"; h->nframes = h->frames_used = 1ull << 40; break;
    }
    printf("{\"pid\": %d, \"what\": \"%s\", \"status\": %s}\n", (int)getpid(), what, status);
    fflush(stdout);
    char line[8];
    while (fgets(line, sizeof line, stdin))
        ;
    return 0;
}
