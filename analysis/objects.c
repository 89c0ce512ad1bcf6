/*
 * objects.c -- the object index (objects.h): sorting, regions, the page
 * directory and the lookup's slow part.
 *
 * Why regions: a page directory over the whole span of the heaps would cost
 * 4 bytes for every 4 KiB of address space between them (gigabytes between
 * the main heap and the thread arenas); a directory per run of close objects
 * costs only the pages those objects cover.  A big object (64 KiB or more)
 * is a region of its own, so its pages need no directory at all: a
 * 100-million-word array costs 32 bytes, not 400 KiB.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/objects.h"
#include "heapgrab.h"
#include "lib/array.h"
#include "lib/error.h"

#define PAGE_SHIFT 12
/* A gap this wide between objects, or an object this big, starts a region:
 * a gap costs 4 bytes a page in the directory, a region 32 bytes and one
 * more step of the region search. */
#define REGION_GAP ((uint64_t)64 << 10)
#define REGION_BIG ((uint64_t)64 << 10)

void hg_objects_init(hg_objects *o)
{
    memset(o, 0, sizeof *o);
}

void hg_objects_free(hg_objects *o)
{
    free(o->start);
    free(o->size);
    hg_u64map_free(&o->big);
    free(o->region_lo);
    free(o->regions);
    free(o->dir);
    memset(o, 0, sizeof *o);
}

int hg_objects_reserve(hg_objects *o, uint64_t n)
{
    if (n <= o->alloc)
        return 0;
    if (n > HG_OBJECTS_MAX)
        return hg_fail(HG_EUSAGE, "%" PRIu64 " objects: at most %u can be indexed", n,
                       HG_OBJECTS_MAX);
    uint64_t *s = realloc(o->start, n * sizeof *s);
    if (!s)
        return hg_fail(HG_ENOMEM, "out of memory for %" PRIu64 " objects", n);
    o->start = s;
    uint32_t *z = realloc(o->size, n * sizeof *z);
    if (!z)
        return hg_fail(HG_ENOMEM, "out of memory for %" PRIu64 " objects", n);
    o->size = z;
    o->alloc = n;
    /* filled once, then searched at random: see hg_advise_huge */
    hg_advise_huge(o->start, (size_t)n * sizeof *s);
    hg_advise_huge(o->size, (size_t)n * sizeof *z);
    return 0;
}

int hg_objects_add(hg_objects *o, uint64_t start, uint64_t size)
{
    if (o->finished)
        return hg_fail(HG_EUSAGE, "object 0x%" PRIx64 " added after the index was built", start);
    if (size > UINT64_MAX - start)
        return hg_fail(HG_EUSAGE, "object 0x%" PRIx64 " of %" PRIu64 " bytes wraps past the end of the address space",
                       start, size);
    if (o->n == o->alloc) {
        uint64_t want = o->alloc ? (uint64_t)o->alloc * 2 : 1024;
        if (want > HG_OBJECTS_MAX)
            want = HG_OBJECTS_MAX;
        if (o->n == HG_OBJECTS_MAX)
            return hg_fail(HG_EUSAGE, "more than %u objects: too many to index", HG_OBJECTS_MAX);
        int rc = hg_objects_reserve(o, want);
        if (rc)
            return rc;
    }
    if (size >= HG_OBJECTS_BIG) {
        if (hg_u64map_put(&o->big, start, size) != 0)
            return hg_fail(HG_ENOMEM, "out of memory");
        o->size[o->n] = HG_OBJECTS_BIG;
    } else {
        o->size[o->n] = (uint32_t)size;
    }
    o->start[o->n++] = start;
    return 0;
}

/* start[] and size[] in address order.  The walker hands objects over
 * heap by heap, each heap's in order: the index is a few sorted runs, and
 * merging the runs pairwise (log2 of their number passes over the
 * objects) replaces a sort of them all, which took 1.3 s for
 * bench/bigheap's 8.3 million objects in 14 runs. */
static int sort_objects(hg_objects *o)
{
    uint32_t n = o->n, i;
    for (i = 1; i < n && o->start[i - 1] <= o->start[i]; i++)
        ;
    if (i >= n)
        return 0;
    uint64_t *ts = malloc((size_t)n * sizeof *ts);
    uint32_t *tz = malloc((size_t)n * sizeof *tz);
    if (!ts || !tz) {
        free(ts);
        free(tz);
        return hg_fail(HG_ENOMEM, "out of memory sorting %" PRIu32 " objects", n);
    }
    uint64_t *s = o->start, *ds = ts;
    uint32_t *z = o->size, *dz = tz;
    for (;;) {
        /* one pass: merge each two neighbouring runs of s into ds */
        uint32_t runs = 0, a = 0;
        while (a < n) {
            uint32_t m = a + 1;
            while (m < n && s[m - 1] <= s[m])
                m++;
            uint32_t e = m;
            if (m < n)
                for (e = m + 1; e < n && s[e - 1] <= s[e]; e++)
                    ;
            uint32_t x = a, y = m, k = a;
            while (x < m && y < e) {
                if (s[y] < s[x]) {
                    ds[k] = s[y];
                    dz[k++] = z[y++];
                } else {
                    ds[k] = s[x];
                    dz[k++] = z[x++];
                }
            }
            for (; x < m; x++, k++) {
                ds[k] = s[x];
                dz[k] = z[x];
            }
            for (; y < e; y++, k++) {
                ds[k] = s[y];
                dz[k] = z[y];
            }
            runs++;
            a = e;
        }
        uint64_t *t64 = s;
        s = ds;
        ds = t64;
        uint32_t *t32 = z;
        z = dz;
        dz = t32;
        if (runs <= 1)
            break;
    }
    /* s and z hold the result: keep those, free the others */
    o->start = s;
    o->size = z;
    free(ds);
    free(dz);
    return 0;
}

