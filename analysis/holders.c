/*
 * holders.c -- who holds the memory: hg_snapshot_take() with the holders
 * option, and the analysis that fills the snapshot's struct hg_holders
 * (lib/snapshot.h) from what the stop copied (holders_capture.c).
 *
 *   1. (running)  locate glibc's malloc; load the unwinder's modules.
 *   2. (stopped)  the walk, then the copy of the in-use objects, module
 *                 data, stacks, registers and other writable mappings, and
 *                 each thread's stack capture for the unwinder.
 *   3. (running)  the object index; the roots, each named (a global by its
 *                 symbol, a stack frame by its function, a TLS block by its
 *                 variable, a mapping by its range); the graph; leak
 *                 classes; dominators and retained sizes; what the top
 *                 roots reach; leak groups.
 *
 * glibc's own bookkeeping makes no edge: main_arena and mp_ are cut out of
 * libc's data (a bin's link points at a free chunk's header, which is the
 * last word of the object before it), thread arenas' headers lie in the
 * heaps, which are no root, and a tcache_perthread_struct is an object held
 * by its thread's tcache variable whose words are not scanned.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/dominators.h"
#include "analysis/graph.h"
#include "analysis/holders.h"
#include "analysis/holders_capture.h"
#include "analysis/leaks.h"
#include "analysis/objects.h"
#include "analysis/types.h"
#include "lib/clock.h"
#include "lib/error.h"
#include "lib/location.h"
#include "lib/snapshot.h"
#include "stacks/unwind.h"
#include "target/symbolize.h"
#include "target/target.h"
#include "walker/walk.h"

#define MAX_FRAMES 512
#define MAX_DTV 4096
/* Pointer words of a module's data that no symbol covers and that lie
 * closer than this to one another make one root. */
#define UNNAMED_GAP 512u
/* What the top roots reach is computed for this many. */
#define REACH_ROOTS 100
/* Declarations looked up in DWARF for this many top global roots. */
#define DECL_ROOTS 200

struct rootdef {
    hg_root r;                   /* strings owned until moved to the holders */
    uint64_t addr, len;          /* its memory, bytes */
    const unsigned char *bytes;
    unsigned char *own;          /* bytes copied for it alone (TLS) */
    const uint64_t *regs;        /* registers root: 17 words, no address */
    int symbol;                  /* a global named by its symbol */
};

struct build {
    hg_target *t;
    hg_snapshot *s;
    struct hc_capture *c;
    hg_objects o;
    uint8_t *noscan;
    uint8_t *anchored;           /* held by where glibc keeps its start */
    int16_t *arena;              /* each object's arena, -1 mmapped (the
                                    profile's arena label) */
    hg_array(struct rootdef) roots;
};

static char *dupstr(const char *s) { return s ? strdup(s) : NULL; }

/* HG_HOLDERS_DEBUG=1: each thread's frames and TLS blocks, and every
 * register and stack word that points at an object, on stderr -- how to
 * find which stale word makes a block "held by several roots". */
static int debugging(void)
{
    static int on = -1;
    if (on < 0)
        on = getenv("HG_HOLDERS_DEBUG") != NULL;
    return on;
}

static const char *base_name(const char *p)
{
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : p ? p : "?";
}

static struct rootdef *new_root(struct build *b, int kind)
{
    struct rootdef *d = hg_array_push(b->roots);
    if (!d)
        return NULL;
    memset(d, 0, sizeof *d);
    d->r.kind = kind;
    d->r.reachable_objects = d->r.reachable_bytes = HG_UNKNOWN;
    return d;
}

/* The copied bytes at [addr, addr + len): from a root region or the heap
 * copy, NULL if neither has them whole. */
static unsigned char *copied(struct build *b, uint64_t addr, uint64_t len)
{
    struct hc_capture *c = b->c;
    for (size_t i = 0; i < c->regions.size; i++) {
        const struct hc_region *r = &c->regions.ptr[i];
        if (addr >= r->addr && addr - r->addr <= r->len && len <= r->len - (addr - r->addr))
            return c->roots + r->off + (addr - r->addr);
    }
    return (unsigned char *)hc_heap_bytes(c, addr, len);
}

static int read_copied_u64(struct build *b, uint64_t addr, uint64_t *v)
{
    const unsigned char *p = copied(b, addr, 8);
    if (!p)
        return -1;
    memcpy(v, p, 8);
    return 0;
}

/* Whether [addr, addr + len) of bytes holds a word pointing into an object. */
static int holds_pointer(const hg_objects *o, uint64_t addr, const unsigned char *bytes,
                         uint64_t len)
{
    for (uint64_t a = (addr + 7) & ~7ull; a + 8 <= addr + len; a += 8) {
        uint64_t w;
        int in;
        memcpy(&w, bytes + (a - addr), 8);
        if (hg_objects_find(o, w, &in) != HG_NO_OBJECT)
            return 1;
    }
    return 0;
}

/* Zero what must not be scanned where a region copied it. */
static void cut_out(struct build *b, uint64_t addr, uint64_t len)
{
    struct hc_capture *c = b->c;
    for (size_t i = 0; i < c->regions.size; i++) {
        const struct hc_region *r = &c->regions.ptr[i];
        uint64_t lo = addr > r->addr ? addr : r->addr;
        uint64_t hi = addr + len < r->addr + r->len ? addr + len : r->addr + r->len;
        if (lo < hi)
            memset(c->roots + r->off + (lo - r->addr), 0, hi - lo);
    }
}

