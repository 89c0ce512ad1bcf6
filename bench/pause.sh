#!/usr/bin/env bash
# The target's pause (issue 16), on bench/bigheap: for stats (copy, the
# default), stats walking during the stop (--memory-budget 0), stats
# --holders and stats --no-stop -- the time the target was stopped, the
# copy's share of it, the wall time, heapgrab's peak RSS -- beside the raw
# read of the same memory (bench/floor, 8 MiB blocks into one buffer).
# Then --no-stop against a stopped snapshot right after, on a target
# allocating about RATE MB/s (tests/pause/busy_target).
# Usage: bench/pause.sh [BUILD_DIR] [CHUNKS] [RUNS] [RATE]
#        (default: build, 12500000 (1.5 GiB), 3, 100)
set -euo pipefail
build=${1:-build}
chunks=${2:-12500000}
runs=${3:-3}
rate=${4:-100}
hg="$build/heapgrab"
for f in "$hg" "$build/bench/bigheap" "$build/bench/floor" "$build/tests/busy_target"; do
  [ -x "$f" ] || { echo "pause.sh: $f missing: build first" >&2; exit 1; }
done
out=$(mktemp)
"$build/bench/bigheap" "$chunks" > "$out" &
pid=$!
bpid=
trap 'kill $pid $bpid 2>/dev/null; rm -f "$out" "$out".*' EXIT
for _ in $(seq 1200); do [ "$(wc -l < "$out")" -ge 2 ] && break; sleep 0.1; done
sed -n 2p "$out" > "$out.truth"
echo "Machine: $(uname -srm), $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB RAM, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 -c "import json,sys; t=json.load(open(sys.argv[1])); m=t['mallinfo2']; print(f\"Target: bigheap {sys.argv[2]} chunks, arena {m['arena']/2**30:.2f} GiB\")" "$out.truth" "$chunks"
echo
echo "| run | what | stopped s | copy s | wall s | peak RSS MiB | raw read s | figures |"
echo "|---|---|---|---|---|---|---|---|"
row() { # name args...
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$out.t" "$hg" stats --json "$@" "$pid" > "$out.j" 2> "$out.e" || true
  "$build/bench/floor" "$pid" > "$out.f"
  read -r wall rss < "$out.t"
  python3 - "$out.j" "$out.truth" "$i" "$name" "$wall" "$rss" "$out.f" <<'PY'
import json, sys, re
try:
    j = json.load(open(sys.argv[1]))
except Exception:
    print(f"| {sys.argv[3]} | {sys.argv[4]} | failed | | | | | |"); sys.exit()
t = json.load(open(sys.argv[2]))
tm = j["timing"]
floor = float(re.search(r"in ([0-9.]+) ms", open(sys.argv[7]).read()).group(1)) / 1e3
ok = "= target's mallinfo2" if j["mallinfo2"] == t["mallinfo2"] else "MISMATCH"
cp = "-" if tm["copy_ns"] is None else f"{tm['copy_ns']/1e9:.2f}"
print(f"| {sys.argv[3]} | {sys.argv[4]} ({tm['pause']}) | {tm['stopped_ns']/1e9:.2f} | {cp} | "
      f"{sys.argv[5]} | {int(sys.argv[6])/1024:.0f} | {floor:.2f} | {ok} |")
PY
}
for i in $(seq "$runs"); do
  row "stats"
  row "stats --memory-budget 0" --memory-budget 0
  row "stats --no-stop" --no-stop
done
if [ "${HOLDERS:-1}" = 1 ]; then
  for i in $(seq "$runs"); do row "stats --holders" --holders; done
fi
kill $pid; wait $pid 2>/dev/null || true

echo
echo "--no-stop on a busy target (tests/pause/busy_target: 2 threads, 100,000 live blocks each, ~$rate MB/s), then a stopped snapshot:"
echo
echo "| run | consistent | rereads | no-stop in use | stopped in use | difference |"
echo "|---|---|---|---|---|---|"
"$build/tests/busy_target" 2 100000 "$rate" > "$out.b" &
bpid=$!
for _ in $(seq 300); do [ -s "$out.b" ] && break; sleep 0.1; done
for i in $(seq "$runs"); do
  "$hg" stats --json --no-stop "$bpid" > "$out.n"
  "$hg" stats --json "$bpid" > "$out.s"
  python3 - "$out.n" "$out.s" "$i" <<'PY'
import json, sys
n = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
a, b = n["mallinfo2"]["uordblks"], s["mallinfo2"]["uordblks"]
print(f"| {sys.argv[3]} | {n['consistent']} | {n['timing']['rereads']} | {a} | {b} | {100*(a-b)/b:+.3f}% |")
PY
done
