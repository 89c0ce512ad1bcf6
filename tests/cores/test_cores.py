#!/usr/bin/env python3
"""Hostile cores: heapgrab on crafted and mutated cores of a real process.

Usage: test_cores.py GROUP...   (groups: unknown crafted perms scale mutants;
                                 default: all)
Environment:
  HEAPGRAB          the binary
  HG_CORE_TARGET    tests/targets/core_target (built)
  HG_SANITIZED      1 in the ASan build (the scale group then only checks
                    that the large cores work: valgrind cannot run it)
  HG_FUZZ_SECONDS   how long the mutants group runs (default 60)
  HG_FUZZ_MIN       mutants it runs at least, however long (default 200)
  HG_CORE_TIMEOUT   seconds after which a run counts as hung (default 120)

The cores are made at test time: a gcore core and, where core_pattern
allows it, a kernel core of core_target, which reports its own
mallinfo2().  Every run of heapgrab on a hostile core must exit with a
documented status and one line on stderr, never crash (sanitizer reports
included), never hang, and never print the contents of a file the core
names (hostile.faults).
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from harness import Failure, Skip, check, equal, run as run_tests  # noqa: E402
import targets  # noqa: E402
from corelib import Core  # noqa: E402
import hostile  # noqa: E402

HEAPGRAB = os.environ.get("HEAPGRAB", "")
TARGET = os.environ.get("HG_CORE_TARGET", "")
SANITIZED = os.environ.get("HG_SANITIZED") == "1"
TIMEOUT = float(os.environ.get("HG_CORE_TIMEOUT", "120"))  # only a hang gets near it


class Cores:
    """core_target's own figures, and a gcore core and (when the kernel
    writes cores into the working directory) a kernel core of it."""

    def __init__(self, tmp):
        self.tmp = tmp
        kdir = os.path.join(tmp, "kernel")
        os.makedirs(kdir)

        with targets.Target(TARGET, cwd=kdir, cores=True) as p:
            self.state = p.state
            self.pid = p.pid
            self.live = hostile.run(HEAPGRAB, str(p.pid), timeout=TIMEOUT)
            self.live_text = hostile.run(HEAPGRAB, str(p.pid), args=("stats",), timeout=TIMEOUT)
            r = subprocess.run(["gcore", "-o", os.path.join(tmp, "gcore"), str(p.pid)],
                               capture_output=True)
            equal(r.returncode, 0, f"gcore: {r.stderr[-300:]!r}")
            self.gcore = os.path.join(tmp, f"gcore.{p.pid}")
            self.kernel = None
            with open("/proc/sys/kernel/core_pattern") as f:
                pattern = f.read().strip()
            if pattern.startswith("|") or "/" in pattern:
                print(f"  (core_pattern is {pattern!r}: no kernel core)")
            else:
                p.abort_and_wait(60)
                found = [n for n in os.listdir(kdir) if n.startswith("core")]
                if found:
                    self.kernel = os.path.join(kdir, found[0])

    def kinds(self):
        out = [("gcore", self.gcore)]
        if self.kernel:
            out.append(("kernel", self.kernel))
        return out


def with_cores(test):
    def wrapper():
        tmp = tempfile.mkdtemp(prefix="heapgrab-cores-")
        try:
            test(Cores(tmp), hostile.Scene(os.path.join(tmp, "scene")))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    wrapper.__name__ = test.__name__
    return wrapper


def check_case(case, target, cores, scene, results):
    r = hostile.run(HEAPGRAB, target, timeout=TIMEOUT,
                    prefix=hostile.HIDE_DEBUG if case.hide_debug else ())
    bad = hostile.faults(r, scene.secrets)
    if case.want is not None and r.rc not in case.want:
        bad.append(f"exit {r.rc}, want {sorted(case.want)}")
    if case.says and case.says not in r.err:
        bad.append(f"does not say {case.says.decode()!r}")
    if case.figures and r.rc == 0:
        got = json.loads(r.out)["mallinfo2"]
        if got != cores.state["mallinfo2"]:
            bad.append(f"mallinfo2 {got} is not the target's {cores.state['mallinfo2']}")
    results.append((case.name, r, bad))


def report(results, what):
    failed = [(n, r, b) for n, r, b in results if b]
    for name, r, bad in failed[:20]:
        print(f"  {name}: {'; '.join(bad)} ({hostile.describe(r)})")
    codes = {}
    for _, r, _ in results:
        codes[r.rc] = codes.get(r.rc, 0) + 1
    print(f"  {len(results)} {what}: exit statuses {dict(sorted(codes.items()))}, "
          f"slowest {max(r.secs for _, r, _ in results):.2f} s")
    check(not failed, f"{len(failed)} of {len(results)} {what} went wrong")


# ------------------------------------------------------------------ groups

@with_cores
def test_unknown(cores, scene):
    """A core has no RSS, no page residency and no stop: unknown (null,
    n/a, left out), never 0; a live process has all three."""
    live = json.loads(cores.live.out)
    check(isinstance(live["rss_bytes"], int) and live["rss_bytes"] > 0,
          f"live rss_bytes {live['rss_bytes']!r}")
    check(isinstance(live["heap_resident_bytes"], int) and live["heap_resident_bytes"] > 0,
          f"live heap_resident_bytes {live['heap_resident_bytes']!r}")
    check(isinstance(live["timing"]["stopped_ns"], int) and live["timing"]["stopped_ns"] > 0,
          f"live stopped_ns {live['timing']['stopped_ns']!r}")
    check(b"target stopped " in cores.live_text.out and b"n/a" not in cores.live_text.out,
          f"live text: {cores.live_text.out[:300]!r}")
    for kind, core in cores.kinds():
        r = hostile.run(HEAPGRAB, core, timeout=TIMEOUT)
        equal(r.rc, 0, f"{kind}: stats --json ({r.err!r})")
        d = json.loads(r.out)
        equal(d["mallinfo2"], cores.state["mallinfo2"], f"{kind}: mallinfo2")
        for key in ("rss_bytes", "heap_resident_bytes", "heap_share_of_rss"):
            equal(d[key], None, f"{kind}: {key}")
        equal(d["timing"]["stopped_ns"], None, f"{kind}: timing.stopped_ns")
        check(isinstance(d["timing"]["total_ns"], int), f"{kind}: total_ns")
        r = hostile.run(HEAPGRAB, core, args=("stats",), timeout=TIMEOUT)
        text = r.out.decode()
        check(r.rc == 0 and "target stopped" not in text and
              "\nRSS n/a, heap resident n/a\n" in text, f"{kind}: text report:\n{text}")
        # the summary a snapshot prints on stderr: one line, no stop time
        out = os.path.join(cores.tmp, "heap.pprof")
        r = hostile.run(HEAPGRAB, core, args=("-o", out), timeout=TIMEOUT)
        lines = r.err.decode().splitlines()
        check(r.rc == 0 and len(lines) == 1 and "bytes in use" in lines[0] and
              "stopped" not in lines[0], f"{kind}: snapshot summary {lines!r}")


@with_cores
def test_crafted(cores, scene):
    """Every crafted case, on every kind of core, and targets that are not
    cores at all."""
    results = []
    for kind, path in cores.kinds():
        core = Core.read(path)
        for case in hostile.crafted(core, kind, scene):
            target = scene.write("case.core", case.data)
            check_case(case, target, cores, scene, results)
    for case in hostile.special_files(scene):
        target = case.path or scene.write("case.core", case.data)
        check_case(case, target, cores, scene, results)
    report(results, "crafted cores")


@with_cores
def test_perms(cores, scene):
    """As an unprivileged user: a core it may not read is a permission
    failure (4), a directory or a FIFO a usage error (2), neither 'no
    such process'; a core it may read works."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        raise Skip("needs root and setpriv to run as nobody")
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    os.chmod(cores.tmp, 0o755)
    os.chmod(scene.tmp, 0o755)
    readable = os.path.join(scene.tmp, "readable.core")
    shutil.copy(cores.gcore, readable)
    os.chmod(readable, 0o644)
    private = os.path.join(scene.tmp, "private.core")
    shutil.copy(cores.gcore, private)
    os.chmod(private, 0o600)
    for target, want, says in ((private, 4, b"permission denied"), (scene.dir, 2, b"directory"),
                               (scene.fifo, 2, b"is a FIFO, not a core file"), (readable, 0, None)):
        r = subprocess.run(nobody + [HEAPGRAB, "stats", "--json", target], capture_output=True,
                           timeout=TIMEOUT)
        res = hostile.Result([target], r.returncode, r.stdout, r.stderr, 0, False)
        bad = hostile.faults(res, scene.secrets)
        check(not bad and r.returncode == want and (not says or says in r.stderr),
              f"as nobody, {target}: exit {r.returncode} (want {want}): {r.stderr!r} {bad}")


