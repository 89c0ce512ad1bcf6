#!/usr/bin/env python3
"""Who holds the memory, against holders_target's own account.

    test_holders.py live | core | nodebug | asan

live     the target running, with and without its dlopen'ed TLS library
core     a gcore core of it, and a kernel core (SIGABRT; skipped unless
         core_pattern is 'core')
nodebug  target and heapgrab in a private mount namespace whose
         /usr/lib/debug is an empty tmpfs (libc without its debug symbols)
versions the target built and run in each Debian/Ubuntu root of
         scripts/make-roots.sh (other glibc releases; skipped without roots)
lsan     the target built with -fsanitize=leak: LeakSanitizer's own report
         at the same point must agree with the target's account (the
         ground truth the other modes hold heapgrab to)

Each run asserts, exactly: every root the target names retains the objects
and bytes it says (globals by symbol, the stack frame by function and
thread, TLS variables by name and thread); the blocks it shares between two
roots are held by "several roots"; the leak totals (direct, indirect,
possibly) are the target's -- so no other object anywhere in the process
is a leak; and the walk reported no problem.

Environment: HOLDERS_DUMP, HOLDERS_TARGET, HOLDERS_TLS_LIB (set by ctest).
"""
import json
import os
import subprocess
import sys
import tempfile

DUMP = os.environ.get("HOLDERS_DUMP", "")
TARGET = os.environ.get("HOLDERS_TARGET", "")
TLS_LIB = os.environ.get("HOLDERS_TLS_LIB", "")
SKIP = 77


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Target:
    def __init__(self, n=1000, tls_lib=True, exe=None, lib=None):
        env = dict(os.environ)
        env.pop("HOLDERS_TLS_LIB", None)
        if tls_lib:
            env["HOLDERS_TLS_LIB"] = lib or TLS_LIB
        self.p = subprocess.Popen([exe or TARGET, str(n)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, env=env)
        line = self.p.stdout.readline()
        check(line, "holders_target printed nothing")
        self.truth = json.loads(line)
        self.pid = self.p.pid

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=30)
        except Exception:
            self.p.kill()
            self.p.wait()


def dump(args):
    env = dict(os.environ, HOLDERS_DUMP_OBJECTS="1")
    r = subprocess.run([DUMP] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, timeout=240)
    check(r.returncode == 0, f"holders_dump {args} failed: {r.stderr.decode()}")
    return json.loads(r.stdout)


def find_root(got, want, holder_tid):
    for r in got["roots"]:
        if r["kind"] != want["kind"]:
            continue
        if want["kind"] == "stack":
            if r["name"] == want["function"] and r["thread"] == want["thread"]:
                return r
        elif r["name"] == want["name"] and (want["kind"] != "tls" or r["thread"] == holder_tid):
            return r
    return None


def compare(truth, got, what, exact_several):
    """Every assertion of the module docstring, on one snapshot."""
    check(not got["problems"], f"{what}: problems reported: {got['problems']}")
    tid = truth["holder_tid"]
    for want in truth["roots"]:
        r = find_root(got, want, tid)
        label = want["name"] or want["function"]
        check(r is not None, f"{what}: no {want['kind']} root {label!r} in "
              f"{[(x['kind'], x['name'], x['thread']) for x in got['roots']]}")
        for k in ("retained_objects", "retained_bytes"):
            check(r[k] == want[k], f"{what}: root {label!r} {k} {r[k]}, the target says {want[k]}")
        check(r["reachable_objects"] >= r["retained_objects"],
              f"{what}: root {label!r} reaches less than it retains")
        if want["kind"] == "global":
            check(r["file"].endswith("holders_target.c") or r["file"] == "",
                  f"{what}: {label} declared in {r['file']!r}")
    several = {o["address"]: o for o in got.get("odd_objects", []) if o["holder"] == -1}
    for a in truth["several_roots"]["addresses"]:
        check(a in several, f"{what}: shared block 0x{a:x} is not held by several roots")
    s = got["several_roots"]
    if exact_several:
        check(s["objects"] == truth["several_roots"]["objects"] and
              s["bytes"] == truth["several_roots"]["bytes"],
              f"{what}: several roots hold {s}, the target says {truth['several_roots']}")
    else:
        # glibc's own objects may be shared too (a dlopen'ed module's
        # link_map: ld.so's list, its scopes)
        check(s["objects"] >= truth["several_roots"]["objects"] and
              s["bytes"] >= truth["several_roots"]["bytes"],
              f"{what}: several roots hold {s}, fewer than the target's {truth['several_roots']}")
    for k, v in truth["leaks"].items():
        check(got["leaks"][k] == v, f"{what}: leaks {k} {got['leaks'][k]}, the target says {v} "
              f"(groups: {got['groups']})")
    # every leaked object is in a group, and groups add up
    for kind in ("direct", "indirect"):
        n = sum(g["objects"] for g in got["groups"] if g["kind"] == kind)
        b = sum(g["bytes"] for g in got["groups"] if g["kind"] == kind)
        check(n == truth["leaks"][kind + "_objects"] and b == truth["leaks"][kind + "_bytes"],
              f"{what}: {kind} groups hold {n} objects, {b} bytes")
    # the ranking is by retained bytes
    rb = [r["retained_bytes"] for r in got["roots"]]
    check(rb == sorted(rb, reverse=True), f"{what}: roots not ranked by retained bytes")


