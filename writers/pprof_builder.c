/* pbutil.c -- the string table and gzip stream both pprof writers use. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "lib/utf8.h"
#include "writers/pprof_builder.h"

/* ------------------------------------------------------------ string table */


static uint64_t str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static int strtab_rehash(struct hg_strtab *t)
{
    size_t nslots = t->nslots ? t->nslots * 2 : 256;
    size_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        size_t j = (size_t)str_hash(t->v[i]) & (nslots - 1);
        while (slots[j])
            j = (j + 1) & (nslots - 1);
        slots[j] = i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return 0;
}


/*
 * proto3 strings must be valid UTF-8 (strict decoders reject the whole
 * profile otherwise), but file names and the exe come from the target and
 * can hold any bytes.  Returns NULL if s is valid, else a malloc'd copy with
 * each invalid byte replaced by U+FFFD; *oom set when that copy fails.
 */
static char *utf8_fixed(const char *s, int *oom)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), bad = 0;
    for (size_t i = 0; i < n;) {
        size_t len = hg_utf8_len(p + i, n - i);
        bad += len == 0;
        i += len ? len : 1;
    }
    *oom = 0;
    if (!bad)
        return NULL;
    char *out = malloc(n + 2 * bad + 1);
    if (!out) {
        *oom = 1;
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = hg_utf8_len(p + i, n - i);
        if (len) {
            memcpy(out + o, p + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

static int64_t strtab_intern_valid(struct hg_strtab *t, const char *s);

/* Index of s in the table, added if new; -1 when out of memory. */
int64_t hg_strtab_intern(struct hg_strtab *t, const char *s)
{
    int oom;
    char *fixed = utf8_fixed(s ? s : "", &oom);
    if (oom)
        return -1;
    int64_t i = strtab_intern_valid(t, fixed ? fixed : s);
    free(fixed);
    return i;
}

static int64_t strtab_intern_valid(struct hg_strtab *t, const char *s)
{
    if (!s)
        s = "";
    if ((t->n + 1) * 2 > t->nslots && strtab_rehash(t) < 0)
        return -1;
    size_t j = (size_t)str_hash(s) & (t->nslots - 1);
    while (t->slots[j]) {
        size_t i = t->slots[j] - 1;
        if (strcmp(t->v[i], s) == 0)
            return (int64_t)i;
        j = (j + 1) & (t->nslots - 1);
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return -1;
        t->v = v;
        t->cap = cap;
    }
    char *copy = strdup(s);
    if (!copy)
        return -1;
    t->v[t->n] = copy;
    t->slots[j] = ++t->n;
    return (int64_t)(t->n - 1);
}

void hg_strtab_free(struct hg_strtab *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
    free(t->slots);
}

/* Write data gzip-compressed (RFC 1952) to out. */
int hg_gzip_write(const uint8_t *data, size_t len, FILE *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    int ret = deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                           Z_DEFAULT_STRATEGY);
    if (ret == Z_MEM_ERROR)
        return hg_fail(HG_ENOMEM, "out of memory");
    if (ret != Z_OK)
        return hg_fail(HG_EINTERNAL, "deflateInit2: %s", z.msg ? z.msg : "failed");

    unsigned char buf[16384];
    size_t off = 0;
    int flush, rc = 0;
    do {
        size_t chunk = len - off;
        if (chunk > (1u << 30))
            chunk = 1u << 30;
        z.next_in = data + off;
        z.avail_in = (uInt)chunk;
        off += chunk;
        flush = off == len ? Z_FINISH : Z_NO_FLUSH;
        do {
            z.next_out = buf;
            z.avail_out = sizeof buf;
            ret = deflate(&z, flush);
            if (ret == Z_STREAM_ERROR) {
                rc = hg_fail(HG_EINTERNAL, "deflate failed");
                goto out;
            }
            size_t have = sizeof buf - z.avail_out;
            if (have && fwrite(buf, 1, have, out) != have) {
                rc = hg_fail(HG_EIO, "writing profile: %s", strerror(errno));
                goto out;
            }
        } while (z.avail_out == 0);
    } while (flush != Z_FINISH);
    if (ret != Z_STREAM_END)
        rc = hg_fail(HG_EINTERNAL, "deflate did not finish");
out:
    deflateEnd(&z);
    return rc;
}

