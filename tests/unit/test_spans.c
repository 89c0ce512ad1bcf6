/*
 * test_spans -- the live backend's many-ranges read (one process_vm_readv
 * for all of a stop's thread stacks) against a child whose memory has a
 * hole in it: every range must come back as a one-by-one read would give
 * it, byte for byte, with reads cut short at the hole and the ranges after
 * it read all the same.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "target/target.h"

#define PAGE 4096

static int failures;

static void expect(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "FAIL %s\n", what);
        failures++;
    }
}

int main(void)
{
    /* pages 0, 1, 3 mapped and filled with their own byte pattern; 2 and 4
     * are holes.  The child inherits the mapping and waits. */
    unsigned char *area = mmap(NULL, 5 * PAGE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED)
        return 1;
    for (size_t i = 0; i < 4 * PAGE; i++)
        area[i] = (unsigned char)(i * 7 + i / PAGE);
    munmap(area + 2 * PAGE, PAGE);
    munmap(area + 4 * PAGE, PAGE);
    pid_t child = fork();
    if (child == 0) {
        for (;;)
            pause();
    }
    hg_target *t;
    if (hg_target_attach_pid(child, HG_ATTACH_DEFAULT, &t) != 0) {
        fprintf(stderr, "attach: %s\n", hg_error_message());
        kill(child, SIGKILL);
        return 1;
    }
    uint64_t a = (uint64_t)(uintptr_t)area;
    static unsigned char buf[6][2 * PAGE];
    hg_span s[6] = {
        {.addr = a, .len = PAGE},                  /* whole */
        {.addr = a + PAGE + 100, .len = PAGE},     /* runs into the hole */
        {.addr = a + 2 * PAGE, .len = 64},         /* in the hole */
        {.addr = a + 3 * PAGE, .len = PAGE},       /* after it */
        {.addr = a + 8, .len = 16},                /* small, again before */
        {.addr = a + 3 * PAGE + 4000, .len = 200}, /* runs into the second hole */
    };
    size_t want[6] = {PAGE, PAGE - 100, 0, PAGE, 16, 96};
    for (int round = 0; round < 2; round++) {
        memset(buf, 0xee, sizeof buf);
        for (int i = 0; i < 6; i++) {
            s[i].buf = buf[i];
            s[i].got = 12345;
        }
        /* round 0: the backend's own; round 1: the same through read() */
        const struct hg_target_ops *ops = t->ops;
        struct hg_target_ops plain = *ops;
        plain.read_spans = NULL;
        if (round == 1)
            t->ops = &plain;
        expect(round == 1 || ops->read_spans, "the live backend has read_spans");
        expect(hg_read_spans(t, s, 6) == 0, "hg_read_spans returns 0");
        t->ops = ops;
        for (int i = 0; i < 6; i++) {
            char what[128];
            snprintf(what, sizeof what, "round %d span %d: got %zu, want %zu", round, i, s[i].got,
                     want[i]);
            expect(s[i].got == want[i], what);
            size_t off = (size_t)(s[i].addr - a);
            snprintf(what, sizeof what, "round %d span %d: bytes differ", round, i);
            expect(memcmp(buf[i], area + off, s[i].got) == 0, what);
        }
    }
    hg_target_close(t);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    if (!failures)
        printf("test_spans: ok\n");
    return failures ? 1 : 0;
}
