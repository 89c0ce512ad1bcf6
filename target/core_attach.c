/*
 * core.c -- a core file as a target: the same walk as on the live process.
 *
 * The core is mmap()ed, never copied.  Memory comes from its PT_LOAD
 * segments; parts the core left out (read-only file mappings, which gcore
 * and the kernel's default coredump_filter skip) are read from the mapped
 * files that NT_FILE names.  Threads and their thread pointers (hence
 * their tcaches) come from NT_PRSTATUS.
 *
 * A core is input from anywhere, so nothing in it is trusted:
 *   - every offset and size is checked against the file before it is used,
 *     in arithmetic that cannot overflow;
 *   - a core whose headers describe more than the file holds was cut short
 *     by its writer (out of space, killed) and is refused as incomplete,
 *     wherever it was cut; impossible headers (ranges that wrap, segments
 *     that overlap, a malformed file list) are refused as not a valid core;
 *   - the files it names are opened only if they are regular ELF files
 *     (hg_open_file: never a FIFO or a device, never blocking), and only
 *     when the core's copy of their ELF header, where it has one, carries
 *     the same build-id;
 *   - the work is O(n log n) in the core's size: segments and files are
 *     sorted once and looked up by binary search, never pairwise.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <unistd.h>

#include "target/target.h"
#include "lib/error.h"

struct load {
    uint64_t vaddr, memsz, filesz, offset;
    char perms[5];
    int file;          /* index into files, -1: anonymous */
    uint64_t file_off; /* offset in that file of vaddr */
    size_t index;      /* program header number (-1: added for NT_FILE) */
};

struct file {
    char *path;        /* as the core names it */
    char *opened;      /* the file opened for it (under sysroot, or --exe) */
    int fd;            /* -1 if it cannot be used */
    int shared;        /* fd belongs to another entry naming the same file */
};

struct core {
    const unsigned char *map;
    size_t size;
    struct load *loads;    /* sorted by vaddr, never overlapping */
    size_t nloads;
    struct file *files;    /* sorted by path, each path once */
    size_t nfiles;
    hg_thread *threads;
    size_t nthreads;
};

static long core_read(hg_target *t, uint64_t addr, void *buf, size_t len)
{
    struct core *c = t->backend;
    size_t done = 0;
    while (done < len) {
        uint64_t a = addr + done;
        size_t lo = 0, hi = c->nloads;
        const struct load *l = NULL;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (a < c->loads[mid].vaddr)
                hi = mid;
            else if (a - c->loads[mid].vaddr >= c->loads[mid].memsz)
                lo = mid + 1;
            else {
                l = &c->loads[mid];
                break;
            }
        }
        if (!l)
            break;
        uint64_t in = a - l->vaddr, n = l->memsz - in;
        if (n > len - done)
            n = len - done;
        if (in < l->filesz) {
            /* in the core itself: hg_target_open_core checked that the
             * segment's file range lies inside the file */
            if (n > l->filesz - in)
                n = l->filesz - in;
            memcpy((char *)buf + done, c->map + l->offset + in, (size_t)n);
            /* The walk reads forward in large windows: let go of what was
             * just copied, or the whole core would end up in our RSS. */
            if (n >= (1u << 20)) {
                uint64_t from = (l->offset + in + 4095) & ~4095ull;
                uint64_t to = (l->offset + in + n) & ~4095ull;
                if (to > from)
                    madvise((void *)(c->map + from), (size_t)(to - from), MADV_DONTNEED);
            }
        } else if (l->file >= 0 && l->perms[1] != 'w') {
            /* left out of the core: the mapped file has it (never for a
             * writable mapping: the process may have changed its copy) */
            struct file *f = &c->files[l->file];
            /* file_off fits an off_t (parse_nt_file); a segment longer
             * than its file's range may run past what one can address */
            if (f->fd < 0 || in > (uint64_t)INT64_MAX - l->file_off)
                break;
            ssize_t r = pread(f->fd, (char *)buf + done, (size_t)n, (off_t)(l->file_off + in));
            if (r <= 0)
                break;
            n = (uint64_t)r;
        } else {
            hg_fail(HG_EIO, "memory at 0x%" PRIx64 " is not in the core (its coredump_filter "
                    "or gcore left it out)", a);
            break;
        }
        done += (size_t)n;
    }
    return (long)done;
}

