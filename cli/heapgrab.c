/*
 * heapgrab -- the command-line tool.  Everything it knows about heaps comes
 * through heapgrab.h; this file only parses arguments, handles signals and
 * picks a writer.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "heapgrab.h"

/* Exit statuses (documented in --help and heapgrab(1)). */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,        /* internal error, I/O error, out of memory */
    EXIT_USAGE = 2,
    EXIT_NOPROC = 3,
    EXIT_PERM = 4,
    EXIT_NOTGLIBC = 5,
    EXIT_UNSUPPORTED = 6,
    EXIT_NOTFOUND = 7,
    EXIT_INTR = 8,
    EXIT_MISMATCH = 9,
    EXIT_INCOMPLETE = 10  /* a core cut short */
};

static const char usage[] =
    "usage: heapgrab [snapshot] PID|CORE [-o FILE] [--interval SECONDS --count N]\n"
    "       heapgrab stats [--json] PID|CORE\n"
    "       heapgrab stacks PID|CORE [-o FILE]\n"
    "       heapgrab profile [--seconds N] [--hz H] PID [-o FILE]\n"
    "\n"
    "Stop a running process briefly (or open its core file), walk every glibc\n"
    "malloc arena and report.  A target that is a number is a process id, one\n"
    "that names a file is a core (from gcore or the kernel).\n"
    "\n"
    "  snapshot PID        write a gzipped pprof heap profile (default command)\n"
    "  stats PID           print the allocator's figures, per arena and in total\n"
    "  stacks PID          print every thread's call stack (-o FILE: as pprof)\n"
    "  profile PID         sample all threads' stacks, write a pprof CPU profile\n"
    "  --seconds N         profile length, above 0 and at most 86400 (default 10;\n"
    "                      Ctrl-C ends it early and the profile is still written)\n"
    "  --hz H              samples per second, 1 to 10000 (default 100)\n"
    "  -o, --output FILE   write the profile to FILE; for snapshot, '%d' in FILE\n"
    "                      is replaced by the snapshot number (0, 1, ...) and\n"
    "                      '%%' by '%'; any other '%' is kept as it is\n"
    "  --json              stats as one JSON object\n"
    "  --interval SECONDS  time between snapshots, 0 to 86400 (default 10)\n"
    "  --count N           number of snapshots, 1 to 1000000 (default 1)\n"
    "  --locate MODE       how to find malloc's state: auto, symbols, heuristic\n"
    "  --sysroot DIR       with a core: look for its mapped files under DIR\n"
    "  --exe PATH          with a core: the executable, if not where the core says\n"
    "  -h, --help          this text;   --version  print the version\n"
    "\n"
    "Exit status: 0 ok, 1 failure (an output file that cannot be written\n"
    "among them), 2 usage, 3 no such process, 4 permission denied (or another\n"
    "tracer holds the process), 5 not glibc malloc, 6 unsupported glibc or\n"
    "architecture, 7 malloc state not found (no debug symbols), 8 a profile\n"
    "interrupted before its first sample, 9 a core's files are not the ones\n"
    "the process had, 10 the core is incomplete (cut short).  SIGINT, SIGTERM\n"
    "or SIGHUP: heapgrab lets the process go,\n"
    "says so in one line and dies of that signal (status 128+N in the shell).\n"
    "Examples:\n"
    "  heapgrab 4242 > heap.pprof && go tool pprof -top heap.pprof\n"
    "  heapgrab 4242 --interval 60 --count 5 -o heap.%d.pprof\n"
    "  go tool pprof -base heap.0.pprof heap.4.pprof\n";

static int exit_for(int code)
{
    switch (code) {
    case HG_OK: return EXIT_OK;
    case HG_EUSAGE: return EXIT_USAGE;
    case HG_ENOPROC: return EXIT_NOPROC;
    case HG_EPERM: return EXIT_PERM;
    case HG_ENOTGLIBC: return EXIT_NOTGLIBC;
    case HG_EUNSUPPORTED: return EXIT_UNSUPPORTED;
    case HG_ENOTFOUND: return EXIT_NOTFOUND;
    case HG_EINTR: return EXIT_INTR;
    case HG_EMISMATCH: return EXIT_MISMATCH;
    case HG_EINCOMPLETE: return EXIT_INCOMPLETE;
    default: return EXIT_FAIL;
    }
}

