"""heapgrab: glibc heap snapshots of a process, a core file or a debugger's
inferior, from Python, over libheapgrab (ctypes: nothing to compile).

    import heapgrab
    snap = heapgrab.snapshot(4242)            # a live process (ptrace)
    snap = heapgrab.snapshot("app.core")      # a core file
    snap.stats["totals"]["inuse_bytes"]      # exactly `heapgrab stats --json`
    snap.write_pprof("heap.pprof")
    for c in heapgrab.snapshot(4242, chunks=True).chunks():
        print(hex(c.address), c.size, c.state, c.arena)
    snap = heapgrab.snapshot(4242, holders=True)   # who holds the memory
    snap.holders()["roots"][0]                     # exactly `heapgrab holders --json`
    snap.leaks()["direct_bytes"]                   # exactly `heapgrab leaks --json`

A target can also be an object with read(addr, size) -> bytes,
mappings() -> [(start, end, offset, perms, path)] and threads() ->
[(tid, fs_base)] (optional attributes pid and exe): that is how a debugger
lends heapgrab its view of a process (see gdb/heapsnap.py).  A process a
debugger already holds stopped is StoppedProcess(pid, threads).

The library is found through $HEAPGRAB_LIBRARY, else the build tree beside
this source tree (build/libheapgrab.so), else where `cmake --install` put it
(its prefix written into _paths.py, or /usr/local), else by its soname
(the Debian package's, or any the dynamic linker knows).
"""
import ctypes
import ctypes.util
import json
import os
from collections import namedtuple

__all__ = ["snapshot", "Snapshot", "Chunk", "Object", "Error", "StoppedProcess",
           "library_path", "totals_fields"]

STATES = ["inuse", "tcache", "fastbin", "bin", "top", "overhead", "mmapped"]
LOCATE = {"auto": 0, "symbols": 1, "heuristic": 2}

Chunk = namedtuple("Chunk", "address size usable state arena")
# An in-use object and its holder: holder is the index of the object holding
# it, or "root" (holder_root: the index of the root, in
# Snapshot.holders(all_roots=True)["roots"]), "several" or "leaked".
Object = namedtuple("Object", "address size cls holder holder_root retained_objects "
                              "retained_bytes")
ROOT_KINDS = ["global", "stack", "register", "tls", "mapping"]
OBJECT_CLASSES = ["reachable", "possibly", "direct", "indirect"]
_UNKNOWN = 2**64 - 1
_HOLDER = {-1: "several", -2: "leaked", -3: "root"}


class Error(Exception):
    """A libheapgrab failure: .code (negative), .name ("ENOPROC"), message."""

    def __init__(self, code, name, message):
        super().__init__(message)
        self.code, self.name, self.message = code, name, message


# Mirrors of the C structs of heapgrab.h.  Each names its C struct
# (_c_struct_): tests/frontends/test_layout.py checks every mirror's size and
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
                ("holders", ctypes.c_int),
                ("types", ctypes.c_int),
                ("memory_budget", ctypes.c_int64),
                ("no_stop", ctypes.c_int)]


class _Chunk(ctypes.Structure):
    _c_struct_ = "hg_chunk"
    _fields_ = [("address", ctypes.c_uint64), ("size", ctypes.c_uint64),
                ("usable", ctypes.c_uint64), ("arena", ctypes.c_int), ("state", ctypes.c_int)]


class _Root(ctypes.Structure):
    _c_struct_ = "hg_root"
    _fields_ = [("kind", ctypes.c_int), ("name", ctypes.c_char_p), ("module", ctypes.c_char_p),
                ("file", ctypes.c_char_p), ("line", ctypes.c_int), ("thread", ctypes.c_int),
                ("thread_name", ctypes.c_char_p), ("address", ctypes.c_uint64),
                ("retained_objects", ctypes.c_uint64), ("retained_bytes", ctypes.c_uint64),
                ("reachable_objects", ctypes.c_uint64), ("reachable_bytes", ctypes.c_uint64)]


class _LeakTotals(ctypes.Structure):
    _c_struct_ = "hg_leak_totals"
    _fields_ = [(f"{k}_{u}", ctypes.c_uint64) for k in ("direct", "indirect", "possibly",
                                                       "several")
                for u in ("objects", "bytes")]


