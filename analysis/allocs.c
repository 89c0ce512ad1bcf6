/*
 * allocs.c -- the allocation sampler's table (sampler/table.h), read from
 * the target like any other memory: found by its one exported symbol
 * through the target's modules, read in bulk, checked, and turned into the
 * allocation profile model (lib/allocs.h) with every return address
 * symbolized.
 *
 * The table comes from the target, so nothing in it is trusted: the magic,
 * the version and every size must be this header's, every capacity is
 * held to a limit of heapgrab's own, the regions are read in pieces of a
 * fixed size whatever they claim, and every depth and index is clamped or
 * checked before use.  Work is bounded by those limits, whatever the
 * table says.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heapgrab.h"
#include "lib/allocs.h"
#include "lib/array.h"
#include "lib/error.h"
#include "lib/hashmap.h"
#include "lib/snapshot.h"
#include "sampler/table.h"
#include "target/symbolize.h"
#include "target/target.h"

/* heapgrab's own limits on what a table may claim (the sampler's own
 * capacities are far below them). */
#define MAX_SLOTS (1u << 16)
#define MAX_BUCKETS (1u << 16)
#define MAX_MODULES (1u << 12)
#define MAX_FRAMES ((uint64_t)MAX_BUCKETS * HGS_MAX_DEPTH)
#define READ_PIECE (1u << 20)

static const char *const allocator_functions[] = {
    "malloc", "calloc", "realloc", "reallocarray", "free", "memalign", "aligned_alloc",
    "posix_memalign", "valloc", "pvalloc", "__libc_malloc", "__libc_calloc",
    "__libc_realloc", "__libc_memalign", NULL};

/* Where the table is: the sampler's library, or the executable it was
 * linked into. */
static int find_table(hg_target *t, uint64_t *addr)
{
    const char *where[] = {"libheapgrab_sampler.so", NULL};
    for (size_t i = 0; i < 2; i++) {
        hg_module *m = hg_module_find(t, where[i]);
        uint64_t v, size;
        int tls = 0;
        if (m && hg_module_symbol(m, "heapgrab_sampler_table", &v, &size, &tls) == 0 && !tls) {
            *addr = v;
            return 0;
        }
    }
    return hg_fail(HG_ENOSAMPLER,
                   "the allocation sampler is not loaded in %s %d: start the program with "
                   "'heapgrab run -- PROGRAM' (or LD_PRELOAD=libheapgrab_sampler.so)",
                   t->ops->kind == HG_TARGET_CORE ? "the core of process" : "process",
                   t->process_id);
}

static int bad_table(const char *why, uint64_t v)
{
    return hg_fail(HG_EIO, "the allocation sampler's table does not hold together: %s (%" PRIu64 ")",
                   why, v);
}