/*
 * Every message heapgrab prints is one line on stderr, "heapgrab: ...".
 * Messages quote file names, arguments and the library's text, which may
 * hold a newline or a terminal escape: control characters are written as
 * \n, \t or \xNN so that the message stays one line.
 */
static void vsay(const char *suffix, const char *fmt, va_list ap)
{
    char *msg = NULL;
    int n = vasprintf(&msg, fmt, ap);
    char *line = n >= 0 ? malloc(4 * (size_t)n + 1) : NULL, *q = line;
    for (int i = 0; line && i < n; i++) {
        unsigned char ch = (unsigned char)msg[i];
        if (ch == '\n')
            q += sprintf(q, "\\n");
        else if (ch == '\t')
            q += sprintf(q, "\\t");
        else if (ch < 0x20 || ch == 0x7f)
            q += sprintf(q, "\\x%02x", ch);
        else
            *q++ = (char)ch;
    }
    if (line)
        *q = '\0';
    fprintf(stderr, "heapgrab: %s%s\n", line ? line : "out of memory", suffix);
    free(line);
    free(msg);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay("", fmt, ap);
    va_end(ap);
}

static int fail(int code)
{
    say("%s", hg_error_message());
    return exit_for(code);
}

/* A usage error: one line, and exit status 2. */
#define usage_error(...) (say_usage(__VA_ARGS__), EXIT_USAGE)
static void say_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(" (see heapgrab --help)", fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ signals */

static volatile sig_atomic_t interrupted;
static void on_signal(int sig);
static volatile int stop_profile;
/* For the signal handler: the process heapgrab works on (0 for a core),
 * and an output file it has begun and not finished (removed). */
static volatile int target_pid;
static const char *volatile unfinished_output;

/* During a profile the first Ctrl-C (or SIGTERM) ends it and the profile
 * is still written; a second one leaves at once (detaching first). */
static void on_profile_signal(int sig)
{
    if (!stop_profile) {
        stop_profile = 1;
        return;
    }
    on_signal(sig);
}

/* Async-signal-safe: append s, or the decimal v, at *p. */
static char *put_str(char *p, const char *s)
{
    while (*s)
        *p++ = *s++;
    return p;
}

static char *put_int(char *p, int v)
{
    char digits[16];
    int n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) > 0 && n < (int)sizeof digits);
    while (n > 0)
        *p++ = digits[--n];
    return p;
}

/*
 * Leave the target running whatever happens to us: detach, say so, then
 * die of the same signal.  Dying of it, rather than exiting with a status
 * of our own, is what tells a shell loop (while ...; do heapgrab ...) that
 * the user pressed Ctrl-C.  (If heapgrab is killed outright, the kernel
 * detaches and resumes the threads itself.)
 */
static void on_signal(int sig)
{
    int saved = errno;
    interrupted = 1;
    hg_emergency_detach();
    if (unfinished_output)
        unlink(unfinished_output);
    char msg[128], *p = put_str(msg, "heapgrab: interrupted by ");
    p = put_str(p, sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM"
                 : sig == SIGHUP ? "SIGHUP" : "a signal");
    if (target_pid > 0) {
        p = put_str(p, ": process ");
        p = put_int(p, target_pid);
        p = put_str(p, " was left running");
    }
    p = put_str(p, "\n");
    ssize_t ignored = write(STDERR_FILENO, msg, (size_t)(p - msg));
    (void)ignored;
    signal(sig, SIG_DFL);
    raise(sig);
    errno = saved;
}

static void handle_signals(void (*interrupt)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    /* one handler at a time: two signals at once give one line */
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGHUP);
    sa.sa_handler = interrupt;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_signal;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ----------------------------------------------------- argument values */

/* A number of seconds from lo to hi: all of s must be the number, and it
 * must be finite (strtod also takes "nan", "inf" and "1e300"). */
