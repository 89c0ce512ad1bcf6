/*
 * pid_attach.c -- a running process as a target: opening it, reading its
 * memory (process_vm_readv, /proc/PID/mem where that refuses), and what
 * /proc says about it between stops.  Stopping and releasing its threads
 * is pid_stop.c's.  Also the variant for a process its debugger holds.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "target/pid.h"
#include "target/procfs.h"
#include "lib/array.h"
#include "lib/error.h"

/* The process is gone: every read from now on says so (a pid can be
 * reused, and reading another process would be worse than failing). */
static long gone(hg_target *t)
{
    struct live *lv = t->backend;
    lv->gone = 1;
    return hg_fail(HG_ENOPROC, "process %d exited during the snapshot", t->process_id);
}

static long live_read(hg_target *t, uint64_t addr, void *buf, size_t len)
{
    struct live *lv = t->backend;
    if (lv->gone)
        return gone(t);
    size_t done = 0;
    while (done < len) {
        struct iovec local = {(char *)buf + done, len - done};
        struct iovec remote = {(void *)(uintptr_t)(addr + done), len - done};
        ssize_t n = process_vm_readv(t->proc_pid, &local, 1, &remote, 1, 0);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == ESRCH)
            return gone(t);
        /* EFAULT at an unreadable page, or EPERM under some LSMs: try
         * /proc/PID/mem, which can read what process_vm_readv refuses. */
        if (lv->mem_fd >= 0) {
            ssize_t m = pread(lv->mem_fd, (char *)buf + done, len - done,
                              (off_t)(addr + done));
            if (m > 0) {
                done += (size_t)m;
                continue;
            }
        }
        break;
    }
    return (long)done;
}

/* Many ranges, one process_vm_readv for up to 64 of them: at a profile's
 * stop every thread's stack is read this way, a third of the time of one
 * call per thread.  The call gives up at the first range it cannot read
 * whole; that one is read alone, as live_read does, and the rest go on. */
static int live_read_spans(hg_target *t, hg_span *s, size_t n)
{
    struct live *lv = t->backend;
    if (lv->gone)
        return (int)gone(t);
    size_t i = 0;
    while (i < n) {
        struct iovec local[64], remote[64];
        size_t k = 0;
        for (; k < 64 && i + k < n; k++) {
            local[k] = (struct iovec){s[i + k].buf, s[i + k].len};
            remote[k] = (struct iovec){(void *)(uintptr_t)s[i + k].addr, s[i + k].len};
        }
        ssize_t got = process_vm_readv(t->proc_pid, local, k, remote, k, 0);
        if (got < 0 && errno == ESRCH)
            return (int)gone(t);
        size_t left = got > 0 ? (size_t)got : 0, j = 0;
        for (; j < k && left >= s[i + j].len; j++) {
            s[i + j].got = s[i + j].len;
            left -= s[i + j].len;
        }
        i += j;
        if (j < k) {
            long one = live_read(t, s[i].addr, s[i].buf, s[i].len);
            if (one < 0)
                return -1;
            s[i++].got = (size_t)one;
        }
    }
    return 0;
}

static int live_resident(hg_target *t, uint64_t addr, size_t npages, uint8_t *present)
{
    struct live *lv = t->backend;
    return hg_proc_pagemap(lv->pagemap_fd, addr, npages, present);
}

static uint64_t live_rss(hg_target *t) { return hg_proc_rss(t->proc_pid); }

/* ------------------------------------------------- threads between stops */

/* A thread's stat and schedstat files (thread_states). */
static void close_task_files(const int fd[2])
{
    for (int i = 0; i < 2; i++)
        if (fd[i] >= 0)
            close(fd[i]);
}

enum { TASK_STAT, TASK_SCHEDSTAT };

/* Thread tid's stat or schedstat file, opened the first time (-1 if it
 * cannot be); marks the thread as seen by this listing. */
static int task_fd(hg_target *t, int tid, int which)
{
    static const char *const names[] = {"stat", "schedstat"};
    struct live *lv = t->backend;
    size_t i = 0;
    while (i < lv->nstatfd && lv->statfd[i].tid != tid)
        i++;
    if (i == lv->nstatfd) {
        if (hg_array_reserve_((void **)&lv->statfd, &lv->capstatfd, sizeof *lv->statfd,
                              lv->nstatfd + 1) != 0)
            return -1;
        lv->statfd[i].tid = tid;
        lv->statfd[i].fd[0] = lv->statfd[i].fd[1] = -1;
        lv->nstatfd++;
    }
    lv->statfd[i].seen = lv->listing;
    if (lv->statfd[i].fd[which] < 0)
        lv->statfd[i].fd[which] = hg_proc_open(t->proc_pid, tid, names[which]);
    return lv->statfd[i].fd[which];
}

typedef hg_array(hg_thread_state) state_list;

/* One thread's state and/or CPU time into states and, if it is alive, the
 * known list. */
