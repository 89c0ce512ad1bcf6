/*
 * reader.c -- a target made of a caller-supplied memory reader (how a
 * debugger plugs in), and the backend-independent target calls.
 */
#include <stdlib.h>
#include <string.h>

#include "attach/target.h"
#include "lib/error.h"

static long reader_read(hg_target *t, uint64_t addr, void *buf, size_t len)
{
    const hg_reader *r = t->backend;
    size_t done = 0;
    while (done < len) {
        long n = r->read(r->ctx, addr + done, (char *)buf + done, len - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    return (long)done;
}

/* The debugger holds the target still; there is nothing to stop. */
static int reader_stop(hg_target *t)
{
    t->nthreads = 0;
    return 0;
}

static void reader_resume(hg_target *t) { (void)t; }

static void reader_close(hg_target *t) { free(t->backend); }

static const struct hg_target_ops reader_ops = {
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
    hg_reader *copy = malloc(sizeof *copy);
    if (!t || !copy) {
        free(t);
        free(copy);
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    *copy = *reader;
    t->backend = copy;
    if (reader->nmappings) {
        t->maps = calloc(reader->nmappings, sizeof *t->maps);
        if (!t->maps) {
            hg_target_close(t);
            return hg_fail(HG_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < reader->nmappings; i++) {
            t->maps[i] = reader->mappings[i];
            t->maps[i].path = strdup(reader->mappings[i].path ? reader->mappings[i].path : "");
            t->maps[i].build_id = NULL;
        }
        t->nmaps = reader->nmappings;
    }
    copy->mappings = NULL;
    copy->nmappings = 0;
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
