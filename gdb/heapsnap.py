"""heapsnap: heapgrab's glibc heap snapshot inside GDB.

Load it with `source /path/to/heapsnap.py` (from the source tree after the
README's build, or from where `cmake --install` puts it; a line in
~/.gdbinit makes it permanent).  Then `help heapsnap`.

How GDB's inferior is read, by connection:
  native  GDB traces the process and holds it stopped: heapgrab reads its
          memory, mappings and page residency straight from the kernel
          (no second ptrace attach; GDB stays in charge of the process).
  core    the core file GDB opened, through heapgrab's core reader (the
          same memory GDB shows), with GDB's executable.
  remote  (gdbserver) through GDB's own memory access, in large blocks;
          mappings from `info proc mappings`.  Files (libc and its debug
          symbols) are looked up on this machine by the paths the remote
          reports, so run it where those files are (or a copy of them).
Thread pointers (fs_base), which locate each thread's tcache, come from
GDB in every case.
"""
import os
import re
import sys

import gdb

def _own_path():
    """This script's own path.  Not __file__: when another GDB Python script
    sources this one (gdb.execute("source .../heapsnap.py")), GDB runs it in
    the same namespace, where __file__ still names the outer script.  The
    code of a function defined here carries the name of the file it was
    compiled from."""
    return _own_path.__code__.co_filename


_here = os.path.dirname(os.path.abspath(_own_path()))
# ../python both in the source tree and where `cmake --install` puts us
for _p in (os.path.join(_here, "..", "python"),):
    if os.path.isdir(os.path.join(_p, "heapgrab")) and _p not in sys.path:
        sys.path.insert(0, os.path.normpath(_p))
import heapgrab  # noqa: E402


def _threads(inferior):
    """[(tid, fs_base)] for every thread, reading $fs_base in each; the
    selected thread and frame are restored."""
    out = []
    selected = gdb.selected_thread()
    try:
        frame = gdb.selected_frame()
    except gdb.error:
        frame = None
    try:
        for th in inferior.threads():
            th.switch()
            try:
                fs = int(gdb.parse_and_eval("$fs_base")) & 0xFFFFFFFFFFFFFFFF
            except gdb.error:
                fs = 0
            out.append((th.ptid[1] or th.ptid[0], fs))
    finally:
        if selected is not None and selected.is_valid():
            selected.switch()
            if frame is not None and frame.is_valid():
                frame.select()
    return out


_MAP_LINE = re.compile(r"^\s*0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)"
                       r"(?:\s+([rwxsp-]{4}))?\s*(.*)$")


class _GdbReader:
    """A heapgrab reader over GDB's memory access (remote targets)."""

    def __init__(self, inferior):
        self.inferior = inferior
        self.pid = 0  # not a process of this machine: no /proc/PID
        self.exe = gdb.current_progspace().filename
        self._threads = _threads(inferior)
        self._maps = self._read_mappings()

    def _read_mappings(self):
        text = gdb.execute("info proc mappings", to_string=True)
        maps = []
        for line in text.splitlines():
            m = _MAP_LINE.match(line)
            if not m:
                continue
            start, end, offset = int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16)
            perms = m.group(4) or "rw-p"  # GDB 12 and older print no permissions
            maps.append((start, end, offset, perms, m.group(5).strip()))
        if not maps:
            raise gdb.GdbError("heapsnap: the remote target gave no memory mappings "
                               "(`info proc mappings` is empty)")
        return maps

    def mappings(self):
        return self._maps

    def threads(self):
        return self._threads

    def read(self, addr, size):
        try:
            return bytes(self.inferior.read_memory(addr, size))
        except gdb.MemoryError:
            # a block that runs into an unreadable page: give what precedes it
            lo, hi = 0, size
            while hi - lo > 4096:
                mid = (lo + hi) // 2 & ~4095
                if mid <= lo:
                    break
                try:
                    self.inferior.read_memory(addr + mid - 1, 1)
                    lo = mid
                except gdb.MemoryError:
                    hi = mid
            if lo == 0:
                return b""
            return bytes(self.inferior.read_memory(addr, lo))


def _core_path():
    text = gdb.execute("info target", to_string=True)
    m = re.search(r"Local core dump file:\s*\n?\s*`(.+?)'", text)
    return m.group(1) if m else None


def _target():
    """GDB's current inferior as a heapgrab target, and the exe for a core."""
    inferior = gdb.selected_inferior()
    if inferior is None or inferior.pid == 0:
        raise gdb.GdbError("heapsnap: no process: run, attach to one (attach PID), open a "
                           "core file (core FILE) or connect to gdbserver (target remote)")
    kind = inferior.connection.type if inferior.connection else "native"
    if kind == "core":
        core = _core_path()
        if not core:
            raise gdb.GdbError("heapsnap: cannot tell which core file GDB has open")
        return core, gdb.current_progspace().filename
    if kind == "native":
        return heapgrab.StoppedProcess(inferior.pid, _threads(inferior)), None
    return _GdbReader(inferior), None