class _Object(ctypes.Structure):
    _c_struct_ = "hg_object"
    _fields_ = [("address", ctypes.c_uint64), ("size", ctypes.c_uint64), ("cls", ctypes.c_int),
                ("holder", ctypes.c_int64), ("holder_root", ctypes.c_int64),
                ("retained_objects", ctypes.c_uint64), ("retained_bytes", ctypes.c_uint64)]


_LEAK_EXAMPLES, _LEAK_EXAMPLE_BYTES = 3, 32  # HG_LEAK_EXAMPLES, HG_LEAK_EXAMPLE_BYTES


class _LeakGroup(ctypes.Structure):
    _c_struct_ = "hg_leak_group"
    # the examples' anonymous struct, not a module-level mirror of its own:
    # the layout test checks it through this struct's size and offsets
    _fields_ = [("cls", ctypes.c_int), ("size", ctypes.c_uint64), ("objects", ctypes.c_uint64),
                ("bytes", ctypes.c_uint64), ("nexamples", ctypes.c_size_t),
                ("examples", type("_LeakExample", (ctypes.Structure,), {"_fields_": [
                    ("address", ctypes.c_uint64), ("len", ctypes.c_size_t),
                    ("bytes", ctypes.c_ubyte * _LEAK_EXAMPLE_BYTES)]}) * _LEAK_EXAMPLES)]


class _Type(ctypes.Structure):
    _c_struct_ = "hg_type"
    _fields_ = [("name", ctypes.c_char_p), ("how", ctypes.c_int),
                ("objects", ctypes.c_uint64), ("bytes", ctypes.c_uint64)]


