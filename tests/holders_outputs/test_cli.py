#!/usr/bin/env python3
"""heapgrab holders / leaks / --by-size / --holders: argument errors, each
refused with exit 2 and one line before any process is touched, and the
help that names them.  HEAPGRAB is the CLI."""
import os
import subprocess
import sys

HEAPGRAB = os.environ.get("HEAPGRAB", "")
failures = 0


def run(*args):
    p = subprocess.run([HEAPGRAB, *args], capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def expect(args, status, message):
    global failures
    rc, out, err = run(*args)
    lines = err.splitlines()
    ok = rc == status and len(lines) == 1 and message in err and \
        lines[0].startswith("heapgrab: ") and out == ""
    if not ok:
        failures += 1
        print(f"FAIL: heapgrab {' '.join(args)}: exit {rc} (want {status}), stderr {err!r} "
              f"(want one line with {message!r}), stdout {out[:200]!r}", file=sys.stderr)


def main():
    if not os.access(HEAPGRAB, os.X_OK):
        print(f"HEAPGRAB={HEAPGRAB!r} is not the CLI: run through ctest", file=sys.stderr)
        return 1
    me = str(os.getpid())  # never touched: every line below is refused first
    expect(["holders"], 2, "no target given")
    expect(["leaks"], 2, "no target given")
    expect(["holders", me, "extra"], 2, "too many arguments")
    expect(["holders", "-o", "x.out", me], 2, "holders prints to standard output")
    expect(["leaks", "-o", "x.out", me], 2, "leaks prints to standard output")
    expect(["holders", "--by-size", me], 2, "--by-size goes with snapshot, not holders")
    expect(["leaks", "--by-size", me], 2, "--by-size goes with snapshot, not leaks")
    expect(["stats", "--by-size", me], 2, "--by-size goes with snapshot, not stats")
    expect(["snapshot", "--holders", me], 2, "--holders goes with stats, not snapshot")
    expect(["holders", "--holders", me], 2, "--holders goes with stats, not holders")
    expect(["leaks", "--interval", "1", me], 2, "--interval and --count go with snapshot")
    expect(["holders", "--seconds", "1", me], 2, "--seconds and --hz go with profile")
    expect(["holders", "--by-size=1", me], 2, "--by-size takes no value")
    expect(["leaks", "--json=yes", me], 2, "--json takes no value")
    expect(["holders", "--sysroot", "/", me], 2, "--sysroot and --exe go with a core file")
    expect(["holders", "0"], 2, "not a process id")
    expect(["leaks", "/nonexistent/core"], 2, "no such file")
    expect(["leaks", "/"], 2, "is a directory")
    expect(["holders", "99999999999"], 3, "no such process")
    expect(["hodlers", me], 2, "unknown command 'hodlers'")
    global failures
    rc, out, err = run("--help")
    for want in ("heapgrab holders [--json] PID|CORE", "heapgrab leaks [--json] PID|CORE",
                 "--by-size", "stats [--json] [--holders]"):
        if rc != 0 or want not in out:
            failures += 1
            print(f"FAIL: --help lacks {want!r}", file=sys.stderr)
    if failures:
        print(f"test_cli: {failures} failures", file=sys.stderr)
        return 1
    print("test_cli: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