/* Read and check the header. */
static int read_header(hg_target *t, uint64_t addr, struct hgs_header *h)
{
    int rc = hg_read_exact(t, addr, h, sizeof *h);
    if (rc)
        return rc;
    if (h->magic == 0)
        return hg_fail(HG_ENOSAMPLER, "the allocation sampler is loaded but has not started "
                       "(no allocation yet)");
    if (h->magic != HGS_MAGIC)
        return bad_table("wrong magic", h->magic);
    if (h->version != HGS_VERSION)
        return hg_fail(HG_EUNSUPPORTED, "the allocation sampler's table is version %u; this "
                       "heapgrab reads version %u", h->version, HGS_VERSION);
    if (h->header_size != sizeof *h)
        return bad_table("header size", h->header_size);
    if (h->counters_size != sizeof(struct hgs_counters))
        return bad_table("counter size", h->counters_size);
    if (h->bucket_size != sizeof(struct hgs_bucket))
        return bad_table("bucket size", h->bucket_size);
    if (h->live_size != sizeof(struct hgs_live))
        return bad_table("live entry size", h->live_size);
    if (h->module_size != sizeof(struct hgs_module))
        return bad_table("module size", h->module_size);
    if (h->max_depth != HGS_MAX_DEPTH)
        return bad_table("stack depth", h->max_depth);
    if (h->rate == 0)
        return bad_table("rate", h->rate);
    if (h->nslots > MAX_SLOTS)
        return bad_table("thread slots", h->nslots);
    if (h->nbuckets > MAX_BUCKETS)
        return bad_table("buckets", h->nbuckets);
    if (h->buckets_used > h->nbuckets)
        return bad_table("buckets in use", h->buckets_used);
    if (h->nmodules_max > MAX_MODULES || h->nmodules > h->nmodules_max)
        return bad_table("modules", h->nmodules);
    if (h->live_count > h->nlive)
        return bad_table("live sampled objects", h->live_count);
    if (h->nframes > MAX_FRAMES || h->frames_used > h->nframes)
        return bad_table("stack frames", h->frames_used);
    /* regions that wrap around the address space */
    if (h->slots + h->nslots * sizeof(struct hgs_counters) < h->slots ||
        h->buckets + h->nbuckets * sizeof(struct hgs_bucket) < h->buckets ||
        h->modules + h->nmodules_max * sizeof(struct hgs_module) < h->modules ||
        h->frames + h->nframes * sizeof(uint64_t) < h->frames)
        return bad_table("a region wraps around", 0);
    return 0;
}

static void add_counters(hg_sampler_info *info, const struct hgs_counters *c)
{
    info->alloc_objects += c->alloc_objects;
    info->alloc_bytes += c->alloc_bytes;
    info->free_objects += c->free_objects;
    info->free_bytes += c->free_bytes;
}

/* The exact figures: every slot, the retired and the shared counters. */
static int read_info(hg_target *t, const struct hgs_header *h, hg_sampler_info *info)
{
    memset(info, 0, sizeof *info);
    info->rate = h->rate;
    info->live_sampled = h->live_count;
    info->samples = h->samples;
    info->dropped_samples = h->dropped_samples;
    info->dropped_live = h->dropped_live;
    info->stacks = h->buckets_used;
    add_counters(info, &h->retired);
    add_counters(info, &h->shared);
    size_t len = (size_t)h->nslots * sizeof(struct hgs_counters);
    struct hgs_counters *slots = malloc(len ? len : 1);
    if (!slots)
        return hg_fail(HG_ENOMEM, "out of memory");
    int rc = len ? hg_read_exact(t, h->slots, slots, len) : 0;
    if (rc == 0) {
        for (size_t i = 0; i < h->nslots; i++) {
            add_counters(info, &slots[i]);
            info->threads += slots[i].in_use == 1;
        }
    }
    free(slots);
    return rc;
}

int hg_snapshot_read_sampler(hg_snapshot *s, hg_target *t)
{
    if (!s || !t)
        return hg_fail(HG_EUSAGE, "hg_snapshot_read_sampler: no snapshot or target");
    uint64_t addr;
    struct hgs_header h;
    hg_sampler_info info;
    int rc = find_table(t, &addr);
    if (rc == 0)
        rc = read_header(t, addr, &h);
    if (rc == 0)
        rc = read_info(t, &h, &info);
    if (rc == 0) {
        s->sampler = info;
        s->have_sampler = 1;
    }
    return rc;
}

/* ------------------------------------------------------------ stacks */

struct reading {
    hg_target *t;
    hg_allocs *a;
    hg_u64map loc_of_pc;
    size_t caplocs, capstacks;
    struct hgs_module *modules;  /* the module table, or NULL */
    size_t nmodules;
    uint64_t *frames;            /* the buckets' return addresses */
    size_t nframes;
};

/* A location for pc in a module no longer mapped (dlclose()d): the
 * module's file, build-id and offset, from the sampler's module table. */
