// gt_go -- a Go program: Go's own allocator, no glibc malloc.  heapgrab must
// refuse it as such (exit 5).  Built by test_invariants.py with
// CGO_ENABLED=0 (statically linked); says "ready", then reads stdin to its end.
package main

import (
	"io"
	"os"
)

func main() {
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
}
