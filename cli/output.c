/* output.c -- where profiles go: -o files, numbered for a series of
 * snapshots, removed again when no profile comes; or standard output,
 * never a terminal for a binary profile. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

/*
 * "%d" becomes the number and "%%" a single '%'; any other '%' stays as
 * it is.  (The name is never a printf format.)
 */
char *output_name(const char *pattern, int index)
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

int output_numbers_files(const char *pattern)
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

int output_open(struct output *o, const char *path)
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
        cli_unfinished_output = o->path;
    return 0;
}

void output_discard(struct output *o)
{
    if (!o->path)
        return;
    cli_unfinished_output = NULL;
    if (o->created)
        unlink(o->path);
    close(o->fd);
    free(o->path);
    o->path = NULL;
}

int output_write(struct output *o, writer_fn write, const void *what)
{
    if (!o->path)
        return output_stdout_done(write(what, stdout));
    /* A regular file holds no complete profile from here until it is
     * closed: if that does not happen, it is removed.  (Not a device or a
     * FIFO: nothing of theirs is lost, and they are not ours to remove.) */
    struct stat st;
    int regular = fstat(o->fd, &st) == 0 && S_ISREG(st.st_mode);
    if (regular)
        cli_unfinished_output = o->path;
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
    cli_unfinished_output = NULL;
    if (status && (regular || o->created))
        unlink(o->path); /* a part of a profile is no use to anyone */
    free(o->path);
    o->path = NULL;
    return status;
}

int output_refuse_terminal(const struct cli_args *a)
{
    if (a->cmd->pprof && !a->html && !a->output && isatty(STDOUT_FILENO))
        return usage_error("refusing to write a binary profile to a terminal: "
                           "redirect it (> %s.pprof) or use -o FILE",
                           a->cmd->pprof);
    /* a page of inline script is no use on a terminal either */
    if (a->html && !a->output && isatty(STDOUT_FILENO))
        return usage_error("refusing to write the HTML page to a terminal: "
                           "use -o FILE.html (or redirect it)");
    return 0;
}

int output_stdout_done(int rc)
{
    if (rc)
        return fail(rc);
    if (fflush(stdout) != 0) {
        say("writing standard output: %s", strerror(errno));
        return EXIT_FAIL;
    }
    return 0;
}
