/* target.c -- what every target backend shares: maps, exact reads, clocks. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "target/target.h"
#include "lib/error.h"

hg_target *hg_target_alloc(const struct hg_target_ops *ops)
{
    hg_target *t = calloc(1, sizeof *t);
    if (t)
        t->ops = ops;
    return t;
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

/* errno for a file that is not a regular file. */
static int kind_error(const struct stat *st)
{
    return S_ISDIR(st->st_mode) ? EISDIR : ENODEV;
}

/* Files of the kernel's own file systems look regular (/proc/kcore is even
 * an ELF file) but are views of the machine, not files a process mapped
 * from disk: a core that names one must not make heapgrab read it. */
static int kernel_view(int fd)
{
    static const unsigned long kinds[] = {
        PROC_SUPER_MAGIC, SYSFS_MAGIC,        DEBUGFS_MAGIC,       TRACEFS_MAGIC,
        SECURITYFS_MAGIC, CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, BPF_FS_MAGIC,
        EFIVARFS_MAGIC};
    struct statfs fs;
    if (fstatfs(fd, &fs) != 0)
        return 1;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if ((unsigned long)fs.f_type == kinds[i])
            return 1;
    return 0;
}

int hg_open_file(const char *path, int elf, struct stat *out)
{
    struct stat st;
    /* Look before opening: opening a device can have effects of its own
     * (a tape rewinds, a terminal becomes ours), and a FIFO's open waits
     * for a writer. */
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        errno = kind_error(&st);
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -1;
    /* The path may name something else by now: check what was opened. */
    int err = 0;
    if (fstat(fd, &st) != 0)
        err = errno;
    else if (!S_ISREG(st.st_mode))
        err = kind_error(&st);
    else if (kernel_view(fd))
        err = ENODEV;
    else if (elf) {
        unsigned char magic[SELFMAG];
        if (pread(fd, magic, sizeof magic, 0) != (ssize_t)sizeof magic ||
            memcmp(magic, ELFMAG, SELFMAG) != 0)
            err = ENOEXEC;
    }
    if (err) {
        close(fd);
        errno = err;
        return -1;
    }
    if (out)
        *out = st;
    return fd;
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

int hg_parse_maps(hg_target *t, const char *text)
{
    hg_free_maps(t);
    size_t cap = 64;
    t->maps = calloc(cap, sizeof *t->maps);
    if (!t->maps)
        return hg_fail(HG_ENOMEM, "out of memory");
    const char *line = text;
    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        unsigned long long start, end, off;
        char perms[5] = "";
        int pathpos = 0;
        /* "start-end perms offset dev inode   path" */
        if (sscanf(line, "%llx-%llx %4s %llx %*s %*s %n", &start, &end, perms,
                   &off, &pathpos) >= 4) {
            if (t->nmaps == cap) {
                cap *= 2;
                hg_mapping *nm = realloc(t->maps, cap * sizeof *nm);
                if (!nm)
                    return hg_fail(HG_ENOMEM, "out of memory");
                t->maps = nm;
            }
            hg_mapping *m = &t->maps[t->nmaps++];
            memset(m, 0, sizeof *m);
            m->start = start;
            m->end = end;
            m->offset = off;
            memcpy(m->perms, perms, sizeof m->perms);
            size_t plen = pathpos > 0 && (size_t)pathpos <= len ? len - (size_t)pathpos : 0;
            m->path = strndup(pathpos > 0 ? line + pathpos : "", plen);
            if (!m->path)
                return hg_fail(HG_ENOMEM, "out of memory");
        }
        line += len + (eol ? 1 : 0);
    }
    return 0;
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
