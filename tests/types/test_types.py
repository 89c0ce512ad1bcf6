#!/usr/bin/env python3
"""heapgrab types against types_target, which says how many objects of each
C++ class it holds (tests/targets/types_target.cc).

    test_types.py GROUP     live | nodebug | core | stripped | pprof | python | gdb

Every group asserts the same ground truth: each class the target reports
has exactly its count of objects (how: vtable), no other class is found by
a vtable (so no chunk got a wrong type -- the target's decoys, chunks
starting with a secondary vtable pointer or a pointer into a vtable's
middle, a function pointer, a string literal, must stay untyped), and the
entries add up to the in-use figures `heapgrab stats` gives.

DWARF (how: dwarf): with the target's debug info, each name the target
reports for what its typed variables reach (struct conn, struct peer,
char[], Foo[], vector bodies, std::map nodes) has exactly its count --
exact for every DWARF name where no library has debug info (group nodebug;
elsewhere a library's DWARF may type more char[] and its own names);
without it (group stripped), no chunk is typed by DWARF and the output says
that DWARF types need the debug info.

Environment (tests/types.cmake sets it): HEAPGRAB (the CLI),
HEAPGRAB_LIBRARY, HG_TYPES_TARGET, HG_TYPES_TARGET_STRIPPED, HG_SANITIZE.
Exit 77 when the group cannot run here.
"""
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

HEAPGRAB = os.environ.get("HEAPGRAB", "")
TARGET = os.environ.get("HG_TYPES_TARGET", "")
STRIPPED = os.environ.get("HG_TYPES_TARGET_STRIPPED", "")
SKIP = 77


class Skip(Exception):
    pass


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Target:
    """types_target running; .truth is what it printed."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        line = self.p.stdout.readline()
        if not line:
            err = self.p.stderr.read().decode(errors="replace")
            self.close()
            raise Failure(f"{argv}: no ground truth printed ({err.strip()})")
        self.truth = json.loads(line)
        self.pid = self.truth["pid"]

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def heapgrab(*args, prefix=()):
    r = subprocess.run([*prefix, HEAPGRAB, *map(str, args)], capture_output=True)
    check(r.returncode == 0, f"heapgrab {' '.join(map(str, args))}: exit {r.returncode}: "
          f"{r.stderr.decode(errors='replace').strip()}")
    return r.stdout


def expected(truth, dwarf):
    """The classes and counts heapgrab must find: with the target's DWARF
    the size decoys are too small for their class; without, nothing says
    so and they count as that class."""
    classes = dict(truth["classes"])
    if not dwarf:
        for name, n in truth["size_decoys"].items():
            classes[name] = classes.get(name, 0) + n
    return classes


def plain(name):
    """A pointer type's name as the demangler writes it ("T*", GDB "T *")."""
    return name.replace(" *", "*")


MAP_NODE = "std::_Rb_tree_node<std::pair<"
HASH_NODE = "std::__detail::_Hash_node<"
HASH_BUCKETS = "(hash buckets)"
LIST_NODE = "std::_List_node<"


def dwarf_counts(got):
    """{name: objects} of the DWARF-typed entries, the containers' nodes
    summed under MAP_NODE, HASH_NODE, LIST_NODE and a hash table's bucket
    array under HASH_BUCKETS (their names are the compiler's)."""
    out = {}
    for t in got["types"]:
        if t["how"] != "dwarf":
            continue
        name = plain(t["name"])
        for prefix in (MAP_NODE, HASH_NODE, LIST_NODE):
            if t["name"].startswith(prefix):
                name = prefix
        if name == HASH_NODE and t["name"].endswith("*[]"):
            name = HASH_BUCKETS
        out[name] = out.get(name, 0) + t["objects"]
    return out


def check_dwarf(got, truth, what, strict, stacks):
    """The DWARF-typed entries against the target's counts; strict: every
    name exact (no library's debug info types anything); stacks: the
    threads' stacks were seen (not through GDB's reader)."""
    want = dict(truth["dwarf"])
    want[HASH_NODE] = truth["hash_nodes"]
    want[HASH_BUCKETS] = 1
    want[LIST_NODE] = truth["list_nodes"]
    if not stacks:
        for name, n in truth["stack_held"].items():
            want[name] -= n
    want[MAP_NODE] = truth["map_nodes"]
    have = dwarf_counts(got)
    for name, n in sorted(want.items()):
        check(name in have, f"{what}: DWARF type {name} ({n} objects) not found; "
              f"DWARF typed: {sorted(have)}")
        if name == "char[]" and not strict:
            check(have[name] >= n, f"{what}: char[]: {have[name]} objects, the target "
                  f"holds {n} itself")
        else:
            check(have[name] == n, f"{what}: {name}: {have[name]} objects by DWARF, "
                  f"the target holds {n}")
    if strict:
        extra = sorted(set(have) - set(want))
        check(not extra, f"{what}: DWARF types the target does not hold: {extra}")
    check(all(t["how"] == "dwarf" for t in got["types"] if t["name"] in want),
          f"{what}: a DWARF type's name found otherwise")


