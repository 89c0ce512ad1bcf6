#!/usr/bin/env python3
"""Live ground-truth tests: heapgrab against gt_target, which reports its own
mallinfo2() and exactly what it holds.

Usage: test_live.py [GROUP...]   (groups: figures threads mmapped pprof
                                  nodebug reader core safety kills errors
                                  static; default: all)
Environment: HEAPGRAB (the binary), HG_TARGET_DIR (where gt_target is).
"""
import gzip
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (FILL, HOST_GLIBC, HOST_GLIBC_TEXT, Failure, Skip, check, equal,  # noqa: E402
                     chunk_for as chunk_of, run as run_tests, threshold_cases)
import targets  # noqa: E402

HEAPGRAB = os.environ.get("HEAPGRAB", "")
SELF_PATH = os.path.abspath(__file__)
TARGET = os.path.join(os.environ.get("HG_TARGET_DIR", ""), "gt_target")
MI_FIELDS = ["arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
             "fsmblks", "uordblks", "fordblks", "keepcost"]


class Target(targets.Target):
    """gt_target under our control; optionally inside a private mount
    namespace whose /usr/lib/debug is an empty tmpfs."""

    def __init__(self, hide_debug=False, tunables=None, path=None, cwd=None, cores=False):
        argv = [path or TARGET]
        if hide_debug:
            argv = ["unshare", "-m", "sh", "-c",
                    "mount -t tmpfs none /usr/lib/debug && exec " + argv[0]]
        super().__init__(argv, cwd=cwd, cores=cores,
                         env={"GLIBC_TUNABLES": tunables} if tunables else None)

    def alive_and_free(self):
        """The target answers and nobody traces it."""
        self.cmd("report")
        self.left_alone()

    def close(self):
        super().close(gently=True)


def run(args, **kw):
    return subprocess.run([HEAPGRAB] + args, capture_output=True, **kw)


def stats(pid, *extra, prefix=()):
    r = subprocess.run(list(prefix) + [HEAPGRAB, "stats", "--json", *extra, str(pid)],
                       capture_output=True)
    if r.returncode != 0:
        raise Failure(f"heapgrab stats exited {r.returncode}: {r.stderr.decode().strip()}")
    return json.loads(r.stdout)


def same_mallinfo(t, hg):
    for f in MI_FIELDS:
        equal(hg["mallinfo2"][f], t.state["mallinfo2"][f], f"mallinfo2.{f}")
    equal(hg["totals"]["sys_bytes"], hg["mallinfo2"]["arena"] + hg["mallinfo2"]["hblkhd"],
          "sys_bytes = arena + hblkhd")
    equal(hg["totals"]["fastbin_objects"], hg["mallinfo2"]["smblks"], "fastbin_objects = smblks")
    equal(hg["totals"]["fastbin_bytes"], hg["mallinfo2"]["fsmblks"], "fastbin_bytes = fsmblks")
    equal(hg["totals"]["mmapped_objects"], hg["mallinfo2"]["hblks"], "mmapped_objects = hblks")
    equal(hg["totals"]["mmapped_bytes"], hg["mallinfo2"]["hblkhd"], "mmapped_bytes = hblkhd")
    equal(hg["problems_total"], 0, f"problems ({hg['problems'][:1]})")


def delta(a, b, key):
    return b["totals"][key] - a["totals"][key]


def arena_delta(a, b, index, key):
    return b["arenas"][index][key] - a["arenas"][index][key]


# ------------------------------------------------------------------ groups

def test_baseline_symbols_and_heuristic():
    t = Target()
    try:
        hs = stats(t.pid)
        same_mallinfo(t, hs)
        equal(hs["locate"], "symbols", "locate with debug symbols")
        equal(hs["glibc"], HOST_GLIBC_TEXT, "glibc version")
        hh = stats(t.pid, "--locate", "heuristic")
        equal(hh["locate"], "heuristic", "forced heuristic")
        same_mallinfo(t, hh)
        equal(hh["totals"], hs["totals"], "totals, heuristic vs symbols")
        # before any malloc no thread has a tcache: the arena each thread
        # uses must still be the same without symbols
        equal(sorted((x["tid"], x["arena"]) for x in hh["threads"]),
              sorted((x["tid"], x["arena"]) for x in hs["threads"]),
              "threads' arenas, heuristic vs symbols")
        t.alive_and_free()
    finally:
        t.close()


def test_alloc_tcache_fastbin():
    t = Target()
    try:
        req = 72                      # chunk 0x50: tcache bin 3, fastbin 3
        c = chunk_of(req)
        before = stats(t.pid)
        s = t.cmd(f"alloc 1000 {req}")
        after = stats(t.pid)
        same_mallinfo(t, after)
        equal(delta(before, after, "inuse_objects"), 1000, "inuse_objects after alloc 1000")
        equal(delta(before, after, "inuse_bytes"), s["main"]["usable"], "inuse_bytes after alloc")
        equal(s["main"]["usable"], 1000 * (c - 8), "usable bytes per block")
        t.cmd(f"free {FILL}")          # fills the bin: glibc's count, by version
        tc = stats(t.pid)
        same_mallinfo(t, tc)
        equal(delta(after, tc, "tcache_objects"), FILL, f"tcache_objects after free {FILL}")
        equal(delta(after, tc, "tcache_bytes"), FILL * c, f"tcache_bytes after free {FILL}")
        equal(delta(after, tc, "inuse_objects"), -FILL, f"inuse_objects after free {FILL}")
        equal(delta(after, tc, "inuse_bytes"), -FILL * (c - 8), f"inuse_bytes after free {FILL}")
        main_tid = [x for x in tc["threads"] if x["tid"] == t.pid][0]
        main_before = [x for x in after["threads"] if x["tid"] == t.pid][0]
        equal(main_tid["tcache_objects"] - main_before["tcache_objects"], FILL,
              f"main thread's tcache after free {FILL}")
        t.cmd("free 50")
        fb = stats(t.pid)
        same_mallinfo(t, fb)
        equal(delta(tc, fb, "fastbin_objects"), 50, "fastbin_objects after free 50")
        equal(delta(tc, fb, "fastbin_bytes"), 50 * c, "fastbin_bytes after free 50")
        equal(delta(tc, fb, "tcache_objects"), 0, "tcache full: no change")
        equal(delta(tc, fb, "inuse_objects"), -50, "inuse_objects after free 50")
        t.alive_and_free()
    finally:
        t.close()


