/*
 * pid_stop.c -- stopping a live process and letting it go (the live
 * backend's stop and resume; pid_attach.c has the rest).
 *
 * The process is only seized for the duration of a stop: PTRACE_SEIZE and
 * PTRACE_INTERRUPT every thread (clone-following, so threads born meanwhile
 * are caught), read, then PTRACE_DETACH every thread, re-injecting any
 * signal we intercepted.  Between stops heapgrab is not the tracer, so a
 * long --interval run never leaves new threads waiting on us.  If heapgrab
 * dies, the kernel detaches and resumes the threads itself.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "target/pid.h"
#include "target/procfs.h"
#include "lib/array.h"
#include "lib/error.h"

/* The threads we hold, for hg_emergency_detach() from a signal handler. */
static hg_thread *volatile emergency_threads;
static volatile size_t emergency_count;

void hg_emergency_detach(void)
{
    hg_thread *th = emergency_threads;
    size_t n = emergency_count;
    for (size_t i = 0; th && i < n; i++)
        ptrace(PTRACE_DETACH, th[i].tid, NULL, (void *)(long)th[i].pending_signal);
}

static int add_thread(hg_target *t, int tid)
{
    struct live *lv = t->backend;
    for (size_t i = 0; i < t->nthreads; i++)
        if (t->threads[i].tid == tid)
            return 0;
    if (t->nthreads == lv->cap) {
        /* Not realloc: a signal handler may be reading the old array
         * (hg_emergency_detach), so it stays valid until the new one,
         * complete, has replaced it. */
        size_t cap = lv->cap ? lv->cap * 2 : 16;
        hg_thread *nt = malloc(cap * sizeof *nt), *old = t->threads;
        if (!nt)
            return hg_fail(HG_ENOMEM, "out of memory");
        if (t->nthreads)
            memcpy(nt, old, t->nthreads * sizeof *nt);
        emergency_threads = nt;
        t->threads = nt;
        lv->cap = cap;
        free(old);
    }
    memset(&t->threads[t->nthreads], 0, sizeof t->threads[0]);
    t->threads[t->nthreads].tid = tid;
    t->nthreads++;
    emergency_count = t->nthreads;
    return 1;
}

static hg_thread *find_thread(hg_target *t, int tid)
{
    for (size_t i = 0; i < t->nthreads; i++)
        if (t->threads[i].tid == tid)
            return &t->threads[i];
    return NULL;
}

static void drop_thread(hg_target *t, int tid)
{
    for (size_t i = 0; i < t->nthreads; i++)
        if (t->threads[i].tid == tid) {
            t->threads[i] = t->threads[--t->nthreads];
            emergency_count = t->nthreads;
            return;
        }
}

/* Wait until thread th is in a ptrace-stop.  Returns 0, or 1 if it is gone
 * (2: not yet, with WNOHANG). */
static int wait_stopped(hg_target *t, hg_thread *th, int options)
{
    for (int guard = 0; guard < 64; guard++) {
        int status;
        pid_t r = waitpid(th->tid, &status, __WALL | options);
        if (r == 0)
            return 2; /* WNOHANG: nothing to report yet */
        if (r < 0) {
            if (errno == EINTR)
                return hg_fail(HG_EINTR, "interrupted while stopping the target");
            return 1; /* ECHILD: gone */
        }
        if (WIFEXITED(status) || WIFSIGNALED(status))
            return 1;
        if (!WIFSTOPPED(status))
            continue;
        int event = status >> 16;
        if (event == PTRACE_EVENT_CLONE || event == PTRACE_EVENT_FORK ||
            event == PTRACE_EVENT_VFORK) {
            unsigned long child = 0;
            ptrace(PTRACE_GETEVENTMSG, th->tid, NULL, &child);
            if (event == PTRACE_EVENT_CLONE && child) {
                int rc = add_thread(t, (int)child);
                if (rc < 0)
                    return rc;
            }
            th->stopped = 1;
            return 0;
        }
        if (event == 0 && WSTOPSIG(status) != SIGTRAP) {
            /* A signal was on its way to the thread: keep it and hand it
             * back at detach, so the target never loses a signal. */
            th->pending_signal = WSTOPSIG(status);
        }
        th->stopped = 1;
        return 0;
    }
    return hg_fail(HG_EINTERNAL, "thread %d did not stop", th->tid);
}

