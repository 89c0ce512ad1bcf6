/*
 * options.c -- the command line: getopt_long with its own messages off (each
 * error is one line of ours), every value checked whole, the subcommand
 * and its target, and every option checked against what the subcommand
 * takes (main.c's table).  An option that means nothing for the
 * subcommand is a usage error, never ignored.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

/* Each kind of option as messages name it, and what target it needs. */
enum { ANY_TARGET, LIVE_ONLY, CORE_ONLY };
static const struct {
    unsigned bit;
    const char *names;
    int plural;
    const char *refusal;   /* a message of its own when a subcommand does not
                              take it (%s: the subcommand), else the rule's */
    int target;
} kinds[] = {
    {OPT_JSON, "--json", 0, NULL, ANY_TARGET},
    {OPT_OUTPUT, "-o", 0, "%s prints to standard output; -o is for profiles", ANY_TARGET},
    {OPT_REPEAT, "--interval and --count", 1, NULL, LIVE_ONLY},
    {OPT_PROFILE, "--seconds and --hz", 1, NULL, ANY_TARGET},
    {OPT_LOCATE, "--locate", 0, NULL, ANY_TARGET},
    {OPT_CORE, "--sysroot and --exe", 1, NULL, CORE_ONLY},
    {OPT_BY_SIZE, "--by-size", 0, NULL, ANY_TARGET},
    {OPT_HOLDERS, "--holders", 0, NULL, ANY_TARGET},
    {OPT_TYPES, "--types", 0, NULL, ANY_TARGET},
    {OPT_FORMAT, "--format", 0, NULL, ANY_TARGET},
    {OPT_BASE, "--base", 0, NULL, ANY_TARGET},
    {OPT_PAUSE, "--memory-budget and --no-stop", 1, NULL, LIVE_ONLY},
};
#define NKINDS (sizeof kinds / sizeof *kinds)

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

/* A number of bytes, with an optional K, M or G (binary), up to 1 TiB. */
static int parse_bytes(const char *s, int64_t *out)
{
    size_t digits = strspn(s, "0123456789");
    if (!digits || digits > 13)
        return -1;
    uint64_t v = strtoull(s, NULL, 10);
    const char *u = s + digits;
    int shift = 0;
    if (*u == 'K' || *u == 'k') shift = 10;
    else if (*u == 'M' || *u == 'm') shift = 20;
    else if (*u == 'G' || *u == 'g') shift = 30;
    else if (*u) return -1;
    if (shift && u[1])
        return -1;
    if (v > (1ull << (40 - shift)))
        return -1;
    *out = (int64_t)(v << shift);
    return 0;
}

/* The text of an option as the user gave it, for a message: argv[i] up to
 * any '='. */
static const char *option_text(char *const argv[], int i, char *buf, size_t len)
{
    snprintf(buf, len, "%.*s", (int)strcspn(argv[i], "="), argv[i]);
    return buf;
}

enum { LONG_JSON = 256, LONG_INTERVAL, LONG_COUNT, LONG_LOCATE, LONG_VERSION, LONG_SYSROOT,
       LONG_EXE, LONG_SECONDS, LONG_HZ, LONG_BY_SIZE, LONG_HOLDERS, LONG_QUIET, LONG_TYPES,
       LONG_FORMAT, LONG_BASE, LONG_MEMORY_BUDGET, LONG_NO_STOP };

