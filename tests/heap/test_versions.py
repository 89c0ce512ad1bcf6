#!/usr/bin/env python3
"""heapgrab against gt_target built and run inside Debian and Ubuntu roots of
other glibc versions (scripts/make-roots.sh makes them), attached from the
host: with the root's debug files, and with them hidden (a private mount
namespace with an empty tmpfs over the root's /usr/lib/debug, the target
started inside it).  For each root and each way:

  - mallinfo2 equals the target's own, all ten fields;
  - each thread's tcache holds exactly what glibc's fill count lets it keep;
  - a memaligned mmapped chunk moves inuse by exactly its usable bytes;
  - mmapped_bytes equals hblkhd: the chunks' mappings, which from 2.43 end
    16 bytes after each chunk;
  - from 2.42, with glibc.malloc.tcache_max raised, freed 5000-byte blocks
    land in a large tcache bin and are counted there;
  - a kernel core of the process gives the live figures; a gcore core does
    too, except that from 2.42 gdb cannot read thread stacks (guard pages)
    and heapgrab must then say so instead of counting zeros;
  - with and without debug information the figures are identical;
  - in a container (new mount and PID namespaces, pivot_root into the newest
    root, its own /proc), attached from the host by the host's PID, the
    figures are the same as for the chrooted process;
  - a statically linked build of the target gives its own figures, found
    through symbols and through the heuristics; so does one without threads,
    which links no version string, under a version range holding the root's
    (before 2.35, where that range's releases differ, a refusal naming it);
  - targets that moved malloc's thresholds (a freed mmapped chunk, mallopt,
    GLIBC_TUNABLES) are read without debug information as with it;
  - garbage the target writes over a large-bin chunk's fd_nextsize is
    reported at that chunk;
  - a forked child whose main heap and thread arena grew after the fork
    (each then several mappings) gives its own figures, with and without
    debug information.

Environment: HEAPGRAB, HEAPGRAB_ROOTS (default /var/tmp/heapgrab-roots).
Exits 77 (skipped) when no root is there.
"""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import fill_count, threshold_cases  # noqa: E402
import targets  # noqa: E402

HEAPGRAB = os.environ.get("HEAPGRAB", "")
ROOTS = os.environ.get("HEAPGRAB_ROOTS", "/var/tmp/heapgrab-roots")
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "targets", "gt_target.c")
# Roots heapgrab supports, with their glibc; any other root must be refused
# by name.
SUPPORTED = {"bullseye": "2.31", "jammy": "2.35", "noble": "2.39", "trixie": "2.41",
             "questing": "2.42", "sid": "2.43", "exp244": "2.44"}
STEPS = ["alloc 1000 72", "free 60", "thread_alloc 0 300 100", "thread_free 0 9",
         "alloc 200 600", "big 2 2097152"]
ALIGN_STEP = "big_align 2 1024 1048576"
# From 2.42 the tcache can hold large chunks (glibc.malloc.tcache_max).
LARGE_STEPS = ["alloc 20 5000", "alloc 1 64", "free_step 0 12 1"]


def heapgrab(prefix, target, *options):
    r = subprocess.run(prefix + [HEAPGRAB, "stats", "--json", *options, str(target)],
                       capture_output=True)
    if r.returncode != 0:
        return None, r.stderr.decode().strip()
    return json.loads(r.stdout), ""


class Run(targets.Target):
    """gt_target chrooted in root, optionally with the debug files hidden."""

    def __init__(self, root, hide_debug, env=None):
        self.root, self.hide = root, hide_debug
        inner = f"exec chroot {root} /tmp/gt_target"
        argv = ["sh", "-c", "ulimit -c unlimited; cd /tmp; " + inner]
        if hide_debug:
            argv = ["unshare", "-m", "sh", "-c", f"mount -t tmpfs none {root}/usr/lib/debug && "
                    "ulimit -c unlimited && " + inner]
        super().__init__(argv, env=env, same_pid=False)
        self.prefix = ["nsenter", "-t", str(self.pid), "-m"] if hide_debug else []

    def stats(self):
        return heapgrab(self.prefix, self.pid)

    def kernel_core(self):
        """SIGABRT: the kernel writes ROOT/core (core_pattern 'core', cwd /)."""
        path = os.path.join(self.root, "core")
        if os.path.exists(path):
            os.unlink(path)
        self.abort_and_wait(60)
        return path if os.path.exists(path) else None


