#!/usr/bin/env bash
# The holders benchmark: on a 7-million-chunk, ~1 GiB graph (a long list
# plus a big array of owned objects), the time of a snapshot with holders
# against one without (heapgrab stats), the target's stop in each, and
# heapgrab's peak RSS beyond its copy of the in-use memory; and heapgrab
# types (the same copy, vtables, then DWARF's types propagated from g_list
# and g_array through every object), which issue 15 wants within 1.5x of
# holders.
# Usage: bench/holders.sh [BUILD_DIR] [CHUNKS]     (default: build, 7000000)
set -euo pipefail
build=${1:-build}
chunks=${2:-7000000}
for f in "$build/heapgrab" "$build/bench/holders_heap" "$build/tests/holders_dump"; do
  [ -x "$f" ] || { echo "holders.sh: $f missing: build first" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "holders.sh: /usr/bin/time missing: apt-get install time" >&2; exit 1; }
fifo=$(mktemp -u); mkfifo "$fifo"
out=$(mktemp)
"$build/bench/holders_heap" "$chunks" < "$fifo" > "$out" &
pid=$!
exec 9> "$fifo"
trap 'exec 9>&-; wait $pid 2>/dev/null; rm -f "$fifo" "$out" "$out".*' EXIT
for _ in $(seq 1200); do [ -s "$out" ] && break; sleep 0.1; done
echo "Target: $(cat "$out")"
echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in 1 2 3; do
  /usr/bin/time -f "%e %M" -o "$out.st" "$build/heapgrab" stats --json "$pid" > "$out.stats"
  HG_HOLDERS_TIMES=1 /usr/bin/time -f "%e %M" -o "$out.ho" "$build/tests/holders_dump" "$pid" > "$out.holders" 2> "$out.times"
  /usr/bin/time -f "%e %M %U %S" -o "$out.ty" "$build/heapgrab" types --json "$pid" > "$out.types"
  python3 - "$out" <<'PY'
import json, sys
p = sys.argv[1]
st = json.load(open(p + ".stats")); ho = json.load(open(p + ".holders"))
swall, srss = open(p + ".st").read().split()
hwall, hrss = open(p + ".ho").read().split()
n = ho["objects"]; copy = ho["object_bytes"]
extra = int(hrss) * 1024 - copy
print(f"stats:   {float(swall):6.2f} s wall, stopped {st['timing']['stopped_ns']/1e9:.2f} s, peak RSS {int(srss)/1024:.0f} MiB")
print(f"holders: {float(hwall):6.2f} s wall, stopped {ho['stopped_ns']/1e9:.2f} s, peak RSS {int(hrss)/1024:.0f} MiB "
      f"({n} objects, {copy/2**30:.2f} GiB in use: {extra/n:.1f} bytes an object beyond the copy); "
      f"ratio {float(hwall)/float(swall):.2f}x; leaks {ho['leaks']['direct_objects']} direct")
ty = json.load(open(p + ".types"))
twall, trss, tuser, tsys = open(p + ".ty").read().split()
print(f"types:   {float(twall):6.2f} s wall ({float(tuser) + float(tsys):.2f} s cpu), peak RSS "
      f"{int(trss)/1024:.0f} MiB; {100*ty['typed_objects']/max(ty['inuse_objects'],1):.2f}% of "
      f"the objects typed; ratio to holders {float(twall)/float(hwall):.2f}x")
PY
  cat "$out.times"
done
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
