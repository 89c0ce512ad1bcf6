#!/usr/bin/env python3
"""heapgrab stacks / heapgrab profile against stack_target, whose threads
run known call chains and say who they are (tid, name, role).

Usage: test_stacks.py TARGET...   (stack_target builds: -O0 with frame
pointers, -O2 without, so CFI does the work)
Environment: HEAPGRAB (the binary).

Every check holds on a busy machine (two CPU hogs beside the suite): none
counts on heapgrab, the target or this script getting a CPU at any given
moment.  What a profile says is checked against its own accounting (its
samples, duration and stops) and against the kernel's (the threads' and
the process's CPU clocks); how many ticks a loaded machine lets heapgrab
take, and how long stops last, are bench/stacks.sh's business.
"""
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Skip, check, run as run_tests  # noqa: E402
import targets  # noqa: E402

HEAPGRAB = os.environ.get("HEAPGRAB", "")
CHAINS = {  # innermost first, as each role's frames must show them (in order)
    "main": ["chain_c", "chain_b", "chain_a", "main"],
    "spin": ["spin_leaf", "spin_mid", "spin_outer"],
    "sleep": ["sleep_nap", "sleep_inner", "sleep_outer", "sleeper"],
    "deep": ["deep_bottom", "deep_down", "deep_outer"],
}


class Target(targets.Target):
    """stack_target: its first line names its threads and their roles."""

    def __init__(self, path, nspin=2, deep=False, idle=0):
        super().__init__([path, str(nspin)] + (["deep"] if deep else []) +
                         ([f"idle={idle}"] if idle else []))
        self.info = self.state
        self.path = path
        try:
            self.settle()
        except BaseException:
            self.close()
            raise

    def settle(self):
        """Wait until main is back in its read of stdin (after printing an
        answer it may still be in fflush) and the sleeper in its nap: the
        call chains the tests expect.  /proc/PID/task/TID/syscall names
        the system call a thread is blocked in."""
        want = {self.pid: ("0",)}  # read
        # (clock_)nanosleep, or restart_syscall: the same sleep, resumed
        # after a stop interrupted it
        want.update({x["tid"]: ("35", "230", "219") for x in self.info["threads"]
                     if x["role"] == "sleep"})
        deadline = time.time() + 60
        for tid, calls in want.items():
            while True:
                try:
                    with open(f"/proc/{self.pid}/task/{tid}/syscall") as f:
                        if f.read().split()[0] in calls:
                            break
                except (OSError, IndexError):
                    break  # gone (main after "leave")
                check(time.time() < deadline, f"thread {tid} never went back to sleep")
                time.sleep(0.001)

    def count(self):
        return int(self.ask("count"))

    def untraced_and_running(self):
        self.left_alone()
        # the spinners go on (whenever the machine gives them a CPU)
        a = self.count()
        deadline = time.time() + 30
        while self.count() == a and time.time() < deadline:
            time.sleep(0.01)
        check(self.count() > a, "spinners make no progress after heapgrab")
        self.settle()

    def cpu_ns(self, tid=None):
        """A thread's CPU time (its schedstat), or with no tid the whole
        process's (its CPU clock, which CLOCK_PROCESS_CPUTIME_ID reads
        inside it: every thread, those that have ended included)."""
        if tid is None:
            return time.clock_gettime_ns(((~self.pid) << 3) | 2)  # MAKE_PROCESS_CPUCLOCK
        with open(f"/proc/{self.pid}/task/{tid}/schedstat") as f:
            return int(f.read().split()[0])



def parse_stacks(text):
    """{tid: (name, state, [(function, file, line, inlined)])}"""
    threads, cur = {}, None
    for line in text.splitlines():
        if line.startswith("thread "):
            head, rest = line.split('"', 1)
            name, state = rest.rsplit('"', 1)
            cur = int(head.split()[1])
            threads[cur] = (name, state.strip()[1], [])
        elif line.strip().startswith("#") and cur is not None:
            parts = line.split()
            fn = parts[2]
            inlined = "(inlined)" in line
            fn = fn.split("+0x")[0]
            file, ln = None, 0
            if " at " in line:
                loc = line.rsplit(" at ", 1)[1]
                file, ln = loc.rsplit(":", 1)
                ln = int(ln)
            threads[cur][2].append((fn, file, ln, inlined))
    return threads


def in_order(names, chain):
    it = iter(names)
    return all(any(n == c for n in it) for c in chain)


