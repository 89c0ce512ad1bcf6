/* pprof_builder.c -- see pprof_builder.h. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include "heapgrab.h"
#include "lib/array.h"
#include "lib/error.h"
#include "lib/hashmap.h"
#include "lib/location.h"
#include "lib/utf8.h"
#include "profile.pb-c.h"
#include "writers/pprof_builder.h"

typedef Perftools__Profiles__Profile pb_profile;
typedef Perftools__Profiles__ValueType pb_value_type;
typedef Perftools__Profiles__Sample pb_sample;
typedef Perftools__Profiles__Label pb_label;
typedef Perftools__Profiles__Mapping pb_mapping;
typedef Perftools__Profiles__Location pb_location;
typedef Perftools__Profiles__Line pb_line;
typedef Perftools__Profiles__Function pb_function;

/* A sample or a location refers to its parts by where they start in the
 * shared arrays below: pointers into them would not survive their growth. */
struct sample {
    size_t loc_at, nlocs, value_at, label_at, nlabels;
};
struct location {
    uint64_t mapping_id, address;
    size_t line_at, nlines;
};

struct hg_pprof {
    int failed;                 /* out of memory at some call */
    hg_array(char *) strings;   /* the string table: strings[0] = "" */
    hg_u64map string_index;     /* hash probe key -> string index */
    hg_array(pb_value_type) types;
    int64_t default_type;
    pb_value_type period_type;
    int has_period;
    int64_t period, time_nanos, duration_nanos;
    hg_array(int64_t) comments;
    hg_array(pb_mapping) mappings;
    uint64_t main_mapping;
    hg_array(pb_function) functions;
    hg_u64map function_index;   /* hash probe key -> function id */
    hg_array(struct location) locations;
    hg_array(pb_line) lines;
    hg_u64map function_locations; /* function id -> its synthetic location */
    hg_array(struct sample) samples;
    hg_array(uint64_t) sample_locations;
    hg_array(int64_t) values;
    hg_array(pb_label) labels;
};

/* ------------------------------------------------------------ hash index */

/*
 * The string table and the functions are found by content through the one
 * u64 hash map (lib/hashmap.h): an entry's hash is its first probe key,
 * and when that key is taken by another entry (a collision of 64-bit
 * hashes) the next key is hg_hash64(key + 1), and so on until a free key.
 * The value is the entry's index or id.
 */
static uint64_t next_probe(uint64_t key) { return hg_hash64(key + 1); }

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ---------------------------------------------------------------- strings */

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

static int64_t intern_valid(struct hg_pprof *b, const char *s)
{
    uint64_t key = fnv1a(s);
    const uint64_t *at;
    while ((at = hg_u64map_get(&b->string_index, key)) != NULL) {
        if (strcmp(b->strings.ptr[*at], s) == 0)
            return (int64_t)*at;
        key = next_probe(key);
    }
    char *copy = strdup(s);
    char **slot = copy ? hg_array_push(b->strings) : NULL;
    if (!slot) {
        free(copy);
        b->failed = 1;
        return 0;
    }
    *slot = copy;
    size_t index = b->strings.size - 1;
    if (hg_u64map_put(&b->string_index, key, index) != 0) {
        b->failed = 1;
        return 0;
    }
    return (int64_t)index;
}

int64_t hg_pprof_string(struct hg_pprof *b, const char *s)
{
    int oom;
    char *fixed = utf8_fixed(s ? s : "", &oom);
    if (oom) {
        b->failed = 1;
        return 0;
    }
    int64_t i = intern_valid(b, fixed ? fixed : s ? s : "");
    free(fixed);
    return i;
}

/* ------------------------------------------------------- profile contents */

struct hg_pprof *hg_pprof_new(void)
{
    struct hg_pprof *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    hg_pprof_string(b, ""); /* index 0 */
    if (b->failed) {
        hg_pprof_free(b);
        return NULL;
    }
    return b;
}

