/*
 * target.h -- the contract between a target backend and everything that
 * reads a target (the walker, the stack sampler, modules and symbols).
 *
 * A backend is named after what it attaches to: pid_attach.c (a live
 * process, through ptrace), core_attach.c (a core file), reader_attach.c
 * (memory a caller reads for us: how a debugger plugs in).  Each fills a
 * struct hg_target_ops, member by member as written below, in the manner of
 * libdwfl's Dwfl_Thread_Callbacks, with a version field as libgit2's
 * git_odb_backend has.  A new kind of target is a new <what>_attach.c that
 * does the same; nothing outside target/ learns about it.
 *
 * Everything a backend has to say comes back through the return codes and
 * arguments below: that the target died (read fails with HG_ENOPROC, and
 * so does resume), how long a stop lasted (resume's argument), what a stop
 * must do (stop's flags).  struct hg_target holds what the
 * target is, set once when it is opened, and what the last stop found.
 *
 * Threads: a target is used by one thread at a time, the one that opened
 * it, except that read and read_spans may also be called from one more
 * thread at once (the walker's read-ahead) when concurrent_reads is set.
 * hg_emergency_detach() (heapgrab.h) may be called from a signal handler.
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
    int pending_signal;   /* the live backend's: a signal to re-inject when
                             detaching */
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

/* What a target is (hg_target_ops.kind). */
enum hg_target_kind {
    HG_TARGET_PROCESS = 1, /* a live process of this machine */
    HG_TARGET_CORE,        /* a core file: memory as it was, nothing runs */
    HG_TARGET_READER       /* memory a caller reads for us (a debugger's) */
};

/* stop()'s flags. */
#define HG_STOP_KEEP_MAPS 1u /* t->maps as they are will do: do not read the
                                mappings again (a profile's ticks, whose
                                unwinder asks libdwfl, not t->maps) */

/* The version of struct hg_target_ops below.  hg_target_alloc() refuses
 * ops of any other version, so a backend written against an older contract
 * fails at once instead of being called the wrong way. */
#define HG_TARGET_OPS_VERSION 2

struct hg_target_ops {
    /* HG_TARGET_OPS_VERSION. */
    int version;
    /* enum hg_target_kind: what the target is, for messages and for the
     * choices that depend on it (a core's missing memory is the core's). */
    int kind;

    /* Required.  Copy len bytes at addr into buf.  May be called whether
     * the target is stopped or running (symbols are read before a stop).
     * Returns the number of bytes copied: len, or fewer where the memory
     * stops being readable (the backend may say why with hg_fail;
     * hg_read_exact() then reports that reason).  Returns a negative
     * number, with HG_ENOPROC set, when the target is gone (a process that
     * exited), and from then on for every call: nothing else is negative.
     * Never changes the target's memory. */
    long (*read)(hg_target *t, uint64_t addr, void *buf, size_t len);

    /* Optional; NULL: hg_read_spans() calls read for each span.  Read
     * several ranges at once (a live process: one system call for many),
     * each as read would, setting spans[i].got.  Returns 0, or a negative
     * number with HG_ENOPROC set when the target is gone. */
    int (*read_spans)(hg_target *t, hg_span *spans, size_t n);

    /* Required.  Stop every thread of the target and fill t->threads and
     * t->nthreads (registers where the backend has them: have_regs); a
     * target that does not run (a core) or that someone else keeps still
     * (a debugger's) only fills them.  Unless flags has HG_STOP_KEEP_MAPS,
     * bring t->maps up to date first (a process maps and unmaps memory
     * between stops).  Returns 0, or a negative HG_E* code with the error
     * set: HG_ENOPROC (the process is gone), HG_EPERM (a thread is traced
     * by someone else, or may not be), HG_EINTR (a signal cut the stop
     * short).  On failure nothing is held and resume must not be called;
     * on success resume must be, before the next stop. */
    int (*stop)(hg_target *t, unsigned flags);

