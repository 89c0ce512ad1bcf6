#!/usr/bin/env python3
"""The layers hold: each folder includes only the headers of the folders it
may use.  Data flows one way, target -> walker -> snapshot -> analyses ->
writers, and the frontends see only the public header.

    scripts/check-layers.py [SOURCE_DIR]        check the tree (exit 1: broken)
    scripts/check-layers.py --self-test [DIR]   also prove the check can fail

A rule names, per folder, the folders (or single headers) whose project
headers it may include with #include "...".  System headers (<...>) and the
generated profile.pb-c.h are not the project's.
"""
import os
import re
import shutil
import sys
import tempfile

# folder -> what it may include besides its own folder's headers
ALLOWED = {
    "lib": ["include/heapgrab.h"],
    "target": ["include/heapgrab.h", "lib"],
    "walker": ["include/heapgrab.h", "lib", "target/target.h"],
    "analysis": ["include/heapgrab.h", "lib", "target/target.h", "target/symbolize.h", "walker/walk.h",
                 "stacks/unwind.h", "stacks/capture.h", "sampler/table.h"],
    "stacks": ["include/heapgrab.h", "lib", "target/target.h", "target/symbolize.h"],
    "writers": ["include/heapgrab.h", "lib"],
    "cli": ["include/heapgrab.h"],
    "sampler": [],
}
GENERATED = {"profile.pb-c.h"}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def allowed(folder, header):
    if header in GENERATED or header.startswith(folder + "/"):
        return True
    if header == "heapgrab.h":
        header = "include/heapgrab.h"
    for a in ALLOWED[folder]:
        if header == a or header.startswith(a + "/"):
            return True
    return False


def check(top):
    broken = []
    for folder in ALLOWED:
        d = os.path.join(top, folder)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(d, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for header in INCLUDE.findall(text):
                if not allowed(folder, header):
                    broken.append(f"{folder}/{name} includes \"{header}\": {folder}/ may use "
                                  f"{', '.join(ALLOWED[folder]) or 'nothing else'}")
    # the Python package and the GDB command load the shared library and
    # mirror only the public header's structs
    for frontend in ("python/heapgrab", "gdb"):
        d = os.path.join(top, frontend)
        for root, _, files in os.walk(d) if os.path.isdir(d) else ():
            for name in files:
                if name.endswith(".py"):
                    with open(os.path.join(root, name), encoding="utf-8") as f:
                        for m in re.finditer(r"(target|walker|stacks|writers|analysis)/\w+\.h", f.read()):
                            broken.append(f"{frontend}/{name} names {m.group(0)}: frontends use "
                                          "include/heapgrab.h only")
    return broken


def self_test(top):
    """Copy the tree's sources, add one forbidden include per rule that has
    one, and expect the check to name each."""
    tmp = tempfile.mkdtemp(prefix="hg-layers-")
    try:
        for folder in ALLOWED:
            if os.path.isdir(os.path.join(top, folder)):
                shutil.copytree(os.path.join(top, folder), os.path.join(tmp, folder))
        bad = {"walker": "target/pid.h", "writers": "walker/walk.h", "cli": "lib/snapshot.h",
               "lib": "target/target.h", "target": "walker/locate.h", "stacks": "writers/pprof_builder.h"}
        for folder, header in bad.items():
            d = os.path.join(tmp, folder)
            if not os.path.isdir(d):
                continue
            with open(os.path.join(d, "zz_injected.c"), "w") as f:
                f.write(f'#include "{header}"\n')
        found = check(tmp)
        missed = [f for f in bad if os.path.isdir(os.path.join(tmp, f)) and
                  not any(x.startswith(f"{f}/zz_injected.c") for x in found)]
        return missed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    args = [a for a in sys.argv[1:] if a != "--self-test"]
    top = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    broken = check(top)
    for b in broken:
        print(f"layers: {b}")
    if "--self-test" in sys.argv:
        missed = self_test(top)
        for m in missed:
            print(f"layers: the check did not catch a forbidden include added to {m}/")
        if missed:
            return 1
    if broken:
        return 1
    print("layers: every folder includes only what it may")
    return 0


if __name__ == "__main__":
    sys.exit(main())
