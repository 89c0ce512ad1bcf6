/*
 * live.c -- a running process, through ptrace and process_vm_readv.
 *
 * The process is only seized for the duration of a stop: PTRACE_SEIZE and
 * PTRACE_INTERRUPT every thread (clone-following, so threads born meanwhile
 * are caught), read, then PTRACE_DETACH every thread, re-injecting any
 * signal we intercepted.  Between stops heapgrab is not the tracer, so a
 * long --interval run never leaves new threads waiting on us.  If heapgrab
 * dies, the kernel detaches and resumes the threads itself.
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "target/target.h"
#include "lib/error.h"

struct live {
    int mem_fd;       /* /proc/PID/mem, fallback reader */
    int pagemap_fd;   /* /proc/PID/pagemap, -1 if unavailable */
    size_t cap;       /* capacity of t->threads */
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
    struct {
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
};

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

static int read_file(const char *path, char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            close(fd);
            errno = ENOMEM;
            return -1;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (cap - len < 4096) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    return 0;
}

static long live_read(hg_target *t, uint64_t addr, void *buf, size_t len)
{
    struct live *lv = t->backend;
    size_t done = 0;
    while (done < len) {
        struct iovec local = {(char *)buf + done, len - done};
        struct iovec remote = {(void *)(uintptr_t)(addr + done), len - done};
        ssize_t n = process_vm_readv(t->pid, &local, 1, &remote, 1, 0);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == ESRCH) {
            t->gone = 1;
            return hg_fail(HG_ENOPROC, "process %d exited during the snapshot", t->process_id);
        }
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
    size_t i = 0;
    while (i < n) {
        struct iovec local[64], remote[64];
        size_t k = 0;
        for (; k < 64 && i + k < n; k++) {
            local[k] = (struct iovec){s[i + k].buf, s[i + k].len};
            remote[k] = (struct iovec){(void *)(uintptr_t)s[i + k].addr, s[i + k].len};
        }
        ssize_t got = process_vm_readv(t->pid, local, k, remote, k, 0);
        if (got < 0 && errno == ESRCH) {
            t->gone = 1;
            return hg_fail(HG_ENOPROC, "process %d exited during the snapshot", t->process_id);
        }
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

/* The value of a field ("TracerPid") of a status file (/proc/PID/status
 * or /proc/PID/task/TID/status), copied into out; -1 if the file or the
 * field is not there. */
static int status_field(const char *path, const char *key, char *out, size_t len)
{
    char *text, want[64];
    if (read_file(path, &text) < 0)
        return -1;
    snprintf(want, sizeof want, "\n%s:", key);
    char *p = strstr(text, want);
    if (p) {
        p += strlen(want);
        p += strspn(p, " \t");
        snprintf(out, len, "%.*s", (int)strcspn(p, "\n"), p);
    }
    free(text);
    return p ? 0 : -1;
}

/* The thread tracing thread tid of process pid: 0 if none, -1 if the
 * thread is gone.  (TracerPid names the tracing thread, not its process.) */
static int tracer_of_task(int pid, int tid)
{
    char path[96], v[32];
    snprintf(path, sizeof path, "/proc/%d/task/%d/status", pid, tid);
    return status_field(path, "TracerPid", v, sizeof v) == 0 ? atoi(v) : -1;
}

/* A zombie (or dying) process refuses PTRACE_SEIZE with EPERM, like a
 * process we may not trace: tell them apart by its state. */
static int exited(int pid)
{
    char path[64], v[32];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    return status_field(path, "State", v, sizeof v) != 0 || v[0] == 'Z' || v[0] == 'X';
}

/* The run state ('R', 'S', 'Z', ...) in a /proc/.../stat file open at fd:
 * the third field, after the name in parentheses (which may hold spaces
 * and parentheses itself); '?' if it cannot be read. */
static char stat_state(int fd)
{
    char buf[512];
    ssize_t n = fd >= 0 ? pread(fd, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0)
        return '?';
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] ? paren[2] : '?';
}

/* Whether thread tid of process pid has exited (gone, or a zombie). */
static int task_exited(int pid, int tid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char st = stat_state(fd);
    if (fd >= 0)
        close(fd);
    return st == '?' || st == 'Z' || st == 'X';
}

/* A thread of process pid that has not exited, or -1. */
static int living_task(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *de;
    int found = -1;
    while (found < 0 && (de = readdir(d))) {
        int tid = atoi(de->d_name);
        if (tid > 0 && !task_exited(pid, tid))
            found = tid;
    }
    closedir(d);
    return found;
}

/* Append tid to a growing list of tids. */
static int push_tid(int **v, size_t *n, size_t *cap, int tid)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 32;
        int *nv = realloc(*v, c * sizeof *nv);
        if (!nv)
            return hg_fail(HG_ENOMEM, "out of memory");
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = tid;
    return 0;
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
    char buf[1024];
    if (lv->pstat_fd < 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", t->pid);
        lv->pstat_fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    ssize_t n = lv->pstat_fd >= 0 ? pread(lv->pstat_fd, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 20; field++)
        p = strchr(p + 1, ' ');
    return p && strtol(p + 1, NULL, 10) == (long)t->nthreads;
}

/* The name (comm) of process pid into buf, "?" if unknown. */
static void process_name(int pid, char *buf, size_t len)
{
    char path[64], *text;
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    snprintf(buf, len, "?");
    if (read_file(path, &text) == 0) {
        snprintf(buf, len, "%.*s", (int)strcspn(text, "\n"), text);
        free(text);
    }
}

/* Whether process pid is heapgrab: the CLI, or a program using the
 * library (the Python package in python3, say). */
static int is_heapgrab(int pid)
{
    char name[64], path[64], *maps;
    process_name(pid, name, sizeof name);
    if (!strcmp(name, "heapgrab"))
        return 1;
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    if (read_file(path, &maps) < 0)
        return 0;
    int found = strstr(maps, "/libheapgrab.so") != NULL;
    free(maps);
    return found;
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
    int tracer = tracer_of_task(t->pid, tid);
    if (tracer == (int)syscall(SYS_gettid))
        return 0;
    if (tracer <= 0 && task_exited(t->pid, tid))
        return 0; /* a zombie: the main thread called pthread_exit and the
                   * others run on, or the process is dying */
    if (tracer == 0)
        return 1; /* its tracer let go meanwhile */
    if (tracer < 0)
        return 0; /* gone */
    /* the tracer's process: TracerPid is the tracing thread */
    char path[64], v[32], name[64];
    snprintf(path, sizeof path, "/proc/%d/status", tracer);
    int tracer_process = status_field(path, "Tgid", v, sizeof v) == 0 ? atoi(v) : tracer;
    if (is_heapgrab(tracer_process)) {
        lv->busy_tracer = tracer;
        lv->busy_tid = tid;
        lv->busy_process = tracer_process;
        return hg_fail(HG_EPERM, "another heapgrab (pid %d) holds process %d: wait for it "
                       "and try again", tracer_process, t->process_id);
    }
    process_name(tracer_process, name, sizeof name);
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
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", t->pid);
    DIR *d = opendir(path);
    if (!d)
        return hg_fail(HG_ENOPROC, "process %d exited", t->process_id);
    struct dirent *de;
    *added = 0;
    while ((de = readdir(d))) {
        int tid = atoi(de->d_name);
        if (tid <= 0 || find_thread(t, tid))
            continue;
        int seized = 0, e = 0, rc = 1;
        /* a second try or two when a tracer has just let the thread go */
        for (int attempt = 0; attempt < 3 && rc == 1; attempt++) {
            seized = ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)PTRACE_O_TRACECLONE) == 0;
            e = seized ? 0 : errno;
            rc = seized || e != EPERM ? 0 : seize_refused(t, tid);
        }
        if (rc < 0) {
            closedir(d);
            return rc;
        }
        if (!seized) {
            if (e == ESRCH || (e == EPERM && rc == 0))
                continue; /* exited, or ours already */
            closedir(d);
            if (e == EPERM && exited(t->process_id))
                return hg_fail(HG_ENOPROC, "process %d has exited (a zombie, not yet reaped by "
                               "its parent)", t->process_id);
            if (e == EPERM)
                return hg_fail(HG_EPERM,
                               "not permitted to trace process %d: run as its user or "
                               "root with CAP_SYS_PTRACE, and check "
                               "kernel.yama.ptrace_scope (0 or 1 with same user)", t->process_id);
            return hg_fail(HG_EINTERNAL, "PTRACE_SEIZE %d: %s", tid, strerror(e));
        }
        rc = add_thread(t, tid);
        if (rc < 0) {
            closedir(d);
            return rc;
        }
        ptrace(PTRACE_INTERRUPT, tid, NULL, NULL);
        (*added)++;
    }
    closedir(d);
    return 0;
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

