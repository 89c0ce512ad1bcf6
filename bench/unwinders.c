/*
 * unwinders.c -- which unwinder heapgrab uses, decided by measurement.
 *
 * Stops a live process the way `heapgrab profile` does: at each stop it
 * copies every thread's registers and live stack (hg_unwinder_capture) and
 * lets the process go.  Then it unwinds every thread three times from the
 * same copy: with heapgrab's walk (hg_unwind_thread: CFA rules cached per
 * pc, libdwfl where they do not do), with libdwfl alone, and with
 * libunwind-ptrace, so that the comparison is of the unwinders, not of how
 * they read memory.  All three must find the same frames.
 * libunwind keeps its stock _UPT_find_proc_info (it maps the module's ELF
 * file and searches .eh_frame_hdr) and a global cache of procedure info.
 *
 * Prints the copy's cost (the part of the stop that unwinding adds), then,
 * for each unwinder: time for the first stop (cold: CFI loaded), per stop
 * and per thread over the rest, frames found, and how many stacks the two
 * agree on frame for frame.
 *
 * Usage: unwinders PID [STOPS]   (default 200)
 */
#include <libunwind-ptrace.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heapgrab.h"
#include "target/target.h"
#include "stacks/unwind.h"

#define MAX_FRAMES 128

/* ------------------------------------------- libunwind over the reader */

/* libunwind hands its accessors the argument of whichever call it is in
 * (ours, or the UPT handle when _UPT_find_proc_info reads the table), so
 * the state they need is kept here: the unwinder holding the copies, and
 * which thread's copy is being walked. */
static struct {
    struct hg_unwinder *u;
    size_t i;
    void *upt;
    hg_target *t;
} lu;

/* libunwind also reads the modules' unwind tables (.eh_frame_hdr and the
 * FDEs) through access_mem, not only the stack.  Those are read-only file
 * mappings: read from the running target, a page at a time, and kept. */
#define TABLE_PAGES 256
static struct table_page {
    uint64_t addr; /* page + 1 */
    int ok;
    unsigned char data[4096];
} table_cache[TABLE_PAGES];

static int table_word(uint64_t addr, uint64_t *out)
{
    uint64_t page = addr & ~4095ull;
    if ((addr & 4095) > 4096 - 8)
        return hg_read_u64(lu.t, addr, out) == 0;
    struct table_page *p = &table_cache[(page >> 12) % TABLE_PAGES];
    if (p->addr != page + 1) {
        p->addr = page + 1;
        p->ok = lu.t->ops->read(lu.t, page, p->data, sizeof p->data) == (long)sizeof p->data;
    }
    if (!p->ok)
        return 0;
    memcpy(out, p->data + (addr & 4095), 8);
    return 1;
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write,
                      void *arg)
{
    (void)as, (void)arg;
    uint64_t v;
    if (write)
        return -UNW_EINVAL;
    if (!hg_unwinder_word(lu.u, lu.i, addr, &v)) {
        const hg_mapping *m = hg_find_mapping(lu.t, addr);
        if (!m || hg_mapping_is_anon(m) || !table_word(addr, &v))
            return -UNW_EINVAL;
    }
    *val = v;
    return 0;
}

/* heapgrab keeps registers in DWARF order, which is libunwind's x86_64
 * numbering too (rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip). */
static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write,
                      void *arg)
{
    (void)as, (void)arg;
    if (write)
        return -UNW_EREADONLYREG;
    if (reg < 0 || reg > 16)
        return -UNW_EBADREG;
    const uint64_t *regs = hg_unwinder_regs(lu.u, lu.i);
    if (!regs)
        return -UNW_EBADREG;
    *val = regs[reg];
    return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
                        void *arg)
{
    (void)as, (void)reg, (void)val, (void)write, (void)arg;
    return -UNW_EBADREG;
}

static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi, int need,
                          void *arg)
{
    (void)arg;
    return _UPT_find_proc_info(as, ip, pi, need, lu.upt);
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
    (void)arg;
    _UPT_put_unwind_info(as, pi, lu.upt);
}

