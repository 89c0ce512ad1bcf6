/*
 * modules.c -- modules, symbols and struct layouts through libdwfl.
 *
 * Files are opened through the target's own root (/proc/PID/root), never
 * by the host path alone, so a process in a container is described by its
 * own libc; debug files are searched by build-id under the target's root
 * and the host's /usr/lib/debug (and debuginfod when DEBUGINFOD_URLS is
 * set, as libdwfl does).
 *
 * The paths come from the target (a core names whatever it likes), so
 * module files are opened by heapgrab, as regular ELF files only
 * (hg_open_file), and handed to libdwfl as descriptors; and nothing here
 * makes a pass over all modules or mappings per module or mapping.
 */
#include <dwarf.h>
#include <errno.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/target.h"
#include "target/files.h"
#include "target/modules.h"
#include "lib/array.h"
#include "lib/error.h"
#include "lib/hashmap.h"

struct hg_module {
    Dwfl_Module *mod;
    char *path;
    uint64_t start, end;
    char build_id[80];
    int dwarf_state;   /* 0 unknown, 1 present, -1 absent */
};

struct hg_dwfl_state {
    Dwfl *dwfl;
    Dwfl_Callbacks cb;
    const char *root;      /* the target's sysroot */
    char *debuginfo_path;
    hg_module *mods;
    size_t nmods, capmods;
    /* Lookups without a pass over every module: module numbers sorted by
     * file base name (then number), and by start address. */
    size_t *by_name, *by_start;
    long exe;          /* the main executable's module, -1 none, -2 not looked up */
};

/* Open module files through the target's root, as regular ELF files only
 * (a process can map a device; a FIFO must not block us); fall back to
 * libdwfl's own lookup only for what is not a plain file there (a deleted
 * file or the vDSO, which it reads out of process memory). */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname,
                    Dwarf_Addr base, char **file_name, Elf **elfp)
{
    const struct hg_dwfl_state *st = *userdata;
    const char *root = st ? st->root : "";
    if (modname[0] == '/') {
        size_t len = strlen(root) + strlen(modname) + 1;
        char *path = malloc(len);
        if (!path)
            return -1;
        snprintf(path, len, "%s%s", root, modname);
        int fd = hg_open_file(path, 1, NULL);
        if (fd >= 0) {
            *file_name = path;
            return fd;
        }
        free(path);
        if (errno == ENODEV || errno == EISDIR || errno == ENOEXEC)
            return -1; /* there, and not an ELF file to read */
    }
    return dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp);
}

/* The build-id of the dwz file that the debug file at path refers to. */
static ssize_t alt_build_id(const char *path, const void **bits, Dwarf **dwp, Elf **elfp,
                            int *fdp)
{
    *fdp = hg_open_file(path, 1, NULL);
    *elfp = *fdp >= 0 ? elf_begin(*fdp, ELF_C_READ_MMAP, NULL) : NULL;
    *dwp = *elfp ? dwarf_begin_elf(*elfp, DWARF_C_READ, NULL) : NULL;
    const char *name;
    return *dwp ? dwelf_dwarf_gnu_debugaltlink(*dwp, &name, bits) : -1;
}

static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
                          Dwarf_Addr base, const char *file_name, const char *debuglink,
                          GElf_Word crc, char **debuginfo_name)
{
    const struct hg_dwfl_state *st = *userdata;
    const char *list = st ? st->debuginfo_path : ":/usr/lib/debug";
    const unsigned char *bits = NULL;
    GElf_Addr vaddr;
    int n = dwfl_module_build_id(mod, &bits, &vaddr), absent = 1, fd = -1;
    *debuginfo_name = NULL;

    /* libdwfl asks again for a dwz file (debuglink: its name, which is not
     * the main file's .gnu_debuglink): that one is found by its own
     * build-id, which the debug file names. */
    Dwarf_Addr bias;
    Elf *main_elf = dwfl_module_getelf(mod, &bias);
    GElf_Word main_crc;
    const char *main_link = main_elf ? dwelf_elf_gnu_debuglink(main_elf, &main_crc) : NULL;
    if (debuglink && (!main_link || strcmp(main_link, debuglink) != 0) && file_name) {
        const void *alt;
        Dwarf *dw;
        Elf *elf;
        int dfd;
        ssize_t len = alt_build_id(file_name, &alt, &dw, &elf, &dfd);
        if (len > 0)
            fd = hg_find_debug_by_build_id(list, alt, (int)len, debuginfo_name, &absent);
        if (dw)
            dwarf_end(dw);
        if (elf)
            elf_end(elf);
        if (dfd >= 0)
            close(dfd);
        return fd;
    }
    fd = hg_find_debug_file(list, bits, n, file_name, debuglink, crc, debuginfo_name, &absent);
    /* debuginfod, when asked for, as libdwfl's standard lookup does: only
     * when nothing at all was where debug files are looked for, so its
     * own search of the same places opens nothing */
    if (fd < 0 && absent && n > 0 && getenv("DEBUGINFOD_URLS"))
        fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink,
                                          crc, debuginfo_name);
    return fd;
}

