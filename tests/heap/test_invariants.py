#!/usr/bin/env python3
"""Ground-truth invariants: heapgrab against gt_target, step by step.

Where test_live.py checks chosen deltas, this script checks, after every
command of a few longer scenarios, everything that must hold exactly at any
instant:

  * mallinfo2 equals the target's own, all ten fields;
  * mallinfo2 follows from the per-arena figures the way glibc computes it
    (ordblks = bin chunks + one top per arena, fordblks = bins + fastbins +
    tops, uordblks = arena - fordblks, keepcost = the main arena's top);
  * each arena's chunks account exactly for its system_mem
    (in-use chunk bytes = inuse_bytes + 8 * inuse_objects there);
  * totals are the sums of the arenas, plus the mmapped chunks;
  * the arena count is what the target expects, every thread of the
    process has an entry, the threads' tcaches add up;
  * the arenas a command did not touch did not change at all, and the
    arenas it did touch moved by exactly what the target says it holds;
  * the target still answers and is not traced after each run.

Groups (argv): invariants arenas pprof_labels exits fork  (default: all)
Environment: HEAPGRAB (the binary), HG_TARGET_DIR (gt_target, gt_static).
"""
import gzip
import json
import os
import pty
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (FASTBINS, FILL, HOST_GLIBC, HOST_GLIBC_TEXT, SIZE_SZ,  # noqa: E402
                     chunk_for, mmapped_chunk_for, mmapped_tail, mmapped_usable,
                     run as run_tests, tcache_struct_chunk, gcore_lost_threads,
                     without_tcaches)
from harness import Failure as Mismatch, check as expect, equal as expect_eq  # noqa: E402
import targets  # noqa: E402

HEAPGRAB = os.environ.get("HEAPGRAB", "")
TARGET_DIR = os.environ.get("HG_TARGET_DIR", "")
TARGET = os.path.join(TARGET_DIR, "gt_target")
STATIC_TARGET = os.path.join(TARGET_DIR, "gt_static")
if targets.in_root():
    # HG_TARGET_ROOT: the targets built in that root, run chrooted on its
    # glibc (gt_static is not there when the root has no static libc)
    TARGET = targets.root_build("gt_target")
    try:
        STATIC_TARGET = targets.root_build("gt_static", flags=("-O1", "-static"))
    except Mismatch as e:   # no static libc there, or before mallinfo2 (2.33)
        print(f"  ({str(e).splitlines()[0]} ...)")
        STATIC_TARGET = os.path.join(targets.TARGET_ROOT + targets.ROOT_DIR, "gt_static")

MALLINFO = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")
TOTALS = ("sys_bytes", "inuse_objects", "inuse_bytes", "free_objects", "free_bytes",
          "top_bytes", "tcache_objects", "tcache_bytes", "fastbin_objects", "fastbin_bytes",
          "mmapped_objects", "mmapped_bytes", "released_bytes", "overhead_bytes")


# ------------------------------------------------------------------ target

def root_argv(path, cwd=None):
    """The command that runs a target: with HG_TARGET_ROOT chrooted, and
    then a cwd (which must be in the root) entered inside by a shell that
    execs the target (the same pid)."""
    if not targets.in_root():
        return [path]
    argv = targets.root_argv(path)
    if cwd:
        argv = argv[:2] + ["sh", "-c", f"cd {cwd[len(targets.TARGET_ROOT):]} && exec {argv[2]}"]
    return argv


class GroundTruth(targets.Target):
    """A gt_target process; .state is its last answer."""

    def __init__(self, path=TARGET, cwd=None, cores=False):
        super().__init__(root_argv(path, cwd), cwd=cwd, cores=cores)

    def send(self, command):
        return self.cmd(command)

    def expected_arenas(self):
        if "arenas" in self.state:
            return self.state["arenas"]
        if "thread_arenas" in self.state:
            return 1 + self.state["thread_arenas"]
        return 1 + len(self.state["workers"])

    def check_left_alone(self, after="heapgrab"):
        """Still answers, nobody traces it, no thread left stopped."""
        before = self.state["mallinfo2"]
        self.send("report")
        expect_eq(self.state["mallinfo2"], before, f"target's mallinfo2 on 'report' after {after}")
        tracer = None
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("TracerPid:"):
                    tracer = line.split()[1]
        expect_eq(tracer, "0", f"TracerPid of the target after {after}")
        self.left_alone(after)

    def close(self):
        super().close(gently=True)


def heapgrab_stats(pid, *options):
    r = subprocess.run([HEAPGRAB, "stats", "--json", *options, str(pid)], capture_output=True,
                       timeout=120)
    if r.returncode != 0:
        raise Mismatch(f"heapgrab stats --json {pid}: exit {r.returncode}: "
                       f"{r.stderr.decode(errors='replace').strip()}")
    return json.loads(r.stdout)


# -------------------------------------------------------------- invariants

