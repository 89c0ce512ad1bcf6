#!/usr/bin/env python3
"""Check the JSON written by test_writers: check_json.py OUTDIR

OUTDIR/heap.json must describe the synthetic snapshot of tests/writers/test_writers.c
(the bucket table below is a copy of its BUCKETS; the expected figures are
recomputed here, independently of the C code) and OUTDIR/empty.json an empty
snapshot.  Both must be strict JSON with the keys in the documented order.
The keys of every totals object are hg_totals' fields as the library lists
them (HG_TOTALS_FIELDS, through hg_totals_field_name()), which test_writers
wrote to OUTDIR/totals_fields.txt.
"""
import json
import sys

INUSE, TCACHE, FASTBIN, BIN, TOP, OVERHEAD, MMAPPED = range(7)

BUCKETS = [  # arena, state, chunk_size, count, usable bytes
    (0, INUSE, 32, 10, 240),
    (0, INUSE, 48, 5, 200),
    (0, INUSE, 1040, 3, 3096),
    (0, TCACHE, 32, 3, 0),
    (0, TCACHE, 48, 2, 0),
    (0, FASTBIN, 64, 2, 0),
    (0, BIN, 1024, 1, 0),
    (0, BIN, 4096, 2, 0),
    (0, TOP, 132000, 1, 0),
    (0, OVERHEAD, 592, 1, 0),
    (1, INUSE, 48, 7, 280),
    (1, TCACHE, 48, 1, 0),
    (1, BIN, 2048, 1, 0),
    (1, TOP, 65536, 1, 0),
    (1, OVERHEAD, 2224, 1, 0),
    (-1, MMAPPED, 135168, 2, 270304),
    (-1, MMAPPED, 266240, 1, 266224),
]

TOP_KEYS = ["heapgrab_version", "pid", "exe", "glibc", "locate", "time_nanos",
            "mallinfo2", "totals", "rss_bytes", "heap_resident_bytes",
            "heap_share_of_rss", "arenas", "threads", "consistent", "problems_total",
            "problems", "timing"]
