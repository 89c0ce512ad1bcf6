/*
 * dwarf_layout.c -- the layout of a struct (its size, its members'
 * offsets) as a module's DWARF describes it: how malloc's own structs are
 * read when libc has debug information.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <string.h>

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
