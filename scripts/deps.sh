#!/usr/bin/env bash
# Install what heapgrab needs to build, test and benchmark (Debian 12, as root
# or through sudo).  Safe to run again.
set -euo pipefail
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
pkgs=(build-essential cmake pkg-config
      libdw-dev libelf-dev libunwind-dev libprotobuf-c-dev protobuf-c-compiler zlib1g-dev
      python3 golang-go gdb strace time util-linux libc6-dbg libjemalloc2 debootstrap gdbserver python3-pytest elfutils
      dpkg-dev bash-completion python3-jsonschema   # packaging tests, JSON schemas
      chromium                        # the report pages drawn (tests/report)
      musl-tools busybox-static       # programs heapgrab must refuse (exits test)
      nginx-light memcached postgresql perl)  # real programs (test_realworld.py)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