class _TypeTotals(ctypes.Structure):
    _c_struct_ = "hg_type_totals"
    _fields_ = [("typed_objects", ctypes.c_uint64), ("typed_bytes", ctypes.c_uint64),
                ("inuse_objects", ctypes.c_uint64), ("inuse_bytes", ctypes.c_uint64)]


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
    # Installed by the Debian package (ldconfig knows it), or by `cmake
    # --install` with its default prefix, which ldconfig may not know yet.
    for d in ("/usr/local/lib", "/usr/local/lib/x86_64-linux-gnu"):
        if os.path.exists(os.path.join(d, "libheapgrab.so.0")):
            return os.path.join(d, "libheapgrab.so.0")
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
        "hg_write_types_text": (c_int, [p, p]),
        "hg_write_pprof": (c_int, [p, p]),
        "hg_write_pprof_by_size": (c_int, [p, p]),
        "hg_write_holders_text": (c_int, [p, p]),
        "hg_write_leaks_text": (c_int, [p, p]),
        "hg_snapshot_root_count": (sz, [p]),
        "hg_snapshot_root": (ctypes.POINTER(_Root), [p, sz]),
        "hg_snapshot_leaks": (ctypes.POINTER(_LeakTotals), [p]),
        "hg_snapshot_object_count": (sz, [p]),
        "hg_snapshot_object": (c_int, [p, sz, ctypes.POINTER(_Object)]),
        "hg_snapshot_leak_group_count": (sz, [p]),
        "hg_snapshot_leak_group": (ctypes.POINTER(_LeakGroup), [p, sz]),
        "hg_root_kind_name": (ctypes.c_char_p, [c_int]),
        "hg_object_class_name": (ctypes.c_char_p, [c_int]),
        "hg_allocs_take": (c_int, [p, ctypes.POINTER(p)]),
        "hg_allocs_free": (None, [p]),
        "hg_allocs_info": (ctypes.POINTER(ctypes.c_uint64 * len(SAMPLER_FIELDS)), [p]),
        "hg_write_allocs_pprof": (c_int, [p, p]),
        "hg_free": (None, [p]),
        "hg_snapshot_type_count": (sz, [p]),
        "hg_snapshot_type": (ctypes.POINTER(_Type), [p, sz]),
        "hg_snapshot_type_totals": (ctypes.POINTER(_TypeTotals), [p]),
        "hg_snapshot_chunk_type": (ctypes.c_long, [p, sz]),
        "hg_type_how_name": (ctypes.c_char_p, [c_int]),
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

    def write_pprof(self, path, by_size=False):
        """The gzipped pprof profile, as `heapgrab -o path` writes it: with
        holders, each object under who holds it; by_size=True (or a
        snapshot without holders), by size class (`--by-size`)."""
        lib = _load()
        self._write(lib.hg_write_pprof_by_size if by_size else lib.hg_write_pprof, path)

    def text(self, what="stats"):
        """The readable text of `heapgrab stats` (what="stats"), `heapgrab
        holders` ("holders"), `heapgrab leaks` ("leaks") or `heapgrab types`
        ("types", a snapshot taken with types=True)."""
        lib = _load()
        writers = {"stats": lib.hg_write_text, "holders": lib.hg_write_holders_text,
                   "leaks": lib.hg_write_leaks_text, "types": lib.hg_write_types_text}
        if what not in writers:
            raise ValueError(f"what must be one of {', '.join(writers)}")
        buf, size = ctypes.c_void_p(), ctypes.c_size_t()
        f = _libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
        if not f:
            raise MemoryError()
        try:
            rc = writers[what](self._h, f)
        finally:
            _libc.fclose(f)
        try:
            _check(rc)
            return ctypes.string_at(buf.value, size.value).decode(errors="replace")
        finally:
            _libc.free(buf)

    def types_text(self):
        """The table `heapgrab types` prints (a snapshot taken with
        types=True): text("types")."""
        return self.text("types")

    def chunks(self):
        """Every chunk (address, size, usable, state, arena) when the snapshot
        was taken with chunks=True; arena is -1 for mmapped chunks."""
        lib = _load()
        for i in range(lib.hg_snapshot_chunk_count(self._h)):
            c = lib.hg_snapshot_chunk(self._h, i).contents
            yield Chunk(c.address, c.size, c.usable, STATES[c.state], c.arena)

    def _leak_totals(self):
        p = _load().hg_snapshot_leaks(self._h)
        if not p:
            raise Error(-2, "EUSAGE", "the snapshot was taken without holders: "
                        "heapgrab.snapshot(..., holders=True)")
        return p.contents

    def leaks(self):
        """The leaks, as `heapgrab leaks --json` prints them: the direct,
        indirect and possibly-lost totals and the groups (kind, size,
        objects, bytes, examples with their address and first bytes in
        hex).  Error (EUSAGE) for a snapshot taken without holders."""
        lib = _load()
        t = self._leak_totals()
        out = {k: getattr(t, k) for k in ("direct_objects", "direct_bytes", "indirect_objects",
                                          "indirect_bytes", "possibly_objects",
                                          "possibly_bytes")}
        groups = []
        for i in range(lib.hg_snapshot_leak_group_count(self._h)):
            g = lib.hg_snapshot_leak_group(self._h, i).contents
            examples = []
            for e in g.examples[:min(g.nexamples, _LEAK_EXAMPLES)]:
                n = min(e.len, _LEAK_EXAMPLE_BYTES)
                examples.append({"address": hex(e.address), "first_bytes": bytes(e.bytes[:n]).hex()})
            groups.append({"kind": lib.hg_object_class_name(g.cls).decode(), "size": g.size,
                           "objects": g.objects, "bytes": g.bytes, "examples": examples})
        out["groups"] = groups
        return out

    def holders(self):
        """Who holds the memory, as `heapgrab holders --json` prints it: the
        roots most retained bytes first (kind, name, module, file, line,
        thread, function, retained and reachable objects and bytes; None
        where a root has none), what several roots hold together, the leaks
        (as leaks()) and the timing.  Error (EUSAGE) for a snapshot taken
        without holders."""
        lib = _load()
        t = self._leak_totals()
        roots = []
        for i in range(lib.hg_snapshot_root_count(self._h)):
            r = lib.hg_snapshot_root(self._h, i).contents
            kind = lib.hg_root_kind_name(r.kind).decode()
            name = (r.name or b"?").decode(errors="replace")
            text = lambda b: b.decode(errors="replace") if b is not None else None  # noqa: E731
            roots.append({
                "kind": kind, "name": name, "module": text(r.module), "file": text(r.file),
                "line": r.line if r.line > 0 else None,
                "thread": r.thread if kind in ("stack", "register", "tls") and r.thread else None,
                "function": name if kind == "stack" else None,
                "retained_objects": r.retained_objects, "retained_bytes": r.retained_bytes,
                "reachable_objects": None if r.reachable_objects == _UNKNOWN else r.reachable_objects,
                "reachable_bytes": None if r.reachable_bytes == _UNKNOWN else r.reachable_bytes,
            })
        timing = self.stats["timing"]
        return {"roots": roots,
                "several_roots": {"objects": t.several_objects, "bytes": t.several_bytes},
                "leaks": self.leaks(),
                "timing": {"stopped_ns": timing["stopped_ns"], "total_ns": timing["total_ns"]}}

    def objects(self):
        """Every in-use object with its holder (Object), in address order,
        when the snapshot was taken with holders (else none)."""
        lib = _load()
        o = _Object()
        for i in range(lib.hg_snapshot_object_count(self._h)):
            _check(lib.hg_snapshot_object(self._h, i, ctypes.byref(o)))
            holder = _HOLDER.get(o.holder, o.holder)
            yield Object(o.address, o.size, OBJECT_CLASSES[o.cls] if 0 <= o.cls < 4 else "unknown",
                         holder, o.holder_root if holder == "root" else None,
                         o.retained_objects, o.retained_bytes)

    def types(self):
        """What the memory is, when the snapshot was taken with types=True:
        the dict `heapgrab types --json` prints -- {"types": [{"name",
        "objects", "bytes", "how"}, ...] most bytes first (the untyped chunks
        as one entry "(untyped)", how "size"), "typed_objects",
        "typed_bytes", "inuse_objects", "inuse_bytes"}.  None without types."""
        lib = _load()
        tot = lib.hg_snapshot_type_totals(self._h)
        if not tot:
            return None
        out = []
        for i in range(lib.hg_snapshot_type_count(self._h)):
            t = lib.hg_snapshot_type(self._h, i).contents
            out.append({"name": t.name.decode(errors="replace"), "objects": t.objects,
                        "bytes": t.bytes, "how": lib.hg_type_how_name(t.how).decode()})
        tt = tot.contents
        return {"types": out, **{name: getattr(tt, name) for name, _ in tt._fields_}}

    def chunk_types(self):
        """(chunk, type name) of every in-use chunk, with types=True; the
        name is None for an untyped chunk."""
        lib = _load()
        names = {}
        for i in range(lib.hg_snapshot_type_count(self._h)):
            t = lib.hg_snapshot_type(self._h, i).contents
            names[i] = t.name.decode(errors="replace") if t.how != 0 else None
        for i in range(lib.hg_snapshot_chunk_count(self._h)):
            k = lib.hg_snapshot_chunk_type(self._h, i)
            if k >= 0:
                c = lib.hg_snapshot_chunk(self._h, i).contents
                yield Chunk(c.address, c.size, c.usable, STATES[c.state], c.arena), names[k]

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


