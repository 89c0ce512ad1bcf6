/*
 * heap_pprof.c -- a snapshot as a gzipped pprof profile (profile.proto).
 *
 * The profile has four sample types, like a Go heap profile:
 *   inuse_objects/count, inuse_space/bytes, free_objects/count, free_space/bytes
 * Live chunks (in use or mmapped) count as (objects, usable bytes, 0, 0);
 * idle chunks and allocator overhead as (0, 0, chunks, chunk bytes).
 * Samples carry the labels bytes (numeric, the exact object size), arena
 * and state, so -tagfocus / -tagshow work.  The default sample type is
 * inuse_space, so that a plain `go tool pprof -top` ranks what the program
 * holds.  A snapshot has no allocation stacks; the stacks are one of two
 * views.
 *
 * The size-class view (a snapshot without holders, or
 * hg_write_pprof_by_size): one sample per histogram bucket (arena, state,
 * chunk size), root to leaf
 *     "arena main" | "arena 1 0x7f..." | "mmapped chunks"
 *       -> "state inuse" -> "size 48" | "size 4-6 KiB"
 * The leaf is the chunk's size class (size_class below).  A snapshot taken
 * with types splits each live sample by type, in either view: labels type
 * (the class) and type_source (vtable, dwarf; "size" on the untyped), and
 * a typed sample's leaf frame is its type ("Circle", "struct conn",
 * "char[]"), below its size class, so that `go tool pprof -top` ranks the
 * types by flat bytes and the frames above still say size and holders;
 * an untyped sample's leaf stays its size class.
 *
 * The holders view (a snapshot taken with holders): each in-use object's
 * stack is its path in the dominator tree, root to leaf
 *     "g_tracker" -> "size 4-6 KiB" -> "size 48 (chain)" -> "size 32"
 * the root frame outermost (so its cum is what the root retains), one
 * frame per holding object, the object's own size class as the leaf.
 * Outermost frames that are no root: "(several roots)" (objects no single
 * root holds, and what they hold), "(leaked)" -> "direct leak" |
 * "indirect leak", and "(free)" above the size-class view of idle memory.
 * Holders view samples also carry the label class (reachable, possibly,
 * direct, indirect).  See holders_view() for chains and depth.
 *
 * Each distinct frame name is one Function and one Location (no mapping,
 * address 0); a root's frame is a Function with the root's file and line
 * (start_line) and a Location at that line, so `-list g_tracker` shows the
 * declaration.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/array.h"
#include "lib/error.h"
#include "lib/hashmap.h"
#include "lib/snapshot.h"
#include "writers/pprof_builder.h"

/* ---------------------------------------------------------------- helpers */

static const hg_arena_info *find_arena(const hg_snapshot *s, int index)
{
    size_t n = hg_snapshot_arena_count(s);
    for (size_t i = 0; i < n; i++) {
        const hg_arena_info *a = hg_snapshot_arena(s, i);
        if (a && a->index == index)
            return a;
    }
    return NULL;
}

static void arena_label(int arena, char *buf, size_t len)
{
    if (arena < 0)
        snprintf(buf, len, "mmap");
    else if (arena == 0)
        snprintf(buf, len, "main");
    else
        snprintf(buf, len, "arena%d", arena);
}

static void arena_frame(const hg_snapshot *s, int arena, char *buf, size_t len)
{
    const hg_arena_info *a;
    if (arena < 0)
        snprintf(buf, len, "mmapped chunks");
    else if (arena == 0)
        snprintf(buf, len, "arena main");
    else if ((a = find_arena(s, arena)) != NULL)
        snprintf(buf, len, "arena %d 0x%" PRIx64, arena, a->address);
    else
        snprintf(buf, len, "arena %d", arena);
}

/* "1", "1.5", "768" with its unit: bytes, a power of two or one and a
 * half times one, in the largest binary unit it reaches. */
static int format_bound(char *buf, size_t len, uint64_t bytes, const char **unit)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    uint64_t scale = 1024;
    while (u < 5 && bytes / 1024 >= scale) {
        scale *= 1024;
        u++;
    }
    *unit = units[u];
    uint64_t whole = bytes / scale;
    return bytes % scale ? snprintf(buf, len, "%" PRIu64 ".5", whole)
                         : snprintf(buf, len, "%" PRIu64, whole);
}

