"""A pprof profile (profile.proto) written from Python, for the report's
tests: the few fields a report reads, encoded by hand (protobuf's varints
and length-delimited fields), gzipped as pprof files are.

    profile(types, samples)  types: [("cpu", "nanoseconds"), ...];
                             samples: [(stack, values, labels)], stack a
                             list of function names, leaf first; labels a
                             dict of str -> str or int
"""
import gzip


def _varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num, wire, payload):
    return _varint(num << 3 | wire) + payload


def _int(num, v):
    return _field(num, 0, _varint(v))


def _bytes(num, b):
    return _field(num, 2, _varint(len(b)) + b)


def _packed(num, vals):
    return _bytes(num, b"".join(_varint(v) for v in vals))


def profile(types, samples, default_type=None, comments=()):
    strings = {"": 0}

    def s(text):
        if text not in strings:
            strings[text] = len(strings)
        return strings[text]

    out = bytearray()
    for t, u in types:
        out += _bytes(1, _int(1, s(t)) + _int(2, s(u)))
    functions, locations = {}, {}
    sample_bytes = bytearray()
    for stack, values, labels in samples:
        ids = []
        for name in stack:
            if name not in functions:
                functions[name] = len(functions) + 1
            fid = functions[name]
            if fid not in locations:
                locations[fid] = len(locations) + 1
            ids.append(locations[fid])
        body = _packed(1, ids) + _packed(2, values)
        for k, v in (labels or {}).items():
            if isinstance(v, int):
                body += _bytes(3, _int(1, s(k)) + _int(3, v))
            else:
                body += _bytes(3, _int(1, s(k)) + _int(2, s(v)))
        sample_bytes += _bytes(2, body)
    out += sample_bytes
    for fid, lid in locations.items():
        out += _bytes(4, _int(1, lid) + _bytes(4, _int(1, fid) + _int(2, 1)))
    names = {fid: name for name, fid in functions.items()}
    for fid in sorted(names):
        out += _bytes(5, _int(1, fid) + _int(2, s(names[fid])))
    comment_ids = [s(c) for c in comments]
    dflt = s(default_type) if default_type else 0
    for text in sorted(strings, key=strings.get):
        out += _bytes(6, text.encode("utf-8", "surrogateescape"))
    for c in comment_ids:
        out += _int(13, c)
    if dflt:
        out += _int(14, dflt)
    return gzip.compress(bytes(out), mtime=0)


def profile_locations(types, locations, samples):
    """A profile whose locations have several lines (inlined frames):
    locations {id: [function names, innermost first]}, samples
    [(location ids leaf first, values)]."""
    strings = {"": 0}

    def s(text):
        if text not in strings:
            strings[text] = len(strings)
        return strings[text]

    out = bytearray()
    for t, u in types:
        out += _bytes(1, _int(1, s(t)) + _int(2, s(u)))
    for ids, values in samples:
        out += _bytes(2, _packed(1, ids) + _packed(2, values))
    functions = {}
    for lid, names in locations.items():
        lines = b""
        for name in names:
            if name not in functions:
                functions[name] = len(functions) + 1
            lines += _bytes(4, _int(1, functions[name]) + _int(2, 1))
        out += _bytes(4, _int(1, lid) + lines)
    for name, fid in functions.items():
        out += _bytes(5, _int(1, fid) + _int(2, s(name)))
    for text in sorted(strings, key=strings.get):
        out += _bytes(6, text.encode("utf-8"))
    return gzip.compress(bytes(out), mtime=0)
