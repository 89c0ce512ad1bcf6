#!/usr/bin/env python3
"""heapgrab against gt_target built and run inside Debian roots of other
glibc versions (scripts/make-roots.sh makes them), attached from the host:
with the root's debug files, and with them hidden (a private mount
namespace with an empty tmpfs over the root's /usr/lib/debug, the target
started inside it).  mallinfo2 must equal the target's own, both runs
must agree on every figure, and a gcore core of the process must give the
live figures.

Environment: HEAPGRAB, HEAPGRAB_ROOTS (default /var/tmp/heapgrab-roots).
Exits 77 (skipped) when no root is there.
"""
import json
import os
import shutil
import subprocess
import sys

HEAPGRAB = os.environ.get("HEAPGRAB", "")
ROOTS = os.environ.get("HEAPGRAB_ROOTS", "/var/tmp/heapgrab-roots")
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "targets", "gt_target.c")
# Suites heapgrab supports; any other root must be refused by name.
SUPPORTED = {"bullseye": "2.31", "trixie": "2.41"}
STEPS = ["alloc 1000 72", "free 60", "thread_alloc 0 300 100", "thread_free 0 9",
         "alloc 200 600", "big 2 2097152"]


def run_in(root, hide_debug):
    argv = ["chroot", root, "/tmp/gt_target"]
    if hide_debug:
        argv = ["unshare", "-m", "sh", "-c",
                f"mount -t tmpfs none {root}/usr/lib/debug && exec chroot {root} /tmp/gt_target"]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        state = json.loads(p.stdout.readline())
        for step in STEPS:
            p.stdin.write((step + "\n").encode())
            p.stdin.flush()
            state = json.loads(p.stdout.readline())
        pid = state["pid"]
        prefix = ["nsenter", "-t", str(pid), "-m"] if hide_debug else []
        r = subprocess.run(prefix + [HEAPGRAB, "stats", "--json", str(pid)], capture_output=True)
        if r.returncode != 0:
            return state, None, r.stderr.decode().strip()
        live = json.loads(r.stdout)
        # the same process as a core (gcore from the same namespace)
        core = f"/tmp/heapgrab-vcore-{os.getpid()}"
        subprocess.run(prefix + ["gcore", "-o", core, str(pid)], capture_output=True)
        r = subprocess.run(prefix + [HEAPGRAB, "stats", "--json", f"{core}.{pid}"],
                           capture_output=True)
        if os.path.exists(f"{core}.{pid}"):
            os.unlink(f"{core}.{pid}")
        if r.returncode != 0:
            return state, None, "core: " + r.stderr.decode().strip()
        from_core = json.loads(r.stdout)
        if from_core["mallinfo2"] != live["mallinfo2"] or \
                dict(from_core["totals"], released_bytes=0) != dict(live["totals"], released_bytes=0):
            return state, None, f"core differs from the live process: {from_core['mallinfo2']}"
        return state, live, ""
    finally:
        p.kill()
        p.wait()


def main():
    roots = sorted(d for d in os.listdir(ROOTS)) if os.path.isdir(ROOTS) else []
    roots = [os.path.join(ROOTS, d) for d in roots if os.path.exists(os.path.join(ROOTS, d, "usr/bin/gcc"))]
    if not roots:
        print(f"test_versions: skipped: no Debian roots in {ROOTS} (make them with scripts/make-roots.sh)")
        return 77
    passed = failed = 0
    for root in roots:
        shutil.copy(SRC, os.path.join(root, "tmp", "gt_target.c"))
        subprocess.run(["chroot", root, "gcc", "-O1", "-pthread", "-o", "/tmp/gt_target",
                        "/tmp/gt_target.c"], check=True)
        if os.path.basename(root) not in SUPPORTED:
            # a glibc heapgrab does not know: a clear refusal, never figures
            for hide in (False, True):
                state, hg, err = run_in(root, hide)
                ok = hg is None and "not supported" in err and "2." in err
                print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(root)} "
                      f"{'without' if hide else 'with'} debug info: refused: {err or 'figures!'}")
                passed += ok
                failed += not ok
            continue
        results = {}
        for hide in (False, True):
            name = f"{os.path.basename(root)} {'without' if hide else 'with'} debug info"
            state, hg, err = run_in(root, hide)
            problems = []
            if hg is None:
                problems.append(f"heapgrab failed: {err}")
            else:
                for k, v in state["mallinfo2"].items():
                    if hg["mallinfo2"][k] != v:
                        problems.append(f"mallinfo2.{k}: expected {v}, got {hg['mallinfo2'][k]}")
                if hg["problems_total"]:
                    problems.append(f"problems: {hg['problems'][:2]}")
                # tcache: main freed 60 chunks of 0x50 (7 to its tcache); the
                # worker's warm-up free(malloc(24)) plus 9 of 0x70 (1 + 7)
                tc = {x["tid"]: x["tcache_objects"] for x in hg["threads"]}
                worker = state["workers"][0]["tid"]
                if tc.get(state["main_tid"]) != 7 or tc.get(worker) != 8:
                    problems.append(f"tcache per thread: main {tc.get(state['main_tid'])} (want 7), "
                                    f"worker {tc.get(worker)} (want 8)")
                want = "heuristic" if hide else "symbols"
                if hg["locate"] != want:
                    problems.append(f"locate {hg['locate']}, expected {want}")
                results[hide] = hg
            print(f"{'FAIL' if problems else 'ok  '} {name}: glibc "
                  f"{hg['glibc'] if hg else '?'}" + ("; " + "; ".join(problems) if problems else ""))
            failed += bool(problems)
            passed += not problems
        if len(results) == 2:
            same = all(results[False][k] == results[True][k] for k in ("mallinfo2", "totals", "glibc"))
            print(f"{'ok  ' if same else 'FAIL'} {os.path.basename(root)}: same figures with and without")
            failed += not same
            passed += same
    print(f"test_versions: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
