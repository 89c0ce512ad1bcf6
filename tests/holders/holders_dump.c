/*
 * holders_dump -- the holders part of one snapshot as JSON, through the
 * public API only: for the holders tests (and a way to run the engine
 * before the CLI has its commands).
 *
 *   holders_dump PID            a live process
 *   holders_dump --core CORE [--sysroot DIR]    a core file
 *
 * Prints {"roots": [...every ranked root...], "several_roots": {...},
 * "leaks": {...}, "groups": [...], "objects": N, "problems": [...],
 * "stopped_ns", "total_ns"}; exits 1 on failure with the message.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapgrab.h"

static void str(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    hg_target *t = NULL;
    int rc;
    if ((argc == 3 || (argc == 5 && strcmp(argv[3], "--sysroot") == 0)) &&
        strcmp(argv[1], "--core") == 0) {
        hg_core_options co = {argc == 5 ? argv[4] : NULL, NULL};
        rc = hg_target_open_core(argv[2], &co, &t);
    }
    else if (argc == 2)
        rc = hg_target_attach_pid(atoi(argv[1]), HG_ATTACH_DEFAULT, &t);
    else {
        fprintf(stderr, "usage: holders_dump PID | --core CORE [--sysroot DIR]\n");
        return 2;
    }
    if (rc) {
        fprintf(stderr, "holders_dump: %s\n", hg_error_message());
        return 1;
    }
    hg_snapshot_options opt = {0};
    opt.holders = 1;
    hg_snapshot *s;
    rc = hg_snapshot_take(t, &opt, &s);
    hg_target_close(t);
    if (rc) {
        fprintf(stderr, "holders_dump: %s\n", hg_error_message());
        return 1;
    }
    const hg_leak_totals *l = hg_snapshot_leaks(s);
    if (!l) {
        fprintf(stderr, "holders_dump: no holders in the snapshot\n");
        for (size_t i = 0; i < hg_snapshot_problem_count(s); i++)
            fprintf(stderr, "  problem: %s\n", hg_snapshot_problem(s, i)->what);
        hg_snapshot_free(s);
        return 1;
    }
    printf("{\"roots\": [");
    for (size_t i = 0; i < hg_snapshot_root_count(s); i++) {
        const hg_root *r = hg_snapshot_root(s, i);
        printf("%s\n {\"kind\": \"%s\", \"name\": ", i ? "," : "", hg_root_kind_name(r->kind));
        str(r->name);
        printf(", \"module\": ");
        str(r->module);
        printf(", \"file\": ");
        str(r->file);
        printf(", \"line\": %d, \"thread\": %d, \"thread_name\": ", r->line, r->thread);
        str(r->thread_name);
        printf(", \"address\": %" PRIu64 ", \"retained_objects\": %" PRIu64
               ", \"retained_bytes\": %" PRIu64 ", \"reachable_objects\": %" PRId64
               ", \"reachable_bytes\": %" PRId64 "}",
               r->address, r->retained_objects, r->retained_bytes,
               r->reachable_objects == HG_UNKNOWN ? -1 : (int64_t)r->reachable_objects,
               r->reachable_bytes == HG_UNKNOWN ? -1 : (int64_t)r->reachable_bytes);
    }
    printf("],\n\"several_roots\": {\"objects\": %" PRIu64 ", \"bytes\": %" PRIu64 "},\n",
           l->several_objects, l->several_bytes);
    printf("\"leaks\": {\"direct_objects\": %" PRIu64 ", \"direct_bytes\": %" PRIu64
           ", \"indirect_objects\": %" PRIu64 ", \"indirect_bytes\": %" PRIu64
           ", \"possibly_objects\": %" PRIu64 ", \"possibly_bytes\": %" PRIu64 "},\n",
           l->direct_objects, l->direct_bytes, l->indirect_objects, l->indirect_bytes,
           l->possibly_objects, l->possibly_bytes);
    printf("\"groups\": [");
    for (size_t i = 0; i < hg_snapshot_leak_group_count(s); i++) {
        const hg_leak_group *g = hg_snapshot_leak_group(s, i);
        printf("%s\n {\"kind\": \"%s\", \"size\": %" PRIu64 ", \"objects\": %" PRIu64
               ", \"bytes\": %" PRIu64 ", \"examples\": [",
               i ? "," : "", hg_object_class_name(g->cls), g->size, g->objects, g->bytes);
        for (size_t k = 0; k < g->nexamples; k++) {
            printf("%s{\"address\": %" PRIu64 ", \"first_bytes\": \"", k ? ", " : "",
                   g->examples[k].address);
            for (size_t j = 0; j < g->examples[k].len; j++)
                printf("%02x", g->examples[k].bytes[j]);
            printf("\"}");
        }
        printf("]}");
    }
    /* every object with a holder that is a root, for the checks of who
     * holds what; leaked and possibly objects by class */
    size_t n = hg_snapshot_object_count(s);
    uint64_t classes[4] = {0}, inuse = 0;
    for (size_t i = 0; i < n; i++) {
        hg_object o;
        if (hg_snapshot_object(s, i, &o) == 0 && o.cls >= 0 && o.cls < 4)
            classes[o.cls]++;
        inuse += o.size;
    }
    if (getenv("HOLDERS_DUMP_OBJECTS")) {
        /* what is not held by one root: leaked, possibly, several */
        printf("],\n\"odd_objects\": [");
        int first = 1;
        for (size_t i = 0; i < n; i++) {
            hg_object o;
            if (hg_snapshot_object(s, i, &o) != 0 ||
                (o.cls == HG_OBJECT_REACHABLE && o.holder != HG_HOLDER_SEVERAL))
                continue;
            printf("%s\n {\"address\": %" PRIu64 ", \"size\": %" PRIu64 ", \"class\": \"%s\", "
                   "\"holder\": %" PRId64 "}",
                   first ? "" : ",", o.address, o.size, hg_object_class_name(o.cls), o.holder);
            first = 0;
        }
    }
    printf("],\n\"objects\": %zu, \"object_bytes\": %" PRIu64 ", \"inuse_objects\": %" PRIu64
           ", \"inuse_bytes\": %" PRIu64 ",\n",
           n, inuse, hg_snapshot_totals(s)->inuse_objects, hg_snapshot_totals(s)->inuse_bytes);
    printf("\"problems\": [");
    for (size_t i = 0; i < hg_snapshot_problem_count(s); i++) {
        printf("%s", i ? ", " : "");
        str(hg_snapshot_problem(s, i)->what);
    }
    const hg_timing *tm = hg_snapshot_timing(s);
    printf("],\n\"stopped_ns\": %" PRId64 ", \"total_ns\": %" PRIu64 "}\n",
           tm->stopped_ns == HG_UNKNOWN ? -1 : (int64_t)tm->stopped_ns, tm->total_ns);
    hg_snapshot_free(s);
    return 0;
}