/* ------------------------------------------------------------------ TLS */

/* A TLS block's pointer words as roots, one per variable, with their own
 * copy of its bytes; the block is then cut out of whatever region holds it
 * (a thread's stack, ld.so's data). */
static void thread_name(struct build *b, int tid, char *buf, size_t len)
{
    buf[0] = '\0';
    if (b->t->ops->thread_name)
        b->t->ops->thread_name(b->t, tid, buf, len);
}

static int tls_roots(struct build *b, const struct hc_thread *th, const struct hc_tls_module *tm,
                     uint64_t block, const unsigned char *bytes)
{
    char tname[64];
    thread_name(b, th->tid, tname, sizeof tname);
    hg_module *m = hg_module_at(b->t, tm->module_addr);
    const char *path = m ? hg_module_path(m) : NULL;
    struct rootdef *cur = NULL;
    for (uint64_t a = (block + 7) & ~7ull; a + 8 <= block + tm->size; a += 8) {
        uint64_t w;
        int in;
        memcpy(&w, bytes + (a - block), 8);
        if (hg_objects_find(&b->o, w, &in) == HG_NO_OBJECT)
            continue;
        if (cur && a < cur->addr + cur->len)
            continue;
        const char *name = NULL;
        uint64_t start = a - block, size = 8;
        char buf[512];
        if (!m || hg_module_tls_symbol(m, a - block, &name, &start, &size) != 0) {
            snprintf(buf, sizeof buf, "%s@tls+0x%" PRIx64, base_name(path), a - block);
            name = buf;
            start = a - block;
            size = 8;
        }
        if (start + size > tm->size)
            size = tm->size - start;
        if (!(cur = new_root(b, HG_ROOT_TLS)))
            return hg_fail(HG_ENOMEM, "out of memory");
        cur->addr = block + start;
        cur->len = size;
        cur->own = malloc(size ? size : 1);
        cur->r.name = dupstr(name);
        cur->r.module = dupstr(path);
        cur->r.thread = th->tid;
        cur->r.thread_name = dupstr(tname);
        cur->r.address = block + start;
        cur->symbol = name != buf;
        if (!cur->own || !cur->r.name || (path && !cur->r.module))
            return hg_fail(HG_ENOMEM, "out of memory");
        memcpy(cur->own, bytes + start, size);
        cur->bytes = cur->own;
    }
    return 0;
}

static int thread_tls(struct build *b, const struct hc_thread *th)
{
    struct hc_capture *c = b->c;
    if (!th->fs_base || !c->dtv_off)
        return 0;
    /* static blocks: below the thread pointer (x86_64, TLS variant II) */
    for (size_t i = 0; i < c->tls.size; i++) {
        const struct hc_tls_module *tm = &c->tls.ptr[i];
        if (!tm->offset || tm->offset > th->fs_base)
            continue;
        uint64_t block = th->fs_base - tm->offset;
        unsigned char *bytes = copied(b, block, tm->size);
        if (!bytes)
            continue;
        int rc = tls_roots(b, th, tm, block, bytes);
        if (rc)
            return rc;
        cut_out(b, block, tm->size);
    }
    /* dynamic blocks: the DTV's entries for modules with no static block;
     * each is a malloc'd object whose words become the TLS roots (and not
     * its own edges, or its variables would be held by the DTV too) */
    uint64_t dtv, len;
    if (read_copied_u64(b, th->fs_base + c->dtv_off, &dtv) != 0 ||
        read_copied_u64(b, dtv - 16, &len) != 0)
        return 0;
    if (len > MAX_DTV)
        len = MAX_DTV;
    /* the thread's pointer to its DTV is to its second entry (the first
     * holds its length): glibc's way to hold it, not "possibly" */
    int in;
    uint32_t dobj = hg_objects_find(&b->o, dtv, &in);
    if (dobj != HG_NO_OBJECT && dtv - hg_objects_start(&b->o, dobj) == 16)
        b->anchored[dobj] = 1;
    for (size_t i = 0; i < c->tls.size; i++) {
        const struct hc_tls_module *tm = &c->tls.ptr[i];
        uint64_t val;
        if (tm->offset || !tm->modid || tm->modid > len ||
            read_copied_u64(b, dtv + 16 * tm->modid, &val) != 0 || val == UINT64_MAX || !val)
            continue;
        uint32_t obj = hg_objects_find(&b->o, val, &in);
        const unsigned char *bytes = hc_heap_bytes(c, val, tm->size);
        if (obj == HG_NO_OBJECT || !bytes)
            continue;
        b->noscan[obj] = 1;
        int rc = tls_roots(b, th, tm, val, bytes);
        if (rc)
            return rc;
    }
    return 0;
}

/* --------------------------------------------------------------- stacks */

