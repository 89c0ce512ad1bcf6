/*
 * copy_attach.c -- a process's memory copied at a stop, as a target (see
 * target.h, "a copy of a live process").  The copy is made from the live
 * backend's state: its mappings, its pagemap, its threads; reads of the
 * copy are memcpy from the room, or pointers into it (hg_copy_span).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target/pid.h"
#include "target/procfs.h"
#include "lib/error.h"
#include "lib/progress.h"

#define PAGE 4096u
/* spans per hg_read_spans call: the live backend packs 64 in one
 * process_vm_readv */
#define BATCH 1024u
/* --no-stop: bytes read again either side of a problem */
#define REREAD (64u << 10)

/* Copied bytes: [addr, addr + len) at room + off. */
struct run {
    uint64_t addr, len, off;
};

/* A copied mapping: its runs are runs[first, first + n), in address order;
 * present is its pagemap at the copy (1 resident, 2 swapped, 0 neither). */
struct region {
    uint64_t start, end;
    uint8_t *present;
    size_t first, n;
};

struct copy {
    hg_target *live;
    unsigned char *room;   /* the live target's; not ours to unmap */
    struct region *regions;
    size_t nregions;
    struct run *runs;
    size_t nruns;
    hg_thread *threads;
    size_t nthreads;
    uint64_t rss;
    int shared_sym;        /* t->sym is live's: not ours to free */
};

static int copyable(const hg_mapping *m)
{
    return m->perms[0] == 'r' && m->perms[1] == 'w' && m->perms[3] == 'p' &&
           strcmp(m->path, "[vvar]") != 0 && strcmp(m->path, "[vsyscall]") != 0;
}

int hg_copy_applies(const hg_target *t)
{
    if (!t || t->ops->kind != HG_TARGET_PROCESS || t->ops->stop != hg_live_stop)
        return 0;
    const struct live *lv = t->backend;
    return !lv->held;
}

uint64_t hg_copy_default_budget(void)
{
    char *text;
    uint64_t kb = 0;
    if (hg_read_whole_file("/proc/meminfo", &text) == 0) {
        const char *p = strstr(text, "MemAvailable:");
        if (p)
            kb = strtoull(p + 13, NULL, 10);
        free(text);
    }
    return kb * 1024 / 2;
}

/* Residency of pages [start, end) of live into present; all 1 (read them
 * all) when it is unknown. */
static void residency(hg_target *live, uint64_t start, uint64_t end, uint8_t *present)
{
    size_t pages = (size_t)((end - start) / PAGE);
    if (!live->ops->resident || live->ops->resident(live, start, pages, present) != 0)
        memset(present, 1, pages);
}

uint64_t hg_copy_estimate(hg_target *live)
{
    uint64_t n = 0;
    uint8_t *present = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < live->nmaps; i++) {
        const hg_mapping *m = &live->maps[i];
        if (!copyable(m))
            continue;
        size_t pages = (size_t)((m->end - m->start) / PAGE);
        if (pages > cap) {
            uint8_t *p = realloc(present, pages);
            if (!p) {
                n += m->end - m->start;
                continue;
            }
            present = p;
            cap = pages;
        }
        residency(live, m->start, m->end, present);
        for (size_t k = 0; k < pages; k++)
            n += present[k] ? PAGE : 0;
    }
    free(present);
    return n;
}

void hg_copy_room_free(void *backend)
{
    struct live *lv = backend;
    if (lv->room)
        munmap(lv->room, lv->room_len);
    lv->room = NULL;
    lv->room_len = 0;
}

/* Fault every page of [p, p + len) in for writing, now.  MAP_POPULATE
 * alone is not enough: measured on a PVM guest (this project's CI), a
 * page it mapped still cost a trap to the host at the first write, 1.6 s
 * for 1.5 GiB, and that write is the copy, in the stop.  Huge pages
 * (where the kernel offers them to madvise) are 512 times fewer faults,
 * and MADV_POPULATE_WRITE (Linux 5.14) takes the write faults here; an
 * older kernel gets a write to each page instead. */
static void populate(unsigned char *p, uint64_t len)
{
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE);
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
    if (madvise(p, len, MADV_POPULATE_WRITE) == 0)
        return;
    for (uint64_t off = 0; off < len; off += PAGE)
        p[off] = 0;
}