static void unmapped_location(struct reading *r, uint64_t pc, uint64_t modules_seen,
                              hg_location *loc)
{
    size_t n = modules_seen < r->nmodules ? (size_t)modules_seen : r->nmodules;
    for (size_t i = n; i-- > 0;) {
        const struct hgs_module *m = &r->modules[i];
        if (pc < m->start || pc >= m->end)
            continue;
        char name[HGS_NAME_MAX];
        memcpy(name, m->name, sizeof name);
        name[sizeof name - 1] = '\0';
        loc->module = strdup(name[0] ? name : "?");
        size_t idlen = m->build_id_len < sizeof m->build_id ? (size_t)m->build_id_len
                                                             : sizeof m->build_id;
        if (idlen) {
            loc->build_id = malloc(2 * idlen + 1);
            for (size_t k = 0; loc->build_id && k < idlen; k++)
                sprintf(loc->build_id + 2 * k, "%02x", m->build_id[k]);
        }
        loc->module_start = m->start;
        const char *base = strrchr(name, '/');
        base = base ? base + 1 : name;
        char fn[HGS_NAME_MAX + 32];
        snprintf(fn, sizeof fn, "%s+0x%" PRIx64, base[0] ? base : "?", pc - m->base);
        loc->lines = calloc(1, sizeof *loc->lines);
        if (loc->lines) {
            loc->lines[0].function = strdup(fn);
            loc->nlines = 1;
        }
        return;
    }
}

/* The module table's entry for pc among the first modules_seen (the
 * latest that covers it), or NULL. */
static const struct hgs_module *module_entry(const struct reading *r, uint64_t pc,
                                             uint64_t modules_seen)
{
    size_t n = modules_seen < r->nmodules ? (size_t)modules_seen : r->nmodules;
    for (size_t i = n; i-- > 0;)
        if (pc >= r->modules[i].start && pc < r->modules[i].end)
            return &r->modules[i];
    return NULL;
}

/* Whether pc is still in the module the stack was taken in: the module
 * mapped there now has its build-id (a library unloaded since may have
 * left its addresses to a thread's stack or to another library).  Without
 * build-ids, the file names decide: the loader's name for a library may
 * be a symbolic link to the file mapped (libstdc++.so.6 and
 * libstdc++.so.6.0.30), so one file name must begin with the other. */
static int still_mapped(const struct reading *r, uint64_t pc, const struct hgs_module *m)
{
    const hg_mapping *now = hg_find_mapping(r->t, pc);
    if (!now || hg_mapping_is_anon(now))
        return 0;
    size_t idlen = m->build_id_len < sizeof m->build_id ? (size_t)m->build_id_len
                                                         : sizeof m->build_id;
    const char *path = NULL;
    const char *bid = hg_module_build_id_at(r->t, pc, &path);
    if (idlen && bid) {
        char hex[2 * sizeof m->build_id + 1];
        for (size_t k = 0; k < idlen; k++)
            sprintf(hex + 2 * k, "%02x", m->build_id[k]);
        return strcmp(hex, bid) == 0;
    }
    char name[HGS_NAME_MAX];
    memcpy(name, m->name, sizeof name);
    name[sizeof name - 1] = '\0';
    if (!name[0]) /* the executable */
        return 1;
    const char *a = strrchr(now->path, '/'), *b = strrchr(name, '/');
    a = a ? a + 1 : now->path;
    b = b ? b + 1 : name;
    size_t la = strlen(a), lb = strlen(b);
    return strncmp(a, b, la < lb ? la : lb) == 0;
}

static int location_of(struct reading *r, uint64_t ret, uint64_t modules_seen, size_t *out)
{
    /* the call, not the instruction after it */
    uint64_t pc = ret ? ret - 1 : 0;
    const uint64_t *known = hg_u64map_get(&r->loc_of_pc, pc);
    if (known) {
        *out = (size_t)*known;
        return 0;
    }
    hg_allocs *a = r->a;
    if (hg_array_reserve_((void **)&a->locs, &r->caplocs, sizeof *a->locs, a->nlocs + 1) != 0 ||
        hg_u64map_put(&r->loc_of_pc, pc, a->nlocs) != 0)
        return hg_fail(HG_ENOMEM, "out of memory");
    hg_location *loc = &a->locs[a->nlocs];
    memset(loc, 0, sizeof *loc);
    loc->pc = pc;
    const struct hgs_module *m = r->modules ? module_entry(r, pc, modules_seen) : NULL;
    if (!m || still_mapped(r, pc, m))
        hg_symbolize(r->t, pc, loc);
    else
        unmapped_location(r, pc, modules_seen, loc);
    loc->pc = pc;
    *out = a->nlocs++;
    return 0;
}

