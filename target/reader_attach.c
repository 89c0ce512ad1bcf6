/*
 * reader_attach.c -- a target made of a caller-supplied memory reader (how
 * a debugger plugs in): memory through the caller's read(), mappings and
 * threads as the caller gives them.  The caller keeps the target still.
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
static int reader_stop(hg_target *t, unsigned flags)
{
    (void)flags; /* the caller's mappings are all there is */
    struct reader *rd = t->backend;
    return hg_target_set_threads(t, rd->threads, rd->r.nthreads);
}

/* heapgrab stopped nothing: how long the caller held the target is the
 * caller's to know. */
static int reader_resume(hg_target *t, uint64_t *stopped_ns)
{
    (void)t;
    if (stopped_ns)
        *stopped_ns = HG_UNKNOWN;
    return 0;
}

static void reader_close(hg_target *t)
{
    struct reader *rd = t->backend;
    if (rd)
        free(rd->threads);
    free(rd);
}

static const struct hg_target_ops reader_ops = {
    .version = HG_TARGET_OPS_VERSION,
    .kind = HG_TARGET_READER,
    .read = reader_read,
    .stop = reader_stop,
    .resume = reader_resume,
    .close = reader_close,
};

int hg_target_from_reader(const hg_reader *reader, hg_target **out)
{
    *out = NULL;
    if (!reader || !reader->read)
        return hg_fail(HG_EUSAGE, "a reader needs a read callback");
    hg_target *t = hg_target_alloc(&reader_ops);
    if (!t)
        return hg_error_code();
    struct reader *rd = calloc(1, sizeof *rd);
    if (!rd) {
        hg_target_close(t);
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
        const hg_mapping *m = &reader->mappings[i];
        t->maps[i] = *m;
        t->maps[i].path = strdup(m->path ? m->path : "");
        t->maps[i].build_id = m->build_id ? strdup(m->build_id) : NULL;
        if (!t->maps[i].path || (m->build_id && !t->maps[i].build_id)) {
            free((char *)t->maps[i].path);
            free((char *)t->maps[i].build_id);
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
    t->proc_pid = reader->pid > 0 ? reader->pid : 0;
    t->process_id = t->proc_pid;
    if (reader->pid > 0) {
        /* a process of this machine: its files as it sees them */
        char root[64];
        snprintf(root, sizeof root, "/proc/%d/root", reader->pid);
        int rc = hg_target_set_sysroot(t, root);
        if (rc < 0) {
            hg_target_close(t);
            return rc;
        }
    }
    if (reader->exe)
        snprintf(t->exe, sizeof t->exe, "%s", reader->exe);
    /* the build-ids the caller did not give: from the files, on this
     * machine (under /proc/PID/root when there is a process) */
    hg_target_fill_build_ids(t);
    *out = t;
    return 0;
}
