/*
 * unwind.c -- call stacks of a stopped target's threads, and what their
 * addresses mean (function, source line, inlined calls).
 *
 * The stop copies each thread's registers and live stack (one bulk read
 * for all of them) and the walks happen after the target is resumed, on
 * those copies.  A walk first tries CFA rules cached per pc (fast_walk);
 * libdwfl's unwinder (CFI from .eh_frame/.debug_frame, with elfutils'
 * x86_64 frame-pointer fallback) takes any thread those cannot do.
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

#include "target/target.h"
#include "stacks/unwind.h"
#include "lib/error.h"

/* ----------------------------------------------------------- stack copies */

/* Red zone: a leaf function may keep data in the 128 bytes below rsp. */
#define RED_ZONE 128
/* Where the stack's mapping is not known (a thread born after the mappings
 * were read), copy this much and take what is readable. */
#define UNKNOWN_STACK (64 * 1024)

/* One thread as the stop found it: registers and the live part of its
 * stack, [base, base + len), at data_off in u->buf. */
struct capture {
    int tid;
    int have_regs;
    uint64_t regs[17];
    uint64_t base;
    size_t len, data_off;
    uint64_t map_end;   /* end of the memory the stack is in (or base + len) */
    int unknown_map;    /* no known mapping holds the stack pointer */
};

struct hg_unwinder {
    hg_target *t;
    Dwfl *dwfl;
    int attached;
    size_t max_copy;        /* bytes of stack copied per thread, at most */
    struct capture *caps;   /* the last stop's threads */
    size_t ncaps, capcaps;
    unsigned char *buf;     /* their stack bytes */
    size_t buflen, bufcap;
    hg_span *spans;         /* the reads that fill buf */
    const struct capture *cur;  /* the thread being unwound */
    int ran_off;            /* cur's walk wanted stack beyond the copy */
    uint64_t copied;        /* stack bytes copied, over all stops */
    struct rule *rules;     /* the fast walk's rules, by pc (open addressing) */
    size_t nrules, rule_slots;
    uint64_t fast, slow;    /* threads walked each way */
};

/* A word of cur's stack copy (1), or 0 if it is outside the copy. */
static int copied_word(struct hg_unwinder *u, const struct capture *c, uint64_t addr,
                       uint64_t *out)
{
    if (addr < c->base || addr - c->base > c->len || c->len - (addr - c->base) < 8) {
        if (addr >= c->base + c->len && addr < c->map_end)
            u->ran_off = 1;
        return 0;
    }
    memcpy(out, u->buf + c->data_off + (addr - c->base), 8);
    return 1;
}

static int grow_buf(struct hg_unwinder *u, size_t need)
{
    if (need <= u->bufcap)
        return 0;
    size_t cap = u->bufcap ? u->bufcap : 256 * 1024;
    while (cap < need)
        cap *= 2;
    unsigned char *b = realloc(u->buf, cap);
    if (!b)
        return hg_fail(HG_ENOMEM, "out of memory");
    u->buf = b;
    u->bufcap = cap;
    return 0;
}

/* ------------------------------------------------------ libdwfl callbacks */

/* The thread argument libdwfl passes around is the thread's capture, so
 * set_initial_registers needs nothing else. */
static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
    (void)dwfl;
    struct hg_unwinder *u = arg;
    struct capture *prev = *thread_argp;
    size_t i = prev ? (size_t)(prev - u->caps) + 1 : 0;
    if (i >= u->ncaps)
        return 0;
    *thread_argp = &u->caps[i];
    return u->caps[i].tid;
}

/* Only the thread being unwound is asked for (hg_unwind_thread). */
static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
    (void)dwfl;
    struct hg_unwinder *u = arg;
    if (!u->cur || u->cur->tid != tid)
        return false;
    *thread_argp = (void *)u->cur;
    return true;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
    (void)dwfl;
    struct hg_unwinder *u = arg;
    uint64_t v;
    if (!u->cur || !copied_word(u, u->cur, addr, &v))
        return false;
    *result = v;
    return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
    const struct capture *c = thread_arg;
    if (!c->have_regs)
        return false;
    Dwarf_Word regs[17];
    for (int i = 0; i < 17; i++)
        regs[i] = c->regs[i];
    return dwfl_thread_state_registers(thread, 0, 17, regs);
}

static const Dwfl_Thread_Callbacks callbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
};

