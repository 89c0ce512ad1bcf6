/* error.h -- the library's one error object (see hg_error_message()). */
#ifndef HG_ERROR_H
#define HG_ERROR_H

/* Record code and message for this thread; returns code, so callers can
 * write  return hg_fail(HG_EIO, "reading %s: %s", what, strerror(errno)); */
int hg_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hg_error_clear(void);

#endif
