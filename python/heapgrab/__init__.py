"""heapgrab: glibc heap snapshots of a process, a core file or a debugger's
inferior, from Python, over libheapgrab (ctypes: nothing to compile).

    import heapgrab
    snap = heapgrab.snapshot(4242)            # a live process (ptrace)
    snap = heapgrab.snapshot("app.core")      # a core file
    snap.stats["totals"]["inuse_bytes"]      # exactly `heapgrab stats --json`
    snap.write_pprof("heap.pprof")
    for c in heapgrab.snapshot(4242, chunks=True).chunks():
        print(hex(c.address), c.size, c.state, c.arena)

A target can also be an object with read(addr, size) -> bytes,
mappings() -> [(start, end, offset, perms, path)] and threads() ->
[(tid, fs_base)] (optional attributes pid and exe): that is how a debugger
lends heapgrab its view of a process (see gdb/heapsnap.py).  A process a
debugger already holds stopped is StoppedProcess(pid, threads).

The library is found through $HEAPGRAB_LIBRARY, else the build tree beside
this source tree (build/libheapgrab.so), else where `cmake --install` put it.
"""
import ctypes
import ctypes.util
import json
import os
from collections import namedtuple

__all__ = ["snapshot", "Snapshot", "Chunk", "Error", "StoppedProcess", "library_path",
           "totals_fields"]

STATES = ["inuse", "tcache", "fastbin", "bin", "top", "overhead", "mmapped"]
LOCATE = {"auto": 0, "symbols": 1, "heuristic": 2}

Chunk = namedtuple("Chunk", "address size usable state arena")


class Error(Exception):
    """A libheapgrab failure: .code (negative), .name ("ENOPROC"), message."""

    def __init__(self, code, name, message):
        super().__init__(message)
        self.code, self.name, self.message = code, name, message


# Mirrors of the C structs of heapgrab.h.  Each names its C struct
# (_c_struct_): tests/python/test_layout.py checks every mirror's size and
# field offsets against the header, as compiled.
class _Mapping(ctypes.Structure):
    _c_struct_ = "hg_mapping"
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64),
                ("offset", ctypes.c_uint64), ("perms", ctypes.c_char * 5),
                ("path", ctypes.c_char_p), ("build_id", ctypes.c_char_p)]


class _Thread(ctypes.Structure):
    _c_struct_ = "hg_reader_thread"
    _fields_ = [("tid", ctypes.c_int), ("fs_base", ctypes.c_uint64)]


_READ = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p,
                         ctypes.c_size_t)


class _Reader(ctypes.Structure):
    _c_struct_ = "hg_reader"
    _fields_ = [("ctx", ctypes.c_void_p), ("read", _READ),
                ("nmappings", ctypes.c_size_t), ("mappings", ctypes.POINTER(_Mapping)),
                ("nthreads", ctypes.c_size_t), ("threads", ctypes.POINTER(_Thread)),
                ("pid", ctypes.c_int), ("exe", ctypes.c_char_p)]


class _CoreOptions(ctypes.Structure):
    _c_struct_ = "hg_core_options"
    _fields_ = [("sysroot", ctypes.c_char_p), ("exe", ctypes.c_char_p)]


class _SnapshotOptions(ctypes.Structure):
    _c_struct_ = "hg_snapshot_options"
    _fields_ = [("locate", ctypes.c_int), ("max_problems", ctypes.c_uint),
                ("keep_chunks", ctypes.c_int),
                ("holders", ctypes.c_int)]


class _Chunk(ctypes.Structure):
    _c_struct_ = "hg_chunk"
    _fields_ = [("address", ctypes.c_uint64), ("size", ctypes.c_uint64),
                ("usable", ctypes.c_uint64), ("arena", ctypes.c_int), ("state", ctypes.c_int)]


