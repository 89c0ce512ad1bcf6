"""The Python package's holders(), leaks(), objects() and write_pprof() on
the synthetic snapshot of synthetic.h (a shared library built from
synthetic.c, HG_SYNTHETIC), so that they are tested whether or not the
library finds holders in a real process: every dict must be exactly the
library's own JSON (holders --json, leaks --json), and the figures those
of the model.  Run with pytest (tests/holders_outputs.cmake)."""
import ctypes
import gzip
import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import heapgrab  # noqa: E402

SYNTHETIC = os.environ.get("HG_SYNTHETIC", "")


@pytest.fixture
def synth():
    if not SYNTHETIC or not os.path.exists(SYNTHETIC):
        pytest.fail(f"HG_SYNTHETIC={SYNTHETIC!r} is not the synthetic library: run through ctest")
    heapgrab._load()
    lib = ctypes.CDLL(SYNTHETIC)
    lib.synthetic_holders_snapshot.restype = ctypes.c_void_p
    lib.synthetic_holders_snapshot.argtypes = [ctypes.c_char_p]
    lib.synthetic_drop_holders.argtypes = [ctypes.c_void_p]
    return lib


def take(synth):
    h = synth.synthetic_holders_snapshot(b"/src/app/tracker.c")
    assert h
    return heapgrab.Snapshot(ctypes.c_void_p(h))


def library_json(fn, snap):
    lib = heapgrab._load()
    f = getattr(lib, fn)
    f.restype, f.argtypes = ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    out = ctypes.c_void_p()
    heapgrab._check(f(snap._h, ctypes.byref(out)))
    try:
        return json.loads(ctypes.string_at(out.value).decode())
    finally:
        lib.hg_free(out)


def test_holders_is_the_librarys_json(synth):
    with take(synth) as snap:
        h = snap.holders()
        assert h == library_json("hg_write_holders_json_string", snap)
        assert list(h) == ["roots", "several_roots", "leaks", "timing"]
        first = h["roots"][0]
        assert (first["kind"], first["name"], first["retained_bytes"]) == \
            ("mapping", "0x7f0000000000-0x7f0000100000", 135152)
        tracker = [r for r in h["roots"] if r["name"] == "g_tracker"][0]
        assert (tracker["retained_objects"], tracker["retained_bytes"]) == (9, 1592)
        assert (tracker["file"], tracker["line"]) == ("/src/app/tracker.c", 3)
        stack = [r for r in h["roots"] if r["kind"] == "stack"][0]
        assert (stack["function"], stack["thread"]) == ("hold_on_stack", 4243)
        assert h["several_roots"] == {"objects": 2, "bytes": 64}
        assert "g_empty" not in [r["name"] for r in h["roots"]]


def test_leaks_is_the_librarys_json(synth):
    with take(synth) as snap:
        lk = snap.leaks()
        assert lk == library_json("hg_write_leaks_json_string", snap)
        assert (lk["direct_objects"], lk["direct_bytes"]) == (2, 80)
        assert (lk["indirect_objects"], lk["indirect_bytes"]) == (3, 72)
        assert (lk["possibly_objects"], lk["possibly_bytes"]) == (1, 56)
        assert [(g["kind"], g["size"], g["objects"]) for g in lk["groups"]] == \
            [("direct", 40, 2), ("indirect", 24, 3)]
        assert bytes.fromhex(lk["groups"][0]["examples"][0]["first_bytes"]).startswith(b"leak ")
        assert "SUMMARY: heapgrab: 152 byte(s) leaked in 5 allocation(s)." in snap.text("leaks")
        assert "g_tracker" in snap.text("holders")


def test_objects_and_their_holders(synth):
    with take(synth) as snap:
        objs = list(snap.objects())
        assert len(objs) == snap.totals["inuse_objects"] == 220
        assert sum(o.size for o in objs) == snap.totals["inuse_bytes"]
        assert [o.address for o in objs] == sorted(o.address for o in objs)
        # the tracker (first object) is held by root g_tracker and holds 9
        assert objs[0].holder == "root" and objs[0].holder_root == 0
        assert (objs[0].retained_objects, objs[0].retained_bytes) == (8, 1536)
        assert objs[1].holder == 0  # the array, held by the tracker
        assert sum(o.holder == "leaked" for o in objs) == 5
        assert sum(o.holder == "several" for o in objs) == 1
        assert sum(o.cls == "possibly" for o in objs) == 1


def test_write_pprof_both_views(synth, tmp_path):
    with take(synth) as snap:
        snap.write_pprof(tmp_path / "h.pb.gz")
        snap.write_pprof(tmp_path / "s.pb.gz", by_size=True)
        holders = gzip.decompress((tmp_path / "h.pb.gz").read_bytes())
        sizes = gzip.decompress((tmp_path / "s.pb.gz").read_bytes())
        assert b"(several roots)" in holders and b"g_tracker" in holders
        assert b"(several roots)" not in sizes and b"arena main" in sizes


def test_without_holders(synth):
    h = synth.synthetic_holders_snapshot(b"/src/app/tracker.c")
    synth.synthetic_drop_holders(h)
    with heapgrab.Snapshot(ctypes.c_void_p(h)) as snap:
        with pytest.raises(heapgrab.Error) as e:
            snap.holders()
        assert e.value.name == "EUSAGE"
        with pytest.raises(heapgrab.Error):
            snap.leaks()
        with pytest.raises(heapgrab.Error):
            snap.text("leaks")
        assert list(snap.objects()) == []
        assert "leaks" not in snap.stats
