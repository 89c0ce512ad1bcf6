#!/usr/bin/env python3
"""The JSON outputs of "who holds the memory" against the model they were
written from: check_outputs.py OUTDIR

test_holders_outputs wrote OUTDIR/model.json (every object: address, size,
class, holder, arena; every root) and the documents.  Every figure the
documents hold is recomputed here from the objects alone (retained sizes
by walking each object's holders, the ranking, the several roots' share,
the leak totals, the groups and their examples), and the documents must be
strict JSON with exactly the keys of the issue's schemas, in order.
"""
import json
import sys
from collections import OrderedDict

failures = 0
UNKNOWN = 2**64 - 1

ROOT_KEYS = ["kind", "name", "module", "file", "line", "thread", "function",
             "retained_objects", "retained_bytes", "reachable_objects", "reachable_bytes"]
HOLDERS_KEYS = ["roots", "several_roots", "leaks", "timing"]
LEAKS_KEYS = ["direct_objects", "direct_bytes", "indirect_objects", "indirect_bytes",
              "possibly_objects", "possibly_bytes", "groups"]
GROUP_KEYS = ["kind", "size", "objects", "bytes", "examples"]
EXAMPLE_KEYS = ["address", "first_bytes"]
STATS_LEAKS_KEYS = ["direct_objects", "direct_bytes", "indirect_objects", "indirect_bytes"]


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("check_outputs: FAIL:", msg, file=sys.stderr)


def expect(got, want, what):
    check(got == want and type(got) is type(want), f"{what}: got {got!r}, want {want!r}")


def strict_load(path):
    def no_constants(name):
        raise ValueError(f"{path}: {name} is not JSON")
    with open(path, encoding="utf-8") as f:
        return json.load(f, object_pairs_hook=OrderedDict, parse_constant=no_constants)


def main():
    out = sys.argv[1]
    model = strict_load(f"{out}/model.json")
    objects = model["objects"]
    nroots = len(model["roots"])
    retained = {}  # "root:N" | "several" -> [objects, bytes]
    for i, (_addr, size, _cls, holder, _arena) in enumerate(objects):
        # each object counts for every holder above it, up to a root
        seen = 0
        while isinstance(holder, int):
            seen += 1
            assert seen <= len(objects), "a cycle in the model"
            holder = objects[holder][3]
        if holder != "leaked":
            r = retained.setdefault(holder, [0, 0])
            r[0] += 1
            r[1] += size

    def root_retained(r):
        return retained.get(f"root:{r}", [0, 0])

    ranked = sorted((r for r in range(nroots) if root_retained(r)[0]),
                    key=lambda r: -root_retained(r)[1])
    by_cls = {}
    for addr, size, cls, _h, _a in objects:
        t = by_cls.setdefault(cls, [0, 0])
        t[0] += 1
        t[1] += size
    leak_totals = OrderedDict()
    for cls in ("direct", "indirect", "possibly"):
        leak_totals[f"{cls}_objects"] = by_cls.get(cls, [0, 0])[0]
        leak_totals[f"{cls}_bytes"] = by_cls.get(cls, [0, 0])[1]

    # leaks.json
    leaks = strict_load(f"{out}/leaks.json")
    expect(list(leaks), LEAKS_KEYS, "leaks keys")
    for k, v in leak_totals.items():
        expect(leaks[k], v, f"leaks {k}")
    index_of = {o[0]: i for i, o in enumerate(objects)}
    groups = {}
    for addr, size, cls, _h, _a in objects:
        if cls in ("direct", "indirect"):
            groups.setdefault((cls, size), []).append(addr)
    want_groups = sorted(groups.items(), key=lambda g: -g[0][1] * len(g[1]))
    expect(len(leaks["groups"]), len(want_groups), "number of groups")
    for g, ((cls, size), addrs) in zip(leaks["groups"], want_groups):
        expect(list(g), GROUP_KEYS, "group keys")
        expect(g["kind"], cls, "group kind")
        expect(g["size"], size, "group size")
        expect(g["objects"], len(addrs), "group objects")
        expect(g["bytes"], size * len(addrs), "group bytes")
        expect([e["address"] for e in g["examples"]], [hex(a) for a in addrs[:3]],
               "examples' addresses")
        for e, a in zip(g["examples"], addrs):
            expect(list(e), EXAMPLE_KEYS, "example keys")
            text = f"leak {index_of[a]}\n"  # what the model wrote into each
            want = text.encode().hex()
            fb = e["first_bytes"]
            check(fb.startswith(want) and set(fb[len(want):]) <= {"0"} and
                  len(fb) == (64 if cls == "direct" else 48),
                  f"first_bytes {fb!r} of {hex(a)}")

    # holders.json
    h = strict_load(f"{out}/holders.json")
    expect(list(h), HOLDERS_KEYS, "holders keys")
    expect(len(h["roots"]), len(ranked), "ranked roots")
    for got, r in zip(h["roots"], ranked):
        m = model["roots"][r]
        expect(list(got), ROOT_KEYS, "root keys")
        expect(got["kind"], m["kind"], "root kind")
        expect(got["name"], m["name"], "root name")
        expect(got["module"], m["module"], f"{m['name']} module")
        expect(got["file"], m["file"], f"{m['name']} file")
        expect(got["line"], m["line"] or None, f"{m['name']} line")
        threaded = m["kind"] in ("stack", "register", "tls")
        expect(got["thread"], m["thread"] if threaded else None, f"{m['name']} thread")
        expect(got["function"], m["name"] if m["kind"] == "stack" else None,
               f"{m['name']} function")
        expect(got["retained_objects"], root_retained(r)[0], f"{m['name']} retained_objects")
        expect(got["retained_bytes"], root_retained(r)[1], f"{m['name']} retained_bytes")
        for k in ("reachable_objects", "reachable_bytes"):
            expect(got[k], None if m[k] == UNKNOWN else m[k], f"{m['name']} {k}")
        check(got[k] is None or got["reachable_bytes"] >= got["retained_bytes"],
              f"{m['name']} reaches less than it retains")
    several = retained.get("several", [0, 0])
    expect(h["several_roots"], OrderedDict([("objects", several[0]), ("bytes", several[1])]),
           "several_roots")
    expect(h["leaks"], leaks, "holders' leaks == leaks.json")
    expect(h["timing"], OrderedDict(model["timing"]), "timing")

    # stats.json: the four leak totals, after problems, before timing
    st = strict_load(f"{out}/stats.json")
    keys = list(st)
    check("leaks" in keys and keys.index("leaks") == keys.index("timing") - 1 and
          keys.index("leaks") == keys.index("problems") + 1, f"stats keys {keys}")
    expect(list(st.get("leaks", {})), STATS_LEAKS_KEYS, "stats leaks keys")
    for k in STATS_LEAKS_KEYS:
        expect(st["leaks"][k], leak_totals[k], f"stats leaks {k}")
    inuse = sum(o[1] for o in objects)
    expect(st["totals"]["inuse_bytes"], inuse, "stats inuse_bytes = the objects' sum")

    if failures:
        print(f"check_outputs: {failures} failures", file=sys.stderr)
        return 1
    print("check_outputs: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
