#!/usr/bin/env bash
# The holders heap profile written by test_holders_outputs, through
# `go tool pprof`:  check_pprof_go.sh OUTDIR
# -top -cum ranks the roots by what they retain (the figures of the
# synthetic model: tests/holders_outputs/synthetic.h); -list g_tracker shows
# its declaration; -tagfocus on the new label works; --by-size's profile is
# the size classes.  Exit 77 (skipped) when go is not installed.
set -u
dir=$1
go=$(command -v go || true)
if [ -z "$go" ]; then
    echo "check_pprof_go: go is not installed: skipped" >&2
    exit 77
fi
export PPROF_TMPDIR="$dir/pprof-tmp"
export PPROF_BINARY_PATH="$dir/no-binaries"   # never look for real binaries
fail=0
heap="$dir/heap.pb.gz"

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
want() {
    if ! grep -Eq -- "$2" <<<"$out"; then
        echo "FAIL: $1: output lacks /$2/:" >&2
        echo "$out" >&2
        fail=1
    fi
}

# cum of each root = its retained bytes, in bytes (-unit=B)
run top -top -cum -nodefraction=0 -unit=B "$heap"
want top '^Type: inuse_space$'
want top ' 135152B +[0-9.]+% +mapping 0x7f0000000000-0x7f0000100000$'
want top ' 3200B +[0-9.]+% +libapp\.so\+0x4020$'
want top ' 2400B +[0-9.]+% +g_list$'
want top ' 1592B +[0-9.]+% +g_tracker$'
want top ' 2400B +[0-9.]+% +size 32 \(chain\)$'
want top ' 64B +[0-9.]+% +\(several roots\)$'
want top ' 152B +[0-9.]+% +\(leaked\)$'
want top ' 80B +[0-9.]+% +direct leak$'
want top ' 72B +[0-9.]+% +indirect leak$'
want top ' 40B +[0-9.]+% +hold_on_stack \(stack of thread 4243 "worker"\)$'
# the ranking: the mapping, the chain, the list, then the tracker
order=$(grep -Eo '(mapping 0x7f0000000000-0x7f0000100000|libapp\.so\+0x4020|g_list|g_tracker)$' <<<"$out" | tr '\n' ' ')
if [ "$order" != "mapping 0x7f0000000000-0x7f0000100000 libapp.so+0x4020 g_list g_tracker " ]; then
    echo "FAIL: top -cum ranks the roots as: $order" >&2
    fail=1
fi

run objects -top -cum -nodefraction=0 -sample_index=inuse_objects "$heap"
want objects ' 100 +[0-9.]+% +g_list$'
want objects ' 9 +[0-9.]+% +g_tracker$'

run free -top -cum -nodefraction=0 -sample_index=free_space "$heap"
want free ' \(free\)$'
want free ' state tcache$'

run list -list 'g_tracker' -unit=B "$heap"
want list 'ROUTINE ======================== g_tracker in .*tracker\.c'
# what it retains on the line of its declaration
want list '^ +\. +1592B +3:struct tracker \*g_tracker;$'

run possibly -top -sample_index=inuse_objects -tagfocus=class=possibly "$heap"
want possibly 'accounting for 1, [0-9.]+% of 220 total'

run bysize -top "$dir/heap_by_size.pb.gz"
want bysize ' arena main$'
want bysize ' state inuse$'

if [ "$fail" != 0 ]; then
    echo "check_pprof_go: FAILED" >&2
    exit 1
fi
echo "check_pprof_go: all checks passed"