def check_types(got, truth, stats, what, dwarf=True, strict=False, stacks=True):
    """got: `heapgrab types --json`; truth: the target's; stats: `heapgrab
    stats --json` of the same memory; dwarf: the target has its DWARF;
    strict: no library has any (every DWARF name's count is exact)."""
    classes = expected(truth, dwarf)
    typed = {t["name"]: t for t in got["types"] if t["how"] == "vtable"}
    for name, n in sorted(classes.items()):
        check(name in typed, f"{what}: class {name} ({n} objects) not found; typed: "
              f"{sorted(typed)}")
        check(typed[name]["objects"] == n,
              f"{what}: {name}: {typed[name]['objects']} objects, the target holds {n}")
    wrong = sorted(set(typed) - set(classes))
    check(not wrong, f"{what}: chunks typed as classes the target does not hold: {wrong}")
    if dwarf:
        check_dwarf(got, truth, what, strict, stacks)
        check("note" not in got, f"{what}: a note with the debug info there: {got.get('note')}")
    else:
        # the libraries' DWARF may still type their own char[] (stdio's
        # buffers), never anything of the target's
        have = dwarf_counts(got)
        mine = set(truth["dwarf"]) | {MAP_NODE, HASH_NODE, HASH_BUCKETS, LIST_NODE}
        check(not (set(have) & mine - {"char[]"}) and
              have.get("char[]", 0) < truth["dwarf"]["char[]"],
              f"{what}: DWARF types without the program's DWARF: {have}")
        check(not strict or not have, f"{what}: DWARF types without any DWARF: {have}")
        check("debug info" in got.get("note", ""),
              f"{what}: no note that DWARF types need the debug info: {got.get('note')}")
    untyped = [t for t in got["types"] if t["how"] == "size"]
    check(len(untyped) == 1 and untyped[0]["name"] == "(untyped)",
          f"{what}: one (untyped) entry expected: {untyped}")
    # what DWARF types is untyped without it
    at_least = truth["untyped_at_least"] + (sum(truth["size_decoys"].values()) if dwarf else
                                            sum(truth["dwarf"].values()) + truth["map_nodes"] +
                                            truth["hash_nodes"] + 1 + truth["list_nodes"])
    check(untyped[0]["objects"] >= at_least,
          f"{what}: {untyped[0]['objects']} untyped objects, the target made at least "
          f"{at_least} that are no class's")
    # the entries add up, to heapgrab's own in-use figures
    tot = stats["totals"]
    check(sum(t["objects"] for t in got["types"]) == got["inuse_objects"] == tot["inuse_objects"],
          f"{what}: objects do not add up: {sum(t['objects'] for t in got['types'])}, "
          f"{got['inuse_objects']}, stats {tot['inuse_objects']}")
    check(sum(t["bytes"] for t in got["types"]) == got["inuse_bytes"] == tot["inuse_bytes"],
          f"{what}: bytes do not add up")
    check(got["typed_bytes"] == sum(t["bytes"] for t in got["types"] if t["how"] != "size") and
          got["typed_objects"] == sum(t["objects"] for t in got["types"] if t["how"] != "size"),
          f"{what}: typed totals")
    sizes = [t["bytes"] for t in got["types"]]
    check(sizes == sorted(sizes, reverse=True), f"{what}: not sorted by bytes")


SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "doc",
                      "types.schema.json")


def check_schema(doc, what):
    """doc against doc/types.schema.json, where python3-jsonschema is
    installed (the json_schemas test skips without it too)."""
    try:
        import jsonschema
    except ImportError:
        return
    with open(SCHEMA) as f:
        schema = json.load(f)
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(doc))
    check(not errors, f"{what}: not as doc/types.schema.json says: "
          f"{errors[0].message if errors else ''}")
    # and the schema is no rubber stamp: a field it does not name, one
    # missing, one of the wrong type are each refused
    for bad in ({**doc, "extra": 1}, {k: v for k, v in doc.items() if k != "typed_bytes"},
                {**doc, "types": [{**doc["types"][0], "objects": "many"}]}):
        check(any(jsonschema.Draft7Validator(schema).iter_errors(bad)),
              f"{what}: the schema accepts a broken document")