def check_snapshot(t, hg, where):
    """Everything that must hold exactly in one snapshot."""
    mi, tot, arenas = hg["mallinfo2"], hg["totals"], hg["arenas"]
    for f in MALLINFO:
        expect_eq(mi[f], t.state["mallinfo2"][f], f"{where}: mallinfo2.{f} vs the target's own")
    expect_eq(hg["pid"], t.pid, f"{where}: pid")
    expect_eq(hg["glibc"], HOST_GLIBC_TEXT, f"{where}: glibc")
    expect_eq(hg["exe"], os.path.realpath(TARGET), f"{where}: exe")
    expect(abs(hg["time_nanos"] / 1e9 - time.time()) < 120, f"{where}: time_nanos {hg['time_nanos']}")
    expect_eq(hg["problems_total"], 0, f"{where}: problems_total ({hg['problems'][:2]})")
    expect_eq(hg["problems"], [], f"{where}: problems")

    # arenas as the target knows them
    n = len(arenas)
    expect_eq(n, t.expected_arenas(), f"{where}: number of arenas")
    expect_eq([a["index"] for a in arenas], list(range(n)), f"{where}: arena indexes")
    expect_eq([a["main"] for a in arenas], [True] + [False] * (n - 1), f"{where}: main flags")
    expect_eq(len({a["address"] for a in arenas}), n, f"{where}: distinct arena addresses")
    # the main arena has no heap until its first allocation
    expect_eq(arenas[0]["heaps"], 1 if arenas[0]["system_mem"] else 0, f"{where}: main arena heaps")
    for a in arenas[1:]:
        expect(a["heaps"] >= 1, f"{where}: arena {a['index']} has {a['heaps']} heaps")
    for a in arenas:
        i = a["index"]
        expect_eq(a["mutex_held"], False, f"{where}: arena {i} mutex_held (target is idle)")
        expect_eq(a["sys_bytes"], a["system_mem"], f"{where}: arena {i} sys_bytes = system_mem")
        expect_eq(a["mmapped_objects"], 0, f"{where}: arena {i} mmapped_objects")
        expect_eq(a["mmapped_bytes"], 0, f"{where}: arena {i} mmapped_bytes")
        inuse_chunks = a["inuse_bytes"] + SIZE_SZ * a["inuse_objects"]
        accounted = (inuse_chunks + a["free_bytes"] + a["top_bytes"] + a["tcache_bytes"] +
                     a["fastbin_bytes"] + a["overhead_bytes"])
        expect_eq(accounted, a["system_mem"],
                  f"{where}: arena {i}: in-use chunks {inuse_chunks} + free {a['free_bytes']} + "
                  f"top {a['top_bytes']} + tcache {a['tcache_bytes']} + fastbin "
                  f"{a['fastbin_bytes']} + overhead {a['overhead_bytes']} vs system_mem")
        idle = a["free_bytes"] + a["top_bytes"] + a["tcache_bytes"] + a["fastbin_bytes"]
        expect(a["released_bytes"] <= idle,
               f"{where}: arena {i}: released {a['released_bytes']} > idle {idle}")
        for k in ("free", "tcache", "fastbin"):
            o, b = a[k + "_objects"], a[k + "_bytes"]
            expect(b >= 32 * o and b % 16 == 0,
                   f"{where}: arena {i}: {k} {o} chunks of {b} bytes is not a chunk sum")
        expect(a["fastbin_bytes"] <= 0x80 * a["fastbin_objects"],
               f"{where}: arena {i}: fastbin chunks above 0x80")

    # mallinfo2 from the arenas, as glibc's int_mallinfo computes it
    s = {k: sum(a[k] for a in arenas) for k in TOTALS + ("system_mem",)}
    expect_eq(mi["arena"], s["system_mem"], f"{where}: mallinfo2.arena = sum of system_mem")
    expect_eq(mi["ordblks"], s["free_objects"] + n, f"{where}: ordblks = bin chunks + tops")
    expect_eq(mi["smblks"], s["fastbin_objects"], f"{where}: smblks = fastbin chunks")
    expect_eq(mi["fsmblks"], s["fastbin_bytes"], f"{where}: fsmblks = fastbin bytes")
    expect_eq(mi["fordblks"], s["free_bytes"] + s["fastbin_bytes"] + s["top_bytes"],
              f"{where}: fordblks = bins + fastbins + tops")
    expect_eq(mi["uordblks"], mi["arena"] - mi["fordblks"], f"{where}: uordblks")
    expect_eq(mi["keepcost"], arenas[0]["top_bytes"], f"{where}: keepcost = main top")
    expect_eq(mi["usmblks"], 0, f"{where}: usmblks")

    # totals: sums of the arenas plus the mmapped chunks
    for k in ("free_objects", "free_bytes", "top_bytes", "tcache_objects", "tcache_bytes",
              "fastbin_objects", "fastbin_bytes", "overhead_bytes", "released_bytes"):
        expect_eq(tot[k], s[k], f"{where}: totals.{k} = sum over arenas")
    expect_eq(tot["sys_bytes"], mi["arena"] + mi["hblkhd"], f"{where}: sys_bytes = arena + hblkhd")
    expect_eq(tot["mmapped_objects"], mi["hblks"], f"{where}: mmapped_objects = hblks")
    expect_eq(tot["mmapped_bytes"], mi["hblkhd"], f"{where}: mmapped_bytes = hblkhd")
    expect_eq(tot["fastbin_objects"], mi["smblks"], f"{where}: fastbin_objects = smblks")
    expect_eq(tot["fastbin_bytes"], mi["fsmblks"], f"{where}: fastbin_bytes = fsmblks")
    big = t.state["big"]
    # the target's big blocks are the only mmapped chunks (none at startup)
    expect_eq(tot["mmapped_objects"], big["n"], f"{where}: mmapped_objects = target's big blocks")
    # whole mappings: from 2.43 each holds 16 bytes past its chunk
    expect_eq(tot["mmapped_bytes"], big["chunk"] + big["n"] * mmapped_tail(HOST_GLIBC),
              f"{where}: mmapped_bytes = target's big chunks and their mappings' tails")
    expect_eq(tot["inuse_objects"], s["inuse_objects"] + big["n"],
              f"{where}: totals.inuse_objects = arenas + mmapped")
    expect_eq(tot["inuse_bytes"], s["inuse_bytes"] + big["usable"],
              f"{where}: totals.inuse_bytes = arenas + mmapped usable")

    # threads
    with os.scandir(f"/proc/{t.pid}/task") as it:
        tids = sorted(int(e.name) for e in it)
    threads = {x["tid"]: x for x in hg["threads"]}
    expect_eq(sorted(threads), tids, f"{where}: thread ids vs /proc/PID/task")
    for k in ("tcache_objects", "tcache_bytes"):
        expect_eq(sum(x[k] for x in hg["threads"]), tot[k], f"{where}: threads' {k} add up")
    # no thread frees another's blocks here: a tcache holds its own arena's chunks
    for a in arenas:
        mine = [x for x in hg["threads"] if x["arena"] == a["index"]]
        for k in ("tcache_objects", "tcache_bytes"):
            expect_eq(sum(x[k] for x in mine), a[k], f"{where}: arena {a['index']} {k} "
                      f"= its threads' tcaches")
    expect_eq(threads[t.pid]["arena"], 0, f"{where}: main thread's tcache in the main arena")
    worker_arenas = []
    for w in t.state["workers"]:
        if not w["tid"]:
            continue  # its thread did not survive a fork: no thread, no tcache
        expect(w["tid"] in threads, f"{where}: worker {w['index']} (tid {w['tid']}) has no entry")
        th = threads[w["tid"]]
        expect(th["arena"] is not None and th["arena"] > 0,
               f"{where}: worker {w['index']}'s tcache arena is {th['arena']}")
        expect(th["tcache"] not in (0, "0x0", None), f"{where}: worker {w['index']} has no tcache")
        if "arena" in w:
            expect_eq(arenas[th["arena"]]["address"], w["arena"],
                      f"{where}: worker {w['index']}'s arena address")
        worker_arenas.append(th["arena"])
    expect_eq(len(set(worker_arenas)), len(worker_arenas), f"{where}: one arena per worker")

    # residency
    expect(0 <= hg["heap_resident_bytes"] <= hg["rss_bytes"],
           f"{where}: heap_resident {hg['heap_resident_bytes']} vs rss {hg['rss_bytes']}")
    share = hg["heap_resident_bytes"] / hg["rss_bytes"]
    expect(abs(hg["heap_share_of_rss"] - share) <= 0.0006,
           f"{where}: heap_share_of_rss {hg['heap_share_of_rss']} vs {share:.4f}")
    tm = hg["timing"]
    expect(0 < tm["stopped_ns"] <= tm["total_ns"], f"{where}: timing {tm}")
    return {w["tid"]: threads[w["tid"]] for w in t.state["workers"] if w["tid"]}


def _thp_always():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[always]" in f.read()
    except OSError:
        return False


# An arena nobody touched must not change in any figure.  Residency too,
# unless khugepaged may collapse (page in) idle heap pages behind our back.
ARENA_KEYS = ("system_mem", "heaps", "inuse_objects", "inuse_bytes", "free_objects",
              "free_bytes", "top_bytes", "tcache_objects", "tcache_bytes", "fastbin_objects",
              "fastbin_bytes", "overhead_bytes") + (() if _thp_always() else ("released_bytes",))


def worker_arena(hg, tid):
    return [x for x in hg["threads"] if x["tid"] == tid][0]["arena"]


