/*
 * heapgrab -- the command-line tool.  Everything it knows about heaps comes
 * through heapgrab.h; this file only parses arguments, handles signals and
 * picks a writer.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
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
    "  --seconds N         profile length (default 10; Ctrl-C ends it early)\n"
    "  --hz H              samples per second (default 100)\n"
    "  -o, --output FILE   write the profile to FILE ('%d' is replaced by the\n"
    "                      snapshot number with --count)\n"
    "  --json              stats as one JSON object\n"
    "  --interval SECONDS  time between snapshots (default 10)\n"
    "  --count N           number of snapshots (default 1)\n"
    "  --locate MODE       how to find malloc's state: auto, symbols, heuristic\n"
    "  --sysroot DIR       with a core: look for its mapped files under DIR\n"
    "  --exe PATH          with a core: the executable, if not where the core says\n"
    "  -h, --help          this text;   --version  print the version\n"
    "\n"
    "Exit status: 0 ok, 1 failure, 2 usage, 3 no such process, 4 permission\n"
    "denied, 5 not glibc malloc, 6 unsupported glibc or architecture, 7 malloc\n"
    "state not found (no debug symbols), 8 interrupted, 9 a core's files are\n"
    "not the ones the process had, 10 the core is incomplete (cut short).\n"
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

static int fail(int code)
{
    fprintf(stderr, "heapgrab: %s\n", hg_error_message());
    return exit_for(code);
}

static int usage_error(const char *msg)
{
    fprintf(stderr, "heapgrab: %s (see heapgrab --help)\n", msg);
    return EXIT_USAGE;
}

static volatile sig_atomic_t interrupted;
static void on_signal(int sig);
static volatile int stop_profile;

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

/* Leave the target running whatever happens to us: detach, then die of the
 * same signal. */
static void on_signal(int sig)
{
    interrupted = 1;
    hg_emergency_detach();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int parse_pid(const char *s, int *pid)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v <= 0 || v > 0x7fffffff)
        return -1;
    *pid = (int)v;
    return 0;
}

static int write_profile(const hg_snapshot *s, const char *pattern, int index)
{
    if (!pattern) {
        if (hg_write_pprof(s, stdout) != 0 || fflush(stdout) != 0)
            return fail(hg_error_code() ? hg_error_code() : HG_EIO);
        return 0;
    }
    char path[4096];
    if (strstr(pattern, "%d"))
        snprintf(path, sizeof path, pattern, index);
    else
        snprintf(path, sizeof path, "%s", pattern);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "heapgrab: cannot write %s: %s\n", path, strerror(errno));
        return EXIT_FAIL;
    }
    int rc = hg_write_pprof(s, f);
    if (fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "heapgrab: writing %s: %s\n", path, strerror(errno));
        return EXIT_FAIL;
    }
    return rc ? fail(rc) : 0;
}

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

