/*
 * report_html.c -- a heap snapshot, a CPU profile or any pprof profile as
 * one self-contained HTML page: the template (writers/report/report.html,
 * .css, .js, embedded at build time as report_page.c) with the data in
 * as JSON.  The page draws the stats summary, a flame graph and the top
 * table from that JSON; it loads nothing (its Content-Security-Policy
 * forbids any request).
 *
 * Every input goes through the same model: heapgrab's own pprof writers
 * write the profile into memory and pprof_read.c decodes it, as it decodes
 * a PROFILE.pprof given to `heapgrab report`.  So the page of a snapshot
 * and the page of that snapshot's .pprof agree, and the top table holds
 * the numbers `go tool pprof -top` computes from the same bytes:
 *   flat  the sample values whose leaf frame is the function
 *   cum   the sample values whose stack holds the function at least once
 *         (a recursive function counts once per sample)
 * functions grouped by name, inlined frames their own (pprof's default
 * granularity).  The flame graph is the call tree of the samples, root
 * first: identical paths merged, each node's own values (the page sums
 * them up the tree).  A CPU profile's samples labelled with a thread get
 * that thread as their outermost frame.  With a base profile, its samples
 * go into the same tree and table as a second set of values (matched to
 * the new profile's sample types by name), for the page to compare.
 *
 * The JSON (compact; the page's format, versioned by "format"):
 *   kind     "heap", "cpu", "allocs" or "pprof"; title; meta {pid, exe, ...}
 *   stats    heapgrab stats --json's object (a snapshot), else null
 *   types    [{type, unit}] the profile's sample types; default: the index
 *            go tool pprof shows
 *   names    every frame's text, once
 *   parent, name, self   the call tree's nodes, column by column: how far
 *            back each node's parent is (node i's parent is i - that; 0
 *            for the root, node 0), its name, and one array per type of
 *            each node's own value, then (with a base) one per type of the
 *            base's
 *   top      per function: name, then flat and cum of each type, then
 *            (with a base) the base's, then per type pprof's mark: 0 none,
 *            1 "(inline)", 2 "(partial-inline)"
 *   total, base_total   sum of each type
 *
 * A big profile's JSON goes in gzipped, as base64 after "gz:" (the page
 * inflates it with the browser's DecompressionStream): a CPU profile of
 * 100,000 distinct stacks is some 5 MB of JSON, 0.6 MB so.  A small one
 * goes in as it is, readable in the page's source.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "heapgrab.h"
#include "lib/array.h"
#include "lib/error.h"
#include "lib/hashmap.h"
#include "lib/utf8.h"
#include "writers/pprof_read.h"
#include "writers/report_page.h"

#define REPORT_FORMAT 1

/* Every frame text once: index by hash of the text, chained on collision
 * by rehashing. */
struct names {
    hg_array(char *) text;
    hg_u64map index;  /* probe key -> name + 1 */
};

static uint64_t text_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The index of text (added if new); -1 when out of memory. */
static int64_t name_of(struct names *n, const char *text)
{
    uint64_t k = text_hash(text);
    for (;;) {
        const uint64_t *v = hg_u64map_get(&n->index, k);
        if (!v)
            break;
        if (strcmp(n->text.ptr[*v - 1], text) == 0)
            return (int64_t)*v - 1;
        k = hg_hash64(k + 1);
    }
    char *copy = strdup(text);
    char **slot = copy ? hg_array_push(n->text) : NULL;
    if (!slot || hg_u64map_put(&n->index, k, n->text.size) != 0) {
        if (slot)
            n->text.size--;
        free(copy);
        return -1;
    }
    *slot = copy;
    return (int64_t)n->text.size - 1;
}

/* At most this many sample types are shown (heapgrab writes 3 or 4). */
#define MAX_TYPES 16
/* Frames of one stack, and of all samples together (a CPU profile of
 * 100,000 stacks 40 deep has 4 million): beyond, the profile is refused. */
#define REPORT_MAX_STACK 100000u
#define REPORT_MAX_FRAMES 50000000u

struct node {
    int64_t parent, name;
};

struct model {
    size_t nt;            /* sample types */
    int has_base;
    size_t stride;        /* values per node and per top entry half: nt * (1 + has_base) */
    struct names names;
    hg_array(struct node) nodes;
    hg_array(int64_t) node_vals;     /* stride per node */
    hg_u64map children;              /* (parent << 32 | name) -> node + 1 */
    /* per name: flat and cum of each type, new then base (4 * nt) */
    hg_array(int64_t) top;
    hg_array(uint64_t) stamp;        /* per name: last sample that counted it */
    /* the calls (caller -> callee names), for pprof's inline marks: per
     * edge nt states (0 unseen, 1 always inlined, 2 not always), the
     * callee, the last sample that had it */
    hg_u64map edges;
    hg_array(uint64_t) edge_state;
    uint64_t sample_no;
    int64_t total[2][MAX_TYPES];
};