def snapshot(target, locate="auto", chunks=False, exe=None, sysroot=None, holders=False,
             types=False, memory_budget=None, no_stop=False):
    """Take a snapshot of target: a PID, a core file's path, a
    StoppedProcess, or a reader object.  locate: "auto", "symbols" or
    "heuristic".  chunks=True keeps every chunk for Snapshot.chunks().
    holders=True also finds who holds the memory (Snapshot.holders(),
    .leaks(), .objects(); the stop reads every in-use byte once more).
    types=True says what each in-use chunk is (Snapshot.types(),
    .chunk_types(); implies chunks).
    exe and sysroot are for cores (as the CLI's --exe and --sysroot).
    memory_budget (bytes; 0: never copy) and no_stop are the CLI's
    --memory-budget and --no-stop, for a live process."""
    if locate not in LOCATE:
        raise ValueError(f"locate must be one of {', '.join(LOCATE)}")
    lib = _load()
    handle, keep = _open_target(target, exe, sysroot)
    try:
        budget = 0 if memory_budget is None else (memory_budget or -1)
        opt = _SnapshotOptions(LOCATE[locate], 0, 1 if chunks else 0, 1 if holders else 0,
                               1 if types else 0, budget, 1 if no_stop else 0)
        snap = ctypes.c_void_p()
        _check(lib.hg_snapshot_take(handle, ctypes.byref(opt), ctypes.byref(snap)))
        return Snapshot(snap)
    finally:
        lib.hg_target_close(handle)
        del keep