struct hg_unwinder *hg_unwinder_new(hg_target *t, size_t max_copy)
{
    struct hg_unwinder *u = calloc(1, sizeof *u);
    if (!u) {
        hg_fail(HG_ENOMEM, "out of memory");
        return NULL;
    }
    u->t = t;
    u->max_copy = max_copy ? max_copy : HG_STACK_COPY_PROFILE;
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
    free(u->caps);
    free(u->rules);
    free(u->spans);
    free(u->buf);
    free(u);
}

uint64_t hg_unwinder_copied(const struct hg_unwinder *u) { return u->copied; }
void hg_unwinder_walks(const struct hg_unwinder *u, uint64_t *fast, uint64_t *dwfl)
{
    *fast = u->fast;
    *dwfl = u->slow;
}
size_t hg_unwinder_count(const struct hg_unwinder *u) { return u->ncaps; }
int hg_unwinder_tid(const struct hg_unwinder *u, size_t i) { return i < u->ncaps ? u->caps[i].tid : 0; }

int hg_unwinder_word(struct hg_unwinder *u, size_t i, uint64_t addr, uint64_t *out)
{
    return i < u->ncaps && copied_word(u, &u->caps[i], addr, out);
}

const uint64_t *hg_unwinder_regs(const struct hg_unwinder *u, size_t i)
{
    return i < u->ncaps && u->caps[i].have_regs ? u->caps[i].regs : NULL;
}

/*
 * The stop's part: registers and the live stack of every thread, from the
 * stack pointer (less the red zone) to the end of the mapping it is in,
 * which for a thread's stack is its outermost frame and for the main
 * thread's the environment above it; at most max_copy.  That is all a CFI
 * or frame-pointer walk reads, so the walk can wait until the target runs
 * again: unwinding 18 threads with libdwfl inside the stop took 0.1-0.2
 * ms; copying them takes 0.03 ms.  A walk that wants stack above the copy
 * stops there, and says so.
 */
