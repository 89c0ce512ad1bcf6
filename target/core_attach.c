/*
 * core_attach.c -- a core file as a target: the same walk as on the live
 * process.  The files it names are core_files.c's.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <unistd.h>

#include "target/core.h"
#include "target/files.h"
#include "lib/array.h"

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

static int core_stop(hg_target *t, unsigned flags)
{
    (void)flags; /* its mappings never change */
    struct core *c = t->backend;
    return hg_target_set_threads(t, c->threads, c->nthreads);
}

/* Nothing was stopped, and nothing runs to have died. */
static int core_resume(hg_target *t, uint64_t *stopped_ns)
{
    (void)t;
    if (stopped_ns)
        *stopped_ns = HG_UNKNOWN;
    return 0;
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
    .version = HG_TARGET_OPS_VERSION,
    .kind = HG_TARGET_CORE,
    .read = core_read,
    .stop = core_stop,
    .resume = core_resume,
    .close = core_close,
    .open_file = hg_core_open_file,
    .concurrent_reads = 1,
};

int hg_core_load_cmp(const void *a, const void *b)
{
    const struct load *x = a, *y = b;
    return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

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
        return hg_core_corrupt(path, "program headers of %u bytes", eh->e_phentsize);
    *phnum = eh->e_phnum;
    if (eh->e_phnum == PN_XNUM) {
        /* more than 65534 segments: section header 0 has the count */
        Elf64_Shdr sh;
        if (eh->e_shoff == 0 || eh->e_shentsize != sizeof sh)
            return hg_core_corrupt(path, "%u segments and no section header to count them",
                           eh->e_phnum);
        if (eh->e_shoff > (uint64_t)INT64_MAX - sizeof sh)
            return hg_core_corrupt(path, "section headers at 0x%" PRIx64, (uint64_t)eh->e_shoff);
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
            return hg_core_corrupt(path, "section headers of %u bytes", eh->e_shentsize);
        if (eh->e_shoff > (uint64_t)INT64_MAX - table)
            return hg_core_corrupt(path, "section headers at 0x%" PRIx64, (uint64_t)eh->e_shoff);
        if (eh->e_shoff + table > *end)
            *end = eh->e_shoff + table;
    }
    /* phnum < 2^32: the table's size cannot wrap */
    uint64_t table = (uint64_t)*phnum * sizeof(Elf64_Phdr);
    if (eh->e_phoff > (uint64_t)INT64_MAX - table)
        return hg_core_corrupt(path, "program headers at 0x%" PRIx64, (uint64_t)eh->e_phoff);
    if (eh->e_phoff + table > *end)
        *end = eh->e_phoff + table;
    return 0;
}

int hg_target_open_core(const char *path, const hg_core_options *opt, hg_target **out)
{
    const char *sysroot = opt ? opt->sysroot : NULL, *exe = opt ? opt->exe : NULL;
    *out = NULL;
    hg_target *t = hg_target_alloc(&core_ops);
    if (!t)
        return hg_error_code();
    struct core *c = calloc(1, sizeof *c);
    if (!c) {
        hg_target_close(t);
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    t->backend = c;
    /* the files it names are looked for under the sysroot, if given */
    int rc = hg_target_set_sysroot(t, sysroot);
    if (rc < 0)
        goto out;
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
            rc = hg_core_corrupt(path, "segment %zu's file range (offset 0x%" PRIx64 ", size 0x%" PRIx64
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
            rc = hg_core_corrupt(path, "segment %zu (0x%" PRIx64 ", 0x%" PRIx64 " bytes) runs past the "
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
    qsort(c->loads, c->nloads, sizeof *c->loads, hg_core_load_cmp);
    for (size_t i = 1; i < c->nloads; i++) {
        const struct load *a = &c->loads[i - 1], *b = &c->loads[i];
        if (b->vaddr - a->vaddr < a->memsz) {
            rc = hg_core_corrupt(path, "segments %zu and %zu overlap at 0x%" PRIx64, a->index, b->index,
                         b->vaddr);
            goto out;
        }
    }

    /* notes: threads and mapped files */
    size_t cap = 0; /* of c->threads */
    int have_files = 0, process_id = 0;
    for (size_t i = 0; i < nph; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, c->map + eh.e_phoff + i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_NOTE)
            continue;
        size_t off = 0;
        hg_note n;
        while (hg_next_note(c->map + ph.p_offset, (size_t)ph.p_filesz, 4, &off, &n)) {
            if (!hg_note_named(&n, "CORE"))
                continue;
            if (n.type == NT_PRSTATUS && n.descsz >= sizeof(struct elf_prstatus)) {
                if (hg_array_reserve_((void **)&c->threads, &cap, sizeof *c->threads,
                                      c->nthreads + 1) != 0) {
                    rc = hg_fail(HG_ENOMEM, "out of memory");
                    goto out;
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
                if ((rc = hg_core_parse_nt_file(t, c, path, n.desc, n.descsz)) != 0)
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
    rc = hg_core_open_files(t, c, exe);
out:
    if (rc) {
        hg_target_close(t);
        return rc;
    }
    *out = t;
    return 0;
}
