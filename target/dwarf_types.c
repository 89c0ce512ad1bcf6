/*
 * dwarf_types.c -- the static types of a target's DWARF as the types
 * analysis propagates them (analysis/types.c): each type's name as the
 * debugger writes it, its size, and where its pointers lie (the "slots");
 * every module's global and TLS variables with their types, the variables
 * a stack frame keeps in its slots, classes by qualified name (for the
 * objects typed by their vtables).
 *
 * A declaration (an opaque `struct conn *` in a unit that does not define
 * the struct, a node class a unit only declares) stands for the module's
 * definition of that qualified name, from an index of the module's
 * definitions made the first time one is needed.  Where the module defines
 * only one class of that unqualified name, that one is taken without
 * working out the declaration's scopes (a declaration of a class the
 * module never defines, named like one it does in another namespace,
 * would be taken for it: the size check still applies).
 *
 * A type is read from DWARF once, when it is first asked for, then kept:
 * the analysis asks per chunk, this answers from the table.  Types are
 * numbered in the order they are met; the DIE (its address in libdw's
 * mapped data) is the key, so two units' copies of one type are two
 * numbers with one name, which the analysis compares by name.
 *
 * The slots of a struct or class are its pointer members and those of its
 * members, bases and arrays, flattened to (offset, count, stride, type
 * pointed at).  Unions, bit-fields, virtual bases and pointers to void or
 * functions make no slot: nothing says what they point at.
 *
 * libstdc++ keeps a node's value as raw bytes, __gnu_cxx::__aligned_membuf<V>
 * (or __aligned_buffer<V>): its slots are V's, from its template parameter.
 *
 * Node containers.  libstdc++'s std::map, std::set, std::list and the
 * unordered containers link their nodes through a base class (the node
 * base: std::_Rb_tree_node_base, std::__detail::_List_node_base,
 * std::__detail::_Hash_node_base) whose pointers say "node base", while
 * every node is the derived node class (std::_Rb_tree_node<V>).  Three rules
 * name the real node: within a class that has a typedef naming the node
 * class or a pointer to it (_Rb_tree's _Link_type, _List_base's _Node,
 * _Hashtable_alloc's __node_ptr) -- a class whose base at offset 0 is B --
 * pointers to B point at that class; the same within a class that has a
 * base std::allocator<N> (the node allocator, which the implementation
 * inherits to keep it empty: _Rb_tree_impl, _List_impl), for the node class
 * N with base B at offset 0 (a unit that did not need the typedef has it
 * not); and within the node class itself, pointers to its base at offset 0
 * point at the node class (the next node of a list is a node like this
 * one).  The innermost container's rule wins (a map in a map's node), and
 * B is matched by name and size as well as by DIE (the node's definition
 * may be another unit's).  A pointer so re-aimed at a chunk too small for
 * the node types nothing (the analysis checks every size).
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "lib/error.h"
#include "lib/hashmap.h"
#include "target/modules.h"
#include "target/target.h"

#define MAX_DEPTH 16
#define MAX_SLOTS 65536     /* a type with more pointer words keeps these */
#define EXPAND_MAX 4096     /* an array member's element slots are repeated
                               one by one up to this many slots */
#define MAX_RETARGET 8
#define NAME_MAX_LEN 4096

typedef hg_array(hg_dslot) slot_array;

struct dtype {
    Dwarf_Die die;
    int lang_c;             /* its unit is C: "struct x" */
    int have_layout, have_name;
    hg_dtype pub;
    slot_array slots;
};

/* A module's class and struct definitions by qualified name, made the
 * first time a declaration (an opaque `struct conn *`, a node class its
 * unit only declares) needs its definition. */
struct def {
    char *name;
    Dwarf_Die die;
};
struct defs {
    Dwarf *dw;
    hg_array(struct def) all;
    hg_u64map by_name;      /* hash of a name -> index (the next key on a clash) */
    hg_u64map by_die;       /* a definition's DIE address -> index */
    hg_u64map by_short;     /* hash of an unqualified name -> index + 1, or
                               0 when several qualified names share it */
};

struct hg_dtypes {
    hg_target *t;
    hg_array(struct dtype *) types;
    hg_u64map by_die;       /* DIE address -> id */
    hg_array(struct defs *) defs;
};

static int definition(hg_dtypes *d, Dwarf_Die *die);
struct buf;
static int qualified_name(hg_dtypes *d, Dwarf_Die *die, struct buf *b);

hg_dtypes *hg_dtypes_new(hg_target *t)
{
    hg_dtypes *d = calloc(1, sizeof *d);
    if (d)
        d->t = t;
    return d;
}