static int no_dyn_info(unw_addr_space_t as, unw_word_t *addr, void *arg)
{
    (void)as, (void)addr, (void)arg;
    return -UNW_ENOINFO;
}

static int no_resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
    (void)as, (void)c, (void)arg;
    return -UNW_EINVAL;
}

static int no_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
                   unw_word_t *off, void *arg)
{
    (void)as, (void)addr, (void)buf, (void)len, (void)off, (void)arg;
    return -UNW_ENOINFO;
}

static unw_accessors_t accessors = {
    .find_proc_info = find_proc_info,
    .put_unwind_info = put_unwind_info,
    .get_dyn_info_list_addr = no_dyn_info,
    .access_mem = access_mem,
    .access_reg = access_reg,
    .access_fpreg = access_fpreg,
    .resume = no_resume,
    .get_proc_name = no_name,
};

/* Same convention as hg_unwind_thread: innermost pc as is, then return
 * addresses minus one. */
static size_t libunwind_thread(unw_addr_space_t as, size_t i, uint64_t *pcs)
{
    lu.i = i;
    unw_cursor_t c;
    if (unw_init_remote(&c, as, NULL) < 0)
        return 0;
    size_t n = 0;
    do {
        unw_word_t ip;
        if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        pcs[n] = n == 0 || unw_is_signal_frame(&c) > 0 ? ip : ip - 1;
        n++;
    } while (n < MAX_FRAMES && unw_step(&c) > 0);
    return n;
}

