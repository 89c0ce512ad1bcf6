#!/usr/bin/env python3
"""heapgrab installed as a user installs it: the .deb from scripts/package.sh
put into a fresh Debian 12 root with `apt-get install ./heapgrab_*.deb`,
which must pull every dependency the package declares, then, inside that
root and with no environment set:

  - `heapgrab stats --json` of a sample program gives the same figures as the
    heapgrab of the build tree, run from the host on the same process;
  - `python3 -c 'import heapgrab'` finds the package and its library, and a
    snapshot through it gives those figures too; so does the package
    installed into a venv with `pip install ./python` (offline);
  - `gdb -batch -ex 'source /usr/share/heapgrab/gdb/heapsnap.py' -ex 'help
    heapsnap'` defines the command;
  - the man page, the pkg-config file and the bash completion are installed
    where man, pkg-config and bash-completion look, and `dpkg -r` removes
    everything it installed.

The root: debootstrap bookworm (minbase, with python3 and gdb, which the
package only recommends) made once under HEAPGRAB_PKGROOT (default
/var/tmp/heapgrab-pkgroot/base) and kept; each run installs into an overlay
over it, so every run starts from the fresh root.  Exits 77 (skipped) when
no root can be made (no debootstrap, no network) or overlays cannot be
mounted.

Environment: HEAPGRAB (the build tree's CLI), HG_DEMO (samples/demo),
HG_SOURCE_DIR (the source tree), HEAPGRAB_PKGROOT.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77
HEAPGRAB = os.environ["HEAPGRAB"]
DEMO = os.environ["HG_DEMO"]
SOURCE = os.environ["HG_SOURCE_DIR"]
BASE = os.environ.get("HEAPGRAB_PKGROOT", "/var/tmp/heapgrab-pkgroot/base")
MIRROR = "http://deb.debian.org/debian"


def make_base():
    if os.path.exists(os.path.join(BASE, "usr/bin/gdb")):
        return True
    if not shutil.which("debootstrap"):
        print("test_deb: skipped: no debootstrap (apt-get install debootstrap)")
        return False
    shutil.rmtree(BASE, ignore_errors=True)
    os.makedirs(os.path.dirname(BASE), exist_ok=True)
    log = BASE + ".log"
    # gdb in a separate step: debootstrap --include=gdb fails configuring
    # its dependencies in a minbase root.
    with open(log, "w") as f:
        ok = subprocess.run(["debootstrap", "--variant=minbase", "--include=python3",
                             "bookworm", BASE, MIRROR], stdout=f, stderr=subprocess.STDOUT).returncode == 0
        if ok:
            shutil.copy("/etc/resolv.conf", os.path.join(BASE, "etc/resolv.conf"))
            subprocess.run(["mount", "-t", "proc", "proc", os.path.join(BASE, "proc")])
            ok = subprocess.run(["chroot", BASE, "apt-get", "install", "-y", "-q", "--no-install-recommends",
                                 "gdb", "python3-venv"], stdout=f, stderr=subprocess.STDOUT,
                                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                     "DEBIAN_FRONTEND": "noninteractive"}).returncode == 0
            subprocess.run(["umount", "-l", os.path.join(BASE, "proc")])
    if not ok:
        shutil.rmtree(BASE, ignore_errors=True)
        print(f"test_deb: skipped: debootstrap bookworm failed (no network?), see {log}")
        return False
    return True


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def main():
    if os.geteuid() != 0:
        print("test_deb: skipped: needs root (debootstrap, chroot, mounts)")
        return SKIP
    if not make_base():
        return SKIP
    work = tempfile.mkdtemp(prefix="hg-deb-")
    root = os.path.join(work, "root")
    for d in ("upper", "work", "root"):
        os.makedirs(os.path.join(work, d))
    r = run(["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={BASE},upperdir={work}/upper,workdir={work}/work", root])
    if r.returncode != 0:
        print(f"test_deb: skipped: cannot mount an overlay: {r.stderr.strip()}")
        shutil.rmtree(work, ignore_errors=True)
        return SKIP
    mounted = [root]
    demo = None
    failures = []

    def check(ok, what):
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    try:
        for sub, args in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"])):
            run(["mount", *args, os.path.join(root, sub)], check=True)
            mounted.append(os.path.join(root, sub))
        shutil.copy("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))

        r = run([os.path.join(SOURCE, "scripts/package.sh"), os.path.join(work, "deb")])
        check(r.returncode == 0, "scripts/package.sh builds the .deb" +
              ("" if r.returncode == 0 else ": " + r.stderr.strip()[-500:]))
        if r.returncode != 0:
            return 1
        deb = r.stdout.strip().splitlines()[-1]
        check(os.path.basename(deb).startswith("heapgrab_") and deb.endswith("_amd64.deb"),
              f"named heapgrab_VERSION_amd64.deb: {os.path.basename(deb)}")
        shutil.copy(deb, os.path.join(root, "tmp"))
        inroot = "/tmp/" + os.path.basename(deb)

        # What the package needs that the fresh root lacks: apt must pull it.
        deps = run(["dpkg-deb", "-f", deb, "Depends"]).stdout.strip()
        check("libdw1" in deps and "libprotobuf-c1" in deps, f"Depends from the linked libraries: {deps}")
        before = run(["chroot", root, "dpkg-query", "-W", "-f", "${Package}\n"]).stdout.split()
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"}
        r = run(["chroot", root, "apt-get", "update", "-qq"], env=env)
        if r.returncode != 0:
            print(f"test_deb: skipped: apt-get update in the root failed (no network?): {r.stderr.strip()}")
            return SKIP
        r = run(["chroot", root, "apt-get", "install", "-y", "-qq", "--no-install-recommends", inroot],
                env=env)
        check(r.returncode == 0, "apt-get install ./heapgrab_*.deb" +
              ("" if r.returncode == 0 else ": " + (r.stderr + r.stdout).strip()[-800:]))
        if r.returncode != 0:
            return 1
        after = run(["chroot", root, "dpkg-query", "-W", "-f", "${Package}\n"]).stdout.split()
        pulled = sorted(set(after) - set(before) - {"heapgrab"})
        wanted = [d.strip().split()[0] for d in deps.split(",")]
        missing = [d for d in wanted if d not in after]
        check(not missing and "libprotobuf-c1" in pulled,
              f"apt pulled what the root lacked ({', '.join(pulled)}); every Depends installed" +
              (f": missing {missing}" if missing else ""))

        # The sample, built on the host (same Debian 12), run inside the root.
        shutil.copy(DEMO, os.path.join(root, "tmp/demo"))
        demo = subprocess.Popen(["chroot", root, "/tmp/demo"], stdout=subprocess.PIPE, text=True,
                                env=env)
        line = demo.stdout.readline()
        pid = int(line.split()[1])
        deadline = time.time() + 30
        stats = None
        while time.time() < deadline:   # the demo prints its pid, then fills its heap
            host = run([HEAPGRAB, "stats", "--json", str(pid)])
            inside = run(["chroot", root, "heapgrab", "stats", "--json", str(pid)], env=env)
            if host.returncode == 0 and inside.returncode == 0:
                h, i = json.loads(host.stdout), json.loads(inside.stdout)
                if h["totals"] == i["totals"] and h["totals"]["inuse_bytes"] > 100 << 20:
                    stats = i
                    break
            time.sleep(0.5)
        check(stats is not None, "heapgrab stats in the root: the build tree's figures" +
              ("" if stats else f": {inside.returncode} {inside.stderr.strip()}"))

        script = ("import heapgrab, json, sys; s = heapgrab.snapshot(int(sys.argv[1])); "
                  "print(json.dumps([heapgrab.library_path(), s.stats['totals']]))")
        r = run(["chroot", root, "python3", "-c", script, str(pid)], env=env)
        ok = r.returncode == 0
        if ok:
            lib, totals = json.loads(r.stdout)
            ok = lib.startswith("/usr/lib/") and stats is not None and totals == stats["totals"]
        check(ok, "import heapgrab with no environment: the installed library, the same figures" +
              ("" if ok else f": {r.stdout.strip()} {r.stderr.strip()[-400:]}"))

        # pip install ./python (offline: the build backend is in the tree)
        # into a venv in the root: that package finds the .deb's library.
        shutil.copytree(os.path.join(SOURCE, "python"), os.path.join(root, "tmp/python"),
                        ignore=shutil.ignore_patterns("__pycache__", "_paths.py"))
        r = run(["chroot", root, "sh", "-c", "python3 -m venv /tmp/venv && "
                 "/tmp/venv/bin/pip install -q --no-index /tmp/python"], env=env)
        check(r.returncode == 0, "pip install ./python into a venv, offline" +
              ("" if r.returncode == 0 else ": " + (r.stdout + r.stderr).strip()[-600:]))
        r = run(["chroot", root, "/tmp/venv/bin/python", "-c", script, str(pid)], env=env)
        ok = r.returncode == 0
        if ok:
            lib, totals = json.loads(r.stdout)
            ok = "libheapgrab.so" in lib and stats is not None and totals == stats["totals"]
        check(ok, "the pip-installed package loads the .deb's library, the same figures" +
              ("" if ok else f": {r.stdout.strip()} {r.stderr.strip()[-400:]}"))

        r = run(["chroot", root, "gdb", "-nx", "-batch", "-ex",
                 "source /usr/share/heapgrab/gdb/heapsnap.py", "-ex", "help heapsnap"], env=env)
        check(r.returncode == 0 and "heapsnap" in r.stdout and "Traceback" not in r.stderr,
              "gdb: source /usr/share/heapgrab/gdb/heapsnap.py; help heapsnap" +
              ("" if r.returncode == 0 else f": {r.stderr.strip()[-400:]}"))

        files = run(["chroot", root, "dpkg", "-L", "heapgrab"]).stdout.split()
        for want in ("/usr/bin/heapgrab", "/usr/share/man/man1/heapgrab.1.gz",
                     "/usr/share/bash-completion/completions/heapgrab",
                     "/usr/include/heapgrab.h",
                     "/usr/lib/python3/dist-packages/heapgrab/__init__.py",
                     "/usr/share/heapgrab/gdb/heapsnap.py",
                     "/usr/share/heapgrab/schema/stats.schema.json"):
            check(want in files, f"installs {want}")
        check(any(f.endswith("/pkgconfig/heapgrab.pc") for f in files), "installs heapgrab.pc")
        r = run(["chroot", root, "sh", "-c", "zcat /usr/share/man/man1/heapgrab.1.gz | head -5"])
        check(r.returncode == 0 and ".TH" in r.stdout, "the man page is a gzipped man page")

        r = run(["chroot", root, "dpkg", "-r", "heapgrab"], env=env)
        left = [f for f in files if os.path.isfile(os.path.join(root, f.lstrip("/")))]
        check(r.returncode == 0 and not left, "dpkg -r heapgrab removes its files" +
              (f": left {left}" if left else ""))
    finally:
        if demo:
            demo.kill()
            demo.wait()
        for m in reversed(mounted):
            run(["umount", "-l", m])
        shutil.rmtree(work, ignore_errors=True)
    print(f"test_deb: {'FAILED: ' + '; '.join(failures) if failures else 'all passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
