/*
 * cli.h -- what the parts of the heapgrab command share.  Everything the
 * command knows about heaps comes through heapgrab.h; cli/ parses
 * arguments, handles signals, picks a writer and says what went wrong.
 *
 *   main.c          the subcommand table and dispatch
 *   options.c       argv -> struct cli_args, checked against the table
 *   output.c        -o files (%d, unfinished files removed), stdout
 *   signals.c       SIGINT/SIGTERM/SIGHUP: let the target go, one line
 *   messages.c      one-line messages and exit statuses
 *   help.c          --help and --version
 *   progress.c      the progress line on a terminal
 *   cmd_snapshot.c, cmd_stats.c, cmd_stacks.c, cmd_holders.c, cmd_types.c,
 *   cmd_allocs.c, cmd_report.c    the subcommands
 *   cmd_run.c       heapgrab run: start a program with the allocation sampler
 */
#ifndef HG_CLI_H
#define HG_CLI_H

#include <signal.h>
#include <stdio.h>

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
    EXIT_INCOMPLETE = 10, /* a core cut short */
    EXIT_NOSAMPLER = 11   /* allocs: the allocation sampler is not loaded */
};

/* ------------------------------------------------------------ messages.c */

/* Every message heapgrab prints is one line on stderr, "heapgrab: ...",
 * with control characters shown as \n, \t or \xNN. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error: the line ends with a pointer to --help. */
void say_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define usage_error(...) (say_usage(__VA_ARGS__), EXIT_USAGE)
/* The exit status for a library error code. */
int exit_for(int code);
/* Say the library's last error; its exit status. */
int fail(int code);

/* ------------------------------------------------------- the subcommands */

/* Options, by what they are for; a subcommand takes some of them. */
enum {
    OPT_OUTPUT = 1u << 0,  /* -o */
    OPT_JSON = 1u << 1,    /* --json */
    OPT_REPEAT = 1u << 2,  /* --interval, --count */
    OPT_PROFILE = 1u << 3, /* --seconds, --hz */
    OPT_LOCATE = 1u << 4,  /* --locate */
    OPT_CORE = 1u << 5,    /* --sysroot, --exe */
    OPT_BY_SIZE = 1u << 6, /* --by-size */
    OPT_HOLDERS = 1u << 7, /* --holders */
    OPT_TYPES = 1u << 8,   /* --types */
    OPT_FORMAT = 1u << 9,  /* --format html|pprof */
    OPT_BASE = 1u << 10,   /* --base */
    OPT_PAUSE = 1u << 11   /* --memory-budget, --no-stop */
};

struct cli_args;

/* A subcommand, as main.c's table lists it. */
struct cli_command {
    const char *name;
    unsigned options;      /* the OPT_* it takes; any other is a usage error */
    const char *no_core;   /* NULL if it takes a core file as its target,
                              else why not (one line) */
    const char *pprof;     /* the profile it writes to standard output without
                              -o ("heap", "cpu"), NULL if that is text */
    int (*run)(const struct cli_args *a);
};

/* The subcommands; the first is the default one. */
extern const struct cli_command cli_commands[];
extern const size_t cli_ncommands;

/* The command line, checked. */
struct cli_args {
    const struct cli_command *cmd;
    unsigned given;        /* the OPT_* given */
    const char *output;    /* -o, or NULL */
    int json, count;
    int quiet;             /* --quiet: no progress line */
    int html;              /* write the HTML report, not pprof (report; or
                              --format html, or -o FILE.html) */
    const char *base;      /* --base: a pprof profile to compare with */
    double interval, seconds;
    unsigned hz;
    hg_snapshot_options snap;
    hg_core_options core;
    int pid;               /* the target: a process, or */
    const char *core_path; /* a core file */
};

/* options.c: parse and check argv.  CLI_RUN, or the exit status to leave
 * with (a usage error said, or --help/--version printed). */
#define CLI_RUN (-1)
int cli_parse(int argc, char **argv, struct cli_args *a);

/* main.c: open the target the arguments name (a process or a core); 0, or
 * the exit status of the error said. */
int cli_open_target(const struct cli_args *a, hg_target **t);
/* main.c: hg_snapshot_take, and, when a copy was wanted but not made (the
 * walk then ran during the stop), one line saying why. */
int cli_take(hg_target *t, const hg_snapshot_options *opt, hg_snapshot **s);

/* progress.c: the updating progress line on a terminal (see there). */
void cli_progress_start(int quiet);
/* around a message: the line goes, and stays away while it is printed */
void cli_progress_hold(void);
void cli_progress_release(void);
void cli_progress_stop(void);
extern volatile sig_atomic_t cli_progress_drawn;

int cmd_snapshot(const struct cli_args *a);
int cmd_stats(const struct cli_args *a);
int cmd_types(const struct cli_args *a);
int cmd_stacks(const struct cli_args *a);
int cmd_profile(const struct cli_args *a);
int cmd_holders(const struct cli_args *a);
int cmd_leaks(const struct cli_args *a);
int cmd_allocs(const struct cli_args *a);
/* heapgrab run [--rate N] -- PROGRAM ARGS: its own command line (what
 * follows is the program's); execs, or returns the exit status. */
int cmd_run(int argc, char **argv);
int cmd_report(const struct cli_args *a);

/* help.c */
void cli_help(FILE *f);
void cli_version(FILE *f);

/* ------------------------------------------------------------- signals.c */

/* For the signal handlers: set once a signal interrupted heapgrab; the
 * flag a profile watches to end early; the process heapgrab works on (0
 * for a core); and an output file it has begun and not finished (removed
 * on a signal). */
extern volatile sig_atomic_t cli_interrupted;
extern volatile int cli_stop_profile;
extern volatile int cli_target_pid;
extern const char *volatile cli_unfinished_output;
/* SIGINT, SIGTERM and SIGHUP let the target go, say so and kill heapgrab
 * with the same signal.  profile: the first SIGINT or SIGTERM only ends
 * the profile (cli_stop_profile); a second one, or SIGHUP, interrupts. */
void cli_handle_signals(int profile);

/* -------------------------------------------------------------- output.c */

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

/* The -o name for snapshot number index ("%d" the number, "%%" a '%');
 * NULL if out of memory. */
char *output_name(const char *pattern, int index);
/* Whether the -o pattern numbers its files (has a "%d" that is not "%%d"). */
int output_numbers_files(const char *pattern);
/* Open path (NULL: standard output); 0 or the exit status of the error
 * said. */
int output_open(struct output *o, const char *path);
/* Give up on an output: remove it if heapgrab made it. */
void output_discard(struct output *o);
typedef int (*writer_fn)(const void *what, FILE *f);
/* Write what with write into the output and close it; 0 or the exit
 * status of the error said (the file is then removed). */
int output_write(struct output *o, writer_fn write, const void *what);
/* A report written to standard output by a writer that returned rc: the
 * exit status, its error said, stdout flushed (a full disk or a closed
 * pipe shows only then). */
int output_stdout_done(int rc);
/* A binary profile is never written to a terminal: 0, or a usage error
 * said. */
int output_refuse_terminal(const struct cli_args *a);

#endif