/*
 * Wait for the group leader, which must not block: if the process is
 * killed now, the kernel reports the leader's exit only after every other
 * thread has been reaped, and threads we trace are reaped by us.  So poll
 * it, reaping the others that die meanwhile.  In the usual case its stop
 * is already waiting by the time the others have been seen.
 */
static int wait_leader(hg_target *t, int tid)
{
    uint64_t t0 = hg_now_ns();
    for (unsigned spin = 0;; spin++) {
        hg_thread *th = find_thread(t, tid);
        if (!th)
            return 1;
        int rc = wait_stopped(t, th, WNOHANG);
        if (rc != 2)
            return rc;
        for (size_t i = 0; i < t->nthreads; i++) {
            int o = t->threads[i].tid, status;
            if (o != tid && waitpid(o, &status, __WALL | WNOHANG) == o &&
                (WIFEXITED(status) || WIFSIGNALED(status))) {
                drop_thread(t, o);
                i--;
            }
        }
        if (hg_now_ns() - t0 > 5000000000ull)
            return hg_fail(HG_EIO, "thread %d of process %d did not stop within 5 s (in an "
                           "uninterruptible wait?): try again", tid, t->process_id);
        if (spin < 64) {
            sched_yield();
        } else {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
    }
}

/* Seize and interrupt the threads thread_states just saw.  Failures are
 * left to list_tasks, which the count check sends us to. */
static int seize_known(hg_target *t, int *added)
{
    struct live *lv = t->backend;
    *added = 0;
    for (size_t i = 0; i < lv->nknown; i++) {
        int tid = lv->known[i];
        if (find_thread(t, tid) ||
            ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)PTRACE_O_TRACECLONE) < 0)
            continue;
        int rc = add_thread(t, tid);
        if (rc < 0)
            return rc;
        ptrace(PTRACE_INTERRUPT, tid, NULL, NULL);
        (*added)++;
    }
    return 0;
}

/* Whether the threads we hold are all the process has: its num_threads
 * (field 20 of /proc/PID/stat) against our count.  Every thread we hold is
 * stopped, so only a thread we do not hold could add one. */
static int all_held(hg_target *t)
{
    struct live *lv = t->backend;
    if (lv->pstat_fd < 0)
        lv->pstat_fd = hg_proc_open(t->proc_pid, 0, "stat");
    return hg_proc_stat_threads(lv->pstat_fd) == (long)t->nthreads;
}

/* Whether process pid is heapgrab: the CLI, or a program using the
 * library (the Python package in python3, say). */
static int is_heapgrab(int pid)
{
    char name[64];
    hg_proc_comm(pid, 0, name, sizeof name, "?");
    return !strcmp(name, "heapgrab") || hg_proc_maps_mention(pid, "/libheapgrab.so");
}

/*
 * PTRACE_SEIZE of thread tid failed with EPERM, and the kernel does not
 * say why.  /proc/PID/task/TID/status does: 0 if the thread is ours or
 * has exited (skip it), 1 if it is free now (try it again), or the error
 * that ends the stop.
 *
 * The thread may be traced already.  By us: a clone of a thread we hold,
 * attached to us by PTRACE_O_TRACECLONE (its parent's clone event adds it
 * to our list).  By another process: a debugger, strace -p on that one
 * thread, or another heapgrab.  The stop is then refused, never taken
 * with that thread running; live_stop releases what we hold.  Another
 * heapgrab lets go within its own stop, so live_stop waits for it
 * (lv->busy_*).
 */
static int seize_refused(hg_target *t, int tid)
{
    struct live *lv = t->backend;
    int tracer = hg_proc_tracer(t->proc_pid, tid);
    if (tracer == (int)syscall(SYS_gettid))
        return 0;
    if (tracer <= 0 && hg_proc_task_exited(t->proc_pid, tid))
        return 0; /* a zombie: the main thread called pthread_exit and the
                   * others run on, or the process is dying */
    if (tracer == 0)
        return 1; /* its tracer let go meanwhile */
    if (tracer < 0)
        return 0; /* gone */
    /* the tracer's process: TracerPid is the tracing thread */
    char name[64];
    int tracer_process = hg_proc_tgid(tracer);
    if (is_heapgrab(tracer_process)) {
        lv->busy_tracer = tracer;
        lv->busy_tid = tid;
        lv->busy_process = tracer_process;
        return hg_fail(HG_EPERM, "another heapgrab (pid %d) holds process %d: wait for it "
                       "and try again", tracer_process, t->process_id);
    }
    hg_proc_comm(tracer_process, 0, name, sizeof name, "?");
    if (tid == t->process_id)
        return hg_fail(HG_EPERM, "process %d is already traced by process %d (%s): detach it "
                       "first (a debugger: use heapsnap inside GDB)", t->process_id,
                       tracer_process, name);
    return hg_fail(HG_EPERM, "thread %d of process %d is already traced by process %d (%s): "
                   "detach it first (a debugger: use heapsnap inside GDB)", tid, t->process_id,
                   tracer_process, name);
}

