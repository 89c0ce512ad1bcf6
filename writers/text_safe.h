/* text_safe.h -- strings from the target in text meant for a terminal.
 *
 * Thread names, paths and function names come from the target and can hold
 * any bytes: a newline would forge a line of the report, an escape
 * sequence would drive the reader's terminal.  The text writers print
 * them with every control character (C0, DEL, C1) and every byte that is
 * not valid UTF-8 shown as '?'. */
#ifndef HG_TEXT_SAFE_H
#define HG_TEXT_SAFE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Length of the printable character at p (n bytes left, n > 0): valid
 * UTF-8 that is no control character; 0 if it is not one, and then its
 * first byte is shown as '?' and the next byte looked at. */
size_t hg_text_printable(const unsigned char *p, size_t n);
/* Write s (NULL: nothing) to f, each byte that is not printable as '?'. */
void hg_text_put(FILE *f, const char *s);

/* "512 B", "1.5 KiB", "12.3 MiB", ... (binary units, one decimal) in buf;
 * buf. */
const char *hg_text_human(uint64_t v, char *buf, size_t len);

#endif
