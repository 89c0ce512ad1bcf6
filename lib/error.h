/* error.h -- the library's one error object (see hg_error_message()). */
#ifndef HG_ERROR_H
#define HG_ERROR_H

/* Record code and message for this thread; returns code, so callers can
 * write  return hg_fail(HG_EIO, "reading %s: %s", what, strerror(errno)); */
int hg_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, keeping the reason already recorded: the message becomes
 * "<fmt...>: <the previous message>" (or just <fmt...> when there was
 * none).  For a failure that explains another:
 *     if (hg_read_exact(t, addr, buf, n) != 0)
 *         return hg_fail_wrap(HG_ENOTFOUND, "arena at 0x%" PRIx64 " is not readable", addr); */
int hg_fail_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hg_error_clear(void);

#endif