void hg_dtypes_free(hg_dtypes *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->types.size; i++) {
        struct dtype *x = d->types.ptr[i];
        free((char *)x->pub.name);
        hg_array_clear(x->slots);
        free(x);
    }
    hg_array_clear(d->types);
    hg_u64map_free(&d->by_die);
    for (size_t i = 0; i < d->defs.size; i++) {
        struct defs *x = d->defs.ptr[i];
        for (size_t k = 0; k < x->all.size; k++)
            free(x->all.ptr[k].name);
        hg_array_clear(x->all);
        hg_u64map_free(&x->by_name);
        hg_u64map_free(&x->by_die);
        hg_u64map_free(&x->by_short);
        free(x);
    }
    hg_array_clear(d->defs);
    free(d);
}

size_t hg_dtypes_count(const hg_dtypes *d) { return d->types.size; }

/* die less typedefs and qualifiers (cv, restrict, atomic): 0, or -1 for a
 * chain that ends nowhere (void) or loops. */
static int strip(Dwarf_Die *die)
{
    for (int i = 0; i < 32; i++) {
        int tag = dwarf_tag(die);
        if (tag != DW_TAG_typedef && tag != DW_TAG_const_type && tag != DW_TAG_volatile_type &&
            tag != DW_TAG_restrict_type && tag != DW_TAG_atomic_type)
            return 0;
        Dwarf_Attribute a;
        if (!dwarf_attr_integrate(die, DW_AT_type, &a) || !dwarf_formref_die(&a, die))
            return -1;
    }
    return -1;
}

static int cu_is_c(Dwarf_Die *die)
{
    Dwarf_Die cu;
    if (!dwarf_diecu(die, &cu, NULL, NULL))
        return 0;
    int lang = dwarf_srclang(&cu);
    return lang == DW_LANG_C || lang == DW_LANG_C89 || lang == DW_LANG_C99 ||
           lang == DW_LANG_C11;
}

/* The id of the type die (typedefs and qualifiers stripped), made on first
 * sight: HG_DTYPE_NONE for none (void), -1 out of memory. */
static long type_id(hg_dtypes *d, Dwarf_Die die)
{
    if (strip(&die) != 0)
        return HG_DTYPE_NONE;
    int tag = dwarf_tag(&die);
    if ((tag == DW_TAG_structure_type || tag == DW_TAG_class_type || tag == DW_TAG_union_type) &&
        dwarf_hasattr(&die, DW_AT_declaration) && definition(d, &die) < 0)
        return -1;
    uint64_t key = (uint64_t)(uintptr_t)die.addr;
    const uint64_t *v = hg_u64map_get(&d->by_die, key);
    if (v)
        return (long)*v;
    struct dtype *x = calloc(1, sizeof *x);
    struct dtype **slot = x ? hg_array_push(d->types) : NULL;
    if (!slot) {
        free(x);
        return -1;
    }
    *slot = x;
    x->die = die;
    x->lang_c = cu_is_c(&die);
    if (hg_u64map_put(&d->by_die, key, d->types.size - 1) != 0) {
        d->types.size--;
        free(x);
        return -1;
    }
    return (long)(d->types.size - 1);
}

static int ref_die(Dwarf_Die *die, int attr, Dwarf_Die *out)
{
    Dwarf_Attribute a;
    return dwarf_attr_integrate(die, attr, &a) && dwarf_formref_die(&a, out) ? 0 : -1;
}

/* ------------------------------------------------------------- names */

struct buf {
    char s[NAME_MAX_LEN];
    size_t n;
    int over;
};

static void put(struct buf *b, const char *s)
{
    size_t len = strlen(s);
    if (b->n + len >= sizeof b->s) {
        b->over = 1;
        return;
    }
    memcpy(b->s + b->n, s, len + 1);
    b->n += len;
}

/* The enclosing namespaces and classes of die, outermost first. */
static void scope_prefix(struct buf *b, Dwarf_Die *die)
{
    Dwarf_Die *scopes = NULL;
    int n = dwarf_getscopes_die(die, &scopes);
    /* scopes[0] is die itself, scopes[n-1] its unit */
    for (int i = n - 2; i >= 1; i--) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_namespace && tag != DW_TAG_class_type && tag != DW_TAG_structure_type &&
            tag != DW_TAG_union_type)
            continue;
        const char *nm = dwarf_diename(&scopes[i]);
        put(b, nm ? nm : tag == DW_TAG_namespace ? "(anonymous namespace)" : "(anonymous)");
        put(b, "::");
    }
    free(scopes);
}