static int core_stop(hg_target *t)
{
    struct core *c = t->backend;
    return hg_target_set_threads(t, c->threads, c->nthreads);
}

static void core_resume(hg_target *t) { (void)t; }

static int path_cmp(const void *a, const void *b)
{
    return strcmp(((const struct file *)a)->path, ((const struct file *)b)->path);
}

static struct file *find_file(struct core *c, const char *path)
{
    struct file key = {.path = (char *)path};
    return c->nfiles ? bsearch(&key, c->files, c->nfiles, sizeof *c->files, path_cmp) : NULL;
}

static int core_open_file(hg_target *t, const char *path, const char **opened)
{
    struct file *f = find_file(t->backend, path);
    if (!f || f->fd < 0)
        return -1;
    *opened = f->opened;
    return fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
}

static void core_close(hg_target *t)
{
    struct core *c = t->backend;
    if (!c)
        return;
    if (c->map)
        munmap((void *)c->map, c->size);
    for (size_t i = 0; i < c->nfiles; i++) {
        if (c->files[i].fd >= 0 && !c->files[i].shared)
            close(c->files[i].fd);
        free(c->files[i].path);
        free(c->files[i].opened);
    }
    free(c->files);
    free(c->loads);
    free(c->threads);
    free(c);
}

static const struct hg_target_ops core_ops = {
    .read = core_read,
    .stop = core_stop,
    .resume = core_resume,
    .close = core_close,
    .open_file = core_open_file,
    .concurrent_reads = 1,
    .no_stop = 1,
};

/* ------------------------------------------------------ refusing a core */

/* "512 B", "1.5 KiB", ... for messages. */
static const char *human(uint64_t v, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double d = (double)v;
    size_t u = 0;
    while (d >= 1024 && u + 1 < sizeof units / sizeof *units) {
        d /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%" PRIu64 " B", v);
    else
        snprintf(buf, len, "%.1f %s", d, units[u]);
    return buf;
}

/* The file ends before what its headers describe: the core's writer (gcore
 * out of disk space, a kernel dump interrupted) stopped early.  Every such
 * core gets this one error, wherever it was cut. */
static int incomplete(const char *path, uint64_t need, uint64_t have)
{
    char n[32], h[32], m[32];
    return hg_fail(HG_EINCOMPLETE,
                   "%s is incomplete: its headers describe %s, the file holds %s (%s missing); "
                   "the tool that wrote it ran out of space or was killed: take the core again",
                   path, human(need, n, sizeof n), human(have, h, sizeof h),
                   human(need - have, m, sizeof m));
}

static int corrupt(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int corrupt(const char *path, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return hg_fail(HG_EUSAGE, "%s is not a valid core: %s", path, why);
}

/* ------------------------------------------------------------------ notes */

struct note {
    uint32_t type;
    const unsigned char *name, *desc;
    uint32_t namesz, descsz;
};

/* The note at *off in [base, base + len), each part padded to align
 * bytes; advances *off.  0 at the end or at a note that does not fit. */
static int next_note(const unsigned char *base, size_t len, size_t align, size_t *off,
                     struct note *out)
{
    Elf64_Nhdr nh;
    if (*off > len || len - *off < sizeof nh)
        return 0;
    memcpy(&nh, base + *off, sizeof nh);
    uint64_t name = *off + sizeof nh;
    uint64_t desc = name + (((uint64_t)nh.n_namesz + align - 1) & ~(uint64_t)(align - 1));
    uint64_t next = desc + (((uint64_t)nh.n_descsz + align - 1) & ~(uint64_t)(align - 1));
    /* all three are below 2^34 + len: no wrap */
    if (desc > len || nh.n_descsz > len - desc || name + nh.n_namesz > len)
        return 0;
    out->type = nh.n_type;
    out->name = base + name;
    out->namesz = nh.n_namesz;
    out->desc = base + desc;
    out->descsz = nh.n_descsz;
    *off = next < len ? (size_t)next : len;
    return 1;
}

static int note_named(const struct note *n, const char *name)
{
    size_t len = strlen(name) + 1;
    return n->namesz == len && memcmp(n->name, name, len) == 0;
}

#define BUILD_ID_HEX 80 /* a build-id of up to 39 bytes, as hex */

/* The GNU build-id in the notes of an ELF image (the first len bytes of a
 * file, or the core's copy of them), as hex; 0 if not found there. */
static int build_id_of(const unsigned char *img, size_t len, char *hex)
{
    Elf64_Ehdr eh;
    if (len < sizeof eh)
        return 0;
    memcpy(&eh, img, sizeof eh);
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > len ||
        eh.e_phnum > (len - eh.e_phoff) / sizeof(Elf64_Phdr))
        return 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, img + eh.e_phoff + i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_NOTE || ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
            continue;
        size_t off = 0;
        struct note n;
        while (next_note(img + ph.p_offset, (size_t)ph.p_filesz, ph.p_align == 8 ? 8 : 4, &off,
                         &n)) {
            if (n.type == NT_GNU_BUILD_ID && note_named(&n, "GNU") && n.descsz > 0 &&
                n.descsz < BUILD_ID_HEX / 2) {
                for (size_t k = 0; k < n.descsz; k++)
                    snprintf(hex + 2 * k, 3, "%02x", n.desc[k]);
                return 1;
            }
        }
    }
    return 0;
}

