#!/usr/bin/env bash
# Thread stacks: heapgrab stacks against eu-stack (same detail: inlined
# frames and source lines), and what a 100 Hz profile costs a busy target.
# Usage: bench/stacks.sh [BUILD_DIR] [THREADS] [SECONDS]  (default build 16 10)
set -euo pipefail
build=${1:-build}
nthreads=${2:-16}
secs=${3:-10}
hg="$build/heapgrab"
target="$build/tests/stack_target_o2"
for f in "$hg" "$target"; do
  [ -x "$f" ] || { echo "stacks.sh: $f missing: build first" >&2; exit 1; }
done
command -v eu-stack >/dev/null || { echo "stacks.sh: apt-get install elfutils" >&2; exit 1; }

fifo=$(mktemp -u); mkfifo "$fifo"
out=$(mktemp)
"$target" "$nthreads" < "$fifo" > "$out" &
pid=$!
exec 3> "$fifo"
trap 'kill $pid 2>/dev/null; rm -f "$fifo" "$out" "$out".*' EXIT
for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
count() { echo count >&3; sleep 0.05; tail -1 "$out"; }

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
echo "Machine: $(uname -srm), $(nproc) cores ($cpu)"
echo "Target: stack_target_o2 (no frame pointers), $nthreads spinning threads + main + a sleeper"
echo
echo "| run | one-shot stacks of all threads | wall s |"
echo "|---|---|---|"
for i in 1 2 3; do
  /usr/bin/time -f '%e' -o "$out.t" "$hg" stacks "$pid" > /dev/null
  echo "| $i | heapgrab stacks | $(cat "$out.t") |"
done
for i in 1 2 3; do
  /usr/bin/time -f '%e' -o "$out.t" eu-stack -i -s -p "$pid" > /dev/null 2>&1 || true
  echo "| $i | eu-stack -i -s -p | $(cat "$out.t") |"
done

echo
echo "Profile at 100 Hz for $secs s; the target's own work rate, against the $secs s before:"
now() { date +%s.%N; }
t0=$(now); a=$(count); sleep "$secs"; b=$(count); t1=$(now)
t2=$(now); c=$(count)
"$hg" profile --seconds "$secs" --hz 100 "$pid" -o "$out.pprof" 2> "$out.e"
d=$(count); t3=$(now)
python3 - "$a" "$b" "$t0" "$t1" "$c" "$d" "$t2" "$t3" <<'PY'
import sys
a, b, t0, t1, c, d, t2, t3 = map(float, sys.argv[1:])
base, prof = (b - a) / (t1 - t0), (d - c) / (t3 - t2)
print(f"- without profiling: {base:.3g} units/s; while profiled: {prof:.3g} units/s")
print(f"- throughput loss: {100 * (base - prof) / base:.1f}%")
PY
echo "- $(sed 's/^heapgrab: //' "$out.e")"