static int parse_seconds(const char *s, double lo, double hi, double *out)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* A whole number from lo to hi, in decimal digits only. */
static int parse_whole(const char *s, long lo, long hi, long *out)
{
    if (!*s || strspn(s, "0123456789") != strlen(s))
        return -1;
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (errno == ERANGE || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* ------------------------------------------------------- output files */

/*
 * The -o name for snapshot number index: "%d" becomes the number and "%%"
 * a single '%'; any other '%' stays as it is.  (The name is never a
 * printf format.)  NULL if out of memory.
 */
static char *output_name(const char *pattern, int index)
{
    size_t len = strlen(pattern);
    char *name = malloc(len + 1 + (len / 2 + 1) * 12), *q = name;
    if (!name)
        return NULL;
    for (const char *p = pattern; *p; p++) {
        if (p[0] == '%' && p[1] == 'd') {
            q += sprintf(q, "%d", index);
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            *q++ = '%';
            p++;
        } else {
            *q++ = *p;
        }
    }
    *q = '\0';
    return name;
}

/* Whether the -o pattern numbers its files (has a "%d" that is not "%%d"). */
static int numbers_files(const char *pattern)
{
    for (const char *p = pattern; *p; p++) {
        if (p[0] == '%' && (p[1] == 'd' || p[1] == '%')) {
            if (p[1] == 'd')
                return 1;
            p++;
        }
    }
    return 0;
}

/*
 * An output file, opened before the process is touched: a name that
 * cannot be written fails at once, and the target is never stopped for a
 * profile with nowhere to go.  A file that was there is left as it was
 * until the profile is ready to be written; one heapgrab made is removed
 * if no profile comes (error or signal).
 */
struct output {
    char *path;    /* NULL: standard output */
    int fd;
    int created;
};

static int output_open(struct output *o, const char *path)
{
    o->path = NULL;
    o->fd = STDOUT_FILENO;
    o->created = 0;
    if (!path)
        return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    int created = fd >= 0;
    if (fd < 0 && errno == EEXIST)
        fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        say("cannot write %s: %s", path, strerror(errno));
        return EXIT_FAIL;
    }
    o->path = strdup(path);
    if (!o->path) {
        close(fd);
        if (created)
            unlink(path);
        say("out of memory");
        return EXIT_FAIL;
    }
    o->fd = fd;
    o->created = created;
    if (created)
        unfinished_output = o->path;
    return 0;
}

/* Give up on an output: remove it if heapgrab made it. */
static void output_discard(struct output *o)
{
    if (!o->path)
        return;
    unfinished_output = NULL;
    if (o->created)
        unlink(o->path);
    close(o->fd);
    free(o->path);
    o->path = NULL;
}

typedef int (*writer_fn)(const void *what, FILE *f);
static int pprof_writer(const void *s, FILE *f) { return hg_write_pprof(s, f); }
static int profile_writer(const void *p, FILE *f) { return hg_write_profile_pprof(p, f); }
static int stacks_writer(const void *p, FILE *f) { return hg_write_stacks_text(p, f); }

/* Write what, with write, into the output, and close it. */
static int output_write(struct output *o, writer_fn write, const void *what)
{
    if (!o->path) {
        int rc = write(what, stdout);
        if (rc)
            return fail(rc);
        if (fflush(stdout) != 0) {
            say("writing standard output: %s", strerror(errno));
            return EXIT_FAIL;
        }
        return 0;
    }
    /* A regular file holds no complete profile from here until it is
     * closed: if that does not happen, it is removed.  (Not a device or a
     * FIFO: nothing of theirs is lost, and they are not ours to remove.) */
    struct stat st;
    int regular = fstat(o->fd, &st) == 0 && S_ISREG(st.st_mode);
    if (regular)
        unfinished_output = o->path;
    if (regular && ftruncate(o->fd, 0) != 0) {
        say("cannot write %s: %s", o->path, strerror(errno));
        output_discard(o);
        return EXIT_FAIL;
    }
    FILE *f = fdopen(o->fd, "wb");
    if (!f) {
        say("cannot write %s: %s", o->path, strerror(errno));
        output_discard(o);
        return EXIT_FAIL;
    }
    int rc = write(what, f), status = rc ? fail(rc) : 0;
    errno = 0;
    if (fclose(f) != 0 && !status) {
        say("writing %s: %s", o->path, errno ? strerror(errno) : "I/O error");
        status = EXIT_FAIL;
    }
    unfinished_output = NULL;
    if (status && (regular || o->created))
        unlink(o->path); /* a part of a profile is no use to anyone */
    free(o->path);
    o->path = NULL;
    return status;
}

/* ------------------------------------------------------------ reports */

static void summary(const hg_snapshot *s, FILE *f)
{
    const hg_totals *t = hg_snapshot_totals(s);
    const hg_timing *tm = hg_snapshot_timing(s);
    fprintf(f, "heapgrab: pid %d: %llu objects, %llu bytes in use; %llu bytes from the OS",
            hg_snapshot_pid(s), (unsigned long long)t->inuse_objects,
            (unsigned long long)t->inuse_bytes, (unsigned long long)t->sys_bytes);
    if (tm->stopped_ns != HG_UNKNOWN) /* a core was never stopped */
        fprintf(f, "; target stopped %.1f ms", tm->stopped_ns / 1e6);
    if (hg_snapshot_problem_total(s))
        fprintf(f, "; %llu problems (first: %s)",
                (unsigned long long)hg_snapshot_problem_total(s),
                hg_snapshot_problem(s, 0)->what);
    fputc('\n', f);
}

/*
 * heapgrab's own work outside the stops (loading modules, symbolizing)
 * runs while the target runs, and a busy target leaves it little CPU:
 * 16 spinning threads on 2 cores gave it a seventeenth of a core, and a
 * one-shot stacks took 0.9 s of which 0.1 s was work.  So heapgrab asks for
 * the best nice value it may have (root or CAP_SYS_NICE; otherwise nothing
 * changes).  Only heapgrab's process is raised, never the target; during
 * the stops the library goes further (see boost() in attach/live.c).
 */
static void raise_priority(void)
{
    errno = 0;
    int now = getpriority(PRIO_PROCESS, 0);
    if (errno == 0 && now > -20)
        setpriority(PRIO_PROCESS, 0, -20);
}

static int open_target(int pid, const char *core, const hg_core_options *core_opt,
                       hg_target **t)
{
    int rc = core ? hg_target_open_core(core, core_opt, t)
                  : hg_target_attach_pid(pid, HG_ATTACH_DEFAULT, t);
    return rc ? fail(rc) : 0;
}

/* heapgrab stacks / heapgrab profile */
static int run_stacks(int pid, const char *core, const hg_core_options *core_opt,
                      const char *output, int profile, double seconds, unsigned hz)
{
    int pprof = profile || output;
    handle_signals(profile ? on_profile_signal : on_signal);
    struct output out;
    int status = output_open(&out, pprof ? output : NULL);
    if (status)
        return status;
    hg_target *t;
    if ((status = open_target(pid, core, core_opt, &t)) != 0) {
        output_discard(&out);
        return status;
    }
    hg_profile_options po = {profile ? seconds : 0, hz, &stop_profile};
    hg_profile *p;
    int rc = hg_profile_take(t, &po, &p);
    hg_target_close(t);
    if (rc) {
        output_discard(&out);
        return fail(rc);
    }
    status = output_write(&out, pprof ? profile_writer : stacks_writer, p);
    if (profile && status == EXIT_OK) {
        const hg_profile_timing *tm = hg_profile_timing_of(p);
        fprintf(stderr,
                "heapgrab: %llu samples in %.2f s%s; all threads stopped %.3f ms per sample on "
                "average, %.3f ms at most\n",
                (unsigned long long)tm->samples, tm->duration_ns / 1e9,
                hg_profile_target_exited(p) ? " (the process exited)"
                : stop_profile              ? " (interrupted)"
                                            : "",
                tm->samples ? tm->stopped_ns_total / 1e6 / (double)tm->samples : 0.0,
                tm->stopped_ns_max / 1e6);
    }
    if (profile && status == EXIT_OK && hg_profile_timing_of(p)->skipped)
        fprintf(stderr, "heapgrab: %llu ticks skipped, to keep the target stopped at most %d%% "
                "of the time (or heapgrab was late)\n",
                (unsigned long long)hg_profile_timing_of(p)->skipped, HG_PROFILE_MAX_STOPPED);
    if (status == EXIT_OK && hg_profile_cut_stacks(p))
        fprintf(stderr, "heapgrab: %llu %s have stacks deeper than the %u KiB copied per "
                "thread at a stop: their outer frames are missing\n",
                (unsigned long long)hg_profile_cut_stacks(p),
                profile ? "thread samples" : "threads",
                (profile ? HG_STACK_COPY_PROFILE : HG_STACK_COPY_DUMP) / 1024);
    hg_profile_free(p);
    return status;
}

/* heapgrab [snapshot] and heapgrab stats */
static int run_snapshots(int pid, const char *core, const hg_core_options *core_opt,
                         const hg_snapshot_options *opt, int stats, int json,
                         const char *output, int count, double interval)
{
    handle_signals(on_signal);
    /* The first file is opened before the process is touched, each of the
     * others before its own snapshot. */
    struct output out = {0};
    char *name = output ? output_name(output, 0) : NULL;
    if (output && !name) {
        say("out of memory");
        return EXIT_FAIL;
    }
    int status = stats ? 0 : output_open(&out, name);
    free(name);
    if (status)
        return status;
    hg_target *t;
    if ((status = open_target(pid, core, core_opt, &t)) != 0) {
        output_discard(&out);
        return status;
    }
    for (int i = 0; i < count && !interrupted; i++) {
        if (i > 0) {
            struct timespec ts = {(time_t)interval, (long)((interval - (time_t)interval) * 1e9)};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !interrupted)
                ;
            name = output_name(output, i);
            if (!name) {
                say("out of memory");
                status = EXIT_FAIL;
                break;
            }
            status = output_open(&out, name);
            free(name);
            if (status)
                break;
        }
        hg_snapshot *s;
        int rc = hg_snapshot_take(t, opt, &s);
        if (rc) {
            output_discard(&out);
            status = fail(rc);
            break;
        }
        if (stats) {
            rc = json ? hg_write_json(s, stdout) : hg_write_text(s, stdout);
            if (rc)
                status = fail(rc);
            else if (fflush(stdout) != 0)
                say("writing standard output: %s", strerror(errno)), status = EXIT_FAIL;
        } else {
            status = output_write(&out, pprof_writer, s);
            if (status == 0)
                summary(s, stderr);
        }
        hg_snapshot_free(s);
        if (status)
            break;
    }
    hg_target_close(t);
    return status;
}