def test_bins():
    t = Target()
    try:
        req = 600                     # chunk 608: tcache-sized, not fastbin
        c = chunk_of(req)
        t.cmd(f"alloc 200 {req}")
        before = stats(t.pid)
        t.cmd("free_step 0 100 2")     # every other one: no coalescing
        after = stats(t.pid)
        same_mallinfo(t, after)
        equal(delta(before, after, "tcache_objects"), FILL, f"tcache takes the first {FILL}")
        equal(delta(before, after, "free_objects"), 100 - FILL,
              f"the other {100 - FILL} go to a bin")
        equal(delta(before, after, "free_bytes"), (100 - FILL) * c, "free_bytes")
        equal(delta(before, after, "inuse_objects"), -100, "inuse_objects")
        equal(delta(before, after, "inuse_bytes"), -100 * (c - 8), "inuse_bytes")
        t.alive_and_free()
    finally:
        t.close()


def test_large_bin_nextsize():
    """Three free chunks in one large bin: counted, and no problem; then the
    target writes garbage over the largest one's fd_nextsize (the bin's
    second list) and heapgrab must say so, at that chunk, while the figures
    stay right."""
    t = Target()
    try:
        t.cmd("alloc 100 64")
        before = stats(t.pid)
        s = t.cmd("large_bin")
        after = stats(t.pid)
        same_mallinfo(t, after)
        equal(delta(before, after, "free_objects"), 3, "free chunks after large_bin")
        equal(delta(before, after, "free_bytes"), 2016 + 2032 + 2016, "their bytes")
        largest = s["large"][1]
        garbage = 0x4141414141414140
        t.cmd(f"poke_nextsize 1 {garbage}")
        hg = stats(t.pid)
        for f in MI_FIELDS:
            equal(hg["mallinfo2"][f], t.state["mallinfo2"][f], f"corrupt fd_nextsize: mallinfo2.{f}")
        hits = [p for p in hg["problems"] if int(p["address"], 16) == largest and
                "fd_nextsize" in p["what"] and f"{garbage:#x}" in p["what"]]
        check(len(hits) == 1 and hg["problems_total"] == 1,
              f"the bad fd_nextsize of chunk {largest:#x} reported once, alone: {hg['problems']}")
        t.alive_and_free()
    finally:
        t.close()


def test_threads_and_arenas():
    t = Target()
    try:
        req = 200
        c = chunk_of(req)
        for w in range(3):
            t.cmd(f"thread_alloc {w} 10 16")   # create workers and their arenas
        before = stats(t.pid)
        same_mallinfo(t, before)
        equal(len(before["arenas"]), 4, "main arena + one per worker")
        for w in range(3):
            t.cmd(f"thread_alloc {w} 500 {req}")
        after = stats(t.pid)
        same_mallinfo(t, after)
        equal(delta(before, after, "inuse_objects"), 1500, "inuse_objects after 3 x 500")
        workers = {x["tid"]: x for x in t.state["workers"]}
        threads = {x["tid"]: x for x in after["threads"]}
        for tid in workers:
            check(tid in threads, f"worker {tid} among heapgrab's threads")
            ai = threads[tid]["arena"]
            check(ai is not None and ai > 0, f"worker {tid} in a thread arena (got {ai})")
            equal(arena_delta(before, after, ai, "inuse_objects"), 500,
                  f"arena {ai} inuse_objects")
            equal(arena_delta(before, after, ai, "inuse_bytes"), 500 * (c - 8),
                  f"arena {ai} inuse_bytes")
        equal(len(set(threads[tid]["arena"] for tid in workers)), 3, "three distinct arenas")
        t.cmd(f"thread_free 1 {FILL}")
        freed = stats(t.pid)
        same_mallinfo(t, freed)
        tid1 = [x["tid"] for x in t.state["workers"] if x["index"] == 1][0]
        th_b = {x["tid"]: x for x in after["threads"]}[tid1]
        th_a = {x["tid"]: x for x in freed["threads"]}[tid1]
        equal(th_a["tcache_objects"] - th_b["tcache_objects"], FILL, "worker 1 tcache objects")
        equal(th_a["tcache_bytes"] - th_b["tcache_bytes"], FILL * c, "worker 1 tcache bytes")
        ai = th_a["arena"]
        equal(arena_delta(after, freed, ai, "tcache_objects"), FILL, f"arena {ai} tcache_objects")
        t.alive_and_free()
    finally:
        t.close()


def test_mmapped():
    t = Target()
    try:
        before = stats(t.pid)
        s = t.cmd("big 3 2097152")
        after = stats(t.pid)
        same_mallinfo(t, after)
        equal(after["totals"]["mmapped_objects"], 3, "mmapped_objects")
        equal(after["totals"]["mmapped_bytes"], s["big"]["chunk"], "mmapped_bytes vs target")
        equal(delta(before, after, "inuse_objects"), 3, "inuse_objects + 3")
        equal(delta(before, after, "inuse_bytes"), s["big"]["usable"], "inuse_bytes + usable")
        s1 = t.cmd("free_big 1")
        after2 = stats(t.pid)
        same_mallinfo(t, after2)
        equal(after2["totals"]["mmapped_objects"], 2, "mmapped_objects after free")
        # posix_memalign moves the chunk into its mapping and leaves the
        # old header at the start: the chunk's real size must be found
        s2 = t.cmd("big_align 2 1024 4194304")  # above the threshold free_big raised
        after3 = stats(t.pid)
        same_mallinfo(t, after3)
        equal(delta(after2, after3, "inuse_objects"), 2, "inuse_objects + 2 memaligned")
        equal(delta(after2, after3, "inuse_bytes"), s2["big"]["usable"] - s1["big"]["usable"],
              "inuse_bytes + the memaligned chunks' usable bytes")
        t.alive_and_free()
    finally:
        t.close()


def test_released():
    """A freed 120 KB chunk whose pages malloc_trim gave back: heapgrab's
    released_bytes grows by exactly what mincore says the target lost."""
    t = Target()
    try:
        t.cmd("alloc 100 64")
        t.cmd("trim")                  # top already trimmed: only the hole changes
        before = stats(t.pid)
        s = t.cmd("hole 120000")       # below the mmap threshold: a heap chunk
        after = stats(t.pid)
        same_mallinfo(t, after)
        check(s["hole"]["released"] > 100000, f"malloc_trim released the hole ({s['hole']})")
        equal(delta(before, after, "free_bytes"), s["hole"]["chunk"], "the hole is in a bin")
        check(after["totals"]["top_bytes"] < 8192, "top trimmed to under two pages")
        equal(delta(before, after, "released_bytes"), s["hole"]["released"],
              "released_bytes grows by the hole's non-resident pages")
        # heapgrab must not have paged anything in: the target still sees
        # the same pages gone, and a second snapshot the same figure
        equal(t.cmd("report")["hole"]["released"], s["hole"]["released"],
              "target's own mincore after heapgrab")
        equal(stats(t.pid)["totals"]["released_bytes"], after["totals"]["released_bytes"],
              "released_bytes on a second snapshot")
        t.alive_and_free()
    finally:
        t.close()