static void name_into(hg_dtypes *d, Dwarf_Die die, struct buf *b, int depth)
{
    if (depth > 8 || strip(&die) != 0) {
        put(b, depth > 8 ? "..." : "void");
        return;
    }
    int tag = dwarf_tag(&die);
    const char *nm = dwarf_diename(&die);
    Dwarf_Die to;
    switch (tag) {
    case DW_TAG_base_type:
        put(b, nm ? nm : "(base)");
        break;
    case DW_TAG_structure_type:
    case DW_TAG_class_type:
    case DW_TAG_union_type:
    case DW_TAG_enumeration_type:
        if (cu_is_c(&die))
            put(b, tag == DW_TAG_union_type ? "union "
                   : tag == DW_TAG_enumeration_type ? "enum " : "struct ");
        else if (!qualified_name(d, &die, b))
            scope_prefix(b, &die);
        else
            break; /* the index's qualified name, whole */
        put(b, nm ? nm : "(anonymous)");
        break;
    case DW_TAG_pointer_type:
    case DW_TAG_reference_type:
    case DW_TAG_rvalue_reference_type:
        if (ref_die(&die, DW_AT_type, &to) != 0)
            put(b, "void");
        else
            name_into(d, to, b, depth + 1);
        put(b, tag == DW_TAG_pointer_type ? " *" : " &");
        break;
    case DW_TAG_subroutine_type:
        put(b, "(function)");
        break;
    case DW_TAG_array_type:
        if (ref_die(&die, DW_AT_type, &to) == 0)
            name_into(d, to, b, depth + 1);
        put(b, "[]");
        break;
    default:
        put(b, nm ? nm : "(type)");
        break;
    }
}

/* ------------------------------------------------- definitions by name */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return hg_hash64(h);
}

/* One definition into the index: the first of a name stands for it, and
 * another unit's copy's DIE points at it too. */
static int def_add(void *ctx, const char *path, const char *name, Dwarf_Die *c)
{
    struct defs *x = ctx;
    uint64_t key = hash_name(path);
    const uint64_t *dup = NULL;
    for (const uint64_t *v; !dup && (v = hg_u64map_get(&x->by_name, key)) != NULL; key++)
        if (strcmp(x->all.ptr[*v].name, path) == 0)
            dup = v;
    if (dup)
        return hg_u64map_put(&x->by_die, (uint64_t)(uintptr_t)c->addr, *dup) != 0 ? HG_ENOMEM : 0;
    struct def *e = hg_array_push(x->all);
    char *nm = e ? strdup(path) : NULL;
    if (!nm || hg_u64map_put(&x->by_name, key, x->all.size - 1) != 0 ||
        hg_u64map_put(&x->by_die, (uint64_t)(uintptr_t)c->addr, x->all.size - 1) != 0) {
        if (e)
            x->all.size--;
        free(nm);
        return HG_ENOMEM;
    }
    e->name = nm;
    e->die = *c;
    /* the unqualified name: most name one class only, and a declaration is
     * then found without its scopes */
    uint64_t sk = hash_name(name);
    const uint64_t *sv = hg_u64map_get(&x->by_short, sk);
    return hg_u64map_put(&x->by_short, sk, sv ? 0 : x->all.size) != 0 ? HG_ENOMEM : 0;
}

/* The index of dw's definitions, made on first use: NULL out of memory. */
static struct defs *module_defs(hg_dtypes *d, Dwarf *dw)
{
    for (size_t i = 0; i < d->defs.size; i++)
        if (d->defs.ptr[i]->dw == dw)
            return d->defs.ptr[i];
    struct defs *x = calloc(1, sizeof *x);
    struct defs **slot = x ? hg_array_push(d->defs) : NULL;
    if (!slot) {
        free(x);
        return NULL;
    }
    *slot = x;
    x->dw = dw;
    return hg_dwarf_each_class(dw, def_add, x) == 0 ? x : NULL;
}

/* A definition's qualified name from its module's index (one walk of the
 * module, where dwarf_getscopes_die walks the unit for each type) into b:
 * 1, or 0 when the index does not have the DIE (a type local to a
 * function, an enum) or cannot be made. */
static int qualified_name(hg_dtypes *d, Dwarf_Die *die, struct buf *b)
{
    Dwarf *dw = dwarf_cu_getdwarf(die->cu);
    struct defs *x = dw ? module_defs(d, dw) : NULL;
    const uint64_t *v = x ? hg_u64map_get(&x->by_die, (uint64_t)(uintptr_t)die->addr) : NULL;
    if (!v)
        return 0;
    put(b, x->all.ptr[*v].name);
    return 1;
}

/* A declaration's definition, by its qualified name, elsewhere in its
 * module's DWARF: *die replaced when found.  0, or -1 out of memory. */
static int definition(hg_dtypes *d, Dwarf_Die *die)
{
    Dwarf *dw = dwarf_cu_getdwarf(die->cu);
    const char *nm = dwarf_diename(die);
    if (!dw || !nm)
        return 0;
    struct defs *x = module_defs(d, dw);
    if (!x)
        return hg_fail(HG_ENOMEM, "out of memory"), -1;
    /* one definition of that unqualified name in the module (hashes that
     * clash count as several): no need to know the declaration's scopes */
    const uint64_t *sv = hg_u64map_get(&x->by_short, hash_name(nm));
    if (sv && *sv) {
        const char *full = x->all.ptr[*sv - 1].name;
        size_t fl = strlen(full), nl = strlen(nm);
        if (fl >= nl && strcmp(full + fl - nl, nm) == 0 &&
            (fl == nl || (fl > nl + 1 && full[fl - nl - 1] == ':'))) {
            *die = x->all.ptr[*sv - 1].die;
            return 0;
        }
    }
    struct buf b;
    b.n = 0;
    b.over = 0;
    b.s[0] = '\0';
    scope_prefix(&b, die);
    put(&b, nm);
    if (b.over)
        return 0;
    uint64_t key = hash_name(b.s);
    for (const uint64_t *v; (v = hg_u64map_get(&x->by_name, key)) != NULL; key++)
        if (strcmp(x->all.ptr[*v].name, b.s) == 0) {
            *die = x->all.ptr[*v].die;
            return 0;
        }
    return 0;
}