void hg_pprof_free(struct hg_pprof *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->strings.size; i++)
        free(b->strings.ptr[i]);
    hg_array_clear(b->strings);
    hg_u64map_free(&b->string_index);
    hg_array_clear(b->types);
    hg_array_clear(b->comments);
    hg_array_clear(b->mappings);
    hg_array_clear(b->functions);
    hg_u64map_free(&b->function_index);
    hg_array_clear(b->locations);
    hg_array_clear(b->lines);
    hg_u64map_free(&b->function_locations);
    hg_array_clear(b->samples);
    hg_array_clear(b->sample_locations);
    hg_array_clear(b->values);
    hg_array_clear(b->labels);
    free(b);
}

void hg_pprof_sample_type(struct hg_pprof *b, const char *type, const char *unit)
{
    pb_value_type vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
    vt.type = hg_pprof_string(b, type);
    vt.unit = hg_pprof_string(b, unit);
    pb_value_type *slot = hg_array_push(b->types);
    if (slot)
        *slot = vt;
    else
        b->failed = 1;
}

void hg_pprof_default_sample_type(struct hg_pprof *b, const char *type)
{
    b->default_type = hg_pprof_string(b, type);
}

void hg_pprof_period(struct hg_pprof *b, const char *type, const char *unit, int64_t period)
{
    pb_value_type vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
    vt.type = hg_pprof_string(b, type);
    vt.unit = hg_pprof_string(b, unit);
    b->period_type = vt;
    b->has_period = 1;
    b->period = period;
}

void hg_pprof_time(struct hg_pprof *b, int64_t time_nanos, int64_t duration_nanos)
{
    b->time_nanos = time_nanos;
    b->duration_nanos = duration_nanos;
}

void hg_pprof_comment(struct hg_pprof *b, const char *text)
{
    int64_t s = hg_pprof_string(b, text);
    int64_t *slot = hg_array_push(b->comments);
    if (slot)
        *slot = s;
    else
        b->failed = 1;
}

uint64_t hg_pprof_mapping(struct hg_pprof *b, const struct hg_pprof_mapping *m)
{
    pb_mapping pm = PERFTOOLS__PROFILES__MAPPING__INIT;
    pm.id = b->mappings.size + 1;
    pm.memory_start = m->start;
    pm.memory_limit = m->limit;
    pm.file_offset = m->offset;
    pm.filename = hg_pprof_string(b, m->file);
    pm.build_id = m->build_id ? hg_pprof_string(b, m->build_id) : 0;
    pm.has_functions = pm.has_filenames = pm.has_line_numbers = pm.has_inline_frames =
        m->symbolized != 0;
    pb_mapping *slot = hg_array_push(b->mappings);
    if (!slot) {
        b->failed = 1;
        return 0;
    }
    *slot = pm;
    return pm.id;
}

void hg_pprof_main_mapping(struct hg_pprof *b, uint64_t id) { b->main_mapping = id; }

static uint64_t function_key(int64_t name, int64_t file, int64_t start_line)
{
    return hg_hash64((uint64_t)name ^ hg_hash64((uint64_t)file ^ hg_hash64((uint64_t)start_line)));
}

uint64_t hg_pprof_function(struct hg_pprof *b, const char *name, const char *file,
                           int64_t start_line)
{
    int64_t n = hg_pprof_string(b, name);
    int64_t f = file ? hg_pprof_string(b, file) : 0;
    uint64_t key = function_key(n, f, start_line);
    const uint64_t *at;
    while ((at = hg_u64map_get(&b->function_index, key)) != NULL) {
        const pb_function *fn = &b->functions.ptr[*at - 1];
        if (fn->name == n && fn->filename == f && fn->start_line == start_line)
            return fn->id;
        key = next_probe(key);
    }
    pb_function pf = PERFTOOLS__PROFILES__FUNCTION__INIT;
    pf.id = b->functions.size + 1;
    pf.name = n;
    pf.system_name = n;
    pf.filename = f;
    pf.start_line = start_line;
    pb_function *slot = hg_array_push(b->functions);
    if (!slot || hg_u64map_put(&b->function_index, key, pf.id) != 0) {
        if (slot)
            b->functions.size--;
        b->failed = 1;
        return 0;
    }
    *slot = pf;
    return pf.id;
}