# --- pprof: a minimal protobuf reader, enough for sample types and values

def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return v, i


def fields(buf):
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            v = buf[i:i + n]
            i += n
        elif wt == 1:
            v = buf[i:i + 8]
            i += 8
        elif wt == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise Failure(f"bad wire type {wt}")
        yield num, wt, v


def packed(v, wt):
    if wt == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i)
        out.append(x)
    return out


def read_profile(path):
    with open(path, "rb") as f:
        raw = f.read()
    equal(raw[:2], b"\x1f\x8b", "pprof is gzipped")
    buf = gzip.decompress(raw)
    strings, types, sums = [], [], None
    samples = []
    for num, wt, v in fields(buf):
        if num == 6:
            strings.append(v.decode())
        elif num == 1:
            types.append({n: x for n, _, x in fields(v)})
        elif num == 2:
            vals = []
            for n, w2, x in fields(v):
                if n == 2:
                    vals += packed(x, w2)
            samples.append(vals)
    names = [strings[t.get(1, 0)] for t in types]
    sums = [sum(s[k] for s in samples) for k in range(len(names))]
    return dict(zip(names, sums))


def pprof_mappings(path):
    """(file name, build-id) of each mapping of a pprof profile; "" for none."""
    with open(path, "rb") as f:
        buf = gzip.decompress(f.read())
    strings, maps = [], []
    for num, _, v in fields(buf):
        if num == 6:
            strings.append(v.decode())
        elif num == 3:
            maps.append({n: x for n, _, x in fields(v)})
    return [(strings[m.get(5, 0)], strings[m.get(6, 0)]) for m in maps]


def file_build_id(path):
    """The GNU build-id among an ELF file's notes, as hex, or "" (read the
    way the ELF specification lays them out, independently of heapgrab)."""
    import struct
    with open(path, "rb") as f:
        elf = f.read()
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return ""
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz, _, p_align = struct.unpack_from(
            "<IIQQQQQQ", elf, phoff + i * phentsize)
        if p_type != 4:  # PT_NOTE
            continue
        pad = 8 if p_align == 8 else 4
        at, end = p_offset, p_offset + p_filesz
        while at + 12 <= end:
            namesz, descsz, n_type = struct.unpack_from("<III", elf, at)
            name = elf[at + 12:at + 12 + namesz]
            desc_at = at + 12 + (namesz + pad - 1) // pad * pad
            if n_type == 3 and name == b"GNU\0":  # NT_GNU_BUILD_ID
                return elf[desc_at:desc_at + descsz].hex()
            at = desc_at + (descsz + pad - 1) // pad * pad
    return ""


def check_build_ids(pprof, root, what):
    """Each executable mapping of a heap profile carries the build-id of its
    file (the target backends fill them; files under root)."""
    maps = pprof_mappings(pprof)
    have = 0
    for name, bid in maps:
        host = root + name
        if not name.startswith("/") or not os.path.isfile(host):
            continue
        equal(bid, file_build_id(host), f"{what}: build-id of {name}")
        have += bid != ""
    check(any(n.endswith("/gt_target") for n, _ in maps), f"{what}: the executable is mapped")
    check(have >= 2, f"{what}: build-ids of the executable and libc at least, got {maps}")


def test_pprof():
    t = Target()
    try:
        t.cmd("alloc 3000 48")
        t.cmd("free 20")
        t.cmd("big 1 1048576")
        t.cmd("thread_alloc 0 200 100")   # a thread heap: its headers are overhead
        t.cmd("thread_free 0 30")
        path = f"/tmp/heapgrab-test-{os.getpid()}.pprof"
        r = run([str(t.pid), "-o", path])
        equal(r.returncode, 0, f"heapgrab -o exit ({r.stderr.decode().strip()})")
        hg = stats(t.pid)
        sums = read_profile(path)
        equal(sorted(sums), sorted(["inuse_objects", "inuse_space", "free_objects", "free_space"]),
              "sample types")
        equal(sums["inuse_objects"], hg["totals"]["inuse_objects"], "sum inuse_objects")
        equal(sums["inuse_space"], hg["totals"]["inuse_bytes"], "sum inuse_space")
        tot = hg["totals"]
        equal(sums["free_space"], tot["free_bytes"] + tot["top_bytes"] + tot["tcache_bytes"] +
              tot["fastbin_bytes"] + tot["overhead_bytes"], "sum free_space = idle + overhead")
        check_build_ids(path, f"/proc/{t.pid}/root", "live")
        go = shutil.which("go")
        if go:
            g = subprocess.run([go, "tool", "pprof", "-raw", path], capture_output=True)
            equal(g.returncode, 0, f"go tool pprof -raw ({g.stderr.decode()[:200]})")
            check(b"inuse_space" in g.stdout, "go tool pprof shows inuse_space")
        else:
            print("  (part skipped: go not found: go tool pprof's reading)")
        os.unlink(path)
        t.alive_and_free()
    finally:
        t.close()


README = os.path.join(os.path.dirname(SELF_PATH), "..", "..", "README.md")
MANPAGE = os.path.join(os.path.dirname(SELF_PATH), "..", "..", "doc", "heapgrab.1")


def documented_pprof_commands():
    """Every `go tool pprof ... heap*.pprof` line of the README and the man
    page, as its arguments."""
    found = []
    for doc in (README, MANPAGE):
        with open(doc) as f:
            for line in f:
                m = re.match(r"^\s*go tool pprof (.*?)\s*(#.*)?$", line.replace("\\-", "-"))
                if m and re.search(r"\bheap[.\w]*\.pprof\b", m.group(1)):
                    found.append(m.group(1))
    return found


def accounted(out, what):
    """The 'Showing nodes accounting for X, P% of T total' of a -top."""
    m = re.search(r"Showing nodes accounting for ([^,]+), ([0-9.]+)% of (\S+) total", out)
    check(m, f"{what}: no 'accounting for' line: {out[:600]}")
    check(m.group(1) != "0" and float(m.group(2)) > 0,
          f"{what}: accounts for nothing: {out[:1500]}")
    return m


def flat_rows(out):
    """(flat, name) of each -top row."""
    return [(r.split()[0], r.split(None, 5)[5]) for r in out.splitlines()
            if re.match(r"^\s*[0-9.]+[kMG]?B?\s+[0-9.]+%", r) and len(r.split(None, 5)) == 6]


