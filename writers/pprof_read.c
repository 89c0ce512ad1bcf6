/*
 * pprof_read.c -- a pprof profile read back (see pprof_read.h).
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "writers/pprof_read.h"

/* Inflate a gzip member into a buffer of our own; 0 or an HG_E* code. */
static int gunzip(const unsigned char *in, size_t len, const char *what, unsigned char **out,
                  size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return hg_fail(HG_ENOMEM, "out of memory");
    size_t cap = len * 4 + 4096, n = 0;
    unsigned char *buf = malloc(cap);
    int rc = buf ? 0 : hg_fail(HG_ENOMEM, "out of memory");
    z.next_in = (unsigned char *)in;
    /* zlib counts in uInt: a gzip file over 4 GiB is not a profile here */
    z.avail_in = len > 0xffffffffu ? 0xffffffffu : (uInt)len;
    while (!rc) {
        if (n == cap) {
            if (cap >= HG_PPROF_READ_MAX) {
                rc = hg_fail(HG_EUSAGE, "%s: over %u MiB once uncompressed: not read", what,
                             HG_PPROF_READ_MAX >> 20);
                break;
            }
            size_t ncap = cap * 2 > HG_PPROF_READ_MAX ? HG_PPROF_READ_MAX : cap * 2;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) {
                rc = hg_fail(HG_ENOMEM, "out of memory");
                break;
            }
            buf = nb;
            cap = ncap;
        }
        z.next_out = buf + n;
        z.avail_out = (uInt)(cap - n);
        int zr = inflate(&z, Z_NO_FLUSH);
        n = cap - z.avail_out;
        if (zr == Z_STREAM_END)
            break;
        if (zr == Z_BUF_ERROR && z.avail_out != 0) {
            rc = hg_fail(HG_EUSAGE, "%s: the gzip data ends early", what);
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = hg_fail(zr == Z_MEM_ERROR ? HG_ENOMEM : HG_EUSAGE, "%s: bad gzip data (%s)",
                         what, z.msg ? z.msg : "zlib error");
        }
    }
    inflateEnd(&z);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

/* id -> index + 1 of every element; a repeated or zero id is refused. */
#define INDEX_IDS(map, items, count, kind)                                               \
    for (size_t i_ = 0; i_ < (count); i_++) {                                             \
        uint64_t id_ = (items)[i_]->id;                                                   \
        if (id_ == 0 || hg_u64map_get(&(map), id_))                                       \
            return hg_fail(HG_EUSAGE, "%s: %s id %llu is %s", what, kind,                  \
                           (unsigned long long)id_, id_ ? "repeated" : "zero");           \
        if (hg_u64map_put(&(map), id_, i_ + 1) != 0)                                      \
            return hg_fail(HG_ENOMEM, "out of memory");                                   \
    }

static int index_ids(struct hg_pprof_read *r, const char *what)
{
    Perftools__Profiles__Profile *pb = r->pb;
    INDEX_IDS(r->locations, pb->location, pb->n_location, "location")
    INDEX_IDS(r->functions, pb->function, pb->n_function, "function")
    return 0;
}

int hg_pprof_read(const void *data, size_t len, const char *what, struct hg_pprof_read *out)
{
    memset(out, 0, sizeof *out);
    const unsigned char *p = data;
    unsigned char *raw = NULL;
    size_t rawlen = len;
    if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
        int rc = gunzip(p, len, what, &raw, &rawlen);
        if (rc)
            return rc;
        p = raw;
    }
    out->pb = perftools__profiles__profile__unpack(NULL, rawlen, p);
    free(raw);
    if (!out->pb)
        return hg_fail(HG_EUSAGE, "%s is not a pprof profile (profile.proto does not decode)",
                       what);
    if (out->pb->n_sample_type == 0) {
        hg_pprof_read_free(out);
        return hg_fail(HG_EUSAGE, "%s is not a pprof profile (no sample types)", what);
    }
    int rc = index_ids(out, what);
    if (rc)
        hg_pprof_read_free(out);
    return rc;
}

void hg_pprof_read_free(struct hg_pprof_read *r)
{
    if (r->pb)
        perftools__profiles__profile__free_unpacked(r->pb, NULL);
    hg_u64map_free(&r->locations);
    hg_u64map_free(&r->functions);
    memset(r, 0, sizeof *r);
}

const char *hg_pprof_read_str(const struct hg_pprof_read *r, int64_t i)
{
    if (i <= 0 || (uint64_t)i >= r->pb->n_string_table || !r->pb->string_table[i])
        return "";
    return r->pb->string_table[i];
}

const Perftools__Profiles__Location *hg_pprof_read_location(const struct hg_pprof_read *r,
                                                            uint64_t id)
{
    const uint64_t *i = hg_u64map_get(&r->locations, id);
    return i ? r->pb->location[*i - 1] : NULL;
}

const Perftools__Profiles__Function *hg_pprof_read_function(const struct hg_pprof_read *r,
                                                            uint64_t id)
{
    const uint64_t *i = hg_u64map_get(&r->functions, id);
    return i ? r->pb->function[*i - 1] : NULL;
}
