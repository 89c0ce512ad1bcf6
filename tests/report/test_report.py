#!/usr/bin/env python3
"""heapgrab report and the HTML outputs of snapshot and profile (issue 21),
checked without a browser (test_browser.py draws them):

  - a live gt_target: the page's summary is `stats --json`'s (totals and
    mallinfo2), from report, snapshot -o x.html and --format html; and the
    page of its core (gcore; skipped without gdb);
  - the page's top table is `go tool pprof -top -nodefraction=0` of the
    same .pprof, for every sample type (heap: a snapshot of gt_target; CPU:
    a profile of stack_target); skipped without go;
  - a CPU profile's page: kind cpu, every stack under its thread; stacks
    -o x.html;
  - allocs -o x.html (heapgrab run --rate 1 alloc_target): each function's
    flat is the target's own count, the table go tool pprof -top's;
  - the holders view: live, holders_target's roots, several roots and
    leaks are the page's root frames, each with what the target says it
    retains; on the synthetic snapshot, its root frames, the leaks, go tool
    pprof -top of the same stacks;
  - --base, on synthetic profiles: the base's figures beside the new ones,
    both equal to flat and cum computed here;
  - names that could end the <script> element, or that old JavaScript
    takes for line ends, come back exactly and leave the page whole;
  - size: a CPU profile of 100,000 distinct stacks makes a page under 2 MB;
  - 300 mutants of a profile: a page or one line and exit 2, no crash;
  - refusals: a file that is no profile, bad options (exit 2, no file left).

Usage: test_report.py OUTDIR   (pages are kept there for test_browser.py)
Environment: HEAPGRAB, HG_TARGET_DIR.
"""
import gzip
import json
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from harness import Skip, check, cli_stats, equal, run as run_tests  # noqa: E402
import targets  # noqa: E402
import pprof_encode  # noqa: E402
import reportlib  # noqa: E402

HEAPGRAB = os.environ.get("HEAPGRAB", "")
TARGET_DIR = os.environ.get("HG_TARGET_DIR", "")
OUT = sys.argv[1] if len(sys.argv) > 1 else "report-out"


def hg(*args, ok=True):
    r = subprocess.run([HEAPGRAB, *map(str, args)], capture_output=True)
    if ok:
        check(r.returncode == 0, f"heapgrab {' '.join(map(str, args))}: exit {r.returncode}: "
              f"{r.stderr.decode(errors='replace')}")
    return r


def out(name):
    return os.path.join(OUT, name)


def gt_target():
    t = targets.Target([os.path.join(TARGET_DIR, "gt_target")])
    # something of several sizes, in the main arena and a thread's
    t.cmd("alloc 300 48")
    t.cmd("alloc 40 5000")
    t.cmd("thread_alloc 1 100 200")
    t.cmd("free_step 0 300 3")
    return t


def check_summary(page, stats, what):
    data = reportlib.page_data(page)
    equal(data["kind"], "heap", f"{what}: kind")
    equal(data["stats"]["totals"], stats["totals"], f"{what}: the summary's totals")
    equal(data["stats"]["mallinfo2"], stats["mallinfo2"], f"{what}: mallinfo2")
    equal(data["stats"]["pid"], stats["pid"], f"{what}: pid")
    return data