static int stack_frame_root(struct build *b, const struct hc_thread *th, const char *tname,
                            uint64_t pc, int have_pc, uint64_t lo, uint64_t hi,
                            const unsigned char *bytes, uint64_t region_lo)
{
    const unsigned char *p = bytes + (lo - region_lo);
    if (debugging()) {
        fprintf(stderr, "frame root? 0x%" PRIx64 "-0x%" PRIx64 ": %d\n", lo, hi,
                hi > lo && holds_pointer(&b->o, lo, p, hi - lo));
        for (uint64_t a = (lo + 7) & ~7ull; a + 8 <= hi; a += 8) {
            uint64_t w;
            int in;
            memcpy(&w, p + (a - lo), 8);
            uint32_t k = hg_objects_find(&b->o, w, &in);
            if (k != HG_NO_OBJECT)
                fprintf(stderr, "   at 0x%" PRIx64 ": 0x%" PRIx64 " -> object 0x%" PRIx64 " (%" PRIu64 ")\n",
                        a, w, hg_objects_start(&b->o, k), hg_objects_size(&b->o, k));
        }
    }
    if (hi <= lo || !holds_pointer(&b->o, lo, p, hi - lo))
        return 0;
    struct rootdef *d = new_root(b, HG_ROOT_STACK);
    if (!d)
        return hg_fail(HG_ENOMEM, "out of memory");
    d->addr = lo;
    d->len = hi - lo;
    d->bytes = p;
    d->r.thread = th->tid;
    d->r.thread_name = dupstr(tname);
    d->r.address = hi;
    hg_location loc;
    const char *fn = "?";
    if (have_pc && hg_symbolize(b->t, pc, &loc) == 0) {
        if (loc.nlines) {
            const hg_loc_line *l = &loc.lines[loc.nlines - 1]; /* the frame's own function */
            if (l->function)
                fn = l->function;
            d->r.file = dupstr(l->file);
            d->r.line = l->line;
        }
        d->r.name = dupstr(fn);
        d->r.module = dupstr(loc.module);
        hg_location_free(&loc);
    } else {
        d->r.name = dupstr(fn);
    }
    return d->r.name ? 0 : hg_fail(HG_ENOMEM, "out of memory");
}

static int stack_roots(struct build *b, const struct hc_region *reg, size_t uidx, int have_u)
{
    struct hc_capture *c = b->c;
    const struct hc_thread *th = &c->threads[reg->thread];
    const unsigned char *bytes = c->roots + reg->off;
    char tname[64];
    thread_name(b, th->tid, tname, sizeof tname);
    uint64_t pcs[MAX_FRAMES], sps[MAX_FRAMES];
    size_t n = 0;
    const char *why = NULL;
    if (have_u)
        hg_unwind_thread_sps(c->unwinder, uidx, pcs, sps, MAX_FRAMES, &n, &why);
    uint64_t lo = reg->addr, hi = reg->addr + reg->len;
    /* A thread's TLS blocks and control block (struct pthread: its DTV,
     * its thread-specific data) sit at the top of its stack's mapping,
     * above every frame: a root of their own, not the outermost frame's. */
    if (th->fs_base > lo && th->fs_base < hi) {
        uint64_t top = 0;
        for (size_t i = 0; i < c->tls.size; i++)
            if (c->tls.ptr[i].offset > top && c->tls.ptr[i].offset < th->fs_base - lo)
                top = c->tls.ptr[i].offset;
        if (debugging())
            for (size_t i = 0; i < c->tls.size; i++)
                fprintf(stderr, "tls modid %" PRIu64 " offset 0x%" PRIx64 " size %" PRIu64
                        " (fs_base 0x%" PRIx64 ", stack 0x%" PRIx64 "-0x%" PRIx64 ")\n",
                        c->tls.ptr[i].modid, c->tls.ptr[i].offset, c->tls.ptr[i].size,
                        th->fs_base, lo, hi);
        uint64_t tcb = (th->fs_base - top) & ~7ull;
        /* above struct pthread lies only what the new thread's first
         * frames left there (glibc before 2.36 started it above its
         * control block): no root */
        uint64_t end = hi;
        if (c->pthread_size && th->fs_base + c->pthread_size < hi)
            end = (th->fs_base + c->pthread_size + 7) & ~7ull;
        if (tcb > lo && holds_pointer(&b->o, tcb, bytes + (tcb - lo), end - tcb)) {
            struct rootdef *d = new_root(b, HG_ROOT_TLS);
            if (!d)
                return hg_fail(HG_ENOMEM, "out of memory");
            d->addr = tcb;
            d->len = end - tcb;
            d->bytes = bytes + (tcb - lo);
            d->r.name = strdup("(thread control block)");
            d->r.thread = th->tid;
            d->r.thread_name = strdup(tname);
            d->r.address = th->fs_base;
            if (!d->r.name || !d->r.thread_name)
                return hg_fail(HG_ENOMEM, "out of memory");
        }
        if (tcb > lo)
            hi = tcb;
    }
    if (n == 0)
        return stack_frame_root(b, th, tname, 0, 0, lo, hi, bytes, reg->addr);
    if (debugging())
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "thread %d frame %zu pc 0x%" PRIx64 " sp 0x%" PRIx64 "\n", th->tid, i,
                    pcs[i], sps[i]);
    /* frame i owns [its stack pointer, the next frame's); the innermost
     * also the red zone, the outermost the rest of the stack */
    uint64_t at = lo;
    for (size_t i = 0; i < n; i++) {
        uint64_t end = hi;
        size_t j = i + 1;
        while (j < n && (sps[j] <= at || sps[j] > hi))
            j++; /* a frame libdwfl could not place: its slots go to this one */
        if (j < n)
            end = sps[j];
        int rc = stack_frame_root(b, th, tname, pcs[i], 1, at, end, bytes, reg->addr);
        if (rc)
            return rc;
        at = end;
        i = j - 1;
        if (at >= hi)
            break;
    }
    return 0;
}