static int grow_names(struct model *m)
{
    while (m->top.size < m->names.text.size * 4 * m->nt) {
        int64_t *v = hg_array_push(m->top);
        if (!v)
            return -1;
        *v = 0;
    }
    while (m->stamp.size < m->names.text.size) {
        uint64_t *v = hg_array_push(m->stamp);
        if (!v)
            return -1;
        *v = 0;
    }
    return 0;
}

/* The child of parent named name (made if new); -1 when out of memory.
 * Nodes and names number fewer than 2^32 (each comes from at least a byte
 * of a profile, and a profile is at most HG_PPROF_READ_MAX), so the key is
 * the pair. */
static int64_t child_of(struct model *m, int64_t parent, int64_t name)
{
    uint64_t key = (uint64_t)parent << 32 | (uint64_t)name;
    const uint64_t *v = hg_u64map_get(&m->children, key);
    if (v)
        return (int64_t)*v - 1;
    struct node *n = hg_array_push(m->nodes);
    if (!n)
        return -1;
    *n = (struct node){parent, name};
    if (hg_array_reserve(m->node_vals, m->node_vals.size + m->stride) != 0 ||
        hg_u64map_put(&m->children, key, m->nodes.size) != 0)
        return -1;
    memset(m->node_vals.ptr + m->node_vals.size, 0, m->stride * sizeof(int64_t));
    m->node_vals.size += m->stride;
    return (int64_t)m->nodes.size - 1;
}

static int model_init(struct model *m, size_t nt)
{
    memset(m, 0, sizeof *m);
    m->nt = nt;
    m->stride = nt;
    /* the root: node 0, named "root" (name 0) */
    if (name_of(&m->names, "root") != 0)
        return hg_fail(HG_ENOMEM, "out of memory");
    struct node *n = hg_array_push(m->nodes);
    if (!n)
        return hg_fail(HG_ENOMEM, "out of memory");
    *n = (struct node){-1, 0};
    if (hg_array_reserve(m->node_vals, nt ? nt : 1) != 0)
        return hg_fail(HG_ENOMEM, "out of memory");
    memset(m->node_vals.ptr, 0, nt * sizeof(int64_t));
    m->node_vals.size = nt;
    return 0;
}

/* With a base: every node gets a second set of values. */
static int model_add_base(struct model *m)
{
    size_t nn = m->nodes.size, nt = m->nt;
    if (hg_array_reserve(m->node_vals, nn * nt * 2) != 0)
        return hg_fail(HG_ENOMEM, "out of memory");
    for (size_t i = nn; i-- > 0;) {
        memmove(m->node_vals.ptr + i * 2 * nt, m->node_vals.ptr + i * nt, nt * sizeof(int64_t));
        memset(m->node_vals.ptr + i * 2 * nt + nt, 0, nt * sizeof(int64_t));
    }
    m->node_vals.size = nn * nt * 2;
    m->stride = nt * 2;
    m->has_base = 1;
    return 0;
}

static void model_free(struct model *m)
{
    for (size_t i = 0; i < m->names.text.size; i++)
        free(m->names.text.ptr[i]);
    hg_array_clear(m->names.text);
    hg_u64map_free(&m->names.index);
    hg_array_clear(m->nodes);
    hg_array_clear(m->node_vals);
    hg_u64map_free(&m->children);
    hg_array_clear(m->top);
    hg_array_clear(m->stamp);
    hg_u64map_free(&m->edges);
    hg_array_clear(m->edge_state);
}

/*
 * go tool pprof -top marks a function "(inline)" when every call into it
 * (every edge from its caller, in the samples of the type shown) was
 * inlined, "(partial-inline)" when some were; an edge is inlined when every
 * sample that has it has it inlined, and only its first occurrence in a
 * sample counts; a call of a function into itself is no edge.  The same,
 * here, per type: frames leaf first, inl[i] whether frame i is inlined
 * into frame i + 1.
 */