def test_live_summary_is_stats():
    with gt_target() as t:
        stats = cli_stats(HEAPGRAB, t.pid)
        with open(out("heap-stats.json"), "w") as f:
            json.dump(stats, f)  # for test_browser.py
        hg("report", t.pid, "-o", out("heap.html"))
        check_summary(out("heap.html"), stats, "report PID")
        hg("snapshot", t.pid, "-o", out("snapshot.html"))
        check_summary(out("snapshot.html"), stats, "snapshot -o x.html")
        r = hg("snapshot", t.pid, "--format", "html")
        with open(out("format.html"), "wb") as f:
            f.write(r.stdout)
        check_summary(out("format.html"), stats, "snapshot --format html")
        # the extension decides, --format overrides it
        hg("snapshot", t.pid, "-o", out("heap.pprof"))
        with open(out("heap.pprof"), "rb") as f:
            equal(f.read(2), b"\x1f\x8b", "snapshot -o heap.pprof is gzipped pprof")
        hg("snapshot", t.pid, "--format", "pprof", "-o", out("heap-pprof.html"))
        with open(out("heap-pprof.html"), "rb") as f:
            equal(f.read(2), b"\x1f\x8b", "--format pprof -o x.html is pprof")
        # the report of that .pprof has the same stacks as report PID
        hg("report", out("heap.pprof"), "-o", out("heap-of-pprof.html"))
        a = reportlib.page_data(out("heap.html"))
        b = reportlib.page_data(out("heap-of-pprof.html"))
        equal(b["kind"], "heap", "report heap.pprof: kind")
        equal(b["stats"], None, "report heap.pprof: no stats (a profile has none)")
        for ty in ("inuse_space", "inuse_objects", "free_space"):
            equal(reportlib.top_of(b, ty), reportlib.top_of(a, ty), f"{ty}: report PID and report .pprof")


def test_core_page():
    """A core (gcore of gt_target): the page's summary is stats --json of
    the core (RSS unknown there: the page says n/a)."""
    import shutil
    if not shutil.which("gcore"):
        raise Skip("gcore (gdb) is not installed")
    with gt_target() as t:
        r = subprocess.run(["gcore", "-o", out("gt.core"), str(t.pid)], capture_output=True)
        check(r.returncode == 0, f"gcore: {r.stderr[-300:]!r}")
        core = out(f"gt.core.{t.pid}")
    try:
        stats = cli_stats(HEAPGRAB, core)
        hg("report", core, "-o", out("core.html"))
        data = check_summary(out("core.html"), stats, "report CORE")
        equal(data["stats"]["rss_bytes"], None, "a core's RSS is unknown")
    finally:
        os.unlink(core)


def test_heap_top_is_go_pprof():
    if not reportlib.go():
        raise Skip("go is not installed")
    pprof = out("heap.pprof")
    if not os.path.exists(pprof):
        with gt_target() as t:
            hg("snapshot", t.pid, "-o", pprof)
    hg("report", pprof, "-o", out("heap-of-pprof.html"))
    data = reportlib.page_data(out("heap-of-pprof.html"))
    check(data["types"][data["default"]]["type"] == "inuse_space", "default type inuse_space")
    for ty, unit in (("inuse_space", "B"), ("inuse_objects", None), ("free_space", "B"),
                     ("free_objects", None)):
        got, want = reportlib.top_of(data, ty), reportlib.go_top(pprof, ty, unit, OUT)
        check(len(want) > 3, f"{ty}: go tool pprof lists {len(want)} functions")
        equal(got, want, f"{ty}: the page's top table and go tool pprof -top")