/* A room of at least need bytes; populate: faulted in now (before a stop),
 * else left to the copy's first write (the stop pays). */
static int room_grow(struct live *lv, uint64_t need, int populate_now)
{
    if (lv->room && lv->room_len >= need)
        return 0;
    hg_copy_room_free(lv);
    /* room to grow: the heap grows between this and the stop, and from one
     * snapshot to the next; whole huge pages */
    const uint64_t huge = 2u << 20;
    uint64_t len = (need + need / 32 + (16u << 20) + huge - 1) & ~(huge - 1);
    /* one huge page more, to start the room on a huge page boundary */
    void *p = mmap(NULL, len + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return hg_fail(HG_ENOMEM, "out of memory (a copy of %" PRIu64 " bytes)", need);
    uint64_t a = (uint64_t)(uintptr_t)p, aligned = (a + huge - 1) & ~(huge - 1);
    if (aligned > a)
        munmap(p, aligned - a);
    if (aligned + len < a + len + huge)
        munmap((void *)(uintptr_t)(aligned + len), a + len + huge - aligned - len);
    lv->room = (unsigned char *)(uintptr_t)aligned;
    lv->room_len = len;
    if (populate_now)
        populate(lv->room, len);
    return 0;
}

int hg_copy_prepare(hg_target *live, uint64_t need)
{
    return room_grow(live->backend, need, 1);
}

/* ------------------------------------------------------------- the copy */

static const struct hg_target_ops copy_ops;

static struct region *find_region(const struct copy *c, uint64_t addr)
{
    size_t lo = 0, hi = c->nregions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr < c->regions[mid].start)
            hi = mid;
        else if (addr >= c->regions[mid].end)
            lo = mid + 1;
        else
            return &c->regions[mid];
    }
    return NULL;
}

/* The first region starting above addr, or NULL. */
static const struct region *next_region(const struct copy *c, uint64_t addr)
{
    size_t lo = 0, hi = c->nregions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->regions[mid].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->nregions ? &c->regions[lo] : NULL;
}

/* The run of r that holds addr, or the first after it, or NULL. */
static const struct run *find_run(const struct copy *c, const struct region *r, uint64_t addr)
{
    size_t lo = r->first, hi = r->first + r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->runs[mid].addr + c->runs[mid].len <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->first + r->n ? &c->runs[lo] : NULL;
}

static long copy_read(hg_target *t, uint64_t addr, void *buf, size_t len)
{
    struct copy *c = t->backend;
    unsigned char *out = buf;
    size_t done = 0;
    while (done < len) {
        uint64_t a = addr + done;
        uint64_t want = len - done;
        const struct region *r = find_region(c, a);
        if (!r) {
            /* not copied: code, read-only data, a shared mapping -- the
             * process's own, which the copy did not need to freeze */
            const struct region *nx = next_region(c, a);
            if (nx && nx->start - a < want)
                want = nx->start - a;
            long n = c->live->ops->read(c->live, a, out + done, (size_t)want);
            if (n < 0)
                return done ? (long)done : n;
            done += (size_t)n;
            if ((uint64_t)n < want)
                break;
            continue;
        }
        if (r->end - a < want)
            want = r->end - a;
        const struct run *u = find_run(c, r, a);
        if (u && u->addr <= a) {
            uint64_t k = u->addr + u->len - a < want ? u->addr + u->len - a : want;
            memcpy(out + done, c->room + u->off + (a - u->addr), (size_t)k);
            done += (size_t)k;
        } else {
            /* a page that was not resident: zeros, as the process reads it */
            uint64_t stop = u ? u->addr : r->end;
            uint64_t k = stop - a < want ? stop - a : want;
            memset(out + done, 0, (size_t)k);
            done += (size_t)k;
        }
    }
    return (long)done;
}

static int copy_maps(hg_target *t, const hg_target *live)
{
    hg_free_maps(t);
    t->maps = calloc(live->nmaps ? live->nmaps : 1, sizeof *t->maps);
    if (!t->maps)
        return hg_fail(HG_ENOMEM, "out of memory");
    for (size_t i = 0; i < live->nmaps; i++) {
        hg_mapping *m = &t->maps[t->nmaps++];
        *m = live->maps[i];
        m->path = strdup(live->maps[i].path);
        m->build_id = live->maps[i].build_id ? strdup(live->maps[i].build_id) : NULL;
        if (!m->path || (live->maps[i].build_id && !m->build_id))
            return hg_fail(HG_ENOMEM, "out of memory");
    }
    return 0;
}

