/* target.c -- what every target backend shares: exact reads, spans,
 * mapping lookups, the files a target names. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/user.h>
#include <unistd.h>

#include "target/target.h"
#include "target/files.h"
#include "lib/error.h"

hg_target *hg_target_alloc(const struct hg_target_ops *ops)
{
    if (!ops || ops->version != HG_TARGET_OPS_VERSION) {
        hg_fail(HG_EINTERNAL, "target backend of contract version %d, not %d",
                ops ? ops->version : -1, HG_TARGET_OPS_VERSION);
        return NULL;
    }
    if (!ops->read || !ops->stop || !ops->resume) {
        hg_fail(HG_EINTERNAL, "target backend without read, stop or resume");
        return NULL;
    }
    hg_target *t = calloc(1, sizeof *t);
    if (t && !(t->sysroot = strdup(""))) {
        free(t);
        t = NULL;
    }
    if (!t) {
        hg_fail(HG_ENOMEM, "out of memory");
        return NULL;
    }
    t->ops = ops;
    return t;
}

int hg_target_set_sysroot(hg_target *t, const char *root)
{
    char *copy = strdup(root ? root : "");
    if (!copy)
        return hg_fail(HG_ENOMEM, "out of memory");
    free(t->sysroot);
    t->sysroot = copy;
    return 0;
}

int hg_target_set_threads(hg_target *t, const hg_thread *threads, size_t n)
{
    hg_thread *copy = calloc(n ? n : 1, sizeof *copy);
    if (!copy)
        return hg_fail(HG_ENOMEM, "out of memory");
    if (n)
        memcpy(copy, threads, n * sizeof *copy);
    free(t->threads);
    t->threads = copy;
    t->nthreads = n;
    return 0;
}

int hg_read_exact(hg_target *t, uint64_t addr, void *buf, size_t len)
{
    hg_error_clear(); /* a backend may say why a read fell short */
    long n = t->ops->read(t, addr, buf, len);
    if (n < 0)
        return hg_error_code() ? hg_error_code() : HG_EIO;
    if ((size_t)n != len) {
        if (hg_error_message()[0])
            return hg_error_code() ? hg_error_code() : HG_EIO;
        return hg_fail(HG_EIO, "cannot read %zu bytes at 0x%" PRIx64, len, addr);
    }
    return 0;
}

int hg_read_u64(hg_target *t, uint64_t addr, uint64_t *out)
{
    return hg_read_exact(t, addr, out, sizeof *out);
}

int hg_read_spans(hg_target *t, hg_span *spans, size_t n)
{
    if (t->ops->read_spans)
        return t->ops->read_spans(t, spans, n);
    for (size_t i = 0; i < n; i++) {
        long got = t->ops->read(t, spans[i].addr, spans[i].buf, spans[i].len);
        if (got < 0)
            return -1;
        spans[i].got = (size_t)got;
    }
    return 0;
}

int hg_target_check_alive(hg_target *t)
{
    /* Any address will do: read returns -1 for nothing but a target that
     * is gone, wherever it reads. */
    unsigned char byte;
    if (t->nmaps && t->ops->read(t, t->maps[0].start, &byte, 1) < 0)
        return hg_error_code() ? hg_error_code() : HG_ENOPROC;
    return 0;
}

char *hg_target_path(const hg_target *t, const char *path)
{
    size_t len = strlen(t->sysroot) + strlen(path) + 1;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s%s", t->sysroot, path);
    return out;
}

int hg_target_open_file(hg_target *t, const char *path, char **opened)
{
    if (opened)
        *opened = NULL;
    if (t->ops->open_file) {
        const char *name = NULL;
        int fd = t->ops->open_file(t, path, &name);
        if (fd >= 0 && opened && !(*opened = strdup(name ? name : path))) {
            close(fd);
            return -1;
        }
        return fd;
    }
    char *file = hg_target_path(t, path);
    int fd = file ? hg_open_file(file, 1, NULL) : -1;
    if (fd >= 0 && opened)
        *opened = file;
    else
        free(file);
    return fd;
}

void hg_target_fill_build_ids(hg_target *t)
{
    /* A library's mappings are usually next to one another: remember the
     * last file looked at.  (A file seen again further on is looked at
     * again: a few system calls, outside any stop.) */
    const char *last = NULL, *last_id = NULL;
    for (size_t i = 0; i < t->nmaps; i++) {
        hg_mapping *m = &t->maps[i];
        if (m->build_id || m->path[0] != '/' || m->perms[2] != 'x')
            continue;
        if (!last || strcmp(last, m->path) != 0) {
            char hex[HG_BUILD_ID_HEX];
            int fd = hg_target_open_file(t, m->path, NULL);
            if (fd < 0 && t->proc_pid > 0) {
                /* A chrooted process's maps name its files as this
                 * process sees them (the host's path), not under its own
                 * root: the kernel's link to the very file mapped there
                 * finds it whatever the paths (root, or the ptrace
                 * access heapgrab has anyway, is needed to open it). */
                char link[96];
                snprintf(link, sizeof link, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, t->proc_pid,
                         m->start, m->end);
                fd = hg_open_file(link, 1, NULL);
            }
            last = m->path;
            last_id = NULL;
            if (fd >= 0 && hg_file_build_id(fd, hex))
                last_id = strdup(hex);
            if (fd >= 0)
                close(fd);
            m->build_id = last_id;
            continue;
        }
        if (last_id)
            m->build_id = strdup(last_id);
    }
}

/* Index of the mapping containing addr, or t->nmaps. */
static size_t mapping_index(const hg_target *t, uint64_t addr)
{
    size_t lo = 0, hi = t->nmaps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr < t->maps[mid].start)
            hi = mid;
        else if (addr >= t->maps[mid].end)
            lo = mid + 1;
        else
            return mid;
    }
    return t->nmaps;
}

const hg_mapping *hg_find_mapping(const hg_target *t, uint64_t addr)
{
    size_t i = mapping_index(t, addr);
    return i < t->nmaps ? &t->maps[i] : NULL;
}

uint64_t hg_mapping_run_end(const hg_target *t, uint64_t addr)
{
    size_t i = mapping_index(t, addr);
    if (i == t->nmaps)
        return 0;
    while (i + 1 < t->nmaps) {
        const hg_mapping *m = &t->maps[i], *n = &t->maps[i + 1];
        if (n->start != m->end || strncmp(n->perms, m->perms, 4) != 0 ||
            strcmp(n->path, m->path) != 0)
            break;
        i++;
    }
    return t->maps[i].end;
}

void hg_free_maps(hg_target *t)
{
    for (size_t i = 0; i < t->nmaps; i++) {
        free((char *)t->maps[i].path);
        free((char *)t->maps[i].build_id);
    }
    free(t->maps);
    t->maps = NULL;
    t->nmaps = 0;
}

void hg_thread_set_regs(hg_thread *th, const struct user_regs_struct *r)
{
    const uint64_t v[17] = {r->rax, r->rdx, r->rcx, r->rbx, r->rsi, r->rdi, r->rbp, r->rsp,
                            r->r8,  r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15,
                            r->rip};
    memcpy(th->regs, v, sizeof v);
    th->have_regs = 1;
    th->fs_base = r->fs_base;
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
    free(t->sysroot);
    free(t);
}

int hg_target_pid(const hg_target *t) { return t ? t->proc_pid : 0; }