def test_cpu_profile():
    path = os.path.join(TARGET_DIR, "stack_target")
    with targets.Target([path, "1"]) as t:
        threads = {th["tid"]: th["name"] for th in t.state["threads"]} \
            if isinstance(t.state, dict) and "threads" in t.state else {}
        hg("profile", "--seconds", "1", "--hz", "50", t.pid, "-o", out("cpu.pprof"))
        hg("profile", "--seconds", "0.5", "--hz", "50", t.pid, "-o", out("cpu.html"))
        # stacks -o x.html: the one stop as a page
        hg("stacks", t.pid, "-o", out("stacks.html"))
    stacks = reportlib.page_data(out("stacks.html"))
    equal(stacks["kind"], "cpu", "stacks -o x.html: kind")
    check(len(stacks["top"]) > 5, "stacks -o x.html: functions")
    for page in (out("cpu.html"),):
        data = reportlib.page_data(page)
        equal(data["kind"], "cpu", "profile -o cpu.html: kind")
        check(data["meta"]["samples"] > 0, "profile -o cpu.html: samples")
    hg("report", out("cpu.pprof"), "-o", out("cpu-of-pprof.html"))
    data = reportlib.page_data(out("cpu-of-pprof.html"))
    equal(data["kind"], "cpu", "report cpu.pprof: kind")
    # every stack hangs under its thread: the root's children are threads
    kids = [data["names"][data["name"][i]] for i in range(1, len(data["parent"]))
            if i - data["parent"][i] == 0]
    check(kids and all(k.startswith("thread ") for k in kids),
          f"the root's children are threads: {kids[:5]}")
    for tid in threads:
        check(any(k.startswith(f"thread {tid} ") for k in kids), f"thread {tid} in {kids}")
    check(reportlib.top_of(data, "samples"), "the top table has entries")
    if reportlib.go():
        for ty, unit in (("samples", None), ("wall", "ns"), ("cpu", "ns")):
            got = reportlib.top_of(data, ty)
            want = reportlib.go_top(out("cpu.pprof"), ty, unit, OUT)
            equal(got, want, f"{ty}: the CPU page's top table and go tool pprof -top")


def test_allocs_page():
    """heapgrab allocs -o x.html: the allocation sampler's profile (at rate
    1, every allocation) as a page; each workload function's flat is what
    alloc_target counted itself, for all four types, and the table is go
    tool pprof -top's of the same profile as pprof."""
    target = os.path.join(TARGET_DIR, "alloc_target")
    if not os.path.exists(target):
        raise Skip("alloc_target is not built")
    with targets.Target([HEAPGRAB, "run", "--rate", "1", "--", target]) as t:
        truth = t.cmd("work")
        hg("allocs", t.pid, "-o", out("allocs.html"))
        hg("allocs", t.pid, "-o", out("allocs.pprof"))
    data = reportlib.page_data(out("allocs.html"))
    equal(data["kind"], "allocs", "allocs -o x.html: kind")
    for i, ty in enumerate(("alloc_objects", "alloc_space", "inuse_objects", "inuse_space")):
        top = reportlib.top_of(data, ty)
        for fn, counts in truth["functions"].items():
            if counts[i]:
                equal(top.get(fn, (0, 0))[0], counts[i], f"{ty} of {fn}: flat")
        if reportlib.go():
            unit = "B" if ty.endswith("space") else None
            equal(top, reportlib.go_top(out("allocs.pprof"), ty, unit, OUT),
                  f"{ty}: the allocs page's top table and go tool pprof -top")


def root_frames(data, type_name):
    """{root frame: cum} of the page's call tree for a sample type."""
    t = [x["type"] for x in data["types"]].index(type_name)
    n = len(data["parent"])
    cum = list(data["self"][t])
    for i in range(n - 1, 0, -1):
        cum[i - data["parent"][i]] += cum[i]
    return {data["names"][data["name"][i]]: cum[i] for i in range(1, n) if data["parent"][i] == i}


def test_live_holders():
    """holders_target says what each of its roots retains, what several
    roots hold and what it leaked: the live page's root frames (cum of
    inuse_space) say the same."""
    with targets.Target([os.path.join(TARGET_DIR, "holders_target"), "100"]) as t:
        truth = t.state
        hg("report", t.pid, "-o", out("live-holders.html"))
    data = reportlib.page_data(out("live-holders.html"))
    check(data["meta"]["holders"], "the live page has holders")
    roots = root_frames(data, "inuse_space")
    for r in truth["roots"]:
        if r["kind"] == "global":
            frame = r["name"]
        elif r["kind"] == "tls":
            frame = f'{r["name"]} (TLS of thread {r["thread"]} "holder")'
        else:
            frame = f'{r["function"]} (stack of thread {r["thread"]} "holder")'
        equal(roots.get(frame), r["retained_bytes"], f"the frame {frame!r}: what it retains")
    equal(roots.get("(several roots)"), truth["several_roots"]["bytes"], "(several roots)")
    lk = truth["leaks"]
    equal(roots.get("(leaked)"), lk["direct_bytes"] + lk["indirect_bytes"], "(leaked)")
    equal(data["stats"]["leaks"]["direct_bytes"], lk["direct_bytes"], "the summary's direct leaks")


