/* json_writer.c -- see json_writer.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "lib/utf8.h"
#include "writers/json_writer.h"

static void jw_indent(struct jw *w, int depth)
{
    fputc('\n', w->f);
    for (int i = 0; i < depth; i++)
        fputs("  ", w->f);
}

static void jw_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    fputc('"', f);
    while (n) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else if (c >= 0x80) {
            size_t len = hg_utf8_len(p, n);
            if (len == 0) {
                fputs("\\ufffd", f);
                len = 1;
            } else {
                fwrite(p, 1, len, f);
            }
            p += len;
            n -= len;
            continue;
        } else {
            fputc((int)c, f);
        }
        p++;
        n--;
    }
    fputc('"', f);
}

void jw_item(struct jw *w, const char *key)
{
    if (w->depth > 0) {
        if (w->depth <= JW_MAX_DEPTH) {
            if (w->has_items[w->depth - 1])
                fputc(',', w->f);
            w->has_items[w->depth - 1] = 1;
        }
        jw_indent(w, w->depth);
    }
    if (key) {
        jw_string(w->f, key);
        fputs(": ", w->f);
    }
}

void jw_open(struct jw *w, const char *key, char bracket)
{
    jw_item(w, key);
    fputc(bracket, w->f);
    if (w->depth < JW_MAX_DEPTH)
        w->has_items[w->depth] = 0;
    w->depth++;
}

void jw_close(struct jw *w, char bracket)
{
    w->depth--;
    if (w->depth < JW_MAX_DEPTH && w->has_items[w->depth])
        jw_indent(w, w->depth);
    fputc(bracket, w->f);
}

void jw_u64(struct jw *w, const char *key, uint64_t v)
{
    jw_item(w, key);
    fprintf(w->f, "%" PRIu64, v);
}

void jw_int(struct jw *w, const char *key, int v)
{
    jw_item(w, key);
    fprintf(w->f, "%d", v);
}

void jw_str(struct jw *w, const char *key, const char *v)
{
    jw_item(w, key);
    if (v)
        jw_string(w->f, v);
    else
        fputs("null", w->f);
}

void jw_addr(struct jw *w, const char *key, uint64_t v)
{
    jw_item(w, key);
    fprintf(w->f, "\"0x%" PRIx64 "\"", v);
}

void jw_bool(struct jw *w, const char *key, int v)
{
    jw_item(w, key);
    fputs(v ? "true" : "false", w->f);
}

void jw_null(struct jw *w, const char *key)
{
    jw_item(w, key);
    fputs("null", w->f);
}

void jw_known(struct jw *w, const char *key, uint64_t v)
{
    if (v == HG_UNKNOWN)
        jw_null(w, key);
    else
        jw_u64(w, key, v);
}

void jw_hex(struct jw *w, const char *key, const unsigned char *p, size_t n)
{
    jw_item(w, key);
    fputc('"', w->f);
    for (size_t i = 0; i < n; i++)
        fprintf(w->f, "%02x", p[i]);
    fputc('"', w->f);
}

int jw_finish(struct jw *w, const char *what)
{
    fputc('\n', w->f);
    errno = 0;
    if (fflush(w->f) != 0 || ferror(w->f))
        return hg_fail(HG_EIO, "writing %s: %s", what, errno ? strerror(errno) : "I/O error");
    return 0;
}

int jw_to_string(int (*write)(const hg_snapshot *, FILE *), const hg_snapshot *s, char **out)
{
    size_t len;
    *out = NULL;
    FILE *f = open_memstream(out, &len);
    if (!f)
        return hg_fail(HG_ENOMEM, "out of memory");
    int rc = write(s, f);
    if (fclose(f) != 0 && rc == 0)
        rc = hg_fail(HG_ENOMEM, "out of memory");
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}
