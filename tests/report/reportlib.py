"""What the report tests share: the JSON a report page holds, read back
as the page reads it; go tool pprof -top's table; flat and cum computed
here, independently of heapgrab, from a synthetic profile's samples."""
import base64
import gzip
import json
import os
import re
import shutil
import subprocess

DATA_OPEN = '<script id="hg-data" type="application/json">'


def page_data_text(html):
    """The text inside the data element, as the page has it."""
    start = html.index(DATA_OPEN) + len(DATA_OPEN)
    end = html.index("</script>", start)
    return html[start:end]


def page_data(path):
    """The report's JSON, as a dict (inflated when it came gzipped)."""
    with open(path, encoding="utf-8") as f:
        text = page_data_text(f.read())
    if text.startswith("gz:"):
        text = gzip.decompress(base64.b64decode(re.sub(r"\s+", "", text[3:]))).decode("utf-8")
    return json.loads(text)


def top_of(data, type_name):
    """{function: (flat, cum)} of the page's top table for a sample type."""
    t = [x["type"] for x in data["types"]].index(type_name)
    nt = len(data["types"])
    marks = 1 + 2 * nt * (2 if data["base"] else 1)
    suffix = ["", " (inline)", " (partial-inline)"]
    return {data["names"][e[0]] + suffix[e[marks + t]]: (e[1 + 2 * t], e[2 + 2 * t])
            for e in data["top"] if e[1 + 2 * t] or e[2 + 2 * t]}


def base_top_of(data, type_name):
    t = [x["type"] for x in data["types"]].index(type_name)
    nt = len(data["types"])
    return {data["names"][e[0]]: (e[1 + 2 * nt + 2 * t], e[2 + 2 * nt + 2 * t])
            for e in data["top"] if e[1 + 2 * nt + 2 * t] or e[2 + 2 * nt + 2 * t]}


def go():
    return shutil.which("go")


_TOP_ROW = re.compile(r"^\s*(-?[0-9.]+)([a-zA-Z]*)\s+[-0-9.]+%\s+[-0-9.]+%\s+(-?[0-9.]+)([a-zA-Z]*)\s+"
                      r"[-0-9.]+%\s+(.*)$")


def go_top(pprof_path, sample_index, unit, workdir, base=None):
    """{function: (flat, cum)} of `go tool pprof -top -nodefraction=0` in
    whole units (-unit=B or ns keeps every figure exact)."""
    env = dict(os.environ, PPROF_TMPDIR=os.path.join(workdir, "pprof-tmp"),
               PPROF_BINARY_PATH=os.path.join(workdir, "no-binaries"))
    # -edgefraction=0: pprof marks a function "(inline)" from the calls
    # into it it keeps, and by default it drops the smallest
    argv = [go(), "tool", "pprof", "-top", "-nodefraction=0", "-edgefraction=0", "-nodecount=100000",
            "-sample_index=" + sample_index]
    if unit:
        argv.append("-unit=" + unit)
    if base:
        argv.append("-base=" + base)
    r = subprocess.run(argv + [pprof_path], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise AssertionError(f"go tool pprof {pprof_path}: exit {r.returncode}: {r.stderr}")
    rows, started = {}, False
    for line in r.stdout.splitlines():
        if line.split() == ["flat", "flat%", "sum%", "cum", "cum%"]:
            started = True
            continue
        if not started:
            continue
        m = _TOP_ROW.match(line)
        if not m:
            raise AssertionError(f"go tool pprof -top: a row not understood: {line!r}")
        rows[m.group(5)] = (int(float(m.group(1))), int(float(m.group(3))))
    if not started:
        raise AssertionError(f"go tool pprof -top printed no table: {r.stdout}")
    return rows


def flat_cum(samples, index):
    """{function: (flat, cum)} of synthetic samples [(stack, values, labels)]:
    flat to the leaf, cum once per sample to each function on the stack."""
    out = {}
    for stack, values, _ in samples:
        v = values[index]
        if not v:
            continue
        for i, name in enumerate(stack):
            f, c = out.get(name, (0, 0))
            if i == 0:
                f += v
            if name not in stack[:i]:
                c += v
            out[name] = (f, c)
    return {k: fc for k, fc in out.items() if fc != (0, 0)}