/* ------------------------------------------------------------ layouts */

/* A node base B is known by its DIE, or by its name and size: the node
 * class's definition may be another unit's, whose B is another DIE. */
struct retargets {
    void *from[MAX_RETARGET];  /* a node base's DIE address */
    const char *from_name[MAX_RETARGET];
    Dwarf_Word from_size[MAX_RETARGET];
    Dwarf_Die to[MAX_RETARGET];
    Dwarf_Die to_ptr[MAX_RETARGET]; /* a pointer type to `to`, if met */
    int has_ptr[MAX_RETARGET];
    int n;
};

static int is_from(const struct retargets *r, int i, Dwarf_Die *die)
{
    if (r->from[i] == die->addr)
        return 1;
    const char *nm = dwarf_diename(die);
    Dwarf_Word size;
    return nm && r->from_name[i] && strcmp(nm, r->from_name[i]) == 0 &&
           dwarf_aggregate_size(die, &size) == 0 && size == r->from_size[i];
}

static int array_count(Dwarf_Die *arr, uint64_t *count)
{
    Dwarf_Die sub;
    uint64_t total = 1;
    int any = 0;
    if (dwarf_child(arr, &sub) != 0)
        return -1;
    do {
        if (dwarf_tag(&sub) != DW_TAG_subrange_type)
            continue;
        Dwarf_Attribute a;
        Dwarf_Word w;
        uint64_t n;
        if (dwarf_attr(&sub, DW_AT_count, &a) && dwarf_formudata(&a, &w) == 0)
            n = w;
        else if (dwarf_attr(&sub, DW_AT_upper_bound, &a) && dwarf_formudata(&a, &w) == 0)
            n = w + 1;
        else
            return -1; /* a flexible array member: no count */
        if (n && total > UINT32_MAX / n)
            return -1;
        total *= n;
        any = 1;
    } while (dwarf_siblingof(&sub, &sub) == 0);
    *count = total;
    return any ? 0 : -1;
}

/* The class whose base at offset 0 (the first inheritance) is a class,
 * that base's DIE: 0, or -1. */
static int base_at_zero(Dwarf_Die *cls, Dwarf_Die *base)
{
    Dwarf_Die c;
    if (dwarf_child(cls, &c) != 0)
        return -1;
    do {
        if (dwarf_tag(&c) != DW_TAG_inheritance)
            continue;
        Dwarf_Attribute a;
        Dwarf_Word off;
        if (!dwarf_attr(&c, DW_AT_data_member_location, &a) || dwarf_formudata(&a, &off) != 0 ||
            off != 0)
            continue;
        if (ref_die(&c, DW_AT_type, base) == 0 && strip(base) == 0)
            return 0;
    } while (dwarf_siblingof(&c, &c) == 0);
    return -1;
}

/* The innermost container says what its node base means: a map's node
 * holding another map re-aims the inner map's pointers at the inner
 * map's nodes. */
static void add_retarget(struct retargets *r, Dwarf_Die *from, Dwarf_Die *to, Dwarf_Die *ptr)
{
    for (int i = 0; i < r->n; i++)
        if (r->from[i] == from->addr || is_from(r, i, from)) {
            if (r->to[i].addr != to->addr)
                r->has_ptr[i] = 0;
            r->to[i] = *to;
            if (ptr) {
                r->to_ptr[i] = *ptr;
                r->has_ptr[i] = 1;
            }
            return;
        }
    if (r->n < MAX_RETARGET) {
        Dwarf_Word size;
        r->from[r->n] = from->addr;
        r->from_name[r->n] = dwarf_diename(from);
        r->from_size[r->n] = dwarf_aggregate_size(from, &size) == 0 ? size : 0;
        r->has_ptr[r->n] = ptr != NULL;
        if (ptr)
            r->to_ptr[r->n] = *ptr;
        r->to[r->n++] = *to;
    }
}

/* libstdc++'s node bases: never a chunk of their own (every node is a
 * derived node class); a pointer to one that no container's rule re-aimed
 * says nothing. */
static int node_base(Dwarf_Die *die)
{
    static const char *const bases[] = {"_Rb_tree_node_base", "_Hash_node_base",
                                        "_List_node_base", "_Fwd_list_node_base"};
    const char *nm = dwarf_diename(die);
    for (size_t i = 0; nm && i < sizeof bases / sizeof *bases; i++)
        if (strcmp(nm, bases[i]) == 0)
            return 1;
    return 0;
}

