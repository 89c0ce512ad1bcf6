#!/bin/sh
# The allocation sampler's cost on bench/malloc_bench.c (8 threads, mixed
# sizes): without the sampler, at the default rate (512 KiB), at 64 KiB
# and at rate 1 (every allocation), RUNS runs each (default 5), the runs
# of the four interleaved so that a change in the machine's load falls on
# all of them.  Prints each run and the median per configuration.  Then,
# if sqlite3 is installed, a real program: sqlite3 running
# bench/sampler_sqlite.sql in memory (400,000 rows inserted, indexed,
# queried, updated), without the sampler and at the default rate: CPU time
# and peak RSS, medians of RUNS.
#
#     bench/sampler.sh BUILD_DIR [RUNS] [OPS_PER_THREAD]
set -eu
build=${1:?usage: sampler.sh BUILD_DIR [RUNS] [OPS]}
runs=${2:-5}
ops=${3:-2000000}
lib=$build/libheapgrab_sampler.so
bench=$build/bench/malloc_bench
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq "$runs"); do
    for cfg in none default 65536 1; do
        case $cfg in
        none) line=$("$bench" 8 "$ops") ;;
        default) line=$(LD_PRELOAD=$lib "$bench" 8 "$ops") ;;
        *) line=$(HEAPGRAB_SAMPLE_RATE=$cfg LD_PRELOAD=$lib "$bench" 8 "$ops") ;;
        esac
        echo "$cfg $line" | tee -a "$out"
    done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    cfg, js = line.split(" ", 1)
    rows.setdefault(cfg, []).append(json.loads(js))
base = statistics.median(r["cpu_ns_per_op"] for r in rows["none"])
basew = statistics.median(r["wall_mops"] for r in rows["none"])
for cfg in ("none", "default", "65536", "1"):
    cpu = statistics.median(r["cpu_ns_per_op"] for r in rows[cfg])
    wall = statistics.median(r["wall_mops"] for r in rows[cfg])
    rss = statistics.median(r["maxrss_kib"] for r in rows[cfg])
    print(f"{cfg:>8}: {cpu:7.1f} ns CPU/op ({100 * (cpu / base - 1):+6.1f}%)  "
          f"{wall:6.2f} Mops/s wall ({100 * (wall / basew - 1):+6.1f}%)  maxrss {rss} KiB")
PY

command -v sqlite3 > /dev/null || exit 0
python3 - "$lib" "$runs" "$(dirname "$0")/sampler_sqlite.sql" <<'PY'
import os, resource, statistics, subprocess, sys
lib, runs, sql = sys.argv[1], int(sys.argv[2]), sys.argv[3]
res = {"none": [], "default": []}
for _ in range(runs):
    for cfg in res:
        env = dict(os.environ)
        if cfg == "default":
            env["LD_PRELOAD"] = lib
        with open(sql) as f:
            pid = subprocess.Popen(["sqlite3", ":memory:"], stdin=f, stdout=subprocess.DEVNULL,
                                   env=env).pid
            _, status, ru = os.wait4(pid, 0)
        res[cfg].append((ru.ru_utime + ru.ru_stime, ru.ru_maxrss))
        print(f"sqlite3 {cfg}: {ru.ru_utime + ru.ru_stime:.3f} s CPU, maxrss {ru.ru_maxrss} KiB")
base = statistics.median(c for c, _ in res["none"])
base_rss = statistics.median(r for _, r in res["none"])
for cfg, rows in res.items():
    cpu = statistics.median(c for c, _ in rows)
    rss = statistics.median(r for _, r in rows)
    print(f"sqlite3 {cfg:>8}: {cpu:.3f} s CPU ({100 * (cpu / base - 1):+.1f}%), "
          f"maxrss {rss} KiB ({(rss - base_rss) / 1024:+.1f} MiB)")
PY