static void live_resume(hg_target *t)
{
    struct live *lv = t->backend;
    /* The leader last: its exit is not reported before the others'. */
    for (int leader = 0; leader < 2 && !lv->held; leader++)
        for (size_t i = 0; i < t->nthreads; i++)
            if ((t->threads[i].tid == t->process_id) == leader)
                release(&t->threads[i]);
    if (t->stopped_at_ns)
        t->stopped_ns = hg_now_ns() - t->stopped_at_ns;
    t->stopped_at_ns = 0;
    t->nthreads = 0;
    emergency_count = 0;
    unboost(lv);
}

static int refresh_maps(hg_target *t);

static int stop_once(hg_target *t)
{
    struct live *lv = t->backend;
    int rc;
    t->nthreads = 0;
    t->stopped_ns = 0;
    boost(lv);
    t->stopped_at_ns = hg_now_ns(); /* the stop begins with the first interrupt */
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
    /* The mappings may have changed since attach (new thread heaps, new
     * mmapped chunks): take them again now that nothing moves. */
    if (!t->keep_maps && (rc = refresh_maps(t)) < 0)
        goto fail;
    for (size_t i = 0; i < t->nthreads; i++) {
        struct user_regs_struct regs;
        if (ptrace(PTRACE_GETREGS, t->threads[i].tid, NULL, &regs) == 0)
            hg_thread_set_regs(&t->threads[i], &regs);
    }
    lv->nlast = 0;
    for (size_t i = 0; i < t->nthreads; i++)
        if (push_tid(&lv->last, &lv->nlast, &lv->caplast, t->threads[i].tid) < 0) {
            lv->nlast = 0; /* thread_states lists /proc/PID/task instead */
            break;
        }
    return 0;
fail:
    live_resume(t);
    return rc;
}