static int list_tasks(hg_target *t, int *added)
{
    int *tids;
    size_t ntids;
    *added = 0;
    if (hg_proc_tasks(t->proc_pid, &tids, &ntids) != 0)
        return errno == ENOMEM ? hg_fail(HG_ENOMEM, "out of memory")
                               : hg_fail(HG_ENOPROC, "process %d exited", t->process_id);
    int rc = 0;
    for (size_t k = 0; k < ntids && rc == 0; k++) {
        int tid = tids[k];
        if (find_thread(t, tid))
            continue;
        int seized = 0, e = 0;
        rc = 1;
        /* a second try or two when a tracer has just let the thread go */
        for (int attempt = 0; attempt < 3 && rc == 1; attempt++) {
            seized = ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)PTRACE_O_TRACECLONE) == 0;
            e = seized ? 0 : errno;
            rc = seized || e != EPERM ? 0 : seize_refused(t, tid);
        }
        if (rc < 0)
            break;
        if (!seized) {
            if (e == ESRCH || (e == EPERM && rc == 0))
                continue; /* exited, or ours already */
            if (e == EPERM && hg_proc_exited(t->process_id))
                rc = hg_fail(HG_ENOPROC, "process %d has exited (a zombie, not yet reaped by "
                             "its parent)", t->process_id);
            else if (e == EPERM)
                rc = hg_fail(HG_EPERM,
                             "not permitted to trace process %d: run as its user or "
                             "root with CAP_SYS_PTRACE, and check "
                             "kernel.yama.ptrace_scope (0 or 1 with same user)", t->process_id);
            else
                rc = hg_fail(HG_EINTERNAL, "PTRACE_SEIZE %d: %s", tid, strerror(e));
            break;
        }
        if ((rc = add_thread(t, tid)) < 0)
            break;
        rc = 0;
        ptrace(PTRACE_INTERRUPT, tid, NULL, NULL);
        (*added)++;
    }
    free(tids);
    return rc;
}

/*
 * While it holds the target, heapgrab's thread runs at the highest
 * priority it may take.  Each PTRACE_DETACH wakes a thread of a busy
 * target, and at any nice value the scheduler now and then lets the woken
 * thread run ahead of heapgrab, which then waits a time slice with the
 * rest of the target still stopped.  2 cores, 16 busy threads, 100 Hz:
 * releasing took 5 ms a tick at nice -20, 0.1 ms under SCHED_FIFO, and the
 * whole stop went from 6.4 ms to 0.4 ms.  The real-time class needs root
 * or CAP_SYS_NICE; without it, nice -20, and without that, nothing.  It
 * lasts only while the target is stopped (the kernel's real-time
 * throttling, 95% of each second by default, bounds even a long heap
 * walk), is not inherited by children (SCHED_RESET_ON_FORK), and is put
 * back on resume.  On Linux these calls change the calling thread only.
 */
static void boost(struct live *lv)
{
    lv->rt = 0;
    lv->boosted = 0;
    lv->policy_was = sched_getscheduler(0);
    if (lv->policy_was == SCHED_OTHER && sched_getparam(0, &lv->param_was) == 0) {
        struct sched_param sp = {.sched_priority = 1};
        if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) == 0) {
            lv->rt = 1;
            return;
        }
    }
    errno = 0;
    lv->nice_was = getpriority(PRIO_PROCESS, 0);
    lv->boosted = errno == 0 && lv->nice_was > -20 && setpriority(PRIO_PROCESS, 0, -20) == 0;
}

static void unboost(struct live *lv)
{
    if (lv->rt)
        sched_setscheduler(0, lv->policy_was, &lv->param_was);
    if (lv->boosted)
        setpriority(PRIO_PROCESS, 0, lv->nice_was);
    lv->rt = 0;
    lv->boosted = 0;
}