uint64_t hg_pprof_location(struct hg_pprof *b, uint64_t mapping_id, uint64_t address,
                           const struct hg_pprof_line *lines, size_t nlines)
{
    size_t line_at = b->lines.size;
    if (hg_array_reserve(b->lines, line_at + nlines) != 0) {
        b->failed = 1;
        return 0;
    }
    for (size_t i = 0; i < nlines; i++) {
        pb_line ln = PERFTOOLS__PROFILES__LINE__INIT;
        ln.function_id = lines[i].function_id;
        ln.line = lines[i].line;
        b->lines.ptr[b->lines.size++] = ln;
    }
    struct location *l = hg_array_push(b->locations);
    if (!l) {
        b->failed = 1;
        return 0;
    }
    *l = (struct location){mapping_id, address, line_at, nlines};
    return b->locations.size;
}

uint64_t hg_pprof_function_location(struct hg_pprof *b, uint64_t function_id)
{
    const uint64_t *known = hg_u64map_get(&b->function_locations, function_id);
    if (known)
        return *known;
    struct hg_pprof_line line = {function_id, 0};
    uint64_t id = hg_pprof_location(b, 0, 0, &line, 1);
    if (id && hg_u64map_put(&b->function_locations, function_id, id) != 0) {
        b->failed = 1;
        return 0;
    }
    return id;
}

void hg_pprof_sample(struct hg_pprof *b, const uint64_t *locations, size_t nlocations,
                     const int64_t *values, const struct hg_pprof_label *labels,
                     size_t nlabels)
{
    struct sample s = {b->sample_locations.size, nlocations, b->values.size, b->labels.size,
                       nlabels};
    size_t nvalues = b->types.size;
    if (hg_array_reserve(b->sample_locations, s.loc_at + nlocations) != 0 ||
        hg_array_reserve(b->values, s.value_at + nvalues) != 0 ||
        hg_array_reserve(b->labels, s.label_at + nlabels) != 0) {
        b->failed = 1;
        return;
    }
    struct sample *slot = hg_array_push(b->samples);
    if (!slot) {
        b->failed = 1;
        return;
    }
    *slot = s;
    for (size_t i = 0; i < nlocations; i++)
        b->sample_locations.ptr[b->sample_locations.size++] = locations[i];
    for (size_t i = 0; i < nvalues; i++)
        b->values.ptr[b->values.size++] = values[i];
    for (size_t i = 0; i < nlabels; i++) {
        pb_label lb = PERFTOOLS__PROFILES__LABEL__INIT;
        lb.key = labels[i].key;
        lb.str = labels[i].str;
        lb.num = labels[i].num;
        b->labels.ptr[b->labels.size++] = lb;
    }
}

/* ---------------------------------------------------------------- writing */

/* Write data gzip-compressed (RFC 1952) to out. */
static int gzip_write(const uint8_t *data, size_t len, FILE *out)
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

/* The main mapping takes the first one's place and the first one its: the
 * two swap places and ids, in the mappings and in the locations. */
static void put_main_mapping_first(struct hg_pprof *b)
{
    uint64_t m = b->main_mapping;
    if (m <= 1 || m > b->mappings.size)
        return;
    pb_mapping first = b->mappings.ptr[0];
    b->mappings.ptr[0] = b->mappings.ptr[m - 1];
    b->mappings.ptr[m - 1] = first;
    b->mappings.ptr[0].id = 1;
    b->mappings.ptr[m - 1].id = m;
    for (size_t i = 0; i < b->locations.size; i++) {
        uint64_t *id = &b->locations.ptr[i].mapping_id;
        *id = *id == m ? 1 : *id == 1 ? m : *id;
    }
    b->main_mapping = 1;
}