/* Nothing to stop: hand out the threads as they were at the copy, and the
 * mappings with the build-ids the live target found once it resumed. */
static int copy_stop(hg_target *t, unsigned flags)
{
    struct copy *c = t->backend;
    (void)flags;
    int rc = copy_maps(t, c->live);
    return rc ? rc : hg_target_set_threads(t, c->threads, c->nthreads);
}

static int copy_resume(hg_target *t, uint64_t *stopped_ns)
{
    (void)t;
    if (stopped_ns)
        *stopped_ns = HG_UNKNOWN;
    return 0;
}

static int copy_resident(hg_target *t, uint64_t addr, size_t npages, uint8_t *present)
{
    struct copy *c = t->backend;
    const struct region *r = find_region(c, addr);
    if (!r || npages > (r->end - addr) / PAGE)
        return -1;
    memcpy(present, r->present + (addr - r->start) / PAGE, npages);
    return 0;
}

static uint64_t copy_rss(hg_target *t) { return ((struct copy *)t->backend)->rss; }

static void copy_thread_name(hg_target *t, int tid, char *buf, size_t len)
{
    struct copy *c = t->backend;
    if (c->live->ops->thread_name)
        c->live->ops->thread_name(c->live, tid, buf, len);
    else if (len)
        buf[0] = '\0';
}

static void copy_close(hg_target *t)
{
    struct copy *c = t->backend;
    if (!c)
        return;
    if (c->shared_sym)
        t->sym = NULL;
    for (size_t i = 0; i < c->nregions; i++)
        free(c->regions[i].present);
    free(c->regions);
    free(c->runs);
    free(c->threads);
    free(c);
    t->backend = NULL;
}

static const struct hg_target_ops copy_ops = {
    .version = HG_TARGET_OPS_VERSION,
    .kind = HG_TARGET_PROCESS,
    .read = copy_read,
    .stop = copy_stop,
    .resume = copy_resume,
    .resident = copy_resident,
    .rss = copy_rss,
    .thread_name = copy_thread_name,
    .close = copy_close,
    /* no read-ahead thread: the walker's window points into the room
     * (hg_copy_span) instead of reading */
    .concurrent_reads = 0,
};

/* Read runs [first, first + n) from the process into the room.  What cannot
 * be read (a mapping gone meanwhile) is zeros. */
static int read_runs(struct copy *c, size_t first, size_t n)
{
    hg_span batch[BATCH];
    for (size_t i = first; i < first + n;) {
        size_t k = 0;
        for (; i < first + n && k < BATCH; i++, k++)
            batch[k] = (hg_span){c->runs[i].addr, (size_t)c->runs[i].len,
                                 c->room + c->runs[i].off, 0};
        if (hg_read_spans(c->live, batch, k) < 0)
            return hg_error_code() ? hg_error_code() : HG_ENOPROC;
        uint64_t got = 0;
        for (size_t j = 0; j < k; j++)
            got += batch[j].len;
        hg_progress_add(got);
        for (size_t j = 0; j < k; j++)
            if (batch[j].got < batch[j].len)
                memset((unsigned char *)batch[j].buf + batch[j].got, 0,
                       batch[j].len - batch[j].got);
    }
    return 0;
}

/* The offset (the third word) of glibc's libthread_db description of a
 * field. */
static int thread_db_field(hg_module *m, hg_target *t, const char *name, uint64_t *off)
{
    uint32_t desc[3];
    if (hg_thread_db_field(t, m, name, desc) != 0)
        return -1;
    *off = desc[2];
    return 0;
}

/* Most threads a list is followed for: a loop in a list must end. */
#define MAX_LISTED_THREADS 100000

/*
 * Each thread's thread pointer without stopping it, the way libthread_db
 * finds them: ld.so's lists of thread descriptors (_rtld_global's
 * _dl_stack_used and _dl_stack_user, the main thread on the second), each
 * descriptor's tid, and on x86_64 the thread pointer is the descriptor's
 * address.  libc describes the offsets (_thread_db_*, glibc 2.34+).  A
 * thread not found keeps none: its tcache is not read.
 */