static int add_edges(struct model *m, const int64_t *frames, const unsigned char *inl,
                     size_t n, const int64_t *v)
{
    size_t nt = m->nt;
    for (size_t i = n - 1; n && i-- > 0;) {
        if (frames[i] == frames[i + 1])
            continue;
        uint64_t key = (uint64_t)frames[i + 1] << 32 | (uint64_t)frames[i];
        const uint64_t *e = hg_u64map_get(&m->edges, key);
        size_t at;
        if (e) {
            at = (size_t)*e - 1;
        } else {
            at = m->edge_state.size / (nt + 2);
            if (hg_array_reserve(m->edge_state, m->edge_state.size + nt + 2) != 0 ||
                hg_u64map_put(&m->edges, key, at + 1) != 0)
                return hg_fail(HG_ENOMEM, "out of memory");
            memset(m->edge_state.ptr + m->edge_state.size, 0, (nt + 2) * sizeof(uint64_t));
            m->edge_state.ptr[m->edge_state.size + nt] = (uint64_t)frames[i];
            m->edge_state.size += nt + 2;
        }
        uint64_t *st = m->edge_state.ptr + at * (nt + 2);
        if (st[nt + 1] == m->sample_no)
            continue; /* once per sample */
        st[nt + 1] = m->sample_no;
        for (size_t t = 0; t < nt; t++)
            if (v[t])
                st[t] = st[t] == 0 && inl[i] ? 1 : 2 - (st[t] == 1 && inl[i]);
    }
    return 0;
}

/* The thread a sample is labelled with ("name 1234"), or "" if none. */
static void thread_of(const struct hg_pprof_read *r, const Perftools__Profiles__Sample *s,
                      char *buf, size_t len)
{
    const char *tname = NULL;
    long long tid = -1;
    for (size_t i = 0; i < s->n_label; i++) {
        const char *key = hg_pprof_read_str(r, s->label[i]->key);
        if (!strcmp(key, "thread_name"))
            tname = hg_pprof_read_str(r, s->label[i]->str);
        else if (!strcmp(key, "thread_id"))
            tid = (long long)s->label[i]->num;
    }
    if (!tname && tid < 0)
        buf[0] = '\0';
    else if (tid < 0)
        snprintf(buf, len, "thread %s", tname);
    else
        snprintf(buf, len, "thread %lld %s", tid, tname ? tname : "");
}

/*
 * A location of many lines named by many samples would make a small file
 * into endless work: before anything is done, the frames are counted, and
 * a profile with a stack over REPORT_MAX_STACK frames, or over
 * REPORT_MAX_FRAMES in all, is refused.  0 or HG_EUSAGE.
 */
static int count_frames(const struct hg_pprof_read *r, const char *what, uint64_t *total)
{
    for (size_t si = 0; si < r->pb->n_sample; si++) {
        const Perftools__Profiles__Sample *s = r->pb->sample[si];
        uint64_t n = 0;
        for (size_t li = 0; li < s->n_location_id; li++) {
            const Perftools__Profiles__Location *loc =
                hg_pprof_read_location(r, s->location_id[li]);
            n += loc && loc->n_line ? loc->n_line : 1;
            if (n > REPORT_MAX_STACK)
                return hg_fail(HG_EUSAGE, "%s has a stack of over %u frames: not drawn", what,
                               REPORT_MAX_STACK);
        }
        if ((*total += n) > REPORT_MAX_FRAMES)
            return hg_fail(HG_EUSAGE, "%s has samples of over %u frames in all: not drawn",
                           what, REPORT_MAX_FRAMES);
    }
    return 0;
}

/*
 * The samples of r into the model: which = 0 the profile, 1 the base.
 * col[i]: the model's type of r's sample type i, or -1.
 */
