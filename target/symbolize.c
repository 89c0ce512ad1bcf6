/*
 * symbolize.c -- what an address of a target means: its module, function,
 * source line and, for inlined calls, one entry per level.
 *
 * This happens with the target running (after a profile, or a stop), and
 * only once per distinct address: a profile asks about the same few
 * hundred addresses thousands of times, and its sampler keeps what this
 * gives.
 */
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/symbolize.h"
#include "lib/array.h"

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

/* C++ names demangled with libstdc++'s __cxa_demangle when the process
 * running heapgrab can load it; otherwise shown as they are. */
static demangle_fn demangler(void)
{
    static demangle_fn fn;
    static int tried;
    if (!tried) {
        tried = 1;
        fn = (demangle_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "__cxa_demangle");
        if (!fn) {
            void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
            if (h)
                fn = (demangle_fn)(uintptr_t)dlsym(h, "__cxa_demangle");
        }
    }
    return fn;
}

static char *demangle(const char *name)
{
    if (!name || name[0] != '_' || name[1] != 'Z')
        return NULL;
    demangle_fn fn = demangler();
    if (!fn)
        return NULL;
    int status = -1;
    char *out = fn(name, NULL, NULL, &status);
    if (status != 0) {
        free(out);
        return NULL;
    }
    return out;
}

char *hg_demangle_type(const char *mangling)
{
    demangle_fn fn = demangler();
    if (!mangling || !mangling[0])
        return NULL;
    if (!fn)
        return strdup(mangling);
    /* __cxa_demangle takes a bare type mangling as a type ("i" is "int"),
     * and a "_Z" one as a function or object: a type is asked for */
    if (mangling[0] == '_' && mangling[1] == 'Z')
        return NULL;
    int status = -1;
    char *out = fn(mangling, NULL, NULL, &status);
    if (status != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static char *dup_name(const char *raw)
{
    char *d = demangle(raw);
    return d ? d : strdup(raw ? raw : "");
}

static const char *die_name(Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
    if (!n)
        n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
    if (!n)
        n = dwarf_diename(die);
    if (!n && dwarf_attr_integrate(die, DW_AT_name, &attr))
        n = dwarf_formstring(&attr);
    return n;
}

static int decl_line(Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    Dwarf_Word w;
    if (dwarf_formudata(dwarf_attr_integrate(die, DW_AT_decl_line, &attr), &w) == 0)
        return (int)w;
    return 0;
}

/* File name of a DW_AT_call_file index in the CU. */
static const char *call_file(Dwarf_Die *cu, Dwarf_Die *inl)
{
    Dwarf_Attribute attr;
    Dwarf_Word idx;
    Dwarf_Files *files;
    size_t nfiles;
    if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &attr), &idx) != 0 ||
        dwarf_getsrcfiles(cu, &files, &nfiles) != 0 || idx >= nfiles)
        return NULL;
    return dwarf_filesrc(files, idx, NULL, NULL);
}

static int call_line(Dwarf_Die *inl)
{
    Dwarf_Attribute attr;
    Dwarf_Word w;
    return dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &attr), &w) == 0 ? (int)w : 0;
}

/* A file name from the line table is relative to the compilation
 * directory when the compiler was given a relative path. */
static char *absolute(Dwarf_Die *cu, const char *file)
{
    if (!file)
        return NULL;
    Dwarf_Attribute attr;
    const char *dir = cu && file[0] != '/' ? dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr))
                                           : NULL;
    if (!dir)
        return strdup(file);
    char *out = malloc(strlen(dir) + strlen(file) + 2);
    if (out)
        sprintf(out, "%s/%s", dir, file);
    return out;
}

/* One more level (innermost first); cap is loc->lines' room.  Out of
 * memory, the location has fewer levels. */
static void add_line(hg_location *loc, size_t *cap, char *function, char *file, int line,
                     int start_line, int inlined)
{
    if (hg_array_reserve_((void **)&loc->lines, cap, sizeof *loc->lines, loc->nlines + 1) != 0) {
        free(function);
        free(file);
        return;
    }
    loc->lines[loc->nlines++] = (hg_loc_line){function, file, line, start_line, inlined};
}

int hg_symbolize(hg_target *t, uint64_t pc, hg_location *loc)
{
    memset(loc, 0, sizeof *loc);
    loc->pc = pc;
    size_t cap = 0; /* of loc->lines */
    Dwfl *dwfl = hg_target_dwfl(t);
    Dwfl_Module *mod = dwfl ? dwfl_addrmodule(dwfl, pc) : NULL;
    if (!mod)
        return 0;
    Dwarf_Addr start;
    const char *mname = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
    loc->module_start = start;
    const char *path = NULL;
    const char *bid = hg_module_build_id_at(t, pc, &path);
    loc->module = strdup(path ? path : mname ? mname : "");
    loc->build_id = bid ? strdup(bid) : NULL;

    GElf_Off off = 0;
    GElf_Sym sym;
    const char *sname = dwfl_module_addrinfo(mod, pc, &off, &sym, NULL, NULL, NULL);
    loc->offset = sname ? off : 0;

    /* Source line of pc itself. */
    const char *file = NULL;
    int line = 0;
    Dwfl_Line *dl = dwfl_module_getsrc(mod, pc);
    if (dl)
        file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);

    /* Inlined calls, innermost first.  dwarf_getscopes gives the scopes of
     * pc; from an inlined subroutine on, the scopes that physically hold
     * it (its caller) come from dwarf_getscopes_die on that DIE.  Each
     * level is a frame at the line of pc (innermost) or of the call it
     * makes to the level inside it. */
    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, pc, &bias);
    Dwarf_Die *scopes = NULL;
    int nscopes = cu ? dwarf_getscopes(cu, pc - bias, &scopes) : 0;
    const char *at_file = file;
    int at_line = line, i = 0;
    for (int depth = 0; depth < 64 && scopes; depth++) {
        while (i < nscopes && dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine &&
               dwarf_tag(&scopes[i]) != DW_TAG_subprogram)
            i++;
        if (i >= nscopes)
            break;
        Dwarf_Die die = scopes[i], origin, *d = &die;
        int tag = dwarf_tag(&die);
        Dwarf_Attribute attr;
        if (dwarf_attr(&die, DW_AT_abstract_origin, &attr) && dwarf_formref_die(&attr, &origin))
            d = &origin;
        const char *n = die_name(d);
        add_line(loc, &cap, dup_name(n ? n : sname), absolute(cu, at_file), at_line, decl_line(d),
                 tag == DW_TAG_inlined_subroutine);
        if (tag != DW_TAG_inlined_subroutine)
            break;
        at_file = call_file(cu, &die);
        at_line = call_line(&die);
        Dwarf_Die *outer = NULL;
        int nouter = dwarf_getscopes_die(&die, &outer);
        free(scopes);
        scopes = outer;
        nscopes = nouter;
        i = 1; /* outer[0] is the inlined instance itself */
    }
    free(scopes);
    if (!loc->nlines) /* no DWARF: the symbol table's name */
        add_line(loc, &cap, sname ? dup_name(sname) : NULL, absolute(cu, file), line, 0, 0);
    return 0;
}

void hg_location_free(hg_location *loc)
{
    for (size_t i = 0; i < loc->nlines; i++) {
        free(loc->lines[i].function);
        free(loc->lines[i].file);
    }
    free(loc->lines);
    free(loc->module);
    free(loc->build_id);
    memset(loc, 0, sizeof *loc);
}