static int add_state(hg_target *t, int tid, unsigned what, state_list *states)
{
    struct live *lv = t->backend;
    hg_thread_state *ts = hg_array_push(*states);
    if (!ts)
        return hg_fail(HG_ENOMEM, "out of memory");
    *ts = (hg_thread_state){.tid = tid, .state = '?'};
    int alive = 1;
    if (what & HG_THREAD_RUN_STATE) {
        ts->state = hg_proc_stat_state(task_fd(t, tid, TASK_STAT));
        alive = ts->state != '?' && ts->state != 'Z' && ts->state != 'X';
    }
    if (what & HG_THREAD_CPU_TIME) {
        ts->have_cpu = hg_proc_schedstat_cpu(task_fd(t, tid, TASK_SCHEDSTAT), &ts->cpu_ns) == 0;
        alive = alive && ts->have_cpu;
    }
    if (!alive)
        return 0;
    if (hg_array_reserve_((void **)&lv->known, &lv->capknown, sizeof *lv->known,
                          lv->nknown + 1) != 0)
        return hg_fail(HG_ENOMEM, "out of memory");
    lv->known[lv->nknown++] = tid;
    return 0;
}

/*
 * The threads the last stop held, each from its own files (kept open: a
 * dead thread's file fails to read even if its tid is reused), or, before
 * the first stop, those /proc/PID/task lists.  A thread born since the last
 * stop is missing for one tick; the stop finds it (all_held).  Reading 18
 * stat files takes 0.1 ms; listing the directory too took half as much
 * again, at every tick.  A profile reads schedstat, not stat: a thread's
 * CPU time, not its run state ("R" is runnable, not running: on 2 CPUs, 8
 * busy threads are all "R"), and schedstat costs the kernel less to write.
 */
static int live_thread_states(hg_target *t, unsigned what, hg_thread_state **out, size_t *n)
{
    struct live *lv = t->backend;
    state_list states = HG_ARRAY_INIT;
    *out = NULL;
    *n = 0;
    lv->listing++;
    lv->nknown = 0;
    lv->known_fresh = 0;
    int rc = 0;
    if (lv->nlast > 0) {
        for (size_t i = 0; i < lv->nlast && rc == 0; i++)
            rc = add_state(t, lv->last[i], what, &states);
    } else {
        int *tids;
        size_t ntids;
        if (hg_proc_tasks(t->proc_pid, &tids, &ntids) != 0)
            return errno == ENOMEM ? hg_fail(HG_ENOMEM, "out of memory")
                                   : hg_fail(HG_ENOPROC, "process %d exited", t->process_id);
        for (size_t i = 0; i < ntids && rc == 0; i++)
            rc = add_state(t, tids[i], what, &states);
        free(tids);
    }
    if (rc < 0) {
        hg_array_clear(states);
        return rc;
    }
    *out = states.ptr;
    *n = states.size;
    lv->known_fresh = 1;
    /* Threads that have gone: close their files (a process that starts
     * threads all the time would otherwise use up our descriptors). */
    size_t keep = 0;
    for (size_t i = 0; i < lv->nstatfd; i++) {
        if (lv->statfd[i].seen == lv->listing)
            lv->statfd[keep++] = lv->statfd[i];
        else
            close_task_files(lv->statfd[i].fd);
    }
    lv->nstatfd = keep;
    return 0;
}

/* The process's CPU clock: every thread's time on a CPU, those that have
 * ended included (the kernel keeps their sum). */
static int live_process_cpu(hg_target *t, uint64_t *ns)
{
    clockid_t clock;
    struct timespec ts;
    if (clock_getcpuclockid(t->process_id, &clock) != 0 || clock_gettime(clock, &ts) != 0)
        return -1;
    *ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return 0;
}

static void live_thread_name(hg_target *t, int tid, char *buf, size_t len)
{
    hg_proc_comm(t->proc_pid, tid, buf, len, "");
}

static void live_close(hg_target *t)
{
    struct live *lv = t->backend;
    if (!lv)
        return;
    hg_live_let_go(t);
    hg_copy_room_free(lv);
    free(lv->held_threads);
    for (size_t i = 0; i < lv->nstatfd; i++)
        close_task_files(lv->statfd[i].fd);
    free(lv->statfd);
    free(lv->known);
    free(lv->last);
    if (lv->pstat_fd >= 0)
        close(lv->pstat_fd);
    if (lv->mem_fd >= 0)
        close(lv->mem_fd);
    if (lv->pagemap_fd >= 0)
        close(lv->pagemap_fd);
    free(lv);
    t->backend = NULL;
}

static const struct hg_target_ops live_ops = {
    .version = HG_TARGET_OPS_VERSION,
    .kind = HG_TARGET_PROCESS,
    .read = live_read,
    .read_spans = live_read_spans,
    .stop = hg_live_stop,
    .resume = hg_live_resume,
    .resident = live_resident,
    .rss = live_rss,
    .thread_states = live_thread_states,
    .process_cpu = live_process_cpu,
    .thread_name = live_thread_name,
    .close = live_close,
    .concurrent_reads = 1,
};

/* ------------------------------------------------------------- attaching */