def instructions(argv):
    """Instructions a run executes (valgrind): a measure of work that does
    not depend on how busy the machine is."""
    r = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                        "--cachegrind-out-file=/dev/null", *argv],
                       capture_output=True, timeout=1200)
    m = re.search(rb"I\s+refs:\s+([\d,]+)", r.stderr)
    check(m, f"no instruction count from valgrind: {r.stderr[-500:]!r}")
    return int(m.group(1).replace(b",", b"")), r


@with_cores
def test_scale(cores, scene):
    """The work grows as n log n with the core's size: four times the files
    (threads, segments, executable mappings) cost about four times the
    instructions, not sixteen.  Counted by valgrind, so a busy machine
    cannot make it fail; the ASan build only checks the large cores work."""
    core = Core.read(cores.gcore)
    if SANITIZED or not shutil.which("valgrind"):
        data = hostile.many_files(core, 100000, lambda i: f"/tmp/hgnx{i:06d}/lib/x.so")
        r = hostile.run(HEAPGRAB, scene.write("big.core", data), timeout=TIMEOUT)
        check(not hostile.faults(r) and r.rc == 0 and
              json.loads(r.out)["mallinfo2"] == cores.state["mallinfo2"],
              f"100,000 files: {hostile.describe(r)}")
        print("  (instruction counts need valgrind and the normal build: sizes only)")
        return
    base_n, _ = instructions([HEAPGRAB, "stats", "--json", cores.gcore])
    shapes = {
        "files": lambda n: hostile.many_files(core, n, lambda i: f"/tmp/hgnx{i:06d}/lib/x.so"),
        "executable mappings": lambda n: hostile.executable_files(core, n),
        "threads": lambda n: core.rebuild(notes=core.notes + [core.note(1)] * n),
        "segments": lambda n: hostile.empty_segments(core, n),
    }
    for name, make in shapes.items():
        cost = []
        for n in (4000, 16000):
            target = scene.write(f"{n}.core", make(n))
            count, r = instructions([HEAPGRAB, "stats", "--json", target])
            check(r.returncode == 0 and json.loads(r.stdout)["mallinfo2"] ==
                  cores.state["mallinfo2"], f"{name} x{n}: exit {r.returncode}")
            cost.append(count - base_n)
        ratio = cost[1] / max(cost[0], 1)
        print(f"  {name}: 4000 -> {cost[0]:,} more instructions, 16000 -> {cost[1]:,} "
              f"(x{ratio:.1f})")
        check(ratio < 8, f"{name}: 4x the input costs {ratio:.1f}x the work (quadratic?)")