def same_figures(a, b):
    return a["mallinfo2"] == b["mallinfo2"] and \
        dict(a["totals"], released_bytes=0) == dict(b["totals"], released_bytes=0)


def check_root(root, hide, version, kernel_cores):
    """Returns (figures or None, list of problems)."""
    problems = []
    run = Run(root, hide)
    try:
        for step in STEPS:
            run.cmd(step)
        hg, err = run.stats()
        if hg is None:
            return None, [f"heapgrab failed: {err}"]
        st = run.state
        for k, v in st["mallinfo2"].items():
            if hg["mallinfo2"][k] != v:
                problems.append(f"mallinfo2.{k}: expected {v}, got {hg['mallinfo2'][k]}")
        if hg["problems_total"]:
            problems.append(f"problems: {hg['problems'][:2]}")
        # mmapped_bytes counts what glibc counts in hblkhd (mp_.mmapped_mem):
        # whole mappings, which from 2.43 hold 16 bytes past each chunk
        tail = 16 if version >= (2, 43) else 0
        mapped = st["big"]["chunk"] + tail * st["big"]["n"]
        if (hg["totals"]["mmapped_objects"], hg["totals"]["mmapped_bytes"]) != \
                (st["mallinfo2"]["hblks"], st["mallinfo2"]["hblkhd"]) or \
                st["mallinfo2"]["hblkhd"] != mapped:
            problems.append(f"mmapped {hg['totals']['mmapped_objects']} chunks, "
                            f"{hg['totals']['mmapped_bytes']} bytes; the target's hblks "
                            f"{st['mallinfo2']['hblks']}, hblkhd {st['mallinfo2']['hblkhd']}, "
                            f"its chunks and their tails {mapped}")
        # main freed 60 chunks of 0x50; the worker its warm-up 0x20 chunk and
        # 9 of 0x70: each bin keeps up to glibc's fill count
        n = fill_count(version)
        tc = {x["tid"]: x["tcache_objects"] for x in hg["threads"]}
        worker = st["workers"][0]["tid"]
        if tc.get(st["main_tid"]) != min(60, n) or tc.get(worker) != 1 + min(9, n):
            problems.append(f"tcache per thread: main {tc.get(st['main_tid'])} (want {min(60, n)}), "
                            f"worker {tc.get(worker)} (want {1 + min(9, n)})")
        want = "heuristic" if hide else "symbols"
        if hg["locate"] != want:
            problems.append(f"locate {hg['locate']}, expected {want}")

        # memaligned mmapped chunks: inuse moves by exactly their usable bytes
        before_big = st["big"]
        after = run.cmd(ALIGN_STEP)
        hg2, err = run.stats()
        if hg2 is None:
            problems.append(f"after {ALIGN_STEP}: {err}")
        else:
            d_obj = hg2["totals"]["inuse_objects"] - hg["totals"]["inuse_objects"]
            d_bytes = hg2["totals"]["inuse_bytes"] - hg["totals"]["inuse_bytes"]
            want_obj = after["big"]["n"] - before_big["n"]
            want_bytes = after["big"]["usable"] - before_big["usable"]
            if (d_obj, d_bytes) != (want_obj, want_bytes) or hg2["mallinfo2"] != after["mallinfo2"]:
                problems.append(f"memalign'd mmapped chunks: inuse +{d_obj} objects +{d_bytes} bytes, "
                                f"want +{want_obj} +{want_bytes}")

        # the same process as a gcore core
        core = f"/tmp/heapgrab-vcore-{os.getpid()}"
        subprocess.run(run.prefix + ["gcore", "-o", core, str(run.pid)], capture_output=True)
        from_core, err = heapgrab(run.prefix, f"{core}.{run.pid}")
        if os.path.exists(f"{core}.{run.pid}"):
            os.unlink(f"{core}.{run.pid}")
        if from_core is None:
            problems.append(f"gcore core: {err}")
        elif not same_figures(from_core, hg2 or hg):
            said = any("thread control block" in p["what"] for p in from_core["problems"])
            if version < (2, 42) or not said:
                problems.append(f"gcore core differs from the live process: {from_core['mallinfo2']}")
        # and as a kernel core
        if kernel_cores and hg2 is not None:
            path = run.kernel_core()
            if not path:
                problems.append("no kernel core was written")
            else:
                # The kernel names files as the process saw them: --sysroot
                # points into the root (whose debug files are hidden again,
                # in a new namespace, for the run without them).
                prefix = ["unshare", "-m", "sh", "-c", f"mount -t tmpfs none {root}/usr/lib/debug"
                          ' && exec "$0" "$@"'] if hide else []
                from_kcore, err = heapgrab(prefix, path, "--sysroot", root)
                os.unlink(path)
                if from_kcore is None:
                    problems.append(f"kernel core: {err}")
                elif not same_figures(from_kcore, hg2):
                    problems.append(f"kernel core differs from the live process: "
                                    f"{from_kcore['mallinfo2']}")
        return hg, problems
    finally:
        run.close()


