#!/usr/bin/env python3
"""heapgrab stacks / heapgrab profile against stack_target, whose threads
run known call chains and say who they are (tid, name, role).

Usage: test_stacks.py TARGET...   (stack_target builds: -O0 with frame
pointers, -O2 without, so CFI does the work)
Environment: HEAPGRAB (the binary).
"""
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time

from harness import check

HEAPGRAB = os.environ.get("HEAPGRAB", "")
CHAINS = {  # innermost first, as each role's frames must show them (in order)
    "main": ["chain_c", "chain_b", "chain_a", "main"],
    "spin": ["spin_leaf", "spin_mid", "spin_outer"],
    "sleep": ["sleep_nap", "sleep_inner", "sleep_outer", "sleeper"],
    "deep": ["deep_bottom", "deep_down", "deep_outer"],
}


class Target:
    def __init__(self, path, nspin=2, deep=False, idle=0):
        self.p = subprocess.Popen([path, str(nspin)] + (["deep"] if deep else []) +
                                  ([f"idle={idle}"] if idle else []),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.info = json.loads(self.p.stdout.readline())
        self.pid = self.info["pid"]
        self.path = path

    def count(self):
        self.p.stdin.write(b"count\n")
        self.p.stdin.flush()
        return int(self.p.stdout.readline())

    def untraced_and_running(self):
        with open(f"/proc/{self.pid}/status") as f:
            check("TracerPid:\t0\n" in f.read(), "target still traced")
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            try:
                with open(f"/proc/{self.pid}/task/{tid}/stat") as f:
                    st = f.read().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError):
                continue  # a short-lived thread that has ended
            check(st not in ("t", "T"), f"thread {tid} left stopped")
        a = self.count()
        time.sleep(0.05)
        check(self.count() > a, "spinners make no progress after heapgrab")

    def ask(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().decode().strip()

    def close(self):
        self.p.kill()
        self.p.wait()


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


def raw_samples(path):
    """The samples of a profile as `go tool pprof -raw` prints them: a line
    of values, then the labels, one a line."""
    raw = pprof("-raw", path)
    out = []
    for line in raw.split("Samples:", 1)[1].split("Locations", 1)[0].splitlines()[2:]:
        if line.strip() and line.strip()[0].isdigit():
            count, wall, cpu = line.split(":")[0].split()
            out.append({"count": int(count), "wall": int(wall), "cpu": int(cpu)})
        elif "thread_id:[" in line:
            out[-1]["tid"] = int(line.split("[")[1].rstrip("]"))
        elif "thread_name:[" in line:
            out[-1]["name"] = line.split("[", 1)[1].rstrip("]")
    return out


def pprof(*args):
    # cwd /: pprof guesses a prefix to trim from source paths by looking for
    # the basename of its working directory in them (ctest runs in .../tests)
    r = subprocess.run(["go", "tool", "pprof", *args], capture_output=True, timeout=120, cwd="/")
    check(r.returncode == 0, f"go tool pprof {' '.join(args)}: {r.stderr.decode()[-500:]}")
    return r.stdout.decode()


def test_profile(path):
    t = Target(path)
    out = f"/tmp/heapgrab-cpu-{os.getpid()}.pprof"
    try:
        r = subprocess.run([HEAPGRAB, "profile", "--seconds", "2", "--hz", "100", str(t.pid),
                            "-o", out], capture_output=True, timeout=120)
        check(r.returncode == 0, f"profile: exit {r.returncode}: {r.stderr}")
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
        # one sample per thread per tick: the sleeper was sampled at every tick
        # (2 s at 100 Hz), and never counted as cpu
        with gzip.open(out) as f:
            check(len(f.read()) > 0, "empty profile")
        sleeper = t.info["threads"][-1]["tid"]
        mine = [s for s in raw_samples(out) if s["tid"] == sleeper]
        total, cpu = sum(s["count"] for s in mine), sum(s["cpu"] for s in mine)
        check(180 <= total <= 201, f"sleeper sampled {total} times in 2 s at 100 Hz")
        # A sleeper is runnable for a moment when it wakes, and when it
        # restarts the sleep our stop interrupted: a few ticks at most.
        check(cpu <= 0.05 * total * 10_000_000, f"sleeper counted {cpu} ns of cpu")
    finally:
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
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        check(p.returncode == 0, f"profile after SIGINT: exit {p.returncode}: {err}")
        check(b"interrupted" in err, f"no word of the interruption: {err}")
        check("spin_leaf" in pprof("-top", out), "interrupted profile lacks the spinners")
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
        print("     (test_priority: not root, heapgrab may not raise its priority; skipped)")
        return
    t = Target(path, nspin=4)
    out = f"/tmp/heapgrab-prio-{os.getpid()}.pprof"
    log = f"/tmp/heapgrab-prio-{os.getpid()}.strace"
    try:
        tids = os.listdir(f"/proc/{t.pid}/task")
        before = {tid: sched_of(t.pid, tid) for tid in tids}
        # LeakSanitizer cannot run under a tracer; the other tests check leaks
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
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
        check(into >= 40, f"only {into} stops in SCHED_FIFO over 50 ticks")
        check(back == into, f"{into} switches into SCHED_FIFO, {back} out of it")
        check(tick_sleeps >= 25, f"only {tick_sleeps} of 49 sleeps between ticks seen")
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
    """Threads born during a profile are sampled from the next tick on, and
    threads that end leave nothing behind in heapgrab: a thread that starts
    and joins a thousand short-lived threads a second runs throughout, and
    heapgrab's open files stay few."""
    t = Target(path, nspin=1)
    out = f"/tmp/heapgrab-come-{os.getpid()}.pprof"
    try:
        check(t.ask("churn") == "churning", "the target did not start churning")
        p = subprocess.Popen([HEAPGRAB, "profile", "--seconds", "2", "--hz", "50", str(t.pid),
                              "-o", out], stderr=subprocess.PIPE)
        time.sleep(0.5)
        late = int(t.ask("spawn"))
        most_fds = 0
        while p.poll() is None:
            try:
                most_fds = max(most_fds, len(os.listdir(f"/proc/{p.pid}/fd")))
            except OSError:
                break
            time.sleep(0.05)
        _, err = p.communicate(timeout=60)
        check(p.returncode == 0, f"profile: exit {p.returncode}: {err}")
        check(most_fds < 40, f"heapgrab held {most_fds} files open: stat files of dead threads?")
        late_samples = sum(s["count"] for s in raw_samples(out) if s["tid"] == late)
        # born 0.5 s into a 2 s profile at 50 Hz: about 75 ticks after it
        check(late_samples >= 50, f"thread {late}, born mid-profile, has {late_samples} samples")
        top = pprof("-top", "-noinlines", f"-tagfocus=thread_id={late}", out)
        check("spin_leaf" in top, f"the late thread's samples are not its spin loop:\n{top}")
        t.untraced_and_running()
    finally:
        t.close()
        if os.path.exists(out):
            os.unlink(out)


def test_many_threads(path):
    """600 threads take milliseconds to stop, longer than a tick at 100 Hz.
    heapgrab skips ticks rather than keep the target stopped more than a
    tenth of the time, says so, ends on time, and weighs each sample by the
    ticks it stands for, so a thread's wall time is still the profile's
    length."""
    t = Target(path, nspin=1, idle=600)
    out = f"/tmp/heapgrab-many-{os.getpid()}.pprof"
    try:
        t0 = time.time()
        r = subprocess.run([HEAPGRAB, "profile", "--seconds", "2", "--hz", "100", str(t.pid),
                            "-o", out], capture_output=True, timeout=120)
        took = time.time() - t0
        err = r.stderr.decode()
        check(r.returncode == 0, f"profile: exit {r.returncode}: {err}")
        m = re.search(r"(\d+) samples in ([\d.]+) s; all threads stopped ([\d.]+) ms per", err)
        check(m, f"no summary: {err}")
        n, secs, mean_ms = int(m.group(1)), float(m.group(2)), float(m.group(3))
        share = n * mean_ms / 1000 / secs
        check(share <= 0.15, f"target stopped {100 * share:.0f}% of the time: {err}")
        check(re.search(r"\d+ ticks skipped", err), f"skipped ticks not reported: {err}")
        check(secs <= 2.1 and took < 10, f"a 2 s profile took {secs} s ({took:.1f} s in all)")
        sleeper = [x for x in t.info["threads"] if x["role"] == "sleep"][0]["tid"]
        wall = sum(s["wall"] for s in raw_samples(out) if s["tid"] == sleeper)
        check(0.85 * secs * 1e9 <= wall <= 1.05 * 2e9,
              f"the sleeper's wall time is {wall / 1e9:.2f} s of a {secs} s profile")
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
    or heapgrab waits forever for a leader the kernel holds back."""
    for attempt in range(4):
        t = Target(path, nspin=16)
        out = f"/tmp/heapgrab-exit-{os.getpid()}.pprof"
        try:
            p = subprocess.Popen([HEAPGRAB, "profile", "--seconds", "60", str(t.pid), "-o", out],
                                 stderr=subprocess.PIPE)
            time.sleep(0.5 + 0.013 * attempt)
            t.p.kill()
            try:
                _, err = p.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise AssertionError(f"attempt {attempt}: heapgrab hangs on a killed target")
            t.p.wait()
            check(p.returncode == 0, f"profile of a target that died: exit {p.returncode}: {err}")
            check(b"exited" in err, f"no word of the exit: {err}")
            check("spin_leaf" in pprof("-top", out), "the samples before the exit are missing")
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
        t.p.stdin.write(b"leave\n")
        t.p.stdin.flush()
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
        print("  (no C++ target built: demangling check skipped)")
        return
    p = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        pid = int(p.stdout.readline())
        r = subprocess.run([HEAPGRAB, "stacks", str(pid)], capture_output=True, timeout=60)
        check(r.returncode == 0, f"stacks: {r.stderr}")
        check("app::Worker<long>::spin(int)" in r.stdout.decode(),
              f"no demangled C++ frame:\n{r.stdout.decode()[-1500:]}")
    finally:
        p.kill()
        p.wait()


def main():
    targets = sys.argv[1:]
    only = os.environ.get("ONLY")  # ONLY=test_priority: run just that one
    failed = passed = 0
    for path in targets:
        for test in (test_dump, test_profile, test_interrupt, test_priority, test_deep,
                     test_threads_come_and_go, test_many_threads, test_walk_agrees,
                     test_target_exits, test_leader_gone, test_errors):
            if only and test.__name__ != only:
                continue
            t0 = time.time()
            try:
                test(path)
                passed += 1
                print(f"ok   {test.__name__} {os.path.basename(path)} ({time.time() - t0:.1f}s)")
            except Exception as e:
                failed += 1
                print(f"FAIL {test.__name__} {os.path.basename(path)}: {type(e).__name__}: {e}")
    if only and only != "test_demangled":
        print(f"test_stacks: {passed} passed, {failed} failed")
        return 1 if failed else 0
    try:
        test_demangled()
        passed += 1
        print("ok   test_demangled")
    except Exception as e:
        failed += 1
        print(f"FAIL test_demangled: {type(e).__name__}: {e}")
    print(f"test_stacks: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
