#!/usr/bin/env python3
"""A soak: heapgrab against a busy, self-checking multithreaded target for
a long time (an hour by default), and the counts at the end.

    bench/soak.py BUILD_DIR [--seconds 3600] [--threads 4]

Over and over, at random: `heapgrab stats --json`, a pprof snapshot,
`heapgrab stacks`, a one-second `heapgrab profile`; meanwhile queued
signals (SIGRTMIN) are sent to the target at random moments.  The target
(bench/soak_target.c) fills every block it allocates with a pattern and
checks it before freeing it, and counts the signals it gets.

At the end it prints: runs and exit statuses per command, the problems
heapgrab reported (a target that is mid-malloc at a stop holds an arena's
lock: those are expected, and counted; a thread caught between the two
stores of a tcache update shows a count one off, which the next stop no
longer sees: a problem is counted as heapgrab's error only if two more
stats in a row see it again), stop times, and the target's own
counts -- blocks checked and found damaged (must be 0), signals sent and
received (must be equal) -- and whether the target is running and
untraced.  Exit status 0 when all of that holds.
"""
import argparse
import collections
import json
import os
import random
import re
import signal
import subprocess
import sys
import time


def state_of(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                out[tid] = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            pass
    return out


def tracer_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^TracerPid:\s*(\d+)", f.read(), re.M).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=3600)
    ap.add_argument("--threads", type=int, default=4)
    a = ap.parse_args()
    heapgrab = os.path.join(a.build, "heapgrab")
    target = os.path.join(a.build, "bench", "soak_target")
    p = subprocess.Popen([target, str(a.threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    pid = int(p.stdout.readline().split()[1])

    def ask():
        p.stdin.write("?\n")
        p.stdin.flush()
        w = p.stdout.readline().split()
        return {w[i]: int(w[i + 1]) for i in range(0, len(w), 2)}

    runs = collections.Counter()
    exits = collections.Counter()
    problems = collections.Counter()
    unexpected = collections.Counter()
    transient = collections.Counter()
    stops = []
    sent = 0
    failures = []
    t0 = time.time()
    rng = random.Random(1)
    last_report = t0
    while time.time() - t0 < a.seconds:
        what = rng.choices(["stats", "snapshot", "stacks", "profile"], [6, 3, 2, 1])[0]
        argv = {"stats": [heapgrab, "stats", "--json", str(pid)],
                "snapshot": [heapgrab, str(pid), "-o", "/dev/null"],
                "stacks": [heapgrab, "stacks", str(pid)],
                "profile": [heapgrab, "profile", "--seconds", "1", str(pid), "-o", "/dev/null"]}[what]
        h = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # signals while heapgrab works
        for _ in range(rng.randrange(0, 4)):
            time.sleep(rng.random() * 0.02)
            os.kill(pid, signal.SIGRTMIN)
            sent += 1
        try:
            out, err = h.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            h.kill()
            out, err = h.communicate()
            failures.append(f"{what}: hung (killed after 120 s)")
        runs[what] += 1
        exits[(what, h.returncode)] += 1
        if h.returncode != 0:
            failures.append(f"{what}: exit {h.returncode}: {err.decode(errors='replace').strip()}")
        if what == "stats" and h.returncode == 0:
            s = json.loads(out)
            stops.append(s["timing"]["stopped_ns"] / 1e6)
            # an arena whose lock was held at the stop may be mid-update:
            # its problems are expected; any other is heapgrab's error
            held = {x["index"] for x in s["arenas"] if x["mutex_held"]}
            others = []
            for x in s["problems"]:
                kind = re.sub(r"0x[0-9a-f]+|\d+", "N", x["what"])
                if x["arena"] in held or "lock was held" in kind:
                    problems[kind] += 1
                else:
                    others.append(x["what"])
            # A thread's tcache is changed without a lock, in two stores: a
            # stop between them shows a count one off.  Such a state passes;
            # corruption, or a mistake of heapgrab's, stays.  Look again
            # twice: what is seen all three times is counted as an error.
            if others:
                again = [json.loads(subprocess.run(argv, capture_output=True).stdout or "{}")
                         for _ in range(2)]
                for what in others:
                    kind = re.sub(r"0x[0-9a-f]+|\d+", "N", what)
                    if all(what in [x["what"] for x in a.get("problems", [])] for a in again):
                        unexpected[kind] += 1
                    else:
                        transient[kind] += 1
        st = state_of(pid)
        if tracer_of(pid) != 0 or any(v in "tT" for v in st.values()):
            failures.append(f"after {what}: target traced or stopped: {st}")
        if time.time() - last_report > 60:
            last_report = time.time()
            print(f"  {time.time() - t0:6.0f} s: {sum(runs.values())} runs, {len(failures)} failures",
                  flush=True)
    time.sleep(0.5)  # let the last signals land
    c = ask()
    alive = p.poll() is None
    p.stdin.close()
    p.wait()

    print(f"soak: {a.seconds:.0f} s, target {a.threads} threads, {c['ops']} allocations")
    for w in sorted(runs):
        codes = ", ".join(f"exit {code}: {n}" for (ww, code), n in sorted(exits.items()) if ww == w)
        print(f"  {w:9s} {runs[w]:6d} runs ({codes})")
    if stops:
        stops.sort()
        print(f"  stats stop: median {stops[len(stops) // 2]:.2f} ms, "
              f"99th {stops[int(len(stops) * 0.99)]:.2f} ms, max {stops[-1]:.2f} ms")
    print(f"  problems in arenas whose lock was held at the stop (expected): "
          f"{sum(problems.values())}")
    for k, n in problems.most_common(8):
        print(f"    {n:6d}  {k}")
    print(f"  other problems gone at the next stop (a thread caught mid-update): "
          f"{sum(transient.values())}")
    for k, n in transient.most_common(8):
        print(f"    {n:6d}  {k}")
    print(f"  problems seen at three stops in a row (heapgrab's errors): {sum(unexpected.values())}")
    for k, n in unexpected.most_common(8):
        print(f"    {n:6d}  {k}")
    print(f"  target: {c['checked']} blocks checked, {c['bad']} damaged; "
          f"signals sent {sent}, received {c['signals']}; "
          f"{'running' if alive else 'DEAD'}")
    ok = not failures and not unexpected and c["bad"] == 0 and c["signals"] == sent and alive
    for f in failures[:20]:
        print(f"  FAIL {f}")
    print("soak: ok" if ok else "soak: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