static void running_thread_pointers(struct copy *c)
{
    hg_target *live = c->live;
    hg_module *libc = hg_module_find(live, "libc.so."), *ld = hg_module_find(live, "ld-linux");
    if (!ld)
        ld = hg_module_find(live, "ld-");
    uint64_t rtld, used, user, list, tid;
    if (!libc || !ld || hg_module_symbol(ld, "_rtld_global", &rtld, NULL, NULL) != 0 ||
        thread_db_field(libc, live, "_thread_db_rtld_global__dl_stack_used", &used) != 0 ||
        thread_db_field(libc, live, "_thread_db_rtld_global__dl_stack_user", &user) != 0 ||
        thread_db_field(libc, live, "_thread_db_pthread_list", &list) != 0 ||
        thread_db_field(libc, live, "_thread_db_pthread_tid", &tid) != 0)
        return;
    const uint64_t heads[2] = {rtld + used, rtld + user};
    for (int h = 0; h < 2; h++) {
        uint64_t node;
        if (hg_read_u64(live, heads[h], &node) != 0)
            continue;
        for (int k = 0; node && node != heads[h] && k < MAX_LISTED_THREADS; k++) {
            uint64_t pd = node - list;
            int32_t id;
            if (hg_read_exact(live, pd + tid, &id, sizeof id) != 0)
                break;
            for (size_t i = 0; i < c->nthreads; i++)
                if (c->threads[i].tid == id)
                    c->threads[i].fs_base = pd;
            if (hg_read_u64(live, node, &node) != 0)
                break;
        }
    }
}

/* The threads of a process that runs: their ids and thread pointers, no
 * registers. */