/* ptrs = a calloc'd array of pointers to the n elements of items (NULL
 * when out of memory): protobuf-c takes repeated messages that way. */
#define POINT_TO(ptrs, items, n)                                   \
    do {                                                           \
        (ptrs) = calloc((n) ? (n) : 1, sizeof *(ptrs));            \
        for (size_t i_ = 0; (ptrs) && i_ < (n); i_++)              \
            (ptrs)[i_] = &(items)[i_];                             \
    } while (0)

/* base + off, where base may be NULL for an array nothing was put in (NULL
 * + 0 is not C). */
#define AT(base, off) ((base) ? (base) + (off) : NULL)

int hg_pprof_write(struct hg_pprof *b, FILE *out)
{
    if (b->failed)
        return hg_fail(HG_ENOMEM, "out of memory");
    put_main_mapping_first(b);

    size_t ns = b->samples.size, nl = b->locations.size;
    pb_sample *samples = calloc(ns ? ns : 1, sizeof *samples);
    pb_location *locations = calloc(nl ? nl : 1, sizeof *locations);
    pb_sample **sample_ptrs = NULL;
    pb_location **location_ptrs = NULL;
    pb_label **label_ptrs;
    pb_line **line_ptrs;
    pb_mapping **mapping_ptrs;
    pb_function **function_ptrs;
    pb_value_type **type_ptrs;
    if (samples)
        POINT_TO(sample_ptrs, samples, ns);
    if (locations)
        POINT_TO(location_ptrs, locations, nl);
    POINT_TO(label_ptrs, b->labels.ptr, b->labels.size);
    POINT_TO(line_ptrs, b->lines.ptr, b->lines.size);
    POINT_TO(mapping_ptrs, b->mappings.ptr, b->mappings.size);
    POINT_TO(function_ptrs, b->functions.ptr, b->functions.size);
    POINT_TO(type_ptrs, b->types.ptr, b->types.size);
    uint8_t *packed = NULL;
    int rc = 0;
    if (!sample_ptrs || !label_ptrs || !location_ptrs || !line_ptrs || !mapping_ptrs ||
        !function_ptrs || !type_ptrs) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto done;
    }

    for (size_t i = 0; i < ns; i++) {
        const struct sample *s = &b->samples.ptr[i];
        pb_sample sm = PERFTOOLS__PROFILES__SAMPLE__INIT;
        sm.n_location_id = s->nlocs;
        sm.location_id = AT(b->sample_locations.ptr, s->loc_at);
        sm.n_value = b->types.size;
        sm.value = AT(b->values.ptr, s->value_at);
        sm.n_label = s->nlabels;
        sm.label = label_ptrs + s->label_at; /* never NULL */
        samples[i] = sm;
    }
    for (size_t i = 0; i < nl; i++) {
        const struct location *l = &b->locations.ptr[i];
        pb_location pl = PERFTOOLS__PROFILES__LOCATION__INIT;
        pl.id = i + 1;
        pl.mapping_id = l->mapping_id;
        pl.address = l->address;
        pl.n_line = l->nlines;
        pl.line = line_ptrs + l->line_at; /* never NULL */
        locations[i] = pl;
    }

    pb_profile p = PERFTOOLS__PROFILES__PROFILE__INIT;
    p.n_sample_type = b->types.size;
    p.sample_type = type_ptrs;
    p.n_sample = ns;
    p.sample = sample_ptrs;
    p.n_mapping = b->mappings.size;
    p.mapping = mapping_ptrs;
    p.n_location = nl;
    p.location = location_ptrs;
    p.n_function = b->functions.size;
    p.function = function_ptrs;
    p.n_string_table = b->strings.size;
    p.string_table = b->strings.ptr;
    p.time_nanos = b->time_nanos;
    p.duration_nanos = b->duration_nanos;
    p.period_type = b->has_period ? &b->period_type : NULL;
    p.period = b->period;
    p.n_comment = b->comments.size;
    p.comment = b->comments.ptr;
    p.default_sample_type = b->default_type;

    size_t len = perftools__profiles__profile__get_packed_size(&p);
    packed = malloc(len ? len : 1);
    if (!packed) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto done;
    }
    if (perftools__profiles__profile__pack(&p, packed) != len) {
        rc = hg_fail(HG_EINTERNAL, "protobuf-c packed a profile of unexpected size");
        goto done;
    }
    rc = gzip_write(packed, len, out);
    /* The stream buffers: what did not reach the file shows only now, and
     * a stream already in error lost something before us. */
    errno = 0;
    if (rc == 0 && (fflush(out) != 0 || ferror(out)))
        rc = hg_fail(HG_EIO, "writing profile: %s", errno ? strerror(errno) : "I/O error");
