#!/usr/bin/env python3
"""SIGKILL heapgrab at random instants and check the target every time.

    scripts/kill-heapgrab.py [--kills N] [--seed S] [--heapgrab PATH] [--target PATH]

The target is tests/targets/gt_target holding 1.5 million small blocks in
the main arena and 30000 in a thread arena, so that a walk takes tens of
milliseconds.  Each round starts one of `heapgrab stats`, `heapgrab PID >
heap.pprof`, `heapgrab stacks` and `heapgrab profile` (1 s at 1000 Hz), and
kills it with SIGKILL: in half the rounds after a random time between 0 and
1.1 times the length of a whole run of that command, in the other half as
soon as heapgrab is seen tracing the target (within that time), at once or
up to half a millisecond later.  heapgrab gets no chance to clean
up: the kernel must detach the target's threads and let them run.  After
every kill the target must be untraced (every thread's TracerPid 0) and no
thread may stay stopped; at the end it must answer, and its heap (mallinfo2,
as heapgrab reads it) must be what it was.

Prints, for each command, how many kills came while heapgrab held the target
(some thread's TracerPid was heapgrab just before the kill), how many came
before or after that, and how many runs had finished first.  Exits 1 if the
target was ever left traced, stopped or dead.  The live_kills test runs it
with 80 kills; README gives the figures of a long run.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# the tests' one target driver: started, answered, always killed and reaped
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
from targets import Target  # noqa: E402


def tracers(pid):
    """{tid: TracerPid} of every thread of pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                out[int(tid)] = int([l for l in f if l.startswith("TracerPid:")][0].split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def stopped_threads(pid):
    found = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if st in ("t", "T"):
            found.append((int(tid), st))
    return found


def mallinfo(heapgrab, pid):
    r = subprocess.run([heapgrab, "stats", "--json", str(pid)], capture_output=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"heapgrab stats {pid}: exit {r.returncode}: {r.stderr!r}")
    return json.loads(r.stdout)["mallinfo2"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--heapgrab", default=os.environ.get("HEAPGRAB") or
                    os.path.join(HERE, "..", "build", "heapgrab"))
    ap.add_argument("--target", default=os.path.join(
        os.environ.get("HG_TARGET_DIR") or os.path.join(HERE, "..", "build", "tests"),
        "gt_target"))
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    out = f"/tmp/heapgrab-kills-{os.getpid()}.pprof"

    t = Target(args.target)
    failures = []
    try:
        t.cmd("alloc 1500000 64")
        t.cmd("thread_alloc 0 30000 100")
        t.cmd("thread_alloc 1 100 300")
        before = mallinfo(args.heapgrab, t.pid)
        if before != t.state["mallinfo2"]:
            raise RuntimeError(f"heapgrab's mallinfo2 {before} is not the target's "
                               f"{t.state['mallinfo2']}")
        P = str(t.pid)
        kinds = {
            "stats": ["stats", P],
            "snapshot": [P],
            "stacks": ["stacks", P],
            "profile": ["profile", "--seconds", "1", "--hz", "1000", P, "-o", out],
        }
        # how long a whole run of each takes, here and now
        length = {}
        for kind, argv in kinds.items():
            t0 = time.monotonic()
            r = subprocess.run([args.heapgrab, *argv], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=120)
            length[kind] = time.monotonic() - t0
            if r.returncode != 0:
                raise RuntimeError(f"heapgrab {' '.join(argv)}: exit {r.returncode}: "
                                   f"{r.stderr.decode().strip()}")
        counts = {k: {"holding": 0, "not holding": 0, "finished first": 0} for k in kinds}
        names = list(kinds)
        start = time.monotonic()
        for i in range(args.kills):
            kind = names[i % len(names)]
            delay = rng.uniform(0, 1.1 * length[kind])
            with open(os.devnull, "wb") as null:
                p = subprocess.Popen([args.heapgrab, *kinds[kind]], stdout=null,
                                     stderr=subprocess.DEVNULL)
            if i // len(names) % 2:
                # every other round: wait for a stop (a stacks stop lasts a
                # millisecond; uniform delays seldom hit one)
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline and p.pid not in tracers(t.pid).values():
                    pass
                if rng.random() < 0.5:
                    time.sleep(rng.uniform(0, 0.0005))
            else:
                time.sleep(delay)
            holding = p.pid in tracers(t.pid).values()
            p.kill()
            rc = p.wait()
            counts[kind]["finished first" if rc == 0 else
                         "holding" if holding else "not holding"] += 1
            # heapgrab has been reaped: the kernel has detached it from every
            # thread by now; they may take a moment to be scheduled again
            left = {tid: tr for tid, tr in tracers(t.pid).items() if tr}
            if left:
                failures.append(f"kill {i} ({kind} after {delay:.3f} s): traced {left}")
            for _ in range(1000):
                stopped = stopped_threads(t.pid)
                if not stopped:
                    break
                time.sleep(0.01)
            if stopped:
                failures.append(f"kill {i} ({kind} after {delay:.3f} s): stopped {stopped}")
            if t.p.poll() is not None:
                failures.append(f"kill {i} ({kind}): the target died ({t.p.returncode})")
                break
            if len(failures) > 20:
                break
        elapsed = time.monotonic() - start
        if t.p.poll() is None:
            t.cmd("report")
            if t.state["mallinfo2"] != before:
                failures.append(f"the target's heap changed: {t.state['mallinfo2']} vs {before}")
            after = mallinfo(args.heapgrab, t.pid)
            if after != before:
                failures.append(f"heapgrab's figures changed: {after} vs {before}")
    finally:
        t.close()
        if os.path.exists(out):
            os.unlink(out)

    total = sum(sum(c.values()) for c in counts.values())
    print(f"kill-heapgrab: {total} SIGKILLs (seed {seed}) in {elapsed:.0f} s; a whole run takes "
          + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in length.items()))
    for kind, c in counts.items():
        print(f"  {kind:9} " + ", ".join(f"{n} {what}" for what, n in c.items()))
    if failures:
        print(f"kill-heapgrab: FAILED: {len(failures)} times the target was not left running "
              "and untraced:")
        for f in failures:
            print("  " + f)
        return 1
    print("kill-heapgrab: the target was running and untraced after every kill, its heap "
          "unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
