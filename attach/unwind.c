/*
 * unwind.c -- call stacks of a stopped target's threads, and what their
 * addresses mean (function, source line, inlined calls).
 *
 * libdwfl unwinds: CFI from .eh_frame/.debug_frame, with elfutils' x86_64
 * frame-pointer fallback where there is none.  It asks for memory one word
 * at a time; those words come from a per-sample page cache over the
 * target's bulk reader (one process_vm_readv per stack page, not one
 * ptrace call per word), and the initial registers from the stop.
 *
 * Symbolizing happens after the target is resumed: addresses are turned
 * into frames once and cached for the life of the target (a profile asks
 * about the same few hundred addresses thousands of times).
 */
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach/target.h"
#include "attach/unwind.h"
#include "lib/error.h"

/* ------------------------------------------------------------ page cache */

#define CACHE_PAGES 256 /* direct-mapped; a deep stack touches a few dozen */

struct page {
    uint64_t addr;      /* page address + 1; 0 = empty */
    int ok;
    unsigned char data[4096];
};

struct hg_unwinder {
    hg_target *t;
    Dwfl *dwfl;
    int attached;
    struct page *pages;
    uint64_t reads;     /* bulk reads made (for the docs' figures) */
};

static int cached_word(struct hg_unwinder *u, uint64_t addr, uint64_t *out)
{
    uint64_t page = addr & ~4095ull;
    if ((addr & 4095) > 4096 - 8) { /* straddles two pages */
        uint64_t lo, hi;
        unsigned shift = (unsigned)(addr & 7) * 8;
        if (!cached_word(u, addr & ~7ull, &lo) || !cached_word(u, (addr & ~7ull) + 8, &hi))
            return 0;
        *out = (lo >> shift) | (hi << (64 - shift));
        return 1;
    }
    struct page *p = &u->pages[(page >> 12) % CACHE_PAGES];
    if (p->addr != page + 1) {
        p->addr = page + 1;
        p->ok = u->t->ops->read(u->t, page, p->data, sizeof p->data) == (long)sizeof p->data;
        u->reads++;
    }
    if (!p->ok)
        return 0;
    memcpy(out, p->data + (addr & 4095), 8);
    return 1;
}

/* ------------------------------------------------------ libdwfl callbacks */

/* The thread argument libdwfl passes around is the hg_thread itself, in the
 * stopped target's thread list, so set_initial_registers needs nothing
 * else. */
static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
    (void)dwfl;
    struct hg_unwinder *u = arg;
    hg_thread *prev = *thread_argp;
    size_t i = prev ? (size_t)(prev - u->t->threads) + 1 : 0;
    if (i >= u->t->nthreads)
        return 0;
    *thread_argp = &u->t->threads[i];
    return u->t->threads[i].tid;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
    (void)dwfl;
    struct hg_unwinder *u = arg;
    for (size_t i = 0; i < u->t->nthreads; i++)
        if (u->t->threads[i].tid == tid) {
            *thread_argp = &u->t->threads[i];
            return true;
        }
    return false;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
    (void)dwfl;
    uint64_t v;
    if (!cached_word(arg, addr, &v))
        return false;
    *result = v;
    return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
    const hg_thread *th = thread_arg;
    if (!th->have_regs)
        return false;
    Dwarf_Word regs[17];
    for (int i = 0; i < 17; i++)
        regs[i] = th->regs[i];
    return dwfl_thread_state_registers(thread, 0, 17, regs);
}

static const Dwfl_Thread_Callbacks callbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

struct hg_unwinder *hg_unwinder_new(hg_target *t)
{
    struct hg_unwinder *u = calloc(1, sizeof *u);
    if (!u || !(u->pages = calloc(CACHE_PAGES, sizeof *u->pages))) {
        free(u);
        hg_fail(HG_ENOMEM, "out of memory");
        return NULL;
    }
    u->t = t;
    u->dwfl = hg_target_dwfl(t); /* modules reported while the target runs */
    if (!u->dwfl) {
        hg_unwinder_free(u);
        hg_fail(HG_ENOTFOUND, "cannot read the target's modules: %s", dwfl_errmsg(-1));
        return NULL;
    }
    return u;
}

