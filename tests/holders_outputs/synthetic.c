/* synthetic.c -- see synthetic.h. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/snapshot.h"
#include "tests/holders_outputs/synthetic.h"

#define SEVERAL (-1)
#define LEAKED (-2)
#define ROOT(r) (-10 - (r))

struct def {
    uint64_t size;
    int cls;
    int64_t holder;   /* an object index, ROOT(r), SEVERAL or LEAKED */
    int16_t arena;
};

static struct def defs[400];
static size_t ndefs;

static int64_t add(uint64_t size, int cls, int64_t holder, int16_t arena)
{
    defs[ndefs] = (struct def){size, cls, holder, arena};
    return (int64_t)ndefs++;
}

static char *dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void build_defs(void)
{
    ndefs = 0;
    int64_t tracker = add(24, HG_OBJECT_REACHABLE, ROOT(R_TRACKER), 0);
    int64_t array = add(1032, HG_OBJECT_REACHABLE, tracker, 0);
    for (int i = 0; i < 3; i++) {
        int64_t req = add(56, HG_OBJECT_REACHABLE, array, 0);
        add(104, HG_OBJECT_REACHABLE, req, 1);
    }
    add(56, HG_OBJECT_POSSIBLY, ROOT(R_TRACKER), 0);
    int64_t prev = ROOT(R_LIST);
    for (int i = 0; i < LIST_NODES; i++)
        prev = add(24, HG_OBJECT_REACHABLE, prev, 0);
    add(40, HG_OBJECT_REACHABLE, ROOT(R_STACK), 1);
    add(72, HG_OBJECT_REACHABLE, ROOT(R_TLS), 1);
    add(24, HG_OBJECT_REACHABLE, ROOT(R_REGS), 0);
    add(135152, HG_OBJECT_REACHABLE, ROOT(R_MAPPING), -1);
    int64_t sev = add(40, HG_OBJECT_REACHABLE, SEVERAL, 0);
    add(24, HG_OBJECT_REACHABLE, sev, 0);
    for (int i = 0; i < 2; i++)
        add(40, HG_OBJECT_DIRECT, LEAKED, 0);
    for (int i = 0; i < 3; i++)
        add(24, HG_OBJECT_INDIRECT, LEAKED, 0);
    prev = ROOT(R_DEEP);
    for (int i = 0; i < DEEP_CHAIN; i++)
        prev = add(i % 2 ? 40 : 24, HG_OBJECT_REACHABLE, prev, 0);
}

/* Add a bucket and its figures to the totals. */
static int bucket(hg_snapshot *s, int arena, int state, uint64_t chunk, uint64_t count,
                  uint64_t usable)
{
    hg_totals *t = &s->totals;
    switch (state) {
    case HG_STATE_INUSE: t->inuse_objects += count; t->inuse_bytes += usable; break;
    case HG_STATE_MMAPPED:
        t->inuse_objects += count;
        t->inuse_bytes += usable;
        t->mmapped_objects += count;
        t->mmapped_bytes += count * chunk;
        break;
    case HG_STATE_TCACHE: t->tcache_objects += count; t->tcache_bytes += count * chunk; break;
    case HG_STATE_BIN: t->free_objects += count; t->free_bytes += count * chunk; break;
    case HG_STATE_TOP: t->top_bytes += count * chunk; break;
    }
    return hg_snapshot_add(s, arena, state, chunk, count, usable);
}