static int running_threads(struct copy *c)
{
    int *tids;
    size_t n;
    if (hg_proc_tasks(c->live->proc_pid, &tids, &n) != 0)
        return hg_fail(HG_ENOPROC, "process %d exited", c->live->process_id);
    c->threads = calloc(n ? n : 1, sizeof *c->threads);
    if (!c->threads) {
        free(tids);
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        c->threads[i] = (hg_thread){.tid = tids[i]};
    c->nthreads = n;
    free(tids);
    running_thread_pointers(c);
    return 0;
}

int hg_copy_take(hg_target *live, unsigned flags, uint64_t budget, hg_target **out,
                 uint64_t *bytes)
{
    struct live *lv = live->backend;
    *out = NULL;
    *bytes = 0;
    if (flags & HG_COPY_RUNNING) {
        /* the mappings as they are now: a stop would have read them */
        int m = hg_proc_maps(live, live->proc_pid);
        if (m == -1)
            return hg_fail(HG_ENOPROC, "process %d exited", live->process_id);
        if (m < 0)
            return m;
        hg_target_fill_build_ids(live);
    }
    struct copy *c = calloc(1, sizeof *c);
    hg_target *t = c ? hg_target_alloc(&copy_ops) : NULL;
    if (!t) {
        free(c);
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    t->backend = c;
    c->live = live;
    int rc = 0;
    size_t nr = 0, capr = 0;
    c->regions = calloc(live->nmaps ? live->nmaps : 1, sizeof *c->regions);
    if (!c->regions)
        rc = hg_fail(HG_ENOMEM, "out of memory");
    uint64_t total = 0;
    for (size_t i = 0; i < live->nmaps && rc == 0; i++) {
        const hg_mapping *m = &live->maps[i];
        if (!copyable(m))
            continue;
        size_t pages = (size_t)((m->end - m->start) / PAGE);
        struct region *r = &c->regions[c->nregions++];
        *r = (struct region){m->start, m->end, malloc(pages ? pages : 1), nr, 0};
        if (!r->present) {
            rc = hg_fail(HG_ENOMEM, "out of memory");
            break;
        }
        residency(live, m->start, m->end, r->present);
        for (size_t k = 0; k < pages && rc == 0;) {
            if (!r->present[k]) {
                k++;
                continue;
            }
            size_t e = k;
            while (e < pages && r->present[e])
                e++;
            if (nr == capr) {
                capr = capr ? capr * 2 : 256;
                struct run *p = realloc(c->runs, capr * sizeof *p);
                if (!p) {
                    rc = hg_fail(HG_ENOMEM, "out of memory");
                    break;
                }
                c->runs = p;
            }
            uint64_t len = (uint64_t)(e - k) * PAGE;
            c->runs[nr++] = (struct run){m->start + (uint64_t)k * PAGE, len, total};
            total += len;
            r->n++;
            k = e;
        }
    }
    c->nruns = nr;
    *bytes = total;
    if (rc == 0 && total > budget)
        rc = 1;
    if (rc == 0)
        rc = room_grow(lv, total, 0); /* faulted in before, unless it grew */
    if (rc == 0) {
        c->room = lv->room;
        hg_progress_begin("copying the process", "bytes", total);
        rc = read_runs(c, 0, c->nruns);
        hg_progress_end();
    }
    if (rc == 0) {
        if (flags & HG_COPY_RUNNING) {
            rc = running_threads(c);
        } else {
            c->threads = calloc(live->nthreads ? live->nthreads : 1, sizeof *c->threads);
            if (!c->threads)
                rc = hg_fail(HG_ENOMEM, "out of memory");
            else if (live->nthreads)
                memcpy(c->threads, live->threads, live->nthreads * sizeof *c->threads);
            c->nthreads = live->nthreads;
        }
    }
    if (rc == 0) {
        c->rss = live->ops->rss ? live->ops->rss(live) : 0;
        t->process_id = live->process_id;
        t->proc_pid = live->proc_pid;
        memcpy(t->exe, live->exe, sizeof t->exe);
        rc = hg_target_set_sysroot(t, live->sysroot);
    }
    if (rc == 0 && (flags & HG_COPY_RUNNING))
        rc = copy_maps(t, live);
    if (rc) {
        hg_target_close(t);
        return rc;
    }
    /* the modules live found (hg_locate) serve the copy too: same process */
    if (live->sym) {
        t->sym = live->sym;
        c->shared_sym = 1;
    }
    *out = t;
    return 0;
}

const unsigned char *hg_copy_bytes(const hg_target *t, uint64_t addr, uint64_t len)
{
    if (!t || t->ops != &copy_ops)
        return NULL;
    const struct copy *c = t->backend;
    const struct region *r = find_region(c, addr);
    const struct run *u = r ? find_run(c, r, addr) : NULL;
    if (!u || u->addr > addr || len > u->addr + u->len - addr)
        return NULL;
    return c->room + u->off + (addr - u->addr);
}

const unsigned char *hg_copy_span(const hg_target *t, uint64_t addr, uint64_t *len)
{
    if (!t || t->ops != &copy_ops)
        return NULL;
    const struct copy *c = t->backend;
    const struct region *r = find_region(c, addr);
    const struct run *u = r ? find_run(c, r, addr) : NULL;
    if (!u || u->addr > addr)
        return NULL;
    *len = u->addr + u->len - addr;
    return c->room + u->off + (addr - u->addr);
}

unsigned char *hg_copy_base(const hg_target *t)
{
    return t && t->ops == &copy_ops ? ((const struct copy *)t->backend)->room : NULL;
}

int hg_copy_reread(hg_target *t, uint64_t addr)
{
    if (!t || t->ops != &copy_ops)
        return 1;
    struct copy *c = t->backend;
    if (addr == 0)
        return read_runs(c, 0, c->nruns);
    const struct region *r = find_region(c, addr);
    if (!r)
        return 1;
    /* Only the pages around addr: a tear is where the program changed a
     * few chunks while the copy went by; a short read is over before the
     * program can tear it again, a whole heap's would not be. */
    uint64_t lo = addr > r->start + REREAD ? (addr - REREAD) & ~(uint64_t)(PAGE - 1) : r->start;
    uint64_t hi = r->end - addr > REREAD ? (addr + REREAD) & ~(uint64_t)(PAGE - 1) : r->end;
    hg_span batch[64];
    size_t k = 0;
    for (size_t i = r->first; i < r->first + r->n; i++) {
        const struct run *u = &c->runs[i];
        uint64_t a = u->addr > lo ? u->addr : lo, b = u->addr + u->len < hi ? u->addr + u->len : hi;
        if (a >= b)
            continue;
        if (k == 64)
            break;
        batch[k++] = (hg_span){a, (size_t)(b - a), c->room + u->off + (a - u->addr), 0};
    }
    if (hg_read_spans(c->live, batch, k) < 0)
        return hg_error_code() ? hg_error_code() : HG_ENOPROC;
    return 0;
}
