/* readback.c -- see readback.h. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "tests/writers/readback.h"

char *path_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p)
        abort();
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = 0;
    *len = n;
    return buf;
}

unsigned char *gunzip(const unsigned char *in, size_t inlen, size_t *outlen)
{
    if (inlen < 18 || in[0] != 0x1f || in[1] != 0x8b)
        return NULL;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK) /* gzip only */
        return NULL;
    size_t cap = inlen * 4 + 1024, n = 0;
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)inlen;
    int ret = Z_OK;
    while (out && ret == Z_OK) {
        if (n == cap) {
            unsigned char *no = realloc(out, cap * 2);
            if (!no) {
                free(out);
                out = NULL;
                break;
            }
            out = no;
            cap *= 2;
        }
        z.next_out = out + n;
        z.avail_out = (uInt)(cap - n);
        ret = inflate(&z, Z_NO_FLUSH);
        n = cap - z.avail_out;
    }
    int complete = ret == Z_STREAM_END && z.avail_in == 0;
    inflateEnd(&z);
    if (!complete) {
        free(out);
        return NULL;
    }
    *outlen = n;
    return out;
}

const char *str_at(const Profile *p, int64_t i)
{
    if (i < 0 || (uint64_t)i >= p->n_string_table)
        return NULL;
    return p->string_table[i];
}

int valid_utf8(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s, cp, min;
        int more;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            more = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            more = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            more = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        for (s++; more--; s++) {
            if ((*s & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (*s & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
    }
    return 1;
}

Profile *load_profile(const char *path)
{
    size_t zlen = 0, len = 0;
    unsigned char *z = read_file(path, &zlen);
    CHECK(z != NULL, "cannot read %s", path);
    if (!z)
        return NULL;
    unsigned char *raw = gunzip(z, zlen, &len);
    free(z);
    CHECK(raw != NULL, "%s is not a complete gzip stream", path);
    if (!raw)
        return NULL;
    Profile *p = perftools__profiles__profile__unpack(NULL, len, raw);
    free(raw);
    CHECK(p != NULL, "%s does not decode as a perftools.profiles.Profile", path);
    return p;
}

void check_string_table(const Profile *p)
{
    CHECK(p->n_string_table > 0 && strcmp(p->string_table[0], "") == 0,
          "string_table[0] must be \"\"");
    for (size_t i = 0; i < p->n_string_table; i++)
        CHECK(valid_utf8(p->string_table[i]), "string %zu is not UTF-8", i);
    for (size_t i = 0; i < p->n_string_table; i++)
        for (size_t j = i + 1; j < p->n_string_table; j++)
            CHECK(strcmp(p->string_table[i], p->string_table[j]) != 0,
                  "string \"%s\" is in the table twice", p->string_table[i]);
}

const char *const bad_stream_name[BAD_STREAMS] = {"a full device", "a read-only stream",
                                                  "a stream whose writes fail",
                                                  "a stream already in error"};

static ssize_t write_fails(void *cookie, const char *buf, size_t len)
{
    (void)cookie, (void)buf, (void)len;
    errno = EIO;
    return -1;
}

FILE *bad_stream_open(int kind)
{
    FILE *f = NULL;
    switch (kind) {
    case BAD_FULL:
        return fopen("/dev/full", "w");
    case BAD_READ_ONLY:
        return fopen("/dev/null", "r");
    case BAD_EIO:
        return fopencookie(NULL, "w", (cookie_io_functions_t){.write = write_fails});
    case BAD_IN_ERROR:
        /* reading a stream open only for writing sets its error flag */
        f = fopen("/dev/null", "w");
        if (f && (fgetc(f) != EOF || !ferror(f))) {
            fclose(f);
            f = NULL;
        }
        return f;
    }
    return NULL;
}

static ssize_t write_until_full(void *cookie, const char *buf, size_t len)
{
    struct cut_sink *sink = cookie;
    size_t n = sink->room - sink->len;
    if (n == 0) {
        errno = ENOSPC;
        return -1;
    }
    if (n > len)
        n = len;
    char *grown = realloc(sink->data, sink->len + n);
    if (!grown) {
        errno = ENOMEM;
        return -1;
    }
    sink->data = grown;
    memcpy(sink->data + sink->len, buf, n);
    sink->len += n;
    return (ssize_t)n; /* a short write: stdio retries the rest, which fails */
}

FILE *cut_stream_open(struct cut_sink *sink, size_t room, int unbuffered)
{
    *sink = (struct cut_sink){.room = room};
    FILE *f = fopencookie(sink, "w", (cookie_io_functions_t){.write = write_until_full});
    if (f && unbuffered)
        setvbuf(f, NULL, _IONBF, 0);
    return f;
}