def check_chains(threads, info, what, exe_name):
    for t in info["threads"]:
        check(t["tid"] in threads, f"{what}: thread {t['tid']} ({t['name']}) missing")
        name, state, frames = threads[t["tid"]]
        names = [f[0] for f in frames]
        check(in_order(names, CHAINS[t["role"]]),
              f"{what}: thread {t['tid']} ({t['role']}) frames {names} lack {CHAINS[t['role']]}")
        want = exe_name[:15] if t["role"] == "main" else t["name"]
        check(name in (want, ""), f"{what}: thread {t['tid']} named {name!r}, want {want!r}")
        if t["role"] == "sleep":
            nap = [f for f in frames if f[0] == "sleep_nap"][0]
            check(nap[3], f"{what}: sleep_nap not shown as inlined into sleep_inner: {frames}")
        if t["role"] == "spin":
            leaf = [f for f in frames if f[0] == "spin_leaf"][0]
            check(leaf[1] and leaf[1].endswith("stack_target.c") and
                  info["spin_line"] - 3 <= leaf[2] <= info["spin_line"] + 2,  # spin_leaf's body
                  f"{what}: spin_leaf at {leaf[1]}:{leaf[2]}, want line ~{info['spin_line']}")


def test_dump(path):
    t = Target(path)
    try:
        r = subprocess.run([HEAPGRAB, "stacks", str(t.pid)], capture_output=True, timeout=60)
        check(r.returncode == 0, f"stacks: exit {r.returncode}: {r.stderr}")
        threads = parse_stacks(r.stdout.decode())
        check_chains(threads, t.info, "live", os.path.basename(path))
        states = {x["role"]: threads[x["tid"]][1] for x in t.info["threads"]}
        check(states["sleep"] == "S" and states["main"] == "S", f"states {states}")
        t.untraced_and_running()
        # the same process as a core
        core = f"/tmp/heapgrab-stcore-{os.getpid()}"
        subprocess.run(["gcore", "-o", core, str(t.pid)], capture_output=True, check=True)
        try:
            r = subprocess.run([HEAPGRAB, "stacks", f"{core}.{t.pid}"], capture_output=True,
                               timeout=60)
            check(r.returncode == 0, f"stacks on a core: {r.stderr}")
            check_chains(parse_stacks(r.stdout.decode()), t.info, "core", os.path.basename(path))
        finally:
            os.unlink(f"{core}.{t.pid}")
    finally:
        t.close()


def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7f) << shift
        shift += 7
        if c < 0x80:
            return v, i


