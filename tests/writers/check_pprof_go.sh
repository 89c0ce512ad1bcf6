#!/usr/bin/env bash
# Read the profiles written by test_writers with `go tool pprof`:
#   check_pprof_go.sh GO OUTDIR
# Every command must succeed and show the sample types, totals, labels and
# synthetic frames of the synthetic snapshot in tests/writers/test_writers.c,
# and the threads, frames and main binary of the synthetic CPU profile in
# tests/writers/test_stack_writers.c.  Exits 77 (skipped) without go: GO is
# empty or GO-NOTFOUND when CMake found none.
set -u
go=$1
dir=$2
if [ -z "$go" ] || ! [ -x "$go" ]; then
    echo "SKIP: no go toolchain (GO='$go'): go tool pprof cannot be run" >&2
    exit 77
fi
export PPROF_TMPDIR="$dir/pprof-tmp"
export PPROF_BINARY_PATH="$dir/no-binaries"   # never look for real binaries
fail=0

# run NAME ARGS...: run go tool pprof, keep its output in $out.
run() {
    local name=$1
    shift
    if ! out=$("$go" tool pprof "$@" 2>&1); then
        echo "FAIL: $name: go tool pprof $* exited non-zero:" >&2
        echo "$out" >&2
        fail=1
        out=
    fi
}

# want NAME PATTERN: $out must match the extended regexp.
want() {
    if ! grep -Eq -- "$2" <<<"$out"; then
        echo "FAIL: $1: output lacks /$2/:" >&2
        echo "$out" >&2
        fail=1
    fi
}

# lacks NAME PATTERN: $out must not match.
lacks() {
    if grep -Eq -- "$2" <<<"$out"; then
        echo "FAIL: $1: output has /$2/:" >&2
        echo "$out" >&2
        fail=1
    fi
}

heap="$dir/heap.pb.gz"
empty="$dir/empty.pb.gz"

run raw -raw "$heap"
want raw '^PeriodType: space bytes$'
want raw '^Period: 1$'
want raw '^inuse_objects/count inuse_space/bytes\[dflt\] free_objects/count free_space/bytes$'
want raw '^Comment: heapgrab [0-9.]+ heap snapshot of pid 4242 '
want raw '^Comment: glibc 2\.36, located by symbols$'
want raw 'arena:\[main\] state:\[inuse\]'
want raw 'arena:\[arena1\] state:\[tcache\]'
want raw 'arena:\[mmap\] state:\[mmapped\]'
want raw 'bytes:\[40\]'
want raw '/opt/app/bin/app'

run top -top "$heap"
want top '^Type: inuse_space$'
want top 'of 527\.68kB total'
want top ' size 128-192 KiB$'
want top ' mmapped chunks$'
run top-objects -top -sample_index=inuse_objects "$heap"
want top-objects 'of 28 total'
run top-free -top -sample_index=free_space "$heap"
want top-free '^Type: free_space$'
want top-free 'of 207\.02kB total'

run tagfocus-state -top -sample_index=free_objects -tagfocus=state=tcache "$heap"
want tagfocus-state 'Showing nodes accounting for 6, [0-9.]+% of 16 total'
want tagfocus-state ' state tcache$'
lacks tagfocus-state ' state (bin|top|fastbin|overhead)$'
run tagfocus-bytes -top -sample_index=inuse_objects -tagfocus=bytes=40b "$heap"
want tagfocus-bytes '^ +12 .* size 48$'

run traces -traces "$heap"
want traces 'arena 1 0x7fffe8000030$'
want traces 'state: +overhead$'

run tags -tags "$heap"
want tags '^ *arena: Total'
want tags '^ *state: Total'
want tags '^ *bytes: Total'

run empty -top "$empty"
want empty 'of 0 total'

stacks="$dir/stacks.pb.gz"
run stacks-top -top "$stacks"
want stacks-top '^File: app'          # the executable's mapping is the first
want stacks-top '^Type: cpu$'
want stacks-top 'of 51ms total'
want stacks-top ' spin_leaf$'
want stacks-top ' spin_step.* \(inline\)$'
run stacks-traces -traces "$stacks"
want stacks-traces 'thread_name: +spinner-'
want stacks-traces 'thread_id: +4243'
run stacks-empty -top "$dir/stacks_empty.pb.gz"
want stacks-empty '^Type: samples$'
want stacks-empty 'of 0 total'

if [ "$fail" != 0 ]; then
    echo "check_pprof_go: FAILED" >&2
    exit 1
fi
echo "check_pprof_go: all checks passed"
