#!/usr/bin/env bash
# Roots with other glibc versions, for tests/heap/test_versions.py:
#   Debian  bullseye (2.31), trixie (2.41), sid (2.43), exp244 (sid with
#           experimental's libc6 2.44)
#   Ubuntu  jammy (2.35), noble (2.39), questing (2.42)
# About a minute each, made in parallel; kept and reused.
# Usage: scripts/make-roots.sh [DIR] [SUITE...]   (as root; needs debootstrap)
#
# Ubuntu's archive keyring is not packaged in Debian 12, so the Ubuntu roots
# are made without checking the archive's signature (--no-check-gpg).  They
# are test fixtures in which only gcc and the target run, never anything
# installed on the host.
set -euo pipefail
dir=${1:-/var/tmp/heapgrab-roots}
shift || true
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(bullseye trixie sid jammy noble questing exp244)
command -v debootstrap >/dev/null || { echo "make-roots.sh: apt-get install debootstrap" >&2; exit 1; }
mkdir -p "$dir"

make_root() {
  local s=$1 extra=()
  case $s in
    jammy|noble|questing)
      extra=(--no-check-gpg "$s" "$dir/$s" http://archive.ubuntu.com/ubuntu/
             /usr/share/debootstrap/scripts/gutsy) ;;
    *) extra=("$s" "$dir/$s") ;;
  esac
  rm -rf "${dir:?}/$s"
  if [ "$s" = exp244 ]; then
    make_experimental "$s" "$dir/$s"
    return
  fi
  if ! debootstrap --variant=minbase --include=gcc,libc6-dev,libc6-dbg "${extra[@]}" \
       > "$dir/$s.log" 2>&1; then
    echo "make-roots.sh: debootstrap $s failed, see $dir/$s.log" >&2
    rm -rf "${dir:?}/$s"
    return 1
  fi
}

# glibc 2.44 is only in Debian's experimental suite: a sid root whose libc6,
# libc6-dev and libc6-dbg come from experimental.  The archive reachable
# here serves a frozen snapshot whose Release files have expired, hence
# Check-Valid-Until=false.
make_experimental() {
  local s=$1 root=$2 mirror=http://deb.debian.org/debian
  if ! { debootstrap --variant=minbase --include=gcc,libc6-dev,libc6-dbg sid "$root" &&
         echo "deb $mirror experimental main" > "$root/etc/apt/sources.list.d/experimental.list" &&
         chroot "$root" apt-get -o Acquire::Check-Valid-Until=false update &&
         chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -y \
           -o Acquire::Check-Valid-Until=false -t experimental \
           install libc6 libc6-dev libc6-dbg; } > "$dir/$s.log" 2>&1; then
    echo "make-roots.sh: making $s failed, see $dir/$s.log" >&2
    rm -rf "${root:?}"
    return 1
  fi
}

pids=() names=()
for s in "${suites[@]}"; do
  [ -x "$dir/$s/usr/bin/gcc" ] && continue
  make_root "$s" & pids+=($!) names+=("$s")
done
status=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || status=1
done
exit $status
