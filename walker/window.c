/* window.c -- see window.h. */
#include <stdlib.h>
#include <string.h>

#include "lib/array.h"
#include "walker/window.h"

/* From this size a buffer is aligned and advised to huge pages. */
#define HG_WINDOW_HUGE (2u << 20)

/* Read [addr, addr + len) into dst, skipping unpopulated pages. */
static long read_range(hg_window *w, uint64_t addr, unsigned char *dst, size_t len)
{
    if (!w->holes)
        return w->t->ops->read(w->t, addr, dst, len);
    size_t done = 0;
    while (done < len) {
        int hole;
        uint64_t run = w->holes(w->holes_ctx, addr + done, addr + len, &hole);
        if (run == 0 || run > len - done)
            run = len - done;
        if (hole) {
            memset(dst + done, 0, (size_t)run);
        } else {
            long n = w->t->ops->read(w->t, addr + done, dst + done, (size_t)run);
            if (n < 0)
                return done ? (long)done : n;
            if ((uint64_t)n < run)
                return (long)(done + (size_t)n);
        }
        done += (size_t)run;
    }
    return (long)done;
}

static void *reader(void *arg)
{
    hg_window *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->ra_state != 1 && w->ra_state != 3)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->ra_state == 3)
            break;
        uint64_t addr = w->ra_addr;
        size_t len = w->ra_len;
        unsigned char *dst = w->buf[!w->cur] + HG_WINDOW_TAIL;
        pthread_mutex_unlock(&w->mu);
        long got = read_range(w, addr, dst, len);
        pthread_mutex_lock(&w->mu);
        w->ra_got = got;
        w->ra_state = 2;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int hg_window_init(hg_window *w, hg_target *t)
{
    memset(w, 0, sizeof *w);
    w->t = t;
    return 0;
}

/* Room for len bytes after the tail in buffer i, which holds nothing
 * wanted (neither the window nor a read-ahead under way).  The buffers grow
 * to what the heaps ask, up to HG_WINDOW: a small heap never costs two
 * 8 MiB buffers (each walk of a test's 100 KiB heap faulted 16 MiB in). */
static int room(hg_window *w, int i, size_t len)
{
    if (len <= w->cap[i])
        return 0;
    size_t cap = w->cap[i] ? w->cap[i] * 2 : 64u << 10;
    if (cap < len)
        cap = len;
    if (cap > HG_WINDOW)
        cap = HG_WINDOW;
    if (cap < len)
        return -1;
    unsigned char *b;
    if (cap < HG_WINDOW_HUGE) {
        b = realloc(w->buf[i], HG_WINDOW_TAIL + cap);
        if (!b)
            return -1;
    } else {
        /* A buffer process_vm_readv writes into goes on huge pages: with
         * 4 KiB pages the read of 1.6 GiB through an 8 MiB buffer took
         * 0.85-1.05 s on a PVM guest (the TLB misses of shadow page
         * tables), on huge pages 0.39-0.44 s.  Nothing in it is wanted,
         * so no copy. */
        size_t len = (HG_WINDOW_TAIL + cap + HG_WINDOW_HUGE - 1) & ~(size_t)(HG_WINDOW_HUGE - 1);
        void *q = NULL;
        if (posix_memalign(&q, HG_WINDOW_HUGE, len) != 0)
            return -1;
        hg_advise_huge(q, len);
        free(w->buf[i]);
        b = q;
    }
    w->buf[i] = b;
    w->cap[i] = cap;
    return 0;
}

/* The read-ahead thread, started at the first read-ahead (a walk of a
 * target that reads in one go never has one). */
static int start_reader(hg_window *w)
{
    if (w->threaded || w->no_thread || !w->t->ops->concurrent_reads)
        return w->threaded;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->threaded = pthread_create(&w->th, NULL, reader, w) == 0;
    if (!w->threaded) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        w->no_thread = 1;
    }
    return w->threaded;
}

