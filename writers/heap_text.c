/*
 * heap_text.c -- a snapshot as a readable table ("heapgrab stats").
 *
 * In the spirit of Go's runtime.MemStats: what the heap took from the OS,
 * what is in use, what is idle and where (bins, top, tcache, fastbins), what
 * of it is released, then one row per arena, the threads' tcaches, RSS and
 * the heap's share of it, and any problems found.  Lines stay within 100
 * columns; strings that come from the target are printed with control
 * characters and invalid UTF-8 replaced by '?'.
 */
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "writers/text_safe.h"

#define WIDTH 100

/*
 * Copy s (a string from the target) into buf for the terminal: control
 * characters and bytes that are not valid UTF-8 become '?'.  Truncated to
 * fit buf.  Returns the number of code points (columns, roughly).
 */
static size_t clean(const char *s, char *buf, size_t size)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p), o = 0, cols = 0;
    while (n) {
        size_t len = hg_text_printable(p, n);
        if (len == 0) {
            if (o + 1 >= size)
                break;
            buf[o++] = '?';
            len = 1;
        } else {
            if (o + len >= size)
                break;
            memcpy(buf + o, p, len);
            o += len;
        }
        p += len;
        n -= len;
        cols++;
    }
    buf[o] = '\0';
    return cols;
}

/* Bytes of the first k code points of a clean string. */
static size_t cp_bytes(const char *s, size_t k)
{
    size_t i = 0;
    while (s[i] && k) {
        i++;
        while (((unsigned char)s[i] & 0xc0) == 0x80)
            i++;
        k--;
    }
    return i;
}

/* Print a target string within max columns; a longer one keeps its tail
 * (the telling end of a path) after "...". */
static void put_clean(FILE *f, const char *s, size_t max)
{
    char buf[4200];
    size_t cols = clean(s, buf, sizeof buf);
    const char *p = buf;
    if (cols > max && max > 3) {
        fputs("...", f);
        p += cp_bytes(buf, cols - (max - 3));
    }
    fputs(p, f);
}

/* Print a target string wrapped to WIDTH columns, the first line starting
 * at column col, continuation lines indented by indent.  Breaks at spaces
 * when it can. */
static void put_wrapped(FILE *f, const char *s, size_t col, size_t indent)
{
    char buf[4200];
    size_t n = clean(s, buf, sizeof buf);
    const char *p = buf;
    while (n) {
        size_t room = col + 1 < WIDTH ? WIDTH - col : 1;
        size_t take = n;
        if (n > room) {
            /* Last space within the first room+1 code points. */
            take = room;
            for (size_t k = room; k > 0; k--) {
                if (p[cp_bytes(p, k)] == ' ') {
                    take = k;
                    break;
                }
            }
        }
        size_t bytes = cp_bytes(p, take);
        fwrite(p, 1, bytes, f);
        p += bytes;
        n -= take;
        while (n && *p == ' ') {
            p++;
            n--;
        }
        if (n) {
            fprintf(f, "\n%*s", (int)indent, "");
            col = indent;
        }
    }
    fputc('\n', f);
}

/* One row of the totals block: label, human size, exact bytes, objects. */
static void total_row(FILE *f, const char *label, uint64_t bytes, int has_objects,
                      uint64_t objects)
{
    char h[32];
    fprintf(f, "  %-26s %11s %20" PRIu64, label, hg_text_human(bytes, h, sizeof h), bytes);
    if (has_objects)
        fprintf(f, " %14" PRIu64, objects);
    fputc('\n', f);
}

/* hg_totals' fields, from the one list (HG_TOTALS_FIELDS in heapgrab.h). */
struct total_field {
    const char *label;
    int unit, part;
    size_t offset;
};
#define TOTAL_FIELD(name, unit, part, label) {label, unit, part, offsetof(hg_totals, name)},
static const struct total_field total_fields[] = {HG_TOTALS_FIELDS(TOTAL_FIELD)};
#undef TOTAL_FIELD
#define NTOTAL_FIELDS (sizeof total_fields / sizeof *total_fields)

static uint64_t total_value(const hg_totals *t, const struct total_field *f)
{
    uint64_t v;
    memcpy(&v, (const char *)t + f->offset, sizeof v);
    return v;
}

/* The totals table: a row per byte figure, part by part, with the count of
 * the same label beside it; the idle parts under a line that sums them. */
