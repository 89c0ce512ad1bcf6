/*
 * types.c -- what the memory is: each in-use chunk typed by the vtable its
 * first word points at.
 *
 * A C++ object of a dynamic class holds, at offset 0, a pointer to the
 * address point of its complete class's primary vtable (Itanium C++ ABI,
 * 2.5): the word before it is the typeinfo pointer, the one before that
 * the offset to the top of the object, 0 for a primary vtable.  The
 * typeinfo's second word points at the class's mangled name (the `_ZTS`
 * string), which stays in .rodata when a module is stripped; its first
 * word points into the vtable of one of libstdc++'s three class typeinfo
 * classes, itself described the same way.  A chunk whose first word is such
 * an address point is an object of that class, and of its most derived
 * class: a base's vtable at the start of a chunk would have a non-zero
 * offset to top.
 *
 * Evidence, per distinct word (cached; the target's vtables do not change,
 * so they are read after the stop, with the target running):
 *   - the word is 8-aligned and points into a file-backed mapping;
 *   - offset to top is 0;
 *   - the typeinfo pointer points into a file mapping; the typeinfo's own
 *     vtable is a class typeinfo's (its typeinfo's name says
 *     __cxxabiv1::__class_type_info, __si_ or __vmi_); its name string is
 *     a mangled type that demangles;
 *   - where a `_ZTV` symbol of some module's symbol table covers the word,
 *     it names the same class (a class built without RTTI has a null
 *     typeinfo pointer: the symbol alone names it then).
 * Per chunk that is one range check of the word, a binary search among the
 * module mappings for words in their span, and a hash lookup.
 *
 * Where the vtable's module has DWARF that describes the class, a chunk
 * whose usable size is below the class's size is left untyped: an object
 * of that class does not fit in it (the first word is then a stale or
 * copied vtable pointer).  Each module's DWARF is read once, for all its
 * classes, never per chunk.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/holders_capture.h"
#include "analysis/objects.h"
#include "analysis/types.h"
#include "stacks/unwind.h"
#include "lib/array.h"
#include "lib/error.h"
#include "lib/hashmap.h"
#include "lib/snapshot.h"
#include "target/symbolize.h"

struct range {
    uint64_t lo, hi;
};

struct ctx {
    hg_target *t;
    struct range *files;   /* file-backed mappings, merged, ascending */
    size_t nfiles;
    uint64_t lo, span;     /* every one lies in [lo, lo + span) */
    hg_symbol *vt;         /* every module's _ZTV symbols, by start */
    size_t nvt;
    hg_u64map word_type;   /* a first word -> its type id + 1, 0 for none */
    hg_u64map abi_vt;      /* a typeinfo's vtable address point -> 1 ok, 2 not */
    hg_u64map by_name;     /* hash of a name -> its id (the next key on a clash) */
    hg_array(char *) names; /* type id -> name */
    hg_array(int) how;      /* type id -> enum hg_type_how */
    hg_array(uint64_t) where; /* type id -> the first word that gave it (a vtable) */
    char *note;             /* what the output should say about DWARF */
};

static int in_files(const struct ctx *c, uint64_t a)
{
    if (a - c->lo >= c->span)
        return 0;
    size_t lo = 0, hi = c->nfiles;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->files[mid].hi <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->nfiles && a >= c->files[lo].lo;
}

/* Exactly len bytes of the target, without touching the error object
 * (what is not readable is merely no evidence). */
static int peek(struct ctx *c, uint64_t addr, void *buf, size_t len)
{
    return c->t->ops->read(c->t, addr, buf, len) == (long)len ? 0 : -1;
}

/* The NUL-terminated string at addr into buf (at most HG_TYPE_NAME_MAX
 * bytes with its NUL): 0, or -1 if unreadable or too long. */
static int peek_string(struct ctx *c, uint64_t addr, char *buf)
{
    size_t have = 0;
    while (have < HG_TYPE_NAME_MAX) {
        /* up to the next 256-byte boundary, so a string that ends just
         * before unreadable memory is still read */
        size_t want = 256 - (size_t)((addr + have) & 255);
        if (want > HG_TYPE_NAME_MAX - have)
            want = HG_TYPE_NAME_MAX - have;
        long got = c->t->ops->read(c->t, addr + have, buf + have, want);
        if (got <= 0)
            return -1;
        char *nul = memchr(buf + have, '\0', (size_t)got);
        if (nul)
            return 0;
        have += (size_t)got;
        if ((size_t)got < want)
            return -1;
    }
    return -1;
}