def check_step(t, prev, prev_state, hg, command, where):
    """Arenas the command did not touch are unchanged; touched ones moved
    by exactly what the target holds."""
    words = command.split()
    touched = set()
    starter = set()   # the arena of a thread that started another
    held_before = held_after = None
    if words[0] in ("alloc", "free", "free_step"):
        touched = {0}
        held_before, held_after = prev_state["main"], t.state["main"]
    elif words[0] in ("thread_alloc", "thread_free"):
        idx = int(words[1])
        wb = [w for w in prev_state["workers"] if w["index"] == idx]
        wa = [w for w in t.state["workers"] if w["index"] == idx][0]
        if not wb:
            return  # the worker was just created: its arena is new
        touched = {worker_arena(hg, wa["tid"])}
        held_before, held_after = wb[0]["held"], wa["held"]
        if wb[0]["tid"] == 0:
            # a forked child's worker started again (its tid was 0): the
            # main thread's pthread_create may malloc one small block for
            # the new thread (2.43 does -- DTV-sized; 2.36 reuses the dead
            # worker's cached stack and allocates nothing) in its arena
            starter = {0}
    elif words[0] in ("big", "free_big"):
        # a large request consolidates the fastbins and sorts the unsorted
        # chunks of the main arena before it mmaps: arena 0 may change, but
        # not what is in use there
        touched = {0}
        held_before, held_after = prev_state["main"], t.state["main"]
        db = t.state["big"]["n"] - prev_state["big"]["n"]
        expect_eq(hg["totals"]["mmapped_objects"] - prev["totals"]["mmapped_objects"], db,
                  f"{where}: mmapped_objects delta")
        expect_eq(hg["totals"]["mmapped_bytes"] - prev["totals"]["mmapped_bytes"],
                  t.state["big"]["chunk"] - prev_state["big"]["chunk"] +
                  db * mmapped_tail(HOST_GLIBC), f"{where}: mmapped_bytes delta")
        expect_eq(hg["totals"]["inuse_bytes"] - prev["totals"]["inuse_bytes"],
                  t.state["big"]["usable"] - prev_state["big"]["usable"],
                  f"{where}: inuse_bytes delta")
    expect_eq(len(hg["arenas"]), len(prev["arenas"]), f"{where}: arena count changed")
    for a, b in zip(prev["arenas"], hg["arenas"]):
        i = a["index"]
        if i in touched:
            expect_eq(b["inuse_objects"] - a["inuse_objects"], held_after["n"] - held_before["n"],
                      f"{where}: arena {i} inuse_objects delta vs blocks the target holds")
            expect_eq(b["inuse_bytes"] - a["inuse_bytes"],
                      held_after["usable"] - held_before["usable"],
                      f"{where}: arena {i} inuse_bytes delta vs their usable sizes")
            continue
        if i in starter:
            grew = b["inuse_objects"] - a["inuse_objects"]
            expect(grew in (0, 1) and 0 <= b["inuse_bytes"] - a["inuse_bytes"] <= 1024 * grew,
                   f"{where}: arena {i}, which started the thread: in use "
                   f"{a['inuse_objects']}/{a['inuse_bytes']} -> {b['inuse_objects']}/"
                   f"{b['inuse_bytes']} (one DTV at most)")
            expect_eq(b["system_mem"], a["system_mem"], f"{where}: arena {i} system_mem")
            continue
        for k in ARENA_KEYS:
            expect_eq(b[k], a[k], f"{where}: untouched arena {i}: {k}")
    # threads other than the one that ran the command keep their tcaches
    runner = None
    if words[0] in ("alloc", "free", "free_step", "big", "free_big"):
        runner = t.pid
    elif words[0] in ("thread_alloc", "thread_free"):
        runner = [w for w in t.state["workers"] if w["index"] == int(words[1])][0]["tid"]
    before = {x["tid"]: x for x in prev["threads"]}
    for x in hg["threads"]:
        if x["tid"] != runner and x["tid"] in before:
            for k in ("tcache", "arena", "tcache_objects", "tcache_bytes"):
                expect_eq(x[k], before[x["tid"]][k], f"{where}: idle thread {x['tid']} {k}")


def run_scenario(commands, name):
    t = GroundTruth()
    try:
        prev = heapgrab_stats(t.pid)
        check_snapshot(t, prev, f"{name} @start")
        prev_state = t.state
        for step, command in enumerate(commands, 1):
            t.send(command)
            hg = heapgrab_stats(t.pid)
            where = f"{name} step {step} ({command})"
            check_snapshot(t, hg, where)
            check_step(t, prev, prev_state, hg, command, where)
            t.check_left_alone(f"heapgrab, {where}")
            prev, prev_state = hg, t.state
        return t, prev
    except BaseException:
        t.close()
        raise


# ------------------------------------------------------------------ groups

def test_mixed_heap_invariants():
    """Main thread and three workers, every kind of chunk, checked after
    every command."""
    commands = [
        "alloc 400 24", "alloc 300 72", "alloc 200 600", "alloc 40 5000",
        "free_step 700 60 3",          # 600-byte blocks, not neighbours: FILL tcache, the rest bins
        "free 25",                     # 5000-byte blocks: coalesced into top
        "alloc 50 40", "free 30",      # FILL to tcache, the rest to the 0x30 fastbin
        "big 3 300000", "big 1 2097152",
        "thread_alloc 0 0 16", "thread_alloc 1 0 16", "thread_alloc 2 0 16",
        "thread_alloc 0 500 100", "thread_free 0 40",
        "thread_alloc 1 200 1000", "thread_free 1 100",
        "thread_alloc 2 1000 24", "thread_free 2 300",
        "alloc 10 24",                 # served from the main thread's tcache/fastbin
        "thread_alloc 0 20 100",       # and the worker's
        "free_big 2",
        "report",
    ]
    t, last = run_scenario(commands, "mixed")
    try:
        # the heuristics must find exactly what the symbols found
        r = subprocess.run([HEAPGRAB, "stats", "--json", "--locate", "heuristic", str(t.pid)],
                           capture_output=True, timeout=120)
        expect_eq(r.returncode, 0, f"--locate heuristic: {r.stderr.decode().strip()}")
        h = json.loads(r.stdout)
        expect_eq(h["locate"], "heuristic", "--locate heuristic")
        check_snapshot(t, h, "mixed, heuristic")
        for k in ("mallinfo2", "totals", "arenas", "threads"):
            expect_eq(h[k], last[k], f"mixed: {k}, heuristic vs symbols")
    finally:
        t.close()


def test_exact_fastbin_and_tcache_per_arena():
    """Same steps in the main arena and in one thread arena: tcache takes
    glibc's fill count (FILL), the fastbin the rest, exactly, and only in
    that arena and thread.  Without fastbins (2.43+) the rest, neighbours
    (the tcache's chunks lie between them and anything free), coalesce into
    one bin chunk."""
    t = GroundTruth()
    try:
        for w in range(3):
            t.send(f"thread_alloc {w} 0 16")
        req, c = 40, chunk_for(40)          # 0x30 chunks: tcache bin 1, fastbin 1
        for who, alloc, free, idx in (("main", f"alloc 100 {req}", "free 30", None),
                                      ("worker 1", f"thread_alloc 1 100 {req}",
                                       "thread_free 1 30", 1)):
            t.send(alloc)
            before = heapgrab_stats(t.pid)
            check_snapshot(t, before, f"{who} after {alloc}")
            tid = t.pid if idx is None else \
                [w["tid"] for w in t.state["workers"] if w["index"] == idx][0]
            ai = worker_arena(before, tid)
            t.send(free)
            after = heapgrab_stats(t.pid)
            where = f"{who}: {free}"
            check_snapshot(t, after, where)
            a0, a1 = before["arenas"][ai], after["arenas"][ai]
            # from 2.43 a thread's first free, not its first malloc, sets up
            # its tcache: then its struct comes from the arena's top
            new_tcache = [x for x in before["threads"] if x["tid"] == tid][0]["tcache"] is None
            struct = tcache_struct_chunk(HOST_GLIBC) if new_tcache else 0
            rest = 30 - FILL
            fast = (rest, rest * c) if FASTBINS else (0, 0)
            binned = (0, 0) if FASTBINS else (1 if rest else 0, rest * c)
            for k, want in (("inuse_objects", -30), ("inuse_bytes", -30 * (c - SIZE_SZ)),
                            ("tcache_objects", FILL), ("tcache_bytes", FILL * c),
                            ("fastbin_objects", fast[0]), ("fastbin_bytes", fast[1]),
                            ("free_objects", binned[0]), ("free_bytes", binned[1]),
                            ("top_bytes", -struct), ("overhead_bytes", struct),
                            ("system_mem", 0)):
                expect_eq(a1[k] - a0[k], want, f"{where}: arena {ai} {k} delta")
            for k, want in (("tcache_objects", FILL), ("tcache_bytes", FILL * c),
                            ("fastbin_objects", fast[0]), ("free_objects", binned[0]),
                            ("inuse_objects", -30)):
                expect_eq(after["totals"][k] - before["totals"][k], want,
                          f"{where}: totals.{k} delta")
            tb = {x["tid"]: x for x in before["threads"]}
            for x in after["threads"]:
                want = (FILL, FILL * c) if x["tid"] == tid else (0, 0)
                expect_eq((x["tcache_objects"] - tb[x["tid"]]["tcache_objects"],
                           x["tcache_bytes"] - tb[x["tid"]]["tcache_bytes"]), want,
                          f"{where}: thread {x['tid']} tcache (objects, bytes) delta")
            for b0, b1 in zip(before["arenas"], after["arenas"]):
                if b0["index"] != ai:
                    for k in ARENA_KEYS:
                        expect_eq(b1[k], b0[k], f"{where}: other arena {b0['index']} {k}")
            expect_eq(after["mallinfo2"]["smblks"] - before["mallinfo2"]["smblks"], fast[0],
                      f"{where}: smblks delta")
            expect_eq(after["mallinfo2"]["ordblks"] - before["mallinfo2"]["ordblks"], binned[0],
                      f"{where}: ordblks delta")
            t.check_left_alone(where)
    finally:
        t.close()