static int add_profile(struct model *m, const struct hg_pprof_read *r, int which,
                       const int *col)
{
    hg_array(int64_t) frames = HG_ARRAY_INIT; /* names, leaf first */
    hg_array(unsigned char) inlined = HG_ARRAY_INIT; /* per frame */
    int rc = 0;
    size_t nt = m->nt, off = which ? nt : 0;
    for (size_t si = 0; si < r->pb->n_sample && !rc; si++) {
        const Perftools__Profiles__Sample *s = r->pb->sample[si];
        int64_t v[MAX_TYPES] = {0};
        int any = 0;
        for (size_t t = 0; t < s->n_value && t < r->pb->n_sample_type; t++)
            if (col[t] >= 0 && s->value[t]) {
                v[col[t]] = s->value[t];
                any = 1;
            }
        if (!any)
            continue; /* pprof leaves out samples of no value */
        frames.size = inlined.size = 0;
        char buf[64];
        for (size_t li = 0; li < s->n_location_id && !rc; li++) {
            const Perftools__Profiles__Location *loc =
                hg_pprof_read_location(r, s->location_id[li]);
            size_t nl = loc ? loc->n_line : 0;
            for (size_t k = 0; k < (nl ? nl : 1); k++) {
                const char *text = "?";
                if (nl && k + 1 < nl &&
                    loc->line[k]->function_id == loc->line[k + 1]->function_id)
                    continue; /* pprof merges a function inlined into itself
                                 (the lines differ, the frame is one) */
                if (nl) {
                    const Perftools__Profiles__Function *fn =
                        hg_pprof_read_function(r, loc->line[k]->function_id);
                    text = fn ? hg_pprof_read_str(r, fn->name) : "?";

                } else if (loc) {
                    snprintf(buf, sizeof buf, "%016" PRIx64, loc->address);
                    text = buf;
                }
                int64_t name = name_of(&m->names, text);
                int64_t *f = name >= 0 ? hg_array_push(frames) : NULL;
                unsigned char *il = f ? hg_array_push(inlined) : NULL;
                if (!il) {
                    rc = hg_fail(HG_ENOMEM, "out of memory");
                    break;
                }
                *f = name;
                /* every line but a location's last is inlined into the next */
                *il = nl && k + 1 < nl;
            }
        }
        if (rc || grow_names(m) != 0) {
            rc = rc ? rc : hg_fail(HG_ENOMEM, "out of memory");
            break;
        }
        /* the call tree, root first: the thread, then outermost to leaf */
        int64_t node = 0;
        thread_of(r, s, buf, sizeof buf);
        if (buf[0]) {
            int64_t tn = name_of(&m->names, buf);
            node = tn >= 0 && grow_names(m) == 0 ? child_of(m, node, tn) : -1;
        }
        for (size_t i = frames.size; i-- > 0 && node >= 0;)
            node = child_of(m, node, frames.ptr[i]);
        if (node < 0) {
            rc = hg_fail(HG_ENOMEM, "out of memory");
            break;
        }
        int64_t *nv = m->node_vals.ptr + (size_t)node * m->stride + off;
        for (size_t t = 0; t < nt; t++) {
            nv[t] += v[t];
            m->total[which][t] += v[t];
        }
        /* the top table: flat to the leaf, cum once to each function */
        m->sample_no++;
        if (!which && (rc = add_edges(m, frames.ptr, inlined.ptr, frames.size, v)) != 0)
            break;
        for (size_t i = 0; i < frames.size; i++) {
            int64_t *e = m->top.ptr + (size_t)frames.ptr[i] * 4 * nt + which * 2 * nt;
            if (i == 0)
                for (size_t t = 0; t < nt; t++)
                    e[t] += v[t];
            if (m->stamp.ptr[frames.ptr[i]] == m->sample_no)
                continue;
            m->stamp.ptr[frames.ptr[i]] = m->sample_no;
            for (size_t t = 0; t < nt; t++)
                e[nt + t] += v[t];
        }
    }
    hg_array_clear(frames);
    hg_array_clear(inlined);
    return rc;
}

/* ------------------------------------------------------------ output */

/* A JSON string: escaped per RFC 8259, bytes that are not UTF-8 as
 * U+FFFD.  (The script-context escapes are done on the whole document.) */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    while (n) {
        if (*p == '"' || *p == '\\') {
            fputc('\\', f);
            fputc(*p, f);
        } else if (*p < 0x20) {
            fprintf(f, "\\u%04x", *p);
        } else if (*p < 0x80) {
            fputc(*p, f);
        } else {
            size_t l = hg_utf8_len(p, n);
            if (!l) {
                fputs("\\ufffd", f);
                p++, n--;
                continue;
            }
            fwrite(p, 1, l, f);
            p += l, n -= l;
            continue;
        }
        p++, n--;
    }
    fputc('"', f);
}

/*
 * The JSON as the content of a <script> element: every '<' as \u003c (no
 * "</script", "<!--" or "<script" can end or change the element: a '<' can
 * only be inside a JSON string, where the escape means the same), and
 * U+2028 and U+2029 as \u2028 and \u2029 (old JavaScript takes them for
 * line ends).  0 or HG_EIO.
 */