@with_cores
def test_mutants(cores, scene):
    """Seeded mutants of the real cores (bit flips, header and note fields,
    file lists, cuts, memory), for HG_FUZZ_SECONDS; the same sequence every
    run, only its length depends on the machine."""
    seconds = float(os.environ.get("HG_FUZZ_SECONDS", "60"))
    least = int(os.environ.get("HG_FUZZ_MIN", "200"))
    bases = [Core.read(p) for _, p in cores.kinds()]
    results, t0, i = [], time.monotonic(), 0
    while i < least or time.monotonic() - t0 < seconds:
        rng = random.Random(0x5EED0000 + i)
        what, data = hostile.mutate(bases[i % len(bases)], rng, scene)
        stacks = rng.random() < 0.1
        target = scene.write("mutant.core", data)
        r = hostile.run(HEAPGRAB, target, args=("stacks",) if stacks else ("stats", "--json"),
                        timeout=TIMEOUT)
        bad = hostile.faults(r, scene.secrets, json_out=not stacks)
        if bad:
            keep = os.path.join(os.environ.get("HG_FUZZ_KEEP", tempfile.gettempdir()),
                                f"heapgrab-mutant-{i}.core")
            shutil.copy(target, keep)
            bad.append(f"mutant {i} ({what}) kept as {keep}")
        results.append((f"mutant {i}", r, bad))
        i += 1
    report(results, "mutants")


GROUPS = {
    "unknown": [test_unknown],
    "crafted": [test_crafted],
    "perms": [test_perms],
    "scale": [test_scale],
    "mutants": [test_mutants],
}


def main():
    if not HEAPGRAB or not TARGET:
        print("set HEAPGRAB and HG_CORE_TARGET", file=sys.stderr)
        return 2
    if not shutil.which("gcore"):
        print("SKIP: gcore (gdb) is missing: no core can be made", file=sys.stderr)
        return 77
    names = sys.argv[1:] or list(GROUPS)
    tests = [t for n in names for t in GROUPS[n]]
    return run_tests("cores " + " ".join(names), tests)


if __name__ == "__main__":
    sys.exit(main())
