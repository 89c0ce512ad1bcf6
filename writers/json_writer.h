/*
 * json_writer.h -- the one JSON emitter every *_json.c writer uses:
 * pretty-printed with a 2-space indent, keys in the order they are given,
 * integers exactly as unsigned 64-bit decimals, addresses as "0x..."
 * strings.  Strings are escaped per RFC 8259; bytes that are not valid
 * UTF-8 (a file name can hold anything) become U+FFFD so the output is
 * always valid JSON.
 */
#ifndef HG_JSON_WRITER_H
#define HG_JSON_WRITER_H

#include <stdint.h>
#include <stdio.h>

#include "heapgrab.h"

#define JW_MAX_DEPTH 8

struct jw {
    FILE *f;
    int depth;
    int has_items[JW_MAX_DEPTH]; /* per open container */
};

/* Start a member (key != NULL) or array element (key == NULL). */
void jw_item(struct jw *w, const char *key);
/* Open '{' or '[' (as a member when key is given); close it. */
void jw_open(struct jw *w, const char *key, char bracket);
void jw_close(struct jw *w, char bracket);
void jw_u64(struct jw *w, const char *key, uint64_t v);
void jw_int(struct jw *w, const char *key, int v);
/* A string, or null for NULL. */
void jw_str(struct jw *w, const char *key, const char *v);
void jw_addr(struct jw *w, const char *key, uint64_t v);
void jw_bool(struct jw *w, const char *key, int v);
void jw_null(struct jw *w, const char *key);
/* A figure that may be unknown (HG_UNKNOWN): null then. */
void jw_known(struct jw *w, const char *key, uint64_t v);
/* Bytes as a string of lowercase hex digits. */
void jw_hex(struct jw *w, const char *key, const unsigned char *p, size_t n);
/* End the document (a newline), flush, and say HG_EIO if the stream
 * failed: 0 or HG_EIO. */
int jw_finish(struct jw *w, const char *what);

/* A writer's JSON in a NUL-terminated string (hg_free()). */
int jw_to_string(int (*write)(const hg_snapshot *, FILE *), const hg_snapshot *s, char **out);

/* leaks_json.c: the leaks object ("heapgrab leaks --json"), also the
 * "leaks" member of the holders JSON. */
void jw_leaks(struct jw *w, const char *key, const hg_snapshot *s);

#endif
