/*
 * unwind.c -- call stacks of a stopped target's threads.
 *
 * The stop copies each thread's registers and live stack (capture.c: one
 * bulk read for all of them) and the walks happen after the target is
 * resumed, on those copies.  A walk first tries CFA rules cached per pc
 * (fast_walk); libdwfl's unwinder (CFI from .eh_frame/.debug_frame, with
 * elfutils' x86_64 frame-pointer fallback) takes any thread those cannot
 * do.  What the addresses mean is target/symbolize.c's.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/target.h"
#include "stacks/capture.h"
#include "stacks/unwind.h"
#include "lib/error.h"
#include "lib/array.h"
#include "lib/hashmap.h"

struct rule;

struct hg_unwinder {
    hg_target *t;
    Dwfl *dwfl;
    int attached;
    hg_stack_copies copies;     /* the last stop's threads */
    const hg_thread_copy *cur;  /* the thread being unwound */
    int ran_off;                /* cur's walk wanted stack beyond the copy */
    hg_u64map rule_of_pc;       /* the fast walk's rules: pc -> index in rules */
    struct rule *rules;
    size_t nrules, caprules;
    uint64_t fast, slow;        /* threads walked each way */
};

/* A word of th's stack copy (1), or 0 if it is outside the copy. */
static int copied_word(struct hg_unwinder *u, const hg_thread_copy *th, uint64_t addr,
                       uint64_t *out)
{
    int r = hg_copy_word(&u->copies, th, addr, out);
    if (r < 0)
        u->ran_off = 1;
    return r > 0;
}

/* ------------------------------------------------------ libdwfl callbacks */

/* The thread argument libdwfl passes around is the thread's copy, so
 * set_initial_registers needs nothing else. */
static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
    (void)dwfl;
    struct hg_unwinder *u = arg;
    hg_thread_copy *prev = *thread_argp;
    size_t i = prev ? (size_t)(prev - u->copies.threads) + 1 : 0;
    if (i >= u->copies.n)
        return 0;
    *thread_argp = &u->copies.threads[i];
    return u->copies.threads[i].tid;
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
    const hg_thread_copy *c = thread_arg;
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
    u->copies.max_copy = max_copy ? max_copy : HG_STACK_COPY_PROFILE;
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
    hg_stack_copies_free(&u->copies);
    hg_u64map_free(&u->rule_of_pc);
    free(u->rules);
    free(u);
}

uint64_t hg_unwinder_copied(const struct hg_unwinder *u) { return u->copies.copied; }
void hg_unwinder_walks(const struct hg_unwinder *u, uint64_t *fast, uint64_t *dwfl)
{
    *fast = u->fast;
    *dwfl = u->slow;
}
size_t hg_unwinder_count(const struct hg_unwinder *u) { return u->copies.n; }
int hg_unwinder_tid(const struct hg_unwinder *u, size_t i)
{
    return i < u->copies.n ? u->copies.threads[i].tid : 0;
}

int hg_unwinder_word(struct hg_unwinder *u, size_t i, uint64_t addr, uint64_t *out)
{
    return i < u->copies.n && hg_copy_word(&u->copies, &u->copies.threads[i], addr, out) > 0;
}

const uint64_t *hg_unwinder_regs(const struct hg_unwinder *u, size_t i)
{
    return i < u->copies.n && u->copies.threads[i].have_regs ? u->copies.threads[i].regs : NULL;
}

int hg_unwinder_capture(struct hg_unwinder *u)
{
    u->cur = NULL;
    return hg_copy_stacks(&u->copies, u->t);
}

int hg_unwinder_capture_from(struct hg_unwinder *u, hg_target *copy)
{
    u->cur = NULL;
    return hg_copy_stacks(&u->copies, copy);
}