int hg_unwinder_capture(struct hg_unwinder *u)
{
    hg_target *t = u->t;
    u->ncaps = 0;
    u->buflen = 0;
    u->cur = NULL;
    if (t->nthreads > u->capcaps) {
        struct capture *c = realloc(u->caps, t->nthreads * sizeof *c);
        hg_span *sp = realloc(u->spans, t->nthreads * sizeof *sp);
        if (c)
            u->caps = c;
        if (sp)
            u->spans = sp;
        if (!c || !sp)
            return hg_fail(HG_ENOMEM, "out of memory");
        u->capcaps = t->nthreads;
    }
    /* Where each stack is, then one read for all of them. */
    size_t nspans = 0;
    for (size_t i = 0; i < t->nthreads; i++) {
        const hg_thread *th = &t->threads[i];
        struct capture *c = &u->caps[u->ncaps++];
        memset(c, 0, sizeof *c);
        c->tid = th->tid;
        c->have_regs = th->have_regs;
        memcpy(c->regs, th->regs, sizeof c->regs);
        if (!th->have_regs)
            continue;
        uint64_t sp = th->regs[7];
        const hg_mapping *m = hg_find_mapping(t, sp);
        uint64_t lo = sp, hi;
        if (m) {
            lo = sp - m->start >= RED_ZONE ? sp - RED_ZONE : m->start;
            hi = m->end;
        } else {
            hi = sp + UNKNOWN_STACK < sp ? UINT64_MAX : sp + UNKNOWN_STACK;
        }
        c->map_end = hi;
        if (hi - lo > u->max_copy)
            hi = lo + u->max_copy;
        c->base = lo;
        c->data_off = u->buflen;
        c->len = (size_t)(hi - lo); /* asked for; what was read, below */
        c->unknown_map = !m;
        u->buflen += c->len;
        u->spans[nspans++] = (hg_span){.addr = lo, .len = c->len};
    }
    int rc = grow_buf(u, u->buflen);
    if (rc < 0)
        return rc;
    for (size_t i = 0, k = 0; i < u->ncaps; i++)
        if (u->caps[i].have_regs)
            u->spans[k++].buf = u->buf + u->caps[i].data_off;
    if (hg_read_spans(t, u->spans, nspans) < 0)
        return hg_error_code() ? hg_error_code() : HG_EIO;
    for (size_t i = 0, k = 0; i < u->ncaps; i++) {
        struct capture *c = &u->caps[i];
        if (!c->have_regs)
            continue;
        size_t got = u->spans[k++].got;
        if (c->unknown_map && got < c->len)
            c->map_end = c->base + got; /* what could be read is all there is */
        c->len = got;
        u->copied += got;
    }
    return 0;
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

const char hg_unwind_cut[] = "stack deeper than the part copied at the stop";

/* ------------------------------------------------------------- fast walk */

/*
 * Almost every frame of x86_64 code has CFI of one shape: the CFA is rsp or
 * rbp plus a constant, the return address is saved at a constant offset
 * from the CFA, and rbp is either untouched or saved likewise.  Those three
 * facts are looked up once per pc (through libdw, as libdwfl would) and
 * kept; a frame then costs a hash lookup and two reads of the copy, where
 * libdwfl recomputes every register of every frame (5 us a thread here).
 * Anything else -- an expression, a signal frame, no CFI, rbp needed but
 * lost, a read outside the copy -- sends the whole thread to libdwfl, so
 * the frames are always libdwfl's; bench/unwinders checks that they are.
 */
enum { RULE_SIMPLE = 1, RULE_END, RULE_OTHER }; /* END: the outermost frame */

struct rule {
    uint64_t pc;              /* the pc looked up, + 1 (0: empty slot) */
    int kind;
    int cfa_reg;              /* 7 rsp, 6 rbp */
    int64_t cfa_off, ra_off;
    int rbp_kind;             /* 0 unchanged, 1 saved at CFA + rbp_off, 2 lost */
    int64_t rbp_off;
};

/* A register's rule: 0 same value, 1 at CFA + *off, 2 undefined, -1 other. */
static int reg_rule(Dwarf_Frame *f, int regno, int64_t *off)
{
    Dwarf_Op mem[3], *ops;
    size_t nops;
    if (dwarf_frame_register(f, regno, mem, &ops, &nops) != 0)
        return -1;
    if (nops == 0)
        return ops == NULL ? 0 : 2;
    if (ops[0].atom != DW_OP_call_frame_cfa)
        return -1;
    if (nops == 1) {
        *off = 0;
        return 1;
    }
    if (nops == 2 && ops[1].atom == DW_OP_plus_uconst) {
        *off = (int64_t)ops[1].number;
        return 1;
    }
    return -1;
}

static void rule_from_cfi(Dwarf_CFI *cfi, Dwarf_Addr addr, struct rule *r)
{
    Dwarf_Frame *f;
    if (!cfi || dwarf_cfi_addrframe(cfi, addr, &f) != 0)
        return;
    Dwarf_Op *ops;
    size_t nops;
    bool signal = false;
    Dwarf_Addr lo, hi;
    int64_t off = 0;
    r->kind = RULE_OTHER;
    if (dwarf_frame_info(f, &lo, &hi, &signal) >= 0 && !signal &&
        dwarf_frame_cfa(f, &ops, &nops) == 0 && nops == 1 && ops[0].atom == DW_OP_bregx &&
        (ops[0].number == 7 || ops[0].number == 6)) {
        r->cfa_reg = (int)ops[0].number;
        r->cfa_off = (int64_t)ops[0].number2;
        int ra = reg_rule(f, 16, &off);
        r->ra_off = off;
        r->rbp_kind = reg_rule(f, 6, &r->rbp_off);
        if (ra == 2)
            r->kind = RULE_END; /* the return address is undefined: no caller */
        else if (ra == 1 && r->rbp_kind >= 0)
            r->kind = RULE_SIMPLE;
    }
    free(f);
}

/* The first slot to probe for a key (pc + 1) in a table of n slots. */
static size_t rule_slot(uint64_t key, size_t n)
{
    return (size_t)(key * 0x9e3779b97f4a7c15ull >> 40) & (n - 1);
}

static const struct rule *rule_for(struct hg_unwinder *u, uint64_t pc)
{
    if ((u->nrules + 1) * 2 > u->rule_slots) {
        size_t ns = u->rule_slots ? u->rule_slots * 2 : 1024;
        struct rule *v = calloc(ns, sizeof *v);
        if (!v)
            return NULL;
        for (size_t i = 0; i < u->rule_slots; i++) {
            if (!u->rules[i].pc)
                continue;
            size_t j = rule_slot(u->rules[i].pc, ns);
            while (v[j].pc)
                j = (j + 1) & (ns - 1);
            v[j] = u->rules[i];
        }
        free(u->rules);
        u->rules = v;
        u->rule_slots = ns;
    }
    size_t j = rule_slot(pc + 1, u->rule_slots);
    while (u->rules[j].pc && u->rules[j].pc != pc + 1)
        j = (j + 1) & (u->rule_slots - 1);
    struct rule *r = &u->rules[j];
    if (r->pc)
        return r;
    /* As libdwfl looks: .eh_frame, then .debug_frame. */
    memset(r, 0, sizeof *r);
    r->pc = pc + 1;
    r->kind = RULE_OTHER;
    Dwfl_Module *m = dwfl_addrmodule(u->dwfl, pc);
    if (m) {
        r->kind = 0;
        Dwarf_Addr bias = 0;
        Dwarf_CFI *cfi = dwfl_module_eh_cfi(m, &bias);
        rule_from_cfi(cfi, pc - bias, r);
        if (!r->kind) {
            cfi = dwfl_module_dwarf_cfi(m, &bias);
            rule_from_cfi(cfi, pc - bias, r);
        }
        if (!r->kind)
            r->kind = RULE_OTHER; /* no CFI: libdwfl's frame-pointer fallback */
    }
    u->nrules++;
    return r;
}

/* The fast walk of cap: 1 done, 0 leave it to libdwfl. */
static int fast_walk(struct hg_unwinder *u, const struct capture *cap, uint64_t *pcs, size_t max,
                     size_t *n)
{
    uint64_t pc = cap->regs[16], sp = cap->regs[7], bp = cap->regs[6];
    int bp_known = 1, activation = 1;
    *n = 0;
    while (*n < max) {
        uint64_t at = activation ? pc : pc - 1;
        pcs[(*n)++] = at;
        const struct rule *r = rule_for(u, at);
        if (!r || r->kind == RULE_OTHER)
            return 0;
        if (r->kind == RULE_END)
            return 1;
        if (r->cfa_reg == 6 && !bp_known)
            return 0;
        uint64_t cfa = (r->cfa_reg == 7 ? sp : bp) + (uint64_t)r->cfa_off, ra, saved;
        if (!copied_word(u, cap, cfa + (uint64_t)r->ra_off, &ra))
            return 0;
        if (r->rbp_kind == 1) {
            if (!copied_word(u, cap, cfa + (uint64_t)r->rbp_off, &saved))
                return 0;
            bp = saved;
        } else if (r->rbp_kind == 2) {
            bp_known = 0;
        }
        if (ra == 0)
            return 1; /* libdwfl, too, ends at a zero return address */
        sp = cfa;
        pc = ra;
        activation = 0;
    }
    return 1;
}

int hg_unwind_thread(struct hg_unwinder *u, size_t ti, uint64_t *pcs, size_t max, size_t *n,
                     const char **why)
{
    *n = 0;
    *why = NULL;
    if (ti >= u->ncaps)
        return hg_fail(HG_EINTERNAL, "unwind: no thread %zu in the last capture", ti);
    const struct capture *cap = &u->caps[ti];
    if (cap->have_regs && max > 0) {
        u->ran_off = 0;
        if (fast_walk(u, cap, pcs, max, n)) {
            u->fast++;
            return 0;
        }
        *n = 0;
    }
    u->slow++;
    return hg_unwind_thread_dwfl(u, ti, pcs, max, n, why);
}

int hg_unwind_thread_dwfl(struct hg_unwinder *u, size_t ti, uint64_t *pcs, size_t max,
                          size_t *n, const char **why)
{
    hg_target *t = u->t;
    *n = 0;
    *why = NULL;
    if (ti >= u->ncaps)
        return hg_fail(HG_EINTERNAL, "unwind: no thread %zu in the last capture", ti);
    if (!u->attached) {
        /* Once per session: libdwfl keeps the callbacks. */
        if (!dwfl_attach_state(u->dwfl, NULL, t->process_id ? t->process_id : 1, &callbacks, u)) {
            *why = dwfl_errmsg(-1);
            return hg_fail(HG_EINTERNAL, "cannot start unwinding: %s", *why);
        }
        u->attached = 1;
    }
    const struct capture *cap = &u->caps[ti];
    if (!cap->have_regs) {
        *why = "no registers";
        return 0;
    }
    u->cur = cap;
    u->ran_off = 0;
    struct collect c = {pcs, 0, max};
    /* A read above the copy can end the walk as if the stack ended there
     * (libdwfl then takes the return address as undefined): ran_off tells. */
    if (dwfl_getthread_frames(u->dwfl, cap->tid, frame_cb, &c) != 0 && c.n < max) {
        int e = dwfl_errno();
        /* The outermost frame ends the walk with "no matching address
         * range" or a zero return address: normal, not an error. */
        if (e && c.n < 2)
            *why = dwfl_errmsg(e);
    }
    if (u->ran_off && c.n < max)
        *why = hg_unwind_cut;
    u->cur = NULL;
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