/* The node classes cls's typedefs name (and its bases' typedefs). */
static void gather_retargets(hg_dtypes *d, Dwarf_Die *cls, struct retargets *r, int depth)
{
    Dwarf_Die c;
    if (depth > 4 || dwarf_child(cls, &c) != 0)
        return;
    do {
        int tag = dwarf_tag(&c);
        Dwarf_Die to, base;
        if (tag == DW_TAG_typedef) {
            if (ref_die(&c, DW_AT_type, &to) != 0 || strip(&to) != 0)
                continue;
            Dwarf_Die ptr;
            int is_ptr = dwarf_tag(&to) == DW_TAG_pointer_type;
            ptr = to;
            if (is_ptr && (ref_die(&to, DW_AT_type, &to) != 0 || strip(&to) != 0))
                continue;
            int tt = dwarf_tag(&to);
            if ((tt == DW_TAG_structure_type || tt == DW_TAG_class_type) &&
                dwarf_hasattr(&to, DW_AT_declaration))
                definition(d, &to); /* out of memory: stays a declaration */
            if ((tt == DW_TAG_structure_type || tt == DW_TAG_class_type) &&
                !dwarf_hasattr(&to, DW_AT_declaration) && base_at_zero(&to, &base) == 0)
                add_retarget(r, &base, &to, is_ptr ? &ptr : NULL);
        } else if (tag == DW_TAG_inheritance) {
            if (ref_die(&c, DW_AT_type, &base) != 0 || strip(&base) != 0)
                continue;
            /* the node allocator, an (empty) base of the container's
             * implementation, names the node: std::allocator<N> */
            const char *bn = dwarf_diename(&base);
            Dwarf_Die p, node, nb;
            if (bn && strncmp(bn, "allocator<", 10) == 0 && dwarf_child(&base, &p) == 0) {
                do {
                    if (dwarf_tag(&p) != DW_TAG_template_type_parameter)
                        continue;
                    int nt;
                    if (ref_die(&p, DW_AT_type, &node) == 0 && strip(&node) == 0 &&
                        ((nt = dwarf_tag(&node)) == DW_TAG_structure_type ||
                         nt == DW_TAG_class_type) &&
                        (!dwarf_hasattr(&node, DW_AT_declaration) || definition(d, &node) == 0) &&
                        !dwarf_hasattr(&node, DW_AT_declaration) && base_at_zero(&node, &nb) == 0)
                        add_retarget(r, &nb, &node, NULL);
                    break; /* its first parameter only */
                } while (dwarf_siblingof(&p, &p) == 0);
            }
            gather_retargets(d, &base, r, depth + 1);
        }
    } while (dwarf_siblingof(&c, &c) == 0);
}

struct flat {
    hg_dtypes *d;
    slot_array *out;
    int nomem;
};

static void add_slot(struct flat *f, uint64_t off, uint32_t count, uint32_t stride, long target)
{
    if (f->out->size >= MAX_SLOTS)
        return;
    hg_dslot *s = hg_array_push(*f->out);
    if (!s) {
        f->nomem = 1;
        return;
    }
    *s = (hg_dslot){off, count, stride, (uint32_t)target};
}