def check_thresholds(root, version):
    """Targets that moved malloc's thresholds (harness.threshold_cases):
    with debug files and without (the heuristics must still find mp_),
    mallinfo2 equal to the target's own, no problems, and the same figures
    both ways.  Returns a list of (case name, problems)."""
    out = []
    for name, tunables, commands, moved in threshold_cases(version):
        problems, figures = [], {}
        for hide in (False, True):
            way = "without debug info" if hide else "with debug info"
            run = Run(root, hide, {"GLIBC_TUNABLES": tunables} if tunables else None)
            try:
                for c in commands:
                    run.cmd(c)
                if not moved(run.state["mallinfo2"]):
                    problems.append(f"{way}: the thresholds did not move: the target's "
                                    f"mallinfo2 is {run.state['mallinfo2']}")
                hg, err = run.stats()
                if hg is None:
                    problems.append(f"{way}: {err}")
                    continue
                if hg["mallinfo2"] != run.state["mallinfo2"]:
                    problems.append(f"{way}: mallinfo2 {hg['mallinfo2']} != the target's "
                                    f"{run.state['mallinfo2']}")
                if hg["problems_total"]:
                    problems.append(f"{way}: problems {hg['problems'][:2]}")
                if hg["locate"] != ("heuristic" if hide else "symbols"):
                    problems.append(f"{way}: locate {hg['locate']}")
                figures[hide] = hg
            finally:
                run.close()
        if len(figures) == 2 and not same_figures(figures[False], figures[True]):
            problems.append("figures differ with and without debug info")
        out.append((name, problems))
    return out


def in_range(label, version):
    """Whether a version label ("2.36", or a range "2.35-2.41") holds version."""
    lo, _, hi = label.partition("-")
    lo = tuple(int(x) for x in lo.split("."))
    hi = tuple(int(x) for x in hi.split(".")) if hi else lo
    return lo <= version <= hi


def check_static_single_threaded(root, version):
    """gt_target built -static without threads: no glibc version string is
    linked in.  heapgrab must give the target's own figures under a version
    range holding the root's release -- or, where the releases its malloc
    could be from differ (before 2.35), refuse, naming a range that holds
    it."""
    p = targets.Target(["chroot", root, "/tmp/gt_target_static_st"], same_pid=False)
    try:
        for step in ("alloc 1000 72", "free 60", "alloc 200 600", "big 2 2097152"):
            state = p.cmd(step)
        problems = []
        for how in ("auto", "heuristic"):
            hg, err = heapgrab([], state["pid"], "--locate", how)
            if hg is None:
                named = re.findall(r"\b2\.\d+\b", err)
                if version >= (2, 35) or "cannot tell the glibc version" not in err or \
                        len(named) < 2 or not in_range(f"{named[0]}-{named[1]}", version):
                    problems.append(f"{how}: {err}")
                continue
            if not in_range(hg["glibc"], version):
                problems.append(f"{how}: glibc {hg['glibc']!r} does not hold the root's")
            if hg["mallinfo2"] != state["mallinfo2"]:
                problems.append(f"{how}: mallinfo2 {hg['mallinfo2']} != {state['mallinfo2']}")
            if hg["problems_total"]:
                problems.append(f"{how}: problems {hg['problems'][:2]}")
        return problems
    finally:
        p.close()