static void total_rows(FILE *out, const hg_totals *t)
{
    for (int part = 0; part < HG_TOTALS_PART_COUNT; part++) {
        int idle = part == HG_TOTALS_IDLE;
        if (idle) {
            uint64_t bytes = 0, objects = 0;
            for (size_t i = 0; i < NTOTAL_FIELDS; i++)
                if (total_fields[i].part == part)
                    *(total_fields[i].unit == HG_TOTALS_BYTES ? &bytes : &objects) +=
                        total_value(t, &total_fields[i]);
            total_row(out, "idle", bytes, 1, objects);
        }
        for (size_t i = 0; i < NTOTAL_FIELDS; i++) {
            const struct total_field *f = &total_fields[i];
            if (f->part != part || f->unit != HG_TOTALS_BYTES)
                continue;
            int has_objects = 0;
            uint64_t objects = 0;
            for (size_t j = 0; j < NTOTAL_FIELDS; j++)
                if (total_fields[j].unit == HG_TOTALS_OBJECTS &&
                    strcmp(total_fields[j].label, f->label) == 0) {
                    has_objects = 1;
                    objects = total_value(t, &total_fields[j]);
                }
            char label[64];
            snprintf(label, sizeof label, "%s%s", idle ? "  " : "", f->label);
            total_row(out, label, total_value(t, f), has_objects, objects);
        }
    }
}

