/* error.c -- per-thread last error, in the manner of libgit2. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "lib/utf8.h"

static _Thread_local int last_code;
static _Thread_local char last_message[1024];

/* The message is one line of plain text whatever it quotes: a path or a
 * name from a core can hold newlines, terminal escapes or bytes that are
 * not UTF-8.  Those become '?'. */
static void one_line(char *msg)
{
    unsigned char *p = (unsigned char *)msg;
    size_t n = strlen(msg);
    while (n) {
        size_t len = hg_utf8_len(p, n);
        /* C0 and C1 controls (U+0080..U+009F are 0xc2 0x80..0x9f) and DEL */
        if (len == 0 || (len == 1 && (*p < 0x20 || *p == 0x7f)) ||
            (len == 2 && p[0] == 0xc2 && p[1] <= 0x9f)) {
            *p = '?'; /* a C1 control's second byte is replaced next */
            len = 1;
        }
        p += len;
        n -= len;
    }
}

int hg_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    one_line(last_message);
    last_code = code;
    return code;
}

int hg_fail_wrap(int code, const char *fmt, ...)
{
    char why[sizeof last_message];
    snprintf(why, sizeof why, "%s", last_message);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    /* ": " and as much of the reason as fits */
    size_t at = n < 0 ? 0 : (size_t)n, room = sizeof last_message;
    if (why[0] && at + 3 < room) {
        memcpy(last_message + at, ": ", 2);
        size_t keep = strnlen(why, room - at - 3);
        memcpy(last_message + at + 2, why, keep);
        last_message[at + 2 + keep] = '\0';
    }
    one_line(last_message);
    last_code = code;
    return code;
}

void hg_error_clear(void)
{
    last_code = 0;
    last_message[0] = '\0';
}

const char *hg_error_message(void) { return last_message; }
int hg_error_code(void) { return last_code; }

const char *hg_code_name(int code)
{
    switch (code) {
    case HG_OK: return "OK";
    case HG_EINTERNAL: return "EINTERNAL";
    case HG_EUSAGE: return "EUSAGE";
    case HG_ENOPROC: return "ENOPROC";
    case HG_EPERM: return "EPERM";
    case HG_ENOTGLIBC: return "ENOTGLIBC";
    case HG_EUNSUPPORTED: return "EUNSUPPORTED";
    case HG_ENOTFOUND: return "ENOTFOUND";
    case HG_EIO: return "EIO";
    case HG_ENOMEM: return "ENOMEM";
    case HG_EINTR: return "EINTR";
    case HG_EMISMATCH: return "EMISMATCH";
    case HG_EINCOMPLETE: return "EINCOMPLETE";
    case HG_ENOSAMPLER: return "ENOSAMPLER";
    }
    return "EUNKNOWN";
}