def test_documented_pprof_commands():
    """Each `go tool pprof` command the README and the man page give for a
    heap profile, run on a heap spread over a thousand sizes (none above
    0.5% of it), must show what its comment says, and a plain -top must
    rank in-use bytes by size class."""
    go = shutil.which("go")
    if not go:
        print("  (go not found: documented pprof commands not run)")
        return
    t = Target()
    d = f"/tmp/heapgrab-readme-{os.getpid()}"
    os.makedirs(d, exist_ok=True)
    env = dict(os.environ, PPROF_TMPDIR=d, PPROF_BINARY_PATH=os.path.join(d, "none"))
    try:
        for size in range(16, 16016, 16):
            t.cmd(f"alloc 1 {size}")
        t.cmd("alloc 20 40")
        t.cmd("free 5")                    # five 48-byte chunks in main's tcache
        files = {"heap.pprof": os.path.join(d, "heap.pprof")}
        r = run([str(t.pid), "-o", files["heap.pprof"]])
        equal(r.returncode, 0, f"heapgrab -o ({r.stderr.decode().strip()})")
        files["heap.0.pprof"] = files["heap.pprof"]
        t.cmd("alloc 2000 3000")           # the leak: 2000 chunks of 3008 bytes
        files["heap.4.pprof"] = os.path.join(d, "heap.4.pprof")
        r = run([str(t.pid), "-o", files["heap.4.pprof"]])
        equal(r.returncode, 0, f"heapgrab -o ({r.stderr.decode().strip()})")
        commands = documented_pprof_commands()
        check(len(commands) >= 5, f"documented pprof commands: {commands}")
        top_holder = None
        # -list first needs the holder to list: the top root of -top -cum
        commands.sort(key=lambda c: "-list" in c.split())
        for cmd in commands:
            args = cmd.split()
            argv = [files.get(a, a) for a in args]
            if "-list" in args:
                # the README lists its own example's global; here the
                # target's top holder is listed instead
                check(top_holder, f"{cmd}: no holder found by -top -cum to list")
                argv[args.index("-list") + 1] = "^" + re.escape(top_holder) + "$"
                g = subprocess.run([go, "tool", "pprof", *argv], capture_output=True, env=env,
                                   stdin=subprocess.DEVNULL, timeout=300)
                out = g.stdout.decode(errors="replace")
                equal(g.returncode, 0, f"go tool pprof {cmd}: {g.stderr.decode()[:300]}")
                check(re.search(r"ROUTINE =+ " + re.escape(top_holder) + r" in \S*gt_target\.c", out),
                      f"{cmd}: no source listing of {top_holder}: {out[:800]}")
                continue
            if any(a.startswith("-http") for a in argv):
                # a web server: the same view as text instead
                argv = ["-top" if a.startswith("-http") else a for a in argv]
            g = subprocess.run([go, "tool", "pprof", *argv], capture_output=True, env=env,
                               stdin=subprocess.DEVNULL, timeout=300)
            out = g.stdout.decode(errors="replace")
            equal(g.returncode, 0, f"go tool pprof {cmd}: {g.stderr.decode()[:300]}")
            check(out.strip(), f"go tool pprof {cmd}: printed nothing")
            if "-tags" in args:
                for label in ("state:", "arena:", "bytes:"):
                    check(label in out, f"{cmd}: no {label} label: {out[:600]}")
                continue
            accounted(out, cmd)
            rows = flat_rows(out)
            if "-cum" in args:
                # ranked by what they hold: a holder first (a global of the
                # target), holding nothing itself, a size class below it
                check(rows and not rows[0][1].startswith("size ") and rows[0][0] in ("0", "0B"),
                      f"{cmd}: the first row is not a holder: {out[:1500]}")
                check(any(r[1].startswith("size ") for r in rows),
                      f"{cmd}: no size class below the holders: {out[:1500]}")
                if "-base" in args:
                    check(any(r[1] == "size 2-3 KiB" for r in rows), f"{cmd}: what grew: {out[:1500]}")
                else:
                    top_holder = rows[0][1]
                continue
            check(rows and rows[0][1].startswith("size "),
                  f"{cmd}: the first row is not a size class: {out[:1500]}")
            free = "-sample_index=free_space" in args
            equal(re.search(r"^Type: (\S+)", out, re.M).group(1),
                  "free_space" if free else "inuse_space", f"{cmd}: sample type")
            if "-base" in args:
                equal(rows[0][1], "size 2-3 KiB", f"{cmd}: what grew")
            elif "state=tcache" in cmd:
                check(" state tcache" in out and not re.search(r" state (bin|top|fastbin)$", out,
                                                                re.M),
                      f"{cmd}: tcache only: {out[:1500]}")
                equal(rows[0][1], "size 48", f"{cmd}: the tcache's chunks")
            elif free:
                check(" state top" in out, f"{cmd}: top is idle: {out[:1500]}")
            else:
                # the largest class: the thousand blocks are 16 to 16000 bytes
                equal(rows[0][1], "size 12-16 KiB", f"{cmd}: the largest size class")
        t.alive_and_free()
    finally:
        t.close()
        shutil.rmtree(d, ignore_errors=True)


def test_no_debug_info():
    """Target and heapgrab both in a namespace where /usr/lib/debug is
    empty: heuristics must give exactly the figures symbols give."""
    if not shutil.which("unshare") or not shutil.which("nsenter"):
        raise Failure("unshare/nsenter (util-linux) missing")
    t = Target(hide_debug=True)
    try:
        t.cmd("alloc 500 100")
        t.cmd("free 30")
        t.cmd("thread_alloc 0 300 64")
        t.cmd("thread_free 0 20")
        inside = stats(t.pid, prefix=["nsenter", "-t", str(t.pid), "-m"])
        equal(inside["locate"], "heuristic", "locate without debug information")
        same_mallinfo(t, inside)
        r = subprocess.run(["nsenter", "-t", str(t.pid), "-m", HEAPGRAB, "stats", "--locate",
                            "symbols", str(t.pid)], capture_output=True)
        equal(r.returncode, 7, "--locate symbols without symbols: exit 7")
        check(b"libc6-dbg" in r.stderr, "the error says how to get symbols")
        outside = stats(t.pid)               # host view: debug files visible
        equal(outside["locate"], "symbols", "locate from the host namespace")
        for key in ("mallinfo2", "totals"):
            equal(inside[key], outside[key], f"{key}: heuristic vs symbols")
        equal([(a["address"], a["inuse_objects"], a["tcache_objects"]) for a in inside["arenas"]],
              [(a["address"], a["inuse_objects"], a["tcache_objects"]) for a in outside["arenas"]],
              "arenas: heuristic vs symbols")
        equal(sorted((x["tid"], x["tcache_objects"]) for x in inside["threads"]),
              sorted((x["tid"], x["tcache_objects"]) for x in outside["threads"]),
              "threads: heuristic vs symbols")
        t.alive_and_free()
    finally:
        t.close()


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