static int allocator_name(const char *fn)
{
    if (!fn)
        return 0;
    if (strncmp(fn, "operator new", 12) == 0)
        return 1;
    for (size_t i = 0; allocator_functions[i]; i++)
        if (strcmp(fn, allocator_functions[i]) == 0)
            return 1;
    return 0;
}

/* An allocator's own frame, or the sampler's: no part of the program's
 * stack (Go's heap profile has no mallocgc either).  An allocator inlined
 * into its caller (the loader's malloc wrappers) loses its inlined lines
 * and the caller stays. */
static int allocator_frame(hg_location *loc)
{
    while (loc->nlines > 1 && allocator_name(loc->lines[0].function)) {
        free(loc->lines[0].function);
        free(loc->lines[0].file);
        memmove(loc->lines, loc->lines + 1, (loc->nlines - 1) * sizeof *loc->lines);
        loc->nlines--;
    }
    if (loc->module) {
        const char *base = strrchr(loc->module, '/');
        base = base ? base + 1 : loc->module;
        if (strncmp(base, "libheapgrab_sampler", 19) == 0)
            return 1;
    }
    if (!loc->nlines)
        return 0;
    return allocator_name(loc->lines[loc->nlines - 1].function);
}

static int add_bucket(struct reading *r, const struct hgs_bucket *b)
{
    hg_allocs *a = r->a;
    if (hg_array_reserve_((void **)&a->stacks, &r->capstacks, sizeof *a->stacks,
                          a->nstacks + 1) != 0)
        return hg_fail(HG_ENOMEM, "out of memory");
    struct hg_alloc_stack *s = &a->stacks[a->nstacks];
    memset(s, 0, sizeof *s);
    s->size = b->size;
    s->alloc_objects = b->alloc_objects;
    s->alloc_bytes = b->alloc_bytes;
    /* a free counted at the instant of the stop may run ahead of nothing:
     * never more frees than allocations */
    s->free_objects = b->free_objects < b->alloc_objects ? b->free_objects : b->alloc_objects;
    s->free_bytes = b->free_bytes < b->alloc_bytes ? b->free_bytes : b->alloc_bytes;
    /* a stack that runs past the frames read is cut there */
    size_t depth = b->depth < HGS_MAX_DEPTH ? (size_t)b->depth : HGS_MAX_DEPTH;
    if (b->frame >= r->nframes)
        depth = 0;
    else if (depth > r->nframes - b->frame)
        depth = r->nframes - (size_t)b->frame;
    s->locs = malloc((depth ? depth : 1) * sizeof *s->locs);
    if (!s->locs)
        return hg_fail(HG_ENOMEM, "out of memory");
    a->nstacks++;
    int leading = 1;
    for (size_t k = 0; k < depth; k++) {
        size_t li = 0;
        int rc = location_of(r, r->frames[b->frame + k], b->modules_seen, &li);
        if (rc)
            return rc;
        if (leading && allocator_frame(&a->locs[li]))
            continue;
        leading = 0;
        s->locs[s->nlocs++] = li;
    }
    return 0;
}

void hg_allocs_free(hg_allocs *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nstacks; i++)
        free(a->stacks[i].locs);
    free(a->stacks);
    for (size_t i = 0; i < a->nlocs; i++)
        hg_location_free(&a->locs[i]);
    free(a->locs);
    free(a);
}

const hg_sampler_info *hg_allocs_info(const hg_allocs *a) { return a ? &a->info : NULL; }

