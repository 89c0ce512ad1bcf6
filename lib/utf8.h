/* utf8.h -- text from the target is not trusted to be UTF-8; writers that
 * need valid UTF-8 (proto3 strings, JSON) check it with this. */
#ifndef HG_UTF8_H
#define HG_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
size_t hg_utf8_len(const unsigned char *p, size_t n);

#endif