    /* Required.  Undo stop: every thread runs again as it was, any signal
     * that arrived for it meanwhile re-delivered.  t->threads is not valid
     * afterwards.  If stopped_ns is not NULL it gets how long the target
     * was held, from the first thread's interrupt to the last one's
     * release, or HG_UNKNOWN for a backend that stops nothing (a core, a
     * reader).  Returns 0, or HG_ENOPROC with the error set when the
     * target was found gone while it was held (a read failed so): the
     * caller takes that as the reason for whatever else failed. */
    int (*resume)(hg_target *t, uint64_t *stopped_ns);

    /* Optional; NULL: residency unknown (a core), as -1.  present[i] = 1 if
     * page i of [addr, addr + npages * 4096) is resident, 2 if swapped out,
     * 0 if neither (never touched or released: it reads as zeros).  Called
     * while stopped.  Returns 0, or -1 if residency is unknown. */
    int (*resident)(hg_target *t, uint64_t addr, size_t npages, uint8_t *present);

    /* Optional; NULL: unknown (a core), and the snapshot says so.  The
     * resident set size in bytes now, 0 if it cannot be read. */
    uint64_t (*rss)(hg_target *t);

    /* Optional; NULL: no thread is known between stops, and samples carry
     * no run state or CPU time.  For a running target, without stopping
     * it: each thread's run state ('R', 'S', ...) and/or CPU time (what:
     * HG_THREAD_*).  *out is malloc'd, the caller frees it.  Returns 0, or
     * a negative HG_E* code with the error set (HG_ENOPROC: gone). */
    int (*thread_states)(hg_target *t, unsigned what, hg_thread_state **out, size_t *n);

    /* Optional; NULL: unknown.  The CPU time of the whole process so far,
     * threads that have ended included: 0 and *ns set, or -1 if unknown. */
    int (*process_cpu)(hg_target *t, uint64_t *ns);

    /* Optional; NULL: threads have no names (a core).  Thread tid's name
     * into buf, "" when unknown. */
    void (*thread_name)(hg_target *t, int tid, char *buf, size_t len);

    /* Optional; NULL: hg_target_open_file() opens the file under
     * t->sysroot with hg_open_file().  A new descriptor (the caller owns
     * it) for the file the target maps at path, as the backend found and
     * checked it, and in *opened the name it opened it by (the backend
     * owns that string); -1 when it has none.  A core names its files;
     * this is the one heapgrab read their memory from. */
    int (*open_file)(hg_target *t, const char *path, const char **opened);

    /* Optional.  Release the backend's state (t->backend); a live target
     * still stopped is resumed first.  hg_target_close() calls it before
     * freeing what struct hg_target holds. */
    void (*close)(hg_target *t);

    /* read and read_spans may be called from a second thread while the
     * first also calls them (the walker's read-ahead). */
    int concurrent_reads;
};

struct hg_dwfl_state;

struct hg_target {
    const struct hg_target_ops *ops;
    void *backend;            /* the backend's own state; no one else reads it */

    /* Set when the target is opened, never changed after. */
    int process_id;           /* the process described (a core's and a
                                 reader's too), 0 if unknown */
    int proc_pid;             /* a process of this machine whose /proc files
                                 describe the target (its modules): a live
                                 target's (a thread of it that has not
                                 exited), a reader's given pid; 0 for none */
    char exe[4096];           /* the main executable, as the target names it */
    char *sysroot;            /* owned, never NULL once opened, any length:
                                 the directory the target's paths are under
                                 -- "/proc/PID/root" for a live process (its
                                 own view of the file system, a container's
                                 included), a core's --sysroot, "" for the
                                 paths as they are */

    /* Sorted by start; strings owned.  Set when the target is opened, and
     * by each stop without HG_STOP_KEEP_MAPS.  The backend fills build_id
     * for every executable file mapping whose file it can name (the
     * build-id the process's file had), by the time resume returns; the
     * walker copies them. */
    hg_mapping *maps;
    size_t nmaps;

    /* Filled by stop, valid until resume. */
    hg_thread *threads;
    size_t nthreads;

    struct hg_dwfl_state *sym; /* modules and symbols (modules.c), built on
                                  first use */
};

/* ---- what every backend shares (target.c) ---- */
/* A target for ops, with sysroot "": NULL (error set) if ops is not of
 * this contract's version or lacks a required member. */
