/* pid.h -- the live backend's own state, shared by its two files:
 * pid_attach.c (opening, reading, asking /proc) and pid_stop.c (stopping
 * and releasing the threads).  Internal to them. */
#ifndef HG_PID_H
#define HG_PID_H

#include <sched.h>

#include "target/target.h"

struct live {
    int mem_fd;       /* /proc/PID/mem, fallback reader */
    int pagemap_fd;   /* /proc/PID/pagemap, -1 if unavailable */
    size_t cap;       /* capacity of t->threads */
    /* A read found the process gone (ESRCH): every read after says so
     * too, and resume reports it. */
    int gone;
    uint64_t stopped_at;     /* when the stop began (its first interrupt) */
    /* The stop read the mappings again: resume fills their build-ids
     * once the target runs. */
    int fill_ids;
    /* Held by someone else (a debugger keeps it stopped): no ptrace at
     * all; the threads and their thread pointers are the caller's. */
    int held;
    hg_thread *held_threads;
    size_t nheld;
    /* heapgrab's own priority before a stop raised it */
    int nice_was, boosted;   /* nice -20 while stopped */
    int rt, policy_was;      /* SCHED_FIFO while stopped */
    struct sched_param param_was;
    /* Each thread's /proc/PID/task/TID/stat (run state) and schedstat (CPU
     * time), opened when first asked for and kept open: a profile reads one
     * of them at every tick, and pread at 0 reads it afresh */
    struct task_files {
        int tid;
        int fd[2];           /* stat, schedstat; -1 until asked for */
        unsigned seen;       /* the listing that last saw the thread */
    } *statfd;
    size_t nstatfd, capstatfd;
    unsigned listing;
    /* The threads alive at the last thread_states call, which a profile
     * makes just before each stop: the stop seizes them without reading
     * /proc/PID/task again, and asks /proc/PID/stat whether that was all. */
    int *known;
    size_t nknown, capknown;
    int known_fresh;
    /* The threads the last stop held: what thread_states asks about, so
     * that it need not list /proc/PID/task either. */
    int *last;
    size_t nlast, caplast;
    int pstat_fd;            /* /proc/PID/stat, for num_threads; -1 if closed */
    /* The stop just refused met another heapgrab: its tracing thread, and
     * the thread of ours it held (see seize_refused). */
    int busy_tracer, busy_tid, busy_process;
    /* The room a copy at the stop goes into (copy_attach.c), kept from one
     * snapshot to the next: memory written once is fast to copy into. */
    unsigned char *room;
    uint64_t room_len;
};

/* pid_stop.c: the ops stop and resume; and, for close, letting go of
 * whatever is still held, and of what hg_emergency_detach() would
 * release. */
int hg_live_stop(hg_target *t, unsigned flags);
int hg_live_resume(hg_target *t, uint64_t *stopped_ns);
void hg_live_let_go(hg_target *t);

#endif