static uint64_t end_of(const hg_objects *o, uint32_t i)
{
    return o->start[i] + hg_objects_size(o, i);
}

/* Fill the page directory of a run region: for each page boundary, the
 * last object starting at or before it (the first object when none). */
static void fill_dir(const hg_objects *o, const struct hg_objects_region *r)
{
    uint64_t pages = ((r->hi - r->lo) >> PAGE_SHIFT) + 1;
    uint32_t *d = o->dir + r->dir;
    uint32_t j = r->first;
    for (uint64_t p = 0; p <= pages; p++) {
        uint64_t at = r->lo + (p << PAGE_SHIFT);
        while (j < r->last && o->start[j + 1] <= at)
            j++;
        d[p] = j;
    }
}

int hg_objects_finish(hg_objects *o)
{
    if (o->finished)
        return 0;
    int rc = sort_objects(o);
    if (rc)
        return rc;
    /* give back what doubling left unused */
    if (o->n && o->n < o->alloc) {
        uint64_t *s = realloc(o->start, (size_t)o->n * sizeof *s);
        if (s)
            o->start = s;
        uint32_t *z = realloc(o->size, (size_t)o->n * sizeof *z);
        if (z)
            o->size = z;
        o->alloc = o->n;
    }
    for (uint32_t i = 1; i < o->n; i++)
        if (end_of(o, i - 1) > o->start[i] || o->start[i - 1] == o->start[i])
            return hg_fail(HG_EUSAGE,
                           "objects overlap: 0x%" PRIx64 " (%" PRIu64 " bytes) and 0x%" PRIx64,
                           o->start[i - 1], hg_objects_size(o, i - 1), o->start[i]);

    /* Two passes: count regions and directory entries, then fill them. */
    for (int pass = 0; pass < 2; pass++) {
        uint32_t nr = 0;
        uint64_t ndir = 0;
        struct hg_objects_region cur = {0};
        int open = 0;
        for (uint32_t i = 0; i <= o->n; i++) {
            int alone = 0, close = 1;
            if (i < o->n) {
                uint64_t size = hg_objects_size(o, i);
                alone = size >= REGION_BIG;
                /* a run goes on while objects are small and close */
                close = !open || alone || cur.dir == UINT64_MAX ||
                        o->start[i] - cur.hi >= REGION_GAP;
            }
            if (open && close) {
                if (cur.dir != UINT64_MAX) {
                    cur.dir = ndir;
                    ndir += ((cur.hi - cur.lo) >> PAGE_SHIFT) + 2;
                }
                if (pass) {
                    o->regions[nr] = cur;
                    o->region_lo[nr] = cur.lo;
                    if (cur.dir != UINT64_MAX)
                        fill_dir(o, &o->regions[nr]);
                }
                nr++;
                open = 0;
            }
            if (i == o->n)
                break;
            if (!open) {
                cur.first = i;
                /* pages count from the region's first object, not from
                 * page boundaries: a region never starts inside the one
                 * before it */
                cur.lo = o->start[i];
                cur.dir = alone ? UINT64_MAX : 0;
                open = 1;
            }
            cur.last = i;
            cur.hi = end_of(o, i);
        }
        if (pass == 0) {
            o->nregions = nr;
            o->ndir = ndir;
            o->regions = malloc((nr ? nr : 1) * sizeof *o->regions);
            o->region_lo = malloc((nr ? nr : 1) * sizeof *o->region_lo);
            o->dir = malloc((ndir ? ndir : 1) * sizeof *o->dir);
            if (!o->regions || !o->region_lo || !o->dir)
                return hg_fail(HG_ENOMEM, "out of memory for the object index (%" PRIu64 " pages)",
                               ndir);
        }
    }
    if (o->n) {
        o->lo = o->start[0];
        o->span = end_of(o, o->n - 1) - o->lo;
    } else {
        o->lo = 0;
        o->span = 0;
    }
    o->finished = 1;
    return 0;
}

/* The last of start[lo..hi] at or before word (lo itself if none is): a
 * search without branches on the data, whose outcome is a coin toss for
 * the branch predictor when the words point all over the heap.  For a
 * batch, whose starts were fetched ahead. */