def test_holders_page():
    """A snapshot with holders (synthetic: the library finds none in a live
    process yet): the flame graph's roots are the holders' frames, the
    summary has the leaks, the top table is go tool pprof's."""
    writer = os.environ.get("HG_WRITE_SYNTHETIC")
    if not writer:
        raise Skip("HG_WRITE_SYNTHETIC not set")
    r = subprocess.run([writer, OUT], capture_output=True)
    check(r.returncode == 0, f"write_synthetic: {r.stderr!r}")
    data = reportlib.page_data(out("holders.html"))
    with open(out("holders-stats.json")) as f:
        stats = json.load(f)
    equal(data["stats"], stats, "the page's stats are hg_write_json's")
    check(data["meta"]["holders"], "the page says it has holders")
    roots = {data["names"][data["name"][i]] for i in range(1, len(data["parent"]))
             if data["parent"][i] == i}
    for frame in ("(several roots)", "(leaked)", "(free)", "g_tracker", "g_list"):
        check(frame in roots, f"{frame} is a root of the flame graph: {sorted(roots)}")
    for frame in ("direct leak", "indirect leak", "(deeper holders)"):
        check(frame in data["names"], f"{frame} is a frame")
    # the root frames' cum: what each root retains (usable bytes)
    top = reportlib.top_of(data, "inuse_space")
    equal(top["(leaked)"][1], stats["leaks"]["direct_bytes"] + stats["leaks"]["indirect_bytes"],
          "(leaked)'s cum is the leaked bytes")
    if reportlib.go():
        for ty, unit in (("inuse_space", "B"), ("inuse_objects", None), ("free_space", "B")):
            equal(reportlib.top_of(data, ty), reportlib.go_top(out("holders.pprof"), ty, unit, OUT),
                  f"{ty}: the holders page's top table and go tool pprof -top")


def synthetic(seed, n=60):
    """Samples with recursion (f calls itself) and shared frames."""
    rnd = random.Random(seed)
    fns = ["main", "serve", "parse", "f", "g", "alloc", "leaf"]
    samples = []
    for _ in range(n):
        depth = rnd.randint(1, 6)
        stack = [rnd.choice(fns) for _ in range(depth)] + ["main"]
        samples.append((stack, [rnd.randint(0, 3), rnd.randint(0, 5000)],
                        {"thread_name": "w", "thread_id": 7}))
    return samples


