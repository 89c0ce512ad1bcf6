#!/usr/bin/env python3
"""End to end: heapgrab holders, leaks, stats --holders and the default heap
profile on a live holders_target, against what the target says it built
(tests/targets/holders_target.c prints each root's retained objects and
bytes, the several roots' share and its leaks).

Skipped (exit 77, with the reason) while the library takes snapshots
without holders (hg_snapshot_take leaves them out): the outputs are tested
on synthetic snapshots meanwhile (test_holders_outputs, check_outputs.py).

Environment: HEAPGRAB (the CLI), HG_HOLDERS_TARGET (the target), HG_OUT (a
directory for the profile).
"""
import json
import os
import re
import shutil
import subprocess
import sys

HEAPGRAB = os.environ.get("HEAPGRAB", "")
TARGET = os.environ.get("HG_HOLDERS_TARGET", "")
OUT = os.environ.get("HG_OUT", "/tmp")
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("test_e2e: FAIL:", msg, file=sys.stderr)


def heapgrab(*args, binary=False):
    return subprocess.run([HEAPGRAB, *args], capture_output=True, timeout=120,
                          stdin=subprocess.DEVNULL, text=not binary)


def main():
    for name, path in (("HEAPGRAB", HEAPGRAB), ("HG_HOLDERS_TARGET", TARGET)):
        if not os.access(path, os.X_OK):
            print(f"{name}={path!r} is not executable: run through ctest", file=sys.stderr)
            return 1
    target = subprocess.Popen([TARGET, "200"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        truth = json.loads(target.stdout.readline())
        pid = str(truth["pid"])
        p = heapgrab("holders", "--json", pid)
        if p.returncode == 1 and "did not find who holds the memory" in p.stderr:
            print("test_e2e: skipped: this libheapgrab takes snapshots without holders "
                  "(hg_snapshot_take leaves s->holders NULL)", file=sys.stderr)
            return 77
        check(p.returncode == 0, f"holders --json: exit {p.returncode}: {p.stderr}")
        holders = json.loads(p.stdout)
        for want in truth["roots"]:
            key = "function" if want["kind"] == "stack" else "name"
            got = [r for r in holders["roots"]
                   if r["kind"] == want["kind"] and r[key] == want[key] and
                   (not want["thread"] or r["thread"] == want["thread"])]
            check(len(got) == 1, f"root {want}: found {got}")
            if len(got) == 1:
                for k in ("retained_objects", "retained_bytes"):
                    check(got[0][k] == want[k], f"root {want[key]}: {k} {got[0][k]}, "
                          f"the target says {want[k]}")
                check(got[0]["reachable_bytes"] is None or
                      got[0]["reachable_bytes"] >= got[0]["retained_bytes"],
                      f"root {want[key]} reaches less than it retains")
        check(holders["several_roots"] == {k: truth["several_roots"][k] for k in ("objects", "bytes")},
              f"several roots {holders['several_roots']}, the target says "
              f"{truth['several_roots']}")
        for k, v in truth["leaks"].items():
            check(holders["leaks"][k] == v, f"leaks {k}: {holders['leaks'][k]}, target {v}")

        p = heapgrab("leaks", "--json", pid)
        check(p.returncode == 0, f"leaks --json: exit {p.returncode}: {p.stderr}")
        leaks = json.loads(p.stdout)
        for k, v in truth["leaks"].items():
            check(leaks[k] == v, f"leaks --json {k}: {leaks[k]}, target {v}")
        p = heapgrab("leaks", pid)
        direct = truth["leaks"]["direct_bytes"] + truth["leaks"]["indirect_bytes"]
        objects = truth["leaks"]["direct_objects"] + truth["leaks"]["indirect_objects"]
        check(f"SUMMARY: heapgrab: {direct} byte(s) leaked in {objects} allocation(s)."
              in p.stdout, f"leaks text: {p.stdout[-300:]}")

        p = heapgrab("stats", "--json", "--holders", pid)
        stats = json.loads(p.stdout)
        for k in ("direct_objects", "direct_bytes", "indirect_objects", "indirect_bytes"):
            check(stats["leaks"][k] == truth["leaks"][k], f"stats leaks {k}")

        profile = os.path.join(OUT, "e2e.pb.gz")
        os.makedirs(OUT, exist_ok=True)
        p = heapgrab(pid, "-o", profile)
        check(p.returncode == 0, f"snapshot: exit {p.returncode}: {p.stderr}")
        go = shutil.which("go")
        if go and p.returncode == 0:
            env = dict(os.environ, PPROF_TMPDIR=os.path.join(OUT, "pprof-tmp"))
            top = subprocess.run([go, "tool", "pprof", "-top", "-cum", "-unit=B",
                                  "-nodefraction=0", profile], capture_output=True, text=True,
                                 env=env, timeout=120).stdout
            for want in truth["roots"]:
                if want["kind"] != "global":
                    continue
                m = re.search(rf"^\s*\S+\s+\S+\s+\S+\s+(\d+)B\s+\S+\s+{re.escape(want['name'])}$",
                              top, re.M)
                check(m and int(m.group(1)) == want["retained_bytes"],
                      f"pprof cum of {want['name']}: {m.group(1) if m else None}, "
                      f"retains {want['retained_bytes']}")
    finally:
        target.stdin.close()
        target.wait(timeout=30)
    if failures:
        print(f"test_e2e: {failures} failures", file=sys.stderr)
        return 1
    print("test_e2e: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
