#!/usr/bin/env bash
# The main job on a bundled sample: start samples/demo, take stats and a
# pprof snapshot of it, show the top of the profile, stop the demo.
# Usage: samples/demo.sh [BUILD_DIR]   (default: build)
set -euo pipefail
build=${1:-build}
hg="$build/heapgrab"
[ -x "$hg" ] || { echo "demo.sh: $hg not found: build first (cmake -S . -B $build && cmake --build $build)" >&2; exit 1; }
out=$(mktemp)
"$build/samples/demo" > "$out" &
demo=$!
trap 'kill $demo 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 100); do grep -q '^pid' "$out" && break; sleep 0.1; done
pid=$(awk '/^pid/ {print $2}' "$out")
echo "== heapgrab stats $pid"
"$hg" stats "$pid"
echo
echo "== heapgrab $pid -o demo.pprof"
"$hg" "$pid" -o demo.pprof
if command -v go >/dev/null; then
  echo
  echo "== go tool pprof -top demo.pprof"
  go tool pprof -top demo.pprof 2>/dev/null | head -20
fi