def check_forked_child(root, hide):
    """A prefork worker: the target fills its main heap and a thread arena,
    forks, and the child grows both (each then spans several mappings).
    The child's figures must be its own, with no problem."""
    run = Run(root, hide)
    try:
        for c in ("alloc 2000 64", "thread_alloc 0 3000 100", "thread_free 0 40", "fork"):
            run.cmd(c)
        run.pid = run.state["pid"]
        if hide:
            run.prefix = ["nsenter", "-t", str(run.pid), "-m"]
        for c in ("alloc 100000 64", "thread_alloc 0 20000 1000", "free_step 1500 5000 7",
                  "thread_free 0 3000"):
            run.cmd(c)
        with open(f"/proc/{run.pid}/maps") as f:
            parts = sum(line.rstrip().endswith("[heap]") for line in f)
        hg, err = run.stats()
        if hg is None:
            return [f"heapgrab failed: {err}"]
        problems = []
        if parts < 2:
            problems.append(f"the child's [heap] is {parts} mapping(s): the test needs a split")
        if hg["mallinfo2"] != run.state["mallinfo2"]:
            problems.append(f"mallinfo2 {hg['mallinfo2']} != the child's {run.state['mallinfo2']}")
        if hg["problems_total"]:
            problems.append(f"problems {hg['problems'][:2]}")
        return problems
    finally:
        run.close(gently=True)   # the child ends at the end of its input, its parent with it


def check_large_bin(root):
    """Three chunks in one large bin are counted without a problem; garbage
    the target writes over the largest one's fd_nextsize is reported at
    that chunk."""
    run = Run(root, False)
    try:
        run.cmd("alloc 100 64")
        largest = run.cmd("large_bin")["large"][1]
        hg, err = run.stats()
        if hg is None:
            return [f"heapgrab failed: {err}"]
        problems = []
        if hg["mallinfo2"] != run.state["mallinfo2"] or hg["problems_total"]:
            problems.append(f"clean: mallinfo2 {hg['mallinfo2']} (the target's "
                            f"{run.state['mallinfo2']}), problems {hg['problems'][:2]}")
        run.cmd(f"poke_nextsize 1 {0x4141414141414140}")
        hg, err = run.stats()
        if hg is None:
            return problems + [f"corrupt: heapgrab failed: {err}"]
        if [int(p["address"], 16) for p in hg["problems"]] != [largest] or \
                "fd_nextsize 0x4141414141414140" not in hg["problems"][0]["what"]:
            problems.append(f"corrupt fd_nextsize of {largest:#x}: problems {hg['problems'][:2]}")
        return problems
    finally:
        run.close()


def check_static(root, version):
    """gt_target linked statically against the root's libc.a: glibc's malloc
    is inside the executable, found through its symbol table."""
    problems = []
    p = targets.Target(["chroot", root, "/tmp/gt_target_static"], same_pid=False)
    try:
        for step in STEPS + [ALIGN_STEP]:
            state = p.cmd(step)
        n = fill_count(version)
        for how in ("auto", "heuristic"):
            hg, err = heapgrab([], state["pid"], "--locate", how)
            if hg is None:
                problems.append(f"{how}: {err}")
                continue
            if hg["mallinfo2"] != state["mallinfo2"]:
                problems.append(f"{how}: mallinfo2 {hg['mallinfo2']} != {state['mallinfo2']}")
            if hg["problems_total"]:
                problems.append(f"{how}: problems {hg['problems'][:2]}")
            tc = {x["tid"]: x["tcache_objects"] for x in hg["threads"]}
            worker = state["workers"][0]["tid"]
            if tc.get(state["main_tid"]) != min(60, n) or tc.get(worker) != 1 + min(9, n):
                problems.append(f"{how}: tcache per thread {tc}")
        return problems
    finally:
        p.close()


