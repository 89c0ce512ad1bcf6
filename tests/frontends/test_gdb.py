#!/usr/bin/env python3
"""heapsnap inside real GDB (batch mode) against gt_target: a live process
GDB attached to, a core file GDB opened, and a gdbserver target.  The
figures must equal the target's own mallinfo2 and the CLI's on the same
target; errors must be one GDB error line, never a Python traceback.

Environment: HEAPGRAB (CLI), HEAPGRAB_LIBRARY (shared library),
HG_TARGET_DIR (gt_target).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import FILL, Skip, check, cli_stats, run  # noqa: E402
from targets import Target as _Target  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.normpath(os.path.join(HERE, "..", "..", "gdb", "heapsnap.py"))
HEAPGRAB = os.environ.get("HEAPGRAB", "")
TARGET = os.path.join(os.environ.get("HG_TARGET_DIR", ""), "gt_target")
STEPS = ["alloc 500 72", "free 40", "thread_alloc 0 200 100", "thread_free 0 5",
         "thread_alloc 1 100 300", "big 2 2097152"]


def Target():
    t = _Target(TARGET)
    try:
        for step in STEPS:
            t.cmd(step)
    except BaseException:
        t.close()
        raise
    return t


def gdb(*args, timeout=120):
    argv = ["gdb", "-batch", "-nx", "-ex", "set pagination off", *args]
    r = subprocess.run(argv, capture_output=True, timeout=timeout)
    return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def json_from(out):
    start = out.find("{\n")
    check(start >= 0, f"no JSON in GDB's output: {out[-800:]}")
    return json.JSONDecoder().raw_decode(out[start:])[0]


def cli(target):
    return cli_stats(HEAPGRAB, target)


def same(hs, t, what, cli_figures=None):
    check("Traceback" not in json.dumps(hs), what)
    check(hs["mallinfo2"] == t.state["mallinfo2"],
          f"{what}: mallinfo2 {hs['mallinfo2']} != the target's {t.state['mallinfo2']}")
    tc = {x["tid"]: x["tcache_objects"] for x in hs["threads"]}
    # main freed 40 blocks of one size: its tcache keeps FILL of them; the
    # worker its warm-up chunk and the 5 it freed
    check(tc.get(t.state["main_tid"]) == FILL and tc.get(t.state["workers"][0]["tid"]) == 6,
          f"{what}: tcache per thread {tc}")
    if cli_figures is not None:
        check(hs["totals"] == cli_figures["totals"] or
              dict(hs["totals"], released_bytes=0) == dict(cli_figures["totals"], released_bytes=0),
              f"{what}: totals differ from the CLI's: {hs['totals']} vs {cli_figures['totals']}")
        check(len(hs["arenas"]) == len(cli_figures["arenas"]) == 3, f"{what}: arenas")


def test_live():
    t = Target()
    try:
        out = gdb("-p", str(t.pid), "-ex", f"source {SCRIPT}", "-ex", "heapsnap --json",
                  "-ex", "heapsnap", "-ex", "info threads")
        hs = json_from(out)
        check(hs["locate"] == "symbols", "locate")
        check("2 arenas" in out or "3 arenas" in out, f"text table missing: {out[-600:]}")
        check("Traceback" not in out, f"traceback: {out}")
        # GDB detached at exit: now the CLI sees the same heap
        same(hs, t, "live", cli(t.pid))
        check(hs["timing"]["stopped_ns"] < 5e9, "stop time reported")
        t.cmd("report")  # still running and answering after GDB and heapsnap
    finally:
        t.close()


def test_core():
    t = Target()
    core = f"/tmp/heapgrab-gdbcore-{os.getpid()}"
    try:
        subprocess.run(["gcore", "-o", core, str(t.pid)], capture_output=True, check=True)
        live = cli(t.pid)
        out = gdb(TARGET, f"{core}.{t.pid}", "-ex", f"source {SCRIPT}", "-ex", "heapsnap --json")
        same(json_from(out), t, "core", live)
        pprof = f"{core}.pprof"
        out = gdb(TARGET, f"{core}.{t.pid}", "-ex", f"source {SCRIPT}", "-ex", f"heapsnap -o {pprof}")
        with open(pprof, "rb") as f:
            check(f.read(2) == b"\x1f\x8b", f"heapsnap -o wrote no gzipped profile: {out[-400:]}")
        os.unlink(pprof)
    finally:
        t.close()
        if os.path.exists(f"{core}.{t.pid}"):
            os.unlink(f"{core}.{t.pid}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_remote():
    if not shutil.which("gdbserver"):
        raise Skip("gdbserver not installed")
    t = Target()
    port = free_port()
    server = subprocess.Popen(["gdbserver", "--attach", f"127.0.0.1:{port}", str(t.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        out = gdb(TARGET, "-ex", f"target remote 127.0.0.1:{port}", "-ex", f"source {SCRIPT}",
                  "-ex", "heapsnap --json", "-ex", "detach")
        hs = json_from(out)
        server.wait(timeout=30)
        same(hs, t, "remote (gdbserver)", cli(t.pid))
    finally:
        if server.poll() is None:
            server.kill()
        t.close()


def test_sourced_from_python():
    """Another GDB Python script sources heapsnap.py (GDB keeps that
    script's __file__ while it runs ours): the heapgrab package is still
    found beside heapsnap.py, and heapsnap gives the target's figures."""
    t = Target()
    outer = f"/tmp/heapgrab-outer-{os.getpid()}.py"
    try:
        with open(outer, "w") as f:
            f.write("import gdb\n"
                    f"gdb.execute({'source ' + SCRIPT!r})\n"
                    "gdb.execute('heapsnap --json')\n")
        out = gdb("-p", str(t.pid), "-x", outer)
        check("Traceback" not in out and "ModuleNotFoundError" not in out,
              f"heapsnap.py sourced from a Python script: {out[-800:]}")
        same(json_from(out), t, "sourced from a Python script")
    finally:
        os.unlink(outer)
        t.close()


def test_errors():
    out = gdb("-ex", f"source {SCRIPT}", "-ex", "heapsnap")
    check("heapsnap: no process" in out and "Traceback" not in out,
          f"no inferior: want one GDB error line, got {out!r}")
    out = gdb("-ex", f"source {SCRIPT}", "-ex", "heapsnap --bogus")
    check("unknown argument" in out and "Traceback" not in out, f"bad argument: {out!r}")
    out = gdb("-ex", f"source {SCRIPT}", "-ex", "help heapsnap")
    check("Usage: heapsnap" in out and "--json" in out, f"help heapsnap: {out!r}")
    # a library that cannot be loaded: still a GDB error, not a traceback
    env = dict(os.environ, HEAPGRAB_LIBRARY="/nonexistent/libheapgrab.so")
    t = Target()
    try:
        r = subprocess.run(["gdb", "-batch", "-nx", "-p", str(t.pid), "-ex", f"source {SCRIPT}",
                            "-ex", "heapsnap"], capture_output=True, env=env, timeout=120)
        out = r.stdout.decode() + r.stderr.decode()
        check("cannot load libheapgrab" in out and "Traceback" not in out,
              f"missing library: {out[-600:]!r}")
    finally:
        t.close()


def main():
    if not shutil.which("gdb"):
        print("SKIP: gdb not installed")
        return 77
    return run("test_gdb", [test_live, test_core, test_remote, test_sourced_from_python,
                            test_errors])


if __name__ == "__main__":
    sys.exit(main())
