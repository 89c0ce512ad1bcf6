/* error.c -- per-thread last error, in the manner of libgit2. */
#include <stdarg.h>
#include <stdio.h>

#include "heapgrab.h"
#include "lib/error.h"

static _Thread_local int last_code;
static _Thread_local char last_message[1024];

int hg_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
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
    }
    return "EUNKNOWN";
}
