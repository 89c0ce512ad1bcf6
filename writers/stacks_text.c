/* stacks_text.c -- thread stacks as text, one block per thread:
 *
 *   thread 4242 "worker-1" (R running)
 *     #0  0x0000556b1c2a1189 spin_leaf+0x19 at /src/stack_target.c:31
 *     #1  0x0000556b1c2a11b0 spin_mid (inlined) at /src/stack_target.c:37
 *     ...
 *
 * Names, paths and function names come from the target: control characters
 * and bytes that are not UTF-8 in them are printed as '?' (text_safe.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "heapgrab.h"
#include "lib/error.h"
#include "writers/text_safe.h"

static const char *state_word(char s)
{
    switch (s) {
    case 'R': return "running";
    case 'S': return "sleeping";
    case 'D': return "disk sleep";
    case 'T': return "stopped";
    case 't': return "traced";
    case 'Z': return "zombie";
    case 'I': return "idle";
    default: return "unknown";
    }
}

int hg_write_stacks_text(const hg_profile *p, FILE *out)
{
    if (!p || !out)
        return hg_fail(HG_EUSAGE, "hg_write_stacks_text: no profile or stream");
    const hg_profile_timing *tm = hg_profile_timing_of(p);
    fprintf(out, "%zu threads, stopped %.2f ms\n", hg_profile_thread_count(p),
            tm->stopped_ns_max / 1e6);
    for (size_t i = 0; i < hg_profile_thread_count(p); i++) {
        const hg_thread_stack *t = hg_profile_thread(p, i);
        fprintf(out, "\nthread %d \"", t->tid);
        hg_text_put(out, t->name);
        fprintf(out, "\" (%c %s)\n", hg_text_printable((const unsigned char *)&t->state, 1)
                                          ? t->state : '?', state_word(t->state));
        for (size_t k = 0; k < t->nframes; k++) {
            const hg_stack_frame *f = &t->frames[k];
            fprintf(out, "  #%-3zu 0x%016" PRIx64 " ", k, f->pc);
            if (!f->function) {
                fputs("??", out);
            } else {
                hg_text_put(out, f->function);
                if (f->inlined)
                    fputs(" (inlined)", out);
                else
                    fprintf(out, "+0x%" PRIx64, f->offset);
            }
            if (f->file) {
                fputs(" at ", out);
                hg_text_put(out, f->file);
                fprintf(out, ":%d", f->line);
            } else if (f->module) {
                fputs(" in ", out);
                hg_text_put(out, f->module);
            }
            fputc('\n', out);
        }
        if (t->error) {
            fputs("  (unwinding stopped: ", out);
            hg_text_put(out, t->error);
            fputs(")\n", out);
        }
    }
    /* The stream buffers: what did not reach the file shows only now. */
    errno = 0;
    if (fflush(out) != 0 || ferror(out))
        return hg_fail(HG_EIO, "writing stacks: %s", errno ? strerror(errno) : "I/O error");
    return 0;
}
