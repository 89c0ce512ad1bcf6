#!/usr/bin/env python3
"""The progress line: drawn on a terminal only, gone before anything else
is printed, off with --quiet.

  - `heapgrab stats` of a target with 600 MB of small chunks, stderr a terminal (a
    pty): "heapgrab: walking the heap: X of Y (N%)" lines, each erasing the
    last, and the line erased at the end (the terminal is left clean);
  - `heapgrab profile --seconds 2` on a terminal: "heapgrab: profiling: ... of
    200 ticks"; its summary lines come after the progress line was erased;
  - the same runs with stderr a pipe: nothing but the command's own lines;
  - --quiet on a terminal: no progress line.
HEAPGRAB_PROGRESS_DELAY=0 shows progress at once (the default waits a
second, so a quick run draws nothing).

Environment: HEAPGRAB, HG_TARGET_DIR.
"""
import os
import pty
import re
import select
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import targets  # noqa: E402

HEAPGRAB = os.environ.get("HEAPGRAB", "")
TARGET = os.path.join(os.environ.get("HG_TARGET_DIR", ""), "gt_target")
ENV = dict(os.environ, HEAPGRAB_PROGRESS_DELAY="0")
ERASE = "\r\x1b[K"
passed = failed = 0


def report(ok, what):
    global passed, failed
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    passed += ok
    failed += not ok


def on_terminal(argv):
    """stderr a pty, stdout a pipe: (status, stdout, what the terminal got)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, env=ENV)
    os.close(slave)
    got = b""
    out = b""
    while True:
        r, _, _ = select.select([master, p.stdout], [], [], 300)
        if not r:
            p.kill()
            break
        if master in r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                chunk = b""
            if not chunk and p.poll() is not None:
                break
            got += chunk
        if p.stdout in r:
            chunk = p.stdout.read1(65536)
            out += chunk
            if not chunk and p.poll() is not None:
                # drain the terminal
                while select.select([master], [], [], 0.2)[0]:
                    try:
                        c = os.read(master, 65536)
                    except OSError:
                        break
                    if not c:
                        break
                    got += c
                break
    p.wait()
    os.close(master)
    return p.returncode, out.decode(errors="replace"), got.decode(errors="replace").replace("\r\n", "\n")


def on_pipe(argv):
    r = subprocess.run(argv, capture_output=True, env=ENV, timeout=300)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def progress_lines(term, what):
    return re.findall(r"heapgrab: " + re.escape(what) + r": [^\r\n\x1b]*", term)


def main():
    with targets.Target(TARGET) as t:
        t.cmd("alloc 600000 1000")   # 600 MB of small chunks: a walk of a while
        # walked during the stop (--memory-budget 0): a walk of 600 MB through
        # the live process lasts several of the line's 100 ms ticks, where
        # the copy and the walk of it may each fit inside one
        rc, out, term = on_terminal([HEAPGRAB, "stats", "--memory-budget", "0", str(t.pid)])
        lines = progress_lines(term, "walking the heap")
        report(rc == 0 and "from the OS" in out, f"stats on a terminal: exit {rc}, the table on stdout")
        report(len(lines) >= 1 and all(re.search(r"of [0-9.]+ [KMG]i?B \(\d+%\)", s) for s in lines),
               f"stats on a terminal: {len(lines)} progress lines, e.g. {lines[-1] if lines else None!r}")
        report(term.endswith(ERASE) or (ERASE in term and term.rstrip("\n").endswith(ERASE)),
               "stats on a terminal: the progress line is erased at the end")
        rc, out, err = on_pipe([HEAPGRAB, "stats", str(t.pid)])
        report(rc == 0 and err == "", f"stats with stderr a pipe: nothing on stderr ({err[:200]!r})")
        rc, out, term = on_terminal([HEAPGRAB, "stats", "--quiet", str(t.pid)])
        report(rc == 0 and not progress_lines(term, "walking the heap") and
               not progress_lines(term, "copying the process") and "\x1b" not in term,
               f"stats --quiet on a terminal: no progress line ({term[:200]!r})")

        outfile = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"hg-progress-{os.getpid()}.pprof")
        try:
            rc, out, term = on_terminal([HEAPGRAB, "profile", "--seconds", "2", "--hz", "100",
                                         "-o", outfile, str(t.pid)])
            lines = progress_lines(term, "profiling")
            report(rc == 0 and len(lines) >= 3 and all("of 200 ticks" in s for s in lines),
                   f"profile on a terminal: {len(lines)} progress lines, e.g. "
                   f"{lines[-1] if lines else None!r}")
            summary = term.rfind("heapgrab: ", 0)
            last_erase = term.rfind(ERASE)
            first_summary = min((m.start() for m in re.finditer(r"heapgrab: \d+ samples", term)),
                                default=-1)
            report(first_summary > last_erase >= 0,
                   "profile: its summary comes after the progress line was erased")
            del summary
            rc, out, err = on_pipe([HEAPGRAB, "profile", "--seconds", "1", "-o", outfile, str(t.pid)])
            report(rc == 0 and "profiling:" not in err and "\x1b" not in err,
                   "profile with stderr a pipe: no progress line")
        finally:
            if os.path.exists(outfile):
                os.unlink(outfile)
        t.left_alone()
    print(f"test_progress: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