static int write_script_json(const char *json, size_t len, FILE *out)
{
    size_t from = 0;
    for (size_t i = 0; i < len; i++) {
        const char *esc = NULL;
        size_t skip = 1;
        if (json[i] == '<') {
            esc = "\\u003c";
        } else if ((unsigned char)json[i] == 0xe2 && i + 2 < len &&
                   (unsigned char)json[i + 1] == 0x80 &&
                   ((unsigned char)json[i + 2] == 0xa8 || (unsigned char)json[i + 2] == 0xa9)) {
            esc = (unsigned char)json[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
            skip = 3;
        }
        if (!esc)
            continue;
        fwrite(json + from, 1, i - from, out);
        fputs(esc, out);
        i += skip - 1;
        from = i + 1;
    }
    fwrite(json + from, 1, len - from, out);
    return ferror(out) ? hg_fail(HG_EIO, "writing the report: I/O error") : 0;
}

struct page_data {
    const char *kind, *title;
    const char *stats_json;    /* or NULL */
    const char *meta_json;     /* an object's members, or "" */
};

static void write_json(FILE *f, const struct model *m, const struct hg_pprof_read *r,
                       int def, const struct page_data *d)
{
    size_t nt = m->nt;
    fprintf(f, "{\"format\":%d,\"version\":", REPORT_FORMAT);
    json_str(f, HEAPGRAB_VERSION);
    fputs(",\"kind\":", f);
    json_str(f, d->kind);
    fputs(",\"title\":", f);
    json_str(f, d->title);
    fprintf(f, ",\"meta\":{%s},\"stats\":%s,\"types\":[", d->meta_json,
            d->stats_json ? d->stats_json : "null");
    for (size_t t = 0; t < nt; t++) {
        fputs(t ? ",{\"type\":" : "{\"type\":", f);
        json_str(f, hg_pprof_read_str(r, r->pb->sample_type[t]->type));
        fputs(",\"unit\":", f);
        json_str(f, hg_pprof_read_str(r, r->pb->sample_type[t]->unit));
        fputc('}', f);
    }
    fprintf(f, "],\"default\":%d,\"base\":%s,\"total\":[", def, m->has_base ? "true" : "false");
    for (size_t t = 0; t < nt; t++)
        fprintf(f, "%s%" PRId64, t ? "," : "", m->total[0][t]);
    fputs("],\"base_total\":[", f);
    for (size_t t = 0; m->has_base && t < nt; t++)
        fprintf(f, "%s%" PRId64, t ? "," : "", m->total[1][t]);
    fputs("],\"comments\":[", f);
    for (size_t i = 0; i < r->pb->n_comment; i++) {
        if (i)
            fputc(',', f);
        json_str(f, hg_pprof_read_str(r, r->pb->comment[i]));
    }
    fputs("],\"names\":[", f);
    for (size_t i = 0; i < m->names.text.size; i++) {
        if (i)
            fputc(',', f);
        json_str(f, m->names.text.ptr[i]);
    }
    /* column by column (parents, names, then each value): gzip finds the
     * runs of a column, a third smaller than row by row.  The parent as
     * the distance back to it (a child comes after its parent, mostly
     * just after): fewer digits. */
    fputs("],\"parent\":[", f);
    for (size_t i = 0; i < m->nodes.size; i++)
        fprintf(f, "%s%" PRId64, i ? "," : "", i ? (int64_t)i - m->nodes.ptr[i].parent : 0);
    fputs("],\"name\":[", f);
    for (size_t i = 0; i < m->nodes.size; i++)
        fprintf(f, "%s%" PRId64, i ? "," : "", m->nodes.ptr[i].name);
    fputs("],\"self\":[", f);
    for (size_t k = 0; k < m->stride; k++) {
        fputs(k ? "],\n[" : "[", f);
        for (size_t i = 0; i < m->nodes.size; i++)
            fprintf(f, "%s%" PRId64, i ? "," : "", m->node_vals.ptr[i * m->stride + k]);
    }
    fputs(m->stride ? "]" : "", f);
    /* each function's inline mark per type: bit 1 an inlined call into
     * it, bit 2 a call not inlined */
    unsigned char *marks = calloc(m->names.text.size * nt + 1, 1);
    for (size_t e = 0; marks && e < m->edge_state.size / (nt + 2); e++) {
        const uint64_t *st = m->edge_state.ptr + e * (nt + 2);
        for (size_t t = 0; t < nt; t++)
            if (st[t])
                marks[st[nt] * nt + t] |= st[t] == 1 ? 1 : 2;
    }
    fputs("],\"top\":[", f);
    int first = 1;
    for (size_t i = 0; i < m->names.text.size; i++) {
        const int64_t *e = m->top.ptr + i * 4 * nt;
        int any = 0;
        for (size_t k = 0; k < 4 * nt; k++)
            any |= e[k] != 0;
        if (!any)
            continue;
        fprintf(f, "%s[%zu", first ? "" : ",\n", i);
        first = 0;
        /* flat and cum of each type, interleaved */
        for (size_t w = 0; w < 1u + (size_t)m->has_base; w++)
            for (size_t t = 0; t < nt; t++)
                fprintf(f, ",%" PRId64 ",%" PRId64, e[w * 2 * nt + t], e[w * 2 * nt + nt + t]);
        /* 0 no mark, 1 "(inline)", 2 "(partial-inline)" */
        for (size_t t = 0; t < nt; t++) {
            unsigned mk = marks ? marks[i * nt + t] : 0;
            fprintf(f, ",%d", mk == 1 ? 1 : mk == 3 ? 2 : 0);
        }
        fputc(']', f);
    }
    free(marks);
    fputs("]}", f);
}

/* JSON above this goes in gzipped (see the top). */
#define REPORT_GZIP_ABOVE (256u << 10)

/* "gz:" and the base64 of the gzip of in: 0 or an HG_E* code. */
static int write_gzip_base64(const char *in, size_t len, FILE *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return hg_fail(HG_ENOMEM, "out of memory");
    size_t cap = deflateBound(&z, (uLong)len);
    unsigned char *gz = malloc(cap);
    if (!gz) {
        deflateEnd(&z);
        return hg_fail(HG_ENOMEM, "out of memory");
    }
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)len;
    z.next_out = gz;
    z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_FINISH);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) {
        free(gz);
        return hg_fail(HG_EINTERNAL, "compressing the report's data failed");
    }
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputs("gz:", out);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)gz[i] << 16 | (i + 1 < n ? (unsigned)gz[i + 1] << 8 : 0) |
                     (i + 2 < n ? gz[i + 2] : 0);
        char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63],
                     i + 1 < n ? b64[v >> 6 & 63] : '=', i + 2 < n ? b64[v & 63] : '='};
        fwrite(q, 1, 4, out);
        if (i % 57 == 54)
            fputc('\n', out); /* 76 characters a line */
    }
    free(gz);
    return ferror(out) ? hg_fail(HG_EIO, "writing the report: I/O error") : 0;
}