hg_target *hg_target_alloc(const struct hg_target_ops *ops);
/* Replace t->sysroot with a copy of root: 0, or HG_ENOMEM. */
int hg_target_set_sysroot(hg_target *t, const char *root);
/* For backends whose threads are known in advance (core, reader): make
 * t->threads a copy of them, as a stop does. */
int hg_target_set_threads(hg_target *t, const hg_thread *threads, size_t n);
/* Read exactly len bytes or fail (HG_EIO naming the address, or the
 * backend's reason; HG_ENOPROC if the target is gone). */
int hg_read_exact(hg_target *t, uint64_t addr, void *buf, size_t len);
int hg_read_u64(hg_target *t, uint64_t addr, uint64_t *out);
/* Read every span (ops->read_spans, or read one by one): 0, or a negative
 * number with HG_ENOPROC set if the target is gone. */
int hg_read_spans(hg_target *t, hg_span *spans, size_t n);
/* Whether the target has died since it was opened: HG_ENOPROC (the error
 * set) if a read now finds it gone, else 0.  For a caller whose reads'
 * codes were turned into its own on the way (the walker's search for
 * malloc's state takes an unreadable region as "not found"). */
int hg_target_check_alive(hg_target *t);
/* The host path of a file the target names: t->sysroot + path, malloc'd;
 * NULL when out of memory. */
char *hg_target_path(const hg_target *t, const char *path);
/* A descriptor for the file the target maps at path (ops->open_file, or
 * hg_open_file() of hg_target_path()), checked as a regular ELF file; -1
 * if there is none.  *opened (if not NULL) gets the name it was opened
 * by, malloc'd. */
int hg_target_open_file(hg_target *t, const char *path, char **opened);
/* Fill the build_id of every executable file mapping of t->maps that has
 * none, from the ELF notes of its file (hg_target_open_file); mappings of
 * one file share one look.  For backends whose mappings name files on this
 * machine (live, reader). */
void hg_target_fill_build_ids(hg_target *t);
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
void hg_free_maps(hg_target *t);

/* ---- modules and symbols (modules.c, libdwfl) ---- */
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
/* The sizes of classes and structs, by qualified name ("geo::Poly<float>",
 * "(anonymous namespace)::X", as the demangler writes them), from one pass
 * over m's DWARF (the namespaces and classes of every unit, dwz partial
 * units included): sizes[i] is names[i]'s DW_AT_byte_size, 0 where no
 * definition was found.  0, HG_ENOTFOUND (m has no DWARF), HG_ENOMEM. */
int hg_module_type_sizes(hg_module *m, const char *const *names, size_t n, uint64_t *sizes);
/* The module whose mapped range holds addr, or NULL. */
hg_module *hg_module_at(hg_target *t, uint64_t addr);
/* p_memsz of the module's PT_TLS segment, 0 if it has none. */
uint64_t hg_module_tls_size(hg_module *m);
/* Alignment of that block (p_align), 0 if none. */
uint64_t hg_module_tls_align(hg_module *m);
/* Build-id (hex) of the module, or NULL. */
const char *hg_module_build_id(hg_module *m);
/* len bytes of the module's file as linked at addr (an address of the
 * process, the module's bias applied): what a static initialiser put
 * there, whatever the program changed since.  0, or HG_ENOTFOUND when the
 * file does not hold them. */
int hg_module_file_read(hg_module *m, uint64_t addr, void *buf, size_t len);
/* glibc's description of a field for libthread_db (nptl_db's
 * _thread_db_* symbols, in libc from 2.34, libpthread before): three
 * 32-bit words {size in bits, count, offset}, read from m's symbol in t's
 * memory.  0, HG_ENOTFOUND (no such symbol, or m NULL), or the read's
 * error. */
int hg_thread_db_field(hg_target *t, hg_module *m, const char *name, uint32_t desc[3]);
/* The modules of the target, in libdwfl's order: how many, and the i-th
 * (NULL past the end). */