def _fields(b):
    """(field, wire type, value) of one protobuf message."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt in (1, 5):
            n = 8 if wt == 1 else 4
            v, i = int.from_bytes(b[i:i + n], "little"), i + n
        else:
            raise ValueError(f"protobuf wire type {wt}")
        yield f, wt, v


def _ints(wt, v):
    """A repeated integer field, packed or not."""
    if wt == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        out.append(x)
    return out


def read_profile(path):
    """The profile's own figures, exactly, from its protobuf (profile.proto):
    time_nanos, duration_nanos, comments, and the samples, each a dict of
    its values by sample type plus its tid and thread name."""
    with gzip.open(path) as f:
        data = f.read()
    strings, raw, types, comments, top = [], [], [], [], {}
    for f, wt, v in _fields(data):
        if f == 6:
            strings.append(v.decode())
        elif f == 2:
            raw.append(v)
        elif f == 1:
            types.append({g: x for g, _, x in _fields(v)})
        elif f == 13:
            comments += _ints(wt, v)
        elif wt == 0:
            top[f] = v
    names = [strings[t.get(1, 0)] for t in types]
    samples = []
    for b in raw:
        values, labels = [], {}
        for f, wt, v in _fields(b):
            if f == 2:
                values += _ints(wt, v)
            elif f == 3:
                lb = {g: x for g, _, x in _fields(v)}
                labels[strings[lb.get(1, 0)]] = strings[lb[2]] if lb.get(2) else lb.get(3, 0)
        sm = dict(zip(names, values))
        sm["tid"], sm["name"] = labels.get("thread_id"), labels.get("thread_name")
        samples.append(sm)
    return {"time_nanos": top.get(9, 0), "duration_nanos": top.get(10, 0),
            "comments": [strings[c] for c in comments], "samples": samples}


def per_thread(prof, value):
    out = {}
    for sm in prof["samples"]:
        out[sm["tid"]] = out.get(sm["tid"], 0) + sm[value]
    return out


def summary(err):
    """The CLI's account of a profile: (samples, seconds, mean stop ms, max
    stop ms, ticks skipped)."""
    m = re.search(r"(\d+) samples in ([\d.]+) s.*; all threads stopped ([\d.]+) ms per sample "
                  r"on average, ([\d.]+) ms at most", err)
    check(m, f"no summary on stderr: {err}")
    sk = re.search(r"(\d+) ticks skipped", err)
    return (int(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4)),
            int(sk.group(1)) if sk else 0)


def wait_for_a_stop(pid, hg, what, timeout=120, or_exit=False):
    """Wait until heapgrab (process hg, a Popen) has stopped the target
    once and let it go again (the target's TracerPid is heapgrab while it
    holds it): from then on the profile has a sample.  With or_exit,
    heapgrab may end first: say whether it stopped the target."""
    def tracer():
        try:
            with open(f"/proc/{pid}/status") as f:
                return int(f.read().split("TracerPid:", 1)[1].split()[0])
        except (OSError, IndexError, ValueError):
            return -1
    deadline = time.time() + timeout
    seen = False
    while time.time() < deadline and hg.poll() is None:
        t = tracer()
        if t == hg.pid:
            seen = True
        elif seen:
            return True
    check(or_exit and hg.poll() is not None,
          f"{what}: heapgrab never stopped the target (exit {hg.poll()})")
    return False


def pprof(*args):
    if not shutil.which("go"):
        raise Skip("go not installed: go tool pprof cannot read the profile")
    # cwd /: pprof guesses a prefix to trim from source paths by looking for
    # the basename of its working directory in them (ctest runs in .../tests)
    r = subprocess.run(["go", "tool", "pprof", *args], capture_output=True, timeout=120, cwd="/")
    check(r.returncode == 0, f"go tool pprof {' '.join(args)}: {r.stderr.decode()[-500:]}")
    return r.stdout.decode()


def test_profile(path):
    t = Target(path)
    out = f"/tmp/heapgrab-cpu-{os.getpid()}.pprof"
    try:
        tids = [x["tid"] for x in t.info["threads"]]
        before = {tid: t.cpu_ns(tid) for tid in tids}
        r = subprocess.run([HEAPGRAB, "profile", "--seconds", "2", "--hz", "100", str(t.pid),
                            "-o", out], capture_output=True, timeout=120)
        after = {tid: t.cpu_ns(tid) for tid in tids}
        err = r.stderr.decode()
        check(r.returncode == 0, f"profile: exit {r.returncode}: {err}")
        t.untraced_and_running()
        # -noinlines: the spin loop's time is spin_leaf's own, whichever of
        # its instructions (some from spin_step, inlined) a tick landed on
        top = pprof("-top", "-noinlines", "-nodecount=3", out)
        body = top.split("flat%", 1)[1].splitlines()[1:]
        check(body and body[0].split()[-1] == "spin_leaf",
              f"top of the CPU profile is not spin_leaf:\n{top}")
        flat = float(body[0].split()[1].rstrip("%"))
        check(flat > 90, f"spin_leaf holds only {flat}% of the CPU time:\n{top}")
        # inlined frames in the profile: the sleeper's, sampled at every tick
        traces = pprof("-traces", "-sample_index=samples", "-tagfocus=thread_name=^sleeper$", out)
        check("sleep_nap (inline)" in traces, f"no inlined frame in the profile:\n{traces[:1500]}")
        listing = pprof("-list", "spin_leaf", out)
        check("work[i].n++" in listing, f"-list shows no source:\n{listing[:800]}")
        raw = pprof("-raw", out)
        samples = raw.split("Samples:", 1)[1].split("Locations", 1)[0]
        blocks = [b for b in samples.split("\n") if b.strip() and b.strip()[0].isdigit()]
        names = samples.count("thread_name:[")
        ids = samples.count("thread_id:[")
        check(len(blocks) > 0 and names == len(blocks) == ids,
              f"labels: {len(blocks)} samples, {names} thread_name, {ids} thread_id")
        # One sample per thread per stop: every thread is in every sample
        # taken, and each sample stands for the time since the one before,
        # so each thread's wall time is the profile's whole length, which
        # is the 2 s asked.
        n = summary(err)[0]
        prof = read_profile(out)
        dur = prof["duration_nanos"]
        check(dur >= 2_000_000_000, f"a 2 s profile covers {dur / 1e9} s: {err}")
        counts, walls = per_thread(prof, "samples"), per_thread(prof, "wall")
        cpus = per_thread(prof, "cpu")
        for tid in tids:
            check(counts.get(tid) == n, f"thread {tid} in {counts.get(tid)} of {n} samples")
            check(walls.get(tid) == dur, f"thread {tid}'s wall time {walls.get(tid)} ns, "
                                         f"the profile's {dur} ns")
            # a thread's cpu is CPU time it used (its schedstat), no more:
            # the sleeper and main, asleep, use next to none; the spinners
            # share the CPUs with each other and whatever else runs
            used = after[tid] - before[tid]
            check(cpus.get(tid, 0) <= used,
                  f"thread {tid} counted {cpus.get(tid, 0)} ns of cpu; it used {used} ns")
        spun = sum(cpus[x["tid"]] for x in t.info["threads"] if x["role"] == "spin")
        check(spun > 0, "the spinners have no cpu")
    finally:
        t.close()
        if os.path.exists(out):
            os.unlink(out)


def test_cpu_total(path):
    """A profile's cpu is the CPU time the target used, however many of its
    threads are waiting for a CPU: 8 busy threads on this machine's CPUs
    (and whatever else runs) are all runnable ("R") all the time, but only
    use what they get.  The sum of cpu over the profile must match the
    process's own CPU clock over the profile's span (its start, time_nanos,
    to time_nanos + duration_nanos), which a thread of this script reads
    all along; the clock's value at those two instants lies between two of
    its readings."""
    t = Target(path, nspin=8)
    out = f"/tmp/heapgrab-cputotal-{os.getpid()}.pprof"
    readings, done = [], threading.Event()

    def poll():
        while not done.is_set():
            a = time.time_ns()
            c = t.cpu_ns()
            readings.append((a, c, time.time_ns()))
            time.sleep(0.002)

    def a_reading_after(n):  # whenever the poller gets a CPU
        deadline = time.time() + 60
        while len(readings) <= n and time.time() < deadline:
            time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        a_reading_after(0)
        r = subprocess.run([HEAPGRAB, "profile", "--seconds", "2", "--hz", "100", str(t.pid),
                            "-o", out], capture_output=True, timeout=120)
        a_reading_after(len(readings) + 1)  # begun after heapgrab ended
        done.set()
        poller.join()
        err = r.stderr.decode()
        check(r.returncode == 0, f"profile: exit {r.returncode}: {err}")
        prof = read_profile(out)
        begin = prof["time_nanos"]
        end = begin + prof["duration_nanos"]

        def bracket(at):
            """(least, most) the process's CPU clock can have read at `at`"""
            lo = [c for a, c, b in readings if b <= at]
            hi = [c for a, c, b in readings if a >= at]
            check(lo and hi, f"no reading of the target's CPU clock around {at}")
            return lo[-1], hi[0]

        b_lo, b_hi = bracket(begin)
        e_lo, e_hi = bracket(end)
        least, most = e_lo - b_hi, e_hi - b_lo
        cpu = sum(sm["cpu"] for sm in prof["samples"])
        slack = 10_000_000  # 10 ms: the clocks' own steps, a thread's reading to the next
        check(least * 0.95 - slack <= cpu <= most * 1.05 + slack,
              f"the profile holds {cpu / 1e9:.3f} s of cpu; the process used "
              f"{least / 1e9:.3f}-{most / 1e9:.3f} s over its {prof['duration_nanos'] / 1e9:.3f} s")
        t.untraced_and_running()
    finally:
        done.set()
        poller.join()
        t.close()
        if os.path.exists(out):
            os.unlink(out)


