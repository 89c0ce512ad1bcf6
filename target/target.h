/*
 * target.h -- one interface over every kind of target (live process,
 * caller-supplied memory reader; core files later), in the spirit of
 * libdwfl's callbacks.  The walker sees only this.
 */
#ifndef HG_TARGET_H
#define HG_TARGET_H

#include <stdint.h>
#include <string.h>
#include <stddef.h>

#include "heapgrab.h"
#include "lib/clock.h"

typedef struct hg_thread {
    int tid;
    int stopped;          /* in a ptrace-stop we caused */
    int pending_signal;   /* signal to re-inject when detaching */
    uint64_t fs_base;     /* thread pointer (x86_64) */
    /* General registers in DWARF order (rax rdx rcx rbx rsi rdi rbp rsp
     * r8-r15 rip), for unwinding; have_regs 0 when the backend has none. */
    uint64_t regs[17];
    int have_regs;
} hg_thread;

typedef struct hg_thread_state {
    int tid;
    char state;           /* as in /proc/PID/task/TID/stat; '?' unknown or
                             not asked for */
    int have_cpu;         /* cpu_ns was read */
    uint64_t cpu_ns;      /* time the thread has spent on a CPU since it
                             began (/proc/PID/task/TID/schedstat) */
} hg_thread_state;

/* What thread_states reads, one file per thread for each. */
#define HG_THREAD_RUN_STATE 1u
#define HG_THREAD_CPU_TIME 2u

/* One range of target memory to read into buf; got is what was read. */
typedef struct hg_span {
    uint64_t addr;
    size_t len;
    void *buf;
    size_t got;
} hg_span;

struct user_regs_struct;
/* Fill th->regs from a ptrace/NT_PRSTATUS register set. */
void hg_thread_set_regs(hg_thread *th, const struct user_regs_struct *r);

struct hg_target_ops {
    /* Copy len bytes at addr; returns bytes copied (short at unreadable
     * memory), or -1 with the hg error set if the target is gone. */
    long (*read)(hg_target *t, uint64_t addr, void *buf, size_t len);
    /* Optional: read several ranges at once (a live process: one system
     * call for all of them), each as read() would; 0, or -1 with the hg
     * error set if the target is gone.  hg_read_spans falls back to read. */
    int (*read_spans)(hg_target *t, hg_span *spans, size_t n);
    /* Stop every thread and fill t->threads; resume undoes it. */
    int (*stop)(hg_target *t);
    void (*resume)(hg_target *t);
    /* Optional: present[i] = 1 if page i of [addr, addr + n*page) is
     * resident, 2 if swapped out, 0 if neither (never touched or released:
     * it reads as zeros).  Returns 0, or -1 if residency is unknown. */
    int (*resident)(hg_target *t, uint64_t addr, size_t npages, uint8_t *present);
    /* Optional: resident set size in bytes, 0 if unknown. */
    uint64_t (*rss)(hg_target *t);
    /* Optional, for running targets: each thread's run state ('R', 'S',
     * ...) and/or CPU time now (what: HG_THREAD_*), without stopping it.
     * *out is malloc'd. */
    int (*thread_states)(hg_target *t, unsigned what, hg_thread_state **out, size_t *n);
    /* Optional: the CPU time of the whole process so far, threads that have
     * ended included; 0 and *ns set, or -1 if unknown. */
    int (*process_cpu)(hg_target *t, uint64_t *ns);
    /* Optional: a thread's name ("" when unknown). */
    void (*thread_name)(hg_target *t, int tid, char *buf, size_t len);
    void (*close)(hg_target *t);
    /* Optional: a new descriptor (the caller owns it) for the module file
     * mapped at path, as the backend found and checked it, and the name it
     * opened it by (owned by the backend); -1 when it has none.  A core
     * names its files; this is the one heapgrab read them from. */
    int (*open_file)(hg_target *t, const char *path, const char **opened);
    /* read() may be called from a second thread (read-ahead). */
    int concurrent_reads;
    /* Nothing runs to be stopped (a core) or someone else holds the target
     * (a debugger's reader): a snapshot has no stop time to report. */
    int no_stop;
};

struct hg_dwfl_state;

struct hg_target {
    const struct hg_target_ops *ops;
    void *backend;            /* backend's private state */
    int pid;                  /* 0 if not a live process */
    int process_id;           /* the process described (a core's too), 0 if unknown */
    char exe[4096];
    char root[4096];          /* prefix for files: "/proc/PID/root", a core's
                                 sysroot, or "" */

    hg_mapping *maps;         /* sorted by start; strings owned */
    size_t nmaps;

    int gone;                 /* the process died: stop working on it */
    int keep_maps;            /* stops need not re-read the mappings (the
                                 unwinder asks libdwfl, not t->maps) */