/* The build-id of an open ELF file, read from its own program headers. */
static int file_build_id(int fd, char *hex)
{
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 4096 || eh.e_phoff > INT64_MAX)
        return 0;
    Elf64_Phdr *ph = malloc((eh.e_phnum ? eh.e_phnum : 1) * sizeof *ph);
    size_t bytes = eh.e_phnum * sizeof *ph;
    int found = 0;
    if (!ph || pread(fd, ph, bytes, (off_t)eh.e_phoff) != (ssize_t)bytes) {
        free(ph);
        return 0;
    }
    for (unsigned i = 0; i < eh.e_phnum && !found; i++) {
        /* a build-id note is 36 bytes; no sane note segment is large */
        if (ph[i].p_type != PT_NOTE || ph[i].p_filesz > 65536 || ph[i].p_offset > INT64_MAX)
            continue;
        unsigned char *buf = malloc(ph[i].p_filesz ? ph[i].p_filesz : 1);
        if (!buf)
            break;
        ssize_t n = pread(fd, buf, (size_t)ph[i].p_filesz, (off_t)ph[i].p_offset);
        size_t off = 0;
        struct note nt;
        while (n > 0 && next_note(buf, (size_t)n, ph[i].p_align == 8 ? 8 : 4, &off, &nt))
            if (nt.type == NT_GNU_BUILD_ID && note_named(&nt, "GNU") && nt.descsz > 0 &&
                nt.descsz < BUILD_ID_HEX / 2) {
                for (size_t k = 0; k < nt.descsz; k++)
                    snprintf(hex + 2 * k, 3, "%02x", nt.desc[k]);
                found = 1;
                break;
            }
        free(buf);
    }
    free(ph);
    return found;
}

/* --------------------------------------------------------------- NT_FILE */

struct nt_entry {
    uint64_t start, end, file_off;
    const char *name;
};