/*
 * The leaf frame of a chunk: its size class.  Below 1 KiB every chunk size
 * (a multiple of 16: one tcache bin, one small bin) is its own class,
 * "size 48".  From 1 KiB on there are two classes per power of two, "size
 * 1-1.5 KiB" (1024 up to 1535 bytes), "size 1.5-2 KiB", "size 2-3 KiB" and
 * so on.  The exact object size is still in each sample's bytes label.
 *
 * Why classes: go tool pprof leaves out every node under 0.5% of the total
 * (-nodefraction), and a leaf per exact size made a plain -top of a heap
 * spread over a few hundred sizes show nothing but the arena and state
 * frames, "accounting for 0, 0%".  There are at most 63 + 2 x 50 + 1 = 164
 * classes, so the largest holds at least 0.6% of any total and -top always
 * shows it.
 */
static void size_class(uint64_t chunk_size, char *buf, size_t len)
{
    if (chunk_size < 1024) {
        snprintf(buf, len, "size %" PRIu64, chunk_size);
        return;
    }
    if (chunk_size >= (uint64_t)1 << 60) { /* no heap is this big; a corrupt one may say so */
        snprintf(buf, len, "size 1 EiB or more");
        return;
    }
    uint64_t p2 = 1024;
    while (p2 <= chunk_size / 2)
        p2 *= 2;
    uint64_t lo = chunk_size < p2 + p2 / 2 ? p2 : p2 + p2 / 2;
    uint64_t hi = lo == p2 ? p2 + p2 / 2 : 2 * p2;
    char a[32], b[32];
    const char *ua, *ub;
    format_bound(a, sizeof a, lo, &ua);
    format_bound(b, sizeof b, hi, &ub);
    if (!strcmp(ua, ub))
        snprintf(buf, len, "size %s-%s %s", a, b, ub);
    else
        snprintf(buf, len, "size %s %s-%s %s", a, ua, b, ub);
}

static int is_live(int state)
{
    return state == HG_STATE_INUSE || state == HG_STATE_MMAPPED;
}

/* The first of the types' cells of bucket bk (cells are sorted by arena,
 * state, chunk size, type), or NULL. */
static const struct hg_type_cell *first_cell(const struct hg_types *ty, const hg_bucket *bk)
{
    size_t lo = 0, hi = ty->ncells;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct hg_type_cell *c = &ty->cells[mid];
        int before = c->arena != bk->arena ? c->arena < bk->arena
                     : c->state != bk->state ? c->state < bk->state
                                             : c->chunk_size < bk->chunk_size;
        if (before)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ty->ncells ? &ty->cells[lo] : NULL;
}

/* ------------------------------------------------------------------ writer */

enum { V_INUSE_OBJECTS, V_INUSE_SPACE, V_FREE_OBJECTS, V_FREE_SPACE, NVALUES };
enum { FRAMES_PER_SAMPLE = 3, LABELS_PER_SAMPLE = 4, TYPE_LABELS = 2 };

/* The label keys, made once per profile (type keys only with types). */
struct keys {
    int64_t bytes, arena, state, cls, type, source;
};

/* The location of a synthetic frame: a function of that name alone. */
static uint64_t frame(struct hg_pprof *b, const char *name)
{
    return hg_pprof_function_location(b, hg_pprof_function(b, name, NULL, 0));
}

/* The size-class view's samples: one per bucket; only the idle ones (and
 * then under one more frame, outer) when outer is given. */