size_t hg_module_count(hg_target *t);
hg_module *hg_module_get(hg_target *t, size_t i);
/* A symbol of a module's symbol table. */
typedef struct hg_symbol {
    uint64_t start;        /* its address, the module's bias applied */
    uint64_t size;
    const char *name;      /* libdwfl's; valid while the target is open */
} hg_symbol;
/* Every defined data object of module m whose name starts with prefix
 * ("_ZTV": its vtables), from its .symtab (the debug file's, where the
 * module has none) else its .dynsym, sorted by start: *out malloc'd (NULL
 * and *n = 0 for none).  0, or HG_ENOMEM.  One pass over the table. */
int hg_module_symbols(hg_module *m, const char *prefix, hg_symbol **out, size_t *n);
void hg_symbols_free(hg_target *t);
/* The target's libdwfl session (modules reported), for the unwinder. */
typedef struct Dwfl Dwfl;
Dwfl *hg_target_dwfl(hg_target *t);
/* A module's lowest address (hg_module_at finds the module at one). */
uint64_t hg_module_start(const hg_module *m);
/* The end of the module's image as loaded, its last segment's .bss
 * included (bias + the highest p_vaddr + p_memsz); 0 if unknown. */
uint64_t hg_module_image_end(hg_module *m);
/* The data symbol (not a function; .symtab, else .dynsym) covering addr:
 * its name (the module's string), start and size.  0 or HG_ENOTFOUND. */
int hg_module_data_symbol(hg_module *m, uint64_t addr, const char **name, uint64_t *start,
                          uint64_t *size);
/* The TLS symbol covering offset off of the module's TLS block.  0 or
 * HG_ENOTFOUND. */
int hg_module_tls_symbol(hg_module *m, uint64_t off, const char **name, uint64_t *start,
                         uint64_t *size);
/* Where the global variable name (at addr, 0 for any) is declared, from
 * the module's DWARF: file (libdw's string) and line.  0 or HG_ENOTFOUND. */
int hg_module_var_decl(hg_module *m, const char *name, uint64_t addr, const char **file,
                       int *line);
/* Build-id (hex) and path of the module mapped at addr, NULL if none. */
const char *hg_module_build_id_at(hg_target *t, uint64_t addr, const char **path);

/*
 * ---- a copy of a live process (copy_attach.c) ----
 * A live process's memory copied at a stop: a target over the copy, so
 * that the walker and the holders' capture run unchanged on it once the
 * process runs on.  The stop lasts as long as the
 * copy, not as long as the walk.
 *
 * What is copied: every private writable mapping (the heaps, the main
 * heap, mmapped chunks, libc's data with main_arena and mp_, thread stacks
 * and TLS blocks), resident pages only -- the others read as zeros, as they
 * would, and are not touched (reading them would map the zero page into
 * the process).  Every other address (code, read-only data, shared
 * mappings) is read from the process when asked: it does not change while
 * the process runs, or is none of malloc's.
 *
 * The copy goes into a room owned by the live target, faulted in before the
 * stop (MAP_POPULATE) and kept for the next snapshot (--interval): the
 * kernel's first write to a page is what makes a copy into fresh memory
 * slow.
 */
/* Whether t is a live process heapgrab stops itself (not one a debugger
 * holds, not a core or a reader): the only kind a copy helps. */
int hg_copy_applies(const hg_target *t);
/* Half of the memory available now (MemAvailable), the default budget. */
uint64_t hg_copy_default_budget(void);
/* Before the stop: the bytes a copy would take now (resident pages of the
 * private writable mappings). */
uint64_t hg_copy_estimate(hg_target *live);
/* Before the stop: make the live target's room at least need bytes,
 * faulted in.  0, or HG_ENOMEM. */
int hg_copy_prepare(hg_target *live, uint64_t need);

/* hg_copy_take's flags. */
#define HG_COPY_RUNNING 1u /* the process runs (--no-stop): read its mappings
                              and threads from /proc first; no registers */

/* Copy live's memory into its room: while it is stopped, or with
 * HG_COPY_RUNNING while it runs.  *out: the copy, a target whose stop and
 * resume do nothing but hand out the threads as they were.  Returns 0; 1
 * when the copy would take more than budget bytes (nothing copied, *out
 * NULL); or a negative HG_E* code (HG_ENOPROC: the process is gone).
 * *bytes gets the bytes copied (or needed, when over budget). */
