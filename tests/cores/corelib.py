"""Reading and rewriting x86_64 ELF core files, for the hostile-core tests
(test_cores.py) and the long fuzz run (scripts/fuzz-cores.py).

A Core is parsed from bytes; rebuild() writes a new core that keeps every
byte of the old one and appends what changed (a notes segment, a program
header table), so the load segments stay where they were.
"""
import os
import struct

PT_LOAD, PT_NOTE = 1, 4
NT_PRSTATUS, NT_FILE = 1, 0x46494C45
PN_XNUM = 0xFFFF
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")    # type flags offset vaddr paddr filesz memsz align
SHDR = struct.Struct("<IIQQQQIIQQ")  # name type flags addr offset size link info align entsize
NHDR = struct.Struct("<III")
PRSTATUS_SIZE = 336                  # struct elf_prstatus on x86_64
PR_PID = 32                          # offset of pr_pid in it
PR_REG = 112                         # offset of pr_reg (struct user_regs_struct)
REG_FS_BASE = 21 * 8                 # fs_base in user_regs_struct
REG_RSP, REG_RIP = 19 * 8, 16 * 8

# program header fields, by index in a PHDR tuple
P_TYPE, P_FLAGS, P_OFFSET, P_VADDR, P_PADDR, P_FILESZ, P_MEMSZ, P_ALIGN = range(8)


def align(n, a):
    return (n + a - 1) & ~(a - 1)


def pad4(b):
    return b + b"\0" * (align(len(b), 4) - len(b))


class Note:
    def __init__(self, name, type, desc):
        self.name, self.type, self.desc = name, type, bytes(desc)

    def pack(self):
        name = self.name + b"\0"
        return NHDR.pack(len(name), len(self.desc), self.type) + pad4(name) + pad4(self.desc)


def pack_notes(notes):
    return b"".join(n.pack() for n in notes)


def parse_notes(data):
    notes, off = [], 0
    while off + 12 <= len(data):
        namesz, descsz, type = NHDR.unpack_from(data, off)
        name_off = off + 12
        desc_off = name_off + align(namesz, 4)
        end = desc_off + align(descsz, 4)
        if desc_off + descsz > len(data):
            break
        notes.append(Note(data[name_off:name_off + namesz].rstrip(b"\0"), type,
                          data[desc_off:desc_off + descsz]))
        off = end
    return notes


class Core:
    def __init__(self, data):
        self.data = bytes(data)
        f = EHDR.unpack_from(self.data, 0)
        self.ident, self.type, self.machine = f[0], f[1], f[2]
        self.phoff, self.phnum = f[5], f[10]
        self.phdrs = [list(PHDR.unpack_from(self.data, self.phoff + i * PHDR.size))
                      for i in range(self.phnum)]
        self.notes = []
        for ph in self.phdrs:
            if ph[P_TYPE] == PT_NOTE:
                self.notes += parse_notes(self.data[ph[P_OFFSET]:ph[P_OFFSET] + ph[P_FILESZ]])

    @classmethod
    def read(cls, path):
        with open(path, "rb") as f:
            return cls(f.read())

    def loads(self):
        return [ph for ph in self.phdrs if ph[P_TYPE] == PT_LOAD]

    def note(self, type):
        return next((n for n in self.notes if n.type == type and n.name == b"CORE"), None)

    def files(self):
        n = self.note(NT_FILE)
        return parse_nt_file(n.desc) if n else []

    def rebuild(self, phdrs=None, notes=None):
        """A core with these program headers and notes (default: the
        current ones); new parts are appended, old bytes kept."""
        out = bytearray(self.data)
        phdrs = [list(p) for p in (self.phdrs if phdrs is None else phdrs)]
        if notes is not None:
            blob = pack_notes(notes)
            off = align(len(out), 8)
            out += b"\0" * (off - len(out)) + blob
            seen = False
            for ph in phdrs:
                if ph[P_TYPE] == PT_NOTE:
                    ph[P_OFFSET], ph[P_FILESZ] = (off, len(blob)) if not seen else (off, 0)
                    seen = True
            if not seen:
                phdrs.insert(0, [PT_NOTE, 4, off, 0, 0, len(blob), 0, 1])
        off = align(len(out), 8)
        table = b"".join(PHDR.pack(*p) for p in phdrs)
        out += b"\0" * (off - len(out)) + table
        phnum, shoff, shnum = len(phdrs), 0, 0
        if phnum >= PN_XNUM:
            # too many for e_phnum: section header 0 holds the count
            shoff = align(len(out), 8)
            out += b"\0" * (shoff - len(out)) + SHDR.pack(0, 0, 0, 0, 0, 0, 0, phnum, 0, 0)
            phnum, shnum = PN_XNUM, 1
        struct.pack_into("<Q", out, 32, off)          # e_phoff
        struct.pack_into("<Q", out, 40, shoff)        # e_shoff
        struct.pack_into("<H", out, 56, phnum)        # e_phnum
        struct.pack_into("<H", out, 58, SHDR.size if shnum else 0)  # e_shentsize
        struct.pack_into("<H", out, 60, shnum)        # e_shnum
        return bytes(out)

    def with_files(self, entries, page=1):
        """The same core with this NT_FILE list: [(start, end, offset, path)],
        offsets in units of page (gdb writes a page size of 1, the kernel
        its page size)."""
        notes = [n for n in self.notes if not (n.type == NT_FILE and n.name == b"CORE")]
        notes.append(Note(b"CORE", NT_FILE, nt_file(entries, page)))
        return self.rebuild(notes=notes)

    def structure_end(self):
        """Where the headers and notes end (mutating there changes the
        core's meaning; the rest is process memory)."""
        ends = [self.phoff + self.phnum * PHDR.size]
        ends += [ph[P_OFFSET] + ph[P_FILESZ] for ph in self.phdrs if ph[P_TYPE] == PT_NOTE]
        return max(ends)


def nt_file(entries, page=4096):
    head = struct.pack("<QQ", len(entries), page)
    ranges = b"".join(struct.pack("<QQQ", s, e, o) for s, e, o, _ in entries)
    names = b"".join(os.fsencode(n) + b"\0" for *_, n in entries)
    return head + ranges + names


def parse_nt_file(desc):
    """[(start, end, offset in bytes, path)]"""
    count, page = struct.unpack_from("<QQ", desc, 0)
    names = desc[16 + 24 * count:].split(b"\0")
    out = []
    for i in range(count):
        s, e, o = struct.unpack_from("<QQQ", desc, 16 + 24 * i)
        out.append((s, e, o * page, os.fsdecode(names[i])))
    return out
