/*
 * symbols.c -- modules, symbols and struct layouts through libdwfl.
 *
 * Files are opened through the target's own root (/proc/PID/root), never
 * by the host path alone, so a process in a container is described by its
 * own libc; debug files are searched by build-id under the target's root
 * and the host's /usr/lib/debug (and debuginfod when DEBUGINFOD_URLS is
 * set, as libdwfl does).
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach/target.h"
#include "lib/error.h"

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
    char *debuginfo_path;
    hg_module *mods;
    size_t nmods;
};

/* Open module files through the target's root; fall back to libdwfl's own
 * lookup (which can also read an ELF image out of process memory). */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname,
                    Dwarf_Addr base, char **file_name, Elf **elfp)
{
    const char *root = *userdata;
    if (root && root[0] && modname[0] == '/') {
        char path[4200];
        snprintf(path, sizeof path, "%s%s", root, modname);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            *file_name = strdup(path);
            return fd;
        }
    }
    return dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp);
}

struct collect {
    struct hg_dwfl_state *st;
    const char *root;
};

static int collect_module(Dwfl_Module *mod, void **userdata, const char *name,
                          Dwarf_Addr start, void *arg)
{
    struct collect *c = arg;
    struct hg_dwfl_state *st = c->st;
    *userdata = (void *)c->root;
    hg_module *nm = realloc(st->mods, (st->nmods + 1) * sizeof *nm);
    if (!nm)
        return DWARF_CB_ABORT;
    st->mods = nm;
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

/* Report modules from the target's mappings (for targets that are not a
 * process we can ask /proc about). */
static void report_from_maps(hg_target *t, Dwfl *dwfl)
{
    for (size_t i = 0; i < t->nmaps; i++) {
        const hg_mapping *m = &t->maps[i];
        if (m->path[0] != '/' || m->offset != 0)
            continue;
        int seen = 0;
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->maps[j].path, m->path) == 0)
                seen = 1;
        if (!seen) {
            char file[4200];
            snprintf(file, sizeof file, "%s%s", t->root, m->path);
            dwfl_report_elf(dwfl, m->path, file, -1, m->start, false);
        }
    }
}