static void flatten(struct flat *f, Dwarf_Die die, uint64_t base, const struct retargets *outer,
                    int depth)
{
    if (depth > MAX_DEPTH || f->nomem || strip(&die) != 0)
        return;
    int tag = dwarf_tag(&die);
    if (tag == DW_TAG_pointer_type || tag == DW_TAG_reference_type ||
        tag == DW_TAG_rvalue_reference_type) {
        Dwarf_Die to;
        if (ref_die(&die, DW_AT_type, &to) != 0 || strip(&to) != 0)
            return; /* void *: says nothing */
        int tt = dwarf_tag(&to);
        if (tt == DW_TAG_subroutine_type)
            return;
        int again = 0;
        for (int i = 0; outer && i < outer->n; i++)
            if (is_from(outer, i, &to)) {
                to = outer->to[i];
                again = 1;
                break;
            }
        /* a pointer to pointers to the node base (a hash table's buckets)
         * is one to pointers to the node, where the container says how */
        Dwarf_Die p2;
        if (!again && tt == DW_TAG_pointer_type && ref_die(&to, DW_AT_type, &p2) == 0 &&
            strip(&p2) == 0) {
            for (int i = 0; outer && i < outer->n; i++)
                if (is_from(outer, i, &p2)) {
                    if (outer->has_ptr[i])
                        to = outer->to_ptr[i];
                    again = 1;
                    break;
                }
            if (!again && node_base(&p2))
                return;
        }
        if (!again && node_base(&to))
            return;
        long id = type_id(f->d, to);
        if (id < 0)
            f->nomem = 1;
        else if (id != HG_DTYPE_NONE)
            add_slot(f, base, 1, 8, id);
        return;
    }
    if (tag == DW_TAG_array_type) {
        Dwarf_Die el;
        uint64_t count;
        Dwarf_Word esize;
        if (ref_die(&die, DW_AT_type, &el) != 0 || array_count(&die, &count) != 0 || !count ||
            strip(&el) != 0 || dwarf_aggregate_size(&el, &esize) != 0 || !esize ||
            esize > UINT32_MAX)
            return;
        size_t first = f->out->size;
        flatten(f, el, base, outer, depth + 1);
        size_t n = f->out->size - first;
        if (!n || count == 1)
            return;
        if (n * count <= EXPAND_MAX) {
            for (uint64_t k = 1; k < count; k++)
                for (size_t j = 0; j < n; j++) {
                    hg_dslot s = f->out->ptr[first + j];
                    add_slot(f, s.offset + k * esize, s.count, s.stride, s.target);
                }
        } else {
            /* each element slot repeated by the array's stride; one that
             * repeats already (an array in the element) is dropped */
            size_t keep = first;
            for (size_t j = 0; j < n; j++) {
                hg_dslot s = f->out->ptr[first + j];
                if (s.count != 1)
                    continue;
                s.count = (uint32_t)count;
                s.stride = (uint32_t)esize;
                f->out->ptr[keep++] = s;
            }
            f->out->size = keep;
        }
        return;
    }
    if (tag != DW_TAG_structure_type && tag != DW_TAG_class_type)
        return; /* a union: which member holds is unknown; scalars */
    if (dwarf_hasattr(&die, DW_AT_declaration))
        return;
    /* libstdc++ keeps a node's value in raw bytes (__gnu_cxx::
     * __aligned_membuf<V>, __aligned_buffer<V>): the value is a V */
    const char *nm = dwarf_diename(&die);
    if (nm && (strncmp(nm, "__aligned_membuf<", 17) == 0 ||
               strncmp(nm, "__aligned_buffer<", 17) == 0)) {
        Dwarf_Die p, v;
        if (dwarf_child(&die, &p) == 0)
            do {
                if (dwarf_tag(&p) == DW_TAG_template_type_parameter &&
                    ref_die(&p, DW_AT_type, &v) == 0) {
                    flatten(f, v, base, outer, depth + 1);
                    return;
                }
            } while (dwarf_siblingof(&p, &p) == 0);
        return;
    }
    struct retargets r;
    if (outer)
        r = *outer;
    else
        r.n = 0;
    gather_retargets(f->d, &die, &r, 0);
    Dwarf_Die c;
    if (dwarf_child(&die, &c) != 0)
        return;
    do {
        int ct = dwarf_tag(&c);
        if (ct != DW_TAG_member && ct != DW_TAG_inheritance)
            continue;
        if (dwarf_hasattr(&c, DW_AT_bit_size) || dwarf_hasattr(&c, DW_AT_data_bit_offset) ||
            dwarf_hasattr(&c, DW_AT_external) || dwarf_hasattr(&c, DW_AT_declaration))
            continue; /* bit-fields; static members */
        Dwarf_Attribute a;
        Dwarf_Word off;
        if (!dwarf_attr(&c, DW_AT_data_member_location, &a) || dwarf_formudata(&a, &off) != 0)
            continue; /* a virtual base: an expression */
        Dwarf_Die mt;
        if (ref_die(&c, DW_AT_type, &mt) == 0)
            flatten(f, mt, base + off, &r, depth + 1);
    } while (!f->nomem && dwarf_siblingof(&c, &c) == 0);
}

static int layout(hg_dtypes *d, struct dtype *x)
{
    x->have_layout = 1;
    Dwarf_Word size;
    int tag = dwarf_tag(&x->die);
    if (tag == DW_TAG_subroutine_type || dwarf_hasattr(&x->die, DW_AT_declaration) ||
        dwarf_aggregate_size(&x->die, &size) != 0)
        size = 0; /* a function, an incomplete type: types no chunk */
    x->pub.size = size;
    if (tag == DW_TAG_base_type && size == 1) {
        Dwarf_Attribute a;
        Dwarf_Word enc;
        if (dwarf_attr(&x->die, DW_AT_encoding, &a) && dwarf_formudata(&a, &enc) == 0 &&
            (enc == DW_ATE_signed_char || enc == DW_ATE_unsigned_char || enc == DW_ATE_UTF))
            x->pub.is_char = 1;
    }
    if (!size)
        return 0;
    /* a node class: pointers to its base at offset 0 aim at its own kind */
    struct retargets r = {.n = 0};
    Dwarf_Die base;
    if ((tag == DW_TAG_structure_type || tag == DW_TAG_class_type) &&
        base_at_zero(&x->die, &base) == 0)
        add_retarget(&r, &base, &x->die, NULL);
    struct flat f = {d, &x->slots, 0};
    /* slots live in x->slots; type_id may grow d->types, never x */
    flatten(&f, x->die, 0, &r, 0);
    if (f.nomem)
        return hg_fail(HG_ENOMEM, "out of memory");
    x->pub.slots = x->slots.ptr;
    x->pub.nslots = x->slots.size;
    return 0;
}

