/*
 * heapgrab.h -- the one public header of libheapgrab.
 *
 * libheapgrab inspects the glibc malloc heap of another process (or, later,
 * of a core file or a memory reader supplied by a debugger) and produces a
 * snapshot: exact allocator figures, per-arena statistics and a histogram of
 * chunks by state and size.  Writers turn a snapshot into text, JSON or a
 * gzipped pprof profile.
 *
 * Data flows one way:  target -> walker -> snapshot -> writers.
 *
 * Errors: every function that can fail returns 0 on success or a negative
 * HG_E* code, and records a one-line message retrievable with
 * hg_error_message() (per thread, like libgit2's git_error_last()).
 */
#ifndef HEAPGRAB_H
#define HEAPGRAB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HEAPGRAB_VERSION "0.1.0"

/* Error codes.  The CLI maps each to its own exit status (see heapgrab(1)). */
enum hg_code {
    HG_OK = 0,
    HG_EINTERNAL = -1,    /* bug or unexpected system failure */
    HG_EUSAGE = -2,       /* bad argument from the caller */
    HG_ENOPROC = -3,      /* no such process, or it exited while we worked */
    HG_EPERM = -4,        /* not allowed to trace / read the target */
    HG_ENOTGLIBC = -5,    /* target does not use glibc malloc */
    HG_EUNSUPPORTED = -6, /* glibc version or architecture not supported */
    HG_ENOTFOUND = -7,    /* glibc malloc state could not be located */
    HG_EIO = -8,          /* reading the target failed */
    HG_ENOMEM = -9,       /* out of memory in heapgrab itself */
    HG_EINTR = -10,       /* interrupted by a signal (target left running) */
    HG_EMISMATCH = -11,   /* a core's files are not the ones the process had */
    HG_EINCOMPLETE = -12, /* a core cut short: the file ends before the data its
                             headers describe (its writer ran out of space or
                             was killed) */
    HG_ENOSAMPLER = -13   /* the allocation sampler (libheapgrab_sampler.so)
                             is not loaded in the target */
};

/* Message and code of the last error on this thread ("" / 0 if none). */
const char *hg_error_message(void);
int hg_error_code(void);
/* A short stable name for a code, e.g. "ENOPROC". */
const char *hg_code_name(int code);

/* --------------------------------------------------------------- progress */

/*
 * How far a long operation is, for a frontend to draw (the CLI's one
 * updating line on a terminal).  The library only stores into the struct
 * given to hg_progress_watch() -- relaxed atomic stores, no call, no lock,
 * no output -- and a frontend's own thread reads it (hg_progress_read()) as
 * often as it likes: showing progress never lengthens the target's stop.
 * Operations: "walking the heap" (bytes), "reading the core's files"
 * (files), and the analyses' phases.
 */
typedef struct hg_progress {
    const char *what;      /* what is being done, NULL when nothing is */
    const char *unit;      /* "bytes", "files", "objects" */
    uint64_t done, total;  /* total 0: unknown */
    uint64_t started_ns;   /* CLOCK_MONOTONIC, when this operation began */
    uint64_t serial;       /* changes with every new operation */
} hg_progress;
/* Where the library reports progress from now on (NULL: nowhere). */
void hg_progress_watch(hg_progress *p);
/* A consistent copy of *p (what may change while it is read). */
void hg_progress_read(const hg_progress *p, hg_progress *out);

/* ---------------------------------------------------------------- targets */

typedef struct hg_target hg_target;

/* A mapping of the target's address space, as in /proc/PID/maps. */
typedef struct hg_mapping {
    uint64_t start, end;     /* [start, end) */
    uint64_t offset;         /* file offset */
    char perms[5];           /* "rw-p" */
    const char *path;        /* "" for anonymous, "[heap]", "[stack]", ... */
    const char *build_id;    /* hex GNU build-id of the file, or NULL */
} hg_mapping;

/* A thread as a debugger sees it: its id and thread pointer (x86_64
 * fs_base), which is how each thread's tcache is found. */
typedef struct hg_reader_thread {
    int tid;
    uint64_t fs_base;
} hg_reader_thread;

/*
 * A caller-supplied memory reader (how a debugger plugs in).  read() copies
 * len bytes at addr into buf and returns the number of bytes copied (short
 * or -1 where memory is unreadable).  Mappings (sorted by start) let the
 * walker validate pointers and find the modules; threads let it find each
 * thread's tcache (without them tcache chunks count as in use, as glibc's
 * own mallinfo2 counts them).  A mapping's build_id may be given; where it
 * is NULL, heapgrab reads it from the file at path (under /proc/PID/root
 * when pid is given).  The caller keeps the target stopped.
 */