/* Wait until no read-ahead is running; returns with the lock held. */
static void settle(hg_window *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->ra_state == 1)
        pthread_cond_wait(&w->cv, &w->mu);
}

void hg_window_free(hg_window *w)
{
    if (w->threaded) {
        settle(w);
        w->ra_state = 3;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->th, NULL);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    free(w->buf[0]);
    free(w->buf[1]);
    memset(w, 0, sizeof *w);
}

void hg_window_reset(hg_window *w)
{
    if (w->threaded) {
        settle(w);
        w->ra_state = 0;
        pthread_mutex_unlock(&w->mu);
    }
    w->start = w->end = 0;
}

static void read_ahead(hg_window *w, uint64_t limit)
{
    if (w->end >= limit || !start_reader(w))
        return;
    uint64_t len = limit - w->end;
    size_t want = len > HG_WINDOW ? HG_WINDOW : (size_t)len;
    /* the reader is idle and buf[!cur] is not the window */
    if (room(w, !w->cur, want) != 0)
        return;
    pthread_mutex_lock(&w->mu);
    w->ra_addr = w->end;
    w->ra_len = want;
    w->ra_state = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

const unsigned char *hg_window_get(hg_window *w, uint64_t addr, uint64_t need, uint64_t limit)
{
    if (addr >= w->start && addr + need <= w->end && addr + need > addr)
        return w->data + (addr - w->start);

    /* A copy of the process (target/copy_attach.c): the window is the
     * copy itself, as far as it goes in one piece -- no read at all. */
    uint64_t run;
    const unsigned char *direct = hg_copy_span(w->t, addr, &run);
    if (direct && run >= need) {
        w->data = direct;
        w->start = addr;
        w->end = addr + run;
        return w->data;
    }

    if (w->threaded) {
        settle(w);
        /* The read-ahead continues the current window: use it, carrying
         * over the old window's tail when addr starts before it. */
        uint64_t ra_end = w->ra_addr + (uint64_t)(w->ra_got > 0 ? w->ra_got : 0);
        const unsigned char *data = NULL;
        unsigned char *nb = w->buf[!w->cur];
        if (w->ra_state == 2 && w->ra_got > 0 && w->end && w->ra_addr == w->end &&
            addr + need <= ra_end && addr + need > addr) {
            if (addr >= w->ra_addr) {
                data = nb + HG_WINDOW_TAIL + (addr - w->ra_addr);
            } else if (addr >= w->start && w->end - addr <= HG_WINDOW_TAIL) {
                uint64_t tail = w->end - addr;
                memcpy(nb + HG_WINDOW_TAIL - tail, w->data + (addr - w->start), (size_t)tail);
                data = nb + HG_WINDOW_TAIL - tail;
            }
        }
        w->ra_state = 0;
        pthread_mutex_unlock(&w->mu);
        if (data) {
            w->cur = !w->cur;
            w->data = data;
            w->start = addr;
            w->end = ra_end;
            read_ahead(w, limit);
            return w->data;
        }
    }

    uint64_t len = limit > addr ? limit - addr : 0;
    if (len > HG_WINDOW)
        len = HG_WINDOW;
    if (len < need)
        len = need;
    if (len > HG_WINDOW) {
        w->start = w->end = 0;
        return NULL;
    }
    /* the window moves: buf[cur] holds nothing wanted any more */
    if (room(w, w->cur, (size_t)len) != 0) {
        w->start = w->end = 0;
        return NULL;
    }
    unsigned char *dst = w->buf[w->cur] + HG_WINDOW_TAIL;
    long n = read_range(w, addr, dst, (size_t)len);
    if (n < 0 || (uint64_t)n < need) {
        w->start = w->end = 0;
        return NULL;
    }
    w->data = dst;
    w->start = addr;
    w->end = addr + (uint64_t)n;
    read_ahead(w, limit);
    return w->data;
}
