"""What the Python tests share: failing a check, skipping, the host's glibc
and its chunk sizes and tcache fill count, asking the CLI, and running a
list of tests.  Starting and talking to targets is targets.py's."""
import json
import os
import re
import subprocess
import sys
import time


class Failure(Exception):
    pass


class Skip(Exception):
    """A test that cannot run here (a program not installed): reported as
    skipped, and the run exits 77 (ctest's SKIP_RETURN_CODE) if nothing
    else ran."""


def check(cond, what):
    if not cond:
        raise Failure(what)


def equal(got, want, what):
    if got != want:
        raise Failure(f"{what}: expected {want}, got {got}")


SIZE_SZ = 8
PAGE = os.sysconf("SC_PAGE_SIZE")


def version_tuple(text):
    """"2.36" -> (2, 36)."""
    return tuple(int(x) for x in text.split(".")[:2])


# HG_TARGET_ROOT: a root directory (scripts/make-roots.sh) whose glibc the
# live targets run on instead of the host's -- built there with its gcc
# and chrooted into by targets.py -- so that the tests can be run against
# another glibc release while heapgrab runs on the host.
TARGET_ROOT = os.environ.get("HG_TARGET_ROOT") or None


def _target_glibc_text():
    if not TARGET_ROOT:
        return os.confstr("CS_GNU_LIBC_VERSION").split()[1]
    if not os.path.isfile(os.path.join(TARGET_ROOT, "usr/bin/gcc")):
        # a test that cannot run here: skipped (ctest's SKIP_RETURN_CODE)
        print(f"HG_TARGET_ROOT={TARGET_ROOT}: no such root with a gcc "
              "(scripts/make-roots.sh makes them): skipped")
        sys.exit(77)
    r = subprocess.run(["chroot", TARGET_ROOT, "getconf", "GNU_LIBC_VERSION"],
                       capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.startswith("glibc "):
        sys.exit(f"HG_TARGET_ROOT={TARGET_ROOT}: cannot read its glibc version "
                 f"(getconf: {r.stderr.strip() or r.stdout.strip()})")
    return r.stdout.split()[1]


# The glibc every live target runs on (the host's, or HG_TARGET_ROOT's):
# the tests expect its version, and its tcache fill count, never 2.36's.
HOST_GLIBC_TEXT = _target_glibc_text()
HOST_GLIBC = version_tuple(HOST_GLIBC_TEXT)


def fill_count(version):
    """glibc's default tcache count: the chunks a tcache bin keeps (7; 16
    from 2.43, doc/glibc-layouts.md)."""
    return 16 if version >= (2, 43) else 7


# chunks of one size a thread's tcache keeps on the targets' glibc
FILL = fill_count(HOST_GLIBC)


def has_fastbins(version):
    """glibc 2.43 removed the fastbins: a freed small chunk the tcache does
    not keep goes to the unsorted bin and coalesces with free neighbours
    like any other (doc/glibc-layouts.md)."""
    return version < (2, 43)


# the targets' malloc has fastbins
FASTBINS = has_fastbins(HOST_GLIBC)


def chunk_for(req):
    """glibc's request2size on x86_64: the chunk a malloc(req) takes."""
    return max(32, (req + SIZE_SZ + 15) & ~15)


def mmapped_chunk_for(req):
    """The chunk of a malloc(req) served by its own mmap."""
    return (chunk_for(req) + SIZE_SZ + PAGE - 1) & ~(PAGE - 1)


def mmapped_tail(version):
    """Bytes of an mmapped chunk's mapping past the chunk's size: from 2.43
    the chunk ends 16 bytes before its mapping does (doc/glibc-layouts.md),
    and hblkhd (mp_.mmapped_mem) counts the whole mapping."""
    return 16 if version >= (2, 43) else 0


def mmapped_usable(mapping, version):
    """The usable bytes of the mmapped chunk in a mapping of that size:
    all but prev_size and size; from 2.43 the chunk is 16 bytes shorter
    than its mapping and its usable bytes run into the next chunk's
    prev_size, as any chunk's (size - 8)."""
    if version >= (2, 43):
        return mapping - mmapped_tail(version) - SIZE_SZ
    return mapping - 2 * SIZE_SZ


def tcache_struct_chunk(version):
    """The chunk of a thread's tcache_perthread_struct: a 2-byte count and a
    list head per bin, 64 bins; 76 from 2.42 (its large bins)."""
    bins = 76 if version >= (2, 42) else 64
    return chunk_for(bins * (2 + 8))


def gcore_lost_threads(core, live, version):
    """The threads whose tcache a gcore core cannot give: from glibc 2.42
    thread stacks have guard pages, and gdb (13, Debian 12's) then leaves
    the stacks, and the control blocks in them, out of the core; heapgrab
    must name each such thread.  {} before 2.42 or when any other problem
    is reported (the caller's checks then fail on it)."""
    if version < (2, 42) or not core["problems"]:
        return {}
    lost = {}
    for p in core["problems"]:
        m = re.match(r"thread (\d+): its thread control block .* its tcache is not counted",
                     p["what"])
        if not m:
            return {}
        lost[int(m.group(1))] = None
    for x in live["threads"]:
        if x["tid"] in lost:
            lost[x["tid"]] = x
    check(None not in lost.values(), f"threads named by the core's problems: {list(lost)}")
    return lost


def without_tcaches(live, lost, version):
    """What a core that lost these threads' control blocks must show, from
    a live snapshot: their tcache chunks, and the chunk of each one's
    tcache_perthread_struct (overhead where the thread is known), counted
    in use in their arenas and totals, their tcaches empty and arenas
    unknown, and the problems naming them."""
    want = json.loads(json.dumps(live))
    struct = tcache_struct_chunk(version)
    for x in lost.values():
        n, size = x["tcache_objects"], x["tcache_bytes"]
        for fig in [want["totals"]] + [a for a in want["arenas"] if a["index"] == x["arena"]]:
            fig["tcache_objects"] -= n
            fig["tcache_bytes"] -= size
            fig["inuse_objects"] += n + 1
            fig["inuse_bytes"] += size - SIZE_SZ * n + struct - SIZE_SZ
            fig["overhead_bytes"] -= struct
    for t in want["threads"]:
        if t["tid"] in lost:
            # its arena pointer is in the lost block too
            t["tcache_objects"] = t["tcache_bytes"] = 0
            t["arena"] = None
    want["problems_total"] = len(lost)
    return want


def threshold_cases(version):
    """Programs that move malloc's thresholds, each way one can: glibc's own
    dynamic raise when an mmapped chunk is freed, mallopt(), and
    GLIBC_TUNABLES.  Each is (name, GLIBC_TUNABLES or None, gt_target
    commands, proof): proof(mallinfo2 of the target) says the thresholds
    did move -- a block below the new threshold came from the heap where
    glibc's defaults would have mmapped it, or (threshold 0) every block
    was mmapped."""
    # glibc before 2.35 refuses an mmap threshold above 32 MiB
    high = (64 << 20) if version >= (2, 35) else (32 << 20)
    common = ["alloc 1000 72", "free 60", "thread_alloc 0 300 100", "thread_free 0 9"]
    return [
        ("a freed mmapped chunk raised the thresholds", None,
         common + ["big 2 2097152", "free_big 1", "alloc 1 1048576"],
         lambda mi: mi["hblks"] == 1),
        (f"mallopt: mmap_threshold {high}, trim_threshold 256 MiB, top_pad 1 MiB, mmap_max 1000",
         None, [f"mallopt mmap_threshold {high}", "mallopt trim_threshold 268435456",
                "mallopt top_pad 1048576", "mallopt mmap_max 1000"] + common +
         ["big 1 20971520", f"big 1 {high + (8 << 20)}"],
         lambda mi: mi["hblks"] == 1),
        ("GLIBC_TUNABLES: mmap_threshold 4 MiB, trim_threshold 1 MiB, top_pad 0, mmap_max "
         "100000, arena_test 2",
         "glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=1048576:"
         "glibc.malloc.top_pad=0:glibc.malloc.mmap_max=100000:glibc.malloc.arena_test=2",
         common + ["big 1 2097152", "big 1 8388608"],
         lambda mi: mi["hblks"] == 1),
        # the main arena never gets a heap: every chunk it serves is mmapped
        ("GLIBC_TUNABLES: mmap_threshold 0", "glibc.malloc.mmap_threshold=0",
         common + ["big 1 200000"], lambda mi: mi["hblks"] > 940),
    ]


def cli_stats(heapgrab, target, *options):
    """`heapgrab stats --json` of a PID or core, as a dict."""
    r = subprocess.run([heapgrab, "stats", "--json", *options, str(target)], capture_output=True)
    check(r.returncode == 0, f"heapgrab stats {target}: exit {r.returncode}: {r.stderr!r}")
    return json.loads(r.stdout)


def run(name, tests, *args):
    """Run each test(*args), print ok/SKIP/FAIL lines; the exit status (77
    when every test was skipped)."""
    failed = skipped = 0
    for test in tests:
        t0 = time.time()
        try:
            test(*args)
            print(f"ok   {test.__name__} ({time.time() - t0:.1f}s)")
        except Skip as e:
            skipped += 1
            print(f"SKIP {test.__name__}: {e}")
        except Exception as e:
            failed += 1
            print(f"FAIL {test.__name__}: {type(e).__name__}: {e}")
    print(f"{name}: {len(tests) - failed - skipped} passed, {skipped} skipped, {failed} failed")
    sys.stdout.flush()
    if failed:
        return 1
    return 77 if tests and skipped == len(tests) else 0