hg_snapshot *synthetic_holders_snapshot(const char *decl_file)
{
    build_defs();
    hg_snapshot *s = hg_snapshot_new();
    struct hg_holders *h = s ? hg_holders_new(ndefs, NROOTS) : NULL;
    if (!h) {
        hg_snapshot_free(s);
        return NULL;
    }
    s->holders = h;
    s->pid = 4242;
    snprintf(s->exe, sizeof s->exe, "/opt/app/bin/app");
    snprintf(s->glibc_version, sizeof s->glibc_version, "2.36");
    s->locate = "symbols";
    s->time_ns = 1700000000123456789ull;
    s->timing.stopped_ns = 2000000;
    s->timing.total_ns = 5000000;
    s->rss_bytes = HG_UNKNOWN;
    s->heap_resident_bytes = HG_UNKNOWN;

    size_t n = ndefs, super = n + NROOTS;
    h->arena = calloc(n, sizeof *h->arena);
    if (!h->arena) {
        hg_snapshot_free(s);
        return NULL;
    }
    uint64_t addr = 0x555555560010ull;
    for (size_t i = 0; i < n; i++) {
        const struct def *d = &defs[i];
        h->address[i] = addr;
        addr += (d->size + 8 + 15) / 16 * 16;
        h->size[i] = d->size;
        h->cls[i] = (uint8_t)d->cls;
        h->arena[i] = d->arena;
        h->idom[i] = d->holder >= 0        ? (uint32_t)d->holder
                     : d->holder == SEVERAL ? (uint32_t)super
                     : d->holder == LEAKED  ? HG_HOLDERS_NONE
                                            : (uint32_t)(n + (size_t)(-10 - d->holder));
    }
    /* Retained: each object counts for itself and every holder above it. */
    for (size_t i = 0; i < n; i++) {
        uint32_t x = (uint32_t)i;
        for (;;) {
            h->retained_objects[x]++;
            h->retained_bytes[x] += h->size[i];
            if (x >= n)
                break;
            x = h->idom[x];
            if (x == HG_HOLDERS_NONE)
                break;
        }
    }

    static const struct {
        int kind;
        const char *name, *module, *file;
        int line, thread;
        const char *thread_name;
        uint64_t address;
    } roots[NROOTS] = {
        [R_TRACKER] = {HG_ROOT_GLOBAL, "g_tracker", "/opt/app/bin/app", NULL, 3, 0, "", 0x555555558010},
        [R_STACK] = {HG_ROOT_STACK, "hold_on_stack", "/opt/app/bin/app", "/src/app/server.c", 88, 4243,
                     "worker", 0x7ffffffde000},
        [R_TLS] = {HG_ROOT_TLS, "t_buf", "/opt/app/bin/app", "/src/app/server.c", 20, 4243, "worker",
                   0x7ffff7d8a6f8},
        [R_LIST] = {HG_ROOT_GLOBAL, "g_list", "/opt/app/bin/app", "/src/app/list.c", 7, 0, "", 0x555555558018},
        [R_REGS] = {HG_ROOT_REGISTERS, "registers", NULL, NULL, 0, 4242, "app", 0},
        [R_MAPPING] = {HG_ROOT_MAPPING, "0x7f0000000000-0x7f0000100000", NULL, NULL, 0, 0, "",
                       0x7f0000000000},
        [R_DEEP] = {HG_ROOT_GLOBAL, "libapp.so+0x4020", "/opt/app/lib/libapp.so", NULL, 0, 0, "",
                    0x7ffff7fc4020},
        [R_EMPTY] = {HG_ROOT_GLOBAL, "g_empty", "/opt/app/bin/app", "/src/app/list.c", 9, 0, "",
                     0x555555558020},
    };
    for (size_t r = 0; r < NROOTS; r++) {
        hg_root *o = &h->roots[r];
        o->kind = roots[r].kind;
        o->name = dup(roots[r].name);
        o->module = dup(roots[r].module);
        o->file = dup(r == R_TRACKER ? decl_file : roots[r].file);
        o->line = roots[r].line;
        o->thread = roots[r].thread;
        o->thread_name = dup(roots[r].thread_name);
        o->address = roots[r].address;
        o->retained_objects = h->retained_objects[n + r];
        o->retained_bytes = h->retained_bytes[n + r];
        /* what it reaches: the tracker also reaches what several roots
         * hold; g_deep's was not computed */
        o->reachable_objects = o->retained_objects;
        o->reachable_bytes = o->retained_bytes;
        if (r == R_TRACKER) {
            o->reachable_objects += h->retained_objects[super];
            o->reachable_bytes += h->retained_bytes[super];
        }
        if (r == R_DEEP)
            o->reachable_objects = o->reachable_bytes = HG_UNKNOWN;
    }
    /* Ranked: most retained bytes first, those retaining nothing left out. */
    h->nranked = 0;
    for (size_t r = 0; r < NROOTS; r++) {
        if (!h->roots[r].retained_objects)
            continue;
        size_t j = h->nranked++;
        while (j > 0 && h->roots[h->by_retained[j - 1]].retained_bytes < h->roots[r].retained_bytes) {
            h->by_retained[j] = h->by_retained[j - 1];
            j--;
        }
        h->by_retained[j] = r;
    }

    hg_leak_totals *lk = &h->leaks;
    for (size_t i = 0; i < n; i++) {
        if (h->cls[i] == HG_OBJECT_DIRECT) {
            lk->direct_objects++;
            lk->direct_bytes += h->size[i];
        } else if (h->cls[i] == HG_OBJECT_INDIRECT) {
            lk->indirect_objects++;
            lk->indirect_bytes += h->size[i];
        } else if (h->cls[i] == HG_OBJECT_POSSIBLY) {
            lk->possibly_objects++;
            lk->possibly_bytes += h->size[i];
        }
    }
    lk->several_objects = h->retained_objects[super];
    lk->several_bytes = h->retained_bytes[super];

    /* Groups, most bytes first: direct 40 (80 bytes), indirect 24 (72);
     * examples the first objects of each, their bytes "leak N" and zeros. */
    h->groups = calloc(2, sizeof *h->groups);
    if (!h->groups) {
        hg_snapshot_free(s);
        return NULL;
    }
    h->ngroups = 2;
    for (int g = 0; g < 2; g++) {
        hg_leak_group *gr = &h->groups[g];
        gr->cls = g == 0 ? HG_OBJECT_DIRECT : HG_OBJECT_INDIRECT;
        for (size_t i = 0; i < n; i++) {
            if (h->cls[i] != gr->cls)
                continue;
            gr->size = h->size[i];
            gr->objects++;
            gr->bytes += h->size[i];
            if (gr->nexamples < HG_LEAK_EXAMPLES) {
                size_t e = gr->nexamples++;
                gr->examples[e].address = h->address[i];
                gr->examples[e].len = g == 0 ? HG_LEAK_EXAMPLE_BYTES : 24;
                snprintf((char *)gr->examples[e].bytes, HG_LEAK_EXAMPLE_BYTES, "leak %zu\n", i);
            }
        }
    }

    /* The buckets: every object by arena, state and chunk size; idle
     * memory besides. */
    for (size_t i = 0; i < n; i++) {
        int mm = h->arena[i] < 0;
        uint64_t chunk = mm ? h->size[i] + 16 : h->size[i] + 8;
        if (bucket(s, mm ? -1 : h->arena[i], mm ? HG_STATE_MMAPPED : HG_STATE_INUSE, chunk, 1,
                   h->size[i]))
            abort();
    }
    if (bucket(s, 0, HG_STATE_TCACHE, 32, 3, 0) || bucket(s, 0, HG_STATE_BIN, 1024, 1, 0) ||
        bucket(s, 1, HG_STATE_BIN, 2048, 2, 0) || bucket(s, 0, HG_STATE_TOP, 132000, 1, 0))
        abort();
    hg_snapshot_sort_buckets(s);
    s->narenas = 2;
    s->arenas = calloc(2, sizeof *s->arenas);
    if (!s->arenas)
        abort();
    s->arenas[0] = (hg_arena_info){.index = 0, .address = 0x7ffff7f9ac80ull, .heaps = 1};
    s->arenas[1] = (hg_arena_info){.index = 1, .address = 0x7fffe8000030ull, .heaps = 1};
    return s;
}