static void bucket_samples(struct hg_pprof *b, const hg_snapshot *s, const struct keys *k,
                           const char *outer)
{
    for (size_t i = 0, nb = hg_snapshot_bucket_count(s); i < nb; i++) {
        const hg_bucket *bk = hg_snapshot_bucket(s, i);
        if (outer && is_live(bk->state))
            continue;
        char name[96];
        uint64_t ids[FRAMES_PER_SAMPLE + 2]; /* [0] the type's, when typed */
        int64_t v[NVALUES] = {0};

        /* Leaf first: size, state, arena; ids[0] is for a type's frame */
        uint64_t *sz = ids + 1;
        size_class(bk->chunk_size, name, sizeof name);
        sz[0] = frame(b, name);
        snprintf(name, sizeof name, "state %s", hg_state_name(bk->state));
        sz[1] = frame(b, name);
        arena_frame(s, bk->arena, name, sizeof name);
        sz[2] = frame(b, name);
        if (outer)
            sz[3] = frame(b, outer);

        uint64_t object_bytes;
        if (is_live(bk->state)) {
            v[V_INUSE_OBJECTS] = hg_pprof_i64(bk->count);
            v[V_INUSE_SPACE] = hg_pprof_i64(bk->usable_bytes);
            object_bytes = bk->count ? bk->usable_bytes / bk->count : 0;
        } else {
            v[V_FREE_OBJECTS] = hg_pprof_i64(bk->count);
            v[V_FREE_SPACE] = hg_pprof_i64(bk->bytes);
            object_bytes = bk->chunk_size;
        }

        struct hg_pprof_label lb[LABELS_PER_SAMPLE + TYPE_LABELS] = {
            {.key = k->bytes, .num = hg_pprof_i64(object_bytes)}};
        arena_label(bk->arena, name, sizeof name);
        lb[1] = (struct hg_pprof_label){.key = k->arena, .str = hg_pprof_string(b, name)};
        lb[2] = (struct hg_pprof_label){.key = k->state,
                                        .str = hg_pprof_string(b, hg_state_name(bk->state))};
        size_t nf = FRAMES_PER_SAMPLE + (outer != NULL);
        if (!s->types || !is_live(bk->state)) {
            hg_pprof_sample(b, sz, nf, v, lb, 3);
            continue;
        }
        /* With types, a live bucket is one sample per type found in it
         * (labels type and type_source) and one for the rest, untyped
         * (type_source "size"). */
        const struct hg_types *ty = s->types;
        const struct hg_type_cell *c = first_cell(ty, bk);
        uint64_t count = bk->count, usable = bk->usable_bytes;
        for (; c && c < ty->cells + ty->ncells && c->arena == bk->arena &&
               c->state == bk->state && c->chunk_size == bk->chunk_size; c++) {
            const hg_type *t = &ty->types[c->type];
            int64_t tv[NVALUES] = {0};
            tv[V_INUSE_OBJECTS] = hg_pprof_i64(c->count);
            tv[V_INUSE_SPACE] = hg_pprof_i64(c->usable_bytes);
            lb[0].num = hg_pprof_i64(c->count ? c->usable_bytes / c->count : 0);
            lb[3] = (struct hg_pprof_label){.key = k->type, .str = hg_pprof_string(b, t->name)};
            lb[4] = (struct hg_pprof_label){
                .key = k->source, .str = hg_pprof_string(b, hg_type_how_name(t->how))};
            ids[0] = frame(b, t->name);
            hg_pprof_sample(b, ids, nf + 1, tv, lb, 3 + TYPE_LABELS);
            count -= c->count < count ? c->count : count;
            usable -= c->usable_bytes < usable ? c->usable_bytes : usable;
        }
        if (count) {
            v[V_INUSE_OBJECTS] = hg_pprof_i64(count);
            v[V_INUSE_SPACE] = hg_pprof_i64(usable);
            lb[0].num = hg_pprof_i64(usable / count);
            lb[3] = (struct hg_pprof_label){
                .key = k->source, .str = hg_pprof_string(b, hg_type_how_name(HG_TYPE_SIZE))};
            hg_pprof_sample(b, sz, nf, v, lb, 4);
        }
    }
}

/* ------------------------------------------------------------ holders view */

/*
 * Stacks are kept as a trie: stack id 0 is the empty stack, and each other
 * id is (the stack it extends, one more frame inside it), made once.  An
 * object's stack is its holder's stack and its own frame, so the dominator
 * tree is walked once, top down, each holder's stack made once and shared
 * by everything it holds: millions of objects make as many stacks as the
 * tree has distinct paths of size classes, and as many samples as there
 * are distinct (stack, size, class, arena).
 */
struct trie {
    hg_array(uint32_t) parent;
    hg_array(uint32_t) loc;      /* the frame's location id */
    hg_array(uint8_t) depth;     /* frames */
    hg_u64map index;             /* parent << 32 | loc -> id */
    int failed;
};

static uint32_t trie_push(struct trie *t, uint32_t parent, uint64_t loc)
{
    uint64_t key = (uint64_t)parent << 32 | (uint32_t)loc;
    const uint64_t *at = hg_u64map_get(&t->index, key);
    if (at)
        return (uint32_t)*at;
    uint32_t id = (uint32_t)t->parent.size;
    uint32_t *p = hg_array_push(t->parent);
    uint32_t *l = hg_array_push(t->loc);
    uint8_t *d = hg_array_push(t->depth);
    if (!p || !l || !d || id == UINT32_MAX || hg_u64map_put(&t->index, key, id) != 0) {
        t->failed = 1;
        return 0;
    }
    *p = parent;
    *l = (uint32_t)loc;
    *d = (uint8_t)(t->depth.ptr[parent] + 1);
    return id;
}