/* heapgrab knows x86_64 glibc only: refuse anything else up front. */
static int check_machine(int pid, int pid_mm)
{
    int efd = hg_proc_open(pid_mm, 0, "exe");
    if (efd < 0)
        return 0;
    Elf64_Ehdr eh;
    ssize_t got = read(efd, &eh, sizeof eh);
    close(efd);
    if (got >= (ssize_t)EI_NIDENT + 4 && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
        (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64))
        return hg_fail(HG_EUNSUPPORTED,
                       "process %d is not an x86_64 program (ELF class %d, machine %d): "
                       "heapgrab supports x86_64 only", pid, eh.e_ident[EI_CLASS],
                       got >= 20 ? eh.e_machine : -1);
    return 0;
}

int hg_target_attach_pid(int pid, unsigned flags, hg_target **out)
{
    (void)flags;
    char path[64];
    *out = NULL;
    if (pid <= 0)
        return hg_fail(HG_EUSAGE, "invalid process id %d", pid);
    snprintf(path, sizeof path, "/proc/%d", pid);
    if (access(path, F_OK) != 0)
        return hg_fail(HG_ENOPROC, "no such process: %d", pid);

    /* A main thread that called pthread_exit stays a zombie while the
     * others run, and its /proc entries lose the address space (no maps,
     * no exe, no memory): look at the process through a living thread.
     * t->proc_pid is that thread, t->process_id the process. */
    int pid_mm = pid;
    if (hg_proc_task_exited(pid, pid))
        pid_mm = hg_proc_living_task(pid);
    if (pid_mm <= 0)
        return hg_fail(HG_ENOPROC, "process %d has exited (a zombie, not yet reaped by its parent)",
                       pid);

    hg_target *t = hg_target_alloc(&live_ops);
    if (!t)
        return hg_error_code();
    struct live *lv = calloc(1, sizeof *lv);
    if (!lv) {
        hg_target_close(t);
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    lv->mem_fd = lv->pagemap_fd = lv->pstat_fd = -1;
    t->backend = lv;
    t->proc_pid = pid_mm;
    t->process_id = pid;
    /* the process's own view of the file system: a container's files are
     * found where it sees them */
    snprintf(path, sizeof path, "/proc/%d/root", pid_mm);
    int rc = hg_target_set_sysroot(t, path);
    if (rc < 0)
        goto fail;
    hg_proc_exe(pid_mm, t->exe, sizeof t->exe);
    if ((rc = check_machine(pid, pid_mm)) < 0)
        goto fail;

    rc = hg_proc_maps(t, pid_mm);
    if (rc == -1) {
        rc = errno == ENOENT || errno == ESRCH
                 ? hg_fail(HG_ENOPROC, "no such process: %d", pid)
                 : hg_fail(HG_EPERM,
                           "not permitted to read process %d: run as its user or root "
                           "with CAP_SYS_PTRACE, and check kernel.yama.ptrace_scope", pid);
        goto fail;
    }
    if (rc < 0)
        goto fail;
    if (t->nmaps == 0) {
        rc = hg_fail(HG_ENOPROC, "process %d has no memory mappings (a zombie or kernel thread?)", pid);
        goto fail;
    }

    /* Probe that we may read its memory now, so a permission problem is
     * reported before any work is done. */
    uint64_t probe;
    struct iovec local = {&probe, sizeof probe};
    struct iovec remote = {(void *)(uintptr_t)t->maps[0].start, sizeof probe};
    if (process_vm_readv(pid_mm, &local, 1, &remote, 1, 0) < 0 && errno == EPERM) {
        rc = hg_fail(HG_EPERM,
                     "not permitted to read process %d: run as its user or root with "
                     "CAP_SYS_PTRACE, and check kernel.yama.ptrace_scope", pid);
        goto fail;
    }
    lv->mem_fd = hg_proc_open(pid_mm, 0, "mem");
    lv->pagemap_fd = hg_proc_open(pid_mm, 0, "pagemap");
    hg_target_fill_build_ids(t);
    *out = t;
    return 0;
fail:
    hg_target_close(t);
    return rc;
}

/*
 * A process its debugger keeps stopped (GDB's inferior): read it like a
 * live target, but never ptrace it -- it has a tracer already, and it is
 * not ours to stop or resume.  The debugger knows the threads' thread
 * pointers; heapgrab cannot ask the kernel for them without ptrace.
 */
int hg_target_from_stopped_pid(int pid, const hg_reader_thread *threads, size_t nthreads,
                               hg_target **out)
{
    *out = NULL;
    if (nthreads && !threads)
        return hg_fail(HG_EUSAGE, "threads missing");
    int rc = hg_target_attach_pid(pid, 0, out);
    if (rc < 0)
        return rc;
    hg_target *t = *out;
    struct live *lv = t->backend;
    lv->held = 1;
    lv->held_threads = calloc(nthreads ? nthreads : 1, sizeof *lv->held_threads);
    if (!lv->held_threads) {
        hg_target_close(t);
        *out = NULL;
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nthreads; i++)
        lv->held_threads[i] = (hg_thread){.tid = threads[i].tid, .fs_base = threads[i].fs_base,
                                          .stopped = 1};
    lv->nheld = nthreads;
    return 0;
}
