/*
 * dwarf_layout.c -- the layout of a struct (its size, its members'
 * offsets) as a module's DWARF describes it: how malloc's own structs are
 * read when libc has debug information; and the sizes of C++ classes by
 * their qualified names, which say whether a chunk can hold one.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdlib.h>
#include <string.h>

#include "lib/error.h"
#include "lib/hashmap.h"
#include "target/target.h"
#include "target/modules.h"

/* Search the top level of one CU for a complete struct definition. */
static int find_struct_in_cu(Dwarf_Die *cu, const char *name, Dwarf_Die *out)
{
    Dwarf_Die child;
    if (dwarf_child(cu, &child) != 0)
        return 0;
    do {
        if (dwarf_tag(&child) == DW_TAG_structure_type && dwarf_hasattr(&child, DW_AT_name) &&
            !dwarf_hasattr(&child, DW_AT_declaration)) {
            const char *n = dwarf_diename(&child);
            if (n && strcmp(n, name) == 0) {
                *out = child;
                return 1;
            }
        }
    } while (dwarf_siblingof(&child, &child) == 0);
    return 0;
}

int hg_module_struct(hg_module *m, const char *struct_name, size_t *size,
                     const char *const *members, long *offsets, size_t n)
{
    Dwarf_Addr bias;
    Dwarf *dw = dwfl_module_getdwarf(hg_module_dwfl(m), &bias);
    if (!dw)
        return HG_ENOTFOUND;
    Dwarf_Die type, cudie;
    int found = 0;
    /* malloc's own compilation unit describes all of malloc's structs:
     * look there first, then everywhere. */
    uint64_t addr;
    if (hg_module_symbol(m, "__libc_malloc", &addr, NULL, NULL) == 0) {
        Dwarf_Die *cu = dwfl_module_addrdie(hg_module_dwfl(m), addr, &bias);
        if (cu)
            found = find_struct_in_cu(cu, struct_name, &type);
    }
    Dwarf_Off off = 0, next;
    size_t hsize;
    while (!found && dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
        if (dwarf_offdie(dw, off + hsize, &cudie))
            found = find_struct_in_cu(&cudie, struct_name, &type);
        off = next;
    }
    if (!found)
        return HG_ENOTFOUND;
    if (size) {
        int bs = dwarf_bytesize(&type);
        *size = bs > 0 ? (size_t)bs : 0;
    }
    for (size_t i = 0; i < n; i++)
        offsets[i] = -1;
    Dwarf_Die member;
    if (dwarf_child(&type, &member) != 0)
        return 0;
    do {
        if (dwarf_tag(&member) != DW_TAG_member)
            continue;
        const char *mn = dwarf_diename(&member);
        Dwarf_Attribute attr;
        Dwarf_Word loc;
        if (!mn || !dwarf_attr(&member, DW_AT_data_member_location, &attr) ||
            dwarf_formudata(&attr, &loc) != 0)
            continue;
        for (size_t i = 0; i < n; i++)
            if (strcmp(members[i], mn) == 0)
                offsets[i] = (long)loc;
    } while (dwarf_siblingof(&member, &member) == 0);
    return 0;
}

/* ------------------------------------------------- classes by their names */

struct class_walk {
    int (*visit)(void *ctx, const char *path, const char *name, Dwarf_Die *die);
    void *ctx;
    hg_u64map seen;        /* partial units already walked (imported by many) */
    char path[4096];       /* the qualified name of the scope being walked */
    int rc;                /* <0 an error, 1 stopped */
};

/* The classes under parent; plen is the length of parent's own name in
 * w->path. */