/* The template with the data in it. */
static int write_page(const char *json, size_t len, FILE *out)
{
    static const char css_mark[] = "/*HG:CSS*/", js_mark[] = "/*HG:JS*/",
                      data_mark[] = "/*HG:DATA*/";
    const char *html = hg_report_html;
    const char *c = strstr(html, css_mark), *d = strstr(html, data_mark),
               *j = strstr(html, js_mark);
    if (!c || !d || !j || !(c < d && d < j))
        return hg_fail(HG_EINTERNAL, "the report template lacks its markers");
    fwrite(html, 1, (size_t)(c - html), out);
    fputs(hg_report_css, out);
    c += sizeof css_mark - 1;
    fwrite(c, 1, (size_t)(d - c), out);
    int rc = len > REPORT_GZIP_ABOVE && len < 0xffffffffu ? write_gzip_base64(json, len, out)
                                                          : write_script_json(json, len, out);
    d += sizeof data_mark - 1;
    fwrite(d, 1, (size_t)(j - d), out);
    fputs(hg_report_js, out);
    j += sizeof js_mark - 1;
    fputs(j, out);
    if (rc)
        return rc;
    if (fflush(out) != 0 || ferror(out))
        return hg_fail(HG_EIO, "writing the report: I/O error");
    return 0;
}

/* The index of type in r's sample types, or -1. */
static int type_index(const struct hg_pprof_read *r, const char *type)
{
    for (size_t t = 0; t < r->pb->n_sample_type; t++)
        if (!strcmp(hg_pprof_read_str(r, r->pb->sample_type[t]->type), type))
            return (int)t;
    return -1;
}

