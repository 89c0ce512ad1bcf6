#!/usr/bin/env bash
# Debian roots with other glibc versions, for tests/integration/test_versions.py:
# bullseye (2.31), trixie (2.41).  About a minute each; kept and reused.
# Usage: scripts/make-roots.sh [DIR] [SUITE...]   (as root; needs debootstrap)
set -euo pipefail
dir=${1:-/var/tmp/heapgrab-roots}
shift || true
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(bullseye trixie)
command -v debootstrap >/dev/null || { echo "make-roots.sh: apt-get install debootstrap" >&2; exit 1; }
mkdir -p "$dir"
for s in "${suites[@]}"; do
  [ -x "$dir/$s/usr/bin/gcc" ] && continue
  rm -rf "$dir/$s"
  debootstrap --variant=minbase --include=gcc,libc6-dev,libc6-dbg "$s" "$dir/$s" > "$dir/$s.log" 2>&1 ||
    { echo "make-roots.sh: debootstrap $s failed, see $dir/$s.log" >&2; rm -rf "$dir/$s"; exit 1; }
done