static struct hg_dwfl_state *state(hg_target *t)
{
    if (t->sym)
        return t->sym->dwfl ? t->sym : NULL;
    struct hg_dwfl_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    t->sym = st;
    const char *root = t->root[0] ? t->root : "";
    /* The target's own debug files first, then those of any root its files
     * sit in (a core of a chrooted process names them by their host paths,
     * /srv/root/usr/lib/..., and their debug files are in that root), then
     * the host's. */
    size_t len = strlen(root) + 64, used;
    st->debuginfo_path = malloc(len);
    if (!st->debuginfo_path)
        return NULL;
    if (root[0])
        snprintf(st->debuginfo_path, len, ":.debug:%s/usr/lib/debug", root);
    else
        snprintf(st->debuginfo_path, len, ":.debug");
    used = strlen(st->debuginfo_path);
    for (size_t i = 0; i < t->nmaps && i < 4096; i++) {
        const char *p = t->maps[i].path, *lib = p[0] == '/' ? strstr(p, "/usr/lib/") : NULL;
        if (!lib)
            lib = p[0] == '/' ? strstr(p, "/lib/") : NULL;
        if (!lib || lib == p)
            continue;
        char dir[4200];
        snprintf(dir, sizeof dir, "%.*s/usr/lib/debug", (int)(lib - p), p);
        struct stat sb;
        if (strstr(st->debuginfo_path, dir) || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            continue;
        char *grown = realloc(st->debuginfo_path, used + strlen(dir) + 64);
        if (!grown)
            return NULL;
        st->debuginfo_path = grown;
        used += (size_t)sprintf(grown + used, ":%s", dir);
    }
    char *grown = realloc(st->debuginfo_path, used + 32);
    if (!grown)
        return NULL;
    st->debuginfo_path = grown;
    strcpy(grown + used, ":/usr/lib/debug");
    st->cb.find_elf = find_elf;
    st->cb.find_debuginfo = dwfl_standard_find_debuginfo;
    st->cb.section_address = dwfl_offline_section_address;
    st->cb.debuginfo_path = &st->debuginfo_path;
    st->dwfl = dwfl_begin(&st->cb);
    if (!st->dwfl)
        return NULL;
    dwfl_report_begin(st->dwfl);
    if (t->pid > 0) {
        if (dwfl_linux_proc_report(st->dwfl, t->pid) != 0)
            report_from_maps(t, st->dwfl);
    } else {
        report_from_maps(t, st->dwfl);
    }
    dwfl_report_end(st->dwfl, NULL, NULL);
    struct collect c = {st, root};
    dwfl_getmodules(st->dwfl, collect_module, &c, 0);
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
    if (st->dwfl)
        dwfl_end(st->dwfl);
    free(st->debuginfo_path);
    free(st);
    t->sym = NULL;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

hg_module *hg_module_find(hg_target *t, const char *prefix)
{
    struct hg_dwfl_state *st = state(t);
    if (!st)
        return NULL;
    for (size_t i = 0; i < st->nmods; i++) {
        hg_module *m = &st->mods[i];
        if (prefix ? strncmp(base_name(m->path), prefix, strlen(prefix)) == 0
                   : (t->exe[0] && strcmp(m->path, t->exe) == 0))
            return m;
    }
    return NULL;
}

const char *hg_module_path(const hg_module *m) { return m->path; }

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

/* Search the top level of one CU for a complete struct definition. */
static int find_struct_in_cu(Dwarf_Die *cu, const char *name, Dwarf_Die *out)
{
    Dwarf_Die child;
    if (dwarf_child(cu, &child) != 0)
        return 0;
    do {
        if (dwarf_tag(&child) == DW_TAG_structure_type && dwarf_hasattr(&child, DW_AT_name) &&
            !dwarf_hasattr(&child, DW_AT_declaration)) {
            const char *n = dwarf_diename(&child);
            if (n && strcmp(n, name) == 0) {
                *out = child;
                return 1;
            }
        }
    } while (dwarf_siblingof(&child, &child) == 0);
    return 0;
}

int hg_module_struct(hg_module *m, const char *struct_name, size_t *size,
                     const char *const *members, long *offsets, size_t n)
{
    Dwarf_Addr bias;
    Dwarf *dw = dwfl_module_getdwarf(m->mod, &bias);
    if (!dw)
        return HG_ENOTFOUND;
    Dwarf_Die type, cudie;
    int found = 0;
    /* malloc's own compilation unit describes all of malloc's structs:
     * look there first, then everywhere. */
    uint64_t addr;
    if (hg_module_symbol(m, "__libc_malloc", &addr, NULL, NULL) == 0) {
        Dwarf_Die *cu = dwfl_module_addrdie(m->mod, addr, &bias);
        if (cu)
            found = find_struct_in_cu(cu, struct_name, &type);
    }
    Dwarf_Off off = 0, next;
    size_t hsize;
    while (!found && dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
        if (dwarf_offdie(dw, off + hsize, &cudie))
            found = find_struct_in_cu(&cudie, struct_name, &type);
        off = next;
    }
    if (!found)
        return HG_ENOTFOUND;
    if (size) {
        int bs = dwarf_bytesize(&type);
        *size = bs > 0 ? (size_t)bs : 0;
    }
    for (size_t i = 0; i < n; i++)
        offsets[i] = -1;
    Dwarf_Die member;
    if (dwarf_child(&type, &member) != 0)
        return 0;
    do {
        if (dwarf_tag(&member) != DW_TAG_member)
            continue;
        const char *mn = dwarf_diename(&member);
        Dwarf_Attribute attr;
        Dwarf_Word loc;
        if (!mn || !dwarf_attr(&member, DW_AT_data_member_location, &attr) ||
            dwarf_formudata(&attr, &loc) != 0)
            continue;
        for (size_t i = 0; i < n; i++)
            if (strcmp(members[i], mn) == 0)
                offsets[i] = (long)loc;
    } while (dwarf_siblingof(&member, &member) == 0);
    return 0;
}

Dwfl *hg_target_dwfl(hg_target *t)
{
    struct hg_dwfl_state *st = state(t);
    return st ? st->dwfl : NULL;
}

const char *hg_module_build_id_at(hg_target *t, uint64_t addr, const char **path)
{
    struct hg_dwfl_state *st = state(t);
    for (size_t i = 0; st && i < st->nmods; i++)
        if (addr >= st->mods[i].start && addr < st->mods[i].end) {
            if (path)
                *path = st->mods[i].path;
            return hg_module_build_id(&st->mods[i]);
        }
    if (path)
        *path = NULL;
    return NULL;
}