/* The target argument: a process id into *pid, or a core file into *core;
 * 0, or the exit status of a one-line refusal. */
static int parse_target(const char *arg, int *pid, const char **core)
{
    const char *digits = arg[0] == '-' || arg[0] == '+' ? arg + 1 : arg;
    if (*digits && strspn(digits, "0123456789") == strlen(digits)) {
        errno = 0;
        long long v = strtoll(arg, NULL, 10);
        if (v <= 0 && errno != ERANGE)
            return usage_error("%s is not a process id: process ids are positive numbers", arg);
        if (arg[0] == '-')
            return usage_error("%s is not a process id: process ids are positive numbers", arg);
        if (errno == ERANGE || v > 0x7fffffff) {
            say("no such process: %s", arg);
            return EXIT_NOPROC;
        }
        *pid = (int)v;
        return 0;
    }
    struct stat st;
    if (stat(arg, &st) != 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return usage_error("no such file: %s: the target is a process id or a core file",
                               arg);
        if (e == ENAMETOOLONG || e == ELOOP)
            return usage_error("%s: %s: the target is a process id or a core file", arg,
                               strerror(e));
        say("cannot open %s: %s", arg, strerror(e));
        return e == EACCES ? EXIT_PERM : EXIT_FAIL;
    }
    if (S_ISDIR(st.st_mode))
        return usage_error("%s is a directory: the target is a process id or a core file", arg);
    if (!S_ISREG(st.st_mode))
        return usage_error("%s is a %s, not a core file: the target is a process id or a "
                           "core file", arg,
                           S_ISFIFO(st.st_mode) ? "FIFO" : S_ISSOCK(st.st_mode) ? "socket"
                           : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "device"
                                                                        : "special file");
    *core = arg;
    return 0;
}

