"""Hostile cores: the crafted cases and the mutator shared by test_cores.py
(CI, bounded in time) and scripts/fuzz-cores.py (the long run).

Every run of heapgrab on such a core must exit with a documented status,
say why in exactly one line on stderr (nothing when it succeeds), never
crash (sanitizer reports count as crashes), never hang, and never print
the contents of a file the core names.
"""
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corelib import (Core, Note, NT_FILE, NT_PRSTATUS, PT_LOAD, PT_NOTE, PHDR, P_TYPE,  # noqa: E402
                     P_FLAGS, P_OFFSET, P_VADDR, P_FILESZ, P_MEMSZ, PR_PID, PR_REG,
                     REG_FS_BASE, REG_RIP, REG_RSP)

DOCUMENTED = set(range(11))  # README "Exit status": 0 to 10
SANITIZER = (b"AddressSanitizer", b"LeakSanitizer", b"runtime error:", b"Sanitizer")
OK, USAGE, INCOMPLETE, MISMATCH, UNSUPPORTED = 0, 2, 10, 9, 6


class Result:
    def __init__(self, argv, rc, out, err, secs, timed_out):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err
        self.secs, self.timed_out = secs, timed_out


HIDE_DEBUG = ["unshare", "-m", "sh", "-c",
              'mount -t tmpfs none /usr/lib/debug && exec "$0" "$@"']


def run(heapgrab, target, args=("stats", "--json"), timeout=60, env=None, prefix=()):
    """heapgrab ARGS TARGET, killed (with everything it started) after
    timeout seconds; prefix: a command to run it under (HIDE_DEBUG)."""
    argv = [*prefix, heapgrab, *args, target]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        timed_out = True
    return Result(argv, p.returncode, out, err, time.monotonic() - t0, timed_out)


def faults(r, secrets=(), json_out=True):
    """What is wrong with a run on hostile input (empty if nothing).
    json_out: the run was `stats --json`, which must print JSON and say
    nothing on stderr when it succeeds (other commands may add notes)."""
    bad = []
    if r.timed_out:
        bad.append(f"hung: killed after {r.secs:.0f} s")
        return bad
    if r.rc < 0:
        bad.append(f"killed by signal {-r.rc}")
    elif r.rc not in DOCUMENTED:
        bad.append(f"exit {r.rc} is not a documented status")
    if any(s in r.err for s in SANITIZER):
        bad.append("sanitizer report")
    lines = r.err.decode("utf-8", "replace").splitlines()
    if r.rc == 0:
        if lines and (json_out or not all(l.startswith("heapgrab: ") for l in lines)):
            bad.append(f"exit 0 with {len(lines)} lines on stderr")
        if json_out:
            try:
                json.loads(r.out)
            except ValueError as e:
                bad.append(f"exit 0 but stdout is not JSON: {e}")
    elif r.rc > 0 and (len(lines) != 1 or not lines[0].startswith("heapgrab: ")):
        bad.append(f"exit {r.rc} with {len(lines)} lines on stderr (want one 'heapgrab: ' line)")
    for s in secrets:
        if s in r.out or s in r.err:
            bad.append("printed the contents of a file the core names")
    return bad


def describe(r):
    err = r.err.decode("utf-8", "replace").strip().splitlines()
    return f"exit {r.rc}, {r.secs:.2f} s, stderr {err[:3]!r}"


