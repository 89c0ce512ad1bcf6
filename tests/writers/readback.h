/*
 * readback.h -- what the writers' tests share: the CHECK macro, reading a
 * file back, gunzipping it, decoding a pprof profile, and strict UTF-8.
 */
#ifndef HG_TEST_READBACK_H
#define HG_TEST_READBACK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "profile.pb-c.h"

extern int failures;

#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            failures++;                                                           \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
        }                                                                         \
    } while (0)

typedef Perftools__Profiles__Profile Profile;

/* dir/name, malloc'd (aborts when out of memory). */
char *path_in(const char *dir, const char *name);
/* The whole file, NUL-terminated (*len excludes the NUL); NULL if it
 * cannot be read. */
unsigned char *read_file(const char *path, size_t *len);
/* Gunzip a whole buffer; NULL if it is not a complete gzip stream. */
unsigned char *gunzip(const unsigned char *in, size_t inlen, size_t *outlen);
/* The gzipped profile at path, decoded (free with
 * perftools__profiles__profile__free_unpacked); NULL, and a failed CHECK,
 * if it is not one. */
Profile *load_profile(const char *path);
/* String i of the profile's table, or NULL if out of range. */
const char *str_at(const Profile *p, int64_t i);
/* Strictly valid UTF-8 (no overlongs, surrogates or values past U+10FFFF)? */
int valid_utf8(const char *s);
/* The string table starts with "", holds each string once, all UTF-8. */
void check_string_table(const Profile *p);

/* Streams every writer must fail on, with HG_EIO and never a crash: a
 * full device (/dev/full), a stream open only for reading, one whose
 * writes fail (EIO, as a dying disk's), and one already in error. */
enum { BAD_FULL, BAD_READ_ONLY, BAD_EIO, BAD_IN_ERROR, BAD_STREAMS };
extern const char *const bad_stream_name[BAD_STREAMS];
/* A new stream of that kind (close it with fclose), or NULL when this
 * machine cannot make it (no /dev/full). */
FILE *bad_stream_open(int kind);

/* A stream that takes the first `room` bytes written to it (kept in sink)
 * and fails every write after them with ENOSPC, as a disk that fills up
 * partway through a file does; with `unbuffered`, stdio passes each write
 * straight to it.  Free sink->data after fclose. */
struct cut_sink {
    char *data;
    size_t len, room;
};
FILE *cut_stream_open(struct cut_sink *sink, size_t room, int unbuffered);

#endif