done:
    free(packed);
    free(type_ptrs);
    free(function_ptrs);
    free(mapping_ptrs);
    free(line_ptrs);
    free(location_ptrs);
    free(label_ptrs);
    free(sample_ptrs);
    free(locations);
    free(samples);
    return rc;
}

/* A module the code locations fall in: from its start to past its last one. */
struct code_module {
    uint64_t start, limit;
    const hg_location *first; /* its path and build id */
};

int hg_pprof_code_locations(struct hg_pprof *b, const hg_location *locs, size_t n, const char *exe)
{
    hg_array(struct code_module) mods = HG_ARRAY_INIT;
    hg_array(struct hg_pprof_line) lines = HG_ARRAY_INIT;
    uint64_t *map_of = calloc(n ? n : 1, sizeof *map_of);
    int rc = 0;
    if (!map_of) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto done;
    }
    /* The mappings, in the order first seen, the executable made the main
     * one (pprof takes it for the binary); map_of[i]: location i's. */
    for (size_t i = 0; i < n; i++) {
        const hg_location *l = &locs[i];
        if (!l->module)
            continue;
        size_t m = 0;
        while (m < mods.size && mods.ptr[m].start != l->module_start)
            m++;
        if (m == mods.size) {
            struct code_module *mod = hg_array_push(mods);
            if (!mod) {
                rc = hg_fail(HG_ENOMEM, "out of memory");
                goto done;
            }
            *mod = (struct code_module){l->module_start, l->pc + 1, l};
        } else if (l->pc + 1 > mods.ptr[m].limit) {
            mods.ptr[m].limit = l->pc + 1;
        }
        map_of[i] = m + 1;
    }
    int have_main = 0;
    for (size_t m = 0; m < mods.size; m++) {
        const hg_location *l = mods.ptr[m].first;
        struct hg_pprof_mapping pm = {mods.ptr[m].start, mods.ptr[m].limit, 0, l->module,
                                      l->build_id, 1};
        uint64_t id = hg_pprof_mapping(b, &pm);
        /* the path as the target has it, before any UTF-8 repair */
        if (!have_main && exe && strcmp(l->module, exe) == 0) {
            hg_pprof_main_mapping(b, id);
            have_main = 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const hg_location *l = &locs[i];
        lines.size = 0;
        if (hg_array_reserve(lines, l->nlines) != 0) {
            rc = hg_fail(HG_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t k = 0; k < l->nlines; k++) {
            const hg_loc_line *ln = &l->lines[k];
            lines.ptr[lines.size++] = (struct hg_pprof_line){
                hg_pprof_function(b, ln->function ? ln->function : "??", ln->file ? ln->file : "",
                                  ln->start_line),
                ln->line};
        }
        hg_pprof_location(b, map_of[i], l->pc, lines.ptr, lines.size);
    }
done:
    hg_array_clear(mods);
    hg_array_clear(lines);
    free(map_of);
    return rc;
}