class Scene:
    """Files the hostile cores name: a secret (a regular non-ELF file whose
    contents must never show), a FIFO (open() would block forever), a
    directory, a device, a symlink to the FIFO."""

    def __init__(self, tmp):
        self.tmp = tmp
        os.makedirs(tmp, exist_ok=True)
        self.marker = b"HEAPGRAB-SECRET-%08x" % random.SystemRandom().getrandbits(32)
        self.secret = os.path.join(tmp, "secret.txt")
        with open(self.secret, "wb") as f:
            f.write((self.marker + b" release version 2.36.\n") * 4096)
        self.fifo = os.path.join(tmp, "fifo")
        if not os.path.exists(self.fifo):
            os.mkfifo(self.fifo)
        self.fifo_link = os.path.join(tmp, "fifo-link")
        if not os.path.lexists(self.fifo_link):
            os.symlink(self.fifo, self.fifo_link)
        self.dir = os.path.join(tmp, "dir")
        os.makedirs(self.dir, exist_ok=True)
        self.device = "/dev/zero"
        # a name that would break the one-line rule if printed raw
        self.weird = os.path.join(tmp, "line\nbreak\x1b[31m\udcff")
        if not os.path.exists(self.weird):
            with open(self.weird, "wb") as f:
                f.write(self.marker)
        # there, and no ELF file heapgrab may read
        self.present_paths = [self.secret, "/etc/shadow", self.fifo, self.fifo_link, self.dir,
                              self.device, "/dev/null", self.weird, "/proc/self/mem"]
        # not there, or not for us (kcore is an ELF file; pid 1's files
        # refuse even root under ptrace rules)
        self.hostile_paths = self.present_paths + [
            "/nonexistent/heapgrab/libc.so.6", "/proc/kcore", "/proc/1/environ"]
        self.secrets = [self.marker]

    def libc_copy(self, libc):
        """A copy of libc in a tree of its own, with FIFOs where its debug
        file is looked for: <tree>/usr/lib/debug/.build-id/xx/yyyy.debug,
        and its .gnu_debuglink name next to it and in .debug/."""
        tree = os.path.join(self.tmp, "tree")
        lib = os.path.join(tree, "usr/lib/x86_64-linux-gnu")
        copy = os.path.join(lib, os.path.basename(libc))
        if not os.path.exists(copy):
            os.makedirs(os.path.join(lib, ".debug"))
            shutil.copy(libc, copy)
            data = open(copy, "rb").read()
            bid = build_id(data)
            d = os.path.join(tree, "usr/lib/debug/.build-id", bid[:2])
            os.makedirs(d)
            os.mkfifo(os.path.join(d, bid[2:] + ".debug"))
            link = debuglink(data)
            if link:
                os.mkfifo(os.path.join(lib, link))
                os.mkfifo(os.path.join(lib, ".debug", link))
        return copy

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path


# ------------------------------------------------------------------- helpers

def build_id(elf):
    """The GNU build-id of an ELF image, as hex (from its section headers)."""
    for name, data in sections(elf):
        if name == ".note.gnu.build-id":
            namesz, descsz, _ = struct.unpack_from("<III", data, 0)
            off = 12 + ((namesz + 3) & ~3)
            return data[off:off + descsz].hex()
    return ""


def debuglink(elf):
    for name, data in sections(elf):
        if name == ".gnu_debuglink":
            return data.split(b"\0")[0].decode()
    return None


def sections(elf):
    shoff, = struct.unpack_from("<Q", elf, 40)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 58)
    hdrs = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    strtab = hdrs[shstrndx]
    names = elf[strtab[4]:strtab[4] + strtab[5]]
    for h in hdrs:
        yield names[h[0]:names.index(b"\0", h[0])].decode(), elf[h[4]:h[4] + h[5]]


def replace_note(core, type, desc_fn, every=False):
    notes, done = [], False
    for n in core.notes:
        if n.type == type and n.name == b"CORE" and (every or not done):
            n = Note(n.name, n.type, desc_fn(n.desc))
            done = True
        notes.append(n)
    return core.rebuild(notes=notes)


def set_phdr(core, index, field, value):
    ph = [list(p) for p in core.phdrs]
    ph[index][field] = value & 0xFFFFFFFFFFFFFFFF
    return core.rebuild(phdrs=ph)