const hg_dtype *hg_dtypes_get(hg_dtypes *d, uint32_t id)
{
    if (id >= d->types.size)
        return NULL;
    struct dtype *x = d->types.ptr[id];
    if (!x->have_layout && layout(d, x) != 0)
        return NULL;
    x = d->types.ptr[id];
    return &x->pub;
}

const char *hg_dtypes_name(hg_dtypes *d, uint32_t id)
{
    if (id >= d->types.size)
        return NULL;
    struct dtype *x = d->types.ptr[id];
    if (!x->have_name) {
        struct buf b;
        b.n = 0;
        b.over = 0;
        b.s[0] = '\0';
        name_into(d, x->die, &b, 0);
        x->pub.name = strdup(b.over ? "(name too long)" : b.s);
        if (!x->pub.name) {
            hg_fail(HG_ENOMEM, "out of memory");
            return NULL;
        }
        x->have_name = 1;
    }
    return x->pub.name;
}

/* ----------------------------------------------------------- globals */

struct walk {
    hg_dtypes *d;
    uint64_t bias;
    int (*cb)(void *, uint64_t, int, uint32_t);
    void *ctx;
    hg_u64map seen;   /* partial units walked */
    int rc;
};

static void variable(struct walk *w, Dwarf_Die *v)
{
    Dwarf_Attribute a;
    Dwarf_Op *ops;
    size_t nops;
    if (!dwarf_attr(v, DW_AT_location, &a) || dwarf_getlocation(&a, &ops, &nops) != 0)
        return;
    int tls = 0;
    uint64_t where;
    if (nops == 1 && ops[0].atom == DW_OP_addr) {
        where = ops[0].number + w->bias;
    } else if (nops == 2 &&
               (ops[0].atom == DW_OP_const8u || ops[0].atom == DW_OP_const4u ||
                ops[0].atom == DW_OP_constu) &&
               (ops[1].atom == DW_OP_GNU_push_tls_address ||
                ops[1].atom == DW_OP_form_tls_address)) {
        where = ops[0].number; /* the offset in the module's TLS block */
        tls = 1;
    } else {
        return;
    }
    Dwarf_Die type;
    if (ref_die(v, DW_AT_type, &type) != 0)
        return;
    long id = type_id(w->d, type);
    if (id < 0) {
        w->rc = hg_fail(HG_ENOMEM, "out of memory");
        return;
    }
    if (id == HG_DTYPE_NONE)
        return;
    /* only a type with pointers can type anything */
    const hg_dtype *t = hg_dtypes_get(w->d, (uint32_t)id);
    if (!t) {
        w->rc = HG_ENOMEM;
        return;
    }
    if (t->nslots)
        w->rc = w->cb(w->ctx, where, tls, (uint32_t)id);
}

static void walk_scope(struct walk *w, Dwarf_Die *parent, int depth)
{
    Dwarf_Die c;
    if (depth > 32 || dwarf_child(parent, &c) != 0)
        return;
    do {
        switch (dwarf_tag(&c)) {
        case DW_TAG_variable:
            variable(w, &c);
            break;
        case DW_TAG_namespace:
        case DW_TAG_subprogram:
        case DW_TAG_lexical_block:
            /* a function's statics are in its body or its blocks; an
             * inlined copy of a function refers to its statics, whose
             * location is the out-of-line function's */
            walk_scope(w, &c, depth + 1);
            break;
        case DW_TAG_imported_unit: {
            Dwarf_Attribute a;
            Dwarf_Die unit;
            if (dwarf_attr(&c, DW_AT_import, &a) && dwarf_formref_die(&a, &unit) &&
                !hg_u64map_get(&w->seen, (uint64_t)(uintptr_t)unit.addr)) {
                if (hg_u64map_put(&w->seen, (uint64_t)(uintptr_t)unit.addr, 1) != 0)
                    w->rc = hg_fail(HG_ENOMEM, "out of memory");
                else
                    walk_scope(w, &unit, depth + 1);
            }
            break;
        }
        default:
            break;
        }
    } while (w->rc == 0 && dwarf_siblingof(&c, &c) == 0);
}

int hg_dtypes_globals(hg_dtypes *d, hg_module *m, int (*cb)(void *ctx, uint64_t addr, int tls,
                                                            uint32_t type),
                      void *ctx)
{
    Dwarf_Addr bias;
    Dwarf *dw = dwfl_module_getdwarf(hg_module_dwfl(m), &bias);
    if (!dw)
        return HG_ENOTFOUND;
    struct walk w;
    memset(&w, 0, sizeof w);
    w.d = d;
    w.bias = bias;
    w.cb = cb;
    w.ctx = ctx;
    Dwarf_Off off = 0, next;
    size_t hsize;
    Dwarf_Die cu;
    while (w.rc == 0 && dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
        if (dwarf_offdie(dw, off + hsize, &cu))
            walk_scope(&w, &cu, 0);
        off = next;
    }
    hg_u64map_free(&w.seen);
    return w.rc;
}