def check_large_tcache(root, version):
    """2.42+: with glibc.malloc.tcache_max=65536, 12 freed 5008-byte chunks
    go to the tcache's large bin for 4097..8192 (up to the fill count)."""
    run = Run(root, False, {"GLIBC_TUNABLES": "glibc.malloc.tcache_max=65536"})
    try:
        for step in LARGE_STEPS:
            run.cmd(step)
        hg, err = run.stats()
        if hg is None:
            return [f"heapgrab failed: {err}"]
        problems = []
        if hg["mallinfo2"] != run.state["mallinfo2"]:
            problems.append(f"mallinfo2 {hg['mallinfo2']} != {run.state['mallinfo2']}")
        if hg["problems_total"]:
            problems.append(f"problems: {hg['problems'][:2]}")
        main = [t for t in hg["threads"] if t["tid"] == run.state["main_tid"]][0]
        n = min(12, fill_count(version))
        if (main["tcache_objects"], main["tcache_bytes"]) != (n, n * 5008):
            problems.append(f"main tcache {main['tcache_objects']} objects {main['tcache_bytes']} "
                            f"bytes, want {n} and {n * 5008}")
        return problems
    finally:
        run.close()


def host_pid(ns_pid, parent):
    """The host PID of the process that is ns_pid in a PID namespace made
    under parent."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/status") as f:
                st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        except OSError:
            continue
        ns = st.get("NSpid", "").split()
        if len(ns) == 2 and ns[1] == str(ns_pid) and "gt_target" in st.get("Name", "") and \
                st.get("PPid", "").strip() == str(parent):
            return int(d)
    return None


def ns_tids(pid):
    """Host TID -> TID inside the namespace, for each thread of pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            ns = [l.split()[1:] for l in f if l.startswith("NSpid:")][0]
        out[int(tid)] = int(ns[-1])
    return out


def check_container(root, hide, version, chrooted):
    """gt_target as PID 1's child in a container made with unshare and
    pivot_root; heapgrab attaches from the host.  Must give the figures of
    the same steps run chrooted."""
    hide_cmd = f"mount -t tmpfs none {root}/usr/lib/debug && " if hide else ""
    script = (f"mount --bind {root} {root} && {hide_cmd}mkdir -p {root}/.oldroot && cd {root} && "
              "pivot_root . .oldroot && exec /usr/bin/sh -c 'mount -t proc proc /proc && "
              "umount -l /.oldroot && exec /tmp/gt_target'")
    # unshare forks: the pid the target prints is its pid in the container
    p = targets.Target(["unshare", "-m", "-p", "-f", "sh", "-c", script], same_pid=False)
    try:
        for step in STEPS:
            state = p.cmd(step)
        pid = host_pid(state["pid"], p.started_pid)
        if pid is None:
            return ["cannot find the container's target from the host"]
        hg, err = heapgrab([], pid)
        if hg is None:
            return [f"heapgrab failed: {err}"]
        problems = []
        if hg["mallinfo2"] != state["mallinfo2"]:
            problems.append(f"mallinfo2 {hg['mallinfo2']} != the target's {state['mallinfo2']}")
        if hg["locate"] != ("heuristic" if hide else "symbols"):
            problems.append(f"locate {hg['locate']}")
        if chrooted is not None and hg["totals"] != dict(chrooted["totals"],
                                                        released_bytes=hg["totals"]["released_bytes"]):
            problems.append("totals differ from the chrooted run")
        n = fill_count(version)
        inside = ns_tids(pid)
        tc = {inside.get(x["tid"]): x["tcache_objects"] for x in hg["threads"]}
        worker = state["workers"][0]["tid"]
        if tc.get(state["main_tid"]) != min(60, n) or tc.get(worker) != 1 + min(9, n):
            problems.append(f"tcache per thread {tc}")
        return problems
    finally:
        p.close()


