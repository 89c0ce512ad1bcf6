/* messages.c -- what heapgrab tells the user: one line each, and the exit
 * status that goes with it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

int exit_for(int code)
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
    case HG_ENOSAMPLER: return EXIT_NOSAMPLER;
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
    cli_progress_hold();
    fprintf(stderr, "heapgrab: %s%s\n", line ? line : "out of memory", suffix);
    cli_progress_release();
    free(line);
    free(msg);
}

void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay("", fmt, ap);
    va_end(ap);
}

void say_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(" (see heapgrab --help)", fmt, ap);
    va_end(ap);
}

int fail(int code)
{
    say("%s", hg_error_message());
    return exit_for(code);
}