    hg_thread *threads;       /* valid while stopped */
    size_t nthreads;
    uint64_t stopped_at_ns, stopped_ns;

    struct hg_dwfl_state *sym; /* modules and symbols, lazily built */
};

/* ---- common helpers (target.c) ---- */
/* Read exactly len bytes or fail (HG_EIO naming the address). */
int hg_read_exact(hg_target *t, uint64_t addr, void *buf, size_t len);
int hg_read_u64(hg_target *t, uint64_t addr, uint64_t *out);
/* Read every span (ops->read_spans, or read one by one): 0, or -1 with
 * the hg error set if the target is gone. */
int hg_read_spans(hg_target *t, hg_span *spans, size_t n);
/* Open a file that a target names (a core's mapped files, a module's
 * path) for reading, the safe way: the path is stat()ed first and only a
 * regular file is opened, with O_NONBLOCK and O_NOCTTY (a FIFO or a device
 * swapped in meanwhile can neither block heapgrab nor become its terminal),
 * then checked again with fstat(); with elf set, the file must also start
 * with an ELF header.  Files of /proc, /sys and the like are refused
 * (/proc/kcore is a regular ELF file).  Returns the descriptor (O_CLOEXEC),
 * or -1 with errno: EISDIR for a directory, ENODEV for any other file that
 * is not regular or is the kernel's, ENOEXEC for a file that is not ELF, or
 * open()'s own. */
struct stat;
int hg_open_file(const char *path, int elf, struct stat *st);
/* The mapping containing addr, or NULL. */
const hg_mapping *hg_find_mapping(const hg_target *t, uint64_t addr);
/* The end of the run of mappings that starts with the one containing addr
 * and goes on through each next one that begins where the last ends and
 * is alike (same permissions, same name).  The kernel keeps one region in
 * several mappings when it cannot merge them -- a heap grown after fork()
 * (its old and new parts hold anonymous memory of different origins), a
 * part mlock()ed or renamed -- and a core has one PT_LOAD per mapping:
 * whatever follows a heap or a chunk must take the run as one region.
 * 0 if addr is not mapped. */
uint64_t hg_mapping_run_end(const hg_target *t, uint64_t addr);
/* Anonymous memory: no path, or (Linux 5.17+ with a name set by
 * prctl(PR_SET_VMA_ANON_NAME), as glibc 2.43 does for its heaps and
 * mmapped chunks) "[anon:NAME]". */
static inline int hg_mapping_is_anon(const hg_mapping *m)
{
    return m->path[0] == '\0' || strncmp(m->path, "[anon:", 6) == 0;
}
/* Parse /proc/PID/maps-format text into t->maps (replaces old ones). */
int hg_parse_maps(hg_target *t, const char *text);
void hg_free_maps(hg_target *t);
hg_target *hg_target_alloc(const struct hg_target_ops *ops);
/* For backends whose threads are known in advance (core, reader): make
 * t->threads a copy of them, as a stop does. */
int hg_target_set_threads(hg_target *t, const hg_thread *threads, size_t n);

/* ---- modules and symbols (symbols.c, libdwfl) ---- */
typedef struct hg_module hg_module;

/* Find the loaded module whose file name starts with prefix ("libc.so."),
 * or, with prefix NULL, the main executable. */
hg_module *hg_module_find(hg_target *t, const char *prefix);
const char *hg_module_path(const hg_module *m);
uint64_t hg_module_bias(const hg_module *m);
int hg_module_has_debuginfo(hg_module *m);
/* Look up a symbol (dynamic or, with debug info, local).  *value is the
 * address (bias applied) or, for TLS symbols, the offset in the module's
 * TLS block (*is_tls set).  Returns 0 or HG_ENOTFOUND. */
int hg_module_symbol(hg_module *m, const char *name, uint64_t *value,
                     uint64_t *size, int *is_tls);
/* Member offsets of a struct from DWARF.  offsets[i] = -1 for members not
 * present.  Returns 0, or HG_ENOTFOUND if the type is not described. */
int hg_module_struct(hg_module *m, const char *struct_name, size_t *size,
                     const char *const *members, long *offsets, size_t n);
/* p_memsz of the module's PT_TLS segment, 0 if it has none. */
uint64_t hg_module_tls_size(hg_module *m);
/* Alignment of that block (p_align), 0 if none. */
uint64_t hg_module_tls_align(hg_module *m);
/* Build-id (hex) of the module, or NULL. */
const char *hg_module_build_id(hg_module *m);
void hg_symbols_free(hg_target *t);
/* The target's libdwfl session (modules reported), for the unwinder. */
typedef struct Dwfl Dwfl;
Dwfl *hg_target_dwfl(hg_target *t);
/* Build-id (hex) and path of the module mapped at addr, NULL if none. */
const char *hg_module_build_id_at(hg_target *t, uint64_t addr, const char **path);

#endif