def library_path():
    """Where libheapgrab is taken from (see the module's docstring)."""
    env = os.environ.get("HEAPGRAB_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    in_tree = os.path.join(here, "..", "..", "build", "libheapgrab.so")
    if os.path.exists(in_tree):
        return os.path.normpath(in_tree)
    try:
        from . import _paths  # written by `cmake --install`
        installed = os.path.join(_paths.LIBDIR, "libheapgrab.so.0")
        if os.path.exists(installed):
            return installed
    except ImportError:
        pass
    return ctypes.util.find_library("heapgrab") or "libheapgrab.so.0"


# hg_totals is not written out here: its fields are the library's list
# (HG_TOTALS_FIELDS in heapgrab.h, every one a uint64_t), read when the
# library is loaded.  A statistic added there shows up here by itself.
_Totals = None


def _totals_struct(lib):
    names = [lib.hg_totals_field_name(i).decode() for i in range(lib.hg_totals_field_count())]
    return type("_Totals", (ctypes.Structure,),
                {"_c_struct_": "hg_totals", "_fields_": [(n, ctypes.c_uint64) for n in names]})


def totals_fields():
    """The names of the totals figures, in order: the keys of
    Snapshot.totals and of stats["totals"] (and of each arena's figures)."""
    _load()
    return [name for name, _ in _Totals._fields_]


_lib = None


def _load():
    global _lib, _Totals
    if _lib is not None:
        return _lib
    path = library_path()
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise Error(-1, "EINTERNAL", f"cannot load libheapgrab ({path}): {e}; build it "
                    "(cmake --build build) or set HEAPGRAB_LIBRARY") from None
    p, c_int, u64, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_size_t
    sigs = {
        "hg_error_message": (ctypes.c_char_p, []),
        "hg_error_code": (c_int, []),
        "hg_code_name": (ctypes.c_char_p, [c_int]),
        "hg_target_attach_pid": (c_int, [c_int, ctypes.c_uint, ctypes.POINTER(p)]),
        "hg_target_from_reader": (c_int, [ctypes.POINTER(_Reader), ctypes.POINTER(p)]),
        "hg_target_from_stopped_pid": (c_int, [c_int, ctypes.POINTER(_Thread), sz,
                                               ctypes.POINTER(p)]),
        "hg_target_open_core": (c_int, [ctypes.c_char_p, ctypes.POINTER(_CoreOptions),
                                        ctypes.POINTER(p)]),
        "hg_target_close": (None, [p]),
        "hg_snapshot_take": (c_int, [p, ctypes.POINTER(_SnapshotOptions), ctypes.POINTER(p)]),
        "hg_snapshot_free": (None, [p]),
        "hg_snapshot_chunk_count": (sz, [p]),
        "hg_snapshot_chunk": (ctypes.POINTER(_Chunk), [p, sz]),
        "hg_totals_field_count": (sz, []),
        "hg_totals_field_name": (ctypes.c_char_p, [sz]),
        "hg_write_json_string": (c_int, [p, ctypes.POINTER(p)]),
        "hg_write_text": (c_int, [p, p]),
        "hg_write_pprof": (c_int, [p, p]),
        "hg_allocs_take": (c_int, [p, ctypes.POINTER(p)]),
        "hg_allocs_free": (None, [p]),
        "hg_allocs_info": (ctypes.POINTER(ctypes.c_uint64 * len(SAMPLER_FIELDS)), [p]),
        "hg_write_allocs_pprof": (c_int, [p, p]),
        "hg_free": (None, [p]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    _Totals = _totals_struct(lib)
    lib.hg_snapshot_totals.restype = ctypes.POINTER(_Totals)
    lib.hg_snapshot_totals.argtypes = [p]
    _lib = lib
    return lib


_libc = ctypes.CDLL(None, use_errno=True)
_libc.fopen.restype, _libc.fopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_char_p]
_libc.fclose.restype, _libc.fclose.argtypes = ctypes.c_int, [ctypes.c_void_p]
_libc.open_memstream.restype = ctypes.c_void_p
_libc.open_memstream.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_size_t)]
_libc.free.restype, _libc.free.argtypes = None, [ctypes.c_void_p]