static int collect_module(Dwfl_Module *mod, void **userdata, const char *name,
                          Dwarf_Addr start, void *arg)
{
    struct hg_dwfl_state *st = arg;
    *userdata = st;
    if (hg_array_reserve_((void **)&st->mods, &st->capmods, sizeof *st->mods, st->nmods + 1) != 0)
        return DWARF_CB_ABORT;
    hg_module *m = &st->mods[st->nmods++];
    memset(m, 0, sizeof *m);
    m->mod = mod;
    m->path = strdup(name ? name : "");
    Dwarf_Addr end = 0;
    dwfl_module_info(mod, NULL, NULL, &end, NULL, NULL, NULL, NULL);
    m->start = start;
    m->end = end;
    return DWARF_CB_OK;
}

/* Files by identity (device, inode), to report each once: the hash of
 * the pair leads to the pair's index in ids (the next keys on, where two
 * pairs hash alike). */
struct file_set {
    hg_u64map by_hash;
    struct file_id { dev_t dev; ino_t ino; } *ids;
    size_t n, cap;
};

/* Add a file: 1 if it is new, 0 if it was there already (or heapgrab is
 * out of memory: the file is then not reported, as when it is there). */
static int file_set_add(struct file_set *fs, dev_t dev, ino_t ino)
{
    uint64_t key = hg_hash64((uint64_t)dev) ^ (uint64_t)ino;
    for (const uint64_t *v; (v = hg_u64map_get(&fs->by_hash, key)) != NULL; key++)
        if (fs->ids[*v].dev == dev && fs->ids[*v].ino == ino)
            return 0;
    if (hg_array_reserve_((void **)&fs->ids, &fs->cap, sizeof *fs->ids, fs->n + 1) != 0 ||
        hg_u64map_put(&fs->by_hash, key, fs->n) != 0)
        return 0;
    fs->ids[fs->n++] = (struct file_id){dev, ino};
    return 1;
}

struct map_ref {
    const char *path;
    size_t index;
};

static int ref_by_path(const void *a, const void *b)
{
    const struct map_ref *x = a, *y = b;
    int r = strcmp(x->path, y->path);
    return r ? r : (x->index < y->index ? -1 : x->index > y->index);
}

static int ref_by_index(const void *a, const void *b)
{
    const struct map_ref *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * Report modules from the target's mappings (for targets that are not a
 * process we can ask /proc about): each file once, at its first mapping
 * from offset 0, in mapping order.  A file goes to libdwfl as a descriptor
 * heapgrab opened and checked (the backend's own for a core, which is the
 * file its memory was read from), never as a path for libdwfl to open.
 * Names that are the same file (links, "//", "/./") count once: a core
 * can name a file a hundred thousand ways, and libdwfl's reporting is
 * linear in the modules it has.
 */
static void report_from_maps(hg_target *t, Dwfl *dwfl)
{
    struct map_ref *refs = calloc(t->nmaps ? t->nmaps : 1, sizeof *refs);
    size_t n = 0;
    struct file_set fs = {0};
    if (!refs)
        return;
    for (size_t i = 0; i < t->nmaps; i++)
        if (t->maps[i].path[0] == '/' && t->maps[i].offset == 0)
            refs[n++] = (struct map_ref){t->maps[i].path, i};
    qsort(refs, n, sizeof *refs, ref_by_path);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || strcmp(refs[u - 1].path, refs[i].path) != 0)
            refs[u++] = refs[i];
    qsort(refs, u, sizeof *refs, ref_by_index);
    for (size_t i = 0; i < u; i++) {
        const hg_mapping *m = &t->maps[refs[i].index];
        char *opened = NULL;
        int fd = hg_target_open_file(t, m->path, &opened);
        struct stat sb;
        if (fd >= 0 && (fstat(fd, &sb) != 0 || !file_set_add(&fs, sb.st_dev, sb.st_ino))) {
            close(fd);
            fd = -1;
        }
        /* libdwfl keeps the descriptor of a module it accepts */
        if (fd >= 0 && !dwfl_report_elf(dwfl, m->path, opened, fd, m->start, false))
            close(fd);
        free(opened);
    }
    hg_u64map_free(&fs.by_hash);
    free(fs.ids);
    free(refs);
}