/*
 * No stack exceeds HG_PPROF_MAX_FRAMES: a path deeper than that keeps its
 * HG_PPROF_MAX_FRAMES - 2 outer frames (the root first: its cum stays what
 * it retains), then one frame "(deeper holders)", then the object's own
 * frame (the leaf stays the size class).  prefix() is the stack an
 * object's frame is pushed onto below a holder whose stack is id.
 */
#define DEEPER "(deeper holders)"
static uint32_t prefix(struct trie *t, uint32_t id, uint64_t deeper)
{
    if (t->depth.ptr[id] <= HG_PPROF_MAX_FRAMES - 2)
        return id;
    uint32_t up = t->parent.ptr[id];
    if (t->loc.ptr[up] == (uint32_t)deeper)
        return up;
    return trie_push(t, up, deeper);
}

/* A root's frame: the Function has the root's file and line, so that
 * -list shows a global's declaration; the Location is at that line. */
static uint64_t root_location(struct hg_pprof *b, const hg_root *r)
{
    char name[512], who[160] = "";
    const char *n = r->name && r->name[0] ? r->name : "?";
    if (r->kind == HG_ROOT_STACK || r->kind == HG_ROOT_REGISTERS || r->kind == HG_ROOT_TLS) {
        if (r->thread_name && r->thread_name[0])
            snprintf(who, sizeof who, "thread %d \"%.64s\"", r->thread, r->thread_name);
        else
            snprintf(who, sizeof who, "thread %d", r->thread);
    }
    switch (r->kind) {
    case HG_ROOT_STACK: snprintf(name, sizeof name, "%.300s (stack of %s)", n, who); break;
    case HG_ROOT_REGISTERS: snprintf(name, sizeof name, "registers of %s", who); break;
    case HG_ROOT_TLS: snprintf(name, sizeof name, "%.300s (TLS of %s)", n, who); break;
    case HG_ROOT_MAPPING: snprintf(name, sizeof name, "mapping %.300s", n); break;
    default: snprintf(name, sizeof name, "%.400s", n); break;
    }
    /* A stack root's line is a line inside the function (the call), not
     * where it starts. */
    int64_t start = r->kind == HG_ROOT_STACK ? 0 : r->line;
    uint64_t fn = hg_pprof_function(b, name, r->file, start);
    struct hg_pprof_line line = {fn, r->line > 0 ? r->line : 0};
    return hg_pprof_location(b, 0, 0, &line, 1);
}

/* The chunk size of an in-use object of usable bytes: usable + 8 for a
 * heap chunk, rounded up to 16 (an mmapped chunk has usable = size - 16,
 * or size - 8 from glibc 2.43 on). */
static uint64_t chunk_of(uint64_t usable) { return (usable + 8 + 15) & ~(uint64_t)15; }

/* An integer per size class (size_class()): equal iff the names are. */
static uint64_t class_id(uint64_t usable)
{
    uint64_t c = chunk_of(usable);
    if (c < 1024)
        return c;
    if (c >= (uint64_t)1 << 60)
        return 1;
    uint64_t p2 = 1024;
    while (p2 <= c / 2)
        p2 *= 2;
    return p2 | (c >= p2 + p2 / 2); /* p2 >= 1024: the low bit is free */
}

/* A sample being summed: objects of one stack, class, size, arena and
 * type. */
struct agg {
    uint64_t size, objects, bytes;
    uint32_t sid, next;          /* next: another with the same sid and class */
    int32_t type;                /* index in s->types, -1 untyped or no types */
    int16_t arena;
    uint8_t cls;
};

/* With types: each typed chunk's usable start -> its type + 1, so that an
 * object (the holders number them in address order, the chunks per heap)
 * finds its type.  Untyped chunks are not in it. */
static int types_by_address(const hg_snapshot *s, hg_u64map *out)
{
    const struct hg_types *ty = s->types;
    for (size_t i = 0; ty && i < s->nchunks; i++) {
        int32_t k = ty->chunk_type[i];
        if (k >= 0 && ty->types[k].how != HG_TYPE_SIZE &&
            hg_u64map_put(out, s->chunks[i].address + 16, (uint64_t)k + 1) != 0)
            return -1;
    }
    return 0;
}