def _check(rc):
    if rc < 0:
        lib = _load()
        raise Error(rc, lib.hg_code_name(rc).decode(), lib.hg_error_message().decode())
    return rc


class StoppedProcess:
    """A live process that its debugger traces and keeps stopped.  heapgrab
    reads its memory directly and never ptraces it; threads are
    [(tid, fs_base)], which only the tracer can tell."""

    def __init__(self, pid, threads):
        self.pid = int(pid)
        self.threads = [(int(t), int(f)) for t, f in threads]


def _open_target(target, exe=None, sysroot=None):
    lib = _load()
    handle = ctypes.c_void_p()
    keep = []  # ctypes objects the library uses until the target is closed
    if isinstance(target, bool):
        raise TypeError("target must be a PID, a core file path or a reader")
    if isinstance(target, int):
        _check(lib.hg_target_attach_pid(target, 0, ctypes.byref(handle)))
    elif isinstance(target, (str, bytes, os.PathLike)):
        path = os.fsencode(target)
        opt = _CoreOptions(os.fsencode(sysroot) if sysroot else None,
                           os.fsencode(exe) if exe else None)
        _check(lib.hg_target_open_core(path, ctypes.byref(opt), ctypes.byref(handle)))
    elif isinstance(target, StoppedProcess):
        arr = (_Thread * max(1, len(target.threads)))(*target.threads)
        _check(lib.hg_target_from_stopped_pid(target.pid, arr, len(target.threads),
                                              ctypes.byref(handle)))
    elif hasattr(target, "read") and hasattr(target, "mappings"):
        keep.extend(_reader_struct(target, exe))
        _check(lib.hg_target_from_reader(ctypes.byref(keep[0]), ctypes.byref(handle)))
    else:
        raise TypeError("target must be a PID, a core file path or a reader")
    return handle, keep


def _reader_struct(obj, exe):
    """A C hg_reader over a Python reader object."""
    def read(ctx, addr, buf, size):
        try:
            data = obj.read(addr, size)
        except Exception:
            return -1
        if not data:
            return -1
        n = min(len(data), size)
        ctypes.memmove(buf, data, n)
        return n

    cb = _READ(read)
    maps = sorted(obj.mappings(), key=lambda m: m[0])
    paths = [os.fsencode(m[4] or "") for m in maps]
    marr = (_Mapping * max(1, len(maps)))()
    for i, (start, end, offset, perms, _path) in enumerate(maps):
        marr[i] = _Mapping(start, end, offset, perms.encode()[:4], paths[i], None)
    threads = list(obj.threads()) if hasattr(obj, "threads") else []
    tarr = (_Thread * max(1, len(threads)))(*[(int(t), int(f)) for t, f in threads])
    exe = exe or getattr(obj, "exe", None)
    exe_b = os.fsencode(exe) if exe else None
    r = _Reader(None, cb, len(maps), marr, len(threads), tarr, int(getattr(obj, "pid", 0) or 0),
                exe_b)
    return [r, cb, marr, tarr, paths, exe_b]