/* Options and their values into a; CLI_RUN, or the exit status. */
static int parse_options(int argc, char **argv, struct cli_args *a)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, LONG_JSON},
        {"interval", required_argument, NULL, LONG_INTERVAL},
        {"count", required_argument, NULL, LONG_COUNT},
        {"locate", required_argument, NULL, LONG_LOCATE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, LONG_VERSION},
        {"sysroot", required_argument, NULL, LONG_SYSROOT},
        {"exe", required_argument, NULL, LONG_EXE},
        {"seconds", required_argument, NULL, LONG_SECONDS},
        {"hz", required_argument, NULL, LONG_HZ},
        {"by-size", no_argument, NULL, LONG_BY_SIZE},
        {"holders", no_argument, NULL, LONG_HOLDERS},
        {"quiet", no_argument, NULL, LONG_QUIET},
        {"types", no_argument, NULL, LONG_TYPES},
        {"format", required_argument, NULL, LONG_FORMAT},
        {"base", required_argument, NULL, LONG_BASE},
        {"memory-budget", required_argument, NULL, LONG_MEMORY_BUDGET},
        {"no-stop", no_argument, NULL, LONG_NO_STOP},
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
            a->output = optarg;
            a->given |= OPT_OUTPUT;
            break;
        case LONG_TYPES:
            a->snap.types = 1;
            a->given |= OPT_TYPES;
            break;
        case LONG_MEMORY_BUDGET: {
            int64_t bytes;
            if (parse_bytes(optarg, &bytes) != 0)
                return usage_error("--memory-budget takes a number of bytes (with K, M or G) "
                                   "up to 1T, not '%s'", optarg);
            /* 0: never copy (the library's 0 is the default budget) */
            a->snap.memory_budget = bytes ? bytes : -1;
            a->given |= OPT_PAUSE;
            break;
        }
        case LONG_NO_STOP:
            a->snap.no_stop = 1;
            a->given |= OPT_PAUSE;
            break;
        case LONG_QUIET:
            a->quiet = 1; /* every subcommand: only the progress line goes */
            break;
        case LONG_JSON:
            a->json = 1;
            a->given |= OPT_JSON;
            break;
        case LONG_INTERVAL:
            if (parse_seconds(optarg, 0, 86400, &a->interval) != 0)
                return usage_error("--interval takes a number of seconds from 0 to 86400, "
                                   "not '%s'", optarg);
            a->given |= OPT_REPEAT;
            break;
        case LONG_COUNT:
            if (parse_whole(optarg, 1, 1000000, &whole) != 0)
                return usage_error("--count takes a whole number from 1 to 1000000, not '%s'",
                                   optarg);
            a->count = (int)whole;
            a->given |= OPT_REPEAT;
            break;
        case LONG_LOCATE:
            if (!strcmp(optarg, "auto")) a->snap.locate = HG_LOCATE_AUTO;
            else if (!strcmp(optarg, "symbols")) a->snap.locate = HG_LOCATE_SYMBOLS;
            else if (!strcmp(optarg, "heuristic")) a->snap.locate = HG_LOCATE_HEURISTIC;
            else return usage_error("--locate takes auto, symbols or heuristic, not '%s'",
                                    optarg);
            a->given |= OPT_LOCATE;
            break;
        case LONG_SECONDS:
            if (parse_seconds(optarg, 0, 86400, &a->seconds) != 0 || !(a->seconds > 0))
                return usage_error("--seconds takes a number of seconds above 0 and at most "
                                   "86400, not '%s'", optarg);
            a->given |= OPT_PROFILE;
            break;
        case LONG_HZ:
            if (parse_whole(optarg, 1, 10000, &whole) != 0)
                return usage_error("--hz takes a whole number from 1 to 10000, not '%s'",
                                   optarg);
            a->hz = (unsigned)whole;
            a->given |= OPT_PROFILE;
            break;
        case LONG_BY_SIZE:
            a->given |= OPT_BY_SIZE;
            break;
        case LONG_HOLDERS:
            a->given |= OPT_HOLDERS;
            break;
        case LONG_FORMAT:
            if (strcmp(optarg, "html") != 0 && strcmp(optarg, "pprof") != 0)
                return usage_error("--format takes html or pprof, not '%s'", optarg);
            a->html = !strcmp(optarg, "html");
            a->given |= OPT_FORMAT;
            break;
        case LONG_BASE:
            if (!*optarg)
                return usage_error("--base takes a pprof file");
            a->base = optarg;
            a->given |= OPT_BASE;
            break;
        case LONG_SYSROOT:
        case LONG_EXE:
            if (!*optarg)
                return usage_error("%s takes a path",
                                   c == LONG_SYSROOT ? "--sysroot" : "--exe");
            *(c == LONG_SYSROOT ? &a->core.sysroot : &a->core.exe) = optarg;
            a->given |= OPT_CORE;
            break;
        case 'h':
            cli_help(stdout);
            return EXIT_OK;
        case LONG_VERSION:
            cli_version(stdout);
            return EXIT_OK;
        case ':':
            if (optopt == 'o' && strncmp(argv[optind - 1], "--", 2) != 0)
                return usage_error("-o takes a file name");
            return usage_error("%s takes a value",
                               option_text(argv, optind - 1, opt_buf, sizeof opt_buf));
        default: /* '?' */
            if (optopt >= LONG_JSON)
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
    return CLI_RUN;
}

/* "snapshot", "snapshot and stats", "snapshot, stats and stacks": the
 * subcommands that take the options of bit (or all of them). */
static void commands_taking(unsigned bit, char *buf, size_t len)
{
    size_t n = 0, k = 0, o = 0;
    for (size_t i = 0; i < cli_ncommands; i++)
        n += !bit || (cli_commands[i].options & bit);
    buf[0] = '\0';
    for (size_t i = 0; i < cli_ncommands && o < len; i++) {
        if (bit && !(cli_commands[i].options & bit))
            continue;
        k++;
        o += (size_t)snprintf(buf + o, len - o, "%s%s", k == 1 ? "" : k == n ? " and " : ", ",
                              cli_commands[i].name);
    }
}

