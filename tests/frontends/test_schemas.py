#!/usr/bin/env python3
"""Every `--json` output against its published schema (doc/*.schema.json,
named in the man page), with jsonschema (Debian's python3-jsonschema):

  - `stats --json` of a live gt_target (with and without --holders), of its
    gcore core (where RSS and the stop are null) and through the heuristics;
  - `holders --json` and `leaks --json` of the live target when the library
    finds holders, and of the synthetic snapshot's outputs
    (holders_outputs_unit writes them) always;
  - each schema rejects an output with a field missing, a field it does not
    name, and a field of the wrong type: a schema that accepts anything
    checks nothing.

Usage: test_schemas.py SOURCE_DIR [SYNTHETIC_OUT_DIR]
Environment: HEAPGRAB, HG_TARGET_DIR.  Exits 77 without jsonschema.
"""
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Failure, Skip, check  # noqa: E402
import targets  # noqa: E402

try:
    import jsonschema
except ImportError:
    jsonschema = None

SOURCE = sys.argv[1] if len(sys.argv) > 1 else "."
SYNTHETIC = sys.argv[2] if len(sys.argv) > 2 else None
HEAPGRAB = os.environ.get("HEAPGRAB", "")
TARGET = os.path.join(os.environ.get("HG_TARGET_DIR", ""), "gt_target")
passed = failed = 0


def schema(name):
    with open(os.path.join(SOURCE, "doc", f"{name}.schema.json")) as f:
        s = json.load(f)
    jsonschema.Draft7Validator.check_schema(s)
    return s


def report(ok, what):
    global passed, failed
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    passed += ok
    failed += not ok


def valid(name, doc, what):
    errors = sorted(jsonschema.Draft7Validator(schema(name)).iter_errors(doc), key=str)
    report(not errors, f"{what} matches doc/{name}.schema.json" +
           ("" if not errors else f": {errors[0].message} at {list(errors[0].absolute_path)}"))


def rejected(name, doc, what):
    ok = not jsonschema.Draft7Validator(schema(name)).is_valid(doc)
    report(ok, f"doc/{name}.schema.json rejects {what}")


def mutants(name, doc):
    """A field missing, one the schema does not name, one of the wrong
    type -- at the top and one level down."""
    key = next(iter(doc))
    d = copy.deepcopy(doc)
    del d[key]
    rejected(name, d, f"an output without '{key}'")
    d = copy.deepcopy(doc)
    d["surprise"] = 1
    rejected(name, d, "an output with a field it does not name")
    d = copy.deepcopy(doc)
    d[key] = {"not": "this"} if not isinstance(d[key], dict) else "text"
    rejected(name, d, f"an output whose '{key}' has the wrong type")
    inner = next((k for k, v in doc.items() if isinstance(v, dict) and v), None)
    if inner:
        d = copy.deepcopy(doc)
        sub = next(iter(d[inner]))
        d[inner][sub] = -1 if isinstance(d[inner][sub], int) else 12345
        rejected(name, d, f"an output whose '{inner}.{sub}' is {d[inner][sub]!r}")


def cli(*args):
    r = subprocess.run([HEAPGRAB, *args], capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout, r.stderr.strip()


def main():
    if jsonschema is None:
        print("test_schemas: skipped: no jsonschema (apt-get install python3-jsonschema)")
        return 77
    names = sorted(f[:-len(".schema.json")] for f in os.listdir(os.path.join(SOURCE, "doc"))
                   if f.endswith(".schema.json"))
    report({"stats", "holders", "leaks"} <= set(names), f"schemas published: {', '.join(names)}")
    with open(os.path.join(SOURCE, "doc", "heapgrab.1")) as f:
        man = f.read()
    for n in names:
        report(f"{n}.schema.json" in man, f"the man page names {n}.schema.json")

    tmp = tempfile.mkdtemp(prefix="hg-schemas-")
    try:
        with targets.Target(TARGET) as t:
            rc, out, err = cli("stats", "--json", str(t.pid))
            check(rc == 0, f"stats --json: exit {rc}: {err}")
            live = json.loads(out)
            valid("stats", live, "stats --json (live)")
            mutants("stats", live)
            rc, out, err = cli("stats", "--json", "--locate", "heuristic", str(t.pid))
            check(rc == 0, f"stats --json --locate heuristic: exit {rc}: {err}")
            valid("stats", json.loads(out), "stats --json --locate heuristic")
            rc, out, err = cli("stats", "--json", "--holders", str(t.pid))
            if rc == 0:
                valid("stats", json.loads(out), "stats --json --holders")
            for name in ("holders", "leaks"):
                rc, out, err = cli(name, "--json", str(t.pid))
                if rc == 0:
                    doc = json.loads(out)
                    valid(name, doc, f"{name} --json (live)")
                    mutants(name, doc)
                else:
                    print(f"     ({name} --json live not checked: {err})")
            sampler = os.environ.get("HG_SAMPLER")
            if sampler and os.path.exists(sampler):
                with targets.Target(TARGET, env={"LD_PRELOAD": sampler}) as ts:
                    rc, out, err = cli("stats", "--json", str(ts.pid))
                    check(rc == 0, f"stats --json with the sampler: exit {rc}: {err}")
                    doc = json.loads(out)
                    report("sampler" in doc, "stats --json of a process with the sampler has 'sampler'")
                    valid("stats", doc, "stats --json (with the allocation sampler)")
            else:
                print("     (part skipped: no HG_SAMPLER)")
            if shutil.which("gcore"):
                core = os.path.join(tmp, "core")
                subprocess.run(["gcore", "-o", core, str(t.pid)], capture_output=True, timeout=300)
                core = f"{core}.{t.pid}"
                rc, out, err = cli("stats", "--json", core)
                check(rc == 0, f"stats --json on a gcore core: exit {rc}: {err}")
                doc = json.loads(out)
                report(doc["rss_bytes"] is None and doc["timing"]["stopped_ns"] is None,
                       "on a core, rss_bytes and stopped_ns are null")
                valid("stats", doc, "stats --json (gcore core)")
            else:
                print("     (part skipped: no gcore)")
        if SYNTHETIC and os.path.isdir(SYNTHETIC):
            for name in ("holders", "leaks", "stats"):
                path = os.path.join(SYNTHETIC, f"{name}.json")
                with open(path) as f:
                    doc = json.load(f)
                valid(name, doc, f"{name} of the synthetic snapshot")
                mutants(name, doc)
    except (Failure, Skip) as e:
        report(False, str(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"test_schemas: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