def types_of(target, prefix=()):
    got = json.loads(heapgrab("types", "--json", target, prefix=prefix))
    check_schema(got, f"types --json {target}")
    stats = json.loads(heapgrab("stats", "--json", target, prefix=prefix))
    return got, stats


def test_live():
    with Target([TARGET]) as t:
        got, stats = types_of(t.pid)
        check_types(got, t.truth, stats, "live")
        # the table: the share typed, and a row per type
        text = heapgrab("types", t.pid).decode()
        lines = text.splitlines()
        share = 100.0 * got["typed_bytes"] / got["inuse_bytes"]
        check(f"({share:.1f}%)" in lines[0], f"table's first line lacks the share typed: {lines[0]}")
        check(len(lines) == 2 + len(got["types"]), "a table row per type")
        for name in list(t.truth["classes"]) + ["struct conn", "char[]", "Foo[]"]:
            check(any(line.endswith(" " + name) for line in lines), f"table lacks {name}")
        check(any(" dwarf " in line and line.endswith(" struct peer") for line in lines),
              "the table does not say struct peer was found by DWARF")


# argv after this runs in a mount namespace whose /usr/lib/debug is an
# empty tmpfs (sh -c's "$0" "$@" are argv)
NODEBUG = ["unshare", "-m", "sh", "-c", 'mount -t tmpfs none /usr/lib/debug && exec "$0" "$@"']


def test_nodebug():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise Skip("needs root and unshare (util-linux) for a namespace without /usr/lib/debug")
    probe = subprocess.run([*NODEBUG, "true"], capture_output=True)
    if probe.returncode != 0:
        raise Skip(f"cannot make a mount namespace here: {probe.stderr.decode().strip()}")
    # the target and heapgrab both see an empty /usr/lib/debug (heapgrab
    # reads the target's files through /proc/PID/root): libc's and
    # libstdc++'s debug files are gone; the target keeps its symbol table
    with Target([*NODEBUG, TARGET]) as t:
        got, stats = types_of(t.pid, prefix=NODEBUG)
        check_types(got, t.truth, stats, "without libraries' debug info", strict=True)


def test_core():
    if not shutil.which("gcore"):
        raise Skip("gcore (gdb) is not installed")
    with Target([TARGET]) as t, tempfile.TemporaryDirectory() as tmp:
        live, _ = types_of(t.pid)
        r = subprocess.run(["gcore", "-o", os.path.join(tmp, "core"), str(t.pid)],
                           capture_output=True)
        check(r.returncode == 0, f"gcore: {r.stderr.decode(errors='replace')}")
        core = os.path.join(tmp, f"core.{t.pid}")
        got, stats = types_of(core)
        check_types(got, t.truth, stats, "core")
        check(got["types"] == live["types"], "the core's types differ from the live process's")


def has_symtab(path):
    r = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True)
    check(r.returncode == 0, f"readelf -S {path}: {r.stderr}")
    return " .symtab " in r.stdout or " .debug_info " in r.stdout


def test_stripped():
    if not shutil.which("readelf"):
        raise Skip("readelf (binutils) is not installed")
    # the point of the group: no symbol table, so only typeinfo names types
    check(not has_symtab(STRIPPED), f"{STRIPPED} still has a symbol table or debug info")
    check(has_symtab(TARGET), f"{TARGET} has no symbol table: the live group proves nothing")
    with Target([STRIPPED]) as t:
        got, stats = types_of(t.pid)
        check_types(got, t.truth, stats, "stripped", dwarf=False)
        text = heapgrab("types", t.pid).decode()
        check("need the program's debug info" in text, f"the table does not say DWARF types "
              f"need the debug info: {text[:400]}")
    # and with no library's debug info either: no DWARF type at all
    if os.geteuid() == 0 and shutil.which("unshare") and \
            subprocess.run([*NODEBUG, "true"], capture_output=True).returncode == 0:
        with Target([*NODEBUG, STRIPPED]) as t:
            got, stats = types_of(t.pid, prefix=NODEBUG)
            check_types(got, t.truth, stats, "stripped, no debug info", dwarf=False,
                        strict=True)


# ---------------------------------------------------------------- pprof

def _varint(b, i):
    x = shift = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7f) << shift
        shift += 7
        if c < 0x80:
            return x, i


def _fields(b):
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise Failure(f"pprof: wire type {wt}")
        yield f, wt, v