/* ------------------------------------------------------------------ main */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The walks run while the busy target runs too, and are preempted by it:
 * they are timed in this thread's CPU time, not wall time. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct tally {
    double first_s, rest_s;
    uint64_t frames, threads;
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: unwinders PID [STOPS]\n");
        return 2;
    }
    int pid = atoi(argv[1]);
    int stops = argc > 2 ? atoi(argv[2]) : 200;
    if (pid <= 0 || stops < 2) {
        fprintf(stderr, "unwinders: give a process id and at least 2 stops\n");
        return 2;
    }
    hg_target *t;
    if (hg_target_attach_pid(pid, HG_ATTACH_DEFAULT, &t) != 0) {
        fprintf(stderr, "unwinders: %s\n", hg_error_message());
        return 1;
    }
    struct hg_unwinder *u = hg_unwinder_new(t, HG_STACK_COPY_PROFILE);
    unw_addr_space_t as = unw_create_addr_space(&accessors, 0);
    lu.u = u;
    lu.t = t;
    lu.upt = _UPT_create(pid);
    if (!u || !as || !lu.upt) {
        fprintf(stderr, "unwinders: cannot set up: %s\n", hg_error_message());
        return 1;
    }
    unw_set_caching_policy(as, UNW_CACHE_GLOBAL);

    struct tally hg = {0}, dw = {0}, un = {0};
    uint64_t same_hg = 0;
    static uint64_t h[MAX_FRAMES];
    uint64_t same = 0, compared = 0;
    double copy_s = 0, stopped_s = 0;
    static uint64_t a[MAX_FRAMES], b[MAX_FRAMES];
    for (int s = 0; s < stops; s++) {
        /* as a profile stops: the mappings read at attach will do */
        if (t->ops->stop(t, HG_STOP_KEEP_MAPS) != 0) {
            fprintf(stderr, "unwinders: stop: %s\n", hg_error_message());
            return 1;
        }
        double c0 = now_s();
        int rc = hg_unwinder_capture(u);
        copy_s += now_s() - c0;
        uint64_t held = 0;
        if (t->ops->resume(t, &held) != 0 && rc == 0)
            rc = hg_error_code();
        stopped_s += (double)held / 1e9;
        if (rc != 0) {
            fprintf(stderr, "unwinders: copying the stacks: %s\n", hg_error_message());
            return 1;
        }
        size_t na[512], nthreads = hg_unwinder_count(u) < 512 ? hg_unwinder_count(u) : 512;
        uint64_t *keep = malloc(nthreads * MAX_FRAMES * sizeof *keep);
        if (!keep) {
            fprintf(stderr, "unwinders: out of memory\n");
            return 1;
        }

        double h0 = cpu_s();
        for (size_t i = 0; i < nthreads; i++) {
            const char *why;
            size_t nh;
            hg_unwind_thread(u, i, h, MAX_FRAMES, &nh, &why);
            hg.frames += nh;
            memcpy(keep + i * MAX_FRAMES, h, nh * sizeof *h);
            na[i] = nh;
        }
        double t0 = cpu_s();
        for (size_t i = 0; i < nthreads; i++) {
            const char *why;
            size_t nh = na[i];
            hg_unwind_thread_dwfl(u, i, a, MAX_FRAMES, &na[i], &why);
            same_hg += nh == na[i] && !memcmp(a, keep + i * MAX_FRAMES, nh * sizeof *a);
            memcpy(keep + i * MAX_FRAMES, a, na[i] * sizeof *a);
            dw.frames += na[i];
        }
        double t1 = cpu_s();
        for (size_t i = 0; i < nthreads; i++) {
            size_t nb = libunwind_thread(as, i, b);
            un.frames += nb;
            compared++;
            same += nb == na[i] && !memcmp(b, keep + i * MAX_FRAMES, nb * sizeof *b);
        }
        double t2 = cpu_s();
        free(keep);
        hg.threads += nthreads;
        dw.threads += nthreads;
        un.threads += nthreads;
        *(s ? &hg.rest_s : &hg.first_s) += t0 - h0;
        *(s ? &dw.rest_s : &dw.first_s) += t1 - t0;
        *(s ? &un.rest_s : &un.first_s) += t2 - t1;
    }
    size_t per_stop = (size_t)(dw.threads / (uint64_t)stops);
    printf("%d stops of %zu threads each; all threads stopped %.3f ms per stop on average, "
           "of which copying registers and stacks %.3f ms (%.1f KiB per stop)\n\n",
           stops, per_stop, stopped_s * 1e3 / stops, copy_s * 1e3 / stops,
           (double)hg_unwinder_copied(u) / 1024.0 / stops);
    printf("| unwinder (on the copies, target running) | first stop ms CPU | then ms CPU per "
           "stop | us CPU per thread | frames per thread |\n");
    printf("|---|---|---|---|---|\n");
    double rest = stops - 1;
    uint64_t fast, slow;
    hg_unwinder_walks(u, &fast, &slow);
    printf("| heapgrab's walk (cached CFA rules; libdwfl for %.1f%% of threads), used | %.2f | "
           "%.3f | %.1f | %.1f |\n", 100.0 * (double)slow / (double)(fast + slow ? fast + slow : 1),
           hg.first_s * 1e3, hg.rest_s * 1e3 / rest, hg.rest_s * 1e6 / rest / (double)per_stop,
           (double)hg.frames / (double)hg.threads);
    printf("| libdwfl (elfutils) | %.2f | %.3f | %.1f | %.1f |\n", dw.first_s * 1e3,
           dw.rest_s * 1e3 / rest, dw.rest_s * 1e6 / rest / (double)per_stop,
           (double)dw.frames / (double)dw.threads);
    printf("| libunwind-ptrace | %.2f | %.3f | %.1f | %.1f |\n", un.first_s * 1e3,
           un.rest_s * 1e3 / rest, un.rest_s * 1e6 / rest / (double)per_stop,
           (double)un.frames / (double)un.threads);
    printf("\nsame frames: heapgrab's walk and libdwfl %llu, libunwind and libdwfl %llu, "
           "of %llu stacks\n", (unsigned long long)same_hg, (unsigned long long)same,
           (unsigned long long)compared);
    _UPT_destroy(lu.upt);
    unw_destroy_addr_space(as);
    hg_unwinder_free(u);
    hg_target_close(t);
    return 0;
}
