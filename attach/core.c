/*
 * core.c -- a core file as a target: the same walk as on the live process.
 *
 * The core is mmap()ed, never copied.  Memory comes from its PT_LOAD
 * segments; parts the core left out (read-only file mappings, which gcore
 * and the kernel's default coredump_filter skip) are read from the mapped
 * files that NT_FILE names.  Threads and their thread pointers (hence
 * their tcaches) come from NT_PRSTATUS.
 */
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <unistd.h>

#include "attach/target.h"
#include "lib/error.h"

struct load {
    uint64_t vaddr, memsz, filesz, offset;
    char perms[5];
    int file;          /* index into files, -1: anonymous */
    uint64_t file_off; /* offset in that file of vaddr */
};

struct file {
    char *path;
    char *opened;      /* the file actually opened for it */
    int fd;            /* -1 if it cannot be opened */
};

struct core {
    const unsigned char *map;
    size_t size;
    struct load *loads;
    size_t nloads;
    struct file *files;
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
            size_t mid = (lo + hi) / 2;
            if (a < c->loads[mid].vaddr)
                hi = mid;
            else if (a >= c->loads[mid].vaddr + c->loads[mid].memsz)
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
            /* in the core itself (as far as the file really goes) */
            if (n > l->filesz - in)
                n = l->filesz - in;
            if (l->offset + in >= c->size) {
                hg_fail(HG_EIO, "memory at 0x%" PRIx64 " is missing: the core file is "
                        "truncated", a);
                break;
            }
            if (n > c->size - (l->offset + in))
                n = c->size - (l->offset + in);
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
            if (f->fd < 0)
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

static void core_close(hg_target *t)
{
    struct core *c = t->backend;
    if (!c)
        return;
    if (c->map)
        munmap((void *)c->map, c->size);
    for (size_t i = 0; i < c->nfiles; i++) {
        if (c->files[i].fd >= 0)
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
    .concurrent_reads = 1,
};

/* NT_FILE: count, page size, count x {start, end, page offset}, names. */
static int parse_nt_file(hg_target *t, struct core *c, const unsigned char *d, size_t len)
{
    uint64_t count, page;
    if (len < 16)
        return 0;
    memcpy(&count, d, 8);
    memcpy(&page, d + 8, 8);
    if (count > len / 24)
        return 0;
    const char *names = (const char *)d + 16 + count * 24, *end = (const char *)d + len;
    c->files = calloc(count ? count : 1, sizeof *c->files);
    if (!c->files)
        return hg_fail(HG_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < count && names < end; i++) {
        uint64_t e[3];
        memcpy(e, d + 16 + i * 24, sizeof e);
        size_t nlen = strnlen(names, (size_t)(end - names));
        struct file *f = &c->files[c->nfiles++];
        f->path = strndup(names, nlen);
        f->fd = -1;
        names += nlen + 1;
        if (i == 0)
            snprintf(t->exe, sizeof t->exe, "%s", f->path);
        int dumped = 0;
        for (size_t k = 0; k < c->nloads; k++) {
            struct load *l = &c->loads[k];
            if (l->vaddr >= e[0] && l->vaddr < e[1]) {
                l->file = (int)(c->nfiles - 1);
                l->file_off = e[2] * page + (l->vaddr - e[0]);
                dumped = 1;
            }
        }
        if (!dumped) {
            /* gcore leaves read-only file mappings out entirely: the file
             * has them (permissions unknown: taken as read-only data) */
            struct load *nl = realloc(c->loads, (c->nloads + 1) * sizeof *nl);
            if (!nl)
                return hg_fail(HG_ENOMEM, "out of memory");
            c->loads = nl;
            struct load *l = &c->loads[c->nloads++];
            memset(l, 0, sizeof *l);
            l->vaddr = e[0];
            l->memsz = e[1] - e[0];
            l->file = (int)(c->nfiles - 1);
            l->file_off = e[2] * page;
            memcpy(l->perms, "r--p", 5);
        }
    }
    return 0;
}

static int load_cmp(const void *a, const void *b)
{
    const struct load *x = a, *y = b;
    return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

/* The GNU build-id in an ELF image's notes (first 'len' bytes of it),
 * as hex; 0 if not found there. */
static int build_id_of(const unsigned char *img, size_t len, char *hex, size_t hexlen)
{
    Elf64_Ehdr eh;
    if (len < sizeof eh)
        return 0;
    memcpy(&eh, img, sizeof eh);
    if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
        eh.e_phoff > len || eh.e_phnum > (len - eh.e_phoff) / sizeof(Elf64_Phdr))
        return 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, img + eh.e_phoff + i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_NOTE || ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
            continue;
        size_t off = (size_t)ph.p_offset, end = off + (size_t)ph.p_filesz;
        while (off + sizeof(Elf64_Nhdr) <= end) {
            Elf64_Nhdr nh;
            memcpy(&nh, img + off, sizeof nh);
            size_t name = off + sizeof nh, desc = name + ((nh.n_namesz + 3) & ~3u);
            size_t next = desc + ((nh.n_descsz + 3) & ~3u);
            if (next > end || next <= off)
                break;
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
                memcmp(img + name, "GNU", 4) == 0 && nh.n_descsz * 2 < hexlen) {
                for (size_t k = 0; k < nh.n_descsz; k++)
                    sprintf(hex + 2 * k, "%02x", img[desc + k]);
                return 1;
            }
            off = next;
        }
    }
    return 0;
}