void synthetic_model_json(const hg_snapshot *s, FILE *f)
{
    const struct hg_holders *h = s->holders;
    size_t n = h->nobjects, super = n + h->nroots;
    fprintf(f, "{\"objects\": [");
    for (size_t i = 0; i < n; i++) {
        char holder[32];
        uint32_t d = h->idom[i];
        if (d == HG_HOLDERS_NONE)
            snprintf(holder, sizeof holder, "\"leaked\"");
        else if (d == super)
            snprintf(holder, sizeof holder, "\"several\"");
        else if (d >= n)
            snprintf(holder, sizeof holder, "\"root:%zu\"", (size_t)(d - n));
        else
            snprintf(holder, sizeof holder, "%u", d);
        fprintf(f, "%s\n [%" PRIu64 ", %" PRIu64 ", \"%s\", %s, %d]", i ? "," : "",
                h->address[i], h->size[i], hg_object_class_name(h->cls[i]), holder, h->arena[i]);
    }
    fprintf(f, "],\n\"roots\": [");
    for (size_t r = 0; r < h->nroots; r++) {
        const hg_root *o = &h->roots[r];
        fprintf(f, "%s\n {\"kind\": \"%s\", \"name\": \"%s\", \"module\": %s%s%s, \"file\": %s%s%s, "
                "\"line\": %d, \"thread\": %d, \"reachable_objects\": %" PRIu64
                ", \"reachable_bytes\": %" PRIu64 "}",
                r ? "," : "", hg_root_kind_name(o->kind), o->name, o->module ? "\"" : "",
                o->module ? o->module : "null", o->module ? "\"" : "", o->file ? "\"" : "",
                o->file ? o->file : "null", o->file ? "\"" : "", o->line, o->thread,
                o->reachable_objects, o->reachable_bytes);
    }
    fprintf(f, "],\n\"timing\": {\"stopped_ns\": %" PRIu64 ", \"total_ns\": %" PRIu64 "}}\n",
            s->timing.stopped_ns, s->timing.total_ns);
}

void synthetic_drop_holders(hg_snapshot *s)
{
    hg_holders_free(s->holders);
    s->holders = NULL;
}