def test_base():
    types = [("samples", "count"), ("cpu", "nanoseconds")]
    new, old = synthetic(1), synthetic(2)
    with open(out("new.pprof"), "wb") as f:
        f.write(pprof_encode.profile(types, new, "cpu"))
    with open(out("old.pprof"), "wb") as f:
        f.write(pprof_encode.profile(types, old, "cpu"))
    hg("report", out("new.pprof"), "--base", out("old.pprof"), "-o", out("diff.html"))
    data = reportlib.page_data(out("diff.html"))
    check(data["base"], "the page says it has a base")
    for i, (ty, _) in enumerate(types):
        equal(reportlib.top_of(data, ty), reportlib.flat_cum(new, i), f"{ty}: new flat and cum")
        equal(reportlib.base_top_of(data, ty), reportlib.flat_cum(old, i),
              f"{ty}: the base's flat and cum")
        equal(data["base_total"][i], sum(s[1][i] for s in old), f"{ty}: the base's total")
        if reportlib.go():
            # the changes are go tool pprof -base's figures
            new_top, old_top = reportlib.top_of(data, ty), reportlib.base_top_of(data, ty)
            change = {n: (new_top.get(n, (0, 0))[0] - old_top.get(n, (0, 0))[0],
                          new_top.get(n, (0, 0))[1] - old_top.get(n, (0, 0))[1])
                      for n in set(new_top) | set(old_top)}
            change = {n: fc for n, fc in change.items() if fc != (0, 0)}
            want = reportlib.go_top(out("new.pprof"), ty, "ns" if ty == "cpu" else None, OUT,
                                    base=out("old.pprof"))
            equal(change, want, f"{ty}: the changes and go tool pprof -base")
    # a base that is no profile, a base with none of the sample types
    with open(out("junk.pprof"), "wb") as f:
        f.write(b"no profile at all")
    r = hg("report", out("new.pprof"), "--base", out("junk.pprof"), "-o", out("x.html"), ok=False)
    equal(r.returncode, 2, "--base junk: exit status")
    check(not os.path.exists(out("x.html")), "--base junk: no page left behind")
    # checked before any process is touched: pid 1 is never stopped for it
    r = hg("report", "1", "--base", out("junk.pprof"), ok=False)
    equal(r.returncode, 2, "report PID --base junk: exit status")
    check(b"base profile" in r.stderr, f"report PID --base junk: the base is named: {r.stderr!r}")
    with open(out("other.pprof"), "wb") as f:
        f.write(pprof_encode.profile([("alloc_space", "bytes")], [(["a"], [1], None)]))
    r = hg("report", out("new.pprof"), "--base", out("other.pprof"), ok=False)
    equal(r.returncode, 2, "--base of other sample types: exit status")


NASTY = ["</script><script>document.title='pwned'</script>", "a\u2028b\u2029c",
         "<!--<script>", "quote \" back\\slash", "\u00e9t\u00e9 \U0001F600"]


def test_escaping():
    samples = [([name, "main"], [i + 1], None) for i, name in enumerate(NASTY)]
    with open(out("nasty.pprof"), "wb") as f:
        f.write(pprof_encode.profile([("samples", "count")], samples))
    hg("report", out("nasty.pprof"), "-o", out("nasty.html"))
    with open(out("nasty.html"), encoding="utf-8") as f:
        html = f.read()
    text = reportlib.page_data_text(html)
    check("<" not in text, "no '<' inside the data element")
    check("\u2028" not in text and "\u2029" not in text, "no raw U+2028/2029 in the data")
    equal(html.lower().count("</script"), 2, "the page's own two script ends, no more")
    data = reportlib.page_data(out("nasty.html"))
    for i, name in enumerate(NASTY):
        check(name in data["names"], f"{name!r} comes back exactly")
        equal(reportlib.top_of(data, "samples")[name], (i + 1, i + 1), f"{name!r}: flat, cum")


def test_edge_profiles():
    """A profile with no samples, one 5,000 frames deep (the page draws the
    first 1,500 rows), one with negative values: pages with exact tables,
    for test_browser.py to draw."""
    types = [("samples", "count")]
    with open(out("empty.pprof"), "wb") as f:
        f.write(pprof_encode.profile(types, []))
    hg("report", out("empty.pprof"), "-o", out("empty.html"))
    data = reportlib.page_data(out("empty.html"))
    equal((data["top"], data["total"], len(data["parent"])), ([], [0], 1), "the empty page's data")
    deep = [([f"level_{i}" for i in range(5000)] + ["rec"] * 50 + ["main"], [3], None),
            (["leaf", "main"], [1], None)]
    with open(out("deep.pprof"), "wb") as f:
        f.write(pprof_encode.profile(types, deep))
    hg("report", out("deep.pprof"), "-o", out("deep.html"))
    data = reportlib.page_data(out("deep.html"))
    equal(reportlib.top_of(data, "samples"), reportlib.flat_cum(deep, 0), "the deep page's table")
    # negative values (a profile written as a difference): figures as given
    neg = [(["a", "main"], [-5], None), (["b", "main"], [3], None), (["a", "x", "main"], [1], None)]
    with open(out("negative.pprof"), "wb") as f:
        f.write(pprof_encode.profile(types, neg))
    hg("report", out("negative.pprof"), "-o", out("negative.html"))
    data = reportlib.page_data(out("negative.html"))
    equal(reportlib.top_of(data, "samples"), reportlib.flat_cum(neg, 0), "the negative page's table")