def test_mmapped_exact():
    """Mmapped chunks: counts and sizes from the target's size words and
    from glibc's rounding; arenas untouched."""
    t = GroundTruth()
    try:
        # the first malloc sets up the main arena and its tcache
        t.send("alloc 1 24")
        t.send("free 1")
        base = heapgrab_stats(t.pid)
        check_snapshot(t, base, "mmapped @start")
        for size, n in ((262144, 2), (300000, 3), (5 << 20, 1)):
            before = heapgrab_stats(t.pid)
            t.send(f"big {n} {size}")
            after = heapgrab_stats(t.pid)
            where = f"big {n} {size}"
            check_snapshot(t, after, where)
            cs = mmapped_chunk_for(size)
            expect_eq(after["totals"]["mmapped_objects"] - before["totals"]["mmapped_objects"], n,
                      f"{where}: mmapped_objects delta")
            expect_eq(after["totals"]["mmapped_bytes"] - before["totals"]["mmapped_bytes"], n * cs,
                      f"{where}: mmapped_bytes delta (chunk {cs} each)")
            expect_eq(after["totals"]["inuse_objects"] - before["totals"]["inuse_objects"], n,
                      f"{where}: inuse_objects delta")
            expect_eq(after["totals"]["inuse_bytes"] - before["totals"]["inuse_bytes"],
                      n * mmapped_usable(cs, HOST_GLIBC), f"{where}: inuse_bytes delta")
            for a0, a1 in zip(before["arenas"], after["arenas"]):
                for k in ARENA_KEYS:
                    expect_eq(a1[k], a0[k], f"{where}: arena {a0['index']} {k} unchanged")
            expect_eq(len(after["arenas"]), len(before["arenas"]), f"{where}: arena count")
        before = after
        t.send("free_big 4")
        after = heapgrab_stats(t.pid)
        check_snapshot(t, after, "free_big 4")
        freed = mmapped_chunk_for(5 << 20) + 3 * mmapped_chunk_for(300000)
        expect_eq(before["totals"]["mmapped_bytes"] - after["totals"]["mmapped_bytes"], freed,
                  "free_big 4: mmapped_bytes delta")
        expect_eq(after["totals"]["mmapped_objects"], 2, "free_big 4: mmapped_objects left")
        t.check_left_alone("mmapped")
    finally:
        t.close()


def test_arena_count_grows():
    """One more arena and one more thread per new worker, up to six."""
    t = GroundTruth()
    try:
        hg = heapgrab_stats(t.pid)
        check_snapshot(t, hg, "arenas @start")
        expect_eq(len(hg["arenas"]), 1, "arenas at start")
        for w in range(6):
            t.send(f"thread_alloc {w} {10 * (w + 1)} {64 + 16 * w}")
            hg = heapgrab_stats(t.pid)
            where = f"after worker {w}"
            check_snapshot(t, hg, where)
            expect_eq(len(hg["arenas"]), w + 2, f"{where}: arenas")
            expect_eq(len(hg["threads"]), w + 2, f"{where}: threads")
            wk = [x for x in t.state["workers"] if x["index"] == w][0]
            a = hg["arenas"][worker_arena(hg, wk["tid"])]
            # in use there: the worker's blocks only (its tcache struct is overhead)
            expect_eq(a["inuse_objects"], 10 * (w + 1), f"{where}: its arena's inuse_objects")
            expect_eq(a["inuse_bytes"], wk["held"]["usable"], f"{where}: its arena's inuse_bytes")
            # the warm-up chunk waits in its tcache
            th = [x for x in hg["threads"] if x["tid"] == wk["tid"]][0]
            expect_eq((th["tcache_objects"], th["tcache_bytes"]), (1, 32),
                      f"{where}: the worker's tcache holds its warm-up chunk")
            t.check_left_alone(where)
    finally:
        t.close()


def test_thread_arena_with_several_heaps():
    """A thread arena grown past one 64 MiB heap, then shrunk."""
    commands = ["thread_alloc 0 0 16", "thread_alloc 0 800 100000", "thread_free 0 500",
                "thread_free 0 300", "thread_alloc 0 100 50000"]
    t = GroundTruth()
    try:
        prev = heapgrab_stats(t.pid)
        prev_state = t.state
        most = 0
        for command in commands:
            t.send(command)
            hg = heapgrab_stats(t.pid)
            where = f"heaps: {command}"
            check_snapshot(t, hg, where)
            check_step(t, prev, prev_state, hg, command, where)
            tid = t.state["workers"][0]["tid"]
            a = hg["arenas"][worker_arena(hg, tid)]
            most = max(most, a["heaps"])
            if command == "thread_alloc 0 800 100000":
                expect(a["heaps"] >= 2, f"{where}: 80 MB in a thread arena: {a['heaps']} heap(s)")
            t.check_left_alone(where)
            prev, prev_state = hg, t.state
        expect(most >= 2, "never saw a second heap")
    finally:
        t.close()



# --- a forked child whose heaps grew after the fork

HEAP_MAX = 64 << 20   # a thread heap's reservation and alignment (x86_64)


def mapping_run(pid, addr):
    """The /proc/PID/maps lines of the run of adjacent, alike mappings (same
    permissions and name) that starts with the one holding addr."""
    maps = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            w = line.split()
            lo, hi = (int(x, 16) for x in w[0].split("-"))
            maps.append((lo, hi, w[1], w[5] if len(w) > 5 else ""))
    run = [m for m in maps if m[0] <= addr < m[1]]
    for m in maps:
        if run and m[0] == run[-1][1] and m[2:] == run[-1][2:]:
            run.append(m)
    return run


def same_snapshot(a, b, what):
    """Two snapshots of the same instant (live and core): every figure, but
    page residency, which a core does not carry."""
    expect_eq(a["mallinfo2"], b["mallinfo2"], f"{what}: mallinfo2")
    expect_eq(dict(a["totals"], released_bytes=0), dict(b["totals"], released_bytes=0),
              f"{what}: totals")
    for x, y in zip(a["arenas"], b["arenas"]):
        expect_eq(dict(x, released_bytes=0), dict(y, released_bytes=0),
                  f"{what}: arena {x['index']}")
    expect_eq(sorted((x["tid"], x["arena"], x["tcache_objects"], x["tcache_bytes"])
                     for x in a["threads"]),
              sorted((x["tid"], x["arena"], x["tcache_objects"], x["tcache_bytes"])
                     for x in b["threads"]), f"{what}: threads")