def test_interrupt(path):
    """Ctrl-C ends a profile early; the profile is still written and the
    target left running."""
    t = Target(path)
    out = f"/tmp/heapgrab-int-{os.getpid()}.pprof"
    try:
        p = subprocess.Popen([HEAPGRAB, "profile", "--seconds", "60", str(t.pid), "-o", out],
                             stderr=subprocess.PIPE)
        wait_for_a_stop(t.pid, p, "interrupt")
        time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=120)
        check(p.returncode == 0, f"profile after SIGINT: exit {p.returncode}: {err}")
        check(b"interrupted" in err, f"no word of the interruption: {err}")
        check("spin_leaf" in pprof("-top", "-sample_index=samples", out),
              "interrupted profile lacks the spinners")
        # it covers what it sampled, no more: the time up to its last sample
        prof = read_profile(out)
        sleeper = t.info["threads"][-1]["tid"]
        dur = prof["duration_nanos"]
        check(0 < dur < 60e9 and per_thread(prof, "wall").get(sleeper) == dur,
              f"the sleeper's wall time {per_thread(prof, 'wall').get(sleeper)} ns, "
              f"the profile's {dur} ns")
        t.untraced_and_running()
    finally:
        t.close()
        if os.path.exists(out):
            os.unlink(out)


def sched_of(pid, tid=None):
    """(nice, policy) of a task, from /proc/.../stat fields 19 and 41."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    with open(path) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[16]), int(rest[38])


def test_priority(path):
    """heapgrab raises its own priority and never the target's.  It takes
    the real-time class (SCHED_FIFO) only while it holds the target
    stopped: each switch into it is undone before heapgrab sleeps to the
    next tick.  Its system calls, as strace sees them, tell exactly when it
    is in the class (watching /proc from outside cannot: the watcher gets a
    core mostly while the target is stopped, so its counts lean that way)."""
    if os.geteuid() != 0:
        raise Skip("not root: heapgrab may not raise its priority")
    t = Target(path, nspin=4)
    out = f"/tmp/heapgrab-prio-{os.getpid()}.pprof"
    log = f"/tmp/heapgrab-prio-{os.getpid()}.strace"
    try:
        tids = os.listdir(f"/proc/{t.pid}/task")
        before = {tid: sched_of(t.pid, tid) for tid in tids}
        # LeakSanitizer cannot run under a tracer; the other tests check leaks
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
        if not shutil.which("strace"):
            raise Skip("strace not installed")
        r = subprocess.run(["strace", "-f", "--seccomp-bpf", "-qq", "-e", "signal=none", "-o", log,
                            "-e", "trace=sched_setscheduler,setpriority,nanosleep,clock_nanosleep",
                            HEAPGRAB, "profile", "--seconds", "1", "--hz", "50", str(t.pid),
                            "-o", out], stderr=subprocess.PIPE, timeout=120, env=env)
        check(r.returncode == 0, f"profile under strace: exit {r.returncode}: {r.stderr}")
        fifo, into, back, tick_sleeps, nice20 = False, 0, 0, 0, False
        with open(log) as f:
            for line in f:
                call = line.split(None, 1)[1] if line[:1].isdigit() else line
                if " = -1 " in call:
                    continue  # a call that failed changed nothing
                if call.startswith("setpriority(PRIO_PROCESS, 0, -20)"):
                    nice20 = True
                elif re.match(r"sched_setscheduler\(0, (SCHED_FIFO|0x4000000)1", call):
                    # 0x40000001: SCHED_FIFO | SCHED_RESET_ON_FORK, which
                    # strace does not name
                    check(not fifo, f"switched into SCHED_FIFO twice without leaving it: {call}")
                    fifo, into = True, into + 1
                elif call.startswith("sched_setscheduler(0, SCHED_OTHER"):
                    check(fifo, f"left SCHED_FIFO without having entered it: {call}")
                    fifo, back = False, back + 1
                elif "nanosleep(" in call:
                    m = re.search(r"tv_sec=(\d+), tv_nsec=(\d+)", call)
                    ns = int(m.group(1)) * 10**9 + int(m.group(2)) if m else 0
                    # Waiting for a thread to stop sleeps 20 us in the class;
                    # sleeping to the next tick (ms at 50 Hz) must not.
                    if ns >= 200000:
                        check(not fifo, f"sleeps to the next tick in SCHED_FIFO: {call}")
                        tick_sleeps += 1
        # once per stop: the profile says how many there were
        stops = summary(r.stderr.decode())[0]
        check(into == stops, f"{into} switches into SCHED_FIFO for {stops} stops")
        check(back == into, f"{into} switches into SCHED_FIFO, {back} out of it")
        # heapgrab sleeps at least to the end of the profile (its last tick)
        check(tick_sleeps >= 1, "no sleep between ticks seen")
        check(nice20, "heapgrab did not set itself to nice -20 for the run")
        after = {tid: sched_of(t.pid, tid) for tid in tids}
        check(after == before, f"the target's scheduling changed: {before} -> {after}")
        t.untraced_and_running()
    finally:
        t.close()
        for f in (out, log):
            if os.path.exists(f):
                os.unlink(f)


def test_deep(path):
    """A thread 640 KiB deep in recursion.  A one-shot dump copies whole
    stacks and shows every level; a profile copies at most 512 KiB of each
    stack at a tick (to keep the stop short), so that thread's samples lose
    their outer frames, and heapgrab says how many."""
    t = Target(path, nspin=1, deep=True)
    out = f"/tmp/heapgrab-deep-{os.getpid()}.pprof"
    try:
        deep = [x for x in t.info["threads"] if x["role"] == "deep"][0]
        r = subprocess.run([HEAPGRAB, "stacks", str(t.pid)], capture_output=True, timeout=60)
        check(r.returncode == 0, f"stacks: exit {r.returncode}: {r.stderr}")
        check(b"deeper" not in r.stderr, f"a one-shot dump cut a stack: {r.stderr}")
        threads = parse_stacks(r.stdout.decode())
        check_chains(threads, t.info, "live", os.path.basename(path))
        names = [f[0] for f in threads[deep["tid"]][2]]
        check(names.count("deep_down") == deep["levels"],
              f"{names.count('deep_down')} levels of deep_down shown, {deep['levels']} live")
        r = subprocess.run([HEAPGRAB, "profile", "--seconds", "0.5", "--hz", "20", str(t.pid),
                            "-o", out], capture_output=True, timeout=60)
        check(r.returncode == 0, f"profile: exit {r.returncode}: {r.stderr}")
        err = r.stderr.decode()
        m = re.search(r"(\d+) samples in", err)
        cut = re.search(r"(\d+) thread samples have stacks deeper than the 512 KiB copied", err)
        check(m and cut and cut.group(1) == m.group(1),
              f"want every one of the deep thread's samples said to be cut: {err}")
        top = pprof("-top", "-nodecount=200", "-sample_index=samples",
                    "-tagfocus=thread_name=^deep$", out)
        check("deep_bottom" in top and "deep_outer" not in top,
              f"the deep thread's profile should hold its inner frames only:\n{top[:1500]}")
        t.untraced_and_running()
    finally:
        t.close()
        if os.path.exists(out):
            os.unlink(out)


def test_threads_come_and_go(path):
    """Threads born during a profile are sampled from the next stop on, and
    threads that end leave nothing behind in heapgrab: a thread that starts
    and joins a thousand short-lived threads a second runs throughout, and
    heapgrab's open files stay few."""
    out = f"/tmp/heapgrab-come-{os.getpid()}.pprof"
    # On a loaded machine one stop can use up the profile's budget of
    # stopped time (a tenth), and then there is no stop after the thread's
    # birth to find it: try again, a few times.
    for attempt in range(4):
        t = Target(path, nspin=1)
        try:
            check(t.ask("churn") == "churning", "the target did not start churning")
            p = subprocess.Popen([HEAPGRAB, "profile", "--seconds", "2", "--hz", "50",
                                  str(t.pid), "-o", out], stderr=subprocess.PIPE)
            wait_for_a_stop(t.pid, p, "come and go")
            late = int(t.ask("spawn"))
            born_by = time.time_ns()
            stopped_since = wait_for_a_stop(t.pid, p, "come and go", or_exit=True)
            most_fds = 0
            while p.poll() is None:
                try:
                    most_fds = max(most_fds, len(os.listdir(f"/proc/{p.pid}/fd")))
                except OSError:
                    break
                time.sleep(0.05)
            _, err = p.communicate(timeout=60)
            check(p.returncode == 0, f"profile: exit {p.returncode}: {err}")
            check(most_fds < 40,
                  f"heapgrab held {most_fds} files open: stat files of dead threads?")
            prof = read_profile(out)
            wall = per_thread(prof, "wall").get(late, 0)
            if not stopped_since:  # none seen: a short one may have gone unseen
                print(f"     (attempt {attempt}: no stop seen after the thread's birth: "
                      f"{err.decode().strip()})")
                continue
            # Born after a stop and before another, the thread is in every
            # sample from that one on, and each sample stands for the time
            # since the one before: its wall time covers at least from its
            # birth (before `born_by`) to the end, and is less than the
            # whole profile.
            end = prof["time_nanos"] + prof["duration_nanos"]
            check(end - born_by - 2_000_000 <= wall < prof["duration_nanos"],
                  f"thread {late}, born {(end - born_by) / 1e9:.3f} s before the end of a "
                  f"{prof['duration_nanos'] / 1e9:.3f} s profile, has {wall / 1e9:.3f} s of wall "
                  f"time: {err.decode()}")
            top = pprof("-top", "-noinlines", "-sample_index=samples",
                        f"-tagfocus=thread_id={late}", out)
            check("spin_leaf" in top, f"the late thread's samples are not its spin loop:\n{top}")
            t.untraced_and_running()
            return
        finally:
            t.close()
            if os.path.exists(out):
                os.unlink(out)
    check(False, "no profile in 4 stopped the target after the thread's birth")