def _packed(wt, v):
    if wt == 0:
        return [v]
    out, j = [], 0
    while j < len(v):
        x, j = _varint(v, j)
        out.append(x)
    return out


def read_samples(path, leaf=False):
    """[(values by sample type, labels)] of a gzipped pprof profile; with
    leaf, [(values, labels, the leaf frame's function name)]."""
    with open(path, "rb") as f:
        data = gzip.decompress(f.read())
    strings, types, raw, locs, funcs = [], [], [], {}, {}
    for f, _, v in _fields(data):
        if f == 6:
            strings.append(v.decode())
        elif f == 1:
            types.append({g: x for g, _, x in _fields(v)})
        elif f == 2:
            raw.append(v)
        elif f == 4:  # Location: id, line { function_id }
            loc = {g: x for g, _, x in _fields(v)}
            fn = {g: x for g, _, x in _fields(loc[4])} if 4 in loc else {}
            locs[loc.get(1, 0)] = fn.get(1, 0)
        elif f == 5:  # Function: id, name
            fn = {g: x for g, _, x in _fields(v)}
            funcs[fn.get(1, 0)] = fn.get(2, 0)
    names = [strings[t.get(1, 0)] for t in types]
    out = []
    for s in raw:
        values, labels, frames = [], {}, []
        for g, wt, v in _fields(s):
            if g == 1:
                frames.extend(_packed(wt, v))
            elif g == 2:
                if wt == 0:
                    values.append(v)
                else:
                    j = 0
                    while j < len(v):
                        x, j = _varint(v, j)
                        values.append(x)
            elif g == 3:
                lab = {h: x for h, _, x in _fields(v)}
                labels[strings[lab.get(1, 0)]] = strings[lab[2]] if lab.get(2) else lab.get(3, 0)
        if leaf:
            name = strings[funcs.get(locs.get(frames[0], 0), 0)] if frames else ""
            out.append((dict(zip(names, values)), labels, name))
        else:
            out.append((dict(zip(names, values)), labels))
    return out


def test_pprof():
    with Target([TARGET]) as t, tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "heap.pprof")
        heapgrab("snapshot", "--by-size", "--types", t.pid, "-o", path)
        got, stats = types_of(t.pid)
        samples = read_samples(path, leaf=True)
        by_type, untyped, live = {}, 0, 0
        by_dwarf = {}
        for values, labels, leaf in samples:
            if labels.get("state") not in ("inuse", "mmapped"):
                check("type" not in labels and "type_source" not in labels,
                      f"an idle sample has a type: {labels}")
                continue
            live += values["inuse_objects"]
            check(labels.get("type_source") in ("vtable", "dwarf", "size"),
                  f"type_source: {labels}")
            if labels["type_source"] == "size":
                check("type" not in labels, f"an untyped sample has a type: {labels}")
                check(leaf.startswith("size "), f"an untyped sample's leaf: {leaf}")
                untyped += values["inuse_objects"]
                continue
            # the leaf frame is the type
            check(leaf == labels["type"], f"leaf frame {leaf!r}, type {labels['type']!r}")
            into = by_type if labels["type_source"] == "vtable" else by_dwarf
            into[labels["type"]] = into.get(labels["type"], 0) + values["inuse_objects"]
        check(by_type == t.truth["classes"], f"pprof type labels: {by_type} != {t.truth['classes']}")
        want_dwarf = {t["name"]: t["objects"] for t in got["types"] if t["how"] == "dwarf"}
        check(by_dwarf == want_dwarf, f"pprof DWARF types differ from types --json's")
        check(live == stats["totals"]["inuse_objects"], "pprof in-use objects")
        check(untyped == got["inuse_objects"] - got["typed_objects"], "pprof untyped objects")
        # go tool pprof ranks the classes by their label, as the README says
        go = shutil.which("go")
        if go:
            g = subprocess.run([go, "tool", "pprof", "-top", path],
                               capture_output=True, timeout=300, stdin=subprocess.DEVNULL,
                               env=dict(os.environ, PPROF_TMPDIR=tmp))
            out = g.stdout.decode(errors="replace")
            check(g.returncode == 0, f"go tool pprof -top: {g.stderr.decode()[:300]}")
            biggest = max(got["types"], key=lambda x: x["bytes"] if x["how"] != "size" else -1)
            check(biggest["name"] in out, f"-top lacks {biggest['name']}: {out[:800]}")
        # the holders view: the type is the leaf there too, below the
        # object's size class and its holders
        held = os.path.join(tmp, "held.pprof")
        heapgrab("snapshot", "--types", t.pid, "-o", held)
        seen = {}
        for values, labels, leaf in read_samples(held, leaf=True):
            if labels.get("type_source") in ("vtable", "dwarf"):
                check(leaf == labels["type"], f"holders view: leaf {leaf!r}, type {labels}")
                seen[labels["type"]] = seen.get(labels["type"], 0) + values["inuse_objects"]
            elif values.get("inuse_objects"):
                check(leaf.startswith("size "), f"holders view: an untyped leaf {leaf!r}")
        check(seen == {x["name"]: x["objects"] for x in got["types"] if x["how"] != "size"},
              "holders view: the typed objects differ from types --json's")
        # without --types: no type labels
        plain = os.path.join(tmp, "plain.pprof")
        heapgrab("snapshot", t.pid, "-o", plain)
        check(all("type_source" not in lb for _, lb in read_samples(plain)),
              "type labels without --types")