static int register_roots(struct build *b, const struct hc_thread *th)
{
    if (!th->have_regs)
        return 0;
    int any = 0, in;
    for (int i = 0; i < 17; i++)
        if (hg_objects_find(&b->o, th->regs[i], &in) != HG_NO_OBJECT) {
            any = 1;
            if (debugging())
                fprintf(stderr, "thread %d register %d: 0x%" PRIx64 "\n", th->tid, i,
                        th->regs[i]);
        }
    if (!any)
        return 0;
    struct rootdef *d = new_root(b, HG_ROOT_REGISTERS);
    if (!d)
        return hg_fail(HG_ENOMEM, "out of memory");
    d->regs = th->regs;
    d->r.thread = th->tid;
    d->r.name = strdup("registers");
    char tname[64];
    thread_name(b, th->tid, tname, sizeof tname);
    d->r.thread_name = strdup(tname);
    return d->r.name && d->r.thread_name ? 0 : hg_fail(HG_ENOMEM, "out of memory");
}

/* -------------------------------------------------------------- globals */

static int global_roots(struct build *b, const struct hc_region *reg)
{
    const unsigned char *bytes = b->c->roots + reg->off;
    uint64_t lo = reg->addr, hi = reg->addr + reg->len;
    struct rootdef *cur = NULL;
    for (uint64_t a = (lo + 7) & ~7ull; a + 8 <= hi; a += 8) {
        uint64_t w;
        int in;
        memcpy(&w, bytes + (a - lo), 8);
        if (hg_objects_find(&b->o, w, &in) == HG_NO_OBJECT)
            continue;
        if (cur && a < cur->addr + cur->len)
            continue;
        /* the region's own module: libdwfl's address ranges can reach past
         * a module's last page, over the next module's .bss */
        hg_module *m = hg_module_at(b->t, a);
        if (reg->module && (!m || strcmp(base_name(hg_module_path(m)), base_name(reg->module))))
            m = hg_module_find(b->t, base_name(reg->module));
        const char *name = NULL;
        uint64_t start, size, var = 0;
        if (m && hg_module_data_symbol(m, a, &name, &start, &size) == 0) {
            /* the variable's address, though only part of it is in this
             * region (an array running from .data's last file page into
             * the anonymous .bss mapping): its declaration is found by it */
            var = start;
            if (start < lo)
                start = lo;
            if (start + size > hi || start + size < start)
                size = hi - start;
            /* one symbol may hold several words, and two roots must not
             * share memory: start past the last root */
            if (cur && start < cur->addr + cur->len) {
                uint64_t e = start + size;
                start = cur->addr + cur->len;
                size = e - start;
            }
        } else if (cur && !cur->symbol && a - (cur->addr + cur->len) < UNNAMED_GAP) {
            cur->len = a + 8 - cur->addr;
            continue;
        } else {
            name = NULL;
            start = a;
            size = 8;
        }
        if (!(cur = new_root(b, HG_ROOT_GLOBAL)))
            return hg_fail(HG_ENOMEM, "out of memory");
        cur->addr = start;
        cur->len = size;
        cur->bytes = bytes + (start - lo);
        cur->symbol = name != NULL;
        const char *path = m ? hg_module_path(m) : reg->module;
        char buf[512];
        if (!name) {
            uint64_t base = m ? hg_module_start(m) : lo;
            snprintf(buf, sizeof buf, "%s+0x%" PRIx64, base_name(path), a - base);
            name = buf;
        }
        cur->r.name = strdup(name);
        cur->r.module = dupstr(path);
        cur->r.address = cur->symbol ? var : start;
        if (!cur->r.name || (path && !cur->r.module))
            return hg_fail(HG_ENOMEM, "out of memory");
    }
    return 0;
}

static int mapping_root(struct build *b, const struct hc_region *reg)
{
    const unsigned char *bytes = b->c->roots + reg->off;
    if (!holds_pointer(&b->o, reg->addr, bytes, reg->len))
        return 0;
    struct rootdef *d = new_root(b, HG_ROOT_MAPPING);
    if (!d)
        return hg_fail(HG_ENOMEM, "out of memory");
    d->addr = reg->addr;
    d->len = reg->len;
    d->bytes = bytes;
    d->r.address = reg->addr;
    char buf[64];
    snprintf(buf, sizeof buf, "0x%" PRIx64 "-0x%" PRIx64, reg->addr, reg->addr + reg->len);
    d->r.name = strdup(buf);
    return d->r.name ? 0 : hg_fail(HG_ENOMEM, "out of memory");
}

