/*
 * core_files.c -- the files a core names (its NT_FILE note): which of the
 * core's segments each backs, the ranges the core left out and only the
 * file has, and opening them -- under the sysroot, as regular ELF files
 * only, once per file, and only when the core's own copy of their ELF
 * header carries the same build-id.  Part of the core backend
 * (core_attach.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/progress.h"
#include "target/core.h"
#include "target/files.h"

static int path_cmp(const void *a, const void *b)
{
    return strcmp(((const struct file *)a)->path, ((const struct file *)b)->path);
}

static struct file *find_file(struct core *c, const char *path)
{
    struct file key = {.path = (char *)path};
    return c->nfiles ? bsearch(&key, c->files, c->nfiles, sizeof *c->files, path_cmp) : NULL;
}

int hg_core_open_file(hg_target *t, const char *path, const char **opened)
{
    struct file *f = find_file(t->backend, path);
    if (!f || f->fd < 0)
        return -1;
    *opened = f->opened;
    return fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
}

/* --------------------------------------------------------------- NT_FILE */

struct nt_entry {
    uint64_t start, end, file_off;
    const char *name;
};

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
int hg_core_parse_nt_file(hg_target *t, struct core *c, const char *path,
                          const unsigned char *d, size_t len)
{
    uint64_t count, page;
    if (len < 16)
        return hg_core_corrupt(path, "its file list (NT_FILE) is %zu bytes long", len);
    memcpy(&count, d, 8);
    memcpy(&page, d + 8, 8);
    if (count > (len - 16) / 24)
        return hg_core_corrupt(path, "its file list (NT_FILE) names %" PRIu64 " files in %zu bytes",
                       count, len);
    if (page == 0 || (page & (page - 1)) != 0 || page > (1u << 30))
        return hg_core_corrupt(path, "its file list (NT_FILE) gives a page size of %" PRIu64, page);
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
            rc = hg_core_corrupt(path, "file %" PRIu64 " of its file list (NT_FILE) has no path", i);
            goto out;
        }
        /* The file range must fit an off_t: reads from the file use it. */
        if (v[0] >= v[1] || (i > 0 && v[0] < e[i - 1].end) ||
            v[2] > (uint64_t)INT64_MAX / page || v[1] - v[0] > (uint64_t)INT64_MAX - v[2] * page) {
            rc = hg_core_corrupt(path, "file %" PRIu64 " of its file list (NT_FILE) maps 0x%" PRIx64
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
        qsort(c->loads, c->nloads, sizeof *c->loads, hg_core_load_cmp);
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
int hg_core_open_files(hg_target *t, struct core *c, const char *exe)
{
    struct identity *ids = calloc(c->nfiles ? c->nfiles : 1, sizeof *ids);
    int *why = calloc(c->nfiles ? c->nfiles : 1, sizeof *why);
    char (*in_core)[HG_BUILD_ID_HEX] = calloc(c->nfiles ? c->nfiles : 1, sizeof *in_core);
    size_t nids = 0;
    int rc = 0;
    if (!ids || !why || !in_core) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto out;
    }
    hg_progress_begin("reading the core's files", "files", c->nfiles);
    for (size_t i = 0; i < c->nfiles; i++) {
        struct file *f = &c->files[i];
        hg_progress_set(i / 2);
        f->opened = exe && strcmp(f->path, t->exe) == 0 ? strdup(exe) : hg_target_path(t, f->path);
        if (!f->opened) {
            rc = hg_fail(HG_ENOMEM, "out of memory");
            goto out;
        }
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
            hg_image_build_id(c->map + l->offset,
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
        char in_file[HG_BUILD_ID_HEX] = "";
        hg_progress_set(c->nfiles / 2 + i / 2);
        if (!in_core[i][0])
            continue; /* nothing to compare with */
        if (f->fd >= 0 && hg_file_build_id(f->fd, in_file) && strcmp(in_file, in_core[i]) == 0)
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
    /* The build-ids of the executable mappings: the core's own copy of the
     * file's headers says which file the process had; without one, the
     * file opened for it (checked against that copy above, where there is
     * one).  t->maps are the segments, in the same order. */
    for (size_t k = 0; k < c->nloads && k < t->nmaps; k++) {
        const struct load *l = &c->loads[k];
        if (l->file < 0 || t->maps[k].perms[2] != 'x')
            continue;
        char *id = in_core[l->file];
        if (!id[0] && !(c->files[l->file].fd >= 0 && hg_file_build_id(c->files[l->file].fd, id)))
            continue;
        if (!(t->maps[k].build_id = strdup(id))) {
            rc = hg_fail(HG_ENOMEM, "out of memory");
            goto out;
        }
    }
out:
    hg_progress_end();
    free(ids);
    free(why);
    free(in_core);
    return rc;
}
