/* progress.c -- see progress.h and hg_progress in heapgrab.h. */
#include "lib/progress.h"

#include "lib/clock.h"

/* One watcher per process: progress is a property of the frontend's
 * display, not of a target or snapshot. */
static hg_progress *watcher;

void hg_progress_watch(hg_progress *p) { __atomic_store_n(&watcher, p, __ATOMIC_RELEASE); }

void hg_progress_begin(const char *what, const char *unit, uint64_t total)
{
    hg_progress *p = __atomic_load_n(&watcher, __ATOMIC_ACQUIRE);
    if (!p)
        return;
    /* serial odd while the fields change: a reader retries (a seqlock) */
    uint64_t serial = __atomic_load_n(&p->serial, __ATOMIC_RELAXED);
    __atomic_store_n(&p->serial, serial | 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&p->unit, unit, __ATOMIC_RELAXED);
    __atomic_store_n(&p->total, total, __ATOMIC_RELAXED);
    __atomic_store_n(&p->done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&p->started_ns, hg_now_ns(), __ATOMIC_RELAXED);
    __atomic_store_n(&p->what, what, __ATOMIC_RELAXED);
    __atomic_store_n(&p->serial, (serial | 1) + 1, __ATOMIC_RELEASE);
}

void hg_progress_set(uint64_t done)
{
    hg_progress *p = __atomic_load_n(&watcher, __ATOMIC_RELAXED);
    if (p)
        __atomic_store_n(&p->done, done, __ATOMIC_RELAXED);
}

void hg_progress_add(uint64_t n)
{
    hg_progress *p = __atomic_load_n(&watcher, __ATOMIC_RELAXED);
    if (p)
        __atomic_store_n(&p->done, __atomic_load_n(&p->done, __ATOMIC_RELAXED) + n,
                         __ATOMIC_RELAXED);
}

void hg_progress_end(void)
{
    hg_progress *p = __atomic_load_n(&watcher, __ATOMIC_ACQUIRE);
    if (!p)
        return;
    uint64_t serial = __atomic_load_n(&p->serial, __ATOMIC_RELAXED);
    __atomic_store_n(&p->serial, serial | 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&p->what, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&p->serial, (serial | 1) + 1, __ATOMIC_RELEASE);
}

void hg_progress_read(const hg_progress *p, hg_progress *out)
{
    for (int tries = 0; tries < 1000; tries++) {
        uint64_t s0 = __atomic_load_n(&p->serial, __ATOMIC_ACQUIRE);
        out->what = __atomic_load_n(&p->what, __ATOMIC_RELAXED);
        out->unit = __atomic_load_n(&p->unit, __ATOMIC_RELAXED);
        out->total = __atomic_load_n(&p->total, __ATOMIC_RELAXED);
        out->done = __atomic_load_n(&p->done, __ATOMIC_RELAXED);
        out->started_ns = __atomic_load_n(&p->started_ns, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        out->serial = __atomic_load_n(&p->serial, __ATOMIC_RELAXED);
        if (!(s0 & 1) && s0 == out->serial)
            return;
    }
    out->what = NULL; /* a writer stuck mid-update: show nothing */
}
