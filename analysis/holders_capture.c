/*
 * holders_capture.c -- the stop's part of the holders analysis (see
 * holders_capture.h): copy the in-use objects and every place that can hold
 * a pointer to them, in one bulk read each, while the target is stopped.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include "lib/clock.h"
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "analysis/holders_capture.h"
#include "lib/error.h"

#define CHUNK_HDR 16u
#define PAGE 4096u
#define RED_ZONE 128u
/* Objects closer than this are read in one span, gap and all: fewer,
 * longer reads, for a few free bytes more. */
#define SPAN_GAP 4096u
#define SPAN_MAX (64u << 20)
#define READ_BATCH 1024u
/* A thread's stack is copied up to this much above its stack pointer. */
#define STACK_MAX (256ull << 20)
/* A writable region larger than this is not a root (a reservation nobody
 * touched, most likely); the problem says so. */
#define REGION_MAX (4ull << 30)
#define MAX_TLS_MODULES 4096

static int span_cmp(const void *a, const void *b)
{
    const struct hc_span *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

void hc_sort_spans(struct hc_capture *c)
{
    if (c->spans_sorted)
        return; /* the types analysis sorted them before the holders' */
    qsort(c->spans.ptr, c->spans.size, sizeof *c->spans.ptr, span_cmp);
    c->spans_sorted = 1;
}

/* Read every span into buf (spans[i].off): batches of spans in one call
 * each.  What cannot be read is zeroed and counted. */
static int read_all(struct hc_capture *c, hg_target *t, const struct hc_span *sp, size_t n,
                    unsigned char *buf)
{
    hg_span batch[READ_BATCH];
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; i < n && k < READ_BATCH; i++, k++)
            batch[k] = (hg_span){sp[i].addr, (size_t)sp[i].len, buf + sp[i].off, 0};
        int rc = hg_read_spans(t, batch, k);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < k; j++) {
            c->copied_bytes += batch[j].got;
            if (batch[j].got < batch[j].len) {
                memset((unsigned char *)batch[j].buf + batch[j].got, 0,
                       batch[j].len - batch[j].got);
                c->unread_bytes += batch[j].len - batch[j].got;
            }
        }
    }
    return 0;
}

/* The spans that hold the in-use objects, in the walk's order (each
 * heap's chunks come in address order): one pass, no sorting while the
 * target is stopped. */
static int collect_spans(struct hc_capture *c, const hg_walk_found *f)
{
    uint64_t off = 0;
    struct hc_span *last = NULL;
    for (size_t i = 0; i < f->nchunks; i++) {
        uint64_t start, size;
        int noscan;
        if (!hc_chunk_object(&f->chunks[i], &start, &size, &noscan))
            continue;
        uint64_t end = start + size;
        if (end < start)
            continue; /* wraps: the index refuses it, naming it */
        if (last && start >= last->addr + last->len &&
            start - (last->addr + last->len) <= SPAN_GAP && end - last->addr <= SPAN_MAX) {
            off += end - (last->addr + last->len);
            last->len = end - last->addr;
            continue;
        }
        if (last && start >= last->addr && end <= last->addr + last->len)
            continue; /* inside the last span: a corrupt heap's overlap */
        if (c->spans.size == c->spans.alloc &&
            hg_array_reserve(c->spans, c->spans.size < 4096 ? 4096 : c->spans.size * 2) != 0)
            return hg_fail(HG_ENOMEM, "out of memory (holders: spans)");
        last = &c->spans.ptr[c->spans.size++];
        *last = (struct hc_span){start, size, off};
        off += size;
    }
    c->heap_len = off;
    /* On a copy of the process (target/copy_attach.c) the objects are in
     * the copy already: point at them there, when every span is in one
     * piece of it (a span over a page that was not resident is not). */
    unsigned char *base = hg_copy_base(f->t);
    size_t i = 0;
    for (; base && i < c->spans.size; i++) {
        const unsigned char *p = hg_copy_bytes(f->t, c->spans.ptr[i].addr, c->spans.ptr[i].len);
        if (!p)
            break;
        c->spans.ptr[i].off = (uint64_t)(p - base);
    }
    if (base && i == c->spans.size) {
        c->heap = base;
        c->heap_borrowed = 1;
        return 0;
    }
    if (base) { /* not all in the copy: our own buffer after all */
        uint64_t o = 0;
        for (size_t k = 0; k < c->spans.size; k++) {
            c->spans.ptr[k].off = o;
            o += c->spans.ptr[k].len;
        }
    }
    if (c->pre && off <= c->pre_len) {
        c->heap = c->pre;
        c->heap_mapped = c->pre_len;
        c->pre = NULL;
    } else {
        if (c->pre)
            munmap(c->pre, c->pre_len);
        c->pre = NULL;
        c->heap = malloc(off ? off : 1);
    }
    if (!c->heap)
        return hg_fail(HG_ENOMEM, "out of memory (holders: a copy of %" PRIu64 " bytes in use)",
                       off);
    return 0;
}