def test_many_threads(path):
    """600 threads take milliseconds to stop, longer than a tick at 100 Hz.
    heapgrab skips ticks rather than keep the target stopped more than a
    tenth of the time, says so, still covers the 2 s asked (the last sample
    stands for the time up to the end when the target may not be stopped
    again), and weighs each sample by the time it stands for, so every
    thread's wall time is the profile's length."""
    t = Target(path, nspin=1, idle=600)
    out = f"/tmp/heapgrab-many-{os.getpid()}.pprof"
    try:
        r = subprocess.run([HEAPGRAB, "profile", "--seconds", "2", "--hz", "100", str(t.pid),
                            "-o", out], capture_output=True, timeout=300)
        err = r.stderr.decode()
        check(r.returncode == 0, f"profile: exit {r.returncode}: {err}")
        n, secs, mean_ms, max_ms, skipped = summary(err)
        prof = read_profile(out)
        dur = prof["duration_nanos"]
        tick = 10_000_000
        check(dur >= 2_000_000_000 - tick and secs >= 1.99,
              f"a 2 s profile covers {dur / 1e9} s (the CLI says {secs} s): {err}")
        # Each of the 200 ticks was taken or skipped, and said to be.
        check(skipped > 0 and n + skipped == 200,
              f"{n} samples and {skipped} ticks skipped of 200: {err}")
        # At most a tenth of the time stopped, give or take the 20 ms one
        # stop may run over and the stop that began within the budget
        # (the CLI rounds the mean to 1 us; the last stop may begin a
        # little after the profile's last reading, a tick at most).
        stopped = n * (mean_ms + 0.0005) / 1000
        check(stopped <= 0.10 * (dur + tick) / 1e9 + 0.020 + max_ms / 1000,
              f"target stopped {stopped:.3f} s of {dur / 1e9:.3f} s: {err}")
        walls = per_thread(prof, "wall")
        check(len(walls) == 603, f"{len(walls)} threads in the profile, 603 live")
        odd = {tid: w for tid, w in walls.items() if w != dur}
        check(not odd, f"threads whose wall time is not the profile's {dur} ns: "
                       f"{list(odd.items())[:5]}")
        t.untraced_and_running()
    finally:
        t.close()
        if os.path.exists(out):
            os.unlink(out)