/* How long a stop waits for another heapgrab holding the process before
 * it gives up.  A heapgrab holds a process for one walk of its heap: about
 * 0.7 s for 1.6 GiB here; a profile for a fraction of a millisecond a tick. */
enum { BUSY_WAIT_S = 30 };

static int live_stop(hg_target *t)
{
    struct live *lv = t->backend;
    t->stopped_at_ns = hg_now_ns();
    if (lv->held) {
        int rc;
        t->nthreads = 0;
        t->stopped_ns = 0;
        if ((rc = hg_target_set_threads(t, lv->held_threads, lv->nheld)) < 0 ||
            (rc = refresh_maps(t)) < 0)
            return rc;
        return 0;
    }
    /* Another heapgrab's stop is short: when this one meets it, let go of
     * everything (stop_once has), wait for it to release the thread it
     * held, and start again -- for BUSY_WAIT_S seconds at most. */
    uint64_t waiting_since = 0;
    for (;;) {
        lv->busy_tracer = 0;
        int rc = stop_once(t);
        if (rc == 0 || !lv->busy_tracer)
            return rc;
        uint64_t now = hg_now_ns();
        if (!waiting_since)
            waiting_since = now;
        while (tracer_of_task(t->pid, lv->busy_tid) == lv->busy_tracer) {
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

static int refresh_maps(hg_target *t)
{
    char path[64], *maps;
    snprintf(path, sizeof path, "/proc/%d/maps", t->pid);
    if (read_file(path, &maps) != 0)
        return 0; /* keep the ones read at attach */
    int rc = hg_parse_maps(t, maps);
    free(maps);
    return rc;
}

static int live_resident(hg_target *t, uint64_t addr, size_t npages, uint8_t *present)
{
    struct live *lv = t->backend;
    if (lv->pagemap_fd < 0)
        return -1;
    uint64_t buf[1024];
    size_t done = 0;
    while (done < npages) {
        size_t n = npages - done < 1024 ? npages - done : 1024;
        off_t off = (off_t)((addr / 4096 + done) * 8);
        ssize_t r = pread(lv->pagemap_fd, buf, n * 8, off);
        if (r <= 0)
            return -1;
        n = (size_t)r / 8;
        /* bit 63: present in RAM; bit 62: swapped out */
        for (size_t i = 0; i < n; i++)
            present[done + i] = (buf[i] >> 63) & 1 ? 1 : (buf[i] >> 62) & 1 ? 2 : 0;
        done += n;
    }
    return 0;
}

static uint64_t live_rss(hg_target *t)
{
    char path[64], *text;
    snprintf(path, sizeof path, "/proc/%d/status", t->pid);
    if (read_file(path, &text) < 0)
        return 0;
    uint64_t kb = 0;
    char *p = strstr(text, "\nVmRSS:");
    if (p)
        kb = strtoull(p + 7, NULL, 10);
    free(text);
    return kb * 1024;
}

/* A thread's stat and schedstat files (thread_states). */
static void close_task_files(const int fd[2])
{
    for (int i = 0; i < 2; i++)
        if (fd[i] >= 0)
            close(fd[i]);
}

static void live_close(hg_target *t)
{
    struct live *lv = t->backend;
    if (t->nthreads && !lv->held)
        live_resume(t);
    if (emergency_threads == t->threads) {
        emergency_count = 0;
        emergency_threads = NULL;
    }
    if (lv) {
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
    }
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
        if (lv->nstatfd == lv->capstatfd) {
            size_t cap = lv->capstatfd ? lv->capstatfd * 2 : 32;
            void *v = realloc(lv->statfd, cap * sizeof *lv->statfd);
            if (!v)
                return -1;
            lv->statfd = v;
            lv->capstatfd = cap;
        }
        lv->statfd[i].tid = tid;
        lv->statfd[i].fd[0] = lv->statfd[i].fd[1] = -1;
        lv->nstatfd++;
    }
    lv->statfd[i].seen = lv->listing;
    if (lv->statfd[i].fd[which] < 0) {
        char path[96];
        snprintf(path, sizeof path, "/proc/%d/task/%d/%s", t->pid, tid, names[which]);
        lv->statfd[i].fd[which] = open(path, O_RDONLY | O_CLOEXEC);
    }
    return lv->statfd[i].fd[which];
}

/* The first field of a schedstat file open at fd: nanoseconds the task
 * has run on a CPU (the kernel's own sum, the one getrusage and
 * CLOCK_PROCESS_CPUTIME_ID add up).  0, or -1 if it cannot be read (the
 * thread has ended). */
static int schedstat_cpu(int fd, uint64_t *ns)
{
    char buf[128];
    ssize_t n = fd >= 0 ? pread(fd, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    if (end == buf || *end != ' ')
        return -1;
    *ns = v;
    return 0;
}

/* One thread's state and/or CPU time into *out and, if it is alive, the
 * known list. */
static int add_state(hg_target *t, int tid, unsigned what, hg_thread_state **out, size_t *n,
                     size_t *cap)
{
    struct live *lv = t->backend;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        hg_thread_state *v = realloc(*out, *cap * sizeof *v);
        if (!v)
            return hg_fail(HG_ENOMEM, "out of memory");
        *out = v;
    }
    hg_thread_state ts = {.tid = tid, .state = '?'};
    int alive = 1;
    if (what & HG_THREAD_RUN_STATE) {
        ts.state = stat_state(task_fd(t, tid, TASK_STAT));
        alive = ts.state != '?' && ts.state != 'Z' && ts.state != 'X';
    }
    if (what & HG_THREAD_CPU_TIME) {
        ts.have_cpu = schedstat_cpu(task_fd(t, tid, TASK_SCHEDSTAT), &ts.cpu_ns) == 0;
        alive = alive && ts.have_cpu;
    }
    (*out)[(*n)++] = ts;
    if (!alive)
        return 0;
    return push_tid(&lv->known, &lv->nknown, &lv->capknown, tid);
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
    *out = NULL;
    *n = 0;
    lv->listing++;
    lv->nknown = 0;
    lv->known_fresh = 0;
    size_t cap = 0;
    int rc = 0;
    if (lv->nlast > 0) {
        for (size_t i = 0; i < lv->nlast && rc == 0; i++)
            rc = add_state(t, lv->last[i], what, out, n, &cap);
    } else {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/task", t->pid);
        DIR *d = opendir(path);
        if (!d)
            return hg_fail(HG_ENOPROC, "process %d exited", t->process_id);
        struct dirent *de;
        while (rc == 0 && (de = readdir(d))) {
            int tid = atoi(de->d_name);
            if (tid > 0)
                rc = add_state(t, tid, what, out, n, &cap);
        }
        closedir(d);
    }
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
        return rc;
    }
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
    char path[96], *text;
    snprintf(path, sizeof path, "/proc/%d/task/%d/comm", t->pid, tid);
    buf[0] = '\0';
    if (read_file(path, &text) == 0) {
        snprintf(buf, len, "%.*s", (int)strcspn(text, "\n"), text);
        free(text);
    }
}

static const struct hg_target_ops live_ops = {
    .read = live_read,
    .read_spans = live_read_spans,
    .stop = live_stop,
    .resume = live_resume,
    .resident = live_resident,
    .rss = live_rss,
    .thread_states = live_thread_states,
    .process_cpu = live_process_cpu,
    .thread_name = live_thread_name,
    .close = live_close,
    .concurrent_reads = 1,
};

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
     * t->pid is that thread, t->process_id the process. */
    int pid_mm = pid;
    if (task_exited(pid, pid))
        pid_mm = living_task(pid);
    if (pid_mm <= 0)
        return hg_fail(HG_ENOPROC, "process %d has exited (a zombie, not yet reaped by its parent)",
                       pid);

    hg_target *t = hg_target_alloc(&live_ops);
    struct live *lv = calloc(1, sizeof *lv);
    if (!t || !lv) {
        free(t);
        free(lv);
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    lv->mem_fd = lv->pagemap_fd = lv->pstat_fd = -1;
    t->backend = lv;
    t->pid = pid_mm;
    t->process_id = pid;
    snprintf(t->root, sizeof t->root, "/proc/%d/root", pid_mm);

    snprintf(path, sizeof path, "/proc/%d/exe", pid_mm);
    ssize_t n = readlink(path, t->exe, sizeof t->exe - 1);
    t->exe[n > 0 ? n : 0] = '\0';

    /* heapgrab knows x86_64 glibc only: refuse anything else up front. */
    int rc;
    snprintf(path, sizeof path, "/proc/%d/exe", pid_mm);
    int efd = open(path, O_RDONLY | O_CLOEXEC);
    if (efd >= 0) {
        Elf64_Ehdr eh;
        ssize_t got = read(efd, &eh, sizeof eh);
        close(efd);
        if (got >= (ssize_t)EI_NIDENT + 4 && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
            (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64)) {
            rc = hg_fail(HG_EUNSUPPORTED,
                         "process %d is not an x86_64 program (ELF class %d, machine %d): "
                         "heapgrab supports x86_64 only", pid, eh.e_ident[EI_CLASS],
                         got >= 20 ? eh.e_machine : -1);
            goto fail;
        }
    }

    char *maps;
    snprintf(path, sizeof path, "/proc/%d/maps", pid_mm);
    if (read_file(path, &maps) < 0) {
        rc = errno == ENOENT || errno == ESRCH
                 ? hg_fail(HG_ENOPROC, "no such process: %d", pid)
                 : hg_fail(HG_EPERM,
                           "not permitted to read process %d: run as its user or root "
                           "with CAP_SYS_PTRACE, and check kernel.yama.ptrace_scope", pid);
        goto fail;
    }
    rc = hg_parse_maps(t, maps);
    free(maps);
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
    snprintf(path, sizeof path, "/proc/%d/mem", pid_mm);
    lv->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
    snprintf(path, sizeof path, "/proc/%d/pagemap", pid_mm);
    lv->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
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