typedef struct hg_reader {
    void *ctx;
    long (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
    size_t nmappings;
    const hg_mapping *mappings;
    size_t nthreads;
    const hg_reader_thread *threads;
    int pid;               /* optional: the process, for /proc/PID/root */
    const char *exe;       /* optional: the main executable's path */
} hg_reader;

/* Attach flags. */
#define HG_ATTACH_DEFAULT 0u

/*
 * Attach to a live process with ptrace (PTRACE_SEIZE; the process is not
 * stopped until a snapshot is taken).  hg_target_close() detaches.  The
 * library installs no signal handlers; call hg_emergency_detach() from your
 * own SIGINT/SIGTERM handler (it is async-signal-safe).
 */
int hg_target_attach_pid(int pid, unsigned flags, hg_target **out);
int hg_target_from_reader(const hg_reader *reader, hg_target **out);
/*
 * A live process that its debugger already traces and keeps stopped (GDB's
 * inferior).  Memory, mappings and page residency are read directly from
 * the kernel, as for hg_target_attach_pid(), but heapgrab never ptraces it:
 * it neither stops nor resumes it.  threads gives each thread's id and
 * thread pointer (x86_64 fs_base), which only the tracer can ask for.
 */
int hg_target_from_stopped_pid(int pid, const hg_reader_thread *threads, size_t nthreads,
                               hg_target **out);
/*
 * A core file (from gcore or the kernel).  Parts the core left out are read
 * from the mapped files it names, looked up under sysroot when given (files
 * copied from another machine), else at their recorded paths; exe replaces
 * the executable's recorded path.  Only regular ELF files are read; a file
 * whose build-id differs from the one the process had is refused
 * (HG_EMISMATCH).  The core itself must be a regular file (HG_EUSAGE if
 * not, HG_EPERM if it cannot be read); a core whose headers describe more
 * than the file holds is refused as a whole, wherever it was cut
 * (HG_EINCOMPLETE); impossible headers are HG_EUSAGE.
 */
typedef struct hg_core_options {
    const char *sysroot;   /* or NULL */
    const char *exe;       /* or NULL */
} hg_core_options;
int hg_target_open_core(const char *path, const hg_core_options *opt, hg_target **out);
void hg_target_close(hg_target *t);
void hg_emergency_detach(void);
int hg_target_pid(const hg_target *t); /* 0 if not a process */

/* -------------------------------------------------------------- snapshots */

typedef struct hg_snapshot hg_snapshot;

enum hg_locate {
    HG_LOCATE_AUTO = 0,   /* symbols when available, else heuristics */
    HG_LOCATE_SYMBOLS,    /* only debug symbols (fail without them) */
    HG_LOCATE_HEURISTIC   /* ignore debug symbols */
};

typedef struct hg_snapshot_options {
    int locate;            /* enum hg_locate */
    unsigned max_problems; /* problems kept in the snapshot (0 = 32) */
    int keep_chunks;       /* record every chunk (hg_snapshot_chunk); costs
                              32 bytes per chunk in heapgrab's memory */
    int holders;           /* also find who holds the memory: the roots,
                              the reference graph between in-use objects,
                              retained sizes and leaks (hg_snapshot_root,
                              hg_snapshot_leaks, hg_snapshot_object).  The
                              stop reads every in-use byte once more. */
    int types;             /* also say what each in-use chunk is (its C++
                              class, from the vtable its first word points
                              at, or the static types of DWARF propagated
                              from typed variables through the pointers):
                              hg_snapshot_type, hg_snapshot_chunk_type.
                              Implies keep_chunks and the holders' copy of
                              the in-use objects during the stop (DWARF's
                              types are read from it), not the holders'
                              analysis. */
    /* A live process heapgrab stops is held only while its memory is
     * copied into heapgrab's (every private writable mapping's resident
     * pages); the walk and the analyses run on the copy once it runs on.
     * memory_budget is the most that copy may take: 0, half of the memory
     * available (MemAvailable); negative, never copy (walk while the
     * target is stopped).  A copy over the budget is not made: the walk
     * happens during the stop, and timing.fallback says why. */
    int64_t memory_budget;
    /* Never stop the target: copy its memory while it runs, walk the copy,
     * and read again each mapping where the walk found a problem (a chunk
     * chain torn by the program while it was read), a few times at most.
     * The snapshot says whether the last walk found none
     * (hg_snapshot_consistent).  The threads' tcaches are found through
     * ld.so's lists of threads, as libthread_db finds them (not in a
     * static program: there their chunks count as in use, as mallinfo2
     * counts them).  Needs the copy within memory_budget. */
    int no_stop;
} hg_snapshot_options;

/*
 * Stop the target (every thread), walk every arena, resume it.  The stop
 * lasts only while target memory is read; symbol lookup happens before.
 */
int hg_snapshot_take(hg_target *t, const hg_snapshot_options *opt,
                     hg_snapshot **out);
void hg_snapshot_free(hg_snapshot *s);

/* Exactly the fields of glibc's struct mallinfo2. */
typedef struct hg_mallinfo2 {
    uint64_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks,
        uordblks, fordblks, keepcost;
} hg_mallinfo2;

/*
 * Figures for the whole heap or one arena.  Byte counts of free, tcache,
 * fastbin, top and mmapped chunks are chunk sizes as glibc counts them;
 * inuse_bytes is the sum of malloc_usable_size() over live allocations.
 * inuse_* include the mmapped chunks (they are live allocations);
 * mmapped_* describe those same chunks as glibc does (mallinfo2's hblks and
 * hblkhd: whole mappings).  Per-arena totals have no mmapped chunks.
 *
 * The fields are listed once, here, in order: X(name, unit, part, label).
 * Every field is a uint64_t.  The struct, the JSON "totals" object (and
 * each arena's), the text report's table, the Python package's mirror
 * (through hg_totals_field_name()) and the tests' key checks all come from
 * this list: a new statistic is a line here and the walker code that
 * counts it.
 *   unit   HG_TOTALS_BYTES or HG_TOTALS_OBJECTS (a count of chunks)
 *   part   what the figure is part of; the text report shows the parts in
 *          the order of enum hg_totals_part, the idle ones under an "idle"
 *          line that sums them
 *   label  the figure's row in the text report; an _objects field goes in
 *          the objects column of the _bytes field with the same label
 */
enum hg_totals_unit { HG_TOTALS_BYTES, HG_TOTALS_OBJECTS };
enum hg_totals_part {
    HG_TOTALS_SYS,       /* taken from the OS */
    HG_TOTALS_INUSE,     /* live allocations */
    HG_TOTALS_IDLE,      /* free to the program: bins, top, tcache, fastbins */
    HG_TOTALS_RELEASED,  /* idle, and not resident */
    HG_TOTALS_MMAPPED,   /* live, each in a mapping of its own */
    HG_TOTALS_OVERHEAD,  /* the allocator's own structures */
    HG_TOTALS_PART_COUNT
};
#define HG_TOTALS_FIELDS(X)                                                         \
    /* arena system_mem (+ mmapped, in totals) */                                   \
    X(sys_bytes, HG_TOTALS_BYTES, HG_TOTALS_SYS, "from the OS (sys)")               \
    X(inuse_objects, HG_TOTALS_OBJECTS, HG_TOTALS_INUSE, "in use (usable)")         \
    X(inuse_bytes, HG_TOTALS_BYTES, HG_TOTALS_INUSE, "in use (usable)")             \
    /* chunks in bins */                                                            \
    X(free_objects, HG_TOTALS_OBJECTS, HG_TOTALS_IDLE, "free in bins")              \
    X(free_bytes, HG_TOTALS_BYTES, HG_TOTALS_IDLE, "free in bins")                  \
    X(top_bytes, HG_TOTALS_BYTES, HG_TOTALS_IDLE, "top")                            \
    X(tcache_objects, HG_TOTALS_OBJECTS, HG_TOTALS_IDLE, "tcache")                  \
    X(tcache_bytes, HG_TOTALS_BYTES, HG_TOTALS_IDLE, "tcache")                      \
    X(fastbin_objects, HG_TOTALS_OBJECTS, HG_TOTALS_IDLE, "fastbins")               \
    X(fastbin_bytes, HG_TOTALS_BYTES, HG_TOTALS_IDLE, "fastbins")                   \
    X(mmapped_objects, HG_TOTALS_OBJECTS, HG_TOTALS_MMAPPED, "mmapped (also in use)") \
    X(mmapped_bytes, HG_TOTALS_BYTES, HG_TOTALS_MMAPPED, "mmapped (also in use)")   \
    /* idle bytes whose pages are not resident */                                   \
    X(released_bytes, HG_TOTALS_BYTES, HG_TOTALS_RELEASED, "released (not resident)") \
    /* headers of heaps/arenas, fenceposts, tcache structs; chunk headers of        \
     * live chunks are NOT included */                                              \
    X(overhead_bytes, HG_TOTALS_BYTES, HG_TOTALS_OVERHEAD, "overhead")

typedef struct hg_totals {
#define HG_TOTALS_MEMBER_(name, unit, part, label) uint64_t name;
    HG_TOTALS_FIELDS(HG_TOTALS_MEMBER_)
#undef HG_TOTALS_MEMBER_
} hg_totals;

/* The list above for bindings that cannot read a macro: the number of
 * fields, and the name of field i in order (NULL past the end). */
size_t hg_totals_field_count(void);
const char *hg_totals_field_name(size_t i);

/* Chunk states, as labelled in profiles. */
enum hg_state {
    HG_STATE_INUSE = 0,
    HG_STATE_TCACHE,
    HG_STATE_FASTBIN,
    HG_STATE_BIN,      /* unsorted, small or large bin */
    HG_STATE_TOP,
    HG_STATE_OVERHEAD, /* heap_info, arena header, fenceposts, tcache struct */
    HG_STATE_MMAPPED,  /* live chunk served by mmap, outside any arena */
    HG_STATE_COUNT
};
const char *hg_state_name(int state); /* "inuse", "tcache", ... */

typedef struct hg_arena_info {
    int index;             /* 0 = main arena */
    uint64_t address;      /* struct malloc_state in the target */
    int mutex_held;        /* arena lock taken at the instant of the stop */
    unsigned heaps;        /* number of heaps (1 for the main arena) */
    uint64_t system_mem;
    hg_totals totals;      /* this arena's share (no mmapped chunks) */
} hg_arena_info;

/* One histogram cell: chunks of one arena, state and chunk size. */
typedef struct hg_bucket {
    int arena;             /* arena index, -1 for mmapped chunks */
    int state;             /* enum hg_state */
    uint64_t chunk_size;   /* glibc chunk size */
    uint64_t count;
    uint64_t bytes;        /* chunk bytes (count * chunk_size) */
    uint64_t usable_bytes; /* malloc_usable_size sum (in-use/mmapped only) */
} hg_bucket;

typedef struct hg_thread_info {
    int tid;
    uint64_t tcache;       /* tcache_perthread_struct address, 0 if none */
    int arena;             /* arena index the tcache chunk lives in, -1 */
    uint64_t tcache_objects, tcache_bytes;
} hg_thread_info;

/* A problem found while walking: the heap is corrupt or inconsistent. */
typedef struct hg_problem {
    int arena;             /* -1 if not arena specific */
    uint64_t address;      /* first bad chunk / pointer */
    const char *what;      /* one line */
} hg_problem;

/* A figure heapgrab cannot know for this target: a core has no RSS, no
 * page residency and no stop; a debugger's reader has no stop either. */
#define HG_UNKNOWN UINT64_MAX

/* How a snapshot held its target (hg_timing.pause). */
enum hg_pause {
    HG_PAUSE_NONE = 0,  /* nothing to stop: a core, a debugger's target */
    HG_PAUSE_WALK,      /* stopped for the whole walk */
    HG_PAUSE_COPY,      /* stopped only to copy its memory */
    HG_PAUSE_NO_STOP    /* never stopped (no_stop) */
};

typedef struct hg_timing {
    uint64_t stopped_ns;   /* how long the target was stopped (HG_UNKNOWN:
                              it was not, a core) */
    uint64_t total_ns;     /* whole hg_snapshot_take() */
    int pause;             /* enum hg_pause */
    uint64_t copy_ns;      /* the copy (HG_PAUSE_COPY: within the stop;
                              HG_PAUSE_NO_STOP: making room for it and the
                              first read), HG_UNKNOWN without one */
    uint64_t copied_bytes; /* the copy's size (0 without one) */
    uint64_t analysis_ns;  /* the walk and analyses once the target ran
                              again (or was never stopped) */
    uint64_t rereads;      /* no_stop: mappings read again */
    const char *fallback;  /* why a copy was wanted but not made (the walk
                              ran during the stop), NULL otherwise; the
                              snapshot's string */
} hg_timing;
/* "none", "walk", "copy", "no-stop" (enum hg_pause), "?" otherwise. */
const char *hg_pause_name(int pause);

int hg_snapshot_pid(const hg_snapshot *s);
const char *hg_snapshot_exe(const hg_snapshot *s);
const char *hg_snapshot_glibc_version(const hg_snapshot *s);
const char *hg_snapshot_locate(const hg_snapshot *s); /* "symbols" | "heuristic" */
uint64_t hg_snapshot_time_ns(const hg_snapshot *s);    /* wall clock, epoch */
const hg_mallinfo2 *hg_snapshot_mallinfo2(const hg_snapshot *s);
const hg_totals *hg_snapshot_totals(const hg_snapshot *s);
const hg_timing *hg_snapshot_timing(const hg_snapshot *s);
uint64_t hg_snapshot_rss_bytes(const hg_snapshot *s);  /* or HG_UNKNOWN */
uint64_t hg_snapshot_heap_resident_bytes(const hg_snapshot *s); /* or HG_UNKNOWN */
/* 1 unless the snapshot was taken without a stop (no_stop) and its last
 * walk still found problems: a chunk chain that changed while it was read
 * could not be read whole (or the heap is corrupt: without a stop the two
 * look alike). */
int hg_snapshot_consistent(const hg_snapshot *s);

size_t hg_snapshot_arena_count(const hg_snapshot *s);
const hg_arena_info *hg_snapshot_arena(const hg_snapshot *s, size_t i);
size_t hg_snapshot_bucket_count(const hg_snapshot *s);
const hg_bucket *hg_snapshot_bucket(const hg_snapshot *s, size_t i);
size_t hg_snapshot_thread_count(const hg_snapshot *s);
const hg_thread_info *hg_snapshot_thread(const hg_snapshot *s, size_t i);
size_t hg_snapshot_problem_count(const hg_snapshot *s); /* kept ones */
uint64_t hg_snapshot_problem_total(const hg_snapshot *s); /* all found */
const hg_problem *hg_snapshot_problem(const hg_snapshot *s, size_t i);
/* Every chunk, in address order per heap, when keep_chunks was set (else
 * none).  address is the chunk (the allocation is at address + 16); size
 * is glibc's chunk size; usable is malloc_usable_size for in-use and
 * mmapped chunks, else 0.  Headers and fenceposts that are not chunks are
 * not listed. */
typedef struct hg_chunk {
    uint64_t address;
    uint64_t size;
    uint64_t usable;
    int arena;             /* -1 for mmapped chunks */
    int state;             /* enum hg_state */
} hg_chunk;
size_t hg_snapshot_chunk_count(const hg_snapshot *s);
const hg_chunk *hg_snapshot_chunk(const hg_snapshot *s, size_t i);
size_t hg_snapshot_mapping_count(const hg_snapshot *s);
const hg_mapping *hg_snapshot_mapping(const hg_snapshot *s, size_t i);

/* ---------------------------------------------- who holds the memory */

/*
 * With hg_snapshot_options.holders: every place outside the heap that can
 * hold a pointer is a root -- a module's writable data (a global), a
 * thread's stack frame, its registers, its thread-local storage (static
 * and the DTV's dynamic blocks), any other writable anonymous mapping --
 * and every aligned word of an in-use object that points into another
 * in-use object's usable bytes is an edge (interior pointers too).  Free
 * chunks are never scanned, glibc's own bookkeeping is no root.
 *
 * An object's holder is its immediate dominator: the one object or root
 * that every path from the roots to it passes through.  Its retained size
 * is what would be freed if its holder let go of it (its dominator
 * subtree).  Objects reachable from several roots and dominated by none
 * are held by "(several roots)"; objects no root reaches are leaks.
 */
enum hg_root_kind {
    HG_ROOT_GLOBAL = 0,    /* a module's .data, .bss or relro */
    HG_ROOT_STACK,         /* one frame of a thread's stack */
    HG_ROOT_REGISTERS,     /* a thread's registers */
    HG_ROOT_TLS,           /* a thread-local variable */
    HG_ROOT_MAPPING,       /* another writable anonymous mapping */
    HG_ROOT_KIND_COUNT
};
/* "global", "stack", "register", "tls", "mapping" */
const char *hg_root_kind_name(int kind);

typedef struct hg_root {
    int kind;                /* enum hg_root_kind */
    const char *name;        /* global, TLS: the variable ("g_tracker"), else
                                "MODULE+0xOFFSET"; stack: the frame's
                                function ("?" if unknown); registers:
                                "registers"; mapping: "0xSTART-0xEND" */
    const char *module;      /* file of the module it is in, or NULL */
    const char *file;        /* global, TLS: where it is declared; stack:
                                the frame's source file; or NULL */
    int line;                /* of that file, 0 if unknown */
    int thread;              /* stack, registers, TLS: the thread id; else 0 */
    const char *thread_name; /* "" if unknown */
    uint64_t address;        /* global, TLS: the variable's address; stack:
                                the frame's canonical frame address; mapping:
                                its start; registers: 0 */
    uint64_t retained_objects, retained_bytes;   /* usable bytes */
    /* Everything it reaches, dominated or not; HG_UNKNOWN where heapgrab
     * did not compute it (it does for the roots that retain the most). */
    uint64_t reachable_objects, reachable_bytes;
} hg_root;

typedef struct hg_leak_totals {
    /* reachable from no root, and referenced by no other leaked object
     * (LeakSanitizer's direct leak; a pointer to itself does not count) */
    uint64_t direct_objects, direct_bytes;
    /* reachable from no root, referenced by another leaked object (a
     * leaked cycle is all indirect) */
    uint64_t indirect_objects, indirect_bytes;
    /* reachable, but only through pointers into the middle of objects
     * (Valgrind's "possibly lost") */
    uint64_t possibly_objects, possibly_bytes;
    /* reachable and held by no single root */
    uint64_t several_objects, several_bytes;
} hg_leak_totals;

/* Roots that hold anything, most retained bytes first (0 without holders). */
size_t hg_snapshot_root_count(const hg_snapshot *s);
const hg_root *hg_snapshot_root(const hg_snapshot *s, size_t i);
/* NULL when the snapshot was taken without holders. */
const hg_leak_totals *hg_snapshot_leaks(const hg_snapshot *s);

enum hg_object_class {
    HG_OBJECT_REACHABLE = 0,
    HG_OBJECT_POSSIBLY,
    HG_OBJECT_DIRECT,      /* leaked */
    HG_OBJECT_INDIRECT     /* leaked */
};
const char *hg_object_class_name(int cls); /* "reachable", "possibly", "direct", "indirect" */

/* The holder of an object that is not another object. */
#define HG_HOLDER_SEVERAL (-1)  /* several roots */
#define HG_HOLDER_LEAKED (-2)   /* no root reaches it */
#define HG_HOLDER_ROOT (-3)     /* a root: holder_root says which */
typedef struct hg_object {
    uint64_t address;      /* the allocation (its usable bytes start here) */
    uint64_t size;         /* usable bytes, as malloc_usable_size */
    int cls;               /* enum hg_object_class */
    int64_t holder;        /* the object holding it (an index), or HG_HOLDER_* */
    int64_t holder_root;   /* with HG_HOLDER_ROOT: the root holding it (an
                              index of the holders' roots, not of the ranked
                              list), else -1 */
    uint64_t retained_objects, retained_bytes; /* itself included */
} hg_object;
/* Every in-use object, in address order (0 without holders). */
size_t hg_snapshot_object_count(const hg_snapshot *s);
int hg_snapshot_object(const hg_snapshot *s, size_t i, hg_object *out);

/* Leaked objects grouped by class and size, most bytes first, each with a
 * few examples and their first bytes (read when the analysis was done:
 * nothing can change a leaked object). */
#define HG_LEAK_EXAMPLES 3
#define HG_LEAK_EXAMPLE_BYTES 32
typedef struct hg_leak_group {
    int cls;               /* HG_OBJECT_DIRECT or HG_OBJECT_INDIRECT */
    uint64_t size;         /* usable bytes of each */
    uint64_t objects, bytes;
    size_t nexamples;
    struct {
        uint64_t address;
        size_t len;        /* bytes read, at most HG_LEAK_EXAMPLE_BYTES */
        unsigned char bytes[HG_LEAK_EXAMPLE_BYTES];
    } examples[HG_LEAK_EXAMPLES];
} hg_leak_group;
size_t hg_snapshot_leak_group_count(const hg_snapshot *s);
const hg_leak_group *hg_snapshot_leak_group(const hg_snapshot *s, size_t i);

/* ------------------------------------------------------ what the memory is */

/*
 * With hg_snapshot_options.types: every in-use chunk (in use in an arena,
 * or mmapped) gets the most specific type the evidence supports, and how it
 * was found:
 *   vtable  its first word is the address point of a primary vtable (the
 *           complete object's: offset-to-top 0), found by the module's
 *           `_ZTV` symbol or, in a stripped module, through the typeinfo at
 *           vtable[-1] and its `_ZTS` name string; the class, demangled
 *           ("geo::Poly<float>").  Needs no debug information.
 *   dwarf   the static type of the pointers that point at its start,
 *           propagated from variables whose DWARF type is known (globals,
 *           function statics, static TLS) through typed pointer members:
 *           "struct conn", "char[]" (a char * target), "Foo[]" (a pointer
 *           to Foo at a chunk holding k >= 2 of them), node classes of
 *           std::map and the like by their DWARF names.  A vtable wins; a
 *           type that does not fit the chunk, or two names for one chunk,
 *           type nothing.  Needs the program's debug information.
 *   size    untyped: nothing says what it is.  All untyped chunks are one
 *           entry, named "(untyped)".
 * Only a chunk's first word types it: a pointer into the middle of an
 * object, or a secondary vtable at its start, types nothing.
 */
enum hg_type_how { HG_TYPE_SIZE = 0, HG_TYPE_VTABLE, HG_TYPE_DWARF, HG_TYPE_HOW_COUNT };
const char *hg_type_how_name(int how); /* "size", "vtable", "dwarf" */

typedef struct hg_type {
    const char *name;      /* "Circle", "geo::Poly<float>", "(untyped)" */
    int how;               /* enum hg_type_how */
    uint64_t objects;
    uint64_t bytes;        /* usable bytes (malloc_usable_size), as inuse_bytes */
} hg_type;

typedef struct hg_type_totals {
    uint64_t typed_objects, typed_bytes; /* everything but "(untyped)" */
    uint64_t inuse_objects, inuse_bytes; /* every in-use chunk */
} hg_type_totals;

/* The types, most bytes first, "(untyped)" among them (0 without types);
 * their objects and bytes add up to the in-use totals. */
size_t hg_snapshot_type_count(const hg_snapshot *s);
const hg_type *hg_snapshot_type(const hg_snapshot *s, size_t i);
/* NULL when the snapshot was taken without types. */
const hg_type_totals *hg_snapshot_type_totals(const hg_snapshot *s);
/* What the types could not do, for the output to say (no DWARF for the
 * program: "types from DWARF need the program's debug info ..."), or NULL. */
const char *hg_snapshot_types_note(const hg_snapshot *s);
/* The type of chunk i (hg_snapshot_chunk's numbering): an index for
 * hg_snapshot_type, or -1 for a chunk not in use (or without types). */
long hg_snapshot_chunk_type(const hg_snapshot *s, size_t i);

/* ----------------------------------------------------------------- stacks */

/* One frame of a call stack.  A call inlined into its caller is its own
 * frame (inlined = 1) at the same pc, before the caller's. */
typedef struct hg_stack_frame {
    uint64_t pc;           /* the call (return address - 1), or the pc */
    const char *function;  /* demangled; NULL if unknown */
    uint64_t offset;       /* pc - the symbol's start */
    const char *file;      /* source file, NULL if unknown */
    int line;              /* 0 if unknown */
    int inlined;
    const char *module;    /* file of the module, NULL if none */
} hg_stack_frame;

typedef struct hg_thread_stack {
    int tid;
    const char *name;      /* /proc/PID/task/TID/comm ("" for cores) */
    char state;            /* R runnable, S sleeping, D, T, ... before the
                              stop; '?' unknown (cores, and profiles: they
                              read CPU times instead) */
    size_t nframes;
    const hg_stack_frame *frames; /* innermost first */
    const char *error;     /* why the unwind stopped early, or NULL */
} hg_thread_stack;

typedef struct hg_profile hg_profile;

typedef struct hg_profile_options {
    double seconds;        /* 0: one stop (a stacks dump) */
    unsigned hz;           /* stops per second (0 = 100) */
    volatile int *stop;    /* set non-zero (e.g. from SIGINT) to end early */
} hg_profile_options;

typedef struct hg_profile_timing {
    uint64_t samples;
    uint64_t stopped_ns_total, stopped_ns_max; /* all threads stopped */
    /* From the first reading of the threads' CPU times to the last one:
     * the seconds asked for, unless the profile was ended early (stop set,
     * or the target exited). */
    uint64_t duration_ns;
    /* Ticks not taken: heapgrab was late, or the target would have been
     * stopped more than HG_PROFILE_MAX_STOPPED percent of the time.  The
     * last tick, at the end, is counted here when it did not stop the
     * target (the last sample then stands for the time up to the end). */
    uint64_t skipped;
    /* CPU time the samples hold, and the process's own CPU time over the
     * same span (0 if unknown).  The difference is what threads used after
     * the last tick they were seen at and before they ended. */
    uint64_t cpu_ns, process_cpu_ns;
} hg_profile_timing;
#define HG_PROFILE_MAX_STOPPED 10

/*
 * Stop every thread, unwind each (CFI, frame pointers where there is none),
 * resume; with seconds > 0, again every 1/hz seconds.  Symbols, source
 * lines and inlined frames are looked up afterwards, with the target
 * running.  A live target is detached after every stop.
 */
int hg_profile_take(hg_target *t, const hg_profile_options *opt, hg_profile **out);
void hg_profile_free(hg_profile *p);
/* The threads of the last stop, with their frames. */
size_t hg_profile_thread_count(const hg_profile *p);
const hg_thread_stack *hg_profile_thread(const hg_profile *p, size_t i);
const hg_profile_timing *hg_profile_timing_of(const hg_profile *p);
int hg_profile_target_exited(const hg_profile *p); /* ended by the target exiting */
/* At each stop heapgrab copies each thread's live stack, at most this many
 * bytes, and unwinds the copy once the process runs again. */
#define HG_STACK_COPY_PROFILE (512u * 1024u)       /* a profile's ticks */
#define HG_STACK_COPY_DUMP (8u * 1024u * 1024u)    /* a one-shot dump */
/* Thread samples whose stack was deeper than that: their frames stop
 * there, the outer ones missing. */
uint64_t hg_profile_cut_stacks(const hg_profile *p);

/* ------------------------------------------------------ allocation sampler */

/*
 * libheapgrab_sampler.so, loaded into a program (LD_PRELOAD, or
 * "heapgrab run"), counts every allocation and free exactly and samples
 * allocations, on average one per `rate` bytes, with their call stacks.
 * It keeps all of it in the program's memory; heapgrab reads it from
 * there like the rest of the heap (live, from a core, through a reader).
 * Byte figures are usable sizes (malloc_usable_size).
 */
typedef struct hg_sampler_info {
    uint64_t rate;            /* mean bytes between samples; 1: every one */
    /* exact, every thread's, those that ended included */
    uint64_t alloc_objects, alloc_bytes;
    uint64_t free_objects, free_bytes;
    uint64_t live_sampled;    /* sampled objects not yet freed */
    uint64_t samples;         /* sampled allocations recorded */
    uint64_t dropped_samples; /* the sampler's table had no room for them */
    uint64_t dropped_live;    /* sampled objects whose free cannot be seen */
    uint64_t threads;         /* threads with counters of their own now */
    uint64_t stacks;          /* distinct (stack, size) buckets */
} hg_sampler_info;

typedef struct hg_allocs hg_allocs;

/*
 * Read the sampler's table: its figures and every sampled stack,
 * symbolized (inlined frames, file:line) with the target running.  A live
 * target is stopped for the read only.  HG_ENOSAMPLER if the sampler is
 * not loaded; a table that does not hold together (a crafted core) is
 * refused with HG_EIO, after bounded work.
 */
int hg_allocs_take(hg_target *t, hg_allocs **out);
void hg_allocs_free(hg_allocs *a);
const hg_sampler_info *hg_allocs_info(const hg_allocs *a);
/* The sampler's figures only (no stacks), into the snapshot, where
 * hg_snapshot_sampler() and the JSON writer find them: 0, or
 * HG_ENOSAMPLER (the snapshot unchanged), or another error. */
int hg_snapshot_read_sampler(hg_snapshot *s, hg_target *t);
/* NULL unless hg_snapshot_read_sampler() found the sampler. */
const hg_sampler_info *hg_snapshot_sampler(const hg_snapshot *s);

/* ---------------------------------------------------------------- writers */

/* Readable table: totals, one row per arena, RSS and the heap's share. */
int hg_write_text(const hg_snapshot *s, FILE *out);
/* One JSON object (see README "stats --json"). */
int hg_write_json(const hg_snapshot *s, FILE *out);
/* Gzipped pprof profile (profile.proto). */
int hg_write_pprof(const hg_snapshot *s, FILE *out);
/* What the memory is (a snapshot taken with types): a table of the types,
 * most bytes first, and the same as one JSON object (see README "types"). */
int hg_write_types_text(const hg_snapshot *s, FILE *out);
int hg_write_types_json(const hg_snapshot *s, FILE *out);
/* Thread stacks: every thread of the last stop, frame by frame. */
int hg_write_stacks_text(const hg_profile *p, FILE *out);
/* Gzipped pprof CPU/wall profile: samples/count, wall/nanoseconds,
 * cpu/nanoseconds (the CPU time each thread used in the interval its
 * sample stands for); labels thread_name, thread_id. */
int hg_write_profile_pprof(const hg_profile *p, FILE *out);
/* Gzipped pprof allocation profile, as Go's heap profile: alloc_objects,
 * alloc_space, inuse_objects, inuse_space; period space/bytes = the rate;
 * values unsampled as Go does; a "bytes" label (the object size). */
int hg_write_allocs_pprof(const hg_allocs *a, FILE *out);
/* The JSON object of hg_write_json() in a NUL-terminated string the caller
 * releases with hg_free() (for bindings that have no FILE *). */
int hg_write_json_string(const hg_snapshot *s, char **out);

/*
 * Who holds the memory (a snapshot taken with holders; HG_EUSAGE without).
 *
 * hg_write_pprof() of such a snapshot gives each in-use object the stack of
 * its holders: the root frame outermost, then one frame per object on its
 * path in the dominator tree, its own size class as the leaf (so the cum
 * of a root's frame is its retained bytes).  Outermost frames that are no
 * root: "(several roots)", "(leaked)" (then "direct leak" or "indirect
 * leak"), and "(free)" above today's allocator view of idle memory.  A run
 * of holders of one size class (a linked list) is one frame "size 48 \u00d7100"
 * (a multiplication sign and the run's objects); a path deeper than HG_PPROF_MAX_FRAMES keeps its
 * outer frames and its leaf with "(deeper holders)" between.  Samples add
 * the label "class" (reachable, possibly, direct, indirect) to bytes, arena
 * and state.  hg_write_pprof_by_size() writes the size-class view of every
 * snapshot (what hg_write_pprof() writes without holders).
 */
#define HG_PPROF_MAX_FRAMES 64
int hg_write_pprof_by_size(const hg_snapshot *s, FILE *out);
/* The roots ranked by retained bytes, reachable bytes beside, then the
 * several roots' share and the leak totals: a table, or one JSON object
 * {"roots": [...], "several_roots": {...}, "leaks": {...}, "timing": {...}}
 * (README "Who holds the memory"). */
int hg_write_holders_text(const hg_snapshot *s, FILE *out);
int hg_write_holders_json(const hg_snapshot *s, FILE *out);
/* The leaks, as LeakSanitizer's summary reads, or one JSON object
 * {"direct_objects", ..., "groups": [...]}. */
int hg_write_leaks_text(const hg_snapshot *s, FILE *out);
int hg_write_leaks_json(const hg_snapshot *s, FILE *out);
/* hg_write_holders_json() and hg_write_leaks_json() in a NUL-terminated
 * string released with hg_free(). */
int hg_write_holders_json_string(const hg_snapshot *s, char **out);
int hg_write_leaks_json_string(const hg_snapshot *s, char **out);
void hg_free(void *p);

/*
 * One self-contained HTML page (every script and style inline; the page
 * makes no request): the stats summary as a table and a bar (a snapshot),
 * an interactive flame graph of the profile's stacks (search, zoom, hover;
 * a CPU profile's by thread, then function), and a sortable table of each
 * function's flat and cum, the numbers `go tool pprof -top` gives for the
 * same profile.  The heap's flame graph is hg_write_pprof()'s stacks.
 * With a base (a pprof profile's bytes, gzipped or not) the page also shows
 * what grew and what shrank since it, coloured.
 */
typedef struct hg_report_options {
    const void *base;      /* a pprof profile to compare with, or NULL */
    size_t base_len;
    const char *title;     /* or NULL: one made from the data */
} hg_report_options;
int hg_write_report_html(const hg_snapshot *s, const hg_report_options *o, FILE *out);
int hg_write_profile_report_html(const hg_profile *p, const hg_report_options *o, FILE *out);
/* The allocation sampler's profile (hg_write_allocs_pprof's) as a page. */
int hg_write_allocs_report_html(const hg_allocs *a, const hg_report_options *o, FILE *out);
/* A pprof profile's bytes (gzipped or not): HG_EUSAGE if they are not one. */
int hg_write_pprof_report_html(const void *pprof, size_t len, const hg_report_options *o,
                               FILE *out);
/* 0 if the bytes are a pprof profile the report can read, else HG_EUSAGE
 * (the message says why) or HG_ENOMEM: a --base is checked before the
 * process is stopped. */
int hg_pprof_check(const void *pprof, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* HEAPGRAB_H */