def run_live(what="live", exe=None, lib=None):
    for tls_lib in (True, False):
        t = Target(tls_lib=tls_lib, exe=exe, lib=lib)
        try:
            got = dump([str(t.pid)])
            truth = t.truth
            compare(truth, got, f"{what} (tls lib: {tls_lib})", exact_several=not tls_lib)
            if exe:
                # no DWARF: names from the symbol table, no declarations
                for r in got["roots"]:
                    check(not (r["kind"] == "global" and r["module"] == exe and r["file"]),
                          f"{what}: {r['name']} has a declaration without DWARF")
            check(got["stopped_ns"] >= 0, "a live target was not stopped")
            st = [r for r in got["roots"] if r["kind"] == "stack" and r["name"] == "hold_on_stack"]
            check(st and st[0]["thread_name"] == "holder",
                  f"{what}: the stack root's thread is not named 'holder': {st}")
        finally:
            t.close()


def run_kernel_core():
    import resource
    import signal
    with open("/proc/sys/kernel/core_pattern") as f:
        if f.read().strip() != "core":
            print("core_pattern is not 'core': no kernel core checked")
            return
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, HOLDERS_TLS_LIB=TLS_LIB)

        def unlimited():
            resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,
                                                      resource.RLIM_INFINITY))
        p = subprocess.Popen([TARGET, "1000"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env=env, cwd=d, preexec_fn=unlimited)
        try:
            line = p.stdout.readline()
            check(line, "holders_target printed nothing")
            truth = json.loads(line)
            p.send_signal(signal.SIGABRT)
            p.wait(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        cores = [f for f in os.listdir(d) if f.startswith("core")]
        check(cores, f"the kernel wrote no core in {d}")
        got = dump(["--core", os.path.join(d, cores[0])])
        compare(truth, got, "kernel core", exact_several=False)


def run_core():
    t = Target()
    try:
        with tempfile.TemporaryDirectory() as d:
            prefix = os.path.join(d, "core")
            r = subprocess.run(["gcore", "-o", prefix, str(t.pid)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=120)
            core = f"{prefix}.{t.pid}"
            if r.returncode != 0 or not os.path.exists(core):
                print("gcore failed:", r.stderr.decode()[-500:])
                sys.exit(SKIP)
            got = dump(["--core", core])
            compare(t.truth, got, "gcore core", exact_several=False)
    finally:
        t.close()


ROOTS = os.environ.get("HEAPGRAB_ROOTS", "/var/tmp/heapgrab-roots")


def run_versions():
    import shutil
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.join(os.path.dirname(here), "targets")
    roots = sorted(d for d in os.listdir(ROOTS)) if os.path.isdir(ROOTS) else []
    roots = [os.path.join(ROOTS, d) for d in roots
             if os.path.exists(os.path.join(ROOTS, d, "usr/bin/gcc"))]
    if not roots:
        print(f"no roots in {ROOTS} (scripts/make-roots.sh makes them)")
        sys.exit(SKIP)
    done = 0
    for root in roots:
        name = os.path.basename(root)
        sub = f"/tmp/hg_holders_{os.getpid()}"
        d = root + sub
        os.makedirs(d, exist_ok=True)
        try:
            for f in ("holders_target.c", "holders_tls_lib.c"):
                shutil.copy(os.path.join(src, f), d)
            subprocess.run(["chroot", root, "gcc", "-O1", "-g", "-D_GNU_SOURCE", "-pthread", "-o",
                            f"{sub}/holders_target", f"{sub}/holders_target.c", "-ldl"], check=True)
            subprocess.run(["chroot", root, "gcc", "-g", "-shared", "-fPIC", "-o",
                            f"{sub}/libholders_tls_lib.so", f"{sub}/holders_tls_lib.c"], check=True)
            env = dict(os.environ, HOLDERS_TLS_LIB=f"{sub}/libholders_tls_lib.so")
            p = subprocess.Popen(["chroot", root, f"{sub}/holders_target", "1000"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
            try:
                line = p.stdout.readline()
                check(line, f"{name}: holders_target printed nothing")
                truth = json.loads(line)
                r = subprocess.run([DUMP, str(truth["pid"])], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=240,
                                   env=dict(os.environ, HOLDERS_DUMP_OBJECTS="1"))
                err = r.stderr.decode()
                if r.returncode != 0 and ("not supported" in err or "newer" in err):
                    print(f"{name}: glibc not supported by heapgrab: {err.strip()[:200]}")
                    continue
                check(r.returncode == 0, f"{name}: holders_dump failed: {err}")
                compare(truth, json.loads(r.stdout), f"glibc root {name}", exact_several=False)
                print(f"{name}: ok")
                done += 1
            finally:
                p.stdin.close()
                p.wait(timeout=30)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    check(done, "no root could be checked")


def run_lsan():
    import re
    env = dict(os.environ, HOLDERS_TLS_LIB=TLS_LIB,
               LSAN_OPTIONS="report_objects=0:use_tls=1:use_stacks=1:use_registers=1")
    p = subprocess.Popen([TARGET, "1000"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    try:
        line = p.stdout.readline()
        check(line, "holders_target (LSAN) printed nothing")
        truth = json.loads(line)
    finally:
        p.stdin.close()
        err = p.stderr.read().decode()
        p.wait(timeout=60)
    # the first report is the check at the target's point; a second one
    # comes at exit, after the holder thread and its stack are gone
    check("SUMMARY: LeakSanitizer" in err, f"no LeakSanitizer report:\n{err[-2000:]}")
    err = err[:err.index("SUMMARY: LeakSanitizer")]
    direct = [(int(b), int(n)) for b, n in
              re.findall(r"Direct leak of (\d+) byte\(s\) in (\d+) object", err)]
    indirect = [(int(b), int(n)) for b, n in
                re.findall(r"Indirect leak of (\d+) byte\(s\) in (\d+) object", err)]
    got = {"direct_bytes": sum(b for b, _ in direct), "direct_objects": sum(n for _, n in direct),
           "indirect_bytes": sum(b for b, _ in indirect),
           "indirect_objects": sum(n for _, n in indirect)}
    want = {"direct_bytes": truth["requested"]["direct_bytes"],
            "direct_objects": truth["leaks"]["direct_objects"],
            "indirect_bytes": truth["requested"]["indirect_bytes"],
            "indirect_objects": truth["leaks"]["indirect_objects"]}
    check(got == want, f"LeakSanitizer says {got}, the target {want}:\n{err[-2000:]}")
    print("LeakSanitizer agrees:", got)


def main():
    if not (DUMP and TARGET and TLS_LIB):
        print("HOLDERS_DUMP, HOLDERS_TARGET, HOLDERS_TLS_LIB must be set")
        return 2
    mode = sys.argv[1] if len(sys.argv) > 1 else "live"
    if os.geteuid() != 0:
        print("needs root (ptrace of a child is enough, but the namespaces need root)")
        return SKIP
    try:
        if mode == "live":
            run_live()
        elif mode == "core":
            run_core()
            run_kernel_core()
        elif mode == "nodebug":
            if not os.path.isdir("/usr/lib/debug"):
                print("no /usr/lib/debug to hide")
                return SKIP
            r = subprocess.run(["unshare", "-m", "sh", "-c",
                                "mount -t tmpfs none /usr/lib/debug && exec \"$0\" \"$1\" inside",
                                sys.executable, os.path.abspath(__file__)])
            return r.returncode
        elif mode == "versions":
            run_versions()
        elif mode == "lsan":
            run_lsan()
        elif mode == "inside":
            check(not os.listdir("/usr/lib/debug"), "/usr/lib/debug is not empty in here")
            run_live("without debug info")
            # and the target's own DWARF gone too (its .symtab kept)
            with tempfile.TemporaryDirectory() as d:
                exe = os.path.join(d, "holders_target")
                lib = os.path.join(d, os.path.basename(TLS_LIB))
                for src, dst in ((TARGET, exe), (TLS_LIB, lib)):
                    subprocess.run(["strip", "--strip-debug", "-o", dst, src], check=True)
                run_live("without any debug info", exe=exe, lib=lib)
        else:
            print("unknown mode", mode)
            return 2
    except Failure as e:
        print("FAIL:", e)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