#define IN_PROGRESS 0x80000000u  /* head[]: being resolved */
#define DONE 0x40000000u         /* head[] of a head: its stack is in sid[] */
#define MASK (~(IN_PROGRESS | DONE))
#define UNSET UINT32_MAX

static int holders_view(struct hg_pprof *b, const hg_snapshot *s, const struct keys *k)
{
    const struct hg_holders *h = s->holders;
    size_t n = h->nobjects, super = h->nobjects + h->nroots;
    if (n >= DONE)
        return hg_fail(HG_EUSAGE, "too many objects for the heap profile's holders view");
    uint32_t *head = malloc((n ? n : 1) * sizeof *head);
    uint32_t *sid = calloc(n ? n : 1, sizeof *sid);  /* group size, then stack */
    uint32_t *work = malloc((n ? n : 1) * sizeof *work);
    uint32_t *root_sid = calloc(h->nroots ? h->nroots : 1, sizeof *root_sid);
    struct trie t = {0};
    hg_array(struct agg) aggs = HG_ARRAY_INIT;
    hg_u64map first = {0};  /* sid << 2 | cls -> 1 + index in aggs */
    hg_u64map typed = {0};
    int rc = 0;
    if (!head || !sid || !work || !root_sid || types_by_address(s, &typed) != 0)
        goto oom;
    memset(head, 0xff, (n ? n : 1) * sizeof *head);
    uint32_t *zero = hg_array_push(t.parent);
    uint32_t *zl = hg_array_push(t.loc);
    uint8_t *zd = hg_array_push(t.depth);
    if (!zero || !zl || !zd)
        goto oom;
    *zero = 0, *zl = 0, *zd = 0;

    /*
     * 1. Chains.  An object whose holder is an object of the same size
     * class continues its holder's run (a linked list, a tree of nodes of
     * one size); the run's first object is its head, and the run is one
     * frame, "size 48 (chain)".  head[] is resolved up the idom chain,
     * each object once; a cycle in idom (a corrupt model) ends the run.
     */
    for (size_t i = 0; i < n; i++) {
        if (head[i] != UNSET)
            continue;
        size_t sp = 0;
        uint32_t x = (uint32_t)i, hd;
        for (;;) {
            work[sp++] = x;
            head[x] = IN_PROGRESS;
            uint32_t p = h->idom[x];
            if (p < n && p != x && class_id(h->size[p]) == class_id(h->size[x])) {
                if (head[p] == IN_PROGRESS) { /* a cycle */
                    hd = x;
                    break;
                }
                if (head[p] != UNSET) {
                    hd = head[p];
                    break;
                }
                x = p;
                continue;
            }
            hd = x;
            break;
        }
        while (sp)
            head[work[--sp]] = hd;
    }
    for (size_t i = 0; i < n; i++)
        sid[head[i]]++;

    /* Fixed frames. */
    uint64_t loc_deeper = frame(b, DEEPER);
    uint32_t several = trie_push(&t, 0, frame(b, "(several roots)"));
    uint32_t leaked = trie_push(&t, 0, frame(b, "(leaked)"));
    uint32_t leak_direct = trie_push(&t, leaked, frame(b, "direct leak"));
    uint32_t leak_indirect = trie_push(&t, leaked, frame(b, "indirect leak"));
    uint32_t unknown = trie_push(&t, 0, frame(b, "(holder unknown)"));
    for (size_t r = 0; r < h->nroots; r++)
        root_sid[r] = UNSET;

    /*
     * 2. Stacks, for heads only (the rest of a run shares its head's), top
     * down: a head's stack needs its holder's, so the chain of holders
     * whose stack is not known yet is collected first, then made outermost
     * first.
     */
    for (size_t i = 0; i < n; i++) {
        uint32_t x = head[i] & MASK;
        size_t sp = 0;
        while (!(head[x] & (DONE | IN_PROGRESS))) {
            head[x] |= IN_PROGRESS;
            work[sp++] = x;
            uint32_t p = h->idom[x];
            if (p >= n || p == x)
                break;
            x = head[p] & MASK;
        }
        while (sp) {
            x = work[--sp];
            uint32_t p = h->idom[x], base;
            if (p == HG_HOLDERS_NONE)
                base = h->cls[x] == HG_OBJECT_DIRECT ? leak_direct : leak_indirect;
            else if (p == super)
                base = several;
            else if (p >= n && p < super) {
                size_t r = p - n;
                if (root_sid[r] == UNSET)
                    root_sid[r] = trie_push(&t, 0, root_location(b, &h->roots[r]));
                base = root_sid[r];
            } else if (p < n && p != x && (head[head[p] & MASK] & DONE))
                base = prefix(&t, sid[head[p] & MASK], loc_deeper);
            else /* a cycle of holders: a corrupt model */
                base = unknown;
            char name[128];
            size_class(chunk_of(h->size[x]), name, sizeof name);
            /* A run's frame does not carry its count (inuse_objects has
             * it): a list that grows between two snapshots must stay one
             * frame for -base to show it growing. */
            if (sid[x] > 1) {
                size_t len = strlen(name);
                snprintf(name + len, sizeof name - len, " (chain)");
            }
            sid[x] = trie_push(&t, base, frame(b, name));
            head[x] = (head[x] & MASK) | DONE;
        }
        if (t.failed)
            goto oom;
    }

    /* 3. Samples: objects summed by (stack, class, size, arena). */
    for (size_t i = 0; i < n; i++) {
        uint32_t st = sid[head[i] & MASK];
        uint8_t cls = h->cls[i] & 3;
        int16_t arena = h->arena ? h->arena[i] : INT16_MIN;
        const uint64_t *tp = typed.size ? hg_u64map_get(&typed, h->address[i]) : NULL;
        int32_t type = tp ? (int32_t)(*tp - 1) : -1;
        uint64_t key = (uint64_t)st << 2 | cls;
        const uint64_t *at = hg_u64map_get(&first, key);
        uint32_t a = at ? (uint32_t)(*at - 1) : UNSET;
        while (a != UNSET && (aggs.ptr[a].size != h->size[i] || aggs.ptr[a].arena != arena ||
                              aggs.ptr[a].type != type))
            a = aggs.ptr[a].next;
        if (a == UNSET) {
            struct agg *g = hg_array_push(aggs);
            if (!g)
                goto oom;
            *g = (struct agg){.size = h->size[i], .sid = st, .arena = arena, .cls = cls,
                              .type = type, .next = at ? (uint32_t)(*at - 1) : UNSET};
            a = (uint32_t)(aggs.size - 1);
            if (hg_u64map_put(&first, key, (uint64_t)a + 1) != 0)
                goto oom;
        }
        aggs.ptr[a].objects++;
        aggs.ptr[a].bytes += h->size[i];
    }

    uint64_t frames[HG_PPROF_MAX_FRAMES + 1];
    for (size_t i = 0; i < aggs.size; i++) {
        const struct agg *g = &aggs.ptr[i];
        size_t nf = 0;
        /* a typed object's leaf is its type, below its own size class */
        if (s->types && g->type >= 0)
            frames[nf++] = frame(b, s->types->types[g->type].name);
        for (uint32_t x = g->sid; x && nf < HG_PPROF_MAX_FRAMES + 1; x = t.parent.ptr[x])
            frames[nf++] = t.loc.ptr[x];
        int64_t v[NVALUES] = {hg_pprof_i64(g->objects), hg_pprof_i64(g->bytes), 0, 0};
        struct hg_pprof_label lb[LABELS_PER_SAMPLE + TYPE_LABELS];
        size_t nl = 0;
        char name[32];
        lb[nl++] = (struct hg_pprof_label){.key = k->bytes, .num = hg_pprof_i64(g->size)};
        int mmapped;
        if (g->arena != INT16_MIN) {
            arena_label(g->arena, name, sizeof name);
            lb[nl++] = (struct hg_pprof_label){.key = k->arena, .str = hg_pprof_string(b, name)};
            mmapped = g->arena < 0;
        } else {
            /* Unknown arena: an mmapped chunk is a whole number of pages
             * less its 16-byte header (glibc before 2.43), so its usable
             * size is a multiple of 16, a heap chunk's never is. */
            mmapped = g->size % 16 == 0 && g->size >= 4096 - 16;
        }
        lb[nl++] = (struct hg_pprof_label){
            .key = k->state,
            .str = hg_pprof_string(b, hg_state_name(mmapped ? HG_STATE_MMAPPED : HG_STATE_INUSE))};
        lb[nl++] = (struct hg_pprof_label){.key = k->cls,
                                           .str = hg_pprof_string(b, hg_object_class_name(g->cls))};
        if (s->types && g->type >= 0) {
            const hg_type *t = &s->types->types[g->type];
            lb[nl++] = (struct hg_pprof_label){.key = k->type, .str = hg_pprof_string(b, t->name)};
            lb[nl++] = (struct hg_pprof_label){
                .key = k->source, .str = hg_pprof_string(b, hg_type_how_name(t->how))};
        } else if (s->types) {
            lb[nl++] = (struct hg_pprof_label){
                .key = k->source, .str = hg_pprof_string(b, hg_type_how_name(HG_TYPE_SIZE))};
        }
        hg_pprof_sample(b, frames, nf, v, lb, nl);
    }
    goto done;
oom:
    rc = hg_fail(HG_ENOMEM, "out of memory");
done:
    free(head);
    free(sid);
    free(work);
    free(root_sid);
    hg_array_clear(t.parent);
    hg_array_clear(t.loc);
    hg_array_clear(t.depth);
    hg_u64map_free(&t.index);
    hg_array_clear(aggs);
    hg_u64map_free(&first);
    hg_u64map_free(&typed);
    return rc;
}