/* An option the subcommand does not take: a usage error. */
static int check_options_taken(const struct cli_args *a)
{
    for (size_t i = 0; i < NKINDS; i++) {
        if (!(a->given & kinds[i].bit) || (a->cmd->options & kinds[i].bit))
            continue;
        if (kinds[i].refusal)
            return usage_error(kinds[i].refusal, a->cmd->name);
        char takers[128];
        commands_taking(kinds[i].bit, takers, sizeof takers);
        return usage_error("%s %s with %s, not %s", kinds[i].names,
                           kinds[i].plural ? "go" : "goes", takers, a->cmd->name);
    }
    return 0;
}

/* Options that need a live process, or a core. */
static int check_options_target(const struct cli_args *a)
{
    for (size_t i = 0; i < NKINDS; i++) {
        if (!(a->given & kinds[i].bit))
            continue;
        if (kinds[i].target == LIVE_ONLY && a->core_path)
            return usage_error("%s %s a live process, not a core", kinds[i].names,
                               kinds[i].plural ? "take" : "takes");
        if (kinds[i].target == CORE_ONLY && !a->core_path)
            return usage_error("%s %s with a core file", kinds[i].names,
                               kinds[i].plural ? "go" : "goes");
    }
    return 0;
}

/* The target argument: a process id into a->pid, or a core file into
 * a->core_path; CLI_RUN, or the exit status of a one-line refusal. */
static int parse_target(const char *arg, struct cli_args *a)
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
        a->pid = (int)v;
        return CLI_RUN;
    }
    /* A core: one that cannot be opened is said so (4 when it may not be
     * read), never taken for a missing process. */
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
    a->core_path = arg;
    return CLI_RUN;
}

/* "x.html", "x.htm" (any case): the report is wanted. */
static int has_html_extension(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot && (!strcasecmp(dot, ".html") || !strcasecmp(dot, ".htm"));
}

int cli_parse(int argc, char **argv, struct cli_args *a)
{
    *a = (struct cli_args){.cmd = &cli_commands[0], .count = 1, .interval = 10, .seconds = 10,
                           .hz = 100};
    int status = parse_options(argc, argv, a);
    if (status != CLI_RUN)
        return status;

    int pos = optind;
    for (size_t i = 0; pos < argc && i < cli_ncommands; i++)
        if (!strcmp(argv[pos], cli_commands[i].name)) {
            a->cmd = &cli_commands[i];
            pos++;
            break;
        }
    if (pos >= argc)
        return usage_error("no target given: a process id or a core file");
    if (pos + 1 < argc) {
        struct stat st;
        if (pos == optind && strspn(argv[pos], "0123456789") != strlen(argv[pos]) &&
            stat(argv[pos], &st) != 0) {
            char names[128];
            commands_taking(0, names, sizeof names);
            return usage_error("unknown command '%s': the commands are %s", argv[pos], names);
        }
        return usage_error("too many arguments: '%s' after the target", argv[pos + 1]);
    }

    if ((status = check_options_taken(a)) != 0)
        return status;
    /* Who holds the memory: the heap profile's stacks (unless --by-size),
     * holders and leaks, and stats --holders. */
    a->snap.holders = (a->cmd->run == cmd_snapshot && !(a->given & OPT_BY_SIZE)) ||
                      a->cmd->run == cmd_report ||
                      a->cmd->run == cmd_holders || a->cmd->run == cmd_leaks ||
                      (a->given & OPT_HOLDERS) != 0;
    if ((status = parse_target(argv[pos], a)) != CLI_RUN)
        return status;
    if (a->core_path && a->cmd->no_core)
        return usage_error("%s", a->cmd->no_core);
    if ((status = check_options_target(a)) != 0)
        return status;
    if (a->count > 1 && (!a->output || !output_numbers_files(a->output)))
        return usage_error("--count above 1 needs -o with %%d in the file name");
    /* HTML: always for report; for snapshot and profile --format, or else
     * the -o file's extension (stacks and allocs -o x.html too) */
    if (a->cmd->run == cmd_report)
        a->html = 1;
    else if (((a->cmd->options & OPT_FORMAT) || a->cmd->run == cmd_stacks ||
              a->cmd->run == cmd_allocs) &&
             !(a->given & OPT_FORMAT) && a->output)
        a->html = has_html_extension(a->output);
    if ((status = output_refuse_terminal(a)) != 0)
        return status;
    return CLI_RUN;
}