static void class_scope(struct class_walk *w, Dwarf_Die *parent, size_t plen, int depth)
{
    Dwarf_Die d;
    if (depth > 32 || dwarf_child(parent, &d) != 0)
        return;
    do {
        int tag = dwarf_tag(&d);
        if (tag == DW_TAG_imported_unit) {
            /* dwz moved shared types into partial units, imported where used */
            Dwarf_Attribute attr;
            Dwarf_Die unit;
            if (dwarf_attr(&d, DW_AT_import, &attr) && dwarf_formref_die(&attr, &unit) &&
                !hg_u64map_get(&w->seen, (uint64_t)(uintptr_t)unit.addr)) {
                if (hg_u64map_put(&w->seen, (uint64_t)(uintptr_t)unit.addr, 1) != 0)
                    w->rc = hg_fail(HG_ENOMEM, "out of memory");
                else
                    class_scope(w, &unit, plen, depth + 1);
            }
            continue;
        }
        if (tag != DW_TAG_namespace && tag != DW_TAG_class_type && tag != DW_TAG_structure_type &&
            tag != DW_TAG_union_type)
            continue;
        const char *name = dwarf_diename(&d);
        if (!name && tag == DW_TAG_namespace)
            name = "(anonymous namespace)";
        size_t len = name ? strlen(name) : 0;
        if (!name || plen + 2 + len >= sizeof w->path)
            continue;
        size_t at = plen;
        if (plen) {
            memcpy(w->path + at, "::", 2);
            at += 2;
        }
        memcpy(w->path + at, name, len + 1);
        if (tag != DW_TAG_namespace && !dwarf_hasattr(&d, DW_AT_declaration))
            w->rc = w->visit(w->ctx, w->path, name, &d);
        if (w->rc == 0 && tag != DW_TAG_union_type)
            class_scope(w, &d, at + len, depth + 1);
        w->path[plen] = '\0';
    } while (w->rc == 0 && dwarf_siblingof(&d, &d) == 0);
}

int hg_dwarf_each_class(Dwarf *dw,
                        int (*visit)(void *ctx, const char *path, const char *name, Dwarf_Die *die),
                        void *ctx)
{
    struct class_walk w;
    memset(&w, 0, sizeof w);
    w.visit = visit;
    w.ctx = ctx;
    Dwarf_Off off = 0, next;
    size_t hsize;
    Dwarf_Die cu;
    while (w.rc == 0 && dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
        if (dwarf_offdie(dw, off + hsize, &cu)) {
            w.path[0] = '\0';
            class_scope(&w, &cu, 0, 0);
        }
        off = next;
    }
    hg_u64map_free(&w.seen);
    return w.rc < 0 ? w.rc : 0;
}

struct class_search {
    const char *const *names;
    uint8_t *done;
    size_t left;
    int (*found)(void *ctx, size_t i, Dwarf_Die *die);
    void *ctx;
    hg_u64map by_hash;     /* hash of a name -> its index (the next key on a clash) */
};

static uint64_t hash_name(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return hg_hash64(h);
}

static int class_found(void *ctx, const char *path, const char *name, Dwarf_Die *d)
{
    struct class_search *q = ctx;
    (void)name;
    if (dwarf_tag(d) == DW_TAG_union_type)
        return 0;
    uint64_t key = hash_name(path);
    for (const uint64_t *v; (v = hg_u64map_get(&q->by_hash, key)) != NULL; key++)
        if (strcmp(q->names[*v], path) == 0) {
            if (q->done[*v])
                return 0;
            int r = q->found(q->ctx, *v, d);
            if (r < 0)
                return r;
            if (r > 0) {
                q->done[*v] = 1;
                q->left--;
            }
            return q->left ? 0 : 1;
        }
    return 0;
}

int hg_module_find_classes(hg_module *m, const char *const *names, size_t n,
                           int (*found)(void *ctx, size_t i, Dwarf_Die *die), void *ctx)
{
    Dwarf_Addr bias;
    Dwarf *dw = n ? dwfl_module_getdwarf(hg_module_dwfl(m), &bias) : NULL;
    if (!dw)
        return n ? HG_ENOTFOUND : 0;
    struct class_search q;
    memset(&q, 0, sizeof q);
    q.names = names;
    q.left = n;
    q.found = found;
    q.ctx = ctx;
    if (!(q.done = calloc(n, 1)))
        return hg_fail(HG_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint64_t key = hash_name(names[i]);
        while (hg_u64map_get(&q.by_hash, key))
            key++;
        if (hg_u64map_put(&q.by_hash, key, i) != 0)
            rc = hg_fail(HG_ENOMEM, "out of memory");
    }
    if (rc == 0)
        rc = hg_dwarf_each_class(dw, class_found, &q);
    hg_u64map_free(&q.by_hash);
    free(q.done);
    return rc;
}

/* ------------------------------------------- sizes of classes by name */

/* A definition with a size settles its name (a declaration's copy has none). */
static int size_found(void *ctx, size_t i, Dwarf_Die *die)
{
    int bs = dwarf_bytesize(die);
    if (bs <= 0)
        return 0;
    ((uint64_t *)ctx)[i] = (uint64_t)bs;
    return 1;
}

int hg_module_type_sizes(hg_module *m, const char *const *names, size_t n, uint64_t *sizes)
{
    for (size_t i = 0; i < n; i++)
        sizes[i] = 0;
    return hg_module_find_classes(m, names, n, size_found, sizes);
}
