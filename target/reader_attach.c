/*
 * reader.c -- a target made of a caller-supplied memory reader (how a
 * debugger plugs in), and the backend-independent target calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/target.h"
#include "lib/error.h"

struct reader {
    hg_reader r;
    hg_thread *threads;  /* the caller's threads, as a stop reports them */
};

static long reader_read(hg_target *t, uint64_t addr, void *buf, size_t len)
{
    const hg_reader *r = &((struct reader *)t->backend)->r;
    size_t done = 0;
    while (done < len) {
        long n = r->read(r->ctx, addr + done, (char *)buf + done, len - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    return (long)done;
}

/* The debugger holds the target still: stopping is taking its threads. */
static int reader_stop(hg_target *t)
{
    struct reader *rd = t->backend;
    return hg_target_set_threads(t, rd->threads, rd->r.nthreads);
}

static void reader_resume(hg_target *t) { (void)t; }

static void reader_close(hg_target *t)
{
    struct reader *rd = t->backend;
    if (rd)
        free(rd->threads);
    free(rd);
}

static const struct hg_target_ops reader_ops = {
    .read = reader_read,
    .stop = reader_stop,
    .resume = reader_resume,
    .close = reader_close,
    .no_stop = 1,
};

int hg_target_from_reader(const hg_reader *reader, hg_target **out)
{
    *out = NULL;
    if (!reader || !reader->read)
        return hg_fail(HG_EUSAGE, "a reader needs a read callback");
    hg_target *t = hg_target_alloc(&reader_ops);
    struct reader *rd = calloc(1, sizeof *rd);
    if (!t || !rd) {
        free(t);
        free(rd);
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    rd->r = *reader;
    t->backend = rd;
    rd->threads = calloc(reader->nthreads ? reader->nthreads : 1, sizeof *rd->threads);
    t->maps = calloc(reader->nmappings ? reader->nmappings : 1, sizeof *t->maps);
    if (!rd->threads || !t->maps) {
        hg_target_close(t);
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < reader->nthreads; i++) {
        rd->threads[i].tid = reader->threads[i].tid;
        rd->threads[i].fs_base = reader->threads[i].fs_base;
        rd->threads[i].stopped = 1;
    }
    for (size_t i = 0; i < reader->nmappings; i++) {
        t->maps[i] = reader->mappings[i];
        t->maps[i].path = strdup(reader->mappings[i].path ? reader->mappings[i].path : "");
        t->maps[i].build_id = NULL;
        if (!t->maps[i].path) {
            hg_target_close(t);
            return hg_fail(HG_ENOMEM, "out of memory");
        }
        t->nmaps = i + 1;
        if (i && t->maps[i].start < t->maps[i - 1].start) {
            hg_target_close(t);
            return hg_fail(HG_EUSAGE, "reader mappings must be sorted by address");
        }
    }
    /* the copies are ours; the caller's arrays may go away */
    rd->r.mappings = NULL;
    rd->r.threads = NULL;
    t->pid = reader->pid;
    if (reader->pid > 0)
        snprintf(t->root, sizeof t->root, "/proc/%d/root", reader->pid);
    if (reader->exe)
        snprintf(t->exe, sizeof t->exe, "%s", reader->exe);
    *out = t;
    return 0;
}

void hg_target_close(hg_target *t)
{
    if (!t)
        return;
    if (t->ops->close)
        t->ops->close(t);
    hg_symbols_free(t);
    hg_free_maps(t);
    free(t->threads);
    free(t);
}

int hg_target_pid(const hg_target *t) { return t ? t->pid : 0; }
