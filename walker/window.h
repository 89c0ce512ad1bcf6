/*
 * window.h -- a sliding window over target memory for front-to-back walks.
 *
 * The heap is read in WINDOW-sized blocks, never a system call per chunk.
 * When the target's reads may run on another thread (live processes), the
 * next block is read ahead on a helper thread while the current one is
 * parsed, so copying and parsing overlap.
 */
#ifndef HG_WINDOW_H
#define HG_WINDOW_H

#include <pthread.h>
#include <stdint.h>

#include "target/target.h"

#define HG_WINDOW (8u << 20)
#define HG_WINDOW_TAIL 4096u  /* bytes of the old block carried into the next */

/* Length of the run of pages from addr (below end) that all are, or all
 * are not, unpopulated; *hole says which.  Unpopulated pages read as
 * zeros and are not read: reading would map the zero page into the
 * target, changing what it (and the next snapshot) sees as resident. */
typedef uint64_t (*hg_hole_run)(void *ctx, uint64_t addr, uint64_t end, int *hole);

typedef struct hg_window {
    hg_target *t;
    hg_hole_run holes;        /* optional */
    void *holes_ctx;
    unsigned char *buf[2];    /* each HG_WINDOW_TAIL + cap[i] bytes, or NULL */
    size_t cap[2];            /* grown as reads ask, at most HG_WINDOW */
    int no_thread;            /* the read-ahead thread could not start */
    int cur;                  /* buffer holding the window */
    const unsigned char *data;
    uint64_t start, end;      /* the window: [start, end) at data */

    /* read-ahead of [ra_addr, ra_addr + ra_len) into buf[!cur] + TAIL */
    int threaded;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ra_state;             /* 0 idle, 1 asked, 2 done, 3 quit */
    uint64_t ra_addr;
    size_t ra_len;
    long ra_got;
} hg_window;

int hg_window_init(hg_window *w, hg_target *t);
void hg_window_free(hg_window *w);
/* Forget the window (the walk moves elsewhere). */
void hg_window_reset(hg_window *w);
/* [addr, addr + need) readable at the returned pointer, reading ahead up
 * to limit; NULL if the target cannot be read there. */
const unsigned char *hg_window_get(hg_window *w, uint64_t addr, uint64_t need, uint64_t limit);

#endif