def test_forked_child():
    """A prefork server's worker: the parent fills the main heap and a thread
    arena, forks, and the child grows both.  The kernel cannot merge a heap's
    old and new parts (their anonymous memory has different origins), so the
    child's [heap] and its thread heap are each two or more mappings, and a
    core of it two or more PT_LOADs.  Live, through the heuristics, from a
    gcore core and from a kernel core: mallinfo2 equal to the child's own, no
    problems, every arena's system_mem accounted exactly."""
    cwd = f"{targets.TARGET_ROOT or ''}/tmp/heapgrab-fork-{os.getpid()}"
    os.makedirs(cwd, exist_ok=True)
    t = GroundTruth(cwd=cwd, cores=True)
    try:
        for command in ("alloc 2000 64", "thread_alloc 0 3000 100", "thread_free 0 40",
                        "free_step 0 300 3", "big 1 2097152"):
            t.send(command)
        parent = heapgrab_stats(t.pid)
        check_snapshot(t, parent, "parent before the fork")
        t.send("fork")
        expect(t.state["pid"] != t.pid, "fork: the answer comes from the child")
        t.pid = t.state["pid"]
        child = heapgrab_stats(t.pid)
        check_snapshot(t, child, "child after the fork")
        # only the forking thread lives on: the worker's tcache is nobody's
        # now, its struct and the chunks it held count as in use
        a0, a1 = parent["arenas"][1], child["arenas"][1]
        old = [x for x in parent["threads"] if x["arena"] == 1][0]
        expect_eq(a1["inuse_objects"], a0["inuse_objects"] + 1 + old["tcache_objects"],
                  "child: arena 1 in use = before + the orphaned tcache and its chunks")
        expect_eq(a1["tcache_objects"], 0, "child: arena 1 tcache_objects")
        for k in ("system_mem", "free_bytes", "top_bytes"):
            expect_eq(a1[k], a0[k], f"child: arena 1 {k}")
        for k in ARENA_KEYS:
            expect_eq(child["arenas"][0][k], parent["arenas"][0][k], f"child: main arena {k}")
        prev, prev_state = child, t.state
        for command in ("alloc 100000 64", "thread_alloc 0 20000 1000", "free_step 1500 5000 7",
                        "thread_free 0 3000", "thread_alloc 0 100 50", "big 1 3000000"):
            t.send(command)
            hg = heapgrab_stats(t.pid)
            where = f"child: {command}"
            check_snapshot(t, hg, where)
            check_step(t, prev, prev_state, hg, command, where)
            t.check_left_alone(where)
            prev, prev_state = hg, t.state
        live = prev
        # the premise: both heaps are split
        with open(f"/proc/{t.pid}/maps") as f:
            heap_parts = sum(line.rstrip().endswith("[heap]") for line in f)
        expect(heap_parts >= 2, f"child's [heap] is {heap_parts} mapping(s): the test needs a split")
        base = int(live["arenas"][1]["address"], 16) & ~(HEAP_MAX - 1)
        run = mapping_run(t.pid, base)
        expect(len(run) >= 2 and run[0][2] == "rw-p",
               f"child's thread heap at {base:#x}: {run} (the test needs a split)")
        expect(live["arenas"][1]["system_mem"] > run[0][1] - base,
               "arena 1 must extend past its first mapping")
        h = subprocess.run([HEAPGRAB, "stats", "--json", "--locate", "heuristic", str(t.pid)],
                           capture_output=True, timeout=120)
        expect_eq(h.returncode, 0, f"child, heuristic: {h.stderr.decode().strip()}")
        h = json.loads(h.stdout)
        check_snapshot(t, h, "child, heuristic")
        same_snapshot(h, live, "child, heuristic vs symbols")
        if shutil.which("gcore"):
            r = subprocess.run(["gcore", "-o", f"{cwd}/gcore", str(t.pid)], capture_output=True,
                               timeout=300)
            expect_eq(r.returncode, 0, f"gcore: {r.stderr.decode()[-300:]}")
            core = heapgrab_stats(f"{cwd}/gcore.{t.pid}")
            # from 2.42 gdb leaves the worker's control block out: then
            # its tcache is not counted, and heapgrab must say so
            lost = gcore_lost_threads(core, live, HOST_GLIBC)
            expect_eq(len(core["problems"]), len(lost), f"gcore core of the child: problems "
                      f"{core['problems'][:2]}")
            same_snapshot(core, without_tcaches(live, lost, HOST_GLIBC),
                          "gcore core of the child")
            os.unlink(f"{cwd}/gcore.{t.pid}")
        else:
            print("  (gcore not installed: the child's gcore core not checked)")
        t.check_left_alone("gcore")
        with open("/proc/sys/kernel/core_pattern") as f:
            pattern = f.read().strip()
        if pattern.startswith("|") or "/" in pattern:
            print(f"  (core_pattern is {pattern!r}: the child's kernel core not checked)")
            return
        t.abort_and_wait(60)   # the parent ends with its child
        cores = [n for n in os.listdir(cwd) if n.startswith(pattern.split("%")[0] or "core")]
        expect_eq(len(cores), 1, f"one kernel core in {cwd}: {os.listdir(cwd)}")
        # a chrooted target's kernel core names its files as it saw them
        core = heapgrab_stats(os.path.join(cwd, cores[0]),
                              *(("--sysroot", targets.TARGET_ROOT) if targets.in_root() else ()))
        expect_eq(core["problems"], [], "kernel core of the child: problems")
        same_snapshot(core, live, "kernel core of the child")
    finally:
        t.close()
        shutil.rmtree(cwd, ignore_errors=True)


# --- pprof, labels included

def _varint(b, i):
    v = s = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7F) << s
        s += 7
        if not x & 0x80:
            return v, i


def _messages(b):
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            ln, i = _varint(b, i)
            v, i = b[i:i + ln], i + ln
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise Mismatch(f"pprof: wire type {wt}")
        yield f, wt, v


def decode_profile(path):
    """[(sample types)], [(values, {label: str or num})] of a gzipped pprof."""
    with open(path, "rb") as f:
        raw = f.read()
    expect_eq(raw[:2], b"\x1f\x8b", "pprof gzip magic")
    data = gzip.decompress(raw)
    strings, types, samples = [], [], []
    for f, wt, v in _messages(data):
        if f == 6:
            strings.append(v.decode())
        elif f == 1:
            types.append({g: x for g, _, x in _messages(v)})
        elif f == 2:
            samples.append(v)
    names = [strings[ty.get(1, 0)] for ty in types]
    out = []
    for raw_sample in samples:
        values, labels = [], {}
        for g, wt, v in _messages(raw_sample):
            if g == 2:
                if wt == 0:
                    values.append(v)
                else:
                    j = 0
                    while j < len(v):
                        x, j = _varint(v, j)
                        values.append(x)
            elif g == 3:
                lab = {h: x for h, _, x in _messages(v)}
                key = strings[lab.get(1, 0)]
                labels[key] = strings[lab[2]] if lab.get(2) else lab.get(3, 0)
        expect_eq(len(values), len(names), "values per sample")
        out.append((dict(zip(names, values)), labels))
    return names, out


def test_pprof_by_arena_and_state():
    """Per arena label and state label, the profile's sums equal the JSON
    figures of the same instant."""
    commands = ["alloc 300 72", "free 40", "alloc 100 600", "free_step 0 50 2",
                "big 2 1048576", "thread_alloc 0 200 100", "thread_free 0 30",
                "thread_alloc 1 50 3000", "thread_free 1 20"]
    t = GroundTruth()
    path = f"/tmp/hg-invariants-{os.getpid()}.pprof"
    try:
        for c in commands:
            t.send(c)
        r = subprocess.run([HEAPGRAB, str(t.pid), "-o", path], capture_output=True, timeout=120)
        expect_eq(r.returncode, 0, f"heapgrab -o: {r.stderr.decode().strip()}")
        hg = heapgrab_stats(t.pid)   # the target did nothing in between
        check_snapshot(t, hg, "pprof")
        names, samples = decode_profile(path)
        expect_eq(names, ["inuse_objects", "inuse_space", "free_objects", "free_space"],
                  "sample types, in order")
        sums = {}
        for vals, lab in samples:
            expect("arena" in lab and "state" in lab and "bytes" in lab, f"labels {lab}")
            key = (lab["arena"], lab["state"])
            if lab["state"] in ("inuse", "mmapped"):
                expect(vals["free_objects"] == vals["free_space"] == 0 and
                       vals["inuse_space"] == vals["inuse_objects"] * lab["bytes"],
                       f"live sample {vals} {lab}: space = objects x bytes label, no free")
            else:
                expect(vals["inuse_objects"] == vals["inuse_space"] == 0,
                       f"idle sample {vals} {lab}: nothing in use")
                if lab["state"] in ("tcache", "fastbin", "bin"):
                    expect(vals["free_space"] == vals["free_objects"] * lab["bytes"],
                           f"idle sample {vals} {lab}: space = chunks x bytes label")
            acc = sums.setdefault(key, [0, 0, 0, 0])
            for j, nm in enumerate(names):
                acc[j] += vals[nm]
        tot = hg["totals"]
        expect_eq(sum(v[0] for v in sums.values()), tot["inuse_objects"], "sum inuse_objects")
        expect_eq(sum(v[1] for v in sums.values()), tot["inuse_bytes"], "sum inuse_space")
        expect_eq(sums.get(("mmap", "mmapped"), [0, 0])[:2],
                  [tot["mmapped_objects"], t.state["big"]["usable"]], "mmapped samples")

        def arena_label(i):
            return "main" if i == 0 else f"arena{i}"
        labels = {k[0] for k in sums} - {"mmap"}
        expect_eq(labels, {arena_label(a["index"]) for a in hg["arenas"]}, "arena labels")
        problems = []
        for a in hg["arenas"]:
            lab = arena_label(a["index"])
            got = {st: sums.get((lab, st), [0, 0, 0, 0]) for st in
                   ("inuse", "tcache", "fastbin", "bin", "top", "overhead")}
            for want, have, what in (
                    ((a["inuse_objects"], a["inuse_bytes"]), tuple(got["inuse"][:2]), "inuse"),
                    ((a["tcache_objects"], a["tcache_bytes"]), tuple(got["tcache"][2:]), "tcache"),
                    ((a["fastbin_objects"], a["fastbin_bytes"]), tuple(got["fastbin"][2:]),
                     "fastbin"),
                    ((a["free_objects"], a["free_bytes"]), tuple(got["bin"][2:]), "bin"),
                    (a["top_bytes"], got["top"][3], "top bytes"),
                    (a["overhead_bytes"], got["overhead"][3], "overhead bytes")):
                if want != have:
                    problems.append(f"arena {a['index']} ({lab}) state {what}: "
                                    f"JSON {want}, pprof {have}")
        expect(not problems, "; ".join(problems))
        go = shutil.which("go")
        if go:
            g = subprocess.run([go, "tool", "pprof", "-raw", path], capture_output=True,
                               timeout=300)
            expect_eq(g.returncode, 0, f"go tool pprof -raw: {g.stderr.decode()[:300]}")
            g = subprocess.run([go, "tool", "pprof", "-sample_index=free_space", "-tagfocus",
                                "state=tcache", "-top", path], capture_output=True, timeout=300)
            expect_eq(g.returncode, 0, f"go tool pprof -tagfocus: {g.stderr.decode()[:300]}")
        else:
            print("  (part skipped: go not found: go tool pprof's reading)")
        t.check_left_alone("pprof")
    finally:
        t.close()
        if os.path.exists(path):
            os.unlink(path)


