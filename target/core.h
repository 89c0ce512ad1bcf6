/* core.h -- the core backend's own state, shared by its two files:
 * core_attach.c (the core itself: headers, segments, notes, reads) and
 * core_files.c (the files it names: NT_FILE, opening and checking them).
 * Internal to them. */
#ifndef HG_CORE_H
#define HG_CORE_H

#include <stddef.h>
#include <stdint.h>

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

/* Order of struct load by vaddr (qsort). */
int hg_core_load_cmp(const void *a, const void *b);
/* A core that cannot be one (impossible headers): HG_EUSAGE, "PATH is not
 * a valid core: <why>". */
#define hg_core_corrupt(path, ...) \
    (hg_fail(HG_EUSAGE, __VA_ARGS__), hg_fail_wrap(HG_EUSAGE, "%s is not a valid core", (path)))

/* core_files.c */
/* The NT_FILE note (d, len bytes) of the core at path: the files, and
 * which segments they back (segments for the ranges the core left out are
 * added, c->loads sorted again); t->exe is the first file.  0, or an
 * error. */
int hg_core_parse_nt_file(hg_target *t, struct core *c, const char *path,
                          const unsigned char *d, size_t len);
/* Open the files, check their build-ids, fill t->maps' build-ids. */
int hg_core_open_files(hg_target *t, struct core *c, const char *exe);
/* The ops' open_file. */
int hg_core_open_file(hg_target *t, const char *path, const char **opened);

#endif
