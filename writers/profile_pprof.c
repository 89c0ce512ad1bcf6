/*
 * stacks_pprof.c -- thread stacks (a dump or a sampling profile) as a
 * gzipped pprof CPU profile, as Go writes one:
 *   sample types samples/count, wall/nanoseconds (the time each sample
 *   stands for), cpu/nanoseconds (the CPU time its thread used in that
 *   time; a dump has neither); period_type wall/nanoseconds with period
 *   1e9/hz; duration and time set.
 * One Sample per distinct (thread, stack), labels thread_name (string) and
 * thread_id (number).  One Location per distinct address, with one Line per
 * inlined level (innermost first); Functions carry file names and start
 * lines so `go tool pprof -list` shows source; Mappings carry build IDs and
 * say everything is symbolized already.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "stacks/profile.h"
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

enum { V_SAMPLES, V_WALL, V_CPU, NVALUES };

static int64_t i64(uint64_t v) { return v > INT64_MAX ? INT64_MAX : (int64_t)v; }

/* Function ids by (name, file, start line): a linear probe table. */
struct funcs {
    pb_function *v;
    size_t n, cap;
};

static uint64_t func_id(struct funcs *f, struct hg_strtab *st, const char *name, const char *file,
                        int start_line)
{
    int64_t n = hg_strtab_intern(st, name ? name : "??");
    int64_t fl = hg_strtab_intern(st, file ? file : "");
    if (n < 0 || fl < 0)
        return 0;
    for (size_t i = 0; i < f->n; i++) /* few hundred functions: fine */
        if (f->v[i].name == n && f->v[i].filename == fl && f->v[i].start_line == start_line)
            return f->v[i].id;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        pb_function *v = realloc(f->v, cap * sizeof *v);
        if (!v)
            return 0;
        f->v = v;
        f->cap = cap;
    }
    pb_function pf = PERFTOOLS__PROFILES__FUNCTION__INIT;
    pf.id = f->n + 1;
    pf.name = n;
    pf.system_name = n;
    pf.filename = fl;
    pf.start_line = start_line;
    f->v[f->n++] = pf;
    return pf.id;
}

