/* cmd_run.c -- heapgrab run [--rate N] -- PROGRAM ARGS: start a program
 * with the allocation sampler loaded (LD_PRELOAD, added to any the
 * environment has) and HEAPGRAB_SAMPLE_RATE set, by exec: the program
 * takes heapgrab's place, its pid and its exit status.
 *
 * The sampler is looked for beside the heapgrab that runs (a build tree
 * holds both), then where it is installed (HG_SAMPLER_INSTALLED);
 * HEAPGRAB_SAMPLER names another.  Never at a path compiled in from where
 * heapgrab was built: that directory (a /tmp one, for a package) may be
 * anybody's on the machine where heapgrab runs, and what is found is
 * preloaded into the program. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#ifndef HG_SAMPLER_INSTALLED
#define HG_SAMPLER_INSTALLED "/usr/local/lib/libheapgrab_sampler.so"
#endif

/* libheapgrab_sampler.so in the directory of the heapgrab running, into
 * buf; NULL if there is none there. */
static const char *beside_us(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    const char name[] = "libheapgrab_sampler.so";
    if (!slash || (size_t)(slash + 1 - buf) + sizeof name > len)
        return NULL;
    memcpy(slash + 1, name, sizeof name);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static const char *sampler_path(char *buf, size_t len)
{
    const char *env = getenv("HEAPGRAB_SAMPLER");
    if (env && *env)
        return access(env, R_OK) == 0 ? env : NULL;
    const char *here = beside_us(buf, len);
    if (here)
        return here;
    if (access(HG_SAMPLER_INSTALLED, R_OK) == 0)
        return HG_SAMPLER_INSTALLED;
    return NULL;
}

int cmd_run(int argc, char **argv)
{
    /* argv[0] heapgrab, argv[1] "run" */
    int i = 2;
    const char *rate = NULL;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        }
        if (!strcmp(argv[i], "--rate") || !strncmp(argv[i], "--rate=", 7)) {
            const char *v = argv[i][6] == '=' ? argv[i] + 7 : (i + 1 < argc ? argv[++i] : "");
            if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 19 ||
                strtoull(v, NULL, 10) == 0)
                return usage_error("--rate takes a number of bytes from 1 up (1: sample every "
                                   "allocation), not '%s'", v);
            rate = v;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            cli_help(stdout);
            return EXIT_OK;
        } else if (argv[i][0] == '-') {
            return usage_error("unknown option %s for run", argv[i]);
        } else {
            break;
        }
    }
    if (i >= argc)
        return usage_error("run needs a program: heapgrab run [--rate N] -- PROGRAM ARGS");
    char here[4096];
    const char *lib = sampler_path(here, sizeof here);
    if (!lib) {
        say("libheapgrab_sampler.so not found (looked beside heapgrab and at %s); set "
            "HEAPGRAB_SAMPLER to its path", HG_SAMPLER_INSTALLED);
        return EXIT_FAIL;
    }
    const char *old = getenv("LD_PRELOAD");
    char *preload = NULL;
    if (asprintf(&preload, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "") < 0) {
        say("out of memory");
        return EXIT_FAIL;
    }
    /* setenv copies the string */
    int set = setenv("LD_PRELOAD", preload, 1);
    free(preload);
    if (set != 0 || (rate && setenv("HEAPGRAB_SAMPLE_RATE", rate, 1) != 0)) {
        say("setting the environment: %s", strerror(errno));
        return EXIT_FAIL;
    }
    execvp(argv[i], argv + i);
    int e = errno;
    say("cannot run %s: %s", argv[i], strerror(e));
    return e == ENOENT ? 127 : 126;
}