def big_profile(n, seed=3):
    """n distinct stacks, shaped as a long CPU profile of a server has
    them: 8 worker threads running the same code, whose call paths (20,000
    of them, 6 to 40 frames deep, over 3,000 functions) end in one of 400
    leaf functions.  Which paths and leaves are common follows a power law,
    as in real profiles."""
    rnd = random.Random(seed)
    fns = [f"ns{i % 40}::Module{i % 97}::function_{i}" for i in range(3000)]
    # the call paths: a random tree, each new call under a deep-enough one
    paths = [[fns[0]]]
    while len(paths) < 20000:
        p = paths[int(len(paths) * rnd.random() ** 0.5)]
        if len(p) < 40:
            paths.append(p + [rnd.choice(fns)])
    paths = [p for p in paths if len(p) >= 6]
    leaves = fns[:400]
    seen, samples = set(), []
    while len(samples) < n:
        tid = 1000 + rnd.randrange(8)
        pi = min(int(rnd.paretovariate(0.6)) - 1, len(paths) - 1)
        li = min(int(rnd.paretovariate(0.8)) - 1, len(leaves) - 1)
        pi = rnd.randrange(len(paths)) if rnd.random() < 0.5 else pi
        key = (tid, pi, li)
        if key in seen:
            continue
        seen.add(key)
        c = rnd.randint(1, 4)
        samples.append(([leaves[li]] + paths[pi][::-1], [c, c * 10000000, rnd.randint(0, c * 10000000)],
                        {"thread_name": f"worker-{tid - 1000}", "thread_id": tid}))
    return samples


def test_size_100k_samples():
    samples = big_profile(100000)
    types = [("samples", "count"), ("wall", "nanoseconds"), ("cpu", "nanoseconds")]
    with open(out("big.pprof"), "wb") as f:
        f.write(pprof_encode.profile(types, samples, "cpu"))
    hg("report", out("big.pprof"), "-o", out("big.html"))
    size = os.path.getsize(out("big.html"))
    print(f"     100,000 samples: pprof {os.path.getsize(out('big.pprof'))} bytes, "
          f"page {size} bytes")
    check(size < 2 * 1000 * 1000, f"the page of 100,000 samples is {size} bytes, not under 2 MB")
    data = reportlib.page_data(out("big.html"))
    equal(data["total"], [sum(s[1][i] for s in samples) for i in range(3)], "totals")
    top = reportlib.top_of(data, "cpu")
    want = reportlib.flat_cum(samples, 2)
    equal(len(top), len(want), "functions in the top table")
    for name in list(want)[:200]:
        equal(top[name], want[name], f"{name}: flat and cum")


