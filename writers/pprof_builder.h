/* pbutil.h -- what the pprof writers share: a string table and gzip. */
#ifndef HG_PBUTIL_H
#define HG_PBUTIL_H

#include <stdint.h>
#include <stdio.h>

/* profile.proto's string table: index 0 is "", each string once. */
struct hg_strtab {
    char **v;           /* v[0] = "" */
    size_t n, cap;
    size_t *slots;      /* open addressing: string index + 1, 0 = empty */
    size_t nslots;      /* power of two */
};
/* Index of s (invalid UTF-8 replaced by U+FFFD), added if new; -1 when out
 * of memory.  Intern "" first. */
int64_t hg_strtab_intern(struct hg_strtab *t, const char *s);
void hg_strtab_free(struct hg_strtab *t);

/* Write data gzip-compressed (RFC 1952) to out; 0 or an HG_E* code. */
int hg_gzip_write(const uint8_t *data, size_t len, FILE *out);

#endif