# --- exit codes and messages

def one_line_error(r, what):
    err = r.stderr.decode(errors="replace")
    expect(err.startswith("heapgrab: ") and err.endswith("\n") and err.count("\n") == 1,
           f"{what}: stderr must be one line starting 'heapgrab: ', got {err!r}")
    expect_eq(r.stdout, b"", f"{what}: stdout")
    return err


def test_exit_codes():
    # no such process: a free pid below pid_max
    with open("/proc/sys/kernel/pid_max") as f:
        pid = int(f.read()) - 1
    while os.path.exists(f"/proc/{pid}"):
        pid -= 1
    for argv in (["stats", "--json", str(pid)], ["stats", str(pid)], [str(pid), "-o", "/dev/null"]):
        r = subprocess.run([HEAPGRAB] + argv, capture_output=True, timeout=60)
        expect_eq(r.returncode, 3, f"heapgrab {' '.join(argv)} (no such process)")
        one_line_error(r, f"heapgrab {' '.join(argv)}")
    for argv in (["stats", "--json", "12ab"], ["stats", "--json"], ["stats", "--locate", "sideways",
                                                                    "1"]):
        r = subprocess.run([HEAPGRAB] + argv, capture_output=True, timeout=60)
        expect_eq(r.returncode, 2, f"heapgrab {' '.join(argv)} (usage)")
        one_line_error(r, f"heapgrab {' '.join(argv)}")

    t = GroundTruth()
    try:
        t.send("alloc 100 64")
        # permission denied: nobody may not trace root's process
        if os.geteuid() == 0 and shutil.which("setpriv"):
            r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                HEAPGRAB, "stats", "--json", str(t.pid)], capture_output=True,
                               timeout=60)
            expect_eq(r.returncode, 4, f"as nobody ({r.stderr.decode().strip()})")
            one_line_error(r, "as nobody")
            t.check_left_alone("a refused heapgrab")
        else:
            print("  (part skipped: not root or no setpriv: the permission check)")
        # a binary profile is not written to a terminal
        for argv in ([str(t.pid)], ["snapshot", str(t.pid)], ["profile", str(t.pid)]):
            master, slave = pty.openpty()
            try:
                r = subprocess.run([HEAPGRAB, *argv], stdout=slave, stderr=subprocess.PIPE,
                                   timeout=60)
            finally:
                os.close(slave)
                os.close(master)
            expect_eq(r.returncode, 2, f"heapgrab {' '.join(argv)} to a terminal")
            err = r.stderr.decode(errors="replace")
            expect(err.startswith("heapgrab: ") and err.count("\n") == 1 and "terminal" in err,
                   f"heapgrab {' '.join(argv)} to a terminal: one line, got {err!r}")
            t.check_left_alone("a refused pprof")
        # and the same stats still match after all that
        check_snapshot(t, heapgrab_stats(t.pid), "after the refusals")
    finally:
        t.close()

    # a statically linked glibc program that never calls malloc itself
    # (glibc's start-up code does): its own figures, and left alone
    if os.access(STATIC_TARGET, os.X_OK):
        p = targets.Target(root_argv(STATIC_TARGET), ready="line")
        try:
            words = p.state.split()
            expect(len(words) == 4 and words[0] == "ready", f"gt_static started: {words}")
            hg = heapgrab_stats(p.pid)
            expect_eq([hg["mallinfo2"][k] for k in ("arena", "uordblks", "hblks")],
                      [int(x) for x in words[1:]], "static program: mallinfo2 vs its own")
            expect_eq(hg["problems"], [], "static program: problems")
            with open(f"/proc/{p.pid}/status") as f:
                expect("TracerPid:\t0\n" in f.read(), "static program traced after heapgrab")
            expect(p.alive(), "static program died")
        finally:
            p.close(gently=True)
    else:
        print("  (part skipped: gt_static not built, no static libc: the static program)")


def refused(argv, want_exit, words, what):
    """Start argv (it says "ready", then reads stdin to its end); heapgrab
    must exit want_exit with one line holding every word, and leave it
    running and untraced."""
    p = targets.Target(argv, ready="line")
    try:
        expect(p.state.startswith("ready"), f"{what} started")
        r = subprocess.run([HEAPGRAB, "stats", "--json", str(p.pid)], capture_output=True,
                           timeout=60)
        expect_eq(r.returncode, want_exit, f"{what}: exit ({r.stderr!r})")
        err = one_line_error(r, what)
        for w in words:
            expect(w in err, f"{what}: the message names {w!r}: {err!r}")
        with open(f"/proc/{p.pid}/status") as f:
            expect("TracerPid:\t0\n" in f.read(), f"{what} traced after heapgrab")
        expect(p.alive(), f"{what} died")
    finally:
        p.close(gently=True)


def elf_facts(path):
    """(statically linked, has a symbol table, has glibc malloc's error
    messages) of an ELF file, read here as ground truth."""
    with open(path, "rb") as f:
        data = f.read()
    phoff, shoff = int.from_bytes(data[32:40], "little"), int.from_bytes(data[40:48], "little")
    phentsize, phnum = int.from_bytes(data[54:56], "little"), int.from_bytes(data[56:58], "little")
    shentsize, shnum = int.from_bytes(data[58:60], "little"), int.from_bytes(data[60:62], "little")
    static = all(int.from_bytes(data[phoff + i * phentsize:phoff + i * phentsize + 4], "little")
                 != 3 for i in range(phnum))                       # no PT_INTERP
    symtab = any(int.from_bytes(data[shoff + i * shentsize + 4:shoff + i * shentsize + 8],
                                "little") == 2 for i in range(shnum))  # SHT_SYMTAB
    glibc_malloc = b"free(): invalid pointer" in data and b"corrupted size vs. prev_size" in data
    return static, symtab, glibc_malloc