struct collect {
    uint64_t *pcs;
    uint64_t *sps; /* or NULL */
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
    if (c->n < c->max) {
        if (c->sps) {
            Dwarf_Word sp = 0;
            c->sps[c->n] = dwfl_frame_reg(frame, 7, &sp) == 0 ? sp : 0;
        }
        c->pcs[c->n++] = activation ? pc : pc - 1;
    }
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

/* The rule for pc, looked up the first time; NULL when out of memory.
 * Valid until the next call. */
static const struct rule *rule_for(struct hg_unwinder *u, uint64_t pc)
{
    const uint64_t *known = hg_u64map_get(&u->rule_of_pc, pc);
    if (known)
        return &u->rules[*known];
    if (hg_array_reserve_((void **)&u->rules, &u->caprules, sizeof *u->rules, u->nrules + 1) != 0 ||
        hg_u64map_put(&u->rule_of_pc, pc, u->nrules) != 0)
        return NULL;
    struct rule *r = &u->rules[u->nrules++];
    /* As libdwfl looks: .eh_frame, then .debug_frame. */
    memset(r, 0, sizeof *r);
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
    return r;
}

/* The fast walk of cap: 1 done, 0 leave it to libdwfl. */
static int fast_walk(struct hg_unwinder *u, const hg_thread_copy *cap, uint64_t *pcs,
                     uint64_t *sps, size_t max, size_t *n)
{
    uint64_t pc = cap->regs[16], sp = cap->regs[7], bp = cap->regs[6];
    int bp_known = 1, activation = 1;
    *n = 0;
    while (*n < max) {
        uint64_t at = activation ? pc : pc - 1;
        if (sps)
            sps[*n] = sp;
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

static int unwind_dwfl(struct hg_unwinder *u, size_t ti, uint64_t *pcs, uint64_t *sps,
                       size_t max, size_t *n, const char **why);

int hg_unwind_thread_sps(struct hg_unwinder *u, size_t ti, uint64_t *pcs, uint64_t *sps,
                         size_t max, size_t *n, const char **why)
{
    *n = 0;
    *why = NULL;
    if (ti >= u->copies.n)
        return hg_fail(HG_EINTERNAL, "unwind: no thread %zu in the last capture", ti);
    const hg_thread_copy *cap = &u->copies.threads[ti];
    if (cap->have_regs && max > 0) {
        u->ran_off = 0;
        if (fast_walk(u, cap, pcs, sps, max, n)) {
            u->fast++;
            return 0;
        }
        *n = 0;
    }
    u->slow++;
    return unwind_dwfl(u, ti, pcs, sps, max, n, why);
}

int hg_unwind_thread(struct hg_unwinder *u, size_t ti, uint64_t *pcs, size_t max, size_t *n,
                     const char **why)
{
    return hg_unwind_thread_sps(u, ti, pcs, NULL, max, n, why);
}

int hg_unwind_thread_dwfl(struct hg_unwinder *u, size_t ti, uint64_t *pcs, size_t max,
                          size_t *n, const char **why)
{
    return unwind_dwfl(u, ti, pcs, NULL, max, n, why);
}

static int unwind_dwfl(struct hg_unwinder *u, size_t ti, uint64_t *pcs, uint64_t *sps,
                       size_t max, size_t *n, const char **why)
{
    hg_target *t = u->t;
    *n = 0;
    *why = NULL;
    if (ti >= u->copies.n)
        return hg_fail(HG_EINTERNAL, "unwind: no thread %zu in the last capture", ti);
    if (!u->attached) {
        /* Once per session: libdwfl keeps the callbacks. */
        if (!dwfl_attach_state(u->dwfl, NULL, t->process_id ? t->process_id : 1, &callbacks, u)) {
            *why = dwfl_errmsg(-1);
            return hg_fail(HG_EINTERNAL, "cannot start unwinding: %s", *why);
        }
        u->attached = 1;
    }
    const hg_thread_copy *cap = &u->copies.threads[ti];
    if (!cap->have_regs) {
        *why = "no registers";
        return 0;
    }
    u->cur = cap;
    u->ran_off = 0;
    struct collect c = {pcs, sps, 0, max};
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