/* The _ZTV symbol whose bytes hold addr, or NULL. */
static const hg_symbol *vtable_symbol(const struct ctx *c, uint64_t addr)
{
    size_t lo = 0, hi = c->nvt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->vt[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* symbols do not nest; a zero-size one (rare) holds nothing */
    if (lo == 0)
        return NULL;
    const hg_symbol *s = &c->vt[lo - 1];
    return addr - s->start < s->size ? s : NULL;
}

/* The length of the mangled type in a _ZTV symbol's name: what follows
 * "_ZTV", less a version ("_ZTVSo@GLIBCXX_3.4": a vtable copied into a
 * program by a copy relocation keeps its library's version). */
static size_t symbol_len(const hg_symbol *sym)
{
    return strcspn(sym->name + 4, "@");
}

/* tivt is the address point of a class typeinfo's vtable: its own typeinfo
 * names __cxxabiv1::__class_type_info, __si_class_type_info or
 * __vmi_class_type_info. */
static int abi_vtable(struct ctx *c, uint64_t tivt)
{
    const uint64_t *known = hg_u64map_get(&c->abi_vt, tivt);
    if (known)
        return *known == 1;
    static const char *const classes[] = {"N10__cxxabiv117__class_type_infoE",
                                          "N10__cxxabiv120__si_class_type_infoE",
                                          "N10__cxxabiv121__vmi_class_type_infoE"};
    int ok = 0;
    uint64_t tt, name;
    char buf[HG_TYPE_NAME_MAX];
    if (!(tivt & 7) && tivt >= 8 && in_files(c, tivt) && peek(c, tivt - 8, &tt, 8) == 0 &&
        !(tt & 7) && in_files(c, tt) && peek(c, tt + 8, &name, 8) == 0 && in_files(c, name) &&
        peek_string(c, name, buf) == 0)
        for (size_t i = 0; i < sizeof classes / sizeof *classes; i++)
            ok |= strcmp(buf, classes[i]) == 0;
    if (hg_u64map_put(&c->abi_vt, tivt, ok ? 1 : 2) != 0)
        return -1;
    return ok;
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return hg_hash64(h);
}

/* The id of the type named name (which this takes), made once: a class
 * whose vtable is in several modules (a template, an inline key function)
 * is one type.  -1 out of memory. */
static long intern(struct ctx *c, char *name, int how)
{
    uint64_t key = name_hash(name) ^ (uint64_t)how;
    for (const uint64_t *v; (v = hg_u64map_get(&c->by_name, key)) != NULL; key++)
        if (c->how.ptr[*v] == how && strcmp(c->names.ptr[*v], name) == 0) {
            free(name);
            return (long)*v;
        }
    char **slot = hg_array_push(c->names);
    int *h = slot ? hg_array_push(c->how) : NULL;
    if (!h || hg_u64map_put(&c->by_name, key, c->names.size - 1) != 0) {
        if (slot)
            c->names.size--;
        if (h)
            c->how.size--;
        free(name);
        return -1;
    }
    *slot = name;
    *h = how;
    return (long)(c->names.size - 1);
}

/* What the first word w says: a type id, -2 for nothing, -1 out of
 * memory.  Only for w 8-aligned in a file mapping. */
static long classify(struct ctx *c, uint64_t w)
{
    uint64_t head[2]; /* offset to top, typeinfo */
    if (w < 16 || peek(c, w - 16, head, sizeof head) != 0 || head[0] != 0)
        return -2;
    const hg_symbol *sym = vtable_symbol(c, w);
    if (sym && w < sym->start + 16)
        return -2; /* the offset and typeinfo words of a vtable, not its address point */
    const char *mangled;
    char buf[HG_TYPE_NAME_MAX];
    uint64_t ti = head[1];
    if (ti) {
        uint64_t tiw[2]; /* its vtable, its name */
        if ((ti & 7) || !in_files(c, ti) || peek(c, ti, tiw, sizeof tiw) != 0 ||
            !in_files(c, tiw[1]) || peek_string(c, tiw[1], buf) != 0)
            return -2;
        int abi = abi_vtable(c, tiw[0]);
        if (abi <= 0)
            return abi < 0 ? -1 : -2;
        /* a type local to its file has its name marked with a '*' */
        mangled = buf[0] == '*' ? buf + 1 : buf;
        if (sym && (strncmp(sym->name + 4, mangled, symbol_len(sym)) != 0 ||
                    mangled[symbol_len(sym)] != '\0'))
            return -2; /* the symbol and the typeinfo disagree: no guess */
    } else {
        size_t len = sym ? symbol_len(sym) : 0;
        if (!len || len >= sizeof buf)
            return -2;
        memcpy(buf, sym->name + 4, len); /* built without RTTI */
        buf[len] = '\0';
        mangled = buf;
    }
    /* A mangled name is letters, digits and '_' ('.' and '$' in clones and
     * some local names): anything else is no name, and the demangler, run
     * on strings from a target or a core that may be crafted, sees only
     * what could be one. */
    if (!mangled[0] || mangled[strspn(mangled, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                "0123456789_.$")] != '\0')
        return -2;
    char *name = hg_demangle_type(mangled);
    if (!name)
        return -2; /* no type's mangling: not a typeinfo after all */
    return intern(c, name, HG_TYPE_VTABLE);
}

/* File-backed mappings, where vtables and typeinfo live, merged. */
static int file_ranges(struct ctx *c, const hg_snapshot *s)
{
    c->files = calloc(s->nmappings ? s->nmappings : 1, sizeof *c->files);
    if (!c->files)
        return hg_fail(HG_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->nmappings; i++) {
        const hg_mapping *m = &s->mappings[i];
        if (m->path[0] != '/' || m->end <= m->start)
            continue;
        if (c->nfiles && c->files[c->nfiles - 1].hi == m->start)
            c->files[c->nfiles - 1].hi = m->end;
        else
            c->files[c->nfiles++] = (struct range){m->start, m->end};
    }
    if (c->nfiles) {
        c->lo = c->files[0].lo;
        c->span = c->files[c->nfiles - 1].hi - c->lo;
    }
    return 0;
}

static int vtable_symbols(struct ctx *c)
{
    hg_array(hg_symbol) all = HG_ARRAY_INIT;
    for (size_t i = 0, n = hg_module_count(c->t); i < n; i++) {
        hg_symbol *syms;
        size_t ns;
        if (hg_module_symbols(hg_module_get(c->t, i), "_ZTV", &syms, &ns) != 0 ||
            hg_array_reserve(all, all.size + ns) != 0) {
            free(syms);
            hg_array_clear(all);
            return hg_fail(HG_ENOMEM, "out of memory");
        }
        if (ns)
            memcpy(all.ptr + all.size, syms, ns * sizeof *syms);
        all.size += ns;
        free(syms);
    }
    /* modules do not overlap, so merging sorted runs is a sort */
    for (size_t i = 1; i < all.size; i++) {
        hg_symbol x = all.ptr[i];
        size_t j = i;
        if (all.ptr[j - 1].start <= x.start)
            continue;
        while (j > 0 && all.ptr[j - 1].start > x.start) {
            all.ptr[j] = all.ptr[j - 1];
            j--;
        }
        all.ptr[j] = x;
    }
    c->vt = all.ptr;
    c->nvt = all.size;
    return 0;
}

struct by_module {
    hg_module *m;
    size_t id;
};

static int module_order(const void *a, const void *b)
{
    const struct by_module *x = a, *y = b;
    if (x->m != y->m)
        return (uintptr_t)x->m < (uintptr_t)y->m ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* sizes[id]: the DWARF size of each class found, 0 where unknown (its
 * vtable's module has no DWARF, or does not describe it).  Each module's
 * DWARF is read once, for all its classes. */
static int class_sizes(struct ctx *c, uint64_t *sizes)
{
    size_t n = c->names.size, k = 0;
    struct by_module *ids = calloc(n ? n : 1, sizeof *ids);
    const char **names = calloc(n ? n : 1, sizeof *names);
    uint64_t *got = calloc(n ? n : 1, sizeof *got);
    int rc = 0;
    if (!ids || !names || !got) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        hg_module *m = hg_module_at(c->t, c->where.ptr[i]);
        if (m)
            ids[k++] = (struct by_module){m, i};
    }
    qsort(ids, k, sizeof *ids, module_order);
    for (size_t i = 0, j; i < k; i = j) {
        for (j = i; j < k && ids[j].m == ids[i].m; j++)
            names[j - i] = c->names.ptr[ids[j].id];
        int r = hg_module_type_sizes(ids[i].m, names, j - i, got);
        if (r == HG_ENOMEM) {
            rc = r;
            goto out;
        }
        for (size_t x = i; r == 0 && x < j; x++)
            sizes[ids[x].id] = got[x - i];
    }
out:
    free(ids);
    free(names);
    free(got);
    return rc;
}

/* ------------------------------------------------------ DWARF propagation */

/*
 * From every variable whose DWARF type holds pointers (a module's globals
 * and function statics, each thread's static TLS variables, the variables
 * each thread's frames keep in their stack slots), the pointer
 * words are read from the holders' copy (never from the target, which runs
 * on) and each that points at the start of an in-use chunk types it: a
 * pointer to T makes the chunk a T when its usable size holds one T, a
 * "T[]" when it holds k >= 2 (k = usable / sizeof T, accepted when the
 * rest, usable - k sizeof T, is under ARRAY_SLACK bytes: malloc's rounding
 * of a request is under 16; an mmapped chunk's pages round it up to
 * 4096); a pointer to a character type makes a "char[]" of any size.  The
 * chunk's own pointers, by its type's layout (k times for an array), then
 * type further chunks: a worklist, each chunk typed once, each DWARF type
 * read once (target/dwarf_types.c).
 *
 * The objects typed by their vtables are roots too: where the vtable's
 * module's DWARF defines the class (by its demangled name), their pointer
 * members type what they point at.
 *
 * Conflicts: a vtable-typed chunk keeps its class (a `Shape *` pointing at
 * a Circle); a pointer into a chunk's middle types nothing; a type bigger
 * than the chunk types nothing; a chunk that two pointers give two
 * different names is left untyped, and so is everything it alone typed
 * (the chunks it reached first, whose evidence came through it).
 */
#define ARRAY_SLACK 16
#define MMAP_SLACK 4112
#define DW_CONFLICT UINT32_MAX
#define DW_VTABLE (UINT32_MAX - 1) /* name[]: typed by its vtable, scanned as its class */
#define DW_ROOT UINT32_MAX

struct dw {
    struct ctx *c;
    hg_snapshot *s;
    struct hg_types *ty;
    const struct hc_capture *cap;
    hg_dtypes *dt;
    hg_objects o;
    uint32_t *chunk_of;  /* object -> chunk index */
    uint32_t *name;      /* object -> interned name id + 1; 0 none; DW_CONFLICT */
    uint32_t *dtype;     /* object -> its DWARF type id */
    uint32_t *parent;    /* object -> the object whose pointer typed it, DW_ROOT */
    hg_array(uint32_t) work;
    hg_u64map name_of;   /* (dwarf type id << 1 | array) -> interned id + 1 */
    const struct hc_region **regions; /* the copy's root regions, by address */
    size_t nregions;
    int rc;
};

static int region_order(const void *a, const void *b)
{
    const struct hc_region *x = *(const struct hc_region *const *)a;
    const struct hc_region *y = *(const struct hc_region *const *)b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* len copied bytes at addr: a root region's, else the heap copy's. */
static const unsigned char *copy_at(const struct dw *w, uint64_t addr, uint64_t len)
{
    size_t lo = 0, hi = w->nregions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->regions[mid]->addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo) {
        const struct hc_region *r = w->regions[lo - 1];
        if (addr - r->addr < r->len && len <= r->len - (addr - r->addr))
            return w->cap->roots + r->off + (addr - r->addr);
    }
    return hc_heap_bytes(w->cap, addr, len);
}

/* The interned id of DWARF type id's chunks ("T" or "T[]"). */
static long dw_name(struct dw *w, uint32_t id, int array)
{
    uint64_t key = ((uint64_t)id << 1) | (uint64_t)array;
    const uint64_t *v = hg_u64map_get(&w->name_of, key);
    if (v)
        return (long)*v - 1;
    const char *base = hg_dtypes_name(w->dt, id);
    size_t len = base ? strlen(base) : 0;
    char *nm = base ? malloc(len + 3) : NULL;
    if (!nm)
        return -1;
    memcpy(nm, base, len);
    strcpy(nm + len, array ? "[]" : "");
    long k = intern(w->c, nm, HG_TYPE_DWARF);
    if (k < 0 || hg_u64map_put(&w->name_of, key, (uint64_t)k + 1) != 0)
        return -1;
    return k;
}

/* The word at from's slot says: what it points at is a `target`. */
static void dw_point(struct dw *w, uint32_t from, uint64_t word, uint32_t target)
{
    int interior = 0;
    uint32_t obj = hg_objects_find(&w->o, word, &interior);
    if (obj == HG_NO_OBJECT || interior || obj == from)
        return;
    uint32_t ch = w->chunk_of[obj];
    if (w->ty->chunk_type[ch] >= 0 || w->name[obj] == DW_CONFLICT)
        return; /* its vtable says what it is; or nothing will */
    const hg_dtype *t = hg_dtypes_get(w->dt, target);
    if (!t) {
        w->rc = HG_ENOMEM;
        return;
    }
    if (!t->size)
        return;
    uint64_t usable = hg_objects_size(&w->o, obj);
    int array;
    if (t->is_char) {
        array = 1;
    } else {
        uint64_t k = usable / t->size;
        uint64_t slack = w->s->chunks[ch].state == HG_STATE_MMAPPED ? MMAP_SLACK : ARRAY_SLACK;
        if (k == 0 || usable - k * t->size >= slack)
            return; /* the type does not fit the chunk */
        array = k > 1;
    }
    long nm = dw_name(w, target, array);
    if (nm < 0) {
        w->rc = HG_ENOMEM;
        return;
    }
    if (w->name[obj] == 0) {
        w->name[obj] = (uint32_t)nm + 1;
        w->dtype[obj] = target;
        w->parent[obj] = from;
        uint32_t *x = hg_array_push(w->work);
        if (!x)
            w->rc = HG_ENOMEM;
        else
            *x = obj;
    } else if (w->name[obj] != (uint32_t)nm + 1) {
        w->name[obj] = DW_CONFLICT;
    }
}

/* The pointer words of k objects of type t at bytes (len of them). */
static void dw_scan(struct dw *w, uint32_t from, const hg_dtype *t, uint64_t k,
                    const unsigned char *bytes, uint64_t len)
{
    for (uint64_t e = 0; e < k && w->rc == 0; e++)
        for (size_t i = 0; i < t->nslots && w->rc == 0; i++) {
            const hg_dslot *sl = &t->slots[i];
            for (uint32_t r = 0; r < sl->count; r++) {
                uint64_t off = e * t->size + sl->offset + (uint64_t)r * sl->stride;
                if (off + 8 > len)
                    break;
                uint64_t word;
                memcpy(&word, bytes + off, 8);
                if (word)
                    dw_point(w, from, word, sl->target);
            }
        }
}

struct tls_var {
    hg_module *m;
    uint64_t off;
    uint32_t type;
};

struct dw_globals {
    struct dw *w;
    hg_module *m;
    hg_array(struct tls_var) tls;
};

static int dw_global(void *ctx, uint64_t addr, int tls, uint32_t type)
{
    struct dw_globals *g = ctx;
    struct dw *w = g->w;
    if (tls) {
        struct tls_var *v = hg_array_push(g->tls);
        if (!v)
            return HG_ENOMEM;
        *v = (struct tls_var){g->m, addr, type};
        return 0;
    }
    const hg_dtype *t = hg_dtypes_get(w->dt, type);
    if (!t)
        return HG_ENOMEM;
    const unsigned char *bytes = t->size ? copy_at(w, addr, t->size) : NULL;
    if (bytes)
        dw_scan(w, DW_ROOT, t, 1, bytes, t->size);
    return w->rc;
}

/* Each thread's static TLS block of each module with typed TLS variables. */
static void dw_tls(struct dw *w, const struct dw_globals *g)
{
    const struct hc_capture *cap = w->cap;
    for (size_t i = 0; i < cap->tls.size && w->rc == 0; i++) {
        const struct hc_tls_module *tm = &cap->tls.ptr[i];
        hg_module *m = tm->offset ? hg_module_at(w->c->t, tm->module_addr) : NULL;
        if (!m)
            continue;
        for (size_t th = 0; th < cap->nthreads && w->rc == 0; th++) {
            uint64_t fs = cap->threads[th].fs_base;
            if (!fs || tm->offset > fs)
                continue;
            for (size_t v = 0; v < g->tls.size && w->rc == 0; v++) {
                const struct tls_var *tv = &g->tls.ptr[v];
                const hg_dtype *t = tv->m == m ? hg_dtypes_get(w->dt, tv->type) : NULL;
                if (tv->m != m)
                    continue;
                if (!t) {
                    w->rc = HG_ENOMEM;
                    break;
                }
                if (!t->size || tv->off + t->size > tm->size)
                    continue;
                const unsigned char *bytes = copy_at(w, fs - tm->offset + tv->off, t->size);
                if (bytes)
                    dw_scan(w, DW_ROOT, t, 1, bytes, t->size);
            }
        }
    }
}

/* Each vtable-typed object whose class the vtable's module's DWARF
 * defines: on the worklist, to be scanned as one object of its class. */
static int vtable_roots(struct dw *w)
{
    struct ctx *c = w->c;
    size_t n = c->where.size; /* the vtable types, ids 0..n-1 */
    struct by_module *ids = calloc(n ? n : 1, sizeof *ids);
    const char **names = calloc(n ? n : 1, sizeof *names);
    uint32_t *got = calloc(n ? n : 1, sizeof *got);
    uint32_t *cls = malloc((n ? n : 1) * sizeof *cls);
    int rc = 0;
    size_t k = 0;
    if (!ids || !names || !got || !cls) {
        rc = HG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        cls[i] = HG_DTYPE_NONE;
        hg_module *m = hg_module_at(c->t, c->where.ptr[i]);
        if (m)
            ids[k++] = (struct by_module){m, i};
    }
    qsort(ids, k, sizeof *ids, module_order);
    for (size_t i = 0, j; i < k; i = j) {
        for (j = i; j < k && ids[j].m == ids[i].m; j++)
            names[j - i] = c->names.ptr[ids[j].id];
        int r = hg_dtypes_classes(w->dt, ids[i].m, names, j - i, got);
        if (r == HG_ENOMEM) {
            rc = r;
            goto out;
        }
        for (size_t x = i; r == 0 && x < j; x++)
            cls[ids[x].id] = got[x - i];
    }
    for (uint32_t obj = 0; obj < w->o.n; obj++) {
        int32_t t = w->ty->chunk_type[w->chunk_of[obj]];
        if (t < 0 || (size_t)t >= n || cls[t] == HG_DTYPE_NONE)
            continue;
        uint32_t *x = hg_array_push(w->work);
        if (!x) {
            rc = HG_ENOMEM;
            goto out;
        }
        *x = obj;
        w->name[obj] = DW_VTABLE;
        w->dtype[obj] = cls[t];
        w->parent[obj] = DW_ROOT;
    }
out:
    free(ids);
    free(names);
    free(got);
    free(cls);
    return rc;
}

static int dw_frame_var(void *ctx, uint64_t addr, uint32_t type)
{
    struct dw *w = ctx;
    const hg_dtype *t = hg_dtypes_get(w->dt, type);
    if (!t)
        return HG_ENOMEM;
    const unsigned char *bytes = t->size ? copy_at(w, addr, t->size) : NULL;
    if (bytes)
        dw_scan(w, DW_ROOT, t, 1, bytes, t->size);
    return w->rc;
}

/* Each thread's frames, as the stop's unwinder walks them: the variables
 * their DWARF puts in their stack slots (read from the copy of the
 * stack).  A frame's canonical frame address is the stack pointer of its
 * caller's; the outermost frame has none and is skipped. */
static int dw_stacks(struct dw *w)
{
    struct hg_unwinder *u = w->cap->unwinder;
    enum { MAX_FRAMES = 512 };
    uint64_t pcs[MAX_FRAMES], sps[MAX_FRAMES];
    for (size_t i = 0, nt = u ? hg_unwinder_count(u) : 0; i < nt; i++) {
        size_t n = 0;
        const char *why = NULL;
        if (hg_unwind_thread_sps(u, i, pcs, sps, MAX_FRAMES, &n, &why) != 0) {
            hg_error_clear(); /* no stack: no roots */
            continue;
        }
        for (size_t f = 0; f + 1 < n; f++) {
            if (!sps[f + 1])
                continue;
            int rc = hg_dtypes_frame_vars(w->dt, w->c->t, pcs[f], sps[f + 1], dw_frame_var, w);
            if (rc == HG_ENOMEM)
                return rc;
            if (w->rc)
                return w->rc;
        }
    }
    return 0;
}

static int dwarf_types(struct ctx *c, hg_snapshot *s, struct hg_types *ty,
                       const struct hc_capture *cap)
{
    struct dw w;
    memset(&w, 0, sizeof w);
    w.c = c;
    w.s = s;
    w.ty = ty;
    w.cap = cap;
    struct dw_globals g;
    memset(&g, 0, sizeof g);
    g.w = &w;
    hg_objects_init(&w.o);
    int rc = HG_ENOMEM;
    if (!(w.dt = hg_dtypes_new(c->t)) || hg_objects_reserve(&w.o, s->nchunks) != 0)
        goto out;
    for (size_t i = 0; i < s->nchunks; i++) {
        uint64_t start, size;
        int ns;
        if (hc_chunk_object(&s->chunks[i], &start, &size, &ns) &&
            (rc = hg_objects_add(&w.o, start, size)) != 0)
            goto out;
    }
    if ((rc = hg_objects_finish(&w.o)) != 0) {
        if (rc == HG_EUSAGE) { /* overlapping chunks: the walk said so */
            hg_error_clear();
            rc = 0;
        }
        goto out;
    }
    rc = HG_ENOMEM;
    size_t no = w.o.n ? w.o.n : 1;
    if (!(w.chunk_of = malloc(no * sizeof *w.chunk_of)) ||
        !(w.name = calloc(no, sizeof *w.name)) || !(w.dtype = malloc(no * sizeof *w.dtype)) ||
        !(w.parent = malloc(no * sizeof *w.parent)) ||
        !(w.regions = malloc((cap->regions.size ? cap->regions.size : 1) * sizeof *w.regions)))
        goto out;
    for (size_t i = 0; i < s->nchunks; i++) {
        uint64_t start, size;
        int ns, in;
        if (!hc_chunk_object(&s->chunks[i], &start, &size, &ns))
            continue;
        uint32_t k = hg_objects_find(&w.o, start, &in);
        if (k != HG_NO_OBJECT && !in)
            w.chunk_of[k] = (uint32_t)i;
    }
    for (size_t i = 0; i < cap->regions.size; i++)
        w.regions[w.nregions++] = &cap->regions.ptr[i];
    qsort(w.regions, w.nregions, sizeof *w.regions, region_order);

    /* the roots: objects typed by their vtables, whose classes' DWARF is
     * found by name; then every module's typed variables */
    if ((rc = vtable_roots(&w)) != 0)
        goto out;
    rc = HG_ENOMEM;
    int any = 0;
    for (size_t i = 0, nm = hg_module_count(c->t); i < nm; i++) {
        g.m = hg_module_get(c->t, i);
        int r = hg_dtypes_globals(w.dt, g.m, dw_global, &g);
        if (r == HG_ENOTFOUND)
            continue;
        if (r != 0 || w.rc != 0) {
            rc = r ? r : w.rc;
            goto out;
        }
        any = 1;
    }
    dw_tls(&w, &g);
    if (w.rc == 0 && (rc = dw_stacks(&w)) != 0)
        goto out;
    rc = HG_ENOMEM;
    /* then the heap, breadth first */
    for (size_t i = 0; i < w.work.size && w.rc == 0; i++) {
        uint32_t obj = w.work.ptr[i];
        if (w.name[obj] == DW_CONFLICT)
            continue;
        int one = w.name[obj] == DW_VTABLE; /* one object of its class */
        const hg_dtype *t = hg_dtypes_get(w.dt, w.dtype[obj]);
        if (!t) {
            w.rc = HG_ENOMEM;
            break;
        }
        if (!t->nslots)
            continue;
        uint64_t usable = hg_objects_size(&w.o, obj);
        const unsigned char *bytes = hc_heap_bytes(cap, hg_objects_start(&w.o, obj), usable);
        if (bytes)
            dw_scan(&w, obj, t, one ? 1 : usable / t->size, bytes, usable);
    }
    if ((rc = w.rc) != 0)
        goto out;
    /* what a conflicted chunk typed falls with it (the worklist is in the
     * order chunks were typed: a parent before its children) */
    for (size_t i = 0; i < w.work.size; i++) {
        uint32_t obj = w.work.ptr[i], p = w.parent[obj];
        if (p != DW_ROOT && w.name[p] == DW_CONFLICT)
            w.name[obj] = DW_CONFLICT;
        if (w.name[obj] != DW_CONFLICT && w.name[obj] != DW_VTABLE)
            ty->chunk_type[w.chunk_of[obj]] = (int32_t)(w.name[obj] - 1);
    }
    hg_module *exe = hg_module_find(c->t, NULL);
    if (!any || (exe && !hg_module_has_debuginfo(exe))) {
        char buf[512];
        snprintf(buf, sizeof buf,
                 "no DWARF types for %s: types from DWARF need the program's debug info "
                 "(built with -g, or its -dbgsym/-dbg package); vtables need none",
                 exe ? hg_module_path(exe) : "the program");
        if (!(c->note = strdup(buf)))
            goto out;
    }
    rc = 0;
out:
    if (rc == HG_ENOMEM)
        hg_fail(HG_ENOMEM, "out of memory (DWARF types)");
    hg_array_clear(g.tls);
    hg_array_clear(w.work);
    hg_u64map_free(&w.name_of);
    free(w.chunk_of);
    free(w.name);
    free(w.dtype);
    free(w.parent);
    free(w.regions);
    hg_objects_free(&w.o);
    hg_dtypes_free(w.dt);
    return rc;
}

struct rank {
    uint64_t objects, bytes;
    long id;               /* -1: untyped */
};

static int rank_by_bytes(const void *a, const void *b)
{
    const struct rank *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->objects != y->objects)
        return x->objects > y->objects ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cell_order(const void *a, const void *b)
{
    const struct hg_type_cell *x = a, *y = b;
    if (x->arena != y->arena)
        return x->arena < y->arena ? -1 : 1;
    if (x->state != y->state)
        return x->state < y->state ? -1 : 1;
    if (x->chunk_size != y->chunk_size)
        return x->chunk_size < y->chunk_size ? -1 : 1;
    return x->type < y->type ? -1 : x->type > y->type;
}

/* The typed chunks split by (arena, state, chunk size, type), for the
 * profile's samples. */
static int make_cells(struct hg_types *ty, const hg_snapshot *s, long untyped)
{
    hg_u64map at = {0}; /* hash of the four -> cell index (the next key on a clash) */
    hg_array(struct hg_type_cell) cells = HG_ARRAY_INIT;
    struct hg_type_cell *last = NULL; /* valid until the next push */
    for (size_t i = 0; i < s->nchunks; i++) {
        int32_t k = ty->chunk_type[i];
        if (k < 0 || k == untyped)
            continue;
        const hg_chunk *ch = &s->chunks[i];
        if (last && last->type == (uint32_t)k && last->chunk_size == ch->size &&
            last->arena == ch->arena && last->state == ch->state) {
            last->count++; /* the same cell as the chunk before: no lookup */
            last->usable_bytes += ch->usable;
            continue;
        }
        uint64_t key = hg_hash64(ch->size ^ hg_hash64(((uint64_t)(uint32_t)ch->arena << 32) ^
                                                     ((uint64_t)ch->state << 28) ^ (uint64_t)k));
        struct hg_type_cell *cell = NULL;
        for (const uint64_t *v; (v = hg_u64map_get(&at, key)) != NULL; key++) {
            struct hg_type_cell *x = &cells.ptr[*v];
            if (x->arena == ch->arena && x->state == ch->state && x->chunk_size == ch->size &&
                x->type == (uint32_t)k) {
                cell = x;
                break;
            }
        }
        if (!cell) {
            if (!(cell = hg_array_push(cells)) || hg_u64map_put(&at, key, cells.size - 1) != 0) {
                hg_u64map_free(&at);
                hg_array_clear(cells);
                return hg_fail(HG_ENOMEM, "out of memory");
            }
            *cell = (struct hg_type_cell){ch->arena, ch->state, ch->size, (uint32_t)k, 0, 0};
        }
        cell->count++;
        cell->usable_bytes += ch->usable;
        last = cell;
    }
    hg_u64map_free(&at);
    if (cells.size)
        qsort(cells.ptr, cells.size, sizeof *cells.ptr, cell_order);
    ty->cells = cells.ptr;
    ty->ncells = cells.size;
    return 0;
}

static void ctx_free(struct ctx *c)
{
    free(c->files);
    free(c->vt);
    hg_u64map_free(&c->word_type);
    hg_u64map_free(&c->abi_vt);
    hg_u64map_free(&c->by_name);
    for (size_t i = 0; i < c->names.size; i++)
        free(c->names.ptr[i]);
    hg_array_clear(c->names);
    hg_array_clear(c->how);
    free(c->note);
    hg_array_clear(c->where);
}

static int is_live(int state)
{
    return state == HG_STATE_INUSE || state == HG_STATE_MMAPPED;
}

int hg_types_find(hg_target *t, hg_snapshot *s, const struct hc_capture *cap)
{
    struct ctx c;
    memset(&c, 0, sizeof c);
    c.t = t;
    struct hg_types *ty = calloc(1, sizeof *ty);
    struct rank *ranks = NULL;
    long *order = NULL;
    int rc = HG_ENOMEM;
    if (!ty || !(ty->chunk_type = malloc((s->nchunks ? s->nchunks : 1) * sizeof *ty->chunk_type)))
        goto out;
    if ((rc = file_ranges(&c, s)) != 0 || (rc = vtable_symbols(&c)) != 0)
        goto out;
    rc = HG_ENOMEM;

    /* Pass 1: each in-use chunk's type id (-1 untyped), the hot loop.
     * Objects of one class are often allocated one after another: the
     * last word looked up is remembered, and a run of them costs a compare
     * each. */
    const uint64_t *words = s->chunk_words;
    uint64_t last_word = 1; /* no first word is odd and looked up */
    long last_id = -1;
    for (size_t i = 0; i < s->nchunks; i++) {
        const hg_chunk *ch = &s->chunks[i];
        if (!is_live(ch->state)) {
            ty->chunk_type[i] = -2;
            continue;
        }
        uint64_t w = words ? words[i] : 0;
        long id = -1;
        if (w == last_word) {
            id = last_id;
        } else if (!(w & 7) && in_files(&c, w)) {
            const uint64_t *v = hg_u64map_get(&c.word_type, w);
            if (v) {
                id = (long)*v - 1;
            } else {
                long k = classify(&c, w);
                if (k == -1 || hg_u64map_put(&c.word_type, w, k >= 0 ? (uint64_t)k + 1 : 0) != 0)
                    goto out;
                if (k >= 0 && (size_t)k == c.where.size) { /* a new type */
                    uint64_t *at = hg_array_push(c.where);
                    if (!at)
                        goto out;
                    *at = w;
                }
                id = k >= 0 ? k : -1;
            }
            last_word = w;
            last_id = id;
        }
        ty->chunk_type[i] = (int32_t)id;
    }

    /* A class the chunk cannot hold is not what the chunk is. */
    size_t n = c.names.size;
    uint64_t *sizes = calloc(n ? n : 1, sizeof *sizes);
    if (!sizes || class_sizes(&c, sizes) != 0) {
        free(sizes);
        goto out;
    }
    for (size_t i = 0; i < s->nchunks; i++) {
        int32_t k = ty->chunk_type[i];
        if (k >= 0 && sizes[k] > s->chunks[i].usable)
            ty->chunk_type[i] = -1;
    }
    free(sizes);

    /* The static types, from the DWARF-typed roots through the copy. */
    if (cap && (rc = dwarf_types(&c, s, ty, cap)) != 0)
        goto out;
    rc = HG_ENOMEM;
    n = c.names.size;

    /* The histogram: ids 0..n-1, then the untyped at n. */
    ranks = calloc(n + 1, sizeof *ranks);
    order = malloc((n + 1) * sizeof *order);
    if (!ranks || !order)
        goto out;
    for (size_t k = 0; k <= n; k++) {
        ranks[k].id = k < n ? (long)k : -1;
        order[k] = -1;
    }
    for (size_t i = 0; i < s->nchunks; i++) {
        int32_t k = ty->chunk_type[i];
        if (k == -2)
            continue;
        struct rank *r = &ranks[k >= 0 ? (size_t)k : n];
        r->objects++;
        r->bytes += s->chunks[i].usable;
        ty->totals.inuse_objects++;
        ty->totals.inuse_bytes += s->chunks[i].usable;
        if (k >= 0) {
            ty->totals.typed_objects++;
            ty->totals.typed_bytes += s->chunks[i].usable;
        }
    }
    qsort(ranks, n + 1, sizeof *ranks, rank_by_bytes);
    if (!(ty->types = calloc(n + 1, sizeof *ty->types)))
        goto out;
    for (size_t j = 0; j <= n; j++) {
        if (ranks[j].objects == 0)
            continue; /* the untyped when every chunk has a type; a class
                         every chunk of was too small for */
        hg_type *out = &ty->types[ty->ntypes];
        if (ranks[j].id >= 0) {
            out->name = c.names.ptr[ranks[j].id];
            c.names.ptr[ranks[j].id] = NULL;
            out->how = c.how.ptr[ranks[j].id];
        } else if (!(out->name = strdup("(untyped)"))) {
            goto out;
        }
        out->objects = ranks[j].objects;
        out->bytes = ranks[j].bytes;
        order[ranks[j].id >= 0 ? (size_t)ranks[j].id : n] = (long)ty->ntypes++;
    }
    for (size_t i = 0; i < s->nchunks; i++) {
        int32_t k = ty->chunk_type[i];
        ty->chunk_type[i] = k == -2 ? -1 : (int32_t)order[k >= 0 ? (size_t)k : n];
    }
    long untyped = -1;
    for (size_t j = 0; j < ty->ntypes; j++)
        if (ty->types[j].how == HG_TYPE_SIZE)
            untyped = (long)j;
    if ((rc = make_cells(ty, s, untyped)) != 0)
        goto out;
    ty->note = c.note;
    c.note = NULL;
    s->types = ty;
    ty = NULL;
    rc = 0;
    hg_error_clear(); /* unreadable words were no evidence, not errors */
out:
    if (rc == HG_ENOMEM)
        hg_fail(HG_ENOMEM, "out of memory (typing the chunks)");
    free(ranks);
    free(order);
    hg_types_free(ty);
    ctx_free(&c);
    return rc;
}