/* The text of an option as the user gave it, for a message: argv[i] up to
 * any '='. */
static const char *option_text(char *const argv[], int i, char *buf, size_t len)
{
    snprintf(buf, len, "%.*s", (int)strcspn(argv[i], "="), argv[i]);
    return buf;
}

enum { CMD_SNAPSHOT, CMD_STATS, CMD_STACKS, CMD_PROFILE };

int main(int argc, char **argv)
{
    const char *output = NULL;
    int json = 0, count = 1, command = CMD_SNAPSHOT;
    double interval = 10, seconds = 10;
    unsigned hz = 100;
    hg_snapshot_options opt = {0};
    hg_core_options core_opt = {0};
    /* which options were given, to refuse those the command does not take */
    int given_o = 0, given_json = 0, given_repeat = 0, given_profile = 0, given_locate = 0,
        given_core = 0;

    enum { OPT_JSON = 256, OPT_INTERVAL, OPT_COUNT, OPT_LOCATE, OPT_VERSION, OPT_SYSROOT,
           OPT_EXE, OPT_SECONDS, OPT_HZ };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, OPT_JSON},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"count", required_argument, NULL, OPT_COUNT},
        {"locate", required_argument, NULL, OPT_LOCATE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"sysroot", required_argument, NULL, OPT_SYSROOT},
        {"exe", required_argument, NULL, OPT_EXE},
        {"seconds", required_argument, NULL, OPT_SECONDS},
        {"hz", required_argument, NULL, OPT_HZ},
        {0, 0, 0, 0}};
    /* getopt's own messages are off: each error is one line of ours */
    opterr = 0;
    int c;
    char opt_buf[64];
    while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        long whole;
        switch (c) {
        case 'o':
            if (!*optarg)
                return usage_error("-o takes a file name");
            output = optarg;
            given_o = 1;
            break;
        case OPT_JSON: json = given_json = 1; break;
        case OPT_INTERVAL:
            if (parse_seconds(optarg, 0, 86400, &interval) != 0)
                return usage_error("--interval takes a number of seconds from 0 to 86400, "
                                   "not '%s'", optarg);
            given_repeat = 1;
            break;
        case OPT_COUNT:
            if (parse_whole(optarg, 1, 1000000, &whole) != 0)
                return usage_error("--count takes a whole number from 1 to 1000000, not '%s'",
                                   optarg);
            count = (int)whole;
            given_repeat = 1;
            break;
        case OPT_LOCATE:
            if (!strcmp(optarg, "auto")) opt.locate = HG_LOCATE_AUTO;
            else if (!strcmp(optarg, "symbols")) opt.locate = HG_LOCATE_SYMBOLS;
            else if (!strcmp(optarg, "heuristic")) opt.locate = HG_LOCATE_HEURISTIC;
            else return usage_error("--locate takes auto, symbols or heuristic, not '%s'",
                                    optarg);
            given_locate = 1;
            break;
        case OPT_SECONDS:
            if (parse_seconds(optarg, 0, 86400, &seconds) != 0 || !(seconds > 0))
                return usage_error("--seconds takes a number of seconds above 0 and at most "
                                   "86400, not '%s'", optarg);
            given_profile = 1;
            break;
        case OPT_HZ:
            if (parse_whole(optarg, 1, 10000, &whole) != 0)
                return usage_error("--hz takes a whole number from 1 to 10000, not '%s'",
                                   optarg);
            hz = (unsigned)whole;
            given_profile = 1;
            break;
        case OPT_SYSROOT:
        case OPT_EXE:
            if (!*optarg)
                return usage_error("%s takes a path",
                                   c == OPT_SYSROOT ? "--sysroot" : "--exe");
            *(c == OPT_SYSROOT ? &core_opt.sysroot : &core_opt.exe) = optarg;
            given_core = 1;
            break;
        case 'h': fputs(usage, stdout); return EXIT_OK;
        case OPT_VERSION: printf("heapgrab %s\n", HEAPGRAB_VERSION); return EXIT_OK;
        case ':':
            if (optopt == 'o' && strncmp(argv[optind - 1], "--", 2) != 0)
                return usage_error("-o takes a file name");
            return usage_error("%s takes a value",
                               option_text(argv, optind - 1, opt_buf, sizeof opt_buf));
        default: /* '?' */
            if (optopt >= OPT_JSON)
                return usage_error("%s takes no value",
                                   option_text(argv, optind - 1, opt_buf, sizeof opt_buf));
            if (optopt >= '0' && optopt <= '9')
                return usage_error("unknown option -%c: a process id is a positive number",
                                   optopt);
            if (optopt)
                return usage_error("unknown option -%c", optopt);
            return usage_error("unknown option %s",
                               option_text(argv, optind - 1, opt_buf, sizeof opt_buf));
        }
    }
    int pos = optind;
    static const char *const commands[] = {"snapshot", "stats", "stacks", "profile"};
    for (int i = 0; pos < argc && i < 4; i++)
        if (!strcmp(argv[pos], commands[i])) {
            command = i;
            pos++;
            break;
        }
    if (pos >= argc)
        return usage_error("no target given: a process id or a core file");
    if (pos + 1 < argc) {
        struct stat st;
        if (pos == optind && strspn(argv[pos], "0123456789") != strlen(argv[pos]) &&
            stat(argv[pos], &st) != 0)
            return usage_error("unknown command '%s': the commands are snapshot, stats, "
                               "stacks and profile", argv[pos]);
        return usage_error("too many arguments: '%s' after the target", argv[pos + 1]);
    }

    /* Options the command does not take. */
    const char *name = commands[command];
    if (given_json && command != CMD_STATS)
        return usage_error("--json goes with stats, not %s", name);
    if (given_o && command == CMD_STATS)
        return usage_error("stats prints to standard output; -o is for profiles");
    if (given_repeat && command != CMD_SNAPSHOT)
        return usage_error("--interval and --count go with snapshot, not %s", name);
    if (given_profile && command != CMD_PROFILE)
        return usage_error("--seconds and --hz go with profile, not %s", name);
    if (given_locate && (command == CMD_STACKS || command == CMD_PROFILE))
        return usage_error("--locate goes with snapshot and stats, not %s", name);

    int pid = 0;
    const char *core = NULL;
    int status = parse_target(argv[pos], &pid, &core);
    if (status)
        return status;
    if (core && given_repeat)
        return usage_error("--interval and --count take a live process, not a core");
    if (core && command == CMD_PROFILE)
        return usage_error("profile samples a live process; for a core use stacks");
    if (!core && given_core)
        return usage_error("--sysroot and --exe go with a core file");
    if (count > 1 && (!output || !numbers_files(output)))
        return usage_error("--count above 1 needs -o with %%d in the file name");
    int binary = command == CMD_SNAPSHOT || command == CMD_PROFILE ||
                 (command == CMD_STACKS && output);
    if (binary && !output && isatty(STDOUT_FILENO))
        return usage_error("refusing to write a binary profile to a terminal: "
                           "redirect it (> %s.pprof) or use -o FILE",
                           command == CMD_PROFILE ? "cpu" : "heap");

    target_pid = pid;
    if (!core)
        raise_priority();
    if (command == CMD_STACKS || command == CMD_PROFILE)
        return run_stacks(pid, core, &core_opt, output, command == CMD_PROFILE, seconds, hz);
    return run_snapshots(pid, core, &core_opt, &opt, command == CMD_STATS, json, output, count,
                         interval);
}
