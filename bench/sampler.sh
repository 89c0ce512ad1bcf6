#!/bin/sh
# The allocation sampler's cost on bench/malloc_bench.c (8 threads, mixed
# sizes): without the sampler, at the default rate (512 KiB), at 64 KiB
# and at rate 1 (every allocation), RUNS runs each (default 5), the runs
# of the four interleaved so that a change in the machine's load falls on
# all of them.  Prints each run and the median per configuration.
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
