/* help.c -- heapgrab --help and --version. */
#include <stdio.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: heapgrab [snapshot] PID|CORE [-o FILE] [--interval SECONDS --count N] [--types]\n"
    "       heapgrab stats [--json] PID|CORE\n"
    "       heapgrab types [--json] PID|CORE\n"
    "       heapgrab stacks PID|CORE [-o FILE]\n"
    "       heapgrab profile [--seconds N] [--hz H] PID [-o FILE]\n"
    "\n"
    "Stop a running process briefly (or open its core file), walk every glibc\n"
    "malloc arena and report.  A target that is a number is a process id, one\n"
    "that names a file is a core (from gcore or the kernel).\n"
    "\n"
    "  snapshot PID        write a gzipped pprof heap profile (default command)\n"
    "  stats PID           print the allocator's figures, per arena and in total\n"
    "  types PID           what the memory is: in-use chunks by C++ class (from\n"
    "                      their vtables), most bytes first, and the share typed\n"
    "  stacks PID          print every thread's call stack (-o FILE: as pprof)\n"
    "  profile PID         sample all threads' stacks, write a pprof CPU profile\n"
    "  --seconds N         profile length, above 0 and at most 86400 (default 10;\n"
    "                      Ctrl-C ends it early and the profile is still written)\n"
    "  --hz H              samples per second, 1 to 10000 (default 100)\n"
    "  -o, --output FILE   write the profile to FILE; for snapshot, '%d' in FILE\n"
    "                      is replaced by the snapshot number (0, 1, ...) and\n"
    "                      '%%' by '%'; any other '%' is kept as it is\n"
    "  --json              stats or types as one JSON object\n"
    "  --types             snapshot: label in-use samples with their type (type,\n"
    "                      type_source); costs 40 bytes of memory per chunk\n"
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

void cli_help(FILE *f) { fputs(usage, f); }

void cli_version(FILE *f) { fprintf(f, "heapgrab %s\n", HEAPGRAB_VERSION); }