/* A page of the pprof profile in (len bytes), with its page data. */
static int report_of_pprof(const void *in, size_t len, const char *what,
                           const hg_report_options *o, const struct page_data *d, FILE *out)
{
    struct hg_pprof_read r, base = {0};
    int rc = hg_pprof_read(in, len, what, &r);
    if (rc)
        return rc;
    struct model m;
    char *json = NULL;
    size_t jlen = 0;
    FILE *f = NULL;
    size_t nt = r.pb->n_sample_type > MAX_TYPES ? MAX_TYPES : r.pb->n_sample_type;
    int col[MAX_TYPES * 4];
    if ((rc = model_init(&m, nt)) != 0)
        goto done;
    /* go tool pprof's default: default_sample_type if set, else the last */
    int def = (int)nt - 1;
    if (r.pb->default_sample_type) {
        int i = type_index(&r, hg_pprof_read_str(&r, r.pb->default_sample_type));
        if (i >= 0 && (size_t)i < nt)
            def = i;
    }
    if (o && o->base) {
        if ((rc = hg_pprof_read(o->base, o->base_len, "the base profile", &base)) != 0 ||
            (rc = model_add_base(&m)) != 0)
            goto done;
    }
    if (grow_names(&m) != 0) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto done;
    }
    size_t nbt = base.pb ? base.pb->n_sample_type : 0;
    if (r.pb->n_sample_type > MAX_TYPES * 4 || nbt > MAX_TYPES * 4) {
        rc = hg_fail(HG_EUSAGE, "%s has over %d sample types", base.pb && nbt > MAX_TYPES * 4
                     ? "the base profile" : what, MAX_TYPES * 4);
        goto done;
    }
    int bcol[MAX_TYPES * 4], matched = 0;
    for (size_t t = 0; t < r.pb->n_sample_type; t++)
        col[t] = t < nt ? (int)t : -1;
    for (size_t t = 0; t < nbt; t++) {
        int i = type_index(&r, hg_pprof_read_str(&base, base.pb->sample_type[t]->type));
        bcol[t] = i >= 0 && (size_t)i < nt ? i : -1;
        matched |= bcol[t] >= 0;
    }
    if (base.pb && !matched) {
        rc = hg_fail(HG_EUSAGE, "the base profile has none of %s's sample types", what);
        goto done;
    }
    uint64_t nframes = 0;
    if ((rc = count_frames(&r, what, &nframes)) != 0 ||
        (base.pb && (rc = count_frames(&base, "the base profile", &nframes)) != 0))
        goto done;
    if ((rc = add_profile(&m, &r, 0, col)) != 0 ||
        (base.pb && (rc = add_profile(&m, &base, 1, bcol)) != 0))
        goto done;
    f = open_memstream(&json, &jlen);
    if (!f) {
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto done;
    }
    write_json(f, &m, &r, def, d);
    if (fclose(f) != 0) {
        f = NULL;
        rc = hg_fail(HG_ENOMEM, "out of memory");
        goto done;
    }
    f = NULL;
    rc = write_page(json, jlen, out);
done:
    free(json);
    model_free(&m);
    hg_pprof_read_free(&r);
    if (base.pb)
        hg_pprof_read_free(&base);
    return rc;
}