def first_file_load(core):
    """The program header of the core's first segment that maps the start
    of a file (where the core may hold a copy of an ELF header)."""
    starts = {s for s, e, o, n in core.files() if o == 0}
    for i, ph in enumerate(core.phdrs):
        if ph[P_TYPE] == PT_LOAD and ph[P_VADDR] in starts and ph[P_FILESZ]:
            return i
    return next(i for i, ph in enumerate(core.phdrs) if ph[P_TYPE] == PT_LOAD and ph[P_FILESZ])


def load_indexes(core):
    return [i for i, ph in enumerate(core.phdrs) if ph[P_TYPE] == PT_LOAD]


def libc_path(core):
    return next(n for s, e, o, n in core.files() if "/libc.so" in n)


def rename_file(core, old, new):
    return core.with_files([(s, e, o, new if n == old else n) for s, e, o, n in core.files()])


def has_header(core, path):
    """Whether the core holds a copy of the start of the file (an ELF
    header, whose build-id heapgrab checks the file against)."""
    starts = {s for s, e, o, n in core.files() if n == path and o == 0}
    for ph in core.phdrs:
        if ph[P_TYPE] == PT_LOAD and ph[P_VADDR] in starts and ph[P_FILESZ] >= 64:
            return core.data[ph[P_OFFSET]:ph[P_OFFSET] + 4] == b"\x7fELF"
    return False


def many_files(core, count, name):
    """count more files at addresses nothing else uses."""
    base = 0x100000000000
    extra = [(base + i * 0x2000, base + i * 0x2000 + 0x1000, 0, name(i)) for i in range(count)]
    return core.with_files(sorted(core.files() + extra))


def ehdr_patch(core, fmt, off, value):
    data = bytearray(core.data)
    struct.pack_into(fmt, data, off, value)
    return bytes(data)


# ------------------------------------------------------------ crafted cases

class Case:
    """A hostile input: data (written to a file) or an existing path; want
    is the set of exit statuses allowed (default: any documented one);
    says, a piece of the message it must give."""

    def __init__(self, name, data=None, path=None, want=None, says=None, figures=False,
                 hide_debug=False):
        self.name, self.data, self.path = name, data, path
        self.want, self.says, self.figures = want, says, figures
        self.hide_debug = hide_debug  # run with the host's debug files hidden