def test_mutants():
    """Profiles with bytes flipped, fields set to edge values and cuts: each
    is a page (0) or refused in one line (2), never a crash (a signal, a
    sanitizer report) or a hang."""
    rnd = random.Random(5)
    types = [("samples", "count"), ("cpu", "nanoseconds")]
    raw = gzip.decompress(pprof_encode.profile(types, synthetic(7, 40), "cpu"))
    statuses = {}
    for i in range(300):
        b = bytearray(raw)
        kind = i % 3
        if kind == 0:
            for _ in range(rnd.randint(1, 8)):
                b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif kind == 1:  # a varint of 2^64-1 or 2^63 somewhere
            at = rnd.randrange(len(b))
            b[at:at + 1] = bytes([0xFF] * 9 + [0x01]) if rnd.random() < 0.5 else bytes([0x80] * 9 + [0x01])
        else:
            b = b[:rnd.randrange(len(b))]
        data = gzip.compress(bytes(b), mtime=0) if i % 2 else bytes(b)
        path = out("mutant.pprof")
        with open(path, "wb") as f:
            f.write(data)
        r = subprocess.run([HEAPGRAB, "report", path, "-o", out("mutant.html")],
                           capture_output=True, timeout=60)
        statuses[r.returncode] = statuses.get(r.returncode, 0) + 1
        if r.returncode not in (0, 2) or (r.returncode == 2 and r.stderr.count(b"\n") != 1):
            with open(out(f"mutant-failed-{i}.pprof"), "wb") as f:
                f.write(data)
            raise AssertionError(f"mutant {i}: exit {r.returncode}: {r.stderr[-600:]!r} "
                                 f"(kept as mutant-failed-{i}.pprof)")
    print(f"     300 mutants: exit statuses {statuses}")
    # a small file that names a 2,000-line location 100 times in one stack
    # (200,000 frames), or 49 times in each of 520 samples (51 million
    # frames in all): refused before any work
    loc = {1: [f"inl_{i}" for i in range(2000)]}
    for what, samples in (("a stack of", [([1] * 100, [1])]),
                          ("samples of", [([1] * 49, [1])] * 520)):
        with open(out("amplified.pprof"), "wb") as f:
            f.write(pprof_encode.profile_locations([("samples", "count")], loc, samples))
        r = hg("report", out("amplified.pprof"), "-o", out("amplified.html"), ok=False)
        equal(r.returncode, 2, f"a profile of {what} too many frames: exit status ({r.stderr!r})")
        check(what.encode() in r.stderr, f"the message says {what!r}: {r.stderr!r}")


def test_not_to_a_terminal():
    """The page is not written to a terminal (a pty here): exit 2, one line."""
    import pty
    leader, follower = pty.openpty()
    try:
        # new.pprof: test_base's
        r = subprocess.run([HEAPGRAB, "report", out("new.pprof")], stdout=follower,
                           stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    equal(r.returncode, 2, f"report to a terminal: exit status ({r.stderr!r})")
    check(b"terminal" in r.stderr and r.stderr.count(b"\n") == 1, f"one line: {r.stderr!r}")


def test_refusals():
    with open(out("junk.bin"), "wb") as f:
        f.write(b"\x1f\x8bnot really gzip")
    r = hg("report", out("junk.bin"), "-o", out("junk.html"), ok=False)
    equal(r.returncode, 2, "report of a broken gzip: exit status")
    check(not os.path.exists(out("junk.html")), "no page left behind")
    with open(out("cut.pprof"), "wb") as f:
        with open(out("new.pprof") if os.path.exists(out("new.pprof")) else out("junk.bin"),
                  "rb") as g:
            f.write(g.read()[:40])
    r = hg("report", out("cut.pprof"), ok=False)
    equal(r.returncode, 2, "report of a cut profile: exit status")
    for args, what in ((["report", "--format", "html", "1"], "report --format"),
                       (["stats", "--base", out("junk.bin"), "1"], "stats --base"),
                       (["snapshot", "--format", "svg", "1"], "--format svg"),
                       (["report", "--sysroot", "/", out("junk.bin")], "--sysroot with a profile")):
        r = hg(*args, ok=False)
        equal(r.returncode, 2, f"{what}: exit status ({r.stderr!r})")
        check(r.stderr.count(b"\n") == 1, f"{what}: one line: {r.stderr!r}")


def main():
    if not HEAPGRAB:
        print("HEAPGRAB not set")
        return 77
    os.makedirs(OUT, exist_ok=True)
    return run_tests("report", [test_live_summary_is_stats, test_core_page,
                                test_heap_top_is_go_pprof,
                                test_cpu_profile, test_allocs_page, test_live_holders, test_holders_page, test_base,
                                test_edge_profiles, test_escaping,
                                test_size_100k_samples, test_mutants, test_not_to_a_terminal,
                                test_refusals])


if __name__ == "__main__":
    sys.exit(main())
