#!/usr/bin/env bash
# Build heapgrab_VERSION_amd64.deb with CPack (Depends from dpkg-shlibdeps).
#   scripts/package.sh [OUTDIR]     (default: build-deb; prints the .deb's path)
# A build of its own, configured for /usr: the library in Debian's multiarch
# directory, the Python package in /usr/lib/python3/dist-packages, the GDB
# command in /usr/share/heapgrab/gdb, bash completion, the man page.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-deb}
command -v dpkg-shlibdeps >/dev/null || { echo "package.sh: apt-get install dpkg-dev" >&2; exit 1; }
cmake -S . -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DHEAPGRAB_PYTHON_DIR=lib/python3/dist-packages -DBUILD_TESTING=OFF >/dev/null
cmake --build "$out" -j"$(nproc)" >/dev/null
(cd "$out" && cpack -G DEB >/dev/null)
deb=$(ls -t "$out"/heapgrab_*_amd64.deb | head -1)
echo "$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