def take(locate="auto", holders=False, types=False):
    """A heapgrab.Snapshot of GDB's current inferior (holders=True: who
    holds the memory too; types=True: its chunks typed as `heapgrab types`
    does)."""
    target, exe = _target()
    return heapgrab.snapshot(target, locate=locate, exe=exe, holders=holders, types=types)


class HeapSnap(gdb.Command):
    """Snapshot the glibc heap of the inferior with heapgrab.

Usage: heapsnap [--json] [-o FILE [--by-size]] [--locate auto|symbols|heuristic]
       heapsnap holders [--json] [--locate ...]
       heapsnap leaks [--json] [--locate ...]
       heapsnap types [--json] [--locate ...]
       heapsnap --allocs -o FILE

With no option, print the allocator's figures: mallinfo2 as the process
would get it, in use, idle (free chunks, top, tcache, fastbins), released,
per arena and per thread.
  holders     who holds the memory: the roots (globals, stack frames,
              registers, thread-local variables, mappings), most retained
              bytes first, as `heapgrab holders`
  leaks       the objects no root reaches, as `heapgrab leaks`
  --json      the JSON object of `heapgrab stats --json` (or of holders,
              leaks with --json)
  -o FILE     write a gzipped pprof heap profile (go tool pprof FILE), each
              object under who holds it; --by-size: by size class
  --locate    how malloc's state is found: libc's debug symbols, or their
              structure (heuristic); auto uses symbols when present
  types       what the memory is: in-use chunks by C++ class (from their
              vtables) or DWARF's static types, most bytes first, as
              `heapgrab types` prints them
              (--json: its JSON object)
  --allocs    with -o: the allocation sampler's profile instead (the program
              runs with libheapgrab_sampler.so: `heapgrab run -- PROGRAM`)
Works on a live process GDB attached to or started (read directly, not
through a second ptrace), on a core file, and on a gdbserver target."""

    def __init__(self):
        super().__init__("heapsnap", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        argv = gdb.string_to_argv(arg)
        as_json, out, locate, by_size, allocs = False, None, "auto", False, False
        sub = argv.pop(0) if argv and argv[0] in ("holders", "leaks", "types") else None
        i = 0
        while i < len(argv):
            a = argv[i]
            if a == "--json":
                as_json = True
            elif a == "--by-size" and not sub:
                by_size = True
            elif a == "--allocs" and not sub:
                allocs = True
            elif a in ("-o", "--output") and i + 1 < len(argv) and not sub:
                out, i = argv[i + 1], i + 1
            elif a == "--locate" and i + 1 < len(argv):
                locate, i = argv[i + 1], i + 1
            else:
                raise gdb.GdbError(f"heapsnap: unknown argument {a!r}: see `help heapsnap`")
            i += 1
        if locate not in heapgrab.LOCATE:
            raise gdb.GdbError("heapsnap: --locate takes auto, symbols or heuristic")
        if by_size and not out:
            raise gdb.GdbError("heapsnap: --by-size goes with -o FILE")
        if allocs and not out:
            raise gdb.GdbError("heapsnap: --allocs writes a profile: give -o FILE")
        try:
            if allocs:
                target, exe = _target()
                info = heapgrab.write_allocs(target, out, exe=exe)
                gdb.write(f"heapsnap: wrote {out}: {info['alloc_objects']} objects, "
                          f"{info['alloc_bytes']} bytes allocated, {info['samples']} "
                          f"samples\n")
                return
            # the profile's stacks are who holds each object, unless --by-size
            holders = sub in ("holders", "leaks") or (bool(out) and not by_size)
            snap = take(locate, holders=holders, types=sub == "types")
            try:
                if sub in ("holders", "leaks") and snap.stats.get("leaks") is None:
                    raise gdb.GdbError("heapsnap: this libheapgrab did not find who holds the "
                                       "memory (no holders in the snapshot)")
                if sub == "types":
                    if as_json:
                        import json
                        gdb.write(json.dumps(snap.types(), indent=1) + "\n")
                    else:
                        gdb.write(snap.types_text())
                elif sub:
                    if as_json:
                        import json
                        doc = snap.holders() if sub == "holders" else snap.leaks()
                        gdb.write(json.dumps(doc, indent=1) + "\n")
                    else:
                        gdb.write(snap.text(sub))
                elif out:
                    snap.write_pprof(out, by_size=by_size)
                    t = snap.totals
                    gdb.write(f"heapsnap: wrote {out}: {t['inuse_objects']} objects, "
                              f"{t['inuse_bytes']} bytes in use\n")
                elif as_json:
                    import json
                    gdb.write(json.dumps(snap.stats, indent=1) + "\n")
                else:
                    gdb.write(snap.text())
            finally:
                snap.close()
        except gdb.GdbError:
            raise
        except heapgrab.Error as e:
            raise gdb.GdbError(f"heapsnap: {e.message}") from None
        except Exception as e:  # never a traceback in the user's session
            raise gdb.GdbError(f"heapsnap: {type(e).__name__}: {e}") from None


HeapSnap()
