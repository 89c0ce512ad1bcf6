"""The heapgrab Python package on a live process and on a core, against
gt_target's own figures and the CLI's (run with pytest; see tests/CMakeLists).

Environment: HEAPGRAB_LIBRARY (the shared library), HEAPGRAB (the CLI),
HG_TARGET_DIR (where gt_target is).
"""
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import heapgrab  # noqa: E402
from harness import FILL, cli_stats as _cli_stats  # noqa: E402
from targets import Target  # noqa: E402

TARGET = os.path.join(os.environ.get("HG_TARGET_DIR", ""), "gt_target")
HEAPGRAB = os.environ.get("HEAPGRAB", "")
STEPS = ["alloc 500 72", "free 40", "thread_alloc 0 200 100", "thread_free 0 5",
         "alloc 100 600", "free_step 0 50 2", "big 2 2097152", "addrs"]


@pytest.fixture
def target():
    with Target(TARGET) as t:
        for step in STEPS:
            t.cmd(step)
        yield t


def cli_stats(target):
    return _cli_stats(HEAPGRAB, target)


def test_pid_equals_target_and_cli(target):
    snap = heapgrab.snapshot(target.pid)
    assert snap.mallinfo2 == target.state["mallinfo2"]
    cli = cli_stats(target.pid)
    assert set(snap.stats) == set(cli)          # exactly the keys of stats --json
    assert snap.mallinfo2 == cli["mallinfo2"]
    assert snap.totals == cli["totals"]
    # the totals' fields, in order, are the library's list everywhere
    fields = heapgrab.totals_fields()
    assert list(snap.totals) == list(snap.stats["totals"]) == list(cli["totals"]) == fields
    for a in cli["arenas"]:
        assert [k for k in a if k in fields] == fields
    tc = {t["tid"]: t["tcache_objects"] for t in snap.stats["threads"]}
    assert tc[target.state["main_tid"]] == FILL   # 40 freed, FILL kept
    assert tc[target.state["workers"][0]["tid"]] == 6   # warm-up chunk + 5


def test_chunks_add_up_and_hold_the_targets_blocks(target):
    snap = heapgrab.snapshot(target.pid, chunks=True)
    chunks = list(snap.chunks())
    count, size, usable = Counter(), Counter(), Counter()
    for c in chunks:
        count[c.state] += 1
        size[c.state] += c.size
        usable[c.state] += c.usable
    t = snap.totals
    assert count["inuse"] + count["mmapped"] == t["inuse_objects"]
    assert usable["inuse"] + usable["mmapped"] == t["inuse_bytes"]
    assert (count["tcache"], size["tcache"]) == (t["tcache_objects"], t["tcache_bytes"])
    assert (count["fastbin"], size["fastbin"]) == (t["fastbin_objects"], t["fastbin_bytes"])
    assert (count["bin"], size["bin"]) == (t["free_objects"], t["free_bytes"])
    assert size["top"] == t["top_bytes"]
    assert count["mmapped"] == t["mmapped_objects"] == 2
    # per arena, the chunks and the non-chunk overhead (heap and arena
    # headers, fenceposts) tile the arena's memory exactly
    for a in snap.stats["arenas"]:
        mine = [c for c in chunks if c.arena == a["index"]]
        overhead_chunks = sum(c.size for c in mine if c.state == "overhead")
        headers = a["overhead_bytes"] - overhead_chunks  # arena totals are inline
        assert sum(c.size for c in mine) + headers == a["system_mem"]
    # every block the target says it holds is an in-use chunk of its size
    by_addr = {c.address: c for c in chunks}
    addrs = target.state["addrs"]
    assert len(addrs) == 64
    for a in addrs:
        c = by_addr.get(a - 16)
        assert c is not None and c.state == "inuse", hex(a)
    assert {by_addr[a - 16].size for a in addrs} <= {80, 608}


def test_core_equals_live(target, tmp_path):
    live = heapgrab.snapshot(target.pid)
    base = str(tmp_path / "core")
    subprocess.run(["gcore", "-o", base, str(target.pid)], capture_output=True, check=True)
    core = heapgrab.snapshot(f"{base}.{target.pid}")
    assert core.mallinfo2 == live.mallinfo2 == target.state["mallinfo2"]
    assert dict(core.totals, released_bytes=0) == dict(live.totals, released_bytes=0)
    # what a core cannot know is None, never 0; a live process has it
    for key in ("rss_bytes", "heap_resident_bytes", "heap_share_of_rss"):
        assert core.stats[key] is None and live.stats[key] > 0, key
    assert core.stats["timing"]["stopped_ns"] is None
    assert live.stats["timing"]["stopped_ns"] > 0
    # a core cut short, wherever: one error
    data = open(f"{base}.{target.pid}", "rb").read()
    for cut in (0, 40, 5000, len(data) // 2, len(data) - 1):
        (tmp_path / "cut").write_bytes(data[:cut])
        with pytest.raises(heapgrab.Error) as e:
            heapgrab.snapshot(str(tmp_path / "cut"))
        assert e.value.name == "EINCOMPLETE", (cut, e.value.message)


def test_reader_object(target):
    """A Python reader (the way GDB's remote targets plug in)."""
    class Reader:
        pid = 0

        def __init__(self, pid):
            self.fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
            self.maps = []
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    parts = line.split(None, 5)
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    self.maps.append((lo, hi, int(parts[2], 16), parts[1],
                                      parts[5].strip() if len(parts) > 5 else ""))

        def read(self, addr, size):
            return os.pread(self.fd, size, addr)

        def mappings(self):
            return self.maps

        def threads(self):
            return []   # no thread pointers: tcache chunks count as in use

    os.kill(target.pid, 19)  # SIGSTOP: the reader's owner keeps it still
    try:
        snap = heapgrab.snapshot(Reader(target.pid))
    finally:
        os.kill(target.pid, 18)
    assert snap.mallinfo2 == target.state["mallinfo2"]
    # the reader's owner held the process: heapgrab timed no stop
    assert snap.stats["timing"]["stopped_ns"] is None


def test_errors(tmp_path):
    with pytest.raises(heapgrab.Error) as e:
        heapgrab.snapshot(2 ** 22 + 12345)
    assert e.value.name == "ENOPROC"
    bad = tmp_path / "notacore"
    bad.write_bytes(b"hello")
    with pytest.raises(heapgrab.Error) as e:
        heapgrab.snapshot(str(bad))
    assert e.value.name == "EUSAGE" and "core" in e.value.message
    with pytest.raises(heapgrab.Error) as e:
        heapgrab.snapshot(str(tmp_path))
    assert e.value.name == "EUSAGE" and "directory" in e.value.message
    with pytest.raises(ValueError):
        heapgrab.snapshot(1, locate="guess")


def test_write_pprof(target, tmp_path):
    out = tmp_path / "heap.pprof"
    heapgrab.snapshot(target.pid).write_pprof(str(out))
    assert out.read_bytes()[:2] == b"\x1f\x8b"   # gzip