class Snapshot:
    """One snapshot.  .stats is the dict `heapgrab stats --json` prints.
    What heapgrab cannot know is None there: a core's rss_bytes,
    heap_resident_bytes, heap_share_of_rss and timing["stopped_ns"] (a core
    was never stopped), and the stop time of a reader's target."""

    def __init__(self, handle):
        self._h = handle
        lib = _load()
        out = ctypes.c_void_p()
        _check(lib.hg_write_json_string(handle, ctypes.byref(out)))
        try:
            self.stats = json.loads(ctypes.string_at(out.value).decode())
        finally:
            lib.hg_free(out)
        t = lib.hg_snapshot_totals(handle).contents
        self._totals = {name: getattr(t, name) for name, _ in t._fields_}

    @property
    def mallinfo2(self):
        return self.stats["mallinfo2"]

    @property
    def totals(self):
        """The totals figures (hg_totals), by name in the library's order:
        the same as stats["totals"]."""
        return dict(self._totals)

    def _write(self, fn, path):
        f = _libc.fopen(os.fsencode(path), b"wb")
        if not f:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e), path)
        try:
            _check(fn(self._h, f))
        finally:
            _libc.fclose(f)

    def write_pprof(self, path):
        """The gzipped pprof profile, as `heapgrab -o path` writes it."""
        self._write(_load().hg_write_pprof, path)

    def text(self):
        """The readable table `heapgrab stats` prints."""
        buf, size = ctypes.c_void_p(), ctypes.c_size_t()
        f = _libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
        if not f:
            raise MemoryError()
        try:
            rc = _load().hg_write_text(self._h, f)
        finally:
            _libc.fclose(f)
        try:
            _check(rc)
            return ctypes.string_at(buf.value, size.value).decode()
        finally:
            _libc.free(buf)

    def chunks(self):
        """Every chunk (address, size, usable, state, arena) when the snapshot
        was taken with chunks=True; arena is -1 for mmapped chunks."""
        lib = _load()
        for i in range(lib.hg_snapshot_chunk_count(self._h)):
            c = lib.hg_snapshot_chunk(self._h, i).contents
            yield Chunk(c.address, c.size, c.usable, STATES[c.state], c.arena)

    def close(self):
        if self._h:
            _load().hg_snapshot_free(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


# hg_sampler_info's fields, in order (every one a uint64_t)
SAMPLER_FIELDS = ("rate", "alloc_objects", "alloc_bytes", "free_objects", "free_bytes",
                  "live_sampled", "samples", "dropped_samples", "dropped_live", "threads",
                  "stacks")


def write_allocs(target, path, exe=None, sysroot=None):
    """Read the allocation sampler's table (libheapgrab_sampler.so) of
    target -- a PID, a core file's path, a StoppedProcess or a reader --
    and write its pprof allocation profile to path, as `heapgrab allocs`
    does.  Returns the sampler's figures (SAMPLER_FIELDS) as a dict.
    Error ENOSAMPLER when the sampler is not loaded."""
    lib = _load()
    handle, keep = _open_target(target, exe, sysroot)
    try:
        al = ctypes.c_void_p()
        _check(lib.hg_allocs_take(handle, ctypes.byref(al)))
    finally:
        lib.hg_target_close(handle)
        del keep
    try:
        info = dict(zip(SAMPLER_FIELDS, lib.hg_allocs_info(al).contents))
        f = _libc.fopen(os.fsencode(path), b"wb")
        if not f:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e), path)
        try:
            _check(lib.hg_write_allocs_pprof(al, f))
        finally:
            _libc.fclose(f)
        return info
    finally:
        lib.hg_allocs_free(al)


def snapshot(target, locate="auto", chunks=False, exe=None, sysroot=None):
    """Take a snapshot of target: a PID, a core file's path, a
    StoppedProcess, or a reader object.  locate: "auto", "symbols" or
    "heuristic".  chunks=True keeps every chunk for Snapshot.chunks().
    exe and sysroot are for cores (as the CLI's --exe and --sysroot)."""
    if locate not in LOCATE:
        raise ValueError(f"locate must be one of {', '.join(LOCATE)}")
    lib = _load()
    handle, keep = _open_target(target, exe, sysroot)
    try:
        opt = _SnapshotOptions(LOCATE[locate], 0, 1 if chunks else 0)
        snap = ctypes.c_void_p()
        _check(lib.hg_snapshot_take(handle, ctypes.byref(opt), ctypes.byref(snap)))
        return Snapshot(snap)
    finally:
        lib.hg_target_close(handle)
        del keep