/* Each mapped file must be the one the process had: compare the build-id
 * in the file with the one in the core's copy of its first page, where the
 * core has that page (the kernel's default filter keeps ELF headers; gcore
 * leaves read-only mappings out, and then there is nothing to compare). */
static int check_files(struct core *c)
{
    for (size_t i = 0; i < c->nloads; i++) {
        const struct load *l = &c->loads[i];
        if (l->file < 0 || l->file_off != 0 || l->filesz < 4096)
            continue;
        struct file *f = &c->files[l->file];
        char in_core[80] = "", in_file[80] = "";
        unsigned char page[4096];
        if (l->offset + sizeof page > c->size)
            continue;
        memcpy(page, c->map + l->offset, sizeof page);
        if (!build_id_of(page, sizeof page, in_core, sizeof in_core) || f->fd < 0)
            continue;
        ssize_t n = pread(f->fd, page, sizeof page, 0);
        if (n > 0 && build_id_of(page, (size_t)n, in_file, sizeof in_file) &&
            strcmp(in_core, in_file) != 0)
            return hg_fail(HG_EMISMATCH,
                           "%s is not the file the process had at %s (build-id %s, the "
                           "core says %s): give the right one with --sysroot or --exe",
                           f->opened ? f->opened : f->path, f->path, in_file, in_core);
    }
    return 0;
}

