#!/usr/bin/env python3
"""The allocation sampler (libheapgrab_sampler.so) and heapgrab's reading
of it, against ground truth: tests/targets/alloc_target.c says what it
allocated from which function, exactly (usable sizes), and nothing else
allocates between its commands.

    test_sampler.py TEST     one of the tests below; exit 0, 1 or 77 (skip)

Environment: HEAPGRAB (the CLI), HG_SAMPLER (the library), HG_ALLOC_TARGET,
HG_STRESS_TARGET, HG_ALLOC_LIB, HG_READBACK (allocs_readback),
HG_HOSTILE_TARGET.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HEAPGRAB = os.environ["HEAPGRAB"]
ENV = dict(os.environ, HEAPGRAB_SAMPLER=os.environ["HG_SAMPLER"])
EXACT_FUNCS = ["small_allocs", "medium_callocs", "aligned_allocs", "realloc_chain"]
BIG_FUNCS = ["big_small_allocs", "big_large_allocs"]
TIMEOUT = 600


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def equal(got, want, what):
    if got != want:
        raise Failure(f"{what}: expected {want}, got {got}")


class Target:
    """alloc_target started with `heapgrab run`, driven a line at a time."""

    def __init__(self, rate=None, program=None, args=()):
        cmd = [HEAPGRAB, "run"] + (["--rate", str(rate)] if rate else []) + ["--"]
        cmd += [program or os.environ["HG_ALLOC_TARGET"]] + list(args)
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env=ENV, text=True)
        self.first = self.read()
        self.pid = self.first["pid"]

    def read(self):
        line = self.p.stdout.readline()
        check(line, f"the target ended (status {self.p.poll()})")
        return json.loads(line)

    def send(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.read()

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        try:
            return self.p.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise Failure("the target did not exit")


def run(args, want=0):
    r = subprocess.run([HEAPGRAB] + args, capture_output=True, text=True, env=ENV,
                       timeout=TIMEOUT)
    if want is not None and r.returncode != want:
        raise Failure(f"heapgrab {' '.join(args)}: status {r.returncode}, expected {want}: "
                      f"{r.stderr.strip()}")
    return r


def sampler_stats(target):
    d = json.loads(run(["stats", "--json", target]).stdout)
    check("sampler" in d, "stats --json has no sampler object")
    return d


def allocs(target, out):
    run(["allocs", target, "-o", out])
    r = subprocess.run([os.environ["HG_READBACK"], out], capture_output=True, text=True)
    check(r.returncode == 0, f"allocs_readback {out}: {r.stderr}")
    return json.loads(r.stdout)


def check_profile_form(prof, rate):
    equal(prof["sample_types"], [["alloc_objects", "count"], ["alloc_space", "bytes"],
                                 ["inuse_objects", "count"], ["inuse_space", "bytes"]],
          "sample types")
    equal(prof["period_type"], ["space", "bytes"], "period type")
    equal(prof["period"], rate, "period")


def check_exact_functions(prof, truth, what):
    for f in EXACT_FUNCS:
        check(f in prof["leaves"], f"{what}: no samples with leaf {f} "
              f"(leaves: {sorted(prof['leaves'])})")
        equal(prof["leaves"][f], truth["functions"][f], f"{what}: {f} [alloc_objects, "
              "alloc_space, inuse_objects, inuse_space]")
    # nothing is attributed to the allocator or the sampler themselves
    for leaf in prof["leaves"]:
        check(leaf not in ("malloc", "calloc", "realloc", "posix_memalign", "free") and
              "sampler" not in leaf, f"{what}: an allocator frame was kept as a leaf: {leaf}")


def delta(before, after, key):
    return after["sampler"][key] - before["sampler"][key]


def check_delta(before, after, truth):
    for k in ("alloc_objects", "alloc_bytes", "free_objects", "free_bytes"):
        equal(delta(before, after, k), truth["delta"][k], f"exact counter {k} over the command")


def check_against_walk(stats, what):
    """The exact counters against heapgrab's own heap walk: what was
    allocated and not freed is what the heap holds in use."""
    s, t = stats["sampler"], stats["totals"]
    equal(s["alloc_objects"] - s["free_objects"], t["inuse_objects"],
          f"{what}: allocated - freed objects against the heap walk's inuse_objects")
    equal(s["alloc_bytes"] - s["free_bytes"], t["inuse_bytes"],
          f"{what}: allocated - freed bytes against the heap walk's inuse_bytes")


def test_exact_live(tmp):
    """Rate 1: every allocation sampled; per function exact, live."""
    t = Target(rate=1)
    try:
        before = sampler_stats(str(t.pid))
        truth = t.send("work")
        after = sampler_stats(str(t.pid))
        check_delta(before, after, truth)
        check_against_walk(after, "rate 1")
        equal(after["sampler"]["rate"], 1, "rate")
        equal(after["sampler"]["dropped_samples"], 0, "dropped samples")
        prof = allocs(str(t.pid), os.path.join(tmp, "live.pprof"))
        check_profile_form(prof, 1)
        check_exact_functions(prof, truth, "live")
        check(prof["bytes_label_ok"], "a sample's bytes label is not its object size")
        # more live sampled objects than the default rate's live set holds:
        # the rate from the environment sized it
        truth = t.send("many")
        prof = allocs(str(t.pid), os.path.join(tmp, "many.pprof"))
        equal(prof["leaves"].get("many_live"), truth["functions"]["many_live"],
              "many_live [alloc_objects, alloc_space, inuse_objects, inuse_space]")
        after = sampler_stats(str(t.pid))
        equal(after["sampler"]["live_sampled"],
              after["sampler"]["alloc_objects"] - after["sampler"]["free_objects"],
              "live sampled objects at rate 1")
    finally:
        t.close()


def test_exact_core(tmp):
    """Rate 1, read from a gcore core: the same figures as the process."""
    if not shutil.which("gcore"):
        raise Skip("gcore is not installed")
    t = Target(rate=1)
    try:
        truth = t.send("work")
        live = allocs(str(t.pid), os.path.join(tmp, "live.pprof"))
        stats = sampler_stats(str(t.pid))
        r = subprocess.run(["gcore", "-o", os.path.join(tmp, "core"), str(t.pid)],
                           capture_output=True, text=True, timeout=TIMEOUT)
        core = os.path.join(tmp, f"core.{t.pid}")
        check(r.returncode == 0 and os.path.exists(core), f"gcore failed: {r.stderr}")
    finally:
        t.close()
    prof = allocs(core, os.path.join(tmp, "core.pprof"))
    check_profile_form(prof, 1)
    check_exact_functions(prof, truth, "core")
    equal(prof["leaves"], live["leaves"], "core against live, every leaf")
    core_stats = sampler_stats(core)
    equal(core_stats["sampler"], stats["sampler"], "stats --json sampler of the core")


def test_default_rate(tmp):
    """The default rate (512 KiB): each function with 256 MiB or more
    within 15% (about 500 samples each: the estimate's relative standard
    error is about 1/sqrt(500), 4.5%, so 15% is over three of them), and
    the exact counters exact."""
    t = Target()
    try:
        before = sampler_stats(str(t.pid))
        truth = t.send("big")
        after = sampler_stats(str(t.pid))
        check_delta(before, after, truth)
        check_against_walk(after, "default rate")
        equal(after["sampler"]["rate"], 512 * 1024, "the default rate")
        prof = allocs(str(t.pid), os.path.join(tmp, "big.pprof"))
        check_profile_form(prof, 512 * 1024)
        for f in BIG_FUNCS:
            want = truth["functions"][f][1]
            check(want >= 256 << 20, f"{f} allocated {want} bytes, under 256 MiB")
            got = prof["leaves"].get(f, [0, 0, 0, 0])[1]
            check(abs(got - want) <= 0.15 * want,
                  f"{f}: alloc_space estimated {got}, allocated {want} "
                  f"({100.0 * (got - want) / want:+.1f}%)")
            print(f"{f}: alloc_space {got} for {want} ({100.0 * (got - want) / want:+.1f}%)")
    finally:
        t.close()


def test_absent(tmp):
    """Without the sampler: one line, exit status 11."""
    p = subprocess.Popen([os.environ["HG_ALLOC_TARGET"]], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        pid = json.loads(p.stdout.readline())["pid"]
        r = run(["allocs", str(pid), "-o", os.path.join(tmp, "none.pprof")], want=11)
        lines = r.stderr.strip().splitlines()
        equal(len(lines), 1, "lines of the message")
        check("heapgrab run" in lines[0], f"the message says how to enable it: {lines[0]}")
        check(not os.path.exists(os.path.join(tmp, "none.pprof")), "an empty profile was left")
        d = json.loads(run(["stats", "--json", str(pid)]).stdout)
        check("sampler" not in d, "stats --json has a sampler object without the sampler")
    finally:
        p.stdin.close()
        p.wait(timeout=TIMEOUT)


def stress(tmp, rate):
    t = Target(rate=rate, program=os.environ["HG_STRESS_TARGET"],
               args=[os.environ["HG_ALLOC_LIB"]])
    try:
        stats = sampler_stats(str(t.pid))
        check_against_walk(stats, f"stress at rate {rate}")
        prof = allocs(str(t.pid), os.path.join(tmp, f"stress{rate}.pprof"))
        check_profile_form(prof, rate or 512 * 1024)
        if rate == 1:
            # the objects made by the library outlive it: their stacks name
            # the unloaded library by file and offset
            lib = [v for leaf, v in prof["leaves"].items()
                   if leaf.startswith("libsampler_alloclib.so+0x")]
            equal(sum(v[2] for v in lib), t.first["lib_objects"],
                  f"objects in use allocated by the unloaded library, named by file and "
                  f"offset (leaves: {sorted(prof['leaves'])})")
            equal(stats["sampler"]["live_sampled"],
                  stats["sampler"]["alloc_objects"] - stats["sampler"]["free_objects"],
                  "live sampled objects at rate 1 against the counters")
    finally:
        status = t.close()
    equal(status, 0, "the stress target's exit status")


def test_stress(tmp):
    """16 threads, cross-thread frees, realloc chains, memalign, threads
    exiting, fork+exec, dlopen/dlclose: no crash, no deadlock, the counts
    agree with the heap walk; at rate 1 and at the default rate."""
    stress(tmp, 1)
    stress(tmp, None)


def test_go_list(tmp):
    """go tool pprof -list shows the allocating line."""
    go = shutil.which("go")
    if not go:
        raise Skip("go is not installed")
    t = Target(rate=1)
    try:
        t.send("work")
        out = os.path.join(tmp, "list.pprof")
        run(["allocs", str(t.pid), "-o", out])
    finally:
        t.close()
    r = subprocess.run([go, "tool", "pprof", "-sample_index=alloc_space", "-list",
                        "^small_allocs$", out], capture_output=True, text=True,
                       timeout=TIMEOUT, cwd=tmp, env=dict(os.environ, HOME=tmp, GOCACHE=tmp,
                                                 PPROF_TMPDIR=tmp))
    check(r.returncode == 0, f"go tool pprof -list: {r.stderr}")
    lines = [ln for ln in r.stdout.splitlines() if "malloc(40" in ln]
    check(lines, f"-list does not show the malloc line:\n{r.stdout}")
    check(any(ln.split()[0] not in (".", "0") for ln in lines),
          f"the malloc line has no bytes:\n{lines}")
    r = subprocess.run([go, "tool", "pprof", "-sample_index=alloc_space", "-top", "-base", out,
                        out], capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp,
                       env=dict(os.environ, HOME=tmp, GOCACHE=tmp, PPROF_TMPDIR=tmp))
    check(r.returncode == 0, f"go tool pprof -base: {r.stderr}")


def test_hostile(tmp):
    """Crafted tables (a program exporting heapgrab_sampler_table itself):
    refused or read, within bounded work, never a crash."""
    prog = os.environ["HG_HOSTILE_TARGET"]
    for case in range(int(subprocess.run([prog, "count"], capture_output=True,
                                         text=True).stdout)):
        p = subprocess.Popen([prog, str(case)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        try:
            info = json.loads(p.stdout.readline())
            r = run(["allocs", str(info["pid"]), "-o", os.path.join(tmp, f"h{case}.pprof")],
                    want=None)
            check(r.returncode in info["status"],
                  f"case {case} ({info['what']}): status {r.returncode}, expected one of "
                  f"{info['status']}: {r.stderr.strip()}")
            check(len(r.stderr.strip().splitlines()) <= 2, f"case {case}: {r.stderr}")
        finally:
            p.stdin.close()
            p.wait(timeout=TIMEOUT)


def test_gdb(tmp):
    """Through GDB: heapsnap --allocs on the process GDB attached to, on a
    core GDB opened, and through gdbserver (the reader backend): each
    profile exact at rate 1."""
    if not shutil.which("gdb"):
        raise Skip("gdb is not installed")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "gdb",
                          "heapsnap.py")
    env = dict(ENV, HEAPGRAB_LIBRARY=os.environ["HG_LIBRARY"])

    def gdb(*args):
        r = subprocess.run(["gdb", "-batch", "-nx", "-ex", "set pagination off", *args,
                            "-ex", f"source {script}"] + [a for a in GDB_CMD],
                           capture_output=True, text=True, timeout=TIMEOUT, env=env)
        return r.stdout + r.stderr

    def readback(path, what):
        check(os.path.exists(path), f"{what}: no profile written")
        r = subprocess.run([os.environ["HG_READBACK"], path], capture_output=True, text=True)
        check(r.returncode == 0, f"{what}: allocs_readback: {r.stderr}")
        return json.loads(r.stdout)

    t = Target(rate=1)
    try:
        truth = t.send("work")
        out = os.path.join(tmp, "gdb.pprof")
        GDB_CMD[:] = ["-ex", f"heapsnap --allocs -o {out}"]
        text = gdb("-p", str(t.pid))
        check("heapsnap: wrote" in text, f"attached: {text[-800:]}")
        check_exact_functions(readback(out, "attached"), truth, "gdb attached")
        r = subprocess.run(["gcore", "-o", os.path.join(tmp, "core"), str(t.pid)],
                           capture_output=True, text=True, timeout=TIMEOUT)
        core = os.path.join(tmp, f"core.{t.pid}")
        check(r.returncode == 0, f"gcore: {r.stderr}")
        out = os.path.join(tmp, "gdbcore.pprof")
        GDB_CMD[:] = ["-ex", f"heapsnap --allocs -o {out}"]
        text = gdb(os.environ["HG_ALLOC_TARGET"], core)
        check("heapsnap: wrote" in text, f"core: {text[-800:]}")
        check_exact_functions(readback(out, "core in gdb"), truth, "gdb core")
        if shutil.which("gdbserver"):
            import socket
            with socket.socket() as so:
                so.bind(("127.0.0.1", 0))
                port = so.getsockname()[1]
            server = subprocess.Popen(["gdbserver", "--attach", f"127.0.0.1:{port}",
                                       str(t.pid)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            try:
                out = os.path.join(tmp, "remote.pprof")
                GDB_CMD[:] = ["-ex", f"heapsnap --allocs -o {out}"]
                text = gdb(os.environ["HG_ALLOC_TARGET"], "-ex",
                           f"target remote 127.0.0.1:{port}")
                check("heapsnap: wrote" in text, f"gdbserver: {text[-800:]}")
                check_exact_functions(readback(out, "gdbserver"), truth, "gdbserver")
            finally:
                server.kill()
                server.wait()
        else:
            print("  (no gdbserver: the reader backend not tried)")
    finally:
        t.close()


def test_run_cli(tmp):
    """heapgrab run: the environment it sets, the program's exit status,
    and its refusals."""
    lib = os.environ["HG_SAMPLER"]
    r = run(["run", "--rate", "4096", "--", "sh", "-c",
             'echo "$HEAPGRAB_SAMPLE_RATE $LD_PRELOAD"; exit 3'], want=3)
    equal(r.stdout.strip(), f"4096 {lib}", "the program's environment")
    env_pre = dict(ENV, LD_PRELOAD="/nonexistent-before.so")
    r = subprocess.run([HEAPGRAB, "run", "--", "sh", "-c", 'echo "$LD_PRELOAD"'],
                       capture_output=True, text=True, env=env_pre, timeout=TIMEOUT)
    equal(r.stdout.strip(), f"{lib}:/nonexistent-before.so", "LD_PRELOAD kept, sampler first")
    # without HEAPGRAB_SAMPLER: the sampler beside the heapgrab that runs
    # (a build tree holds both), never a path compiled in
    bare = {k: v for k, v in os.environ.items() if k != "HEAPGRAB_SAMPLER"}
    r = subprocess.run([HEAPGRAB, "run", "--", "sh", "-c", 'echo "$LD_PRELOAD"'],
                       capture_output=True, text=True, env=bare, timeout=TIMEOUT)
    equal(r.stdout.strip(), os.path.join(os.path.dirname(os.path.realpath(HEAPGRAB)),
                                         "libheapgrab_sampler.so"), "the sampler beside heapgrab")
    alone = os.path.join(tmp, "alone")
    os.makedirs(alone, exist_ok=True)
    shutil.copy(HEAPGRAB, alone)
    r = subprocess.run([os.path.join(alone, os.path.basename(HEAPGRAB)), "run", "--", "true"],
                       capture_output=True, text=True, env=bare, timeout=TIMEOUT)
    installed = [p for p in ("/usr/local/lib/libheapgrab_sampler.so",) if os.path.exists(p)]
    if not installed:
        check(r.returncode == 1 and "not found" in r.stderr and len(r.stderr.splitlines()) == 1,
              f"a heapgrab with no sampler beside it: exit {r.returncode}, {r.stderr!r}")
    for argv, status in ((["run"], 2), (["run", "--rate", "0", "--", "true"], 2),
                         (["run", "--rate", "x", "--", "true"], 2),
                         (["run", "--bogus", "--", "true"], 2),
                         (["run", "--", "/nonexistent/program"], 127)):
        r = run(argv, want=status)
        equal(len(r.stderr.strip().splitlines()), 1, f"heapgrab {' '.join(argv)}: one line")


def test_cxx(tmp):
    """C++: new and new[] from a member function, at rate 1: its figures
    exact, operator new nowhere a leaf."""
    prog = os.environ.get("HG_CXX_ALLOC_TARGET")
    if not prog:
        raise Skip("no C++ compiler: cxx_alloc_target not built")
    t = Target(rate=1, program=prog)
    try:
        prof = allocs(str(t.pid), os.path.join(tmp, "cxx.pprof"))
    finally:
        t.close()
    fill = [v for leaf, v in prof["leaves"].items() if leaf.startswith("app::Cache::fill")]
    check(fill, f"no leaf app::Cache::fill: {sorted(prof['leaves'])}")
    equal([sum(v[0] for v in fill), sum(v[1] for v in fill)], t.first["fill"],
          "app::Cache::fill [alloc_objects, alloc_space]")
    check(not any(leaf.startswith("operator new") for leaf in prof["leaves"]),
          f"operator new kept as a leaf: {sorted(prof['leaves'])}")


GDB_CMD = []

TESTS = {
    "gdb": test_gdb,
    "run_cli": test_run_cli,
    "cxx": test_cxx,
    "exact_live": test_exact_live,
    "exact_core": test_exact_core,
    "default_rate": test_default_rate,
    "absent": test_absent,
    "stress": test_stress,
    "go_list": test_go_list,
    "hostile": test_hostile,
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in TESTS:
        print(f"usage: test_sampler.py {'|'.join(TESTS)}", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="hg-sampler-")
    try:
        TESTS[sys.argv[1]](tmp)
    except Skip as e:
        print(f"skipped: {e}")
        return 77
    except Failure as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