/* Let one thread go.  PTRACE_DETACH fails with ESRCH when the thread is
 * not in a ptrace-stop: it is not stopped yet (a stop cut short), or it is
 * exiting.  Either way it has something to report to us, its tracer: wait
 * for that, then detach from the stop, or let the exit go (reaped). */
static void release(hg_thread *th)
{
    if (ptrace(PTRACE_DETACH, th->tid, NULL, (void *)(long)th->pending_signal) == 0 ||
        errno != ESRCH)
        return;
    for (int guard = 0; guard < 64; guard++) {
        int status;
        pid_t r = waitpid(th->tid, &status, __WALL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r != th->tid || !WIFSTOPPED(status))
            return; /* gone, and reaped */
        unsigned long child = 0;
        if (status >> 16 == PTRACE_EVENT_CLONE &&
            ptrace(PTRACE_GETEVENTMSG, th->tid, NULL, &child) == 0 && child) {
            /* born while we held its parent, so traced by us too */
            hg_thread born = {.tid = (int)child};
            release(&born);
        }
        if (ptrace(PTRACE_DETACH, th->tid, NULL, (void *)(long)th->pending_signal) == 0 ||
            errno != ESRCH)
            return;
    }
}

/* Let every thread we hold go (none when a debugger holds them); how long
 * they were held, from the stop's first interrupt. */
static uint64_t release_all(hg_target *t)
{
    struct live *lv = t->backend;
    /* The leader last: its exit is not reported before the others'. */
    for (int leader = 0; leader < 2 && !lv->held; leader++)
        for (size_t i = 0; i < t->nthreads; i++)
            if ((t->threads[i].tid == t->process_id) == leader)
                release(&t->threads[i]);
    uint64_t held = lv->stopped_at ? hg_now_ns() - lv->stopped_at : 0;
    lv->stopped_at = 0;
    t->nthreads = 0;
    emergency_count = 0;
    unboost(lv);
    return held;
}

int hg_live_resume(hg_target *t, uint64_t *stopped_ns)
{
    struct live *lv = t->backend;
    uint64_t held = release_all(t);
    if (stopped_ns)
        *stopped_ns = held;
    /* The stop read the mappings again; their files are looked at now
     * that the target runs. */
    if (lv->fill_ids) {
        lv->fill_ids = 0;
        hg_target_fill_build_ids(t);
    }
    if (lv->gone)
        return hg_fail(HG_ENOPROC, "process %d exited during the snapshot", t->process_id);
    return 0;
}

void hg_live_let_go(hg_target *t)
{
    if (t->nthreads)
        release_all(t);
    if (emergency_threads == t->threads) {
        emergency_count = 0;
        emergency_threads = NULL;
    }
}

/*
 * The mappings may have changed since the last look (new thread heaps, new
 * mmapped chunks): take them again now that nothing moves.  The build-ids
 * of the mappings that were there already are kept; the others are looked
 * up by resume, outside the stop.
 */
static int refresh_maps(hg_target *t)
{
    struct live *lv = t->backend;
    hg_mapping *old = t->maps;
    size_t nold = t->nmaps;
    t->maps = NULL;
    t->nmaps = 0;
    int rc = hg_proc_maps(t, t->proc_pid);
    if (rc != 0) {
        hg_free_maps(t);
        t->maps = old;
        t->nmaps = nold;
        return rc == -1 ? 0 : rc; /* unreadable: keep the ones we had */
    }
    /* both sorted by start: one pass */
    for (size_t i = 0, j = 0; i < t->nmaps && j < nold; i++) {
        hg_mapping *m = &t->maps[i];
        while (j < nold && old[j].start < m->start)
            j++;
        if (j < nold && old[j].start == m->start && old[j].end == m->end &&
            old[j].offset == m->offset && strcmp(old[j].path, m->path) == 0) {
            m->build_id = old[j].build_id;
            old[j].build_id = NULL;
        }
    }
    for (size_t j = 0; j < nold; j++) {
        free((char *)old[j].path);
        free((char *)old[j].build_id);
    }
    free(old);
    lv->fill_ids = 1;
    return 0;
}