int hg_target_open_core(const char *path, const hg_core_options *opt, hg_target **out)
{
    const char *sysroot = opt ? opt->sysroot : NULL, *exe = opt ? opt->exe : NULL;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hg_fail(HG_ENOPROC, "cannot open %s: %m", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        close(fd);
        return hg_fail(HG_EUSAGE, "%s is not a core file (too short)", path);
    }
    hg_target *t = hg_target_alloc(&core_ops);
    struct core *c = calloc(1, sizeof *c);
    if (!t || !c) {
        free(t);
        free(c);
        close(fd);
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    t->backend = c;
    if (sysroot)
        snprintf(t->root, sizeof t->root, "%s", sysroot);
    c->size = (size_t)st.st_size;
    c->map = mmap(NULL, c->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int rc = 0;
    Elf *elf = NULL;
    if (c->map == MAP_FAILED) {
        c->map = NULL;
        rc = hg_fail(HG_EIO, "cannot map %s: %m", path);
        goto out;
    }
    elf_version(EV_CURRENT);
    elf = elf_memory((char *)c->map, c->size);
    GElf_Ehdr eh;
    if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh) || eh.e_type != ET_CORE) {
        rc = hg_fail(HG_EUSAGE, "%s is not a core file", path);
        goto out;
    }
    if (gelf_getclass(elf) != ELFCLASS64 || eh.e_machine != EM_X86_64) {
        rc = hg_fail(HG_EUNSUPPORTED, "%s is a core of another architecture (machine %d): "
                     "heapgrab supports x86_64 only", path, eh.e_machine);
        goto out;
    }
    size_t nph;
    if (elf_getphdrnum(elf, &nph) != 0) {
        rc = hg_fail(HG_EUSAGE, "%s: unreadable program headers", path);
        goto out;
    }
    c->loads = calloc(nph ? nph : 1, sizeof *c->loads);
    if (!c->loads) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD || !ph.p_memsz)
            continue;
        struct load *l = &c->loads[c->nloads++];
        l->vaddr = ph.p_vaddr;
        l->memsz = ph.p_memsz;
        l->filesz = ph.p_filesz;
        l->offset = ph.p_offset;
        l->file = -1;
        l->perms[0] = ph.p_flags & PF_R ? 'r' : '-';
        l->perms[1] = ph.p_flags & PF_W ? 'w' : '-';
        l->perms[2] = ph.p_flags & PF_X ? 'x' : '-';
        l->perms[3] = 'p';
    }
    /* notes: threads and mapped files */
    for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_NOTE)
            continue;
        if (ph.p_offset + ph.p_filesz > c->size) {
            rc = hg_fail(HG_EIO, "%s is truncated (its notes run past the end)", path);
            goto out;
        }
        Elf_Data *data = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz, ELF_T_NHDR);
        size_t off = 0, name_off, desc_off;
        GElf_Nhdr nh;
        while (data && (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
            const unsigned char *desc = (const unsigned char *)data->d_buf + desc_off;
            if (nh.n_type == NT_PRSTATUS && nh.n_descsz >= sizeof(struct elf_prstatus)) {
                struct elf_prstatus ps;
                memcpy(&ps, desc, sizeof ps);
                hg_thread *nt = realloc(c->threads, (c->nthreads + 1) * sizeof *nt);
                if (!nt) {
                    rc = hg_fail(HG_ENOMEM, "out of memory");
                    goto out;
                }
                c->threads = nt;
                struct user_regs_struct regs;
                memcpy(&regs, &ps.pr_reg, sizeof regs);
                memset(&nt[c->nthreads], 0, sizeof *nt);
                nt[c->nthreads].tid = ps.pr_pid;
                hg_thread_set_regs(&nt[c->nthreads], &regs);
                nt[c->nthreads].stopped = 1;
                c->nthreads++;
            } else if (nh.n_type == NT_FILE && !c->files) {
                if ((rc = parse_nt_file(t, c, desc, nh.n_descsz)) != 0)
                    goto out;
            }
        }
    }
    qsort(c->loads, c->nloads, sizeof *c->loads, load_cmp);
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
    t->process_id = c->threads[0].tid; /* the kernel and gcore write the main thread first */
    /* Open the mapped files now, so reads need no locking (read-ahead
     * calls them from a second thread); a missing file only makes the
     * memory it backed unreadable. */
    for (size_t i = 0; i < c->nfiles; i++) {
        char file[4200];
        if (exe && strcmp(c->files[i].path, t->exe) == 0)
            snprintf(file, sizeof file, "%s", exe);
        else
            snprintf(file, sizeof file, "%s%s", t->root, c->files[i].path);
        c->files[i].fd = open(file, O_RDONLY | O_CLOEXEC);
        c->files[i].opened = strdup(file);
    }
    rc = check_files(c);
out:
    if (elf)
        elf_end(elf);
    close(fd);
    if (rc) {
        hg_target_close(t);
        return rc;
    }
    *out = t;
    return 0;
}
