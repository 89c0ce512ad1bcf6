#!/usr/bin/env python3
"""The long run of the hostile-core fuzzer (CI runs a minute of it:
tests/cores/test_cores.py mutants).

    scripts/fuzz-cores.py [--build build-asan] [--count 20000] [--seed 1] [--jobs 2]

Makes a gcore core and a kernel core of core_target (from the build
directory), then runs heapgrab on COUNT seeded mutants of them (bit flips,
header and note fields, file lists naming FIFOs, devices and secrets, cuts,
process memory; one run in ten is `stacks`, the rest `stats --json`) and
prints what happened: runs, exit statuses, crashes (signals and sanitizer
reports), hangs, other faults (a status not documented, stderr not one
line, a secret printed), and the slowest run.  Mutants that fail are kept
in --keep.  Needs root (gcore).  Exit status 0 if no run failed.
"""
import argparse
import collections
import concurrent.futures
import os
import random
import shutil
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "cores"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import hostile  # noqa: E402
from corelib import Core  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build-asan"),
                    help="build directory (heapgrab and tests/core_target)")
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120, help="seconds before a run is a hang")
    ap.add_argument("--keep", default="/tmp/heapgrab-fuzz-failures")
    args = ap.parse_args()

    args.build = os.path.abspath(args.build)
    heapgrab = os.path.join(args.build, "heapgrab")
    os.environ["HEAPGRAB"] = heapgrab
    os.environ["HG_CORE_TARGET"] = os.path.join(args.build, "tests", "core_target")
    # as scripts/test.sh runs the sanitizer build
    os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    os.environ.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    import test_cores  # reads the environment above

    tmp = tempfile.mkdtemp(prefix="heapgrab-fuzz-")
    os.makedirs(args.keep, exist_ok=True)
    try:
        # a copy: a rebuild during a long run must not pull it away
        shutil.copy2(heapgrab, os.path.join(tmp, "heapgrab"))
        heapgrab = os.path.join(tmp, "heapgrab")
        cores = test_cores.Cores(tmp)
        scene = hostile.Scene(os.path.join(tmp, "scene"))
        bases = [Core.read(p) for _, p in cores.kinds()]
        print(f"fuzz: {heapgrab}, {args.count} mutants of {len(bases)} cores "
              f"({', '.join(k for k, _ in cores.kinds())}), seed {args.seed}, "
              f"{args.jobs} jobs", flush=True)
        lock = threading.Lock()
        codes = collections.Counter()
        kinds = collections.Counter()
        failures = []
        slowest = [0.0, None]
        t0 = time.monotonic()

        def one(i):
            rng = random.Random(args.seed * 1_000_003 + i)
            what, data = hostile.mutate(bases[i % len(bases)], rng, scene)
            stacks = rng.random() < 0.1
            path = scene.write(f"mutant-{threading.get_ident()}.core", data)
            r = hostile.run(heapgrab, path, args=("stacks",) if stacks else ("stats", "--json"),
                            timeout=args.timeout)
            bad = hostile.faults(r, scene.secrets, json_out=not stacks)
            with lock:
                codes["hang" if r.timed_out else r.rc] += 1
                if r.secs > slowest[0]:
                    slowest[:] = [r.secs, f"mutant {i} ({what})"]
                if bad:
                    keep = os.path.join(args.keep, f"seed{args.seed}-{i}.core")
                    shutil.copy(path, keep)
                    for b in bad:
                        kinds[b.split(":")[0]] += 1
                    failures.append(f"mutant {i} ({what}, {'stacks' if stacks else 'stats'}): "
                                    f"{'; '.join(bad)}: {hostile.describe(r)} -> {keep}")
                    print("FAIL", failures[-1], flush=True)
                done = sum(codes.values())
                if done % 1000 == 0:
                    print(f"  {done} runs, {time.monotonic() - t0:.0f} s, "
                          f"{len(failures)} failures", flush=True)

        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(one, range(args.count)))
        secs = time.monotonic() - t0
        crashes = sum(v for k, v in kinds.items() if k.startswith(("killed", "sanitizer")))
        print(f"runs: {sum(codes.values())} in {secs:.0f} s ({sum(codes.values()) / secs:.1f}/s)")
        print("exit statuses: " + ", ".join(f"{k}: {v}" for k, v in
                                             sorted(codes.items(), key=lambda kv: str(kv[0]))))
        print(f"crashes: {crashes}, hangs: {codes.get('hang', 0)}, "
              f"failed runs: {len(failures)} {dict(kinds) if kinds else ''}")
        print(f"slowest run: {slowest[0]:.2f} s ({slowest[1]})")
        return 1 if failures else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