static int load_cmp(const void *a, const void *b)
{
    const struct load *x = a, *y = b;
    return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

static int name_cmp(const void *a, const void *b)
{
    const struct nt_entry *x = *(const struct nt_entry *const *)a;
    const struct nt_entry *y = *(const struct nt_entry *const *)b;
    int r = strcmp(x->name, y->name);
    return r ? r : (x < y ? -1 : x > y);
}

/* The first load at or above addr (loads sorted by vaddr). */
static size_t first_load_from(const struct core *c, uint64_t addr)
{
    size_t lo = 0, hi = c->nloads;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->loads[mid].vaddr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * NT_FILE: count, page size, count x {start, end, page offset}, then count
 * NUL-terminated names.  The kernel writes the entries in address order,
 * one per file mapping, never overlapping; anything else is refused.  Each
 * segment of the core inside an entry's range gets its file; a range the
 * core has no segment for (gcore leaves read-only file mappings out
 * entirely) becomes a segment of its own, read from the file.
 */
static int parse_nt_file(hg_target *t, struct core *c, const char *path,
                         const unsigned char *d, size_t len)
{
    uint64_t count, page;
    if (len < 16)
        return corrupt(path, "its file list (NT_FILE) is %zu bytes long", len);
    memcpy(&count, d, 8);
    memcpy(&page, d + 8, 8);
    if (count > (len - 16) / 24)
        return corrupt(path, "its file list (NT_FILE) names %" PRIu64 " files in %zu bytes",
                       count, len);
    if (page == 0 || (page & (page - 1)) != 0 || page > (1u << 30))
        return corrupt(path, "its file list (NT_FILE) gives a page size of %" PRIu64, page);
    struct nt_entry *e = calloc(count ? count : 1, sizeof *e);
    struct nt_entry **by_name = calloc(count ? count : 1, sizeof *by_name);
    int rc = 0;
    if (!e || !by_name) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto out;
    }
    const char *names = (const char *)d + 16 + count * 24, *end = (const char *)d + len;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t v[3];
        memcpy(v, d + 16 + i * 24, sizeof v);
        size_t nlen = strnlen(names, (size_t)(end - names));
        if (nlen == (size_t)(end - names) || names[0] != '/') {
            rc = corrupt(path, "file %" PRIu64 " of its file list (NT_FILE) has no path", i);
            goto out;
        }
        /* The file range must fit an off_t: reads from the file use it. */
        if (v[0] >= v[1] || (i > 0 && v[0] < e[i - 1].end) ||
            v[2] > (uint64_t)INT64_MAX / page || v[1] - v[0] > (uint64_t)INT64_MAX - v[2] * page) {
            rc = corrupt(path, "file %" PRIu64 " of its file list (NT_FILE) maps 0x%" PRIx64
                         "-0x%" PRIx64 " at page %" PRIu64 ", out of order or out of range",
                         i, v[0], v[1], v[2]);
            goto out;
        }
        e[i] = (struct nt_entry){v[0], v[1], v[2] * page, names};
        by_name[i] = &e[i];
        names += nlen + 1;
    }
    if (count)
        snprintf(t->exe, sizeof t->exe, "%s", e[0].name);

    /* One file per distinct path, sorted by path. */
    qsort(by_name, count, sizeof *by_name, name_cmp);
    c->files = calloc(count ? count : 1, sizeof *c->files);
    int *file_of = calloc(count ? count : 1, sizeof *file_of);
    if (!c->files || !file_of) {
        free(file_of);
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < count; i++) {
        if (c->nfiles == 0 || strcmp(c->files[c->nfiles - 1].path, by_name[i]->name) != 0) {
            struct file *f = &c->files[c->nfiles++];
            f->fd = -1;
            if (!(f->path = strdup(by_name[i]->name))) {
                free(file_of);
                rc = hg_fail(HG_ENOMEM, "out of memory");
                goto out;
            }
        }
        file_of[by_name[i] - e] = (int)(c->nfiles - 1);
    }

    /* Entries and segments are both in address order: one pass each. */
    size_t ncore = c->nloads, nextra = 0;
    struct load *extra = calloc(count ? count : 1, sizeof *extra);
    if (!extra) {
        free(file_of);
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < count; i++) {
        size_t k = first_load_from(c, e[i].start);
        int dumped = 0;
        for (; k < ncore && c->loads[k].vaddr < e[i].end; k++) {
            c->loads[k].file = file_of[i];
            c->loads[k].file_off = e[i].file_off + (c->loads[k].vaddr - e[i].start);
            dumped = 1;
        }
        /* a segment that starts below the range and runs into it: the
         * range is the core's, not the file's */
        const struct load *before = k > 0 ? &c->loads[k - 1] : NULL;
        if (dumped || (before && before->vaddr < e[i].start &&
                       before->memsz > e[i].start - before->vaddr))
            continue;
        /* gcore leaves read-only file mappings out entirely: the file has
         * them (permissions unknown: taken as read-only data) */
        struct load *l = &extra[nextra++];
        l->vaddr = e[i].start;
        l->memsz = e[i].end - e[i].start;
        l->file = file_of[i];
        l->file_off = e[i].file_off;
        l->index = (size_t)-1;
        memcpy(l->perms, "r--p", 5);
    }
    free(file_of);
    if (nextra) {
        struct load *all = realloc(c->loads, (ncore + nextra) * sizeof *all);
        if (!all) {
            free(extra);
            rc = hg_fail(HG_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(all + ncore, extra, nextra * sizeof *extra);
        c->loads = all;
        c->nloads = ncore + nextra;
        qsort(c->loads, c->nloads, sizeof *c->loads, load_cmp);
    }
    free(extra);
out:
    free(by_name);
    free(e);
    return rc;
}

/* ---------------------------------------------------------------- files */

struct identity {
    dev_t dev;
    ino_t ino;
    size_t file;
};

static int identity_cmp(const void *a, const void *b)
{
    const struct identity *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->ino != y->ino)
        return x->ino < y->ino ? -1 : 1;
    return x->file < y->file ? -1 : x->file > y->file;
}

/*
 * Open the files the core names, now, so reads need no locking (read-ahead
 * calls them from a second thread).  Each is looked up under the sysroot
 * (or is --exe), opened only if it is a regular ELF file, and once per
 * file however many names it has.  A file that cannot be opened only makes
 * the memory it backed unreadable; one that is not the file the process
 * had (build-id) is refused.
 */
static int open_files(hg_target *t, struct core *c, const char *exe)
{
    struct identity *ids = calloc(c->nfiles ? c->nfiles : 1, sizeof *ids);
    int *why = calloc(c->nfiles ? c->nfiles : 1, sizeof *why);
    char (*in_core)[BUILD_ID_HEX] = calloc(c->nfiles ? c->nfiles : 1, sizeof *in_core);
    size_t nids = 0;
    int rc = 0;
    if (!ids || !why || !in_core) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c->nfiles; i++) {
        struct file *f = &c->files[i];
        size_t need = (exe && strcmp(f->path, t->exe) == 0) ? strlen(exe) + 1
                                                            : strlen(t->root) + strlen(f->path) + 1;
        if (!(f->opened = malloc(need))) {
            rc = hg_fail(HG_ENOMEM, "out of memory");
            goto out;
        }
        if (exe && strcmp(f->path, t->exe) == 0)
            memcpy(f->opened, exe, need);
        else
            snprintf(f->opened, need, "%s%s", t->root, f->path);
        /* Same file, other name: look before opening, open once. */
        struct stat st;
        if (stat(f->opened, &st) != 0)
            why[i] = errno;
        else
            ids[nids++] = (struct identity){st.st_dev, st.st_ino, i};
    }
    qsort(ids, nids, sizeof *ids, identity_cmp);
    /* The core's segments are indexed by file now: one pass finds the
     * copy of each file's first page. */
    for (size_t k = 0; k < c->nloads; k++) {
        const struct load *l = &c->loads[k];
        if (l->file >= 0 && l->file_off == 0 && l->filesz > 0 && !in_core[l->file][0])
            /* the kernel's default filter keeps ELF headers; gcore leaves
             * read-only mappings out, and then there is nothing to compare */
            build_id_of(c->map + l->offset,
                        (size_t)(l->filesz < (1u << 20) ? l->filesz : (1u << 20)),
                        in_core[l->file]);
    }
    for (size_t k = 0; k < nids; k++) {
        struct file *f = &c->files[ids[k].file];
        if (k > 0 && ids[k].dev == ids[k - 1].dev && ids[k].ino == ids[k - 1].ino) {
            const struct file *first = &c->files[ids[k - 1].file];
            f->fd = first->fd;
            f->shared = 1;
            why[ids[k].file] = why[ids[k - 1].file];
            continue;
        }
        f->fd = hg_open_file(f->opened, 1, NULL);
        if (f->fd < 0)
            why[ids[k].file] = errno;
    }
    for (size_t i = 0; i < c->nfiles; i++) {
        struct file *f = &c->files[i];
        char in_file[BUILD_ID_HEX] = "";
        if (!in_core[i][0])
            continue; /* nothing to compare with */
        if (f->fd >= 0 && file_build_id(f->fd, in_file) && strcmp(in_file, in_core[i]) == 0)
            continue;
        /* A file that is there but is not the process's: refuse it, and
         * say only what it is not (never what it holds). */
        const char *what = f->fd >= 0         ? (in_file[0] ? in_file : "none")
                           : why[i] == ENOEXEC ? "none: not an ELF file"
                           : why[i] == ENODEV  ? "none: not a regular file"
                           : why[i] == EISDIR  ? "none: a directory"
                                               : NULL;
        if (what) {
            rc = hg_fail(HG_EMISMATCH,
                         "%s is not the file the process had at %s (build-id %s, the core says "
                         "%s): give the right one with --sysroot or --exe",
                         f->opened, f->path, what, in_core[i]);
            goto out;
        }
    }
out:
    free(ids);
    free(why);
    free(in_core);
    return rc;
}