def test_other_programs():
    """Programs heapgrab cannot read, each with its exit code and one line
    that says what it is: a static musl program (exit 5, musl named; stripped,
    exit 5 all the same), a static Go program (exit 5, Go named; stripped
    too), a stripped static glibc program -- busybox here -- (exit 6: glibc's
    malloc is in it, its symbols are not).  A case whose compiler or program
    is missing is skipped with the reason."""
    tmp = f"/tmp/heapgrab-others-{os.getpid()}"
    os.makedirs(tmp, exist_ok=True)
    try:
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "targets")
        musl = shutil.which("musl-gcc")
        if musl:
            exe = os.path.join(tmp, "musl_static")
            subprocess.run([musl, "-static", "-O1", "-o", exe, os.path.join(src, "gt_static.c")],
                           check=True)
            subprocess.run(["strip", "-o", exe + "_stripped", exe], check=True)
            refused([exe], 5, ["musl", exe], "static musl program")
            refused([exe + "_stripped"], 5, ["does not use glibc malloc", "stripped"],
                    "stripped static musl program")
        else:
            print("  (part skipped: musl-gcc missing, apt-get install musl-tools: musl cases)")
        go = shutil.which("go")
        if go:
            exe = os.path.join(tmp, "go_static")
            env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="", GO111MODULE="auto")
            if "HOME" not in env and "GOCACHE" not in env:
                env["GOCACHE"] = os.path.join(tmp, "gocache")
            for name, flags in ((exe, []), (exe + "_stripped", ["-ldflags=-s -w"])):
                subprocess.run([go, "build", *flags, "-o", name, os.path.join(src, "gt_go.go")],
                               check=True, env=env, cwd=tmp, capture_output=True, timeout=240)
                expect(elf_facts(name)[0], f"{name} is statically linked")
            refused([exe], 5, ["Go program"], "static Go program")
            refused([exe + "_stripped"], 5, ["Go program"], "stripped static Go program")
        else:
            print("  (part skipped: go missing: Go cases)")
        busybox = shutil.which("busybox")
        facts = elf_facts(busybox) if busybox else None
        if facts == (True, False, True):
            refused([busybox, "sh", "-c", f"echo ready; exec {busybox} cat >/dev/null"], 6,
                    ["glibc's malloc", "stripped"],
                    "busybox (static glibc, stripped)")
        else:
            why = "missing" if not busybox else "not a stripped static glibc program"
            print(f"  (part skipped: busybox {why}: apt-get install busybox-static)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def untraced_and_running(pid, after):
    """Every thread of pid: no tracer, not stopped."""
    targets.untraced_and_running(pid, after, allow_gone_threads=False)


def bad_argument_catalogue(pid, tmp):
    """(argv, exit status) of every way to call heapgrab wrongly.  PID is a
    live gt_target; tmp a scratch directory holding a FIFO, a text file and
    a directory."""
    P = str(pid)
    cases = []
    bad_reals = ["nan", "NaN", "inf", "-inf", "1e300", "-1", "", "abc", "1x", " 1", "1e-400",
                 "0x", "86401"]
    bad_wholes = ["nan", "inf", "1e300", "-1", "0", "", "abc", "1.5", "2x", " 2", "+2",
                  "99999999999", "99999999999999999999999"]
    for v in bad_reals:
        cases.append((["--interval", v, "--count", "2", "-o", f"{tmp}/x%d", P], 2))
        cases.append((["profile", "--seconds", v, P, "-o", f"{tmp}/x"], 2))
    cases.append((["profile", "--seconds", "0", P, "-o", f"{tmp}/x"], 2))
    for v in bad_wholes + ["1000001"]:
        cases.append((["--count", v, "-o", f"{tmp}/x%d", P], 2))
    for v in bad_wholes + ["10001"]:
        cases.append((["profile", "--hz", v, P, "-o", f"{tmp}/x"], 2))
    for v in ("", "sideways", "SYMBOLS"):
        cases.append((["stats", "--locate", v, P], 2))
    cases += [
        # empty values, unknown options, missing values
        ([P, "-o", ""], 2), (["stats", "--sysroot", "", f"{tmp}/text"], 2),
        (["stats", "--exe", "", f"{tmp}/text"], 2),
        (["--bogus", P], 2), (["--bogus=1", P], 2), (["-x", P], 2), (["-5"], 2), (["-5", P], 2),
        (["stats", "--json=1", P], 2), (["--help=1"], 2), (["--s", P], 2),
        ([P, "-o"], 2), ([P, "--output"], 2), ([P, "--interval"], 2), ([P, "--count"], 2),
        (["profile", P, "--seconds"], 2), (["profile", P, "--hz"], 2), (["stats", P, "--locate"], 2),
        (["stats", f"{tmp}/text", "--sysroot"], 2), (["stats", f"{tmp}/text", "--exe"], 2),
        # options the command does not take
        (["stats", "-o", f"{tmp}/x", P], 2), (["stats", "--count", "2", P], 2),
        (["stats", "--interval", "1", P], 2), (["stats", "--seconds", "1", P], 2),
        (["stats", "--hz", "5", P], 2), (["--json", P, "-o", f"{tmp}/x"], 2),
        (["snapshot", "--json", P, "-o", f"{tmp}/x"], 2), (["stacks", "--json", P], 2),
        (["stacks", "--locate", "auto", P], 2), (["stacks", "--count", "2", P], 2),
        (["stacks", "--seconds", "1", P], 2), (["profile", "--json", P, "-o", f"{tmp}/x"], 2),
        (["profile", "--count", "2", P, "-o", f"{tmp}/x"], 2),
        (["profile", "--locate", "auto", P, "-o", f"{tmp}/x"], 2),
        (["stacks", "--interval", "1", P], 2), (["stacks", "--hz", "5", P], 2),
        (["profile", "--interval", "1", P, "-o", f"{tmp}/x"], 2),
        (["profile", "--sysroot", "/", P, "-o", f"{tmp}/x"], 2),
        (["stacks", "--json", "--locate", "heuristic", "--interval", "5", P], 2),
        (["--seconds", "1", P, "-o", f"{tmp}/x"], 2), (["--hz", "5", P, "-o", f"{tmp}/x"], 2),
        (["stats", "--sysroot", "/", P], 2), (["stats", "--exe", "/bin/ls", P], 2),
        (["--count", "2", "-o", f"{tmp}/x", P], 2), (["--count", "2", "-o", f"{tmp}/x%%d", P], 2),
        (["--count", "2", P], 2),
        (["--count", "2", "-o", f"{tmp}/x%d", f"{tmp}/text"], 2),
        (["--interval", "1", "-o", f"{tmp}/x", f"{tmp}/text"], 2),
        (["profile", f"{tmp}/text", "-o", f"{tmp}/x"], 2),
        # targets that are none
        (["stats"], 2), ([], 2), (["stats", P, P], 2), (["frobnicate", P], 2),
        (["stats", "notapid"], 2), (["stats", "0"], 2), (["stats", "--", "-5"], 2),
        (["stats", "12ab"], 2), (["stats", tmp], 2), (["stats", f"{tmp}/fifo"], 2),
        (["stats", "/dev/null"], 2), ([f"{tmp}/fifo", "-o", f"{tmp}/x"], 2),
        (["stacks", f"{tmp}/fifo"], 2), (["stats", f"{tmp}/nonexistent"], 2),
        (["stats", f"{tmp}/text"], 2), (["stats", f"{tmp}/short"], 2), (["stats", "/bin/ls"], 2),
        (["stats", f"{tmp}/bad\nname"], 2),
        # no such process
        (["stats", "99999999999999999999"], 3),
        # output files that cannot be written: refused before the target
        # is touched
        ([P, "-o", tmp], 1), ([P, "-o", f"{tmp}/nonexistent/x"], 1),
        ([P, "-o", f"{tmp}/{'a' * 5000}"], 1), ([P, "-o", f"{tmp}/no\nsuch/x"], 1),
        (["stacks", P, "-o", tmp], 1), (["profile", P, "-o", tmp], 1),
    ]
    return cases


CALL_TIMEOUT = 60


def test_bad_arguments():
    """Every bad argument: its exact exit status, one line on stderr and
    nothing on stdout; the live target left running and untraced, and no
    output file left behind."""
    tmp = f"/tmp/hg-badargs-{os.getpid()}"
    os.makedirs(tmp)
    os.mkfifo(f"{tmp}/fifo")
    with open(f"{tmp}/text", "w") as f:
        f.write("not a core file, but long enough to have an ELF header's worth of bytes\n" * 3)
    with open(f"{tmp}/short", "w") as f:
        f.write("short\n")
    t = GroundTruth()
    try:
        t.send("alloc 100 64")
        cases = bad_argument_catalogue(t.pid, tmp)
        problems = []
        for argv, want in cases:
            what = "heapgrab " + " ".join(repr(a) if not a or " " in a or "\n" in a else a[:60]
                                          for a in argv)
            try:
                r = subprocess.run([HEAPGRAB] + argv, capture_output=True, timeout=CALL_TIMEOUT,
                                   stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                problems.append(f"{what}: still running after {CALL_TIMEOUT} s")
                continue
            err = r.stderr.decode(errors="replace")
            if r.returncode != want:
                problems.append(f"{what}: exit {r.returncode}, want {want} ({err.strip()[:200]})")
            elif not (err.startswith("heapgrab: ") and err.count("\n") == 1
                      and err.endswith("\n")):
                problems.append(f"{what}: stderr must be one line, got {err[:300]!r}")
            elif r.stdout:
                problems.append(f"{what}: stdout {r.stdout[:100]!r}")
            left = sorted(set(os.listdir(tmp)) - {"fifo", "text", "short"})
            if left:
                problems.append(f"{what}: left {left} behind")
                for name in left:
                    os.unlink(os.path.join(tmp, name))
            untraced_and_running(t.pid, what)
        expect(not problems, f"{len(problems)} of {len(cases)} cases wrong:\n  " +
               "\n  ".join(problems))
        print(f"  ({len(cases)} bad calls, each one line and its exit status)")
        # permission: a process nobody may trace (the target, root's)
        if os.geteuid() == 0 and shutil.which("setpriv"):
            nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", HEAPGRAB]
            for argv, want in ((["stats", str(t.pid)], 4), (["stats", "1"], 4),
                               # an output it may not write: refused first
                               ([str(t.pid), "-o", "/root/heapgrab-denied.pprof"], 1)):
                r = subprocess.run(nobody + argv, capture_output=True, timeout=60)
                expect_eq(r.returncode, want, f"as nobody: heapgrab {' '.join(argv)} "
                          f"({r.stderr.decode().strip()})")
                one_line_error(r, f"as nobody: heapgrab {' '.join(argv)}")
            untraced_and_running(t.pid, "heapgrab as nobody")
        t.check_left_alone("the bad arguments")
        check_snapshot(t, heapgrab_stats(t.pid), "after the bad arguments")
    finally:
        t.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_hostile_output_names():
    """-o is never a printf format: %d is the snapshot number, %% a '%',
    every other % kept; names with a newline or a '%n' are written as
    given."""
    t = GroundTruth()
    d = f"/tmp/hg-names-{os.getpid()}"
    os.makedirs(d)
    try:
        t.send("alloc 10 64")
        for pattern, count, want in (
                ("x%d%s%s", 1, ["x0%s%s"]), ("x%d%n", 1, ["x0%n"]), ("y%%d%x%", 1, ["y%d%x%"]),
                ("%%%d%%", 2, ["%0%", "%1%"]), ("new\nline.%d", 2, ["new\nline.0", "new\nline.1"]),
                ("%s%s%s%s%s%s%s%s%d", 1, ["%s%s%s%s%s%s%s%s0"]), ("plain", 1, ["plain"])):
            r = subprocess.run([HEAPGRAB, str(t.pid), "-o", os.path.join(d, pattern), "--count",
                                str(count), "--interval", "0"], capture_output=True, timeout=120)
            expect_eq(r.returncode, 0, f"-o {pattern!r} ({r.stderr.decode(errors='replace')})")
            expect_eq(r.stderr.decode().count("target stopped"), count,
                      f"-o {pattern!r}: one summary line per snapshot")
            expect_eq(sorted(os.listdir(d)), sorted(want), f"-o {pattern!r}: files written")
            for name in want:
                with open(os.path.join(d, name), "rb") as f:
                    expect_eq(f.read(2), b"\x1f\x8b", f"-o {pattern!r}: {name!r} is a profile")
                os.unlink(os.path.join(d, name))
        t.check_left_alone("the hostile names")
    finally:
        t.close()
        shutil.rmtree(d, ignore_errors=True)


def catches(pid, sig):
    """Whether process pid has a handler for sig (its SigCgt mask): a
    signal sent before heapgrab installs its handlers kills it silently."""
    try:
        with open(f"/proc/{pid}/status") as f:
            mask = int([l for l in f if l.startswith("SigCgt:")][0].split()[1], 16)
    except (FileNotFoundError, IndexError):
        return False
    return bool(mask >> (int(sig) - 1) & 1)


def wait_for_handler(p, sig):
    """Wait until heapgrab (p) catches sig, or has exited."""
    while p.poll() is None and not catches(p.pid, sig):
        time.sleep(0.001)


def test_signals_on_big_heap():
    """SIGTERM / SIGINT at several instants of a long walk: the target is
    left running, untraced, with its heap as it was."""
    t = GroundTruth()
    try:
        t.send("alloc 1200000 48")
        t.send("free_step 0 200000 3")
        t.send("thread_alloc 0 40000 200")
        hg = heapgrab_stats(t.pid)
        check_snapshot(t, hg, "big heap")
        full = hg["timing"]["total_ns"] / 1e9
        interrupted = 0
        for n, sig in enumerate((15, 2, 15, 2, 15)):
            delay = full * (n + 1) / 6
            p = subprocess.Popen([HEAPGRAB, "stats", "--json", str(t.pid)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            wait_for_handler(p, sig)
            time.sleep(delay)
            p.send_signal(sig)
            _, err = p.communicate(timeout=60)
            expect(p.returncode in (0, -sig),
                   f"signal {sig} after {delay:.3f}s: exit {p.returncode} {err!r}")
            if p.returncode != 0:
                interrupted += 1
                name = {2: "SIGINT", 15: "SIGTERM"}[sig]
                expect_eq(err.decode(), f"heapgrab: interrupted by {name}: process {t.pid} was "
                          "left running\n", f"signal {sig} after {delay:.3f}s: stderr")
            t.check_left_alone(f"signal {sig} after {delay:.3f}s")
        print(f"  ({interrupted} of 5 runs interrupted; a whole run takes {full:.3f}s)")
        expect(interrupted > 0, "no run was interrupted: the signals came too late")
        check_snapshot(t, heapgrab_stats(t.pid), "big heap after the signals")
    finally:
        t.close()


GROUPS = {
    "invariants": [test_mixed_heap_invariants, test_exact_fastbin_and_tcache_per_arena,
                   test_mmapped_exact],
    "arenas": [test_arena_count_grows, test_thread_arena_with_several_heaps],
    "pprof_labels": [test_pprof_by_arena_and_state],
    "exits": [test_exit_codes, test_other_programs, test_bad_arguments,
              test_hostile_output_names, test_signals_on_big_heap],
    "fork": [test_forked_child],
}


def main():
    missing = [what for what, path in (("HEAPGRAB", HEAPGRAB), ("HG_TARGET_DIR/gt_target", TARGET))
               if not path or not os.access(path, os.X_OK)]
    if missing or not TARGET_DIR:
        print(f"test_invariants: not runnable: {', '.join(missing) or 'HG_TARGET_DIR'} missing "
              f"(HEAPGRAB={HEAPGRAB!r}, HG_TARGET_DIR={TARGET_DIR!r}); "
              "build heapgrab and gt_target, then run through ctest")
        return 1
    groups = sys.argv[1:] or list(GROUPS)
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        print(f"test_invariants: unknown group(s) {bad}; groups: {' '.join(GROUPS)}")
        return 2
    return run_tests("test_invariants", [test for g in groups for test in GROUPS[g]])


if __name__ == "__main__":
    sys.exit(main())