/* What write writes of what, in memory: 0 or an HG_E* code. */
static int in_memory(int (*write)(const void *, FILE *), const void *what, char **buf,
                     size_t *len)
{
    *buf = NULL;
    FILE *f = open_memstream(buf, len);
    if (!f)
        return hg_fail(HG_ENOMEM, "out of memory");
    int rc = write(what, f);
    if (fclose(f) != 0 && !rc)
        rc = hg_fail(HG_ENOMEM, "out of memory");
    if (rc) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

static int snapshot_pprof(const void *s, FILE *f) { return hg_write_pprof(s, f); }
static int profile_pprof(const void *p, FILE *f) { return hg_write_profile_pprof(p, f); }
static int allocs_pprof(const void *a, FILE *f) { return hg_write_allocs_pprof(a, f); }

/* "exe (pid N)" for a title. */
static void title_of(char *buf, size_t len, const char *what, const char *exe, int pid)
{
    const char *slash = exe ? strrchr(exe, '/') : NULL;
    const char *base = slash ? slash + 1 : exe && *exe ? exe : "?";
    if (pid > 0)
        snprintf(buf, len, "%s of %s (pid %d)", what, base, pid);
    else
        snprintf(buf, len, "%s of %s", what, base);
}

int hg_write_report_html(const hg_snapshot *s, const hg_report_options *o, FILE *out)
{
    if (!s || !out)
        return hg_fail(HG_EUSAGE, "hg_write_report_html: no snapshot or stream");
    char *pprof = NULL, *stats = NULL, *meta = NULL;
    size_t plen = 0, mlen = 0;
    int rc = in_memory(snapshot_pprof, s, &pprof, &plen);
    if (!rc)
        rc = hg_write_json_string(s, &stats);
    FILE *mf = rc ? NULL : open_memstream(&meta, &mlen);
    if (!rc && !mf)
        rc = hg_fail(HG_ENOMEM, "out of memory");
    if (!rc) {
        fprintf(mf, "\"pid\":%d,\"exe\":", hg_snapshot_pid(s));
        json_str(mf, hg_snapshot_exe(s) ? hg_snapshot_exe(s) : "");
        fprintf(mf, ",\"time_nanos\":%" PRIu64 ",\"holders\":%s", hg_snapshot_time_ns(s),
                hg_snapshot_leaks(s) ? "true" : "false");
        if (fclose(mf) != 0)
            rc = hg_fail(HG_ENOMEM, "out of memory");
    }
    if (!rc) {
        char title[256];
        title_of(title, sizeof title, "heap", hg_snapshot_exe(s), hg_snapshot_pid(s));
        struct page_data d = {"heap", o && o->title ? o->title : title, stats, meta};
        rc = report_of_pprof(pprof, plen, "the heap profile", o, &d, out);
    }
    free(pprof);
    free(meta);
    hg_free(stats);
    return rc;
}

int hg_write_profile_report_html(const hg_profile *p, const hg_report_options *o, FILE *out)
{
    if (!p || !out)
        return hg_fail(HG_EUSAGE, "hg_write_profile_report_html: no profile or stream");
    char *pprof = NULL;
    size_t plen = 0;
    int rc = in_memory(profile_pprof, p, &pprof, &plen);
    if (rc)
        return rc;
    const hg_profile_timing *tm = hg_profile_timing_of(p);
    char meta[256];
    snprintf(meta, sizeof meta,
             "\"samples\":%" PRIu64 ",\"duration_ns\":%" PRIu64 ",\"stopped_ns_total\":%" PRIu64
             ",\"cpu_ns\":%" PRIu64 ",\"threads\":%zu",
             tm->samples, tm->duration_ns, tm->stopped_ns_total, tm->cpu_ns,
             hg_profile_thread_count(p));
    struct page_data d = {"cpu", o && o->title ? o->title : "CPU profile", NULL, meta};
    rc = report_of_pprof(pprof, plen, "the CPU profile", o, &d, out);
    free(pprof);
    return rc;
}

int hg_write_allocs_report_html(const hg_allocs *a, const hg_report_options *o, FILE *out)
{
    if (!a || !out)
        return hg_fail(HG_EUSAGE, "hg_write_allocs_report_html: no profile or stream");
    char *pprof = NULL;
    size_t plen = 0;
    int rc = in_memory(allocs_pprof, a, &pprof, &plen);
    if (rc)
        return rc;
    const hg_sampler_info *in = hg_allocs_info(a);
    char meta[256];
    snprintf(meta, sizeof meta,
             "\"alloc_objects\":%" PRIu64 ",\"alloc_bytes\":%" PRIu64 ",\"sampling_rate\":%" PRIu64,
             in->alloc_objects, in->alloc_bytes, in->rate);
    struct page_data d = {"allocs", o && o->title ? o->title : "allocation profile", NULL, meta};
    rc = report_of_pprof(pprof, plen, "the allocation profile", o, &d, out);
    free(pprof);
    return rc;
}

int hg_pprof_check(const void *pprof, size_t len)
{
    if (!pprof)
        return hg_fail(HG_EUSAGE, "hg_pprof_check: no profile");
    struct hg_pprof_read r;
    int rc = hg_pprof_read(pprof, len, "the base profile", &r);
    if (!rc)
        hg_pprof_read_free(&r);
    return rc;
}

int hg_write_pprof_report_html(const void *pprof, size_t len, const hg_report_options *o,
                               FILE *out)
{
    if (!pprof || !out)
        return hg_fail(HG_EUSAGE, "hg_write_pprof_report_html: no profile or stream");
    struct page_data d = {"pprof", o && o->title ? o->title : "pprof profile", NULL, ""};
    /* heapgrab's own kinds, known by their sample types, are drawn as such
     * (a CPU profile's thread frames) */
    struct hg_pprof_read r;
    int rc = hg_pprof_read(pprof, len, "the profile", &r);
    if (rc)
        return rc;
    if (type_index(&r, "inuse_space") >= 0) {
        d.kind = "heap";
        d.title = o && o->title ? o->title : "heap profile";
    } else if (type_index(&r, "cpu") >= 0 || type_index(&r, "wall") >= 0) {
        d.kind = "cpu";
        d.title = o && o->title ? o->title : "CPU profile";
    }
    hg_pprof_read_free(&r);
    return report_of_pprof(pprof, len, "the profile", o, &d, out);
}