/* With the target stopped: the header, the figures, the module table and
 * the used buckets (copied into *used). */
static int read_table(hg_target *t, uint64_t addr, struct reading *r,
                      struct hgs_bucket **used, size_t *nused)
{
    struct hgs_header h;
    int rc = read_header(t, addr, &h);
    if (rc == 0)
        rc = read_info(t, &h, &r->a->info);
    if (rc)
        return rc;
    if (h.nmodules) {
        r->modules = malloc((size_t)h.nmodules * sizeof *r->modules);
        if (!r->modules)
            return hg_fail(HG_ENOMEM, "out of memory");
        /* a module table that cannot be read only costs the names of
         * unloaded libraries */
        if (hg_read_exact(t, h.modules, r->modules, (size_t)h.nmodules * sizeof *r->modules) == 0) {
            r->nmodules = (size_t)h.nmodules;
        } else {
            free(r->modules);
            r->modules = NULL;
        }
    }
    hg_array(struct hgs_bucket) keep = HG_ARRAY_INIT;
    size_t per = READ_PIECE / sizeof(struct hgs_bucket);
    struct hgs_bucket *piece = malloc(per * sizeof *piece);
    if (!piece)
        return hg_fail(HG_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < h.buckets_used && rc == 0; i += per) {
        size_t n = h.buckets_used - i < per ? (size_t)(h.buckets_used - i) : per;
        rc = hg_read_exact(t, h.buckets + i * sizeof *piece, piece, n * sizeof *piece);
        for (size_t k = 0; rc == 0 && k < n; k++) {
            if (piece[k].hash == 0 || piece[k].alloc_objects == 0)
                continue;
            struct hgs_bucket *b = hg_array_push(keep);
            if (!b)
                rc = hg_fail(HG_ENOMEM, "out of memory");
            else
                *b = piece[k];
        }
    }
    free(piece);
    if (rc == 0 && h.frames_used) {
        r->frames = malloc((size_t)h.frames_used * sizeof *r->frames);
        if (!r->frames)
            rc = hg_fail(HG_ENOMEM, "out of memory");
        else
            rc = hg_read_exact(t, h.frames, r->frames, (size_t)h.frames_used * sizeof *r->frames);
        if (rc == 0)
            r->nframes = (size_t)h.frames_used;
    }
    if (rc) {
        hg_array_clear(keep);
        return rc;
    }
    *used = keep.ptr;
    *nused = keep.size;
    return 0;
}

int hg_allocs_take(hg_target *t, hg_allocs **out)
{
    if (!t || !out)
        return hg_fail(HG_EUSAGE, "hg_allocs_take: no target");
    *out = NULL;
    uint64_t addr;
    int rc = find_table(t, &addr);
    if (rc)
        return rc;
    hg_allocs *a = calloc(1, sizeof *a);
    if (!a)
        return hg_fail(HG_ENOMEM, "out of memory");
    a->pid = t->process_id;
    snprintf(a->exe, sizeof a->exe, "%s", t->exe);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    a->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    struct reading r = {.t = t, .a = a};
    struct hgs_bucket *used = NULL;
    size_t nused = 0;

    /* The table is read with the process stopped (a core or a debugger's
     * reader stops nothing), so its figures hold together; the mappings
     * are read again at the stop, for libraries loaded since. */
    rc = t->ops->stop(t, 0);
    if (rc == 0) {
        rc = read_table(t, addr, &r, &used, &nused);
        int rrc = t->ops->resume(t, NULL);
        if (rc == 0)
            rc = rrc;
    }
    /* symbolized with the target running */
    for (size_t i = 0; rc == 0 && i < nused; i++)
        rc = add_bucket(&r, &used[i]);
    free(used);
    free(r.modules);
    free(r.frames);
    hg_u64map_free(&r.loc_of_pc);
    if (rc) {
        hg_allocs_free(a);
        return rc;
    }
    *out = a;
    return 0;
}
