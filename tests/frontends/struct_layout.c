/*
 * struct_layout -- the layout of heapgrab.h's structs as this compiler lays
 * them out, as one JSON object:
 *
 *   {"hg_mapping": {"size": 48, "fields": {"start": [0, 8], ...}}, ...}
 *
 * (each field: [offset, size]).  test_layout.py checks the Python
 * package's ctypes mirrors against it: a struct changed in the header and
 * not in its mirror fails there instead of reading the wrong bytes.  Every
 * struct the package mirrors must be here; hg_totals is listed through
 * HG_TOTALS_FIELDS, as the struct itself is.  Enums the package mirrors
 * as tables ("enum hg_locate") give their values.
 */
#include <stddef.h>
#include <stdio.h>

#include "heapgrab.h"

static const char *sep;

static void begin(const char *name, size_t size)
{
    printf("%s\n  \"%s\": {\"size\": %zu, \"fields\": {", sep, name, size);
    sep = "";
}

static void field(const char *name, size_t offset, size_t size)
{
    printf("%s\"%s\": [%zu, %zu]", sep, name, offset, size);
    sep = ", ";
}

static void end(void)
{
    printf("}}");
    sep = ",";
}

/* An enum the package mirrors as a table of names: its values. */
static void begin_enum(const char *name)
{
    printf("%s\n  \"enum %s\": {\"values\": {", sep, name);
    sep = "";
}

static void value(const char *name, long v)
{
    printf("%s\"%s\": %ld", sep, name, v);
    sep = ", ";
}

#define BEGIN(T) begin(#T, sizeof(T))
#define FIELD(T, f) field(#f, offsetof(T, f), sizeof(((T *)0)->f))
#define TOTALS_FIELD(name, unit, part, label) FIELD(hg_totals, name);
#define VALUE(v) value(#v, (long)(v))

int main(void)
{
    sep = "{";
    BEGIN(hg_mapping);
    FIELD(hg_mapping, start);
    FIELD(hg_mapping, end);
    FIELD(hg_mapping, offset);
    FIELD(hg_mapping, perms);
    FIELD(hg_mapping, path);
    FIELD(hg_mapping, build_id);
    end();
    BEGIN(hg_reader_thread);
    FIELD(hg_reader_thread, tid);
    FIELD(hg_reader_thread, fs_base);
    end();
    BEGIN(hg_reader);
    FIELD(hg_reader, ctx);
    FIELD(hg_reader, read);
    FIELD(hg_reader, nmappings);
    FIELD(hg_reader, mappings);
    FIELD(hg_reader, nthreads);
    FIELD(hg_reader, threads);
    FIELD(hg_reader, pid);
    FIELD(hg_reader, exe);
    end();
    BEGIN(hg_core_options);
    FIELD(hg_core_options, sysroot);
    FIELD(hg_core_options, exe);
    end();
    BEGIN(hg_snapshot_options);
    FIELD(hg_snapshot_options, locate);
    FIELD(hg_snapshot_options, max_problems);
    FIELD(hg_snapshot_options, keep_chunks);
    FIELD(hg_snapshot_options, holders);
    FIELD(hg_snapshot_options, types);
    FIELD(hg_snapshot_options, memory_budget);
    FIELD(hg_snapshot_options, no_stop);
    end();
    BEGIN(hg_type);
    FIELD(hg_type, name);
    FIELD(hg_type, how);
    FIELD(hg_type, objects);
    FIELD(hg_type, bytes);
    end();
    BEGIN(hg_type_totals);
    FIELD(hg_type_totals, typed_objects);
    FIELD(hg_type_totals, typed_bytes);
    FIELD(hg_type_totals, inuse_objects);
    FIELD(hg_type_totals, inuse_bytes);
    end();
    BEGIN(hg_chunk);
    FIELD(hg_chunk, address);
    FIELD(hg_chunk, size);
    FIELD(hg_chunk, usable);
    FIELD(hg_chunk, arena);
    FIELD(hg_chunk, state);
    end();
    BEGIN(hg_root);
    FIELD(hg_root, kind);
    FIELD(hg_root, name);
    FIELD(hg_root, module);
    FIELD(hg_root, file);
    FIELD(hg_root, line);
    FIELD(hg_root, thread);
    FIELD(hg_root, thread_name);
    FIELD(hg_root, address);
    FIELD(hg_root, retained_objects);
    FIELD(hg_root, retained_bytes);
    FIELD(hg_root, reachable_objects);
    FIELD(hg_root, reachable_bytes);
    end();
    BEGIN(hg_leak_totals);
    FIELD(hg_leak_totals, direct_objects);
    FIELD(hg_leak_totals, direct_bytes);
    FIELD(hg_leak_totals, indirect_objects);
    FIELD(hg_leak_totals, indirect_bytes);
    FIELD(hg_leak_totals, possibly_objects);
    FIELD(hg_leak_totals, possibly_bytes);
    FIELD(hg_leak_totals, several_objects);
    FIELD(hg_leak_totals, several_bytes);
    end();
    BEGIN(hg_object);
    FIELD(hg_object, address);
    FIELD(hg_object, size);
    FIELD(hg_object, cls);
    FIELD(hg_object, holder);
    FIELD(hg_object, holder_root);
    FIELD(hg_object, retained_objects);
    FIELD(hg_object, retained_bytes);
    end();
    /* the examples' anonymous struct is checked through the group's size
     * and the offsets around it */
    BEGIN(hg_leak_group);
    FIELD(hg_leak_group, cls);
    FIELD(hg_leak_group, size);
    FIELD(hg_leak_group, objects);
    FIELD(hg_leak_group, bytes);
    FIELD(hg_leak_group, nexamples);
    FIELD(hg_leak_group, examples);
    end();
    BEGIN(hg_totals);
    HG_TOTALS_FIELDS(TOTALS_FIELD)
    end();
    begin_enum("hg_locate");
    VALUE(HG_LOCATE_AUTO);
    VALUE(HG_LOCATE_SYMBOLS);
    VALUE(HG_LOCATE_HEURISTIC);
    end();
    printf("\n}\n");
    return ferror(stdout) ? 1 : 0;
}
