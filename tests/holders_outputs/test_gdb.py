#!/usr/bin/env python3
"""heapsnap holders / heapsnap leaks in real GDB (batch mode), attached to
holders_outputs_target: argument errors are one GDB error line (never a
traceback); the figures are the target's own.  Skipped (exit 77, with the
reason) without gdb, and, after the argument checks, while the library
takes snapshots without holders.

Environment: HEAPGRAB_LIBRARY (shared library), HG_HOLDERS_TARGET.
"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.normpath(os.path.join(HERE, "..", "..", "gdb", "heapsnap.py"))
TARGET = os.environ.get("HG_HOLDERS_TARGET", "")
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("test_gdb: FAIL:", msg, file=sys.stderr)


def gdb(pid, *commands):
    argv = ["gdb", "-batch", "-nx", "-ex", "set pagination off", "-p", str(pid),
            "-ex", f"source {SCRIPT}"]
    for c in commands:
        argv += ["-ex", c]
    r = subprocess.run(argv, capture_output=True, timeout=180, stdin=subprocess.DEVNULL)
    return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def main():
    if not shutil.which("gdb"):
        print("test_gdb: skipped: gdb is not installed", file=sys.stderr)
        return 77
    target = subprocess.Popen([TARGET, "100"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        truth = json.loads(target.stdout.readline())
        pid = truth["pid"]
        for cmd, want in (("heapsnap holders --bogus", "unknown argument '--bogus'"),
                          ("heapsnap leaks -o x.pprof", "unknown argument '-o'"),
                          ("heapsnap holders --by-size", "unknown argument '--by-size'"),
                          ("heapsnap --by-size", "--by-size goes with -o FILE")):
            out = gdb(pid, cmd)
            check(want in out and "Traceback" not in out, f"{cmd}: {out[-600:]}")
        out = gdb(pid, "heapsnap holders --json")
        check("Traceback" not in out, f"holders: {out[-800:]}")
        if "did not find who holds the memory" in out:
            print("test_gdb: the figures skipped: this libheapgrab takes snapshots without "
                  "holders", file=sys.stderr)
            return 1 if failures else 77
        start = out.find("{\n")
        check(start >= 0, f"no JSON: {out[-800:]}")
        doc = json.JSONDecoder().raw_decode(out[start:])[0] if start >= 0 else {"roots": []}
        for want in truth["roots"]:
            if want["kind"] != "global":
                continue
            got = [r for r in doc["roots"] if r["kind"] == "global" and r["name"] == want["name"]]
            check(len(got) == 1 and got[0]["retained_bytes"] == want["retained_bytes"],
                  f"{want['name']}: {got}, the target says {want['retained_bytes']}")
        out = gdb(pid, "heapsnap leaks")
        lk = truth["leaks"]
        check(f"SUMMARY: heapgrab: {lk['direct_bytes'] + lk['indirect_bytes']} byte(s) leaked in "
              f"{lk['direct_objects'] + lk['indirect_objects']} allocation(s)." in out,
              f"leaks: {out[-600:]}")
    finally:
        target.stdin.close()
        target.wait(timeout=60)
    if failures:
        print(f"test_gdb: {failures} failures", file=sys.stderr)
        return 1
    print("test_gdb: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