def test_walk_agrees(path):
    """heapgrab's own walk (CFA rules cached per pc) must find exactly the
    frames libdwfl's unwinder finds, on the same stack copies, and must not
    be handing every thread to libdwfl (bench/unwinders does both walks)."""
    tool = os.environ.get("HG_UNWINDERS")
    check(tool and os.access(tool, os.X_OK), "HG_UNWINDERS (bench/unwinders) not built")
    t = Target(path, nspin=2)
    try:
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
        r = subprocess.run([tool, str(t.pid), "30"], capture_output=True, timeout=120, env=env)
        out = r.stdout.decode()
        check(r.returncode == 0, f"unwinders: exit {r.returncode}: {r.stderr.decode()}")
        m = re.search(r"heapgrab's walk and libdwfl (\d+), libunwind and libdwfl \d+, of (\d+)", out)
        check(m and m.group(1) == m.group(2) and int(m.group(2)) > 0,
              f"heapgrab's walk and libdwfl disagree:\n{out}")
        fb = re.search(r"libdwfl for ([\d.]+)% of threads", out)
        check(fb and float(fb.group(1)) == 0.0,
              f"heapgrab's walk gave threads of plain code to libdwfl:\n{out}")
        t.untraced_and_running()
    finally:
        t.close()


def test_target_exits(path):
    """The target dying mid-profile ends the profile; what was sampled is
    still written, and heapgrab says why it stopped.  With 16 spinners on
    a small machine a stop lasts milliseconds, so some of these kills land
    inside one: the process's threads must all be reaped, the leader last,
    or heapgrab waits forever for a leader the kernel holds back.  Each
    kill comes after heapgrab's first stop (a target that dies before any
    sample is a process that exited: exit 3, test_errors' case)."""
    for attempt in range(4):
        t = Target(path, nspin=16)
        out = f"/tmp/heapgrab-exit-{os.getpid()}.pprof"
        try:
            p = subprocess.Popen([HEAPGRAB, "profile", "--seconds", "60", str(t.pid), "-o", out],
                                 stderr=subprocess.PIPE)
            wait_for_a_stop(t.pid, p, f"attempt {attempt}")
            time.sleep(0.013 * attempt)
            t.signal(signal.SIGKILL)
            try:
                _, err = p.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise AssertionError(f"attempt {attempt}: heapgrab hangs on a killed target")
            t.wait()
            check(p.returncode == 0, f"profile of a target that died: exit {p.returncode}: {err}")
            check(b"exited" in err, f"no word of the exit: {err}")
            check("spin_leaf" in pprof("-top", "-sample_index=samples", out),
                  "the samples before the exit are missing")
            # it covers the time up to its last sample
            prof = read_profile(out)
            sleeper = t.info["threads"][-1]["tid"]
            check(per_thread(prof, "wall").get(sleeper) == prof["duration_nanos"] > 0,
                  f"the sleeper's wall time {per_thread(prof, 'wall').get(sleeper)} ns, "
                  f"the profile's {prof['duration_nanos']} ns")
        finally:
            t.close()
            if os.path.exists(out):
                os.unlink(out)