def main():
    roots = sorted(d for d in os.listdir(ROOTS)) if os.path.isdir(ROOTS) else []
    roots = [os.path.join(ROOTS, d) for d in roots if os.path.exists(os.path.join(ROOTS, d, "usr/bin/gcc"))]
    if not roots:
        print(f"test_versions: skipped: no roots in {ROOTS} (make them with scripts/make-roots.sh)")
        return 77
    with open("/proc/sys/kernel/core_pattern") as f:
        kernel_cores = f.read().strip() == "core"
    if not kernel_cores:
        print("  (part skipped: core_pattern is not 'core': the kernel cores)")
    passed = failed = 0

    def report(ok, what):
        nonlocal passed, failed
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        passed += ok
        failed += not ok

    for root in roots:
        name = os.path.basename(root)
        shutil.copy(SRC, os.path.join(root, "tmp", "gt_target.c"))
        subprocess.run(["chroot", root, "gcc", "-O1", "-pthread", "-o", "/tmp/gt_target",
                        "/tmp/gt_target.c"], check=True)
        subprocess.run(["chroot", root, "gcc", "-O1", "-pthread", "-static", "-o",
                        "/tmp/gt_target_static", "/tmp/gt_target.c"], check=True)
        subprocess.run(["chroot", root, "gcc", "-O1", "-DGT_NO_THREADS", "-static", "-o",
                        "/tmp/gt_target_static_st", "/tmp/gt_target.c"], check=True)
        if name not in SUPPORTED:
            # a glibc heapgrab does not know: a clear refusal, never figures
            for hide in (False, True):
                run = Run(root, hide)
                try:
                    hg, err = run.stats()
                finally:
                    run.close()
                report(hg is None and "2." in err and ("not supported" in err or "newer" in err),
                       f"{name} {'without' if hide else 'with'} debug info: refused: {err or 'figures!'}")
            continue
        version = tuple(int(x) for x in SUPPORTED[name].split("."))
        results = {}
        for hide in (False, True):
            hg, problems = check_root(root, hide, version, kernel_cores)
            if hg is not None and hg["glibc"] != SUPPORTED[name]:
                problems.append(f"glibc {hg['glibc']}, expected {SUPPORTED[name]}")
            report(not problems, f"{name} {'without' if hide else 'with'} debug info: glibc "
                   f"{hg['glibc'] if hg else '?'}" + ("; " + "; ".join(problems) if problems else ""))
            if hg is not None:
                results[hide] = hg
        if len(results) == 2:
            report(all(results[False][k] == results[True][k] for k in ("mallinfo2", "totals", "glibc")),
                   f"{name}: same figures with and without")
        if root == roots[-1] or name in ("sid", "exp244"):
            for hide in (False, True):
                problems = check_container(root, hide, version, results.get(hide))
                report(not problems, f"{name} in a container (mount+PID namespaces, pivot_root), "
                       f"{'without' if hide else 'with'} debug info"
                       + ("; " + "; ".join(problems) if problems else ""))
        for case, problems in check_thresholds(root, version):
            report(not problems, f"{name}: moved thresholds, {case}"
                   + ("; " + "; ".join(problems) if problems else ""))
        problems = check_static_single_threaded(root, version)
        report(not problems, f"{name}: static program without threads (no version string)"
               + ("; " + "; ".join(problems) if problems else ""))
        for hide in (False, True):
            problems = check_forked_child(root, hide)
            report(not problems, f"{name}: forked child whose heaps grew, "
                   f"{'without' if hide else 'with'} debug info"
                   + ("; " + "; ".join(problems) if problems else ""))
        problems = check_large_bin(root)
        report(not problems, f"{name}: a large bin's fd_nextsize corrupted"
               + ("; " + "; ".join(problems) if problems else ""))
        problems = check_static(root, version)
        report(not problems, f"{name}: statically linked program" +
               ("; " + "; ".join(problems) if problems else ""))
        if version >= (2, 42):
            problems = check_large_tcache(root, version)
            report(not problems, f"{name}: large tcache bins (tcache_max=65536)"
                   + ("; " + "; ".join(problems) if problems else ""))
    print(f"test_versions: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
