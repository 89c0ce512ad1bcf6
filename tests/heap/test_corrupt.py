#!/usr/bin/env python3
"""Corrupted live heaps: corrupt_target damages its own heap in one of
forty-odd ways (tests/targets/corrupt_target.c) and waits; heapgrab must
then, with symbols and with the heuristics:
  - finish within the timeout, exit 0 with the damage among its problems
    (a problem naming an address inside the damaged chunk or structure, or
    the bad pointer written there), or exit 7 (malloc's state not found)
    with one line on stderr;
  - never crash (the ASan build runs this too), never print more than one
    line on stderr;
  - leave the target running and untraced.
The undamaged control must give no problem at all.  Walking during the
stop (--memory-budget 0), where the free lists are followed after the
target runs again unless they show damage, must report the same problems
and figures as walking the copy.

Usage: test_corrupt.py [KIND...]   (default: every kind the target lists)
Environment: HEAPGRAB, HG_TARGET_DIR (where corrupt_target is).
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Failure, Skip, check, equal, run  # noqa: E402
import targets  # noqa: E402

HEAPGRAB = os.environ.get("HEAPGRAB", "")
TARGET = os.path.join(os.environ.get("HG_TARGET_DIR", ""), "corrupt_target")


def untraced_and_running(pid):
    targets.untraced_and_running(pid, allow_gone_threads=False)


def names_damage(problem, d):
    """The problem's address, or an address its text names, lies in the
    damaged chunk or structure, or is the bad pointer written there."""
    lo, hi = d["owner"] - 16, d["at"] + d["span"] + 16
    named = [int(problem["address"], 16)]
    named += [int(x, 16) for x in re.findall(r"0x[0-9a-f]+", problem["what"])]
    return any(lo <= a < hi or (d["value"] and a in (d["value"], d["value"] - 16,
                                                     d["value"] + 16)) for a in named)


def one_kind(kind):
    p = targets.Target([TARGET, kind], ready=None)
    try:
        line = p.line(eof_ok=True)
        if line is None and p.wait() == 3:
            raise Skip("this glibc's heap is not laid out as corrupt_target expects")
        check(line, f"corrupt_target {kind} said nothing (exit {p.p.poll()})")
        d = json.loads(line)
        copied = None
        for how in ("symbols", "heuristic", "walk"):
            argv = [HEAPGRAB, "stats", "--json", "--locate", how, str(d["pid"])]
            if how == "walk":
                argv = [HEAPGRAB, "stats", "--json", "--memory-budget", "0", str(d["pid"])]
            try:
                r = subprocess.run(argv, capture_output=True, timeout=120)
            except subprocess.TimeoutExpired:
                raise Failure(f"{kind} ({how}): heapgrab still running after 120 s")
            err = r.stderr.decode(errors="replace")
            check(r.returncode in (0, 7), f"{kind} ({how}): exit {r.returncode}: {err.strip()}")
            check(err.count("\n") <= 1, f"{kind} ({how}): more than one line on stderr: {err!r}")
            if r.returncode == 7:
                check(kind != "none", f"the undamaged heap ({how}): exit 7: {err.strip()}")
                check(err.startswith("heapgrab: "), f"{kind} ({how}): message {err!r}")
            else:
                s = json.loads(r.stdout)
                if how == "symbols":
                    copied = s
                if how == "walk":
                    equal(s["timing"]["pause"], "walk", f"{kind} (walk): how it paused")
                    check(copied is not None, f"{kind}: the copy's walk gave no figures")
                    equal(s["problems"], copied["problems"], f"{kind}: problems walking in the stop")
                    equal(s["mallinfo2"], copied["mallinfo2"], f"{kind}: figures walking in the stop")
                elif kind == "none":
                    equal(s["problems_total"], 0, f"undamaged heap ({how}): problems {s['problems']}")
                elif kind == "tcache_tls_garbage" and how == "heuristic":
                    # Without symbols nothing says which word of libc's TLS
                    # is the tcache pointer: it is found as the one word that
                    # points at a tcache in every thread, and a damaged one
                    # looks like any other word.  heapgrab then sees no
                    # tcache and counts its chunks as in use, as glibc's
                    # mallinfo2 does; the symbols run names the damage.
                    equal(s["mallinfo2"]["hblks"], 1, f"{kind} ({how}): figures")
                else:
                    check(s["problems_total"] > 0, f"{kind} ({how}): no problem reported")
                    check(any(names_damage(x, d) for x in s["problems"]),
                          f"{kind} ({how}): no problem names the damage at {d['at']:#x} "
                          f"(in {d['owner']:#x}, value {d['value']:#x}): {s['problems'][:4]}")
            untraced_and_running(d["pid"])
        # the pprof profile must come out too
        r = subprocess.run([HEAPGRAB, str(d["pid"]), "-o", "/dev/null"], capture_output=True,
                           timeout=120)
        check(r.returncode in (0, 7), f"{kind} (pprof): exit {r.returncode}: {r.stderr!r}")
        untraced_and_running(d["pid"])
    finally:
        p.close()


def main():
    kinds = sys.argv[1:] or subprocess.run([TARGET, "list"], capture_output=True,
                                           check=True).stdout.decode().split()
    tests = []
    for k in kinds:
        def t(k=k):
            one_kind(k)
        t.__name__ = k
        tests.append(t)
    return run("corrupted heaps", tests)


if __name__ == "__main__":
    sys.exit(main())