def test_leader_gone(path):
    """A process whose main thread called pthread_exit lives on in its
    other threads: those are shown, the profile runs, and the zombie leader
    is left alone."""
    t = Target(path)
    try:
        t.send("leave")
        for _ in range(200):
            with open(f"/proc/{t.pid}/task/{t.pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        r = subprocess.run([HEAPGRAB, "stacks", str(t.pid)], capture_output=True, timeout=60)
        check(r.returncode == 0, f"stacks without a main thread: exit {r.returncode}: {r.stderr}")
        threads = parse_stacks(r.stdout.decode())
        info = dict(t.info, threads=[x for x in t.info["threads"] if x["role"] != "main"])
        check_chains(threads, info, "leader gone", os.path.basename(path))
        check(t.pid not in threads, "the zombie main thread is listed")
        r = subprocess.run([HEAPGRAB, "profile", "--seconds", "0.3", str(t.pid), "-o", "/dev/null"],
                           capture_output=True, timeout=60)
        check(r.returncode == 0, f"profile without a main thread: exit {r.returncode}: {r.stderr}")
        r = subprocess.run([HEAPGRAB, "stats", str(t.pid)], capture_output=True, timeout=60)
        check(r.returncode == 0, f"stats without a main thread: exit {r.returncode}: {r.stderr}")
        check(f"  {t.pid} " not in r.stdout.decode().split("threads", 1)[-1],
              "stats lists the zombie main thread")
        with open(f"/proc/{t.pid}/status") as f:
            check("TracerPid:\t0\n" in f.read(), "target still traced")
    finally:
        t.close()


def test_errors(path):
    r = subprocess.run([HEAPGRAB, "profile", "--hz", "0", "1"], capture_output=True)
    check(r.returncode == 2 and r.stderr.count(b"\n") == 1, f"--hz 0: {r.returncode} {r.stderr}")
    r = subprocess.run([HEAPGRAB, "profile", path], capture_output=True)
    check(r.returncode == 2 and b"core" in r.stderr, f"profile of a file: {r.returncode} {r.stderr}")
    r = subprocess.run([HEAPGRAB, "stacks", "no-such-file"], capture_output=True)
    check(r.returncode == 2, f"stacks of nothing: {r.returncode}")
    r = subprocess.run([HEAPGRAB, "stacks", str(2 ** 22 + 7)], capture_output=True)
    check(r.returncode == 3, f"stacks of a missing process: {r.returncode} {r.stderr}")


def test_demangled():
    """C++ frames come out as C++ names: app::Worker<long>::spin(int)."""
    path = os.environ.get("HG_CXX_TARGET")
    if not path:
        raise Skip("no C++ compiler: cxx_target not built")
    with targets.Target(path, ready="line") as p:
        pid = int(p.state)
        r = subprocess.run([HEAPGRAB, "stacks", str(pid)], capture_output=True, timeout=60)
        check(r.returncode == 0, f"stacks: {r.stderr}")
        check("app::Worker<long>::spin(int)" in r.stdout.decode(),
              f"no demangled C++ frame:\n{r.stdout.decode()[-1500:]}")


def main():
    paths = sys.argv[1:]
    only = os.environ.get("ONLY")  # ONLY=test_priority: run just that one
    tests = []
    for path in paths:
        for test in (test_dump, test_profile, test_cpu_total, test_interrupt, test_priority,
                     test_deep,
                     test_threads_come_and_go, test_many_threads, test_walk_agrees,
                     test_target_exits, test_leader_gone, test_errors):
            def on_path(test=test, path=path):
                test(path)
            on_path.__name__ = f"{test.__name__} {os.path.basename(path)}"
            if not only or test.__name__ == only:
                tests.append(on_path)
    if not only or only == "test_demangled":
        tests.append(test_demangled)
    return run_tests("test_stacks", tests)


if __name__ == "__main__":
    sys.exit(main())