def test_python():
    if os.environ.get("HG_SANITIZE", "").upper() in ("ON", "1", "TRUE", "YES"):
        raise Skip("an ASan-built library cannot be loaded into python3")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "python"))
    import heapgrab as hg
    with Target([TARGET]) as t:
        got, stats = types_of(t.pid)
        with hg.snapshot(t.pid, types=True) as snap:
            py = snap.types()
            check(py == {k: got[k] for k in py}, "Python's types() differs from the CLI's JSON")
            check_types(py, t.truth, stats, "python")
            # per chunk: the same counts, and each typed chunk's first word
            # is a vtable pointer of the class (read from /proc/PID/mem)
            counts, dwarf = {}, {}
            how = {x["name"]: x["how"] for x in py["types"]}
            with open(f"/proc/{t.pid}/mem", "rb") as mem:
                firsts = {}
                for chunk, name in snap.chunk_types():
                    if name is None:
                        continue
                    if how[name] == "dwarf":
                        dwarf[name] = dwarf.get(name, 0) + 1
                        continue
                    counts[name] = counts.get(name, 0) + 1
                    mem.seek(chunk.address + 16)
                    firsts.setdefault(name, set()).add(mem.read(8))
            check(counts == t.truth["classes"], f"chunk_types counts: {counts}")
            check(dwarf == {x["name"]: x["objects"] for x in py["types"] if x["how"] == "dwarf"},
                  "chunk_types' DWARF counts differ from types()'")
            # one vtable per class (types_target's classes live in one module)
            check(all(len(v) == 1 for v in firsts.values()), "a class with several first words")
        with hg.snapshot(t.pid) as snap:
            check(snap.types() is None, "types() without types=True")


def test_gdb():
    """heapsnap types inside real GDB, attached to the target."""
    if os.environ.get("HG_SANITIZE", "").upper() in ("ON", "1", "TRUE", "YES"):
        raise Skip("an ASan-built library cannot be loaded into gdb")
    if not shutil.which("gdb"):
        raise Skip("gdb is not installed")
    script = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                           "..", "gdb", "heapsnap.py"))
    with Target([TARGET]) as t:
        _, stats = types_of(t.pid)
        r = subprocess.run(["gdb", "-batch", "-nx", "-p", str(t.pid), "-ex", f"source {script}",
                            "-ex", "heapsnap types --json", "-ex", "heapsnap types"],
                           capture_output=True, timeout=120)
        out = r.stdout.decode(errors="replace")
        start = out.find("{\n")
        check(start >= 0 and "Traceback" not in out, f"no JSON from heapsnap types: {out[-800:]}"
              f"{r.stderr.decode(errors='replace')[-800:]}")
        got = json.JSONDecoder().raw_decode(out[start:])[0]
        check_types(got, t.truth, stats, "gdb heapsnap types", stacks=False)
        check(any(line.endswith(" geo::Poly<float>") for line in out.splitlines()),
              "heapsnap types printed no table")


GROUPS = {"live": test_live, "nodebug": test_nodebug, "core": test_core,
          "stripped": test_stripped, "pprof": test_pprof, "python": test_python,
          "gdb": test_gdb}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in GROUPS:
        print(f"usage: test_types.py {'|'.join(GROUPS)}", file=sys.stderr)
        return 2
    if not HEAPGRAB or not TARGET:
        print("HEAPGRAB and HG_TYPES_TARGET must be set (run through ctest)", file=sys.stderr)
        return 2
    test = GROUPS[sys.argv[1]]
    try:
        test()
    except Skip as e:
        print(f"SKIP {test.__name__}: {e}")
        return SKIP
    except Failure as e:
        print(f"FAIL {test.__name__}: {e}")
        return 1
    print(f"ok   {test.__name__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