int hg_write_profile_pprof(const hg_profile *p, FILE *out)
{
    if (!p || !out)
        return hg_fail(HG_EUSAGE, "hg_write_profile_pprof: no profile or stream");
    int rc = 0;
    struct hg_strtab st = {0};
    struct funcs fn = {0};
    size_t ns = p->nstacks, nl = p->nlocs, nlines = 0, maxpcs = 0;
    for (size_t i = 0; i < nl; i++)
        nlines += p->locs[i].nlines ? p->locs[i].nlines : 1;
    for (size_t i = 0; i < ns; i++)
        maxpcs += p->stacks[i].npcs;

    pb_sample *samples = calloc(ns + 1, sizeof *samples);
    pb_sample **sample_ptrs = calloc(ns + 1, sizeof *sample_ptrs);
    uint64_t *loc_ids = calloc(maxpcs + 1, sizeof *loc_ids);
    int64_t *values = calloc((ns + 1) * NVALUES, sizeof *values);
    pb_label *labels = calloc((ns + 1) * 2, sizeof *labels);
    pb_label **label_ptrs = calloc((ns + 1) * 2, sizeof *label_ptrs);
    pb_location *locations = calloc(nl + 1, sizeof *locations);
    pb_location **location_ptrs = calloc(nl + 1, sizeof *location_ptrs);
    pb_line *lines = calloc(nlines + 1, sizeof *lines);
    pb_line **line_ptrs = calloc(nlines + 1, sizeof *line_ptrs);
    pb_mapping *mappings = calloc(nl + 1, sizeof *mappings);
    pb_mapping **mapping_ptrs = calloc(nl + 1, sizeof *mapping_ptrs);
    pb_function **function_ptrs = NULL;
    uint8_t *packed = NULL;
    if (!samples || !sample_ptrs || !loc_ids || !values || !labels || !label_ptrs ||
        !locations || !location_ptrs || !lines || !line_ptrs || !mappings || !mapping_ptrs)
        goto nomem;
    if (hg_strtab_intern(&st, "") != 0)
        goto nomem;

    static const char *const type_names[NVALUES][2] = {
        {"samples", "count"}, {"wall", "nanoseconds"}, {"cpu", "nanoseconds"}};
    pb_value_type types[NVALUES], *type_ptrs[NVALUES];
    for (int i = 0; i < NVALUES; i++) {
        pb_value_type vt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
        vt.type = hg_strtab_intern(&st, type_names[i][0]);
        vt.unit = hg_strtab_intern(&st, type_names[i][1]);
        if (vt.type < 0 || vt.unit < 0)
            goto nomem;
        types[i] = vt;
        type_ptrs[i] = &types[i];
    }
    int64_t k_name = hg_strtab_intern(&st, "thread_name");
    int64_t k_tid = hg_strtab_intern(&st, "thread_id");
    if (k_name < 0 || k_tid < 0)
        goto nomem;

    /* Mappings: one per module the locations fall in; the executable first
     * (pprof takes the first mapping for the main binary). */
    size_t nmap = 0;
    uint64_t *loc_map = calloc(nl + 1, sizeof *loc_map);
    if (!loc_map)
        goto nomem;
    for (size_t i = 0; i < nl; i++) {
        const hg_location *l = &p->locs[i];
        if (!l->module)
            continue;
        size_t m = 0;
        while (m < nmap && mappings[m].memory_start != l->module_start)
            m++;
        if (m == nmap) {
            pb_mapping pm = PERFTOOLS__PROFILES__MAPPING__INIT;
            pm.id = nmap + 1;
            pm.memory_start = l->module_start;
            pm.memory_limit = l->pc + 1;
            pm.filename = hg_strtab_intern(&st, l->module);
            pm.build_id = l->build_id ? hg_strtab_intern(&st, l->build_id) : 0;
            pm.has_functions = pm.has_filenames = pm.has_line_numbers = 1;
            pm.has_inline_frames = 1;
            if (pm.filename < 0 || pm.build_id < 0) {
                free(loc_map);
                goto nomem;
            }
            mappings[nmap] = pm;
            mapping_ptrs[nmap] = &mappings[nmap];
            nmap++;
        } else if (l->pc + 1 > mappings[m].memory_limit) {
            mappings[m].memory_limit = l->pc + 1;
        }
        loc_map[i] = m + 1;
    }

    for (size_t m = 1; m < nmap; m++)
        if (strcmp(st.v[mappings[m].filename], p->exe) == 0) {
            pb_mapping tmp = mappings[0];
            mappings[0] = mappings[m];
            mappings[m] = tmp;
            mappings[0].id = 1;
            mappings[m].id = m + 1;
            for (size_t i = 0; i < nl; i++)
                loc_map[i] = loc_map[i] == m + 1 ? 1 : loc_map[i] == 1 ? m + 1 : loc_map[i];
            break;
        }

    /* Locations, with a Line per inlined level. */
    size_t lo = 0;
    for (size_t i = 0; i < nl; i++) {
        const hg_location *l = &p->locs[i];
        pb_location pl = PERFTOOLS__PROFILES__LOCATION__INIT;
        pl.id = i + 1;
        pl.mapping_id = loc_map[i];
        pl.address = l->pc;
        pl.line = &line_ptrs[lo];
        size_t k = 0;
        for (; k < l->nlines; k++) {
            pb_line ln = PERFTOOLS__PROFILES__LINE__INIT;
            ln.function_id = func_id(&fn, &st, l->lines[k].function, l->lines[k].file,
                                     l->lines[k].start_line);
            ln.line = l->lines[k].line;
            if (!ln.function_id) {
                free(loc_map);
                goto nomem;
            }
            lines[lo + k] = ln;
            line_ptrs[lo + k] = &lines[lo + k];
        }
        pl.n_line = k;
        lo += k;
        locations[i] = pl;
        location_ptrs[i] = &locations[i];
    }
    free(loc_map);

    /* Samples. */
    size_t li = 0;
    for (size_t i = 0; i < ns; i++) {
        const struct hg_prof_stack *s = &p->stacks[i];
        pb_sample sm = PERFTOOLS__PROFILES__SAMPLE__INIT;
        for (size_t k = 0; k < s->npcs; k++)
            loc_ids[li + k] = s->locs[k] + 1;
        sm.location_id = &loc_ids[li];
        sm.n_location_id = s->npcs;
        li += s->npcs;
        int64_t *v = &values[i * NVALUES];
        v[V_SAMPLES] = i64(s->count);
        v[V_WALL] = i64(s->wall_ns);
        v[V_CPU] = i64(s->cpu_ns);
        sm.value = v;
        sm.n_value = NVALUES;
        pb_label *lb = &labels[i * 2];
        pb_label init = PERFTOOLS__PROFILES__LABEL__INIT;
        lb[0] = init;
        lb[1] = init;
        lb[0].key = k_name;
        lb[0].str = hg_strtab_intern(&st, s->name ? s->name : "");
        lb[1].key = k_tid;
        lb[1].num = s->tid;
        if (lb[0].str < 0)
            goto nomem;
        label_ptrs[i * 2] = &lb[0];
        label_ptrs[i * 2 + 1] = &lb[1];
        sm.label = &label_ptrs[i * 2];
        sm.n_label = 2;
        samples[i] = sm;
        sample_ptrs[i] = &samples[i];
    }

    function_ptrs = calloc(fn.n + 1, sizeof *function_ptrs);
    if (!function_ptrs)
        goto nomem;
    for (size_t i = 0; i < fn.n; i++)
        function_ptrs[i] = &fn.v[i];

    char comment[4096 + 512];
    const hg_profile_timing *tm = &p->timing;
    int n = snprintf(comment, sizeof comment,
                     "heapgrab %s thread stacks of pid %d (%s): %" PRIu64 " stops, all threads "
                     "stopped %.3f ms on average, %.3f ms at most; %" PRIu64 " ticks skipped",
                     HEAPGRAB_VERSION, p->pid, p->exe, tm->samples,
                     tm->samples ? tm->stopped_ns_total / 1e6 / (double)tm->samples : 0.0,
                     tm->stopped_ns_max / 1e6, tm->skipped);
    /* What the cpu samples hold against the process's own CPU clock: the
     * rest was used by threads after the last tick that saw them and before
     * they ended. */
    if (p->hz && tm->process_cpu_ns && n > 0 && (size_t)n < sizeof comment)
        snprintf(comment + n, sizeof comment - (size_t)n,
                 "; cpu %.3f s of the process's %.3f s", tm->cpu_ns / 1e9,
                 tm->process_cpu_ns / 1e9);
    int64_t comments[1] = {hg_strtab_intern(&st, comment)};
    pb_value_type period_type = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
    period_type.type = hg_strtab_intern(&st, "wall");
    period_type.unit = hg_strtab_intern(&st, "nanoseconds");
    if (comments[0] < 0 || period_type.type < 0 || period_type.unit < 0)
        goto nomem;

    pb_profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
    prof.n_sample_type = NVALUES;
    prof.sample_type = type_ptrs;
    prof.n_sample = ns;
    prof.sample = sample_ptrs;
    prof.n_mapping = nmap;
    prof.mapping = mapping_ptrs;
    prof.n_location = nl;
    prof.location = location_ptrs;
    prof.n_function = fn.n;
    prof.function = function_ptrs;
    prof.n_string_table = st.n;
    prof.string_table = st.v;
    prof.time_nanos = i64(p->time_ns);
    prof.duration_nanos = i64(tm->duration_ns);
    prof.period_type = &period_type;
    prof.period = i64(p->period_ns);
    prof.n_comment = 1;
    prof.comment = comments;
    prof.default_sample_type = types[p->hz ? V_CPU : V_SAMPLES].type;

    size_t len = perftools__profiles__profile__get_packed_size(&prof);
    packed = malloc(len ? len : 1);
    if (!packed)
        goto nomem;
    perftools__profiles__profile__pack(&prof, packed);
    rc = hg_gzip_write(packed, len, out);
    goto done;
nomem:
    rc = hg_fail(HG_ENOMEM, "out of memory");
done:
    free(packed);
    free(function_ptrs);
    free(fn.v);
    free(samples);
    free(sample_ptrs);
    free(loc_ids);
    free(values);
    free(labels);
    free(label_ptrs);
    free(locations);
    free(location_ptrs);
    free(lines);
    free(line_ptrs);
    free(mappings);
    free(mapping_ptrs);
    hg_strtab_free(&st);
    return rc;
}