void hg_unwinder_free(struct hg_unwinder *u)
{
    if (!u)
        return;
    free(u->pages);
    free(u);
}

uint64_t hg_unwinder_reads(const struct hg_unwinder *u) { return u->reads; }

int hg_unwinder_word(struct hg_unwinder *u, uint64_t addr, uint64_t *out)
{
    return cached_word(u, addr, out);
}

void hg_unwinder_forget(struct hg_unwinder *u)
{
    for (size_t i = 0; i < CACHE_PAGES; i++)
        u->pages[i].addr = 0; /* a new stop: memory may have changed */
}

struct collect {
    uint64_t *pcs;
    size_t n, max;
};

static int frame_cb(Dwfl_Frame *frame, void *arg)
{
    struct collect *c = arg;
    Dwarf_Addr pc;
    bool activation;
    if (!dwfl_frame_pc(frame, &pc, &activation))
        return DWARF_CB_ABORT;
    /* A return address points after the call: the call is at pc - 1 (what
     * the source line and inlined frames must describe). */
    if (c->n < c->max)
        c->pcs[c->n++] = activation ? pc : pc - 1;
    return c->n < c->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

int hg_unwind_thread(struct hg_unwinder *u, size_t ti, uint64_t *pcs, size_t max, size_t *n,
                     const char **why)
{
    hg_target *t = u->t;
    *n = 0;
    *why = NULL;
    if (!u->attached) {
        /* Once per session: libdwfl keeps the callbacks. */
        if (!dwfl_attach_state(u->dwfl, NULL, t->process_id ? t->process_id : 1, &callbacks, u)) {
            *why = dwfl_errmsg(-1);
            return hg_fail(HG_EINTERNAL, "cannot start unwinding: %s", *why);
        }
        u->attached = 1;
    }
    if (ti == 0)
        hg_unwinder_forget(u);
    if (!t->threads[ti].have_regs) {
        *why = "no registers";
        return 0;
    }
    struct collect c = {pcs, 0, max};
    if (dwfl_getthread_frames(u->dwfl, t->threads[ti].tid, frame_cb, &c) != 0 && c.n < max) {
        int e = dwfl_errno();
        /* The outermost frame ends the walk with "no matching address
         * range" or a zero return address: normal, not an error. */
        if (e && c.n < 2)
            *why = dwfl_errmsg(e);
    }
    *n = c.n;
    return 0;
}

/* ----------------------------------------------------------- symbolizing */

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

/* C++ names demangled with libstdc++'s __cxa_demangle when the process
 * running heapgrab can load it; otherwise shown as they are. */
static char *demangle(const char *name)
{
    static demangle_fn fn;
    static int tried;
    if (!name || name[0] != '_' || name[1] != 'Z')
        return NULL;
    if (!tried) {
        tried = 1;
        fn = (demangle_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "__cxa_demangle");
        if (!fn) {
            void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
            if (h)
                fn = (demangle_fn)(uintptr_t)dlsym(h, "__cxa_demangle");
        }
    }
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

static void add_line(hg_location *loc, char *function, char *file, int line, int start_line,
                     int inlined)
{
    hg_loc_line *nl = realloc(loc->lines, (loc->nlines + 1) * sizeof *nl);
    if (!nl) {
        free(function);
        free(file);
        return;
    }
    loc->lines = nl;
    nl[loc->nlines++] = (hg_loc_line){function, file, line, start_line, inlined};
}

int hg_symbolize(hg_target *t, uint64_t pc, hg_location *loc)
{
    memset(loc, 0, sizeof *loc);
    loc->pc = pc;
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
        add_line(loc, dup_name(n ? n : sname), absolute(cu, at_file), at_line, decl_line(d),
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
        add_line(loc, sname ? dup_name(sname) : NULL, absolute(cu, file), line, 0, 0);
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