static int stop_once(hg_target *t, unsigned flags)
{
    struct live *lv = t->backend;
    int rc;
    t->nthreads = 0;
    boost(lv);
    lv->stopped_at = hg_now_ns(); /* the stop begins with the first interrupt */
    /* Seize and interrupt every task; wait for all of them; look again
     * until a pass finds no thread we do not hold.  In a profile the first
     * pass takes the threads thread_states has just listed, and one read of
     * the thread count can spare the listing passes. */
    int known = lv->known_fresh && lv->nknown > 0;
    lv->known_fresh = 0;
    for (int pass = 0; pass < 1000; pass++) {
        int added = 0;
        if ((rc = known && pass == 0 ? seize_known(t, &added) : list_tasks(t, &added)) < 0)
            goto fail;
        /* The group leader is waited for last: if the process dies now,
         * the kernel holds back the leader's exit until every other
         * thread has been reaped, and we are the ones who reap them. */
        size_t before;
        do {
            before = t->nthreads;
            for (int leader = 0; leader < 2; leader++)
                for (size_t i = 0; i < t->nthreads; i++) {
                    hg_thread *th = &t->threads[i];
                    if (th->stopped || (th->tid == t->process_id) != leader)
                        continue;
                    int tid = th->tid; /* wait_leader may reorder the threads */
                    rc = leader ? wait_leader(t, tid) : wait_stopped(t, th, 0);
                    if (rc < 0)
                        goto fail;
                    if (rc == 1) {
                        drop_thread(t, tid);
                        i--;
                    }
                }
        } while (t->nthreads != before);
        if (known && pass == 0 && t->nthreads > 0 && all_held(t))
            break;
        if (added == 0 && pass > 0)
            break;
    }
    if (t->nthreads == 0) {
        rc = hg_fail(HG_ENOPROC, "process %d exited", t->process_id);
        goto fail;
    }
    if (!(flags & HG_STOP_KEEP_MAPS) && (rc = refresh_maps(t)) < 0)
        goto fail;
    for (size_t i = 0; i < t->nthreads; i++) {
        struct user_regs_struct regs;
        if (ptrace(PTRACE_GETREGS, t->threads[i].tid, NULL, &regs) == 0)
            hg_thread_set_regs(&t->threads[i], &regs);
    }
    lv->nlast = 0;
    for (size_t i = 0; i < t->nthreads; i++) {
        if (hg_array_reserve_((void **)&lv->last, &lv->caplast, sizeof *lv->last,
                              lv->nlast + 1) != 0) {
            lv->nlast = 0; /* thread_states lists /proc/PID/task instead */
            break;
        }
        lv->last[lv->nlast++] = t->threads[i].tid;
    }
    return 0;
fail:
    release_all(t);
    return rc;
}

/* How long a stop waits for another heapgrab holding the process before
 * it gives up.  A heapgrab holds a process for one walk of its heap: about
 * 0.7 s for 1.6 GiB here; a profile for a fraction of a millisecond a tick. */
enum { BUSY_WAIT_S = 30 };

int hg_live_stop(hg_target *t, unsigned flags)
{
    struct live *lv = t->backend;
    if (lv->held) {
        /* Its debugger holds it: the threads are the debugger's. */
        int rc;
        lv->stopped_at = hg_now_ns();
        t->nthreads = 0;
        if ((rc = hg_target_set_threads(t, lv->held_threads, lv->nheld)) < 0 ||
            (!(flags & HG_STOP_KEEP_MAPS) && (rc = refresh_maps(t)) < 0))
            return rc;
        return 0;
    }
    /* Another heapgrab's stop is short: when this one meets it, let go of
     * everything (stop_once has), wait for it to release the thread it
     * held, and start again -- for BUSY_WAIT_S seconds at most. */
    uint64_t waiting_since = 0;
    for (;;) {
        lv->busy_tracer = 0;
        int rc = stop_once(t, flags);
        if (rc == 0 || !lv->busy_tracer)
            return rc;
        uint64_t now = hg_now_ns();
        if (!waiting_since)
            waiting_since = now;
        while (hg_proc_tracer(t->proc_pid, lv->busy_tid) == lv->busy_tracer) {
            if (now - waiting_since > BUSY_WAIT_S * 1000000000ull)
                return hg_fail(HG_EPERM, "another heapgrab (pid %d) has held process %d for "
                               "%d s: try again later", lv->busy_process, t->process_id,
                               BUSY_WAIT_S);
            struct timespec ts = {0, 1000000}; /* 1 ms */
            if (nanosleep(&ts, NULL) != 0 && errno == EINTR)
                return hg_fail(HG_EINTR, "interrupted while waiting for another heapgrab "
                               "(pid %d) to release process %d", lv->busy_process,
                               t->process_id);
            now = hg_now_ns();
        }
    }
}