/* ------------------------------------------------------------------ write */

static int write_profile(const hg_snapshot *s, FILE *out, int holders)
{
    if (!s || !out)
        return hg_fail(HG_EUSAGE, "hg_write_pprof: no snapshot or stream");
    struct hg_pprof *b = hg_pprof_new();
    if (!b)
        return hg_fail(HG_ENOMEM, "out of memory");

    /* Sample types, in the order of the values.  The strings go into the
     * table in the order they are first used here. */
    hg_pprof_sample_type(b, "inuse_objects", "count");
    hg_pprof_sample_type(b, "inuse_space", "bytes");
    hg_pprof_sample_type(b, "free_objects", "count");
    hg_pprof_sample_type(b, "free_space", "bytes");
    hg_pprof_period(b, "space", "bytes", 1); /* nothing is sampled */
    struct keys k;
    k.bytes = hg_pprof_string(b, "bytes");
    k.arena = hg_pprof_string(b, "arena");
    k.state = hg_pprof_string(b, "state");
    k.cls = holders ? hg_pprof_string(b, "class") : 0;
    k.type = s->types ? hg_pprof_string(b, "type") : 0;
    k.source = s->types ? hg_pprof_string(b, "type_source") : 0;
    hg_pprof_default_sample_type(b, "inuse_space");

    int rc = 0;
    if (holders) {
        rc = holders_view(b, s, &k);
        bucket_samples(b, s, &k, "(free)");
    } else {
        bucket_samples(b, s, &k, NULL);
    }

    /* Executable file mappings. */
    for (size_t i = 0, n = hg_snapshot_mapping_count(s); i < n; i++) {
        const hg_mapping *m = hg_snapshot_mapping(s, i);
        if (!m || !m->path || !m->path[0] || m->perms[2] != 'x')
            continue;
        struct hg_pprof_mapping pm = {m->start, m->end, m->offset, m->path, m->build_id, 0};
        hg_pprof_mapping(b, &pm);
    }

    /* Comments. */
    char comment[4096 + 128];
    const char *exe = hg_snapshot_exe(s);
    const char *glibc = hg_snapshot_glibc_version(s);
    const char *locate = hg_snapshot_locate(s);
    snprintf(comment, sizeof comment, "heapgrab %s heap snapshot of pid %d (%s)",
             HEAPGRAB_VERSION, hg_snapshot_pid(s), exe && exe[0] ? exe : "?");
    hg_pprof_comment(b, comment);
    snprintf(comment, sizeof comment, "glibc %s, located by %s",
             glibc && glibc[0] ? glibc : "?", locate && locate[0] ? locate : "?");
    hg_pprof_comment(b, comment);
    if (holders)
        hg_pprof_comment(b, "stacks: who holds each object (root outermost); "
                            "heapgrab --by-size for the size classes");

    hg_pprof_time(b, hg_pprof_i64(hg_snapshot_time_ns(s)), 0);
    if (rc == 0)
        rc = hg_pprof_write(b, out);
    hg_pprof_free(b);
    return rc;
}

int hg_write_pprof(const hg_snapshot *s, FILE *out)
{
    return write_profile(s, out, s && s->holders != NULL);
}

int hg_write_pprof_by_size(const hg_snapshot *s, FILE *out) { return write_profile(s, out, 0); }
