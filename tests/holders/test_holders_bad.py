#!/usr/bin/env python3
"""Bad input for the holders analysis: bounded work, a problem reported, no
crash, the target resumed and released on every path.

    test_holders_bad.py

- every damage corrupt_target knows how to do to its own heap (sizes,
  tcache, fastbin and bin links, arena headers...): holders_dump exits 0
  with JSON (problems listed) or 1 with a message -- never a signal or a
  hang -- and the target is alive and traced by nobody afterwards;
- a core whose modules are missing (an empty --sysroot): refused with a
  message, no crash.

Environment: HOLDERS_DUMP, HOLDERS_CORRUPT_TARGET, HOLDERS_TARGET.
"""
import json
import os
import subprocess
import sys
import tempfile

DUMP = os.environ.get("HOLDERS_DUMP", "")
CORRUPT = os.environ.get("HOLDERS_CORRUPT_TARGET", "")
TARGET = os.environ.get("HOLDERS_TARGET", "")


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def tracer(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return -1


def dump(args, what):
    r = subprocess.run([DUMP] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    check(r.returncode in (0, 1), f"{what}: holders_dump ended with {r.returncode} "
          f"(a signal?): {r.stderr.decode()[-400:]}")
    if r.returncode == 0:
        return json.loads(r.stdout)
    check(r.stderr.strip(), f"{what}: failed without a message")
    return None


def corrupt_kinds():
    r = subprocess.run([CORRUPT, "list"], stdout=subprocess.PIPE, check=True)
    return [k for k in r.stdout.decode().split() if k]


def run_corrupt():
    counts = {"analysed": 0, "refused": 0, "with problems": 0}
    for kind in corrupt_kinds():
        p = subprocess.Popen([CORRUPT, kind], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            line = p.stdout.readline()
            check(line, f"{kind}: corrupt_target printed nothing")
            got = dump([str(p.pid)], kind)
            if got is None:
                counts["refused"] += 1
            else:
                counts["analysed"] += 1
                counts["with problems"] += bool(got["problems"])
                if kind != "none":
                    pass  # some damage is invisible to the walk (a stale link)
                else:
                    check(not got["problems"], f"undamaged heap: problems {got['problems']}")
            check(p.poll() is None, f"{kind}: the target died")
            check(tracer(p.pid) == 0, f"{kind}: the target is still traced")
        finally:
            p.stdin.close()
            p.wait(timeout=30)
    print("corrupt heaps:", counts)
    check(counts["with problems"] + counts["refused"] > 0, "no damage was seen at all")


def run_missing_module():
    p = subprocess.Popen([TARGET, "100"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        check(p.stdout.readline(), "holders_target printed nothing")
        with tempfile.TemporaryDirectory() as d:
            prefix = os.path.join(d, "core")
            r = subprocess.run(["gcore", "-o", prefix, str(p.pid)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=120)
            core = f"{prefix}.{p.pid}"
            if r.returncode != 0 or not os.path.exists(core):
                print("gcore failed: the missing-module case is not checked")
                return
            empty = os.path.join(d, "empty-sysroot")
            os.mkdir(empty)
            env = dict(os.environ)
            rr = subprocess.run([DUMP, "--core", core, "--sysroot", empty],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            check(rr.returncode in (0, 1), f"missing modules: ended with {rr.returncode}: "
                  f"{rr.stderr.decode()[-400:]}")
            print("missing modules:", "analysed" if rr.returncode == 0 else
                  "refused: " + rr.stderr.decode().strip()[:200])
    finally:
        p.stdin.close()
        p.wait(timeout=30)


def main():
    if not (DUMP and CORRUPT and TARGET):
        print("HOLDERS_DUMP, HOLDERS_CORRUPT_TARGET, HOLDERS_TARGET must be set")
        return 2
    if os.geteuid() != 0:
        return 77
    try:
        run_corrupt()
        run_missing_module()
    except Failure as e:
        print("FAIL:", e)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