static int make_roots(struct build *b)
{
    struct hc_capture *c = b->c;
    /* glibc's malloc_state and malloc_par: links to free chunks */
    if (c->main_arena)
        cut_out(b, c->main_arena, c->main_arena_size);
    if (c->mp)
        cut_out(b, c->mp, c->mp_size);
    int rc = 0;
    for (size_t i = 0; i < c->nthreads && rc == 0; i++)
        rc = thread_tls(b, &c->threads[i]);
    for (size_t i = 0; i < c->nthreads && rc == 0; i++)
        rc = register_roots(b, &c->threads[i]);
    size_t nu = c->unwinder ? hg_unwinder_count(c->unwinder) : 0;
    for (size_t i = 0; i < c->regions.size && rc == 0; i++) {
        const struct hc_region *reg = &c->regions.ptr[i];
        if (reg->kind == HC_STACK) {
            size_t u = 0;
            while (u < nu && hg_unwinder_tid(c->unwinder, u) != c->threads[reg->thread].tid)
                u++;
            rc = stack_roots(b, reg, u, u < nu);
        } else if (reg->kind == HC_GLOBAL && reg->bss) {
            /* the module's .bss goes as far as its image; past that, the
             * anonymous memory is someone's mmap that the kernel put
             * right after the module */
            hg_module *m = reg->module ? hg_module_find(b->t, base_name(reg->module)) : NULL;
            uint64_t end = m ? hg_module_image_end(m) : 0, hi = reg->addr + reg->len;
            uint64_t cut = end < reg->addr ? reg->addr : end > hi ? hi : end;
            struct hc_region part = *reg;
            part.len = cut - reg->addr;
            if (part.len)
                rc = global_roots(b, &part);
            part.addr = cut;
            part.off = reg->off + (cut - reg->addr);
            part.len = hi - cut;
            part.module = NULL;
            if (rc == 0 && part.len)
                rc = mapping_root(b, &part);
        } else if (reg->kind == HC_GLOBAL) {
            rc = global_roots(b, reg);
        } else {
            rc = mapping_root(b, reg);
        }
    }
    return rc;
}

/* ---------------------------------------------------------------- graph */