int hg_write_text(const hg_snapshot *s, FILE *out)
{
    if (!s || !out)
        return hg_fail(HG_EUSAGE, "hg_write_text: no snapshot or stream");

    char h[8][32];
    const hg_timing *tm = hg_snapshot_timing(s);
    const hg_totals *t = hg_snapshot_totals(s);

    /* Header. */
    fprintf(out, "heapgrab %s: pid %d, glibc ", HEAPGRAB_VERSION, hg_snapshot_pid(s));
    put_clean(out, hg_snapshot_glibc_version(s)[0] ? hg_snapshot_glibc_version(s) : "?", 16);
    fputs(" (located by ", out);
    put_clean(out, hg_snapshot_locate(s) ? hg_snapshot_locate(s) : "?", 16);
    fputc(')', out);
    if (tm->pause == HG_PAUSE_NO_STOP)
        fprintf(out, ", target never stopped (copied while it ran%s)",
                hg_snapshot_consistent(s) ? "" : ": NOT CONSISTENT");
    else if (tm->stopped_ns != HG_UNKNOWN) /* a core was never stopped */
        fprintf(out, ", target stopped %.2f ms", (double)tm->stopped_ns / 1e6);
    if (tm->pause == HG_PAUSE_COPY)
        fprintf(out, " to copy %.0f MiB (copy %.2f ms), walked after in %.2f ms",
                (double)tm->copied_bytes / (1 << 20), (double)tm->copy_ns / 1e6,
                (double)tm->analysis_ns / 1e6);
    else if (tm->pause == HG_PAUSE_WALK && tm->fallback)
        fputs(" for the walk (no copy: over the memory budget)", out);
    fputc('\n', out);
    fputs("exe: ", out);
    put_clean(out, hg_snapshot_exe(s)[0] ? hg_snapshot_exe(s) : "?", WIDTH - 5);
    fputs("\n\n", out);

    /* Totals. */
    fprintf(out, "%-28s %11s %20s %14s\n", "heap", "size", "bytes", "objects");
    total_rows(out, t);

    /* Arenas: 2+5+2+14+1+5 + 6*11 + 1+4 = 100 columns. */
    size_t na = hg_snapshot_arena_count(s);
    fprintf(out, "\n%zu arena%s\n", na, na == 1 ? "" : "s");
    if (na) {
        fprintf(out, "  %5s  %-14s %5s %10s %10s %10s %10s %10s %10s %4s\n", "arena",
                "address", "heaps", "system", "in use", "free", "top", "tcache",
                "fastbin", "lock");
        for (size_t i = 0; i < na; i++) {
            const hg_arena_info *a = hg_snapshot_arena(s, i);
            char addr[24];
            snprintf(addr, sizeof addr, "0x%" PRIx64, a->address);
            fprintf(out, "  %5d  %-14s %5u %10s %10s %10s %10s %10s %10s %4s\n", a->index,
                    addr, a->heaps, hg_text_human(a->system_mem, h[0], sizeof h[0]),
                    hg_text_human(a->totals.inuse_bytes, h[1], sizeof h[1]),
                    hg_text_human(a->totals.free_bytes, h[2], sizeof h[2]),
                    hg_text_human(a->totals.top_bytes, h[3], sizeof h[3]),
                    hg_text_human(a->totals.tcache_bytes, h[4], sizeof h[4]),
                    hg_text_human(a->totals.fastbin_bytes, h[5], sizeof h[5]),
                    a->mutex_held ? "held" : "-");
        }
    }

    /* Threads and their tcaches. */
    size_t nt = hg_snapshot_thread_count(s);
    fprintf(out, "\n%zu thread%s\n", nt, nt == 1 ? "" : "s");
    if (nt) {
        fprintf(out, "  %10s  %-18s %5s %14s %11s %20s\n", "tid", "tcache", "arena",
                "tcache chunks", "size", "bytes");
        for (size_t i = 0; i < nt; i++) {
            const hg_thread_info *th = hg_snapshot_thread(s, i);
            char addr[24], arena[16];
            if (th->tcache)
                snprintf(addr, sizeof addr, "0x%" PRIx64, th->tcache);
            else
                snprintf(addr, sizeof addr, "-");
            if (th->arena >= 0)
                snprintf(arena, sizeof arena, "%d", th->arena);
            else
                snprintf(arena, sizeof arena, "-");
            fprintf(out, "  %10d  %-18s %5s %14" PRIu64 " %11s %20" PRIu64 "\n", th->tid,
                    addr, arena, th->tcache_objects,
                    hg_text_human(th->tcache_bytes, h[0], sizeof h[0]), th->tcache_bytes);
        }
    }

    /* RSS and the heap's share of it. */
    uint64_t rss = hg_snapshot_rss_bytes(s);
    uint64_t resident = hg_snapshot_heap_resident_bytes(s);
    fputc('\n', out);
    if (rss == 0) /* the process said nothing */
        rss = HG_UNKNOWN;
    fprintf(out, "RSS %s, heap resident %s",
            rss == HG_UNKNOWN ? "n/a" : hg_text_human(rss, h[0], sizeof h[0]),
            resident == HG_UNKNOWN ? "n/a" : hg_text_human(resident, h[1], sizeof h[1]));
    if (rss != HG_UNKNOWN && resident != HG_UNKNOWN)
        fprintf(out, " (%.1f%% of RSS)", 100.0 * (double)resident / (double)rss);
    fputc('\n', out);

    /* Leaks, when the snapshot knows them (taken with holders). */
    const hg_leak_totals *lk = hg_snapshot_leaks(s);
    if (lk)
        fprintf(out, "leaks: %" PRIu64 " bytes direct in %" PRIu64 " objects, %" PRIu64
                " bytes indirect in %" PRIu64 " objects (heapgrab leaks for more)\n",
                lk->direct_bytes, lk->direct_objects, lk->indirect_bytes,
                lk->indirect_objects);

    /* Problems. */
    uint64_t ptotal = hg_snapshot_problem_total(s);
    size_t pn = hg_snapshot_problem_count(s);
    if (ptotal || pn) {
        fprintf(out, "\n%" PRIu64 " problem%s found", ptotal, ptotal == 1 ? "" : "s");
        if ((uint64_t)pn < ptotal)
            fprintf(out, ", first %zu shown", pn);
        fputs(":\n", out);
        for (size_t i = 0; i < pn; i++) {
            const hg_problem *p = hg_snapshot_problem(s, i);
            char lead[96];
            int col;
            int n = p->arena >= 0 ? snprintf(lead, sizeof lead, "  arena %d: ", p->arena)
                                  : snprintf(lead, sizeof lead, "  ");
            if (p->address) /* 0: a finding about no particular chunk */
                snprintf(lead + n, sizeof lead - (size_t)n,
                         "first bad chunk at 0x%" PRIx64 " : ", p->address);
            col = (int)strlen(lead);
            fputs(lead, out);
            put_wrapped(out, p->what, col > 0 ? (size_t)col : 0, 4);
        }
    }

    errno = 0;
    if (fflush(out) != 0 || ferror(out))
        return hg_fail(HG_EIO, "writing text: %s", errno ? strerror(errno) : "I/O error");
    return 0;
}
