/*
 * main.c -- heapgrab, the command: the subcommand table and dispatch.
 *
 * Each subcommand says which options it takes, whether a core file can be
 * its target and what it writes to standard output; options.c refuses
 * anything else before the target is touched.  Adding a subcommand is a
 * row here and a cmd_*.c.
 */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/cli.h"

const struct cli_command cli_commands[] = {
    {"snapshot", OPT_OUTPUT | OPT_REPEAT | OPT_LOCATE | OPT_CORE | OPT_BY_SIZE | OPT_TYPES |
     OPT_FORMAT | OPT_PAUSE, NULL,
     "heap", cmd_snapshot},
    {"stats", OPT_JSON | OPT_LOCATE | OPT_CORE | OPT_HOLDERS | OPT_PAUSE, NULL, NULL, cmd_stats},
    /* who holds the memory: roots by retained bytes; the leaks */
    {"holders", OPT_JSON | OPT_LOCATE | OPT_CORE | OPT_PAUSE, NULL, NULL, cmd_holders},
    {"leaks", OPT_JSON | OPT_LOCATE | OPT_CORE | OPT_PAUSE, NULL, NULL, cmd_leaks},
    /* what the memory is: in-use chunks by C++ class */
    {"types", OPT_JSON | OPT_LOCATE | OPT_CORE | OPT_PAUSE, NULL, NULL, cmd_types},
    /* text, or with -o the same stop as a pprof profile */
    {"stacks", OPT_OUTPUT | OPT_CORE, NULL, NULL, cmd_stacks},
    {"profile", OPT_OUTPUT | OPT_PROFILE | OPT_FORMAT,
     "profile samples a live process; for a core use stacks", "cpu", cmd_profile},
    /* the allocation sampler's table (heapgrab run starts a program with it) */
    {"allocs", OPT_OUTPUT | OPT_CORE, NULL, "allocs", cmd_allocs},
    /* one HTML page: summary, flame graph, top table; also of a .pprof
     * (the size-class view: snapshot --by-size -o x.html) */
    {"report", OPT_OUTPUT | OPT_LOCATE | OPT_CORE | OPT_BASE | OPT_PAUSE, NULL, NULL, cmd_report},
};
const size_t cli_ncommands = sizeof cli_commands / sizeof *cli_commands;

int cli_take(hg_target *t, const hg_snapshot_options *opt, hg_snapshot **s)
{
    int rc = hg_snapshot_take(t, opt, s);
    if (rc == 0 && hg_snapshot_timing(*s)->fallback)
        say("%s", hg_snapshot_timing(*s)->fallback);
    return rc;
}

int cli_open_target(const struct cli_args *a, hg_target **t)
{
    int rc = a->core_path ? hg_target_open_core(a->core_path, &a->core, t)
                          : hg_target_attach_pid(a->pid, HG_ATTACH_DEFAULT, t);
    return rc ? fail(rc) : 0;
}

/*
 * heapgrab's own work outside the stops (loading modules, symbolizing)
 * runs while the target runs, and a busy target leaves it little CPU:
 * 16 spinning threads on 2 cores gave it a seventeenth of a core, and a
 * one-shot stacks took 0.9 s of which 0.1 s was work.  So heapgrab asks for
 * the best nice value it may have (root or CAP_SYS_NICE; otherwise nothing
 * changes).  Only heapgrab's process is raised, never the target; during
 * the stops the library goes further (see boost() in target/pid_attach.c).
 */
static void raise_priority(void)
{
    errno = 0;
    int now = getpriority(PRIO_PROCESS, 0);
    if (errno == 0 && now > -20)
        setpriority(PRIO_PROCESS, 0, -20);
}

int main(int argc, char **argv)
{
    /* run has a command line of its own: what follows is the program's */
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return cmd_run(argc, argv);
    struct cli_args a;
    int status = cli_parse(argc, argv, &a);
    if (status != CLI_RUN)
        return status;
    cli_target_pid = a.pid;
    if (!a.core_path)
        raise_priority();
    cli_progress_start(a.quiet);
    status = a.cmd->run(&a);
    cli_progress_stop();
    return status;
}
