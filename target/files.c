/*
 * files.c -- the files a target names: the checked opener, build-ids from
 * ELF notes, and the search for debug files.  See files.h.
 */
#include <elf.h>
#include <errno.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <zlib.h>

#include "target/files.h"

/* ------------------------------------------------------ the checked opener */

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

/* ------------------------------------------------------------ ELF notes */

int hg_next_note(const unsigned char *base, size_t len, size_t align, size_t *off, hg_note *out)
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

int hg_note_named(const hg_note *n, const char *name)
{
    size_t len = strlen(name) + 1;
    return n->namesz == len && memcmp(n->name, name, len) == 0;
}

/* The GNU build-id among the notes of one PT_NOTE segment, as hex. */
static int notes_build_id(const unsigned char *notes, size_t len, uint64_t align, char *hex)
{
    size_t off = 0;
    hg_note n;
    while (hg_next_note(notes, len, align == 8 ? 8 : 4, &off, &n))
        if (n.type == NT_GNU_BUILD_ID && hg_note_named(&n, "GNU") && n.descsz > 0 &&
            n.descsz < HG_BUILD_ID_HEX / 2) {
            for (size_t k = 0; k < n.descsz; k++)
                snprintf(hex + 2 * k, 3, "%02x", n.desc[k]);
            return 1;
        }
    return 0;
}

int hg_image_build_id(const unsigned char *img, size_t len, char *hex)
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
        if (ph.p_type == PT_NOTE && ph.p_offset <= len && ph.p_filesz <= len - ph.p_offset &&
            notes_build_id(img + ph.p_offset, (size_t)ph.p_filesz, ph.p_align, hex))
            return 1;
    }
    return 0;
}

int hg_file_build_id(int fd, char *hex)
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
        found = n > 0 && notes_build_id(buf, (size_t)n, ph[i].p_align, hex);
        free(buf);
    }
    free(ph);
    return found;
}

/* ------------------------------------------------------------ debug files
 *
 * libdwfl's standard lookup opens debug files by path, with a plain
 * open(): a FIFO where a debug file is looked for (a build-id path under
 * a directory the core names, or a .gnu_debuglink name next to an ELF file
 * it names) would hold heapgrab forever.  So heapgrab finds them itself,
 * through hg_open_file, in the same places.
 */

/* An open debug file has the build-id bits[0..n). */
static int has_build_id(int fd, const unsigned char *bits, int n)
{
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    const void *id = NULL;
    ssize_t len = elf ? dwelf_elf_gnu_build_id(elf, &id) : -1;
    int same = n > 0 && len == n && memcmp(id, bits, (size_t)n) == 0;
    if (elf)
        elf_end(elf);
    return same;
}

/* The CRC-32 of a whole open file (what .gnu_debuglink records). */
static int has_crc(int fd, uint32_t crc)
{
    unsigned char buf[65536];
    uLong sum = crc32(0, NULL, 0);
    off_t at = 0;
    ssize_t n;
    while ((n = pread(fd, buf, sizeof buf, at)) > 0) {
        sum = crc32(sum, buf, (uInt)n);
        at += n;
    }
    return n == 0 && (uint32_t)sum == crc;
}

/* Open path as a debug file for the given build-id (or CRC); -1 if it is
 * not one.  *absent is cleared when something is there. */
static int try_debug(char *path, const unsigned char *bits, int n, uint32_t crc,
                     char **name, int *absent)
{
    int fd = hg_open_file(path, 1, NULL);
    if (fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            *absent = 0;
        free(path);
        return -1;
    }
    *absent = 0;
    if (n > 0 ? !has_build_id(fd, bits, n) : !has_crc(fd, crc)) {
        close(fd);
        free(path);
        return -1;
    }
    *name = path;
    return fd;
}

static char *path_of(const char *a, const char *b, const char *c)
{
    size_t len = strlen(a) + strlen(b) + strlen(c) + 1;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s%s%s", a, b, c);
    return p;
}

/* Each absolute directory of the debuginfo path, in turn (NULL at the
 * end); *at keeps the place.  Entries may carry a + or - (CRC checking,
 * in libdwfl's syntax). */
static const char *next_dir(const char *list, const char **at, size_t *len)
{
    const char *p = *at ? *at : list;
    while (*p) {
        const char *end = strchr(p, ':');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *d = p;
        p = end ? end + 1 : p + n;
        if (n && (*d == '+' || *d == '-'))
            d++, n--;
        if (n && *d == '/') {
            *at = p;
            *len = n;
            return d;
        }
    }
    *at = p;
    return NULL;
}

/* <dir>/.build-id/xx/yyyy.debug under each directory of the path. */
int hg_find_debug_by_build_id(const char *list, const unsigned char *bits, int n, char **name,
                              int *absent)
{
    char hex[2 * 64 + 1];
    if (n <= 1 || n > 64)
        return -1;
    for (int i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", bits[i]);
    const char *at = NULL, *dir;
    size_t len;
    while ((dir = next_dir(list, &at, &len)) != NULL) {
        /* dir/.build-id/ + 2 hex + / + the rest + .debug */
        size_t size = len + 12 + 2 * (size_t)n + 8;
        char *path = malloc(size);
        if (!path)
            return -1;
        snprintf(path, size, "%.*s/.build-id/%.2s/%s.debug", (int)len, dir, hex, hex + 2);
        int fd = try_debug(path, bits, n, 0, name, absent);
        if (fd >= 0)
            return fd;
    }
    return -1;
}

int hg_find_debug_file(const char *list, const unsigned char *bits, int n, const char *file_name,
                       const char *debuglink, uint32_t crc, char **name, int *absent)
{
    int fd = -1;
    if (n > 0 && (fd = hg_find_debug_by_build_id(list, bits, n, name, absent)) >= 0)
        return fd;
    /* by the debuglink name: a file name, never a path */
    if (debuglink && file_name && !strchr(debuglink, '/') && debuglink[0] &&
        strcmp(debuglink, ".") != 0 && strcmp(debuglink, "..") != 0) {
        const char *slash = strrchr(file_name, '/');
        char *dir = slash ? strndup(file_name, (size_t)(slash - file_name) + 1) : strdup("./");
        if (!dir)
            return -1;
        char *cand[] = {path_of(dir, "", debuglink), path_of(dir, ".debug/", debuglink)};
        for (size_t i = 0; i < 2; i++) {
            if (fd < 0 && cand[i])
                fd = try_debug(cand[i], bits, n, crc, name, absent);
            else
                free(cand[i]);
        }
        const char *at = NULL, *d;
        size_t len;
        while (fd < 0 && (d = next_dir(list, &at, &len)) != NULL) {
            char *root = strndup(d, len), *sub = root ? path_of(root, dir, debuglink) : NULL;
            free(root);
            if (sub)
                fd = try_debug(sub, bits, n, crc, name, absent);
        }
        free(dir);
    }
    return fd;
}
