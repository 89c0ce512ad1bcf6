/*
 * table.h -- the allocation sampler's table: what libheapgrab_sampler.so
 * keeps in the process's memory and heapgrab reads from outside (live,
 * from a core, through a debugger).  The one header both sides include:
 * plain C types of fixed width, no pointers as pointers (addresses are
 * uint64_t, since the reader is another program), nothing that depends on
 * the compiler's padding (every struct is laid out in 8-byte fields and
 * its size is written into the header, which the reader checks).
 *
 * Finding it: the sampler exports one symbol, heapgrab_sampler_table, a
 * struct hgs_header.  The regions it points to (thread slots, buckets,
 * live set, modules) are anonymous mappings the sampler made with mmap;
 * a core dumps them with the rest of the process's writable memory.
 *
 * A reader trusts nothing here: the magic, the version, every struct size
 * and every capacity are checked against this header and against limits
 * of its own before a byte of a region is read, and every index taken
 * from the table is bounds-checked.  A change of layout is a new
 * HGS_VERSION.
 *
 * Figures are usable sizes (malloc_usable_size), as heapgrab's inuse_bytes
 * are.  The writers are the process's threads, without any lock the
 * reader could take: a live read is done with the process stopped, and a
 * figure being updated at the instant of the stop may be off by the one
 * allocation in flight.
 */
#ifndef HGS_TABLE_H
#define HGS_TABLE_H

#include <stdint.h>

/* "HGSAMPLE" as a little-endian 64-bit number. */
#define HGS_MAGIC 0x454c504d41534748ull
/* 2: a bucket's stack is a run of the frames array (1 held 48 return
 * addresses in every bucket, 448 bytes for a stack of 5). */
#define HGS_VERSION 2u

/* Return addresses kept per sampled stack (innermost first). */
#define HGS_MAX_DEPTH 48

/* Exact counters of one thread (or, for the header's retired, of every
 * thread that has ended).  64 bytes: one cache line each, so threads never
 * share a line. */
struct hgs_counters {
    uint64_t alloc_objects, alloc_bytes;
    uint64_t free_objects, free_bytes;
    uint64_t in_use;        /* 1 while a thread owns the slot */
    uint64_t tid;           /* the owner's thread id (informational) */
    uint64_t pad[2];
};

/* One stack and one usable size (as in Go's heap profile, a bucket is a
 * stack and a size): sampled allocations from it and sampled frees of
 * those.  Its stack is frames[frame, frame + depth) of the header's
 * frames array: return addresses, innermost first. */
struct hgs_bucket {
    uint64_t hash;          /* of the stack and size, never 0 */
    uint64_t size;          /* usable bytes of each object */
    uint64_t alloc_objects, alloc_bytes;
    uint64_t free_objects, free_bytes;
    uint64_t depth;         /* return addresses, at most HGS_MAX_DEPTH */
    uint64_t modules_seen;  /* the module table's count when the stack was
                               taken: its pcs belong to entries below it */
    uint64_t frame;         /* its first return address in frames */
};

/* A sampled object still live: its address and its bucket. */
struct hgs_live {
    uint64_t address;       /* 0: empty */
    uint64_t bucket;        /* index into the buckets */
};

/* A module (executable or shared library) the process had mapped when a
 * stack was taken.  Entries are only appended, so a stack taken in a
 * library since dlclose()d still names the library's file and build-id,
 * and each pc is its offset from base. */
#define HGS_NAME_MAX 256
struct hgs_module {
    uint64_t base;          /* load bias (dlpi_addr) */
    uint64_t start, end;    /* the lowest and highest address of its
                               PT_LOAD segments, [start, end) */
    uint64_t build_id_len;  /* bytes of build_id used, 0: none */
    uint8_t build_id[32];
    char name[HGS_NAME_MAX]; /* as the loader names it, "" for the
                                executable; NUL-terminated */
};

struct hgs_header {
    uint64_t magic;         /* HGS_MAGIC: written last, once the rest is set */
    uint32_t version;       /* HGS_VERSION */
    uint32_t header_size;   /* sizeof(struct hgs_header) */
    uint32_t counters_size; /* sizeof(struct hgs_counters) */
    uint32_t bucket_size;   /* sizeof(struct hgs_bucket) */
    uint32_t live_size;     /* sizeof(struct hgs_live) */
    uint32_t module_size;   /* sizeof(struct hgs_module) */
    uint32_t max_depth;     /* HGS_MAX_DEPTH */
    uint32_t pad0;

    uint64_t rate;          /* mean bytes between samples; 1: every one */
    uint64_t pid;           /* the process that set the table up (a child
                               of fork() keeps its parent's figures) */

    /* Per-thread counters: nslots slots at slots; a thread that finds
     * none free counts into shared (with atomic adds). */
    uint64_t slots;         /* address of struct hgs_counters[nslots] */
    uint64_t nslots;
    struct hgs_counters retired; /* threads that ended */
    struct hgs_counters shared;  /* threads without a slot of their own */

    /* Filled in order: the first buckets_used are in use (the sampler's
     * hash index over them is its own business). */
    uint64_t buckets;       /* address of struct hgs_bucket[nbuckets] */
    uint64_t nbuckets;
    uint64_t buckets_used;

    /* Open addressing on the address (the sampler's business how). */
    uint64_t live;          /* address of struct hgs_live[nlive] */
    uint64_t nlive;         /* a power of two */
    uint64_t live_count;    /* entries in use (not tombstones) */

    uint64_t modules;       /* address of struct hgs_module[nmodules_max] */
    uint64_t nmodules_max;
    uint64_t nmodules;      /* entries filled */

    /* Samples the table had no room for. */
    uint64_t dropped_samples, dropped_bytes; /* no free bucket */
    uint64_t dropped_live;  /* no room in the live set: their frees are
                               not seen, so inuse is overstated by them */
    uint64_t samples;       /* sampled allocations recorded */

    /* The buckets' stacks, filled in order like the buckets: the first
     * frames_used are in use. */
    uint64_t frames;        /* address of uint64_t[nframes] */
    uint64_t nframes;
    uint64_t frames_used;
};

#endif