int hg_copy_take(hg_target *live, unsigned flags, uint64_t budget, hg_target **out,
                 uint64_t *bytes);
/* The copy's bytes at [addr, addr + len) as they are in the room, or NULL
 * when t is not a copy or they are not all copied in one piece. */
const unsigned char *hg_copy_bytes(const hg_target *t, uint64_t addr, uint64_t len);
/* The copied bytes from addr on, as far as they go in one piece (*len), or
 * NULL when t is not a copy or addr was not copied. */
const unsigned char *hg_copy_span(const hg_target *t, uint64_t addr, uint64_t *len);
/* The room's start (hg_copy_bytes's pointers are within it), NULL when t is
 * not a copy. */
unsigned char *hg_copy_base(const hg_target *t);
/* --no-stop: read the copied pages around addr again (64 KiB either side),
 * from the running process (addr 0: every copied page).  0; 1 when addr is not in the copy;
 * HG_ENOPROC when the process is gone. */
int hg_copy_reread(hg_target *t, uint64_t addr);
/* The live target's room, unmapped (its close). */
void hg_copy_room_free(void *room);

/* ---- static types from DWARF (dwarf_types.c), for the types analysis ---- */
/* Every module's DWARF types met so far, each read once, numbered. */
typedef struct hg_dtypes hg_dtypes;
#define HG_DTYPE_NONE 0xffffffffu
/* A pointer word of a type: at offset, then count - 1 more every stride
 * bytes; it points at an object of type target. */
typedef struct hg_dslot {
    uint64_t offset;
    uint32_t count, stride;
    uint32_t target;
} hg_dslot;
typedef struct hg_dtype {
    const char *name;      /* hg_dtypes_name's, once asked */
    uint64_t size;         /* 0: incomplete, a function: types nothing */
    int is_char;           /* a 1-byte character type: its chunks are "char[]" */
    const hg_dslot *slots; /* its pointer words, in one object */
    size_t nslots;
} hg_dtype;
hg_dtypes *hg_dtypes_new(hg_target *t);
void hg_dtypes_free(hg_dtypes *d);
size_t hg_dtypes_count(const hg_dtypes *d);
/* Type id's size and slots, read from DWARF on the first call; NULL out
 * of memory (or no such id). */
const hg_dtype *hg_dtypes_get(hg_dtypes *d, uint32_t id);
/* Its name as GDB writes it ("struct conn", "geo::Shape *", "char"). */
const char *hg_dtypes_name(hg_dtypes *d, uint32_t id);
/* Every variable of m's DWARF at a fixed address (tls 0: the address,
 * bias applied) or in its TLS block (tls 1: the offset in the block),
 * whose type holds pointers: cb for each (non-zero stops the walk, and is
 * returned).  HG_ENOTFOUND when m has no DWARF. */
int hg_dtypes_globals(hg_dtypes *d, hg_module *m,
                      int (*cb)(void *ctx, uint64_t addr, int tls, uint32_t type), void *ctx);
/* The DWARF definitions of classes by qualified name ("geo::Poly<float>",
 * as the demangler writes them), one pass over m's DWARF: ids[i] is
 * names[i]'s type id, HG_DTYPE_NONE where m does not define it.  0,
 * HG_ENOTFOUND (no DWARF), HG_ENOMEM. */
int hg_dtypes_classes(hg_dtypes *d, hg_module *m, const char *const *names, size_t n,
                      uint32_t *ids);
/* The variables of the frame at pc (a return address less one, or the
 * innermost pc) whose canonical frame address is cfa, that live in its
 * stack slots there (DW_OP_fbreg from a DW_OP_call_frame_cfa frame base)
 * and whose types hold pointers: cb(ctx, address, type) for each, its own
 * function's and those of the calls inlined into it at pc.  0, a non-zero
 * cb's, HG_ENOTFOUND (no DWARF for pc), HG_ENOMEM. */
int hg_dtypes_frame_vars(hg_dtypes *d, hg_target *t, uint64_t pc, uint64_t cfa,
                         int (*cb)(void *ctx, uint64_t addr, uint32_t type), void *ctx);

#endif