struct lib_dir {
    const char *path;   /* a mapping's path; the directory is its first len bytes */
    size_t len, index;
};

static int dir_by_name(const void *a, const void *b)
{
    const struct lib_dir *x = a, *y = b;
    int r = memcmp(x->path, y->path, x->len < y->len ? x->len : y->len);
    if (r == 0 && x->len != y->len)
        r = x->len < y->len ? -1 : 1;
    return r ? r : (x->index < y->index ? -1 : x->index > y->index);
}

static int dir_by_index(const void *a, const void *b)
{
    const struct lib_dir *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * libdwfl's debuginfo path: the target's own debug files first, then
 * those of any root its files sit in (a core of a chrooted process names
 * them by their host paths, /srv/root/usr/lib/..., and their debug files
 * are in that root), then the host's.  Each root once, in the order its
 * first mapping comes; sorted to find repeats, so the work stays
 * O(n log n) in the number of mappings.
 */
typedef hg_array(char) text;

/* Append to a NUL-terminated text: 0, or -1 when out of memory. */
static int append(text *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int append(text *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || hg_array_reserve(*s, s->size + (size_t)n + 1) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(s->ptr + s->size, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->size += (size_t)n;
    return 0;
}

static char *debuginfo_path(const hg_target *t, const char *root)
{
    struct lib_dir *dirs = calloc(t->nmaps ? t->nmaps : 1, sizeof *dirs);
    size_t n = 0, rootlen = strlen(root);
    text out = HG_ARRAY_INIT;
    if (!dirs || (root[0] ? append(&out, ":.debug:%s/usr/lib/debug", root)
                          : append(&out, ":.debug")) != 0) {
        free(dirs);
        hg_array_clear(out);
        return NULL;
    }
    for (size_t i = 0; i < t->nmaps; i++) {
        const char *p = t->maps[i].path, *lib = p[0] == '/' ? strstr(p, "/usr/lib/") : NULL;
        if (!lib)
            lib = p[0] == '/' ? strstr(p, "/lib/") : NULL;
        if (lib && lib != p)
            dirs[n++] = (struct lib_dir){p, (size_t)(lib - p), i};
    }
    qsort(dirs, n, sizeof *dirs, dir_by_name);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || dirs[u - 1].len != dirs[i].len ||
            memcmp(dirs[u - 1].path, dirs[i].path, dirs[i].len) != 0)
            dirs[u++] = dirs[i];
    qsort(dirs, u, sizeof *dirs, dir_by_index);
    for (size_t i = 0; i < u; i++) {
        if (dirs[i].len == rootlen && memcmp(dirs[i].path, root, rootlen) == 0)
            continue; /* the target's root itself: first already */
        size_t was = out.size;
        if (append(&out, ":%.*s/usr/lib/debug", (int)dirs[i].len, dirs[i].path) != 0)
            break;
        struct stat sb;
        if (stat(out.ptr + was + 1, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            out.size = was; /* no debug files there */
            out.ptr[was] = '\0';
        }
    }
    free(dirs);
    if (append(&out, ":/usr/lib/debug") != 0) {
        hg_array_clear(out);
        return NULL;
    }
    return out.ptr;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static const hg_module *sort_mods; /* qsort has no context argument */

static int mod_by_name(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int r = strcmp(base_name(sort_mods[x].path), base_name(sort_mods[y].path));
    return r ? r : (x < y ? -1 : x > y);
}

static int mod_by_start(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    uint64_t sx = sort_mods[x].start, sy = sort_mods[y].start;
    return sx != sy ? (sx < sy ? -1 : 1) : (x < y ? -1 : x > y);
}

static struct hg_dwfl_state *state(hg_target *t)
{
    if (t->sym)
        return t->sym->dwfl ? t->sym : NULL;
    struct hg_dwfl_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    t->sym = st;
    st->exe = -2;
    const char *root = t->sysroot;
    st->root = root;
    if (!(st->debuginfo_path = debuginfo_path(t, root)))
        return NULL;
    st->cb.find_elf = find_elf;
    st->cb.find_debuginfo = find_debuginfo;
    st->cb.section_address = dwfl_offline_section_address;
    st->cb.debuginfo_path = &st->debuginfo_path;
    st->dwfl = dwfl_begin(&st->cb);
    if (!st->dwfl)
        return NULL;
    dwfl_report_begin(st->dwfl);
    if (t->proc_pid > 0) {
        if (dwfl_linux_proc_report(st->dwfl, t->proc_pid) != 0)
            report_from_maps(t, st->dwfl);
    } else {
        report_from_maps(t, st->dwfl);
    }
    dwfl_report_end(st->dwfl, NULL, NULL);
    dwfl_getmodules(st->dwfl, collect_module, st, 0);
    st->by_name = malloc((st->nmods ? st->nmods : 1) * sizeof *st->by_name);
    st->by_start = malloc((st->nmods ? st->nmods : 1) * sizeof *st->by_start);
    if (!st->by_name || !st->by_start) {
        dwfl_end(st->dwfl);
        st->dwfl = NULL;
        return NULL;
    }
    for (size_t i = 0; i < st->nmods; i++)
        st->by_name[i] = st->by_start[i] = i;
    sort_mods = st->mods;
    qsort(st->by_name, st->nmods, sizeof *st->by_name, mod_by_name);
    qsort(st->by_start, st->nmods, sizeof *st->by_start, mod_by_start);
    sort_mods = NULL;
    return st;
}

void hg_symbols_free(hg_target *t)
{
    struct hg_dwfl_state *st = t->sym;
    if (!st)
        return;
    for (size_t i = 0; i < st->nmods; i++)
        free(st->mods[i].path);
    free(st->mods);
    free(st->by_name);
    free(st->by_start);
    if (st->dwfl)
        dwfl_end(st->dwfl);
    free(st->debuginfo_path);
    free(st);
    t->sym = NULL;
}

hg_module *hg_module_find(hg_target *t, const char *prefix)
{
    struct hg_dwfl_state *st = state(t);
    if (!st)
        return NULL;
    if (!prefix) {
        if (st->exe == -2) {
            st->exe = -1;
            for (size_t i = 0; t->exe[0] && i < st->nmods && st->exe < 0; i++)
                if (strcmp(st->mods[i].path, t->exe) == 0)
                    st->exe = (long)i;
        }
        return st->exe >= 0 ? &st->mods[st->exe] : NULL;
    }
    /* The names that start with prefix are one run in name order, from
     * the first name not below it; the module reported first wins. */
    size_t lo = 0, hi = st->nmods, plen = strlen(prefix), best = st->nmods;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(base_name(st->mods[st->by_name[mid]].path), prefix) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < st->nmods; lo++) {
        size_t i = st->by_name[lo];
        if (strncmp(base_name(st->mods[i].path), prefix, plen) != 0)
            break;
        if (i < best)
            best = i;
    }
    return best < st->nmods ? &st->mods[best] : NULL;
}

const char *hg_module_path(const hg_module *m) { return m->path; }
Dwfl_Module *hg_module_dwfl(const hg_module *m) { return m->mod; }

uint64_t hg_module_bias(const hg_module *m)
{
    Dwarf_Addr bias = 0;
    dwfl_module_getelf(m->mod, &bias);
    return bias;
}

int hg_module_has_debuginfo(hg_module *m)
{
    if (m->dwarf_state == 0) {
        Dwarf_Addr bias;
        m->dwarf_state = dwfl_module_getdwarf(m->mod, &bias) ? 1 : -1;
    }
    return m->dwarf_state > 0;
}

const char *hg_module_build_id(hg_module *m)
{
    if (!m->build_id[0]) {
        const unsigned char *bits;
        GElf_Addr vaddr;
        int n = dwfl_module_build_id(m->mod, &bits, &vaddr);
        if (n <= 0 || n > 39)
            return NULL;
        for (int i = 0; i < n; i++)
            sprintf(m->build_id + 2 * i, "%02x", bits[i]);
    }
    return m->build_id;
}

static int tls_phdr(hg_module *m, GElf_Phdr *out)
{
    Dwarf_Addr bias;
    Elf *elf = dwfl_module_getelf(m->mod, &bias);
    size_t n;
    if (!elf || elf_getphdrnum(elf, &n) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (gelf_getphdr(elf, (int)i, out) && out->p_type == PT_TLS)
            return 1;
    return 0;
}

uint64_t hg_module_tls_size(hg_module *m)
{
    GElf_Phdr ph;
    return tls_phdr(m, &ph) ? ph.p_memsz : 0;
}

uint64_t hg_module_tls_align(hg_module *m)
{
    GElf_Phdr ph;
    return tls_phdr(m, &ph) ? ph.p_align : 0;
}

int hg_module_file_read(hg_module *m, uint64_t addr, void *buf, size_t len)
{
    Dwarf_Addr bias;
    Elf *elf = dwfl_module_getelf(m->mod, &bias);
    size_t n, filesize = 0;
    const char *image = elf ? elf_rawfile(elf, &filesize) : NULL;
    if (!image || elf_getphdrnum(elf, &n) != 0 || addr < bias)
        return HG_ENOTFOUND;
    uint64_t va = addr - bias;
    for (size_t i = 0; i < n; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD || va < ph.p_vaddr ||
            va - ph.p_vaddr > ph.p_filesz || len > ph.p_filesz - (va - ph.p_vaddr))
            continue;
        uint64_t at = ph.p_offset + (va - ph.p_vaddr);
        if (at > filesize || len > filesize - at)
            return HG_ENOTFOUND;
        memcpy(buf, image + at, len);
        return 0;
    }
    return HG_ENOTFOUND;
}

int hg_module_symbol(hg_module *m, const char *name, uint64_t *value,
                     uint64_t *size, int *is_tls)
{
    int n = dwfl_module_getsymtab(m->mod);
    for (int i = 0; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        const char *s = dwfl_module_getsym_info(m->mod, i, &sym, &addr, NULL, NULL, NULL);
        if (!s || strcmp(s, name) != 0 || sym.st_shndx == SHN_UNDEF)
            continue;
        int tls = GELF_ST_TYPE(sym.st_info) == STT_TLS;
        if (value)
            *value = tls ? sym.st_value : addr;
        if (size)
            *size = sym.st_size;
        if (is_tls)
            *is_tls = tls;
        return 0;
    }
    return HG_ENOTFOUND;
}

Dwfl *hg_target_dwfl(hg_target *t)
{
    struct hg_dwfl_state *st = state(t);
    return st ? st->dwfl : NULL;
}

hg_module *hg_module_at(hg_target *t, uint64_t addr)
{
    struct hg_dwfl_state *st = state(t);
    if (!st)
        return NULL;
    /* the last module starting at or below addr (modules do not overlap) */
    size_t lo = 0, hi = st->nmods;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->mods[st->by_start[mid]].start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    hg_module *m = &st->mods[st->by_start[lo - 1]];
    return addr < m->end ? m : NULL;
}

const char *hg_module_build_id_at(hg_target *t, uint64_t addr, const char **path)
{
    hg_module *m = hg_module_at(t, addr);
    if (path)
        *path = m ? m->path : NULL;
    return m ? hg_module_build_id(m) : NULL;
}

size_t hg_module_count(hg_target *t)
{
    struct hg_dwfl_state *st = state(t);
    return st ? st->nmods : 0;
}

hg_module *hg_module_get(hg_target *t, size_t i)
{
    struct hg_dwfl_state *st = state(t);
    return st && i < st->nmods ? &st->mods[i] : NULL;
}

static int symbol_by_start(const void *a, const void *b)
{
    const hg_symbol *x = a, *y = b;
    return x->start != y->start ? (x->start < y->start ? -1 : 1) : 0;
}

int hg_module_symbols(hg_module *m, const char *prefix, hg_symbol **out, size_t *n)
{
    hg_array(hg_symbol) syms = HG_ARRAY_INIT;
    size_t plen = strlen(prefix);
    *out = NULL;
    *n = 0;
    int count = dwfl_module_getsymtab(m->mod);
    for (int i = 0; i < count; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        const char *name = dwfl_module_getsym_info(m->mod, i, &sym, &addr, NULL, NULL, NULL);
        if (!name || strncmp(name, prefix, plen) != 0 || sym.st_shndx == SHN_UNDEF ||
            GELF_ST_TYPE(sym.st_info) != STT_OBJECT)
            continue;
        hg_symbol *h = hg_array_push(syms);
        if (!h) {
            hg_array_clear(syms);
            return hg_fail(HG_ENOMEM, "out of memory");
        }
        *h = (hg_symbol){addr, sym.st_size, name};
    }
    if (syms.size)
        qsort(syms.ptr, syms.size, sizeof *syms.ptr, symbol_by_start);
    *out = syms.ptr;
    *n = syms.size;
    return 0;
}

/* ------------------------------------------- data symbols, for the holders */

uint64_t hg_module_start(const hg_module *m) { return m->start; }

int hg_module_data_symbol(hg_module *m, uint64_t addr, const char **name, uint64_t *start,
                          uint64_t *size)
{
    GElf_Off off = 0;
    GElf_Sym sym;
    const char *s = dwfl_module_addrinfo(m->mod, addr, &off, &sym, NULL, NULL, NULL);
    if (!s || !s[0])
        return HG_ENOTFOUND;
    int type = GELF_ST_TYPE(sym.st_info);
    if (type == STT_FUNC || type == STT_SECTION || type == STT_FILE || type == STT_TLS)
        return HG_ENOTFOUND;
    /* the closest symbol below may end before addr: then none covers it */
    if (off >= (sym.st_size ? sym.st_size : 8))
        return HG_ENOTFOUND;
    *name = s;
    *start = addr - off;
    *size = sym.st_size ? sym.st_size : 8;
    return 0;
}

int hg_module_tls_symbol(hg_module *m, uint64_t off, const char **name, uint64_t *start,
                         uint64_t *size)
{
    int n = dwfl_module_getsymtab(m->mod);
    const char *best = NULL;
    uint64_t bstart = 0, bsize = 0;
    for (int i = 0; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        const char *s = dwfl_module_getsym_info(m->mod, i, &sym, &addr, NULL, NULL, NULL);
        if (!s || !s[0] || GELF_ST_TYPE(sym.st_info) != STT_TLS || sym.st_shndx == SHN_UNDEF)
            continue;
        uint64_t sz = sym.st_size ? sym.st_size : 8;
        if (off >= sym.st_value && off - sym.st_value < sz && (!best || sym.st_value > bstart)) {
            best = s;
            bstart = sym.st_value;
            bsize = sz;
        }
    }
    if (!best)
        return HG_ENOTFOUND;
    *name = best;
    *start = bstart;
    *size = bsize;
    return 0;
}

/* The variable's DIE: a DW_TAG_variable at the top of a CU named name,
 * a definition (not a declaration), preferring the one whose location is
 * addr (DW_OP_addr, the module's bias taken off). */
int hg_module_var_decl(hg_module *m, const char *name, uint64_t addr, const char **file,
                       int *line)
{
    Dwarf_Addr bias = 0;
    Dwarf *dw = dwfl_module_getdwarf(m->mod, &bias);
    if (!dw)
        return HG_ENOTFOUND;
    Dwarf_Off off = 0, next;
    size_t hsize;
    int found = 0;
    /* a bounded look: a module of a million CUs is not searched whole */
    for (int cus = 0; !found && cus < 200000 &&
                      dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0;
         off = next, cus++) {
        Dwarf_Die cu, child;
        if (!dwarf_offdie(dw, off + hsize, &cu) || dwarf_child(&cu, &child) != 0)
            continue;
        do {
            if (dwarf_tag(&child) != DW_TAG_variable || dwarf_hasattr(&child, DW_AT_declaration))
                continue;
            const char *n = dwarf_diename(&child);
            if (!n || strcmp(n, name) != 0)
                continue;
            Dwarf_Attribute at;
            Dwarf_Op *ops;
            size_t nops;
            if (addr && dwarf_attr(&child, DW_AT_location, &at) &&
                dwarf_getlocation(&at, &ops, &nops) == 0 && nops == 1 &&
                ops[0].atom == DW_OP_addr && ops[0].number + bias != addr)
                continue;
            const char *f = dwarf_decl_file(&child);
            int l = 0;
            if (!f)
                continue;
            dwarf_decl_line(&child, &l);
            *file = f;
            *line = l;
            found = 1;
            break;
        } while (dwarf_siblingof(&child, &child) == 0);
    }
    return found ? 0 : HG_ENOTFOUND;
}

uint64_t hg_module_image_end(hg_module *m)
{
    Dwarf_Addr bias = 0;
    Elf *elf = dwfl_module_getelf(m->mod, &bias);
    size_t n;
    uint64_t end = 0;
    if (!elf || elf_getphdrnum(elf, &n) != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD &&
            ph.p_vaddr + ph.p_memsz > end)
            end = ph.p_vaddr + ph.p_memsz;
    }
    return end ? bias + end : 0;
}

int hg_thread_db_field(hg_target *t, hg_module *m, const char *name, uint32_t desc[3])
{
    uint64_t addr;
    if (!m || hg_module_symbol(m, name, &addr, NULL, NULL) != 0)
        return HG_ENOTFOUND;
    return hg_read_exact(t, addr, desc, 3 * sizeof(uint32_t));
}
