#!/usr/bin/env bash
# The 1.5 GiB benchmark: heapgrab's wall time, the time the target was
# stopped and heapgrab's peak RSS, against the floor (reading the same
# memory raw) and against asking glibc through gdb, as users do today.
# Usage: bench/run.sh [BUILD_DIR] [CHUNKS]     (default: build, 12500000)
set -euo pipefail
build=${1:-build}
chunks=${2:-12500000}
hg="$build/heapgrab"
for f in "$hg" "$build/bench/bigheap" "$build/bench/floor"; do
  [ -x "$f" ] || { echo "run.sh: $f missing: build first" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "run.sh: /usr/bin/time missing: apt-get install time" >&2; exit 1; }

out=$(mktemp)
"$build/bench/bigheap" "$chunks" > "$out" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$out" "$out".*' EXIT
for _ in $(seq 600); do [ "$(wc -l < "$out")" -ge 2 ] && break; sleep 0.1; done
truth=$(sed -n 2p "$out")

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
echo "Machine: $(uname -srm), $(nproc) cores ($cpu), $(free -g | awk '/Mem:/ {print $2}') GiB RAM"
python3 - "$truth" <<'PY'
import json, sys
t = json.loads(sys.argv[1])
print(f"Target: bigheap, built in {t['build_s']} s; arena {t['mallinfo2']['arena']/2**30:.2f} GiB, "
      f"{t['mallinfo2']['ordblks'] + t['mallinfo2']['smblks']} free chunks (glibc's own count)")
PY
echo
echo "| run | what | wall s | target stopped ms | peak RSS MiB | figures |"
echo "|---|---|---|---|---|---|"
for mode in auto heuristic; do
  for i in 1 2 3; do
    /usr/bin/time -f '%e %M' -o "$out.t" "$hg" stats --json --locate "$mode" "$pid" > "$out.j"
    read -r wall rss < "$out.t"
    python3 - "$out.j" "$truth" "$i" "$mode" "$wall" "$rss" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); t = json.loads(sys.argv[2])
ok = "mallinfo2 = target's" if j["mallinfo2"] == t["mallinfo2"] else "MISMATCH"
print(f"| {sys.argv[3]} | heapgrab stats ({j['locate']}) | {sys.argv[5]} | "
      f"{j['timing']['stopped_ns']/1e6:.0f} | {int(sys.argv[6])/1024:.0f} | {ok} |")
PY
  done
done
for i in 1 2 3; do
  /usr/bin/time -f '%e %M' -o "$out.t" "$build/bench/floor" "$pid" > "$out.f"
  read -r wall rss < "$out.t"
  echo "| $i | floor: process_vm_readv of the same memory | $wall | - | $((rss / 1024)) | $(cat "$out.f") |"
done
# glibc's own answer, as users get it without heapgrab, but from inside the
# process (tests/targets/mallinfo_probe.c): bigheap prints its mallinfo2()
# itself; gdb -p's "call mallinfo2()" is not run -- GDB 13 cannot call
# functions on CPUs with AMX state, and leaves the target broken.
echo "| 1 | the target's own mallinfo2() (printed by bigheap) | - | - | - | totals only: uordblks $(python3 -c "import json,sys; print(json.loads(sys.argv[1])['mallinfo2']['uordblks'])" "$truth") |"

# heapsnap inside GDB (gdb/heapsnap.py over the shared library), on the
# same process: the command's own time (GDB already attached), then through
# gdbserver (GDB's memory access, as for a remote machine).
if command -v gdb >/dev/null && [ -e "$build/libheapgrab.so" ]; then
  here=$(cd "$(dirname "$0")/.." && pwd)
  timed='python import time, json; t0 = time.time(); o = gdb.execute("heapsnap --json", to_string=True); print("HEAPSNAP", round(time.time() - t0, 2), json.loads(o)["mallinfo2"] == json.loads(open("'"$out"'.truth").read())["mallinfo2"])'
  sed -n 2p "$out" > "$out.truth"
  for i in 1 2 3; do
    HEAPGRAB_LIBRARY="$build/libheapgrab.so" gdb -nx -batch -p "$pid" -ex "source $here/gdb/heapsnap.py" \
        -ex "$timed" > "$out.h" 2>&1 || true
    read -r _ secs same < <(grep HEAPSNAP "$out.h")
    echo "| $i | heapsnap in gdb -p (native: direct reads) | $secs | whole command | - | $([ "$same" = True ] && echo "mallinfo2 = target's" || echo MISMATCH) |"
  done
  if command -v gdbserver >/dev/null; then
    port=$((20000 + RANDOM % 20000))
    gdbserver --attach "127.0.0.1:$port" "$pid" > /dev/null 2>&1 &
    sleep 1
    HEAPGRAB_LIBRARY="$build/libheapgrab.so" gdb -nx -batch -ex "target remote 127.0.0.1:$port" \
        -ex "source $here/gdb/heapsnap.py" -ex "$timed" -ex detach > "$out.h" 2>&1 || true
    read -r _ secs same < <(grep HEAPSNAP "$out.h")
    echo "| 1 | heapsnap through gdbserver (localhost) | $secs | whole command | - | $([ "$same" = True ] && echo "mallinfo2 = target's" || echo MISMATCH) |"
  fi
fi