def crafted(core, kind, scene):
    """The crafted cases for one real core (kind: "gcore" or "kernel")."""
    size = len(core.data)
    lf = first_file_load(core)
    loads = load_indexes(core)
    libc = libc_path(core)
    c = []
    add = c.append
    # offsets and sizes at the edges of 64 bits (item 11)
    add(Case("offset near 2^64", set_phdr(core, lf, P_OFFSET, 2**64 - 0x800), want={USAGE},
             says=b"not a valid core"))
    add(Case("offset near 2^63", set_phdr(core, lf, P_OFFSET, 2**63 - 0x100), want={USAGE}))
    add(Case("offset just past the end", set_phdr(core, lf, P_OFFSET, size + 4096),
             want={INCOMPLETE}, says=b"is incomplete"))
    add(Case("p_filesz 2^64-1", set_phdr(core, lf, P_FILESZ, 2**64 - 1), want={USAGE}))
    add(Case("p_filesz wraps with offset", set_phdr(core, lf, P_FILESZ, 2**64 - core.phdrs[lf][P_OFFSET] + 16),
             want={USAGE}))
    add(Case("p_filesz past the end", set_phdr(core, lf, P_FILESZ, 2 * size), want={INCOMPLETE}))
    add(Case("p_filesz above p_memsz", set_phdr(core, lf, P_FILESZ, core.phdrs[lf][P_MEMSZ] + 64)))
    add(Case("memsz runs past 2^64", set_phdr(set_core(core, lf, P_VADDR, 2**64 - 0x1000), lf,
                                                 P_MEMSZ, 0x2000), want={USAGE}))
    ph = [list(p) for p in core.phdrs]
    ph[loads[3]][P_VADDR] = ph[loads[2]][P_VADDR] + 0x10
    add(Case("overlapping loads", core.rebuild(phdrs=ph), want={USAGE}, says=b"overlap"))
    ph = [list(p) for p in core.phdrs] + [list(core.phdrs[loads[1]])]
    add(Case("a load twice", core.rebuild(phdrs=ph), want={USAGE}))
    ph = [list(p) for p in core.phdrs]
    for p in ph:
        if p[P_TYPE] == PT_NOTE:
            p[P_OFFSET] = 2**64 - 8
    add(Case("notes offset wraps", core.rebuild(phdrs=ph), want={USAGE}))
    ph = [list(p) for p in core.phdrs]
    for p in ph:
        if p[P_TYPE] == PT_NOTE:
            p[P_FILESZ] = size
    add(Case("notes run past the end", core.rebuild(phdrs=ph), want={INCOMPLETE}))
    # the ELF header
    add(Case("e_phentsize 32", ehdr_patch(core, "<H", 54, 32), want={USAGE}))
    add(Case("e_phnum PN_XNUM, no section header", ehdr_patch(core, "<H", 56, 0xFFFF),
             want={USAGE}))
    add(Case("e_phoff near 2^64", ehdr_patch(core, "<Q", 32, 2**64 - 16), want={USAGE}))
    add(Case("e_phoff past the end", ehdr_patch(core, "<Q", 32, size + 100), want={INCOMPLETE}))
    add(Case("ELF32", ehdr_patch(core, "<B", 4, 1), want={UNSUPPORTED}))
    add(Case("big-endian", ehdr_patch(core, "<B", 5, 2), want={USAGE, UNSUPPORTED}))
    add(Case("AArch64", ehdr_patch(core, "<H", 18, 183), want={UNSUPPORTED}))
    add(Case("an executable, not a core", ehdr_patch(core, "<H", 16, 2), want={USAGE},
             says=b"not a core"))
    add(Case("bad magic", ehdr_patch(core, "<B", 1, ord("X")), want={USAGE}))
    # notes
    add(Case("note namesz 2^32-1", replace_note_header(core, 0, 0xFFFFFFFF), want={USAGE}))
    add(Case("note descsz 2^32-1", replace_note_header(core, 1, 0xFFFFFFFF), want={USAGE}))
    add(Case("PRSTATUS too short", replace_note(core, NT_PRSTATUS, lambda d: d[:100], every=True),
             want={USAGE}, says=b"no threads"))
    add(Case("PRSTATUS zeroed", replace_note(core, NT_PRSTATUS, lambda d: bytes(len(d)), every=True)))
    rng = random.Random(17)
    add(Case("PRSTATUS garbage", replace_note(core, NT_PRSTATUS,
                                              lambda d: rng.randbytes(len(d)), every=True)))
    add(Case("PRSTATUS wild fs_base and stack", replace_note(core, NT_PRSTATUS, lambda d: put_regs(
        d, {REG_FS_BASE: 2**64 - 8, REG_RSP: 2**63, REG_RIP: 8}), every=True)))
    add(Case("no NT_FILE", core.rebuild(notes=[n for n in core.notes if n.type != NT_FILE])))
    add(Case("NT_FILE twice", core.rebuild(notes=core.notes + [core.note(NT_FILE)]),
             want={OK}, figures=True))
    # the file list (NT_FILE)
    add(Case("NT_FILE count 2^64-1", replace_note(core, NT_FILE, lambda d: u64(d, 0, 2**64 - 1)),
             want={USAGE}))
    add(Case("NT_FILE count 2^40", replace_note(core, NT_FILE, lambda d: u64(d, 0, 2**40)),
             want={USAGE}))
    add(Case("NT_FILE count one too many",
             replace_note(core, NT_FILE, lambda d: u64(d, 0, (len(d) - 16) // 24 + 1)),
             want={USAGE}))
    add(Case("NT_FILE page 0", replace_note(core, NT_FILE, lambda d: u64(d, 8, 0)), want={USAGE}))
    add(Case("NT_FILE page 2^63", replace_note(core, NT_FILE, lambda d: u64(d, 8, 2**63)),
             want={USAGE}))
    add(Case("NT_FILE offset overflows", replace_note(core, NT_FILE, lambda d: u64(d, 32, 2**63)),
             want={USAGE}))
    add(Case("NT_FILE end before start", replace_note(core, NT_FILE, lambda d: u64(d, 24, 0x1000)),
             want={USAGE}))
    files = core.files()
    add(Case("NT_FILE out of order", core.with_files([files[1], files[0]] + files[2:]),
             want={USAGE}))
    add(Case("NT_FILE names cut", replace_note(core, NT_FILE, lambda d: d[:-1] + b"x"),
             want={USAGE}))
    add(Case("NT_FILE relative name", rename_file(core, libc, "libc.so.6"), want={USAGE}))
    # files the core names (item 12): opened only as regular ELF files,
    # never blocking, never printed; with a copy of libc's ELF header in
    # the core (kernel cores) anything else is not the file the process had
    for p in scene.hostile_paths:
        for what, name in (("libc", libc), ("executable", files[0][3])):
            add(Case(f"{what} named {p!r}", rename_file(core, name, p),
                     want={MISMATCH} if p in scene.present_paths and has_header(core, name)
                     else None))
    # debug files are looked for where the files the core names are: a
    # FIFO there must not hold heapgrab (libdwfl would open it)
    copy = scene.libc_copy(libc)
    add(Case("libc's debug file (by build-id) a FIFO", rename_file(core, libc, copy),
             want={OK}, figures=True))
    add(Case("libc's debug file (by .gnu_debuglink) a FIFO", rename_file(core, libc, copy),
             want={OK}, figures=True, hide_debug=True))
    add(Case("every file named the secret",
             core.with_files([(s, e, o, scene.secret) for s, e, o, n in files])))
    # many files, threads and segments (item 13): bounded work, right figures
    add(Case("100,000 files", many_files(core, 100000, lambda i: f"/tmp/hgnx{i:06d}/lib/x.so"),
             want={OK}, figures=True))
    add(Case("100,000 names for libc", many_files(core, 100000, lambda i: "/" + "./" * (i % 50)
                                                  + "/" * (i // 50 % 40) + libc.lstrip("/"))))
    pr = core.note(NT_PRSTATUS)
    add(Case("50,000 threads", core.rebuild(notes=core.notes + [pr] * 50000)))
    add(Case("70,000 segments (PN_XNUM)", empty_segments(core, 70000), want={OK}, figures=True))
    # cut short by its writer, at several points (item 9): always the same status
    notes_at = min(p[P_OFFSET] for p in core.phdrs if p[P_TYPE] == PT_NOTE)
    last = max(core.phdrs, key=lambda p: p[P_OFFSET] + p[P_FILESZ])
    for cut in sorted({0, 1, 3, 4, 17, 40, 63, 64, 64 + 56 * 2 + 7, core.phoff + 56 * core.phnum,
                       notes_at + 9, notes_at + 200, size // 2, last[P_OFFSET] + 1, size - 1}):
        add(Case(f"cut at {cut} of {size}", core.data[:cut], want={INCOMPLETE},
                 says=b"incomplete" if cut else b"empty"))
    return c


def set_core(core, index, field, value):
    return Core(set_phdr(core, index, field, value))


def u64(data, off, value):
    data = bytearray(data)
    struct.pack_into("<Q", data, off, value)
    return bytes(data)


def put_regs(desc, regs):
    d = bytearray(desc)
    for off, v in regs.items():
        struct.pack_into("<Q", d, PR_REG + off, v)
    return bytes(d)


def replace_note_header(core, field, value):
    """The first note's namesz (field 0) or descsz (1), in place."""
    data = bytearray(core.data)
    note = next(p for p in core.phdrs if p[P_TYPE] == PT_NOTE)
    struct.pack_into("<I", data, note[P_OFFSET] + 4 * field, value)
    return bytes(data)


def special_files(scene):
    """Targets that are not core files at all."""
    return [Case("empty file", data=b"", want={INCOMPLETE}, says=b"empty"),
            Case("a FIFO", path=scene.fifo, want={USAGE}, says=b"is a FIFO, not a core file"),
            Case("a symlink to a FIFO", path=scene.fifo_link, want={USAGE}),
            Case("a directory", path=scene.dir, want={USAGE}, says=b"directory"),
            Case("/dev/zero", path="/dev/zero", want={USAGE}),
            Case("/dev/null", path="/dev/null", want={USAGE}),
            Case("a text file", path=scene.secret, want={USAGE}, says=b"not a core"),
            Case("no such file", path=os.path.join(scene.tmp, "missing/core"), want={USAGE})]


# ---------------------------------------------------------------- mutants

INTERESTING = [0, 1, 2, 0x1000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**32, 2**63 - 1, 2**63,
               2**64 - 1, 2**64 - 0x1000, 2**64 - 8]


def pick(rng, orig, size):
    r = rng.random()
    if r < 0.45:
        return rng.choice(INTERESTING)
    if r < 0.6:
        return rng.choice([size, size - 1, size + 1, size + 0x1000, size // 2])
    if r < 0.8:
        return (orig + rng.choice([-4096, -16, -8, -1, 1, 8, 16, 4096])) & (2**64 - 1)
    if r < 0.9:
        return orig ^ (1 << rng.randrange(64))
    return rng.getrandbits(64)


def mutate(core, rng, scene):
    """One mutant of core: (what was done, bytes)."""
    data = core.data
    size = len(data)
    r = rng.random()
    if r < 0.25:  # bit flips in the headers and notes
        out = bytearray(data)
        end = core.structure_end()
        regions = [(0, core.phoff + 56 * core.phnum)] + [
            (p[P_OFFSET], p[P_OFFSET] + p[P_FILESZ]) for p in core.phdrs if p[P_TYPE] == PT_NOTE]
        n = rng.choice([1, 1, 2, 4, 8, 32])
        for _ in range(n):
            lo, hi = rng.choice(regions)
            if hi > lo:
                out[rng.randrange(lo, min(hi, end))] ^= 1 << rng.randrange(8)
        return f"flip {n} bits in headers/notes", bytes(out)
    if r < 0.45:  # a program header field
        i = rng.randrange(len(core.phdrs))
        field = rng.choice([P_TYPE, P_FLAGS, P_OFFSET, P_VADDR, P_FILESZ, P_MEMSZ])
        v = pick(rng, core.phdrs[i][field], size)
        if field in (P_TYPE, P_FLAGS):
            v &= 0xFFFFFFFF
        ph = [list(p) for p in core.phdrs]
        ph[i][field] = v
        return f"phdr {i} field {field} = {v:#x}", core.rebuild(phdrs=ph)
    if r < 0.65:  # a note: its header or a word of its contents
        notes = list(core.notes)
        i = rng.randrange(len(notes))
        n = notes[i]
        if rng.random() < 0.3:
            blob = bytearray(b"".join(x.pack() for x in notes))
            off = sum(len(x.pack()) for x in notes[:i]) + 4 * rng.randrange(3)
            v = pick(rng, struct.unpack_from("<I", blob, off)[0], size) & 0xFFFFFFFF
            struct.pack_into("<I", blob, off, v)
            ph = [list(p) for p in core.phdrs]
            off0 = len(data) + (-len(data) % 8)
            for p in ph:
                if p[P_TYPE] == PT_NOTE:
                    p[P_OFFSET], p[P_FILESZ] = off0, len(blob)
            out = bytearray(data) + bytes(off0 - len(data)) + blob
            return f"note {i} header word = {v:#x}", _with_table(out, ph)
        d = bytearray(n.desc)
        if len(d) >= 8:
            off = rng.randrange(0, len(d) - 7) & ~7
            v = pick(rng, struct.unpack_from("<Q", d, off)[0], size)
            struct.pack_into("<Q", d, off, v)
        notes[i] = Note(n.name, n.type, bytes(d))
        return f"note {i} (type {n.type:#x}) word = ...", core.rebuild(notes=notes)
    if r < 0.75:  # the file list
        files = core.files()
        if not files:
            return "no files", data
        j = rng.randrange(len(files))
        s, e, o, name = files[j]
        what = rng.randrange(5)
        if what == 0:
            name = rng.choice(scene.hostile_paths)
        elif what == 1:
            s = pick(rng, s, size)
        elif what == 2:
            e = pick(rng, e, size)
        elif what == 3:
            o = pick(rng, o, size)
        else:
            files.insert(rng.randrange(len(files)), files[j])
        files[j] = (s & (2**64 - 1), e & (2**64 - 1), o & (2**64 - 1), name)
        try:
            return f"NT_FILE entry {j} change {what}", core.with_files(files)
        except (struct.error, OverflowError):
            return "NT_FILE unchanged", data
    if r < 0.8:  # cut short
        cut = rng.randrange(size)
        return f"cut at {cut}", data[:cut]
    if r < 0.95:  # the process's memory
        out = bytearray(data)
        loads = [p for p in core.phdrs if p[P_TYPE] == PT_LOAD and p[P_FILESZ] >= 8]
        n = rng.choice([1, 4, 16, 64])
        for _ in range(n):
            p = rng.choice(loads)
            off = p[P_OFFSET] + (rng.randrange(p[P_FILESZ] - 7) & ~7)
            struct.pack_into("<Q", out, off, pick(rng, struct.unpack_from("<Q", out, off)[0], size))
        return f"{n} words of memory", bytes(out)
    # program headers dropped, repeated or reordered
    ph = [list(p) for p in core.phdrs]
    op = rng.randrange(3)
    i = rng.randrange(len(ph))
    if op == 0:
        del ph[i]
    elif op == 1:
        ph.insert(rng.randrange(len(ph)), list(ph[i]))
    else:
        rng.shuffle(ph)
    return f"phdrs op {op}", core.rebuild(phdrs=ph)


def _with_table(out, ph):
    """out with a new program header table appended (e_phoff, e_phnum)."""
    off = len(out) + (-len(out) % 8)
    out = bytearray(out) + bytes(off - len(out)) + b"".join(PHDR.pack(*p) for p in ph)
    struct.pack_into("<Q", out, 32, off)
    struct.pack_into("<H", out, 56, len(ph))
    return bytes(out)


def executable_files(core, count):
    """count more files, each mapped executable by a segment of its own (a
    snapshot looks each one's module up)."""
    base = 0x200000000000
    ph = [list(p) for p in core.phdrs]
    extra = []
    for i in range(count):
        ph.append([PT_LOAD, 5, 0, base + i * 0x2000, 0, 0, 0x1000, 0x1000])
        extra.append((base + i * 0x2000, base + i * 0x2000 + 0x1000, 0,
                      f"/tmp/hgnx{i:06d}/lib/x.so"))
    return Core(core.rebuild(phdrs=ph)).with_files(sorted(core.files() + extra))


def empty_segments(core, count):
    """count more segments the core holds nothing of."""
    ph = [list(p) for p in core.phdrs]
    ph += [[PT_LOAD, 4, 0, 0x200000000000 + i * 0x2000, 0, 0, 0x1000, 0x1000]
           for i in range(count)]
    return core.rebuild(phdrs=ph)