static inline uint32_t last_at_or_before(const uint64_t *start, uint32_t lo, uint32_t hi,
                                         uint64_t word)
{
    uint32_t base = lo, len = hi - lo + 1;
    while (len > 1) {
        uint32_t half = len / 2;
        base = start[base + half] <= word ? base + half : base;
        len -= half;
    }
    return base;
}

/* The region holding word, or NULL: the last one starting at or before
 * it, if word is below its end. */
static inline const struct hg_objects_region *region_of(const hg_objects *o, uint64_t word)
{
    uint32_t a = 0, b = o->nregions - 1;
    while (a < b) {
        uint32_t mid = a + (b - a + 1) / 2;
        if (o->region_lo[mid] <= word)
            a = mid;
        else
            b = mid - 1;
    }
    const struct hg_objects_region *r = &o->regions[a];
    return word < r->lo || word >= r->hi ? NULL : r;
}

uint32_t hg_objects_find_in(const hg_objects *o, uint64_t word, int *interior)
{
    const struct hg_objects_region *r = region_of(o, word);
    if (!r)
        return HG_NO_OBJECT;
    uint32_t j;
    if (r->dir == UINT64_MAX) {
        j = r->first; /* one object, and word is inside it */
    } else {
        /* the answer is among the objects starting in word's page:
         * the last object starting at or before word */
        /* with branches: for one word alone, the speculation past them
         * fetches the next starts early, which is worth more here than
         * the mispredictions */
        const uint32_t *d = o->dir + r->dir + ((word - r->lo) >> PAGE_SHIFT);
        uint32_t lo = d[0], hi = d[1];
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo + 1) / 2;
            if (o->start[mid] <= word)
                lo = mid;
            else
                hi = mid - 1;
        }
        j = lo;
        uint64_t s = o->start[j];
        if (word < s)
            return HG_NO_OBJECT;
        uint32_t z = o->size[j];
        if (z != HG_OBJECTS_BIG && word - s >= z)
            return HG_NO_OBJECT;
        if (z == HG_OBJECTS_BIG && word - s >= hg_objects_size(o, j))
            return HG_NO_OBJECT;
    }
    *interior = word != o->start[j];
    return j;
}

void hg_objects_find_batch(const hg_objects *o, const uint64_t *words, size_t n, uint32_t *obj,
                           uint8_t *interior)
{
    const uint32_t *dir[HG_OBJECTS_BATCH];
    uint32_t lo[HG_OBJECTS_BATCH], hi[HG_OBJECTS_BATCH];
    if (n > HG_OBJECTS_BATCH)
        n = HG_OBJECTS_BATCH;
    /* 1. the region, and the page's directory entries, fetched ahead */
    for (size_t i = 0; i < n; i++) {
        uint64_t w = words[i];
        const struct hg_objects_region *r = w - o->lo < o->span ? region_of(o, w) : NULL;
        dir[i] = NULL;
        obj[i] = HG_NO_OBJECT;
        if (!r)
            continue;
        if (r->dir == UINT64_MAX) {
            obj[i] = r->first; /* a big object alone, word inside it */
            continue;
        }
        dir[i] = o->dir + r->dir + ((w - r->lo) >> PAGE_SHIFT);
        __builtin_prefetch(dir[i]);
    }
    /* 2. the candidates' starts, fetched ahead: the search reads those
     * from lo to hi */
    for (size_t i = 0; i < n; i++) {
        if (!dir[i])
            continue;
        lo[i] = dir[i][0];
        hi[i] = dir[i][1];
        const char *a = (const char *)&o->start[lo[i]], *b = (const char *)&o->start[hi[i]];
        for (int line = 0; a <= b && line < 8; a += 64, line++)
            __builtin_prefetch(a);
        __builtin_prefetch(b);
    }
    /* 3. the last object starting at or before the word; its size
     * fetched ahead */
    for (size_t i = 0; i < n; i++) {
        if (!dir[i])
            continue;
        obj[i] = last_at_or_before(o->start, lo[i], hi[i], words[i]);
        __builtin_prefetch(&o->size[obj[i]]);
    }
    /* 4. inside it? */
    for (size_t i = 0; i < n; i++) {
        uint32_t j = obj[i];
        if (j == HG_NO_OBJECT)
            continue;
        uint64_t w = words[i], s = o->start[j];
        if (w < s || w - s >= hg_objects_size(o, j)) {
            obj[i] = HG_NO_OBJECT;
            continue;
        }
        interior[i] = w != s;
    }
}

uint64_t hg_objects_memory(const hg_objects *o)
{
    return (uint64_t)o->alloc * (sizeof *o->start + sizeof *o->size) +
           o->big.cap * 2 * sizeof(uint64_t) +
           (uint64_t)o->nregions * (sizeof *o->regions + sizeof *o->region_lo) +
           o->ndir * sizeof *o->dir;
}
