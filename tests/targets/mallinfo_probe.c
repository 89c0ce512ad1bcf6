/*
 * mallinfo_probe: glibc's own mallinfo2(), asked of a program nobody here
 * wrote, without a debugger calling it.
 *
 * The realworld tests need glibc's figures for perl, nginx, postgres...
 * GDB could call mallinfo2() in the stopped process, but on a CPU with AMX
 * state (and a recent kernel) Debian 12's GDB 13 cannot restore the
 * extended registers after an inferior call ("Couldn't write extended
 * state status: Bad address") and the process dies later.  So the program
 * is started with this library in LD_PRELOAD, and answers itself.
 *
 * With HG_MI_DIR set, each process that has the library (and each child
 * it forks) runs one thread that
 *   - makes the FIFO HG_MI_DIR/PID.req (mode 0666: servers that drop
 *     privileges must still open it) and waits for a writer on it;
 *   - for each writer, reads until it closes, calls mallinfo2() and writes
 *     the ten fields as one JSON line to HG_MI_DIR/PID.out.tmp, renamed to
 *     HG_MI_DIR/PID.out when complete (the test removes PID.out before
 *     asking and waits for it to appear).
 * Without HG_MI_DIR it does nothing.
 *
 * The thread never calls malloc (no stdio, a stack buffer, write(2)): its
 * answers must describe the program's heap, not its own.  Creating it
 * allocates once (glibc's thread bookkeeping), before any answer.  It
 * blocks every signal, so the program's handlers run where they always did.
 *
 * Not linked to heapgrab and never sanitized: it only reports glibc's view.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copied at load time: a program may clear its environment later (nginx
 * does in its workers), and its forked children must still find the
 * directory. */
static char probe_dir[3072];
/* the request FIFO while it is open, for a forked child to close */
static volatile int probe_fd = -1;

static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
    while (*s && at + 1 < cap)
        buf[at++] = *s++;
    return at;
}

static size_t put_uint(char *buf, size_t at, size_t cap, uintmax_t v)
{
    char digits[32];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && at + 1 < cap)
        buf[at++] = digits[--n];
    return at;
}

/* HG_MI_DIR/<pid><suffix>; 0 if it does not fit */
static int probe_path(char *buf, size_t cap, pid_t pid, const char *suffix)
{
    size_t at = put_str(buf, 0, cap, probe_dir);
    at = put_str(buf, at, cap, "/");
    at = put_uint(buf, at, cap, (uintmax_t)pid);
    at = put_str(buf, at, cap, suffix);
    buf[at] = '\0';
    return at + 1 < cap;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void answer(pid_t pid)
{
    struct mallinfo2 mi = mallinfo2();
    const struct { const char *name; size_t value; } fields[] = {
        {"arena", mi.arena}, {"ordblks", mi.ordblks}, {"smblks", mi.smblks},
        {"hblks", mi.hblks}, {"hblkhd", mi.hblkhd}, {"usmblks", mi.usmblks},
        {"fsmblks", mi.fsmblks}, {"uordblks", mi.uordblks},
        {"fordblks", mi.fordblks}, {"keepcost", mi.keepcost},
    };
    char line[512];
    size_t at = put_str(line, 0, sizeof line, "{\"pid\": ");
    at = put_uint(line, at, sizeof line, (uintmax_t)pid);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        at = put_str(line, at, sizeof line, ", \"");
        at = put_str(line, at, sizeof line, fields[i].name);
        at = put_str(line, at, sizeof line, "\": ");
        at = put_uint(line, at, sizeof line, fields[i].value);
    }
    at = put_str(line, at, sizeof line, "}\n");

    char tmp[sizeof probe_dir + 64], out[sizeof probe_dir + 64];
    if (!probe_path(tmp, sizeof tmp, pid, ".out.tmp") ||
        !probe_path(out, sizeof out, pid, ".out"))
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return;
    write_all(fd, line, at);
    close(fd);
    rename(tmp, out);
}

static void *probe_thread(void *unused)
{
    (void)unused;
    pid_t pid = getpid();
    char req[sizeof probe_dir + 64];
    if (!probe_path(req, sizeof req, pid, ".req"))
        return NULL;
    /* an exec'd program keeps its pid: the FIFO may be there already */
    if (mkfifo(req, 0666) != 0 && errno != EEXIST)
        return NULL;
    chmod(req, 0666); /* whatever the umask: the program may change user */
    for (;;) {
        int fd = open(req, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        probe_fd = fd;
        char buf[64];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) != 0)
            if (n < 0 && errno != EINTR)
                break;
        probe_fd = -1;
        close(fd);
        answer(pid);
    }
    return NULL;
}

static void start_thread(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (pthread_create(&t, &attr, probe_thread, NULL) != 0)
        write_all(2, "mallinfo_probe: cannot start its thread\n", 40);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A forked child has only the thread that forked: it gets a probe of its
 * own (nginx's workers, postgres' backends are such children). */
static void in_child(void)
{
    int fd = probe_fd;
    if (fd >= 0) {
        probe_fd = -1;
        close(fd);
    }
    start_thread();
}

__attribute__((constructor)) static void probe_init(void)
{
    const char *dir = getenv("HG_MI_DIR");
    if (!dir || !*dir || strlen(dir) >= sizeof probe_dir)
        return;
    memcpy(probe_dir, dir, strlen(dir) + 1);
    pthread_atfork(NULL, NULL, in_child);
    start_thread();
}