MALLINFO2_KEYS = ["arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                  "fsmblks", "uordblks", "fordblks", "keepcost"]
TOTALS_KEYS = []  # from the library: see load_totals_keys()
ARENA_HEAD_KEYS = ["index", "address", "main", "mutex_held", "heaps", "system_mem"]
THREAD_KEYS = ["tid", "tcache", "arena", "tcache_objects", "tcache_bytes"]
PROBLEM_KEYS = ["arena", "address", "what"]
TIMING_KEYS = ["stopped_ns", "total_ns", "pause", "copy_ns", "copied_bytes", "analysis_ns",
               "rereads", "fallback"]

failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("check_json: FAIL:", msg, file=sys.stderr)


def expect(got, want, what):
    check(got == want and type(got) is type(want),
          "%s: got %r, want %r" % (what, got, want))


def no_constant(name):
    raise ValueError("non-standard JSON constant " + name)


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")  # strict: must be valid UTF-8
    check(text.endswith("}\n"), path + ": does not end with a newline")
    # Pretty-printed with a 2-space indent: every line starts with pairs.
    for n, line in enumerate(text.splitlines(), 1):
        indent = len(line) - len(line.lstrip(" "))
        check(indent % 2 == 0, "%s:%d: odd indent" % (path, n))
        check(not line.endswith(" "), "%s:%d: trailing space" % (path, n))
    # strict=True rejects raw control characters inside strings.
    return json.loads(text, strict=True, parse_constant=no_constant)


def load_totals_keys(outdir):
    """hg_totals' field names in order, as the library lists them."""
    with open(outdir + "/totals_fields.txt") as f:
        keys = f.read().split("\n")
    check(keys[-1] == "", "totals_fields.txt: no newline at the end")
    keys = keys[:-1]
    check(keys and len(set(keys)) == len(keys) and all(k.isidentifier() for k in keys),
          "totals_fields.txt: %r" % keys)
    # (a figure totals_of() computes that the list lacks is a KeyError there)
    TOTALS_KEYS[:] = keys


def totals_of(buckets, arena=None):
    t = dict.fromkeys(TOTALS_KEYS, 0)
    for a, state, size, count, usable in buckets:
        if arena is not None and a != arena:
            continue
        nbytes = size * count
        if state == INUSE:
            t["inuse_objects"] += count
            t["inuse_bytes"] += usable
        elif state == MMAPPED:
            if arena is None:
                t["inuse_objects"] += count
                t["inuse_bytes"] += usable
                t["mmapped_objects"] += count
                t["mmapped_bytes"] += nbytes
        elif state == TCACHE:
            t["tcache_objects"] += count
            t["tcache_bytes"] += nbytes
        elif state == FASTBIN:
            t["fastbin_objects"] += count
            t["fastbin_bytes"] += nbytes
        elif state == BIN:
            t["free_objects"] += count
            t["free_bytes"] += nbytes
        elif state == TOP:
            t["top_bytes"] += nbytes
        elif state == OVERHEAD:
            t["overhead_bytes"] += nbytes
    return t


def check_heap(d):
    expect(list(d), TOP_KEYS, "top-level keys")
    expect(d["heapgrab_version"], "0.1.0", "heapgrab_version")
    expect(d["pid"], 4242, "pid")
    # The raw bytes were: quote, tab, \x01, UTF-8 e-acute, invalid 0xff.
    expect(d["exe"], '/opt/app/bin/weird "name"\t\x01\u00e9\ufffd', "exe")
    expect(d["glibc"], "2.36", "glibc")
    expect(d["locate"], "symbols", "locate")
    expect(d["time_nanos"], 1700000000123456789, "time_nanos")

    mi = d["mallinfo2"]
    expect(list(mi), MALLINFO2_KEYS, "mallinfo2 keys")
    expect(mi, {"arena": 204800, "ordblks": 4, "smblks": 2, "hblks": 3,
                "hblkhd": 536576, "usmblks": 2**64 - 1, "fsmblks": 128,
                "uordblks": 3536, "fordblks": 8192, "keepcost": 132000}, "mallinfo2")

    arena_totals = [totals_of(BUCKETS, 0), totals_of(BUCKETS, 1)]
    system_mem = [sum(s * c for a, _, s, c, _ in BUCKETS if a == i) for i in (0, 1)]
    arena_totals[0]["released_bytes"] = 4096
    for i in (0, 1):
        arena_totals[i]["sys_bytes"] = system_mem[i]

    want = totals_of(BUCKETS)
    want["released_bytes"] = 4096
    want["sys_bytes"] = sum(system_mem) + want["mmapped_bytes"]
    t = d["totals"]
    expect(list(t), TOTALS_KEYS, "totals keys")
    for k in TOTALS_KEYS:
        expect(t[k], want[k], "totals." + k)
    # Hand-computed, in case both sides share a mistake.
    expect(t["inuse_objects"], 28, "totals.inuse_objects")
    expect(t["inuse_bytes"], 540344, "totals.inuse_bytes")

    expect(d["rss_bytes"], 104857600, "rss_bytes")
    expect(d["heap_resident_bytes"], 91542732, "heap_resident_bytes")
    check(isinstance(d["heap_share_of_rss"], float) and
          abs(d["heap_share_of_rss"] - 91542732 / 104857600) < 0.0006,
          "heap_share_of_rss %r" % d["heap_share_of_rss"])

    arenas = d["arenas"]
    expect(len(arenas), 2, "number of arenas")
    addrs = ["0x7ffff7f9ac80", "0x7fffe8000030"]
    for i, a in enumerate(arenas[:2]):
        expect(list(a), ARENA_HEAD_KEYS + TOTALS_KEYS, "arenas[%d] keys" % i)
        expect(a["index"], i, "arenas[%d].index" % i)
        expect(a["address"], addrs[i], "arenas[%d].address" % i)
        expect(a["main"], i == 0, "arenas[%d].main" % i)
        expect(a["mutex_held"], i == 1, "arenas[%d].mutex_held" % i)
        expect(a["heaps"], i + 1, "arenas[%d].heaps" % i)
        expect(a["system_mem"], system_mem[i], "arenas[%d].system_mem" % i)
        for k in TOTALS_KEYS:
            expect(a[k], arena_totals[i][k], "arenas[%d].%s" % (i, k))

    threads = d["threads"]
    expect(threads, [
        {"tid": 4242, "tcache": "0x55555555a010", "arena": 0,
         "tcache_objects": 5, "tcache_bytes": 192},
        {"tid": 4243, "tcache": "0x7fffe80008c0", "arena": 1,
         "tcache_objects": 1, "tcache_bytes": 48},
        {"tid": 4244, "tcache": None, "arena": None,
         "tcache_objects": 0, "tcache_bytes": 0},
    ], "threads")
    for i, th in enumerate(threads):
        expect(list(th), THREAD_KEYS, "threads[%d] keys" % i)

    expect(d["problems_total"], 4, "problems_total")
    problems = d["problems"]
    expect(len(problems), 3, "number of problems kept")
    for i, p in enumerate(problems):
        expect(list(p), PROBLEM_KEYS, "problems[%d] keys" % i)
    if len(problems) == 3:
        expect(problems[0], {"arena": 1, "address": "0x7fffe8001230",
                             "what": 'bad size 0x11 in "chunk"\n'}, "problems[0]")
        expect(problems[1]["arena"], None, "problems[1].arena")
        expect(problems[1]["address"], "0x7ffff0000000", "problems[1].address")
        check(problems[1]["what"].startswith("chunk size 0x4141414141414141 is larger"),
              "problems[1].what")
        expect(problems[2], {"arena": 0, "address": "0x0",
                             "what": "mp_ counts 4 mmapped chunks, found 3"}, "problems[2]")

    expect(list(d["timing"]), TIMING_KEYS, "timing keys")
    # a snapshot made by hand: no pause of any kind recorded, no copy (null,
    # never 0), nothing re-read, no fallback; consistent
    expect(d["timing"], {"stopped_ns": 1234567, "total_ns": 9876543, "pause": "none",
                         "copy_ns": None, "copied_bytes": 0, "analysis_ns": 0, "rereads": 0,
                         "fallback": None}, "timing")
    expect(d["consistent"], True, "consistent")


def check_empty(d):
    expect(list(d), TOP_KEYS, "empty: top-level keys")
    # a new snapshot knows none of these (a core's): null, never 0
    expect(d["rss_bytes"], None, "empty: rss_bytes")
    expect(d["heap_resident_bytes"], None, "empty: heap_resident_bytes")
    expect(d["heap_share_of_rss"], None, "empty: heap_share_of_rss")
    expect(list(d["timing"]), TIMING_KEYS, "empty: timing keys")
    expect(d["timing"]["stopped_ns"], None, "empty: timing.stopped_ns")
    expect(d["totals"], dict.fromkeys(TOTALS_KEYS, 0), "empty: totals")
    expect(d["mallinfo2"], dict.fromkeys(MALLINFO2_KEYS, 0), "empty: mallinfo2")
    for k in ("arenas", "threads", "problems"):
        expect(d[k], [], "empty: " + k)
    expect(d["problems_total"], 0, "empty: problems_total")


def main():
    if len(sys.argv) != 2:
        print("usage: check_json.py OUTDIR", file=sys.stderr)
        return 2
    outdir = sys.argv[1]
    try:
        load_totals_keys(outdir)
    except OSError as e:
        check(False, "%s: %s" % (outdir, e))
    for name, fn in (("heap.json", check_heap), ("empty.json", check_empty)):
        path = outdir + "/" + name
        try:
            d = load(path)
        except (OSError, ValueError) as e:  # JSONDecodeError is a ValueError
            check(False, "%s: %s" % (path, e))
            continue
        check(isinstance(d, dict), path + ": not an object")
        if isinstance(d, dict):
            try:
                fn(d)
            except (KeyError, TypeError, IndexError) as e:
                check(False, "%s: %s: %r" % (path, type(e).__name__, e))
    if failures:
        print("check_json: %d check(s) failed" % failures, file=sys.stderr)
        return 1
    print("check_json: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