static int scan_objects(struct build *b, hg_graph *g)
{
    struct hc_capture *c = b->c;
    uint32_t n = b->o.n, i = 0;
    for (size_t s = 0; s < c->spans.size && i < n; s++) {
        const struct hc_span *sp = &c->spans.ptr[s];
        const unsigned char *buf = c->heap + sp->off;
        while (i < n && b->o.start[i] < sp->addr + sp->len) {
            if (b->noscan[i]) {
                i++;
                continue;
            }
            uint32_t first = i;
            while (i < n && !b->noscan[i] && b->o.start[i] < sp->addr + sp->len)
                i++;
            int rc = hg_graph_scan_objects(g, first, i - first, sp->addr, buf, sp->len);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int scan_roots(struct build *b, hg_graph *g)
{
    for (size_t r = 0; r < b->roots.size; r++) {
        const struct rootdef *d = &b->roots.ptr[r];
        int rc = hg_graph_begin(g, hg_graph_root(g, (uint32_t)r));
        if (rc == 0 && d->regs) {
            for (int k = 0; k < 17 && rc == 0; k++) {
                int in = 0;
                uint32_t w = hg_objects_find(&b->o, d->regs[k], &in);
                if (w != HG_NO_OBJECT)
                    rc = hg_graph_add(g, w, in);
            }
        } else if (rc == 0 && d->len) {
            rc = hg_graph_scan(g, d->addr, d->bytes, d->len);
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------- results */

static const struct build *sort_b; /* qsort has no context */

static int by_retained(const void *x, const void *y)
{
    const hg_root *a = &sort_b->s->holders->roots[*(const size_t *)x];
    const hg_root *c = &sort_b->s->holders->roots[*(const size_t *)y];
    if (a->retained_bytes != c->retained_bytes)
        return a->retained_bytes > c->retained_bytes ? -1 : 1;
    if (a->retained_objects != c->retained_objects)
        return a->retained_objects > c->retained_objects ? -1 : 1;
    return *(const size_t *)x < *(const size_t *)y ? -1 : 1;
}

static int group_cmp(const void *x, const void *y)
{
    const hg_leak_group *a = x, *c = y;
    if (a->bytes != c->bytes)
        return a->bytes > c->bytes ? -1 : 1;
    if (a->cls != c->cls)
        return a->cls < c->cls ? -1 : 1;
    return a->size < c->size ? -1 : a->size > c->size;
}

/* The leaked objects by class and size, with the first few of each (in
 * address order) as examples.  One pass and a hash map of the groups: a
 * sort of the leaked objects took 2.4-3.7 s for bench/bigheap's 8.3
 * million. */
static int leak_groups(struct build *b, struct hg_holders *h)
{
    hg_u64map at = {0}; /* size << 8 | class -> group */
    hg_array(hg_leak_group) gs = HG_ARRAY_INIT;
    int rc = 0;
    for (size_t o = 0; o < h->nobjects && rc == 0; o++) {
        uint8_t cls = h->cls[o];
        if (cls != HG_OBJECT_DIRECT && cls != HG_OBJECT_INDIRECT)
            continue;
        /* an object is smaller than the address space: 56 bits hold it */
        uint64_t key = h->size[o] << 8 | cls;
        const uint64_t *v = hg_u64map_get(&at, key);
        hg_leak_group *g;
        if (v) {
            g = &gs.ptr[*v];
        } else {
            g = hg_array_push(gs);
            if (!g || hg_u64map_put(&at, key, gs.size - 1) != 0) {
                rc = hg_fail(HG_ENOMEM, "out of memory");
                break;
            }
            memset(g, 0, sizeof *g);
            g->cls = cls;
            g->size = h->size[o];
        }
        g->objects++;
        g->bytes += h->size[o];
        if (g->nexamples < HG_LEAK_EXAMPLES) {
            size_t k = g->nexamples++;
            size_t len = h->size[o] < HG_LEAK_EXAMPLE_BYTES ? h->size[o] : HG_LEAK_EXAMPLE_BYTES;
            const unsigned char *p = hc_heap_bytes(b->c, hg_objects_start(&b->o, (uint32_t)o), len);
            g->examples[k].address = hg_objects_start(&b->o, (uint32_t)o);
            g->examples[k].len = p ? len : 0;
            if (p)
                memcpy(g->examples[k].bytes, p, len);
        }
    }
    hg_u64map_free(&at);
    if (rc) {
        hg_array_clear(gs);
        return rc;
    }
    h->groups = gs.ptr;
    h->ngroups = gs.size;
    if (h->ngroups)
        qsort(h->groups, h->ngroups, sizeof *h->groups, group_cmp);
    return 0;
}

static void find_decls(struct build *b, struct hg_holders *h)
{
    for (size_t k = 0; k < h->nranked && k < DECL_ROOTS; k++) {
        size_t i = h->by_retained[k];
        hg_root *r = &h->roots[i];
        if (!b->roots.ptr[i].symbol || (r->kind != HG_ROOT_GLOBAL && r->kind != HG_ROOT_TLS))
            continue;
        /* by address first; by name when libdwfl's range of the module
         * stops short of its .bss (a large one is an anonymous mapping of
         * its own after the file's last page) */
        hg_module *m = r->kind == HG_ROOT_GLOBAL ? hg_module_at(b->t, r->address) : NULL;
        if ((!m || (r->module && strcmp(hg_module_path(m), r->module) != 0)) && r->module)
            m = hg_module_find(b->t, base_name(r->module));
        const char *file;
        int line;
        if (m && hg_module_var_decl(m, r->name, r->kind == HG_ROOT_GLOBAL ? r->address : 0, &file,
                                    &line) == 0) {
            r->file = dupstr(file);
            r->line = line;
        }
    }
}

/* Objects only interior pointers reach, which hold their own start: the
 * aligned-allocation idiom (malloc more, align the pointer handed out,
 * keep the start to free it: glibc's dl_find_object segments, dynamic TLS
 * blocks) -- held, not "possibly".  Their interior edges become start
 * edges and the classes are found again. */
static int anchor(struct build *b, hg_graph *g, hg_leaks *lk)
{
    size_t n = 0;
    for (uint32_t i = 0; i < b->o.n; i++) {
        if (lk->class_of[i] != HG_LEAK_POSSIBLY || b->anchored[i])
            continue;
        uint64_t start = hg_objects_start(&b->o, i), size = hg_objects_size(&b->o, i);
        const unsigned char *p = hc_heap_bytes(b->c, start, size);
        for (uint64_t k = 0; p && k + 8 <= size; k += 8) {
            uint64_t w;
            memcpy(&w, p + k, 8);
            if (w == start) {
                b->anchored[i] = 1;
                break;
            }
        }
    }
    for (uint32_t i = 0; i < b->o.n; i++)
        n += b->anchored[i] && lk->class_of[i] == HG_LEAK_POSSIBLY;
    if (!n)
        return 0;
    for (uint64_t e = 0; e < g->nedges; e++) {
        uint32_t w = HG_EDGE_NODE(g->dst[e]);
        if ((g->dst[e] & HG_EDGE_INTERIOR) && w < b->o.n && b->anchored[w])
            g->dst[e] = w;
    }
    hg_leaks_free(lk);
    memset(lk, 0, sizeof *lk);
    return hg_leaks_classify(g, lk);
}

/* HG_HOLDERS_TIMES=1: each step's time on stderr (for bench/holders.sh). */
static uint64_t step_t0;
static void step(const char *what)
{
    static int on = -1;
    if (on < 0)
        on = getenv("HG_HOLDERS_TIMES") != NULL;
    uint64_t now = hg_now_ns();
    if (on && what)
        fprintf(stderr, "holders: %-12s %8.3f s\n", what, (double)(now - step_t0) / 1e9);
    step_t0 = now;
}

static int analyse(struct build *b)
{
    hg_graph g;
    hg_leaks lk;
    hg_domtree d;
    hg_retained ret;
    memset(&g, 0, sizeof g);
    memset(&lk, 0, sizeof lk);
    memset(&d, 0, sizeof d);
    memset(&ret, 0, sizeof ret);
    int rc = hg_graph_init(&g, &b->o, (uint32_t)b->roots.size);
    if (rc == 0)
        rc = scan_objects(b, &g);
    if (rc == 0)
        rc = scan_roots(b, &g);
    if (rc == 0)
        rc = hg_graph_finish(&g);
    step("graph");
    if (rc == 0)
        rc = hg_leaks_classify(&g, &lk);
    if (rc == 0)
        rc = anchor(b, &g, &lk);
    step("leaks");
    if (rc == 0)
        rc = hg_dominators(&g, &d);
    step("dominators");
    if (rc == 0)
        rc = hg_retained_sizes(&g, &d, &ret);
    step("retained");
    struct hg_holders *h = NULL;
    if (rc == 0 && !(h = hg_holders_new(0, b->roots.size)))
        rc = hg_fail(HG_ENOMEM, "out of memory");
    uint64_t *sizes = NULL;
    if (rc == 0 && !(sizes = malloc((b->o.n ? b->o.n : 1) * sizeof *sizes))) {
        hg_holders_free(h);
        rc = hg_fail(HG_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        b->s->holders = h;
        h->arena = b->arena;
        b->arena = NULL;
        /* The analysis's arrays are the holders' own, taken rather than
         * copied: at 7 million objects a copy is 200 MB more at the peak.
         * The addresses go last (the index still answers until then). */
        h->nobjects = b->o.n;
        free(h->size);
        h->size = sizes;
        free(h->cls);
        h->cls = lk.class_of;
        lk.class_of = NULL;
        free(h->idom);
        h->idom = d.idom; /* HG_NO_NODE is HG_HOLDERS_NONE */
        d.idom = NULL;
        free(h->retained_objects);
        free(h->retained_bytes);
        h->retained_objects = ret.objects;
        h->retained_bytes = ret.bytes;
        ret.objects = ret.bytes = NULL;
        uint32_t super = hg_graph_super(&g);
        for (uint32_t i = 0; i < b->o.n; i++) {
            h->size[i] = hg_objects_size(&b->o, i);
            if (h->idom[i] == super) {
                h->leaks.several_objects++;
                h->leaks.several_bytes += h->size[i];
            }
        }
        h->leaks.direct_objects = lk.total[HG_LEAK_DIRECT].objects;
        h->leaks.direct_bytes = lk.total[HG_LEAK_DIRECT].bytes;
        h->leaks.indirect_objects = lk.total[HG_LEAK_INDIRECT].objects;
        h->leaks.indirect_bytes = lk.total[HG_LEAK_INDIRECT].bytes;
        h->leaks.possibly_objects = lk.total[HG_LEAK_POSSIBLY].objects;
        h->leaks.possibly_bytes = lk.total[HG_LEAK_POSSIBLY].bytes;
        for (size_t r = 0; r < b->roots.size; r++) {
            struct rootdef *rd = &b->roots.ptr[r];
            h->roots[r] = rd->r;
            memset(&rd->r, 0, sizeof rd->r); /* the strings are the holders' now */
            uint32_t node = hg_graph_root(&g, (uint32_t)r);
            h->roots[r].retained_objects = h->retained_objects[node];
            h->roots[r].retained_bytes = h->retained_bytes[node];
            if (h->retained_objects[node])
                h->by_retained[h->nranked++] = r;
        }
        sort_b = b;
        qsort(h->by_retained, h->nranked, sizeof *h->by_retained, by_retained);
        size_t nreach = h->nranked < REACH_ROOTS ? h->nranked : REACH_ROOTS;
        uint32_t *which = calloc(nreach ? nreach : 1, sizeof *which);
        hg_reach *reach = calloc(nreach ? nreach : 1, sizeof *reach);
        if (!which || !reach)
            rc = hg_fail(HG_ENOMEM, "out of memory");
        for (size_t k = 0; rc == 0 && k < nreach; k++)
            which[k] = hg_graph_root(&g, (uint32_t)h->by_retained[k]);
        if (rc == 0)
            rc = hg_reach_from(&g, which, nreach, reach);
        for (size_t k = 0; rc == 0 && k < nreach; k++) {
            h->roots[h->by_retained[k]].reachable_objects = reach[k].objects;
            h->roots[h->by_retained[k]].reachable_bytes = reach[k].bytes;
        }
        free(which);
        free(reach);
        step("reach");
        if (rc == 0)
            rc = leak_groups(b, h);
        if (rc == 0)
            find_decls(b, h);
        step("groups+decls");
    }
    hg_retained_free(&ret);
    hg_domtree_free(&d);
    hg_leaks_free(&lk);
    hg_graph_free(&g);
    if (rc == 0) {
        free(h->address);
        h->address = b->o.start;
        b->o.start = NULL;
    }
    return rc;
}

static int build_holders(hg_target *t, struct hc_capture *c, hg_snapshot *s, int keep_chunks)
{
    struct build b;
    memset(&b, 0, sizeof b);
    b.t = t;
    b.s = s;
    b.c = c;
    step(NULL);
    hc_sort_spans(c);
    hg_objects_init(&b.o);
    /* room for every chunk (finish gives back what free chunks took) */
    int rc = hg_objects_reserve(&b.o, s->nchunks);
    hg_array(uint64_t) noscan = HG_ARRAY_INIT;
    for (size_t i = 0; i < s->nchunks && rc == 0; i++) {
        uint64_t start, size;
        int ns;
        if (!hc_chunk_object(&s->chunks[i], &start, &size, &ns))
            continue;
        rc = hg_objects_add(&b.o, start, size);
        if (rc == 0 && ns) {
            uint64_t *x = hg_array_push(noscan);
            if (!x)
                rc = hg_fail(HG_ENOMEM, "out of memory");
            else
                *x = start;
        }
    }
    if (rc == 0)
        rc = hg_objects_finish(&b.o);
    if (rc == 0 && (!(b.noscan = calloc(b.o.n ? b.o.n : 1, 1)) ||
                    !(b.anchored = calloc(b.o.n ? b.o.n : 1, 1))))
        rc = hg_fail(HG_ENOMEM, "out of memory");
    for (size_t i = 0; i < noscan.size && rc == 0; i++) {
        int in;
        uint32_t k = hg_objects_find(&b.o, noscan.ptr[i], &in);
        if (k != HG_NO_OBJECT)
            b.noscan[k] = 1;
    }
    hg_array_clear(noscan);
    /* each object's arena, from its chunk, before the chunks may go */
    if (rc == 0 && !(b.arena = malloc((b.o.n ? b.o.n : 1) * sizeof *b.arena)))
        rc = hg_fail(HG_ENOMEM, "out of memory");
    for (uint32_t k = 0; k < b.o.n && rc == 0; k++)
        b.arena[k] = INT16_MIN; /* no label, should a chunk not say */
    /* The chunks come a heap at a time in address order: the next object
     * is nearly always the one after the last, and a search is the
     * exception (a new heap), not the rule. */
    uint32_t k = HG_NO_OBJECT;
    for (size_t i = 0; i < s->nchunks && rc == 0; i++) {
        uint64_t start, size;
        int ns, in = 0;
        if (!hc_chunk_object(&s->chunks[i], &start, &size, &ns))
            continue;
        if (k + 1 < b.o.n && hg_objects_start(&b.o, k + 1) == start)
            k++;
        else
            k = hg_objects_find(&b.o, start, &in);
        if (k != HG_NO_OBJECT && !in)
            b.arena[k] = (int16_t)(s->chunks[i].arena < 0 ? -1
                                   : s->chunks[i].arena > INT16_MAX ? INT16_MAX
                                                                    : s->chunks[i].arena);
    }
    if (!keep_chunks) {
        /* the index has them now: 32 bytes a chunk back before the graph */
        free(s->chunks);
        s->chunks = NULL;
        s->nchunks = 0;
    }
    step("index");
    if (rc == 0)
        rc = make_roots(&b);
    step("roots");
    if (rc == 0)
        rc = analyse(&b);
    for (size_t i = 0; i < b.roots.size; i++) {
        struct rootdef *d = &b.roots.ptr[i];
        free((char *)d->r.name);
        free((char *)d->r.module);
        free((char *)d->r.file);
        free((char *)d->r.thread_name);
        free(d->own);
    }
    hg_array_clear(b.roots);
    free(b.noscan);
    free(b.anchored);
    free(b.arena);
    hg_objects_free(&b.o);
    if (c->skipped_bytes)
        hg_snapshot_add_problem(s, 32, -1, c->skipped_start,
                                "holders: %" PRIu64 " bytes of writable mappings larger than "
                                "4 GiB each (one at 0x%" PRIx64 ") were not scanned for roots",
                                c->skipped_bytes, c->skipped_start);
    if (c->unread_bytes)
        hg_snapshot_add_problem(s, 32, -1, 0,
                                "holders: %" PRIu64 " bytes of objects or roots could not be read "
                                "(scanned as zeros)",
                                c->unread_bytes);
    return rc;
}

int hg_holders_take(hg_target *t, const hg_located *loc, const hg_snapshot_options *opt,
                    hg_snapshot **out)
{
    struct hc_capture c;
    memset(&c, 0, sizeof c);
    step(NULL);
    /* loads the modules' unwind tables while the target runs */
    c.unwinder = opt->holders || opt->types ? hg_unwinder_new(t, HG_STACK_COPY_DUMP) : NULL;
    step("unwinder");
    /* a copy at the stop holds the objects already (the walk's, see
     * hg_snapshot_options.memory_budget): no room of our own then */
    if (!hg_copy_applies(t) || (opt && opt->memory_budget < 0))
        hc_capture_prepare(&c, t);
    step("prepare");
    int rc = hg_walk_hooked(t, loc, opt, hc_capture_stopped, &c, out);
    step("walk+copy");
    /* types read the copy first: the holders' roots cut TLS blocks and
     * glibc's own data out of it */
    if (rc == 0 && opt->types) {
        hc_sort_spans(&c);
        rc = hg_types_find(t, *out, &c);
    }
    if (rc == 0 && opt->holders) {
        /* the pprof's holders view still needs the chunk list, typed */
        rc = build_holders(t, &c, *out, opt->keep_chunks || opt->types);
        if (rc == HG_EUSAGE) {
            /* a heap whose objects overlap, or a graph too large: the
             * snapshot stands without holders, saying why */
            hg_snapshot_add_problem(*out, 32, -1, 0, "holders: %s", hg_error_message());
            rc = 0;
        }
    }
    if (rc && *out) {
        hg_snapshot_free(*out);
        *out = NULL;
    }
    hc_capture_free(&c);
    return rc;
}