/* ------------------------------------------------------------- the core */

static int open_error(const char *path)
{
    int err = errno;
    switch (err) {
    case EACCES:
    case EPERM:
        return hg_fail(HG_EPERM, "cannot read %s: permission denied (run as a user who may "
                       "read it)", path);
    case ENOENT:
    case ENOTDIR:
        return hg_fail(HG_EUSAGE, "%s: no such file", path);
    case EISDIR:
        return hg_fail(HG_EUSAGE, "%s is a directory, not a core file", path);
    case ENODEV:
        return hg_fail(HG_EUSAGE, "%s is not a regular file (a FIFO, socket or device), not a "
                       "core file", path);
    case ELOOP:
    case ENAMETOOLONG:
        return hg_fail(HG_EUSAGE, "cannot open %s: %s", path, strerror(err));
    default:
        return hg_fail(HG_EIO, "cannot open %s: %s", path, strerror(err));
    }
}

static uint16_t u16_at(const unsigned char *p, int msb)
{
    return msb ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

/*
 * The ELF header and where the program headers are.  The file must hold
 * the header and the whole table; *end is raised to the end of every
 * header read.
 */
static int read_header(struct core *c, const char *path, Elf64_Ehdr *eh, size_t *phnum,
                       uint64_t *end)
{
    const unsigned char *m = c->map;
    size_t have = c->size < sizeof *eh ? c->size : sizeof *eh;
    if (memcmp(m, ELFMAG, have < SELFMAG ? have : SELFMAG) != 0)
        return hg_fail(HG_EUSAGE, "%s is not a core file", path);
    /* e_type and e_machine sit at the same place in every ELF class */
    if (have >= 20 && u16_at(m + 16, m[EI_DATA] == ELFDATA2MSB) != ET_CORE)
        return hg_fail(HG_EUSAGE, "%s is not a core file", path);
    if (have >= 20 && (m[EI_CLASS] != ELFCLASS64 || m[EI_DATA] != ELFDATA2LSB ||
                       u16_at(m + 18, m[EI_DATA] == ELFDATA2MSB) != EM_X86_64))
        return hg_fail(HG_EUNSUPPORTED, "%s is a core of another architecture (machine %d): "
                       "heapgrab supports x86_64 only", path,
                       u16_at(m + 18, m[EI_DATA] == ELFDATA2MSB));
    if (have < sizeof *eh) {
        char h[32];
        return hg_fail(HG_EINCOMPLETE,
                       "%s is incomplete: the file holds only %s, and ends inside its ELF "
                       "header; the tool that wrote it ran out of space or was killed: take "
                       "the core again", path, human(c->size, h, sizeof h));
    }
    memcpy(eh, m, sizeof *eh);
    *end = sizeof *eh;
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        return corrupt(path, "program headers of %u bytes", eh->e_phentsize);
    *phnum = eh->e_phnum;
    if (eh->e_phnum == PN_XNUM) {
        /* more than 65534 segments: section header 0 has the count */
        Elf64_Shdr sh;
        if (eh->e_shoff == 0 || eh->e_shentsize != sizeof sh)
            return corrupt(path, "%u segments and no section header to count them",
                           eh->e_phnum);
        if (eh->e_shoff > (uint64_t)INT64_MAX - sizeof sh)
            return corrupt(path, "section headers at 0x%" PRIx64, (uint64_t)eh->e_shoff);
        if (eh->e_shoff + sizeof sh > *end)
            *end = eh->e_shoff + sizeof sh;
        if (eh->e_shoff + sizeof sh > c->size)
            return incomplete(path, *end, c->size);
        memcpy(&sh, m + eh->e_shoff, sizeof sh);
        *phnum = sh.sh_info;
    }
    if (eh->e_shoff) {
        /* gcore writes section headers at the very end: a cut there is a
         * cut too (with e_shnum 0 there is at least section 0) */
        uint64_t n = eh->e_shnum ? eh->e_shnum : 1, table = n * sizeof(Elf64_Shdr);
        if (eh->e_shentsize != sizeof(Elf64_Shdr))
            return corrupt(path, "section headers of %u bytes", eh->e_shentsize);
        if (eh->e_shoff > (uint64_t)INT64_MAX - table)
            return corrupt(path, "section headers at 0x%" PRIx64, (uint64_t)eh->e_shoff);
        if (eh->e_shoff + table > *end)
            *end = eh->e_shoff + table;
    }
    /* phnum < 2^32: the table's size cannot wrap */
    uint64_t table = (uint64_t)*phnum * sizeof(Elf64_Phdr);
    if (eh->e_phoff > (uint64_t)INT64_MAX - table)
        return corrupt(path, "program headers at 0x%" PRIx64, (uint64_t)eh->e_phoff);
    if (eh->e_phoff + table > *end)
        *end = eh->e_phoff + table;
    return 0;
}

int hg_target_open_core(const char *path, const hg_core_options *opt, hg_target **out)
{
    const char *sysroot = opt ? opt->sysroot : NULL, *exe = opt ? opt->exe : NULL;
    *out = NULL;
    hg_target *t = hg_target_alloc(&core_ops);
    struct core *c = calloc(1, sizeof *c);
    if (!t || !c) {
        free(t);
        free(c);
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    t->backend = c;
    int rc = 0;
    if (sysroot && strlen(sysroot) >= sizeof t->root) {
        rc = hg_fail(HG_EUSAGE, "the sysroot's path is too long");
        goto out;
    }
    if (sysroot)
        snprintf(t->root, sizeof t->root, "%s", sysroot);
    struct stat st;
    int fd = hg_open_file(path, 0, &st);
    if (fd < 0) {
        rc = open_error(path);
        goto out;
    }
    if (st.st_size == 0) {
        close(fd);
        rc = hg_fail(HG_EINCOMPLETE, "%s is empty: not a core, or one whose writer ran out of "
                     "space or was killed before its first byte", path);
        goto out;
    }
    c->size = (size_t)st.st_size;
    c->map = mmap(NULL, c->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (c->map == MAP_FAILED) {
        c->map = NULL;
        rc = hg_fail(HG_EIO, "cannot map %s: %m", path);
        goto out;
    }

    Elf64_Ehdr eh;
    size_t nph = 0;
    uint64_t end = 0; /* how far the headers say the file goes */
    if ((rc = read_header(c, path, &eh, &nph, &end)) != 0)
        goto out;
    /* The whole table, or as much of it as the file holds, to say how
     * much is missing when it is cut. */
    uint64_t in_file = eh.e_phoff < c->size ? (c->size - eh.e_phoff) / sizeof(Elf64_Phdr) : 0;
    size_t nload = 0;
    for (size_t i = 0; i < nph && i < in_file; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, c->map + eh.e_phoff + i * sizeof ph, sizeof ph);
        /* No file is longer than an off_t: a range past that is no cut */
        if (ph.p_offset > (uint64_t)INT64_MAX - ph.p_filesz || ph.p_filesz > INT64_MAX) {
            rc = corrupt(path, "segment %zu's file range (offset 0x%" PRIx64 ", size 0x%" PRIx64
                         ") lies beyond the end of any file", i, (uint64_t)ph.p_offset,
                         (uint64_t)ph.p_filesz);
            goto out;
        }
        if (ph.p_filesz && ph.p_offset + ph.p_filesz > end)
            end = ph.p_offset + ph.p_filesz;
        nload += ph.p_type == PT_LOAD && ph.p_memsz;
    }
    if (end > c->size) {
        rc = incomplete(path, end, c->size);
        goto out;
    }
    /* From here on every segment's file range lies inside the file. */
    c->loads = calloc(nload ? nload : 1, sizeof *c->loads);
    if (!c->loads) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nph; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, c->map + eh.e_phoff + i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_LOAD || !ph.p_memsz)
            continue;
        if (ph.p_memsz > UINT64_MAX - ph.p_vaddr) {
            rc = corrupt(path, "segment %zu (0x%" PRIx64 ", 0x%" PRIx64 " bytes) runs past the "
                         "end of the address space", i, (uint64_t)ph.p_vaddr,
                         (uint64_t)ph.p_memsz);
            goto out;
        }
        struct load *l = &c->loads[c->nloads++];
        l->vaddr = ph.p_vaddr;
        l->memsz = ph.p_memsz;
        /* what the file holds beyond memsz is no memory of the process */
        l->filesz = ph.p_filesz < ph.p_memsz ? ph.p_filesz : ph.p_memsz;
        l->offset = ph.p_offset;
        l->file = -1;
        l->index = i;
        l->perms[0] = ph.p_flags & PF_R ? 'r' : '-';
        l->perms[1] = ph.p_flags & PF_W ? 'w' : '-';
        l->perms[2] = ph.p_flags & PF_X ? 'x' : '-';
        l->perms[3] = 'p';
    }
    qsort(c->loads, c->nloads, sizeof *c->loads, load_cmp);
    for (size_t i = 1; i < c->nloads; i++) {
        const struct load *a = &c->loads[i - 1], *b = &c->loads[i];
        if (b->vaddr - a->vaddr < a->memsz) {
            rc = corrupt(path, "segments %zu and %zu overlap at 0x%" PRIx64, a->index, b->index,
                         b->vaddr);
            goto out;
        }
    }

    /* notes: threads and mapped files */
    size_t cap = 0;
    int have_files = 0, process_id = 0;
    for (size_t i = 0; i < nph; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, c->map + eh.e_phoff + i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_NOTE)
            continue;
        size_t off = 0;
        struct note n;
        while (next_note(c->map + ph.p_offset, (size_t)ph.p_filesz, 4, &off, &n)) {
            if (!note_named(&n, "CORE"))
                continue;
            if (n.type == NT_PRSTATUS && n.descsz >= sizeof(struct elf_prstatus)) {
                if (c->nthreads == cap) {
                    cap = cap ? 2 * cap : 16;
                    hg_thread *nt = realloc(c->threads, cap * sizeof *nt);
                    if (!nt) {
                        rc = hg_fail(HG_ENOMEM, "out of memory");
                        goto out;
                    }
                    c->threads = nt;
                }
                struct elf_prstatus ps;
                memcpy(&ps, n.desc, sizeof ps);
                struct user_regs_struct regs;
                memcpy(&regs, &ps.pr_reg, sizeof regs);
                hg_thread *th = &c->threads[c->nthreads++];
                memset(th, 0, sizeof *th);
                th->tid = ps.pr_pid;
                hg_thread_set_regs(th, &regs);
                th->stopped = 1;
            } else if (n.type == NT_PRPSINFO && n.descsz >= sizeof(struct elf_prpsinfo)) {
                struct elf_prpsinfo pi;
                memcpy(&pi, n.desc, sizeof pi);
                if (pi.pr_pid > 0)
                    process_id = pi.pr_pid;
            } else if (n.type == NT_FILE && !have_files) {
                have_files = 1;
                if ((rc = parse_nt_file(t, c, path, n.desc, n.descsz)) != 0)
                    goto out;
            }
        }
    }
    t->maps = calloc(c->nloads ? c->nloads : 1, sizeof *t->maps);
    if (!t->maps) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < c->nloads; i++) {
        const struct load *l = &c->loads[i];
        hg_mapping *m = &t->maps[t->nmaps++];
        m->start = l->vaddr;
        m->end = l->vaddr + l->memsz;
        memcpy(m->perms, l->perms, sizeof m->perms);
        m->path = strdup(l->file >= 0 ? c->files[l->file].path : "");
        m->offset = l->file >= 0 ? l->file_off : 0;
        if (!m->path) {
            rc = hg_fail(HG_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (!c->nthreads) {
        rc = hg_fail(HG_EUSAGE, "%s has no threads (NT_PRSTATUS): not a process core", path);
        goto out;
    }
    /* The process's id is in NT_PRPSINFO.  Not the first thread's: the
     * kernel writes the thread that dumped the core first (a thread that
     * called abort() is not always the main one). */
    t->process_id = process_id ? process_id : c->threads[0].tid;
    rc = open_files(t, c, exe);
out:
    if (rc) {
        hg_target_close(t);
        return rc;
    }
    *out = t;
    return 0;
}