/* ------------------------------------------------- classes by their names */

struct class_ids {
    hg_dtypes *d;
    uint32_t *ids;
};

static int class_id_found(void *ctx, size_t i, Dwarf_Die *die)
{
    struct class_ids *c = ctx;
    long id = type_id(c->d, *die);
    if (id < 0)
        return hg_fail(HG_ENOMEM, "out of memory");
    c->ids[i] = (uint32_t)id;
    return 1;
}

int hg_dtypes_classes(hg_dtypes *d, hg_module *m, const char *const *names, size_t n,
                      uint32_t *ids)
{
    for (size_t i = 0; i < n; i++)
        ids[i] = HG_DTYPE_NONE;
    struct class_ids c = {d, ids};
    return hg_module_find_classes(m, names, n, class_id_found, &c);
}

/* ------------------------------------------------------ frames' variables */

/* The single-location expression of attribute a at pc (module-relative):
 * its ops, or 0 ops. */
static size_t location_at(Dwarf_Attribute *a, uint64_t pc, Dwarf_Op **ops)
{
    size_t nops = 0;
    if (dwarf_getlocation_addr(a, pc, ops, &nops, 1) != 1)
        return 0;
    return nops;
}

int hg_dtypes_frame_vars(hg_dtypes *d, hg_target *t, uint64_t pc, uint64_t cfa,
                         int (*cb)(void *ctx, uint64_t addr, uint32_t type), void *ctx)
{
    hg_module *m = hg_module_at(t, pc);
    if (!m)
        return HG_ENOTFOUND;
    Dwarf_Addr bias;
    Dwarf_Die *cu = dwfl_module_addrdie(hg_module_dwfl(m), pc, &bias);
    if (!cu)
        return HG_ENOTFOUND;
    Dwarf_Die *scopes = NULL;
    int n = dwarf_getscopes(cu, pc - bias, &scopes);
    if (n <= 0)
        return HG_ENOTFOUND;
    /* The frame's scopes, innermost first, to its real function.  Past an
     * inlined call dwarf_getscopes goes on with the inlined function's
     * abstract scopes (its class, its namespace); the frame goes on with
     * the scopes the call was inlined into, whose variables live in this
     * frame too: those are the inlined call's parents in the tree. */
    enum { MAX_SCOPES = 64 };
    Dwarf_Die chain[MAX_SCOPES];
    int nc = 0, fn = -1;
    for (int i = 0; i < n && fn < 0 && nc < MAX_SCOPES; i++) {
        int tag = dwarf_tag(&scopes[i]);
        chain[nc++] = scopes[i];
        if (tag == DW_TAG_subprogram) {
            fn = nc - 1;
        } else if (tag == DW_TAG_inlined_subroutine) {
            Dwarf_Die *up = NULL;
            int nu = dwarf_getscopes_die(&scopes[i], &up);
            for (int j = 1; j < nu && fn < 0 && nc < MAX_SCOPES; j++) {
                chain[nc++] = up[j];
                if (dwarf_tag(&up[j]) == DW_TAG_subprogram)
                    fn = nc - 1;
            }
            free(up);
            break;
        }
    }
    free(scopes);
    /* the frame base: the real function's; only DW_OP_call_frame_cfa is
     * understood */
    Dwarf_Attribute a;
    Dwarf_Op *ops;
    int rc = 0;
    if (fn < 0 || !dwarf_attr_integrate(&chain[fn], DW_AT_frame_base, &a) ||
        location_at(&a, pc - bias, &ops) != 1 || ops[0].atom != DW_OP_call_frame_cfa)
        return HG_ENOTFOUND;
    for (int i = 0; i <= fn && rc == 0; i++) {
        Dwarf_Die v;
        if (dwarf_child(&chain[i], &v) != 0)
            continue;
        do {
            int tag = dwarf_tag(&v);
            if (tag != DW_TAG_variable && tag != DW_TAG_formal_parameter)
                continue;
            size_t nops;
            Dwarf_Die type;
            if (!dwarf_attr(&v, DW_AT_location, &a) ||
                (nops = location_at(&a, pc - bias, &ops)) != 1 || ops[0].atom != DW_OP_fbreg ||
                ref_die(&v, DW_AT_type, &type) != 0)
                continue; /* in a register, optimized out, a static (a global's) */
            long id = type_id(d, type);
            if (id < 0) {
                rc = hg_fail(HG_ENOMEM, "out of memory");
                break;
            }
            if (id == HG_DTYPE_NONE)
                continue;
            const hg_dtype *ty = hg_dtypes_get(d, (uint32_t)id);
            if (!ty) {
                rc = HG_ENOMEM;
                break;
            }
            if (ty->nslots)
                rc = cb(ctx, cfa + (uint64_t)(int64_t)ops[0].number, (uint32_t)id);
        } while (rc == 0 && dwarf_siblingof(&v, &v) == 0);
    }
    return rc;
}