def test_signals_leave_target_running():
    """SIGTERM, SIGINT and SIGHUP to heapgrab mid-walk: heapgrab lets the
    target go, says so in one line, removes the profile it had begun, and
    dies of the signal (the shell's 128+N), as documented; or, if the
    signal came after the walk, finishes normally.  Never half a profile."""
    t = Target()
    out = f"/tmp/heapgrab-signals-{os.getpid()}.pprof"
    try:
        t.cmd("alloc 1500000 64")
        t.cmd("thread_alloc 0 30000 100")
        killed = 0
        for sig, delay in ((signal.SIGTERM, 0.05), (signal.SIGINT, 0.1), (signal.SIGHUP, 0.15),
                           (signal.SIGTERM, 0.2), (signal.SIGINT, 0.01), (signal.SIGHUP, 0.02)):
            for argv in (["stats", str(t.pid)], [str(t.pid), "-o", out]):
                p = subprocess.Popen([HEAPGRAB, *argv], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
                wait_for_handler(p, sig)
                time.sleep(delay)
                p.send_signal(sig)
                _, err = p.communicate(timeout=60)
                err = err.decode()
                what = f"heapgrab {' '.join(argv)} after {sig.name} at {delay} s"
                check(p.returncode in (0, -sig), f"{what}: exit {p.returncode} ({err!r})")
                if p.returncode == -sig:
                    killed += 1
                    equal(err, f"heapgrab: interrupted by {sig.name}: process {t.pid} was left "
                          "running\n", f"{what}: stderr")
                if os.path.exists(out):
                    # never half a profile: whole (the signal came after it
                    # was written), or removed
                    try:
                        whole = read_profile(out)["inuse_objects"] > 1500000
                    except Exception:  # noqa: BLE001 - a cut gzip stream, say
                        whole = False
                    check(whole, f"{what}: an unfinished profile was left")
                    os.unlink(out)
                elif p.returncode == 0 and argv[0] != "stats":
                    raise Failure(f"{what}: exit 0 and no profile")
                t.alive_and_free()
        check(killed > 0, "no run was interrupted: the signals came too late")
        same_mallinfo(t, stats(t.pid))
    finally:
        t.close()
        if os.path.exists(out):
            os.unlink(out)


KILL_SCRIPT = os.path.join(os.path.dirname(SELF_PATH), "..", "..", "scripts",
                           "kill-heapgrab.py")


def test_sigkill_at_random_points():
    """SIGKILL to heapgrab at random instants of stats, snapshot, stacks and
    profile runs, many of them while it holds the target: the target must
    be running and untraced after every one (scripts/kill-heapgrab.py;
    HG_KILLS sets the number, 80 by default)."""
    r = subprocess.run([sys.executable, KILL_SCRIPT, "--kills", os.environ.get("HG_KILLS", "80"),
                        "--heapgrab", HEAPGRAB, "--target", TARGET],
                       capture_output=True, timeout=1200)
    out = r.stdout.decode(errors="replace")
    print("  " + out.strip().replace("\n", "\n  "))
    equal(r.returncode, 0, f"kill-heapgrab.py ({r.stderr.decode(errors='replace')[-600:]})")
    held = sum(int(n) for n in re.findall(r"(\d+) holding", out))
    check(held > 0, "no kill came while heapgrab held the target")


def test_target_exits_mid_walk():
    """The target dies while heapgrab reads it: exit 3 (or 0 if heapgrab
    finished first), never a hang or a crash."""
    for delay in (0.05, 0.15, 0.3):
        t = Target()
        t.cmd("alloc 2000000 64")
        p = subprocess.Popen([HEAPGRAB, "stats", str(t.pid)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        time.sleep(delay)
        targets.Target.close(t)    # killed at once, not let go
        _, err = p.communicate(timeout=60)
        check(p.returncode in (0, 3), f"exit {p.returncode} after the target died: {err!r}")
        if p.returncode == 3:
            check(b"exited" in err or b"no such process" in err, f"message: {err!r}")


def test_periodic_snapshots():
    t = Target()
    try:
        t.cmd("alloc 10 100")
        base = f"/tmp/heapgrab-periodic-{os.getpid()}"
        r = run([str(t.pid), "--interval", "0.2", "--count", "3", "-o", base + ".%d.pprof"])
        equal(r.returncode, 0, f"periodic run ({r.stderr.decode().strip()})")
        for i in range(3):
            sums = read_profile(f"{base}.{i}.pprof")
            equal(sums["inuse_objects"], 10, f"snapshot {i}: the 10 blocks in use")
            os.unlink(f"{base}.{i}.pprof")
        equal(r.stderr.decode().count("target stopped"), 3, "one summary line per snapshot")
        t.alive_and_free()
    finally:
        t.close()


def test_moved_thresholds():
    """A program that moved malloc's thresholds (glibc's dynamic raise,
    mallopt, GLIBC_TUNABLES): with libc's debug symbols and without them
    (the heuristics must still find mp_), mallinfo2 equal to the target's
    own and the same figures both ways."""
    for name, tunables, commands, moved in threshold_cases(HOST_GLIBC):
        figures = {}
        for hide in (False, True):
            t = Target(hide_debug=hide, tunables=tunables)
            try:
                for c in commands:
                    t.cmd(c)
                check(moved(t.state["mallinfo2"]), f"{name}: the thresholds did not move: "
                      f"the target's mallinfo2 is {t.state['mallinfo2']}")
                prefix = ["nsenter", "-t", str(t.pid), "-m"] if hide else []
                hg = stats(t.pid, prefix=prefix)
                how = "heuristic" if hide else "symbols"
                equal(hg["locate"], how, f"{name}: locate")
                same_mallinfo(t, hg)
                figures[hide] = hg
                t.alive_and_free()
            finally:
                t.close()
        equal(figures[True]["mallinfo2"], figures[False]["mallinfo2"],
              f"{name}: mallinfo2, heuristic vs symbols")
        equal(dict(figures[True]["totals"], released_bytes=0),
              dict(figures[False]["totals"], released_bytes=0),
              f"{name}: totals, heuristic vs symbols")


def test_reader_interface():
    """The library through a caller-supplied reader (as GDB will use it)
    gives exactly the CLI's figures."""
    reader = os.environ.get("HG_TEST_READER")
    check(reader and os.access(reader, os.X_OK), "HG_TEST_READER not built")
    t = Target()
    try:
        t.cmd("alloc 400 100")
        t.cmd("free 20")
        t.cmd("thread_alloc 0 200 48")
        t.cmd("thread_free 0 9")
        t.cmd("big 1 1048576")
        r = subprocess.run([reader, str(t.pid)], capture_output=True)
        equal(r.returncode, 0, f"test_reader ({r.stderr.decode().strip()})")
        via_reader = json.loads(r.stdout)
        cli = stats(t.pid)
        same_mallinfo(t, via_reader)
        for key in ("mallinfo2", "totals", "glibc", "locate"):
            if key == "totals":
                # residency is unknown through a plain reader: released 0
                a = dict(via_reader[key], released_bytes=0)
                b = dict(cli[key], released_bytes=0)
                equal(a, b, "totals via reader vs CLI")
            else:
                equal(via_reader[key], cli[key], f"{key} via reader vs CLI")
        equal(sorted((x["tid"], x["tcache_objects"]) for x in via_reader["threads"]),
              sorted((x["tid"], x["tcache_objects"]) for x in cli["threads"]), "threads")
        t.alive_and_free()
    finally:
        t.close()


def core_scenario(t):
    for step in ("alloc 1000 72", "free 60", "thread_alloc 0 300 100", "thread_free 0 9",
                 "alloc 200 600", "free_step 0 100 2", "big 2 2097152"):
        t.cmd(step)


def same_as_live(core, live, what):
    equal(core["mallinfo2"], live["mallinfo2"], f"{what}: mallinfo2 vs the live process")
    # a core has no page residency: released_bytes is 0 there
    equal(dict(core["totals"], released_bytes=0), dict(live["totals"], released_bytes=0),
          f"{what}: totals vs the live process")
    equal(sorted((x["tid"], x["tcache_objects"], x["tcache_bytes"]) for x in core["threads"]),
          sorted((x["tid"], x["tcache_objects"], x["tcache_bytes"]) for x in live["threads"]),
          f"{what}: threads' tcaches vs the live process")


def test_gcore():
    if not shutil.which("gcore"):
        raise Failure("gcore (gdb) missing")
    t = Target()
    tmp = f"/tmp/heapgrab-core-{os.getpid()}"
    try:
        core_scenario(t)
        live = stats(t.pid)
        r = subprocess.run(["gcore", "-o", tmp, str(t.pid)], capture_output=True)
        equal(r.returncode, 0, "gcore")
        core = f"{tmp}.{t.pid}"
        c = stats(core)
        same_mallinfo(t, c)
        same_as_live(c, live, "gcore core")
        # without debug information: the heuristics on the core
        r = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs none /usr/lib/debug && "
                            f"exec {HEAPGRAB} stats --json {core}"], capture_output=True)
        equal(r.returncode, 0, f"core without debug info ({r.stderr.decode().strip()})")
        h = json.loads(r.stdout)
        equal(h["locate"], "heuristic", "core without debug info: locate")
        same_as_live(h, live, "core without debug info")
        # a pprof from the core
        r = run([core, "-o", tmp + ".pprof"])
        equal(r.returncode, 0, "pprof from a core")
        equal(read_profile(tmp + ".pprof")["inuse_objects"], c["totals"]["inuse_objects"],
              "pprof from a core: inuse_objects")
        # bad cores: truncated, not a core at all
        with open(core, "rb") as f:
            head = f.read(64 * 1024)
        with open(tmp + ".cut", "wb") as f:
            f.write(head)
        r = run(["stats", tmp + ".cut"])
        check(r.returncode != 0 and r.stderr.startswith(b"heapgrab: "),
              f"truncated core: one-line error, got {r.returncode} {r.stderr[:200]!r}")
        r = run(["stats", SELF_PATH])
        equal(r.returncode, 2, "a file that is not a core")
        check(b"not a core" in r.stderr, f"says it is not a core: {r.stderr!r}")
        os.unlink(core)
    finally:
        t.close()
        for suffix in (".pprof", ".cut"):
            if os.path.exists(tmp + suffix):
                os.unlink(tmp + suffix)


def kernel_core(cwd, coredump_filter=None):
    """Run the scenario in a gt_target, let the kernel dump it (SIGABRT to
    a worker thread); returns (target, its live stats, the core's path)."""
    os.makedirs(cwd, exist_ok=True)
    t = Target(cwd=cwd, cores=True)
    try:
        core_scenario(t)
        live = stats(t.pid)
        if coredump_filter is not None:
            with open(f"/proc/{t.pid}/coredump_filter", "w") as f:
                f.write(coredump_filter)
        # Abort through a worker thread: the kernel then writes that thread
        # first, and the core must still name the process, not the thread.
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        SYS_tgkill = 234
        worker = t.state["workers"][0]["tid"]
        check(libc.syscall(SYS_tgkill, t.pid, worker, signal.SIGABRT) == 0,
              f"tgkill of thread {worker}")
        t.wait(30)
    finally:
        targets.Target.close(t)
    cores = [os.path.join(cwd, n) for n in os.listdir(cwd) if n.startswith("core")]
    equal(len(cores), 1, f"one kernel core in {cwd}")
    return t, live, cores[0]


def test_kernel_core():
    """Cores the kernel writes: default coredump_filter 0x33 (file mappings
    left out, read back from the files, checked by build-id), and 0x10 (the
    heap itself left out: a clear message, no figures)."""
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    if pattern.startswith("|") or "/" in pattern:
        raise Skip(f"core_pattern is {pattern!r}: the kernel writes no core here")
    cwd = f"/tmp/heapgrab-kcore-{os.getpid()}"
    try:
        t, live, core = kernel_core(cwd)
        c = stats(core)
        same_mallinfo(t, c)
        same_as_live(c, live, "kernel core")
        equal(c["pid"], t.pid, "the core's process id")
        # its mappings' build-ids: the core's own copies of the ELF headers
        r = run([core, "-o", core + ".pprof"])
        equal(r.returncode, 0, f"pprof from a kernel core ({r.stderr.decode().strip()})")
        check_build_ids(core + ".pprof", "", "kernel core")
        # --exe: the right file works, a different one is refused
        c2 = stats(core, "--exe", TARGET)
        equal(c2["mallinfo2"], c["mallinfo2"], "--exe with the right executable")
        r = run(["stats", "--exe", "/bin/true", core])
        equal(r.returncode, 9, f"--exe with another executable ({r.stderr.decode().strip()})")
        check(b"not the file the process had" in r.stderr, "says the build-id differs")
        # a core of another architecture (e_machine patched to AArch64)
        with open(core, "rb") as f:
            head = bytearray(f.read(1 << 20))
        head[18:20] = (183).to_bytes(2, "little")
        with open(core + ".arm", "wb") as f:
            f.write(head)
        r = run(["stats", core + ".arm"])
        equal(r.returncode, 6, "a core of another architecture")
        check(b"another architecture" in r.stderr, f"says so: {r.stderr!r}")
        shutil.rmtree(cwd, ignore_errors=True)
        # the heap and libc's data left out of the core
        t, live, core = kernel_core(cwd, "0x10")
        r = run(["stats", core])
        equal(r.returncode, 7, f"core without the heap ({r.stderr.decode().strip()})")
        check(b"not in the core" in r.stderr, f"says what the core lacks: {r.stderr!r}")
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


def test_errors():
    # no such process
    pid = 4194000
    while os.path.exists(f"/proc/{pid}"):
        pid -= 1
    r = run(["stats", str(pid)])
    equal(r.returncode, 3, "exit for a missing process")
    err = r.stderr.decode()
    check(err.startswith("heapgrab: ") and err.count("\n") == 1, f"one-line error: {err!r}")
    # usage
    equal(run(["stats", "notapid"]).returncode, 2, "exit for a bad pid")
    equal(run(["frobnicate", "1", "2"]).returncode, 2, "exit for bad arguments")
    t = Target()
    try:
        # pprof to a terminal is refused
        master, slave = pty.openpty()
        r = subprocess.run([HEAPGRAB, str(t.pid)], stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        os.close(master)
        equal(r.returncode, 2, "exit when stdout is a terminal")
        check(b"terminal" in r.stderr, "message names the terminal")
        # already traced (a debugger holds it): say so, leave it alone
        if shutil.which("gdb"):
            g = subprocess.Popen(["gdb", "-nx", "-q", "-p", str(t.pid)], stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                for _ in range(100):
                    with open(f"/proc/{t.pid}/status") as f:
                        if "TracerPid:\t0" not in f.read():
                            break
                    time.sleep(0.1)
                r = run(["stats", str(t.pid)])
                equal(r.returncode, 4, "exit when another tracer holds the target")
                check(b"already traced" in r.stderr, f"names the tracer: {r.stderr!r}")
            finally:
                g.communicate(b"detach\nquit\n", timeout=30)
        # permission denied for another user
        if shutil.which("setpriv") and os.geteuid() == 0:
            r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                HEAPGRAB, "stats", str(t.pid)], capture_output=True)
            equal(r.returncode, 4, f"exit for permission denied ({r.stderr.decode().strip()})")
            check(b"CAP_SYS_PTRACE" in r.stderr, "the error says what to do")
        t.alive_and_free()
    finally:
        t.close()
    # not glibc malloc
    je = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
    if os.path.exists(je):
        with targets.Target(["sleep", "60"], ready=None, env={"LD_PRELOAD": je}) as p:
            time.sleep(0.3)
            r = run(["stats", str(p.pid)])
            equal(r.returncode, 5, "exit for a jemalloc process")
            check(b"jemalloc" in r.stderr, "the allocator is named")
    else:
        print("  (part skipped: libjemalloc2 not installed: the jemalloc process)")


def tracer_of(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        return int([l for l in f if l.startswith("TracerPid:")][0].split()[1])


def trace_thread(tracer_argv, pid, tid):
    """Start `strace -p TID` (or a copy of it) on one thread of pid and wait
    until it traces that thread."""
    s = subprocess.Popen([*tracer_argv, "-qq", "-o", "/dev/null", "-p", str(tid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        if tracer_of(pid, tid) == s.pid:
            return s
        time.sleep(0.01)
    s.kill()
    raise Failure(f"{tracer_argv[0]} did not attach to thread {tid}")


def released_but(t, tid, tracer):
    """Every thread of the target runs and is untraced, but tid, which
    tracer traces."""
    for x in os.listdir(f"/proc/{t.pid}/task"):
        want = tracer if int(x) == tid else 0
        equal(tracer_of(t.pid, x), want, f"tracer of thread {x} after heapgrab")
        if int(x) != tid:
            with open(f"/proc/{t.pid}/task/{x}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()[0]
            check(st not in ("t", "T"), f"thread {x} left stopped (state {st})")


def test_thread_traced_by_another():
    """strace on one thread that is not the leader: heapgrab refuses (exit
    4) naming the tracer and the thread, and lets go of every thread it had
    seized; it never takes a snapshot with that thread running."""
    if not shutil.which("strace"):
        raise Skip("strace not installed")
    t = Target()
    try:
        t.cmd("thread_alloc 0 10 100")
        s = t.cmd("thread_alloc 1 10 100")
        tid = s["workers"][1]["tid"]
        st = trace_thread(["strace"], t.pid, tid)
        try:
            for argv in (["stats", str(t.pid)], [str(t.pid), "-o", "/dev/null"],
                         ["stacks", str(t.pid)]):
                r = run(argv)
                err = r.stderr.decode()
                equal(r.returncode, 4, f"heapgrab {' '.join(argv)} with a thread under strace "
                      f"({err.strip()})")
                check(err.count("\n") == 1 and f"thread {tid} " in err and
                      f"process {st.pid} (strace)" in err, f"names tracer and thread: {err!r}")
                released_but(t, tid, st.pid)
        finally:
            st.terminate()
            st.wait(timeout=30)
        t.alive_and_free()
        same_mallinfo(t, stats(t.pid))
    finally:
        t.close()


def test_two_heapgrabs_at_once():
    """A second heapgrab that meets another one holding the process waits
    for it to let go (a stop is short), then takes its own snapshot."""
    t = Target()
    try:
        t.cmd("alloc 1000000 64")
        s = t.cmd("thread_alloc 0 10 100")
        # A profile (a stop every millisecond) while a snapshot holds the
        # target for a whole walk: the profile's ticks meet the snapshot's
        # stop and wait for it; both succeed.
        for _ in range(2):
            a = subprocess.Popen([HEAPGRAB, "profile", "--seconds", "2", "--hz", "1000",
                                  str(t.pid), "-o", "/dev/null"], stderr=subprocess.PIPE)
            time.sleep(0.5)
            r = run(["stats", "--json", str(t.pid)], timeout=120)
            equal(r.returncode, 0, f"a snapshot during a profile ({r.stderr.decode().strip()})")
            same_mallinfo(t, json.loads(r.stdout))
            _, err = a.communicate(timeout=120)
            equal(a.returncode, 0, f"a profile during a snapshot ({err.decode().strip()})")
            check(b" samples in " in err, f"the profile's summary: {err!r}")
            t.alive_and_free()
        # Deterministically: a tracer named heapgrab (strace under that
        # name) holds one thread; heapgrab waits for it, and finishes only
        # after it has let go.
        if shutil.which("strace"):
            d = f"/tmp/heapgrab-fake-{os.getpid()}"
            os.makedirs(d, exist_ok=True)
            fake = os.path.join(d, "heapgrab")
            shutil.copy(shutil.which("strace"), fake)
            tid = s["workers"][0]["tid"]
            try:
                st = trace_thread([fake], t.pid, tid)
                p = subprocess.Popen([HEAPGRAB, "stats", "--json", str(t.pid)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                time.sleep(1)
                if p.poll() is not None:
                    raise Failure(f"heapgrab did not wait for the other one: exit "
                                  f"{p.returncode} {p.stderr.read()!r}")
                released_but(t, tid, st.pid)   # holding nothing while it waits
                st.terminate()
                st.wait(timeout=30)
                out, err = p.communicate(timeout=120)
                equal(p.returncode, 0, f"heapgrab after the other let go ({err.decode().strip()})")
                same_mallinfo(t, json.loads(out))
                # one that never lets go: heapgrab gives up after 30 s
                st = trace_thread([fake], t.pid, tid)
                try:
                    r = run(["stats", str(t.pid)], timeout=120)
                finally:
                    st.terminate()
                    st.wait(timeout=30)
                err = r.stderr.decode()
                equal(r.returncode, 4, f"heapgrab against a heapgrab that never lets go ({err!r})")
                check(err.count("\n") == 1 and f"another heapgrab (pid {st.pid})" in err,
                      f"names the other heapgrab: {err!r}")
            finally:
                shutil.rmtree(d, ignore_errors=True)
        else:
            print("  (strace not installed: the waiting heapgrab is not checked)")
        t.alive_and_free()
    finally:
        t.close()


def test_static():
    """glibc linked into the executable: found through its symbol table (and
    by the heuristics), with the figures of the dynamic build; a stripped
    copy is refused with a one-line reason."""
    path = os.path.join(os.path.dirname(TARGET), "gt_target_static")
    if not os.access(path, os.X_OK):
        raise Skip("gt_target_static not built: no static libc")
    t = Target(path=path)
    try:
        t.cmd("thread_alloc 0 0 100")  # glibc allocates for a new thread's TLS
        before = stats(t.pid)
        t.cmd("alloc 1000 72")
        t.cmd("free 60")
        s = t.cmd("thread_alloc 0 300 100")
        s = t.cmd("thread_free 0 9")
        s = t.cmd("big 2 2097152")
        for how in ("symbols", "heuristic"):
            hg = stats(t.pid, "--locate", how)
            equal(hg["locate"], how, "locate")
            same_mallinfo(t, hg)
            equal(hg["problems_total"], 0, f"problems ({how}): {hg['problems'][:2]}")
            tc = {x["tid"]: x["tcache_objects"] for x in hg["threads"]}
            # main freed 60 of one size; the worker 9 of one size and its
            # warm-up chunk of another
            equal(tc.get(s["main_tid"]), FILL, f"main thread's tcache ({how})")
            equal(tc.get(s["workers"][0]["tid"]), min(9, FILL) + 1, f"worker's tcache ({how})")
            equal(delta(before, hg, "inuse_bytes"),
                  s["main"]["usable"] + s["big"]["usable"] + s["workers"][0]["held"]["usable"],
                  f"inuse_bytes grows by what the target holds ({how})")
        t.alive_and_free()
    finally:
        t.close()
    stripped = f"/tmp/heapgrab-stripped-{os.getpid()}"
    subprocess.run(["strip", "-o", stripped, path], check=True)
    p = targets.Target(stripped)
    try:
        r = subprocess.run([HEAPGRAB, "stats", str(p.pid)], capture_output=True)
        equal(r.returncode, 6, f"stripped static program: exit code ({r.stderr!r})")
        err = r.stderr.decode()
        check("stripped" in err and "glibc's malloc" in err and err.count("\n") == 1,
              f"one line naming the cause: {err!r}")
    finally:
        p.close()
        os.unlink(stripped)


def test_static_single_threaded():
    """A static program that starts no thread links no glibc version string:
    heapgrab tells its malloc from main_arena's and mp_'s sizes and mp_'s
    initial tcache_max_bytes, names the releases that share that malloc
    (the host's is among them), and gives the target's own figures, with symbols
    and with the heuristics."""
    path = os.path.join(os.path.dirname(TARGET), "gt_target_static_st")
    if not os.access(path, os.X_OK):
        raise Skip("gt_target_static_st not built: no static libc")
    r = subprocess.run(["strings", "-a", path], capture_output=True)
    check(r.returncode == 0 and b"release version" not in r.stdout,
          "gt_target_static_st must link no glibc version string")
    t = Target(path=path)
    try:
        for step in ("alloc 1000 72", "free 60", "alloc 200 600", "free_step 0 100 2",
                     "big 2 2097152"):
            t.cmd(step)
        for how in ("symbols", "heuristic"):
            hg = stats(t.pid, "--locate", how)
            equal(hg["locate"], how, "locate")
            lo, _, hi = hg["glibc"].partition("-")
            check(hi and tuple(map(int, lo.split("."))) <= HOST_GLIBC <=
                  tuple(map(int, hi.split("."))),
                  f"glibc given as a range holding {HOST_GLIBC_TEXT}: {hg['glibc']!r} ({how})")
            same_mallinfo(t, hg)
            tc = {x["tid"]: x["tcache_objects"] for x in hg["threads"]}
            equal(tc.get(t.pid), FILL, f"main thread's tcache ({how})")
        t.alive_and_free()
    finally:
        t.close()


GROUPS = {
    "figures": [test_baseline_symbols_and_heuristic, test_alloc_tcache_fastbin, test_bins,
                test_large_bin_nextsize],
    "threads": [test_threads_and_arenas],
    "mmapped": [test_mmapped, test_released],
    "pprof": [test_pprof, test_periodic_snapshots, test_documented_pprof_commands],
    "nodebug": [test_no_debug_info, test_moved_thresholds],
    "reader": [test_reader_interface],
    "core": [test_gcore, test_kernel_core],
    "safety": [test_signals_leave_target_running, test_target_exits_mid_walk],
    "kills": [test_sigkill_at_random_points],
    "errors": [test_errors, test_thread_traced_by_another, test_two_heapgrabs_at_once],
    "static": [test_static, test_static_single_threaded],
}


def main():
    if not HEAPGRAB or not os.access(HEAPGRAB, os.X_OK) or not os.access(TARGET, os.X_OK):
        print(f"test_live: HEAPGRAB ({HEAPGRAB!r}) and HG_TARGET_DIR/gt_target must exist")
        return 1
    names = sys.argv[1:] or list(GROUPS)
    return run_tests("test_live", [test for name in names for test in GROUPS[name]])


if __name__ == "__main__":
    sys.exit(main())
