#!/usr/bin/env bash
# The whole test suite: a normal build and an ASan+UBSan build, each with
# ctest.  Needs root (or CAP_SYS_PTRACE) for the live-process tests.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHEAPGRAB_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
status=0
echo "== tests (RelWithDebInfo)"
ctest --test-dir build --output-on-failure || status=1
echo "== tests (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure || status=1
exit $status