/* Ranges no root is made of: the heaps, mmapped chunks, thread stacks
 * (copied as stacks). */
struct range {
    uint64_t lo, hi;
};
typedef hg_array(struct range) ranges;

static int range_cmp(const void *a, const void *b)
{
    const struct range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int add_region(struct hc_capture *c, int kind, uint64_t lo, uint64_t hi, int thread,
                      const char *module, int bss)
{
    if (hi <= lo)
        return 0;
    struct hc_region *r = hg_array_push(c->regions);
    if (!r)
        return hg_fail(HG_ENOMEM, "out of memory");
    *r = (struct hc_region){kind, lo, hi - lo, c->roots_len, thread, NULL, bss};
    if (module && !(r->module = strdup(module)))
        return hg_fail(HG_ENOMEM, "out of memory");
    c->roots_len += hi - lo;
    return 0;
}

/* The writable parts of a mapping that are not excluded, as regions. */
static int add_mapping(struct hc_capture *c, const hg_mapping *m, const ranges *ex, int kind,
                       const char *module, int bss)
{
    uint64_t lo = m->start;
    for (size_t i = 0; i < ex->size && lo < m->end; i++) {
        const struct range *r = &ex->ptr[i];
        if (r->hi <= lo || r->lo >= m->end)
            continue;
        if (r->lo > lo) {
            int rc = add_region(c, kind, lo, r->lo, -1, module, bss);
            if (rc)
                return rc;
        }
        if (r->hi > lo)
            lo = r->hi;
    }
    return lo < m->end ? add_region(c, kind, lo, m->end, -1, module, bss) : 0;
}

static int is_module_path(const char *p) { return p[0] == '/'; }

/* Module data, other writable mappings and thread stacks, as regions. */
static int collect_regions(struct hc_capture *c, const hg_walk_found *f)
{
    hg_target *t = f->t;
    ranges ex = HG_ARRAY_INIT;
    int rc = 0;
    for (size_t i = 0; i < f->nheaps && rc == 0; i++) {
        struct range *r = hg_array_push(ex);
        if (!r)
            rc = hg_fail(HG_ENOMEM, "out of memory");
        else
            *r = (struct range){f->heaps[i].start, f->heaps[i].end};
    }
    for (size_t i = 0; i < f->nchunks && rc == 0; i++) {
        const hg_chunk *ch = &f->chunks[i];
        if (ch->state != HG_STATE_MMAPPED)
            continue;
        struct range *r = hg_array_push(ex);
        if (!r)
            rc = hg_fail(HG_ENOMEM, "out of memory");
        else /* memalign's chunks start inside their mapping's first page(s) */
            *r = (struct range){ch->address & ~(uint64_t)(PAGE - 1),
                                (ch->address + ch->size + PAGE - 1) & ~(uint64_t)(PAGE - 1)};
    }
    c->threads = calloc(t->nthreads ? t->nthreads : 1, sizeof *c->threads);
    if (!c->threads && rc == 0)
        rc = hg_fail(HG_ENOMEM, "out of memory");
    for (size_t i = 0; i < t->nthreads && rc == 0; i++) {
        const hg_thread *th = &t->threads[i];
        struct hc_thread *ct = &c->threads[c->nthreads++];
        ct->tid = th->tid;
        ct->have_regs = th->have_regs;
        memcpy(ct->regs, th->regs, sizeof ct->regs);
        ct->fs_base = th->fs_base;
        ct->sp = th->regs[7];
        if (!th->have_regs)
            continue;
        const hg_mapping *m = hg_find_mapping(t, ct->sp);
        if (!m || m->perms[1] != 'w')
            continue; /* a stack pointer outside any stack: its registers only */
        uint64_t lo = ct->sp - RED_ZONE < m->start ? m->start : ct->sp - RED_ZONE;
        uint64_t hi = hg_mapping_run_end(t, ct->sp);
        /* the kernel merges a thread's stack with an anonymous mapping
         * right above it, an mmapped chunk's too: the stack ends there */
        for (size_t k = 0; k < ex.size; k++)
            if (ex.ptr[k].lo > ct->sp && ex.ptr[k].lo < hi)
                hi = ex.ptr[k].lo;
        if (hi - lo > STACK_MAX)
            hi = lo + STACK_MAX;
        ct->stack_lo = lo;
        ct->stack_hi = hi;
        /* the whole mapping leaves the other regions: below the stack
         * pointer lies only what dead frames left */
        struct range *r = hg_array_push(ex);
        if (!r)
            rc = hg_fail(HG_ENOMEM, "out of memory");
        else
            *r = (struct range){m->start, hi};
        if (rc == 0)
            rc = add_region(c, HC_STACK, lo, hi, (int)i, NULL, 0);
    }
    if (rc == 0)
        qsort(ex.ptr, ex.size, sizeof *ex.ptr, range_cmp);
    const char *module = NULL;
    uint64_t module_end = 0;
    for (size_t i = 0; i < t->nmaps && rc == 0; i++) {
        const hg_mapping *m = &t->maps[i];
        if (is_module_path(m->path)) {
            module = m->path;
            module_end = m->end;
        }
        if (m->perms[0] != 'r' || m->perms[1] != 'w')
            continue;
        if (m->end - m->start > REGION_MAX) {
            c->skipped_start = m->start;
            c->skipped_bytes += m->end - m->start;
            continue;
        }
        int kind, bss = 0;
        const char *mod = NULL;
        if (is_module_path(m->path) && m->perms[3] == 'p') {
            kind = HC_GLOBAL;
            mod = m->path;
        } else if (hg_mapping_is_anon(m) && module && m->start == module_end) {
            /* a module's .bss past its file's last page */
            kind = HC_GLOBAL;
            mod = module;
            module_end = m->end;
            bss = 1;
        } else if (strcmp(m->path, "[vvar]") == 0 || strcmp(m->path, "[vsyscall]") == 0) {
            continue;
        } else {
            kind = HC_MAPPING;
        }
        rc = add_mapping(c, m, &ex, kind, mod, bss);
        if (!is_module_path(m->path) && !(kind == HC_GLOBAL))
            module = NULL;
    }
    hg_array_clear(ex);
    if (rc)
        return rc;
    c->roots = malloc(c->roots_len ? c->roots_len : 1);
    if (!c->roots)
        return hg_fail(HG_ENOMEM, "out of memory (holders: %" PRIu64 " bytes of roots)",
                       c->roots_len);
    return 0;
}

/* The offset (the third word) of glibc's libthread_db description of a
 * struct link_map field. */
static int thread_db_offset(hg_target *t, hg_module *m, const char *name, uint64_t *off)
{
    uint32_t desc[3];
    if (hg_thread_db_field(t, m, name, desc) != 0)
        return HG_ENOTFOUND;
    *off = desc[2];
    return 0;
}

/* Every module's static TLS block, from ld.so's list of modules.  Without
 * it the TLS blocks stay inside the regions that hold them (a stack, ld.so's
 * data): still roots, named as those. */
static void collect_tls(struct hc_capture *c, const hg_walk_found *f)
{
    hg_target *t = f->t;
    if (f->loc->is_static)
        return;
    hg_module *libc = f->loc->libc, *ld = hg_module_find(t, "ld-linux");
    if (!ld)
        ld = hg_module_find(t, "ld-");
    /* glibc describes link_map for libthread_db: libc exports the
     * descriptors since 2.34, before they are libpthread's */
    hg_module *pt = hg_module_find(t, "libpthread");
    uint64_t off_tls, off_modid, r_debug, lm;
    if (thread_db_offset(t, libc, "_thread_db_link_map_l_tls_offset", &off_tls) != 0 &&
        thread_db_offset(t, pt, "_thread_db_link_map_l_tls_offset", &off_tls) != 0) {
        if (f->loc->L.lm_tls_offset < 0)
            return;
        off_tls = (uint64_t)f->loc->L.lm_tls_offset;
    }
    if (thread_db_offset(t, libc, "_thread_db_link_map_l_tls_modid", &off_modid) != 0 &&
        thread_db_offset(t, pt, "_thread_db_link_map_l_tls_modid", &off_modid) != 0)
        off_modid = 0;
    /* where glibc's use of a thread's block ends, above its thread pointer */
    uint64_t at;
    uint32_t size;
    if ((hg_module_symbol(libc, "_thread_db_sizeof_pthread", &at, NULL, NULL) == 0 ||
         (pt && hg_module_symbol(pt, "_thread_db_sizeof_pthread", &at, NULL, NULL) == 0)) &&
        hg_read_exact(t, at, &size, sizeof size) == 0)
        c->pthread_size = size;
    if (!ld || hg_module_symbol(ld, "_r_debug", &r_debug, NULL, NULL) != 0 ||
        hg_read_u64(t, r_debug + 8, &lm) != 0)
        return;
    for (int i = 0; lm && i < MAX_TLS_MODULES; i++) {
        uint64_t l_ld, next, tls_off, modid = 0;
        if (hg_read_u64(t, lm + 16, &l_ld) != 0 || hg_read_u64(t, lm + 24, &next) != 0 ||
            hg_read_u64(t, lm + off_tls, &tls_off) != 0)
            return;
        if (off_modid)
            hg_read_u64(t, lm + off_modid, &modid);
        hg_module *m = hg_module_at(t, l_ld);
        uint64_t size = m ? hg_module_tls_size(m) : 0;
        if (size && (modid || tls_off)) {
            struct hc_tls_module *x = hg_array_push(c->tls);
            if (!x)
                return;
            /* l_tls_offset is -1 (no static block yet) or -2 (forced
             * dynamic) for modules whose block is in the DTV only */
            int is_static = tls_off != 0 && tls_off < (1ull << 40);
            *x = (struct hc_tls_module){modid, is_static ? tls_off : 0, size, l_ld};
        }
        lm = next;
    }
    c->dtv_off = 8;
}

/* Prepared room above this is not prepared: it would cost more memory
 * than the stop it saves is worth. */
#define PREPARE_MAX (32ull << 30)
#define PREPARE_MIN (16ull << 20)

void hc_capture_prepare(struct hc_capture *c, const hg_target *t)
{
    uint64_t n = 0;
    for (size_t i = 0; i < t->nmaps; i++) {
        const hg_mapping *m = &t->maps[i];
        if (m->perms[0] == 'r' && m->perms[1] == 'w' &&
            (hg_mapping_is_anon(m) || strcmp(m->path, "[heap]") == 0))
            n += m->end - m->start;
    }
    /* and never more than half the memory free now: a sparse reservation
     * must not be made resident here */
    long pages = sysconf(_SC_AVPHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (n < PREPARE_MIN || n > PREPARE_MAX ||
        (pages > 0 && psize > 0 && n > (uint64_t)pages * (uint64_t)psize / 2))
        return;
    /* MAP_POPULATE: the kernel faults the pages in now, without a pass of
     * ours over them */
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    if (p == MAP_FAILED)
        return;
    c->pre = p;
    c->pre_len = n;
}

int hc_capture_stopped(void *ctx, const hg_walk_found *f)
{
    struct hc_capture *c = ctx;
    hg_target *t = f->t;
    c->main_arena = f->loc->main_arena;
    c->main_arena_size = f->loc->L.state_size;
    c->mp = f->loc->mp;
    c->mp_size = f->loc->L.par_size;
    uint64_t t0 = hg_now_ns();
    int rc = collect_spans(c, f);
    uint64_t t1 = hg_now_ns();
    if (rc == 0)
        rc = collect_regions(c, f);
    if (rc == 0)
        collect_tls(c, f);
    uint64_t t2 = hg_now_ns();
    if (rc == 0 && !c->heap_borrowed)
        rc = read_all(c, t, c->spans.ptr, c->spans.size, c->heap);
    uint64_t t3 = hg_now_ns();
    if (getenv("HG_HOLDERS_TIMES")) /* bench/holders.sh: the stop's share */
        fprintf(stderr, "holders: (stopped) spans %.3f s, regions %.3f s, read %.3f s\n",
                (double)(t1 - t0) / 1e9, (double)(t2 - t1) / 1e9, (double)(t3 - t2) / 1e9);
    if (rc == 0) {
        /* the regions, as spans of the roots' buffer */
        struct hc_span *sp = calloc(c->regions.size ? c->regions.size : 1, sizeof *sp);
        if (!sp)
            return hg_fail(HG_ENOMEM, "out of memory");
        for (size_t i = 0; i < c->regions.size; i++)
            sp[i] = (struct hc_span){c->regions.ptr[i].addr, c->regions.ptr[i].len,
                                     c->regions.ptr[i].off};
        rc = read_all(c, t, sp, c->regions.size, c->roots);
        free(sp);
    }
    /* on a copy (the process runs again), the stacks as they were copied */
    if (rc == 0 && c->unwinder)
        rc = hg_copy_base(t) ? hg_unwinder_capture_from(c->unwinder, t)
                             : hg_unwinder_capture(c->unwinder);
    return rc;
}

const unsigned char *hc_heap_bytes(const struct hc_capture *c, uint64_t addr, uint64_t len)
{
    size_t lo = 0, hi = c->spans.size;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->spans.ptr[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const struct hc_span *s = &c->spans.ptr[lo - 1];
    if (addr - s->addr > s->len || len > s->len - (addr - s->addr))
        return NULL;
    return c->heap + s->off + (addr - s->addr);
}

void hc_capture_free(struct hc_capture *c)
{
    hg_array_clear(c->spans);
    if (c->heap_borrowed)
        ; /* the copy's room, the live target's */
    else if (c->heap_mapped)
        munmap(c->heap, c->heap_mapped);
    else
        free(c->heap);
    if (c->pre)
        munmap(c->pre, c->pre_len);
    for (size_t i = 0; i < c->regions.size; i++)
        free(c->regions.ptr[i].module);
    hg_array_clear(c->regions);
    free(c->roots);
    free(c->threads);
    hg_array_clear(c->tls);
    if (c->unwinder)
        hg_unwinder_free(c->unwinder);
    memset(c, 0, sizeof *c);
}
