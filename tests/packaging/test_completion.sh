#!/usr/bin/env bash
# bash completion (cli/heapgrab.bash-completion) as bash-completion runs it:
# subcommands and options come from `heapgrab --help`, so every subcommand
# and every option the help names must be offered.  Exits 77 without
# bash-completion.
#   test_completion.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=$1 build=$2
bc=/usr/share/bash-completion/bash_completion
[ -r "$bc" ] || { echo "test_completion: skipped: no bash-completion (apt-get install bash-completion)"; exit 77; }
export PATH="$build:$PATH"
# shellcheck disable=SC1090
. "$bc"
. "$src/cli/heapgrab.bash-completion"
fails=0
complete_line() {   # complete_line WORD... : COMPREPLY for the last word
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _heapgrab heapgrab "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
}
expect() {   # expect WHAT WORD... -- the completion must offer WHAT
    local want=$1; shift
    complete_line "$@"
    if printf '%s\n' "${COMPREPLY[@]}" | grep -qx -- "$want"; then
        echo "ok   '$*' offers $want"
    else
        echo "FAIL '$*' does not offer $want: ${COMPREPLY[*]:0:20}"; fails=$((fails + 1))
    fi
}
help=$(heapgrab --help)
cmds=$(sed -nE 's/^(usage:)? +heapgrab \[?([a-z]+)\]?.*/\2/p' <<<"$help" | sort -u)
[ "$(wc -w <<<"$cmds")" -ge 4 ] || { echo "FAIL: fewer than 4 subcommands in --help: $cmds"; exit 1; }
for c in $cmds; do expect "$c" heapgrab "${c:0:2}"; done
for o in $(grep -oE -- '--[a-z][a-z-]*' <<<"$help" | sort -u); do expect "$o" heapgrab stats "${o:0:4}"; done
expect heuristic heapgrab stats --locate h
expect "$$" heapgrab stats "$$"
tmp=$(mktemp -d); touch "$tmp/app.core.42"
expect "$tmp/app.core.42" heapgrab stats "$tmp/app.c"
rm -rf "$tmp"
# nothing but subcommands and targets for the first word: no option noise
complete_line heapgrab ""
printf '%s\n' "${COMPREPLY[@]}" | grep -q -- '^--' && { echo "FAIL: options offered for an empty word"; fails=$((fails + 1)); }
echo "test_completion: $fails failed"
[ "$fails" = 0 ]