static FILE *open_output(const char *path)
{
    if (!path)
        return stdout;
    FILE *f = fopen(path, "wb");
    if (!f)
        fprintf(stderr, "heapgrab: cannot write %s: %s\n", path, strerror(errno));
    return f;
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

/* heapgrab stacks / heapgrab profile */
static int run_stacks(int pid, const char *core, const hg_core_options *core_opt,
                      const char *output, int profile, double seconds, unsigned hz)
{
    int pprof = profile || output;
    if (pprof && !output && isatty(STDOUT_FILENO))
        return usage_error("refusing to write a binary profile to a terminal: "
                           "redirect it (> cpu.pprof) or use -o FILE");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = profile ? on_profile_signal : on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_signal;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    hg_target *t;
    int rc = core ? hg_target_open_core(core, core_opt, &t)
                  : hg_target_attach_pid(pid, HG_ATTACH_DEFAULT, &t);
    if (rc)
        return fail(rc);
    hg_profile_options po = {profile ? seconds : 0, hz, &stop_profile};
    hg_profile *p;
    rc = hg_profile_take(t, &po, &p);
    hg_target_close(t);
    if (rc)
        return fail(rc);
    int status = EXIT_OK;
    FILE *f = pprof ? open_output(output) : stdout;
    if (!f) {
        status = EXIT_FAIL;
    } else {
        rc = pprof ? hg_write_profile_pprof(p, f) : hg_write_stacks_text(p, f);
        if (rc)
            status = fail(rc);
        if ((f == stdout ? fflush(f) : fclose(f)) != 0 && !status) {
            fprintf(stderr, "heapgrab: writing %s: %s\n", output ? output : "output",
                    strerror(errno));
            status = EXIT_FAIL;
        }
    }
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

int main(int argc, char **argv)
{
    const char *output = NULL;
    int json = 0, count = 1, stats = 0, stacks = 0, profile = 0;
    double interval = 10, seconds = 10;
    unsigned hz = 100;
    hg_snapshot_options opt = {0};

    hg_core_options core_opt = {0};
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
    int c;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'o': output = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_INTERVAL:
            interval = strtod(optarg, &end);
            if (*end || interval < 0)
                return usage_error("--interval takes a number of seconds");
            break;
        case OPT_COUNT:
            count = (int)strtol(optarg, &end, 10);
            if (*end || count < 1)
                return usage_error("--count takes a positive number");
            break;
        case OPT_LOCATE:
            if (!strcmp(optarg, "auto")) opt.locate = HG_LOCATE_AUTO;
            else if (!strcmp(optarg, "symbols")) opt.locate = HG_LOCATE_SYMBOLS;
            else if (!strcmp(optarg, "heuristic")) opt.locate = HG_LOCATE_HEURISTIC;
            else return usage_error("--locate takes auto, symbols or heuristic");
            break;
        case OPT_SECONDS:
            seconds = strtod(optarg, &end);
            if (*end || !(seconds > 0) || seconds > 86400)
                return usage_error("--seconds takes a positive number of seconds");
            break;
        case OPT_HZ: {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 10000)
                return usage_error("--hz takes a rate from 1 to 10000");
            hz = (unsigned)v;
            break;
        }
        case OPT_SYSROOT: core_opt.sysroot = optarg; break;
        case OPT_EXE: core_opt.exe = optarg; break;
        case 'h': fputs(usage, stdout); return EXIT_OK;
        case OPT_VERSION: printf("heapgrab %s\n", HEAPGRAB_VERSION); return EXIT_OK;
        default: return usage_error("unknown option");
        }
    }
    int pos = optind;
    if (pos < argc && !strcmp(argv[pos], "stats"))
        stats = 1, pos++;
    else if (pos < argc && !strcmp(argv[pos], "stacks"))
        stacks = 1, pos++;
    else if (pos < argc && !strcmp(argv[pos], "profile"))
        profile = 1, pos++;
    else if (pos < argc && !strcmp(argv[pos], "snapshot"))
        pos++;
    if (pos >= argc)
        return usage_error("no process id given");
    if (pos + 1 < argc)
        return usage_error("too many arguments");
    int pid = 0;
    const char *core = NULL;
    if (parse_pid(argv[pos], &pid) != 0) {
        if (access(argv[pos], F_OK) != 0)
            return usage_error("the target must be a process id or a core file");
        core = argv[pos];
    }
    if (core && count > 1)
        return usage_error("--count takes a live process, not a core");
    if (core && profile)
        return usage_error("profile samples a live process; for a core use stacks");
    if (!core)
        raise_priority();
    if (stacks || profile)
        return run_stacks(pid, core, &core_opt, output, profile, seconds, hz);
    if (json && !stats)
        return usage_error("--json goes with stats");
    if (stats && output)
        return usage_error("stats prints to standard output; -o is for profiles");
    if (count > 1 && (!output || !strstr(output, "%d")))
        return usage_error("--count above 1 needs -o with %d in the file name");
    if (!stats && !output && isatty(STDOUT_FILENO))
        return usage_error("refusing to write a binary profile to a terminal: "
                           "redirect it (> heap.pprof) or use -o FILE");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    hg_target *t;
    if (!core && (core_opt.sysroot || core_opt.exe))
        return usage_error("--sysroot and --exe go with a core file");
    int rc = core ? hg_target_open_core(core, &core_opt, &t)
                  : hg_target_attach_pid(pid, HG_ATTACH_DEFAULT, &t);
    if (rc)
        return fail(rc);
    int status = EXIT_OK;
    for (int i = 0; i < count && !interrupted; i++) {
        if (i > 0) {
            struct timespec ts = {(time_t)interval, (long)((interval - (time_t)interval) * 1e9)};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !interrupted)
                ;
        }
        hg_snapshot *s;
        rc = hg_snapshot_take(t, &opt, &s);
        if (rc) {
            status = fail(rc);
            break;
        }
        if (stats) {
            rc = json ? hg_write_json(s, stdout) : hg_write_text(s, stdout);
            if (rc || fflush(stdout) != 0)
                status = fail(rc ? rc : HG_EIO);
        } else {
            status = write_profile(s, output, i);
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
