/*
 * unwinders.c -- which unwinder heapgrab uses, decided by measurement.
 *
 * Stops a live process the way `heapgrab profile` does, and at each stop
 * unwinds every thread twice from the same registers: with libdwfl (what
 * attach/unwind.c uses) and with libunwind-ptrace.  Both read the target
 * through the same thing: heapgrab's bulk reader (process_vm_readv) behind
 * a direct-mapped page cache emptied at each stop, so that the comparison
 * is of the unwinders, not of ptrace's word-at-a-time reads.  libunwind
 * keeps its stock _UPT_find_proc_info (it maps the module's ELF file and
 * searches .eh_frame_hdr) and a global cache of procedure info.
 *
 * Prints, for each unwinder: time for the first stop (cold: CFI loaded),
 * then per stop and per thread over the rest, frames found, and how many
 * stacks the two agree on frame for frame.
 *
 * Usage: unwinders PID [STOPS]   (default 200)
 */
#include <libunwind-ptrace.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heapgrab.h"
#include "attach/target.h"
#include "attach/unwind.h"

#define MAX_FRAMES 128

/* ------------------------------------------- libunwind over the reader */

/* libunwind hands its accessors the argument of whichever call it is in
 * (ours, or the UPT handle when _UPT_find_proc_info reads the table), so
 * the state they need is kept here.  cache is a second hg_unwinder used
 * only for its page cache: the same reads libdwfl gets. */
static struct {
    const hg_thread *th;
    struct hg_unwinder *cache;
    void *upt;
} lu;

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write,
                      void *arg)
{
    (void)as, (void)arg;
    uint64_t v;
    if (write || !hg_unwinder_word(lu.cache, addr, &v))
        return -UNW_EINVAL;
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
    *val = lu.th->regs[reg];
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
static size_t libunwind_thread(unw_addr_space_t as, const hg_thread *th, uint64_t *pcs)
{
    lu.th = th;
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
    struct hg_unwinder *u = hg_unwinder_new(t);
    unw_addr_space_t as = unw_create_addr_space(&accessors, 0);
    lu.cache = hg_unwinder_new(t);
    lu.upt = _UPT_create(pid);
    if (!u || !as || !lu.cache || !lu.upt) {
        fprintf(stderr, "unwinders: cannot set up: %s\n", hg_error_message());
        return 1;
    }
    unw_set_caching_policy(as, UNW_CACHE_GLOBAL);
    t->keep_maps = 1;

    struct tally dw = {0}, un = {0};
    uint64_t same = 0, compared = 0;
    static uint64_t a[MAX_FRAMES], b[MAX_FRAMES];
    for (int s = 0; s < stops; s++) {
        if (t->ops->stop(t) != 0) {
            fprintf(stderr, "unwinders: stop: %s\n", hg_error_message());
            return 1;
        }
        size_t na[512], nthreads = t->nthreads < 512 ? t->nthreads : 512;
        uint64_t *keep = malloc(nthreads * MAX_FRAMES * sizeof *keep);
        if (!keep) {
            t->ops->resume(t);
            fprintf(stderr, "unwinders: out of memory\n");
            return 1;
        }

        double t0 = now_s();
        for (size_t i = 0; i < nthreads; i++) {
            const char *why;
            hg_unwind_thread(u, i, a, MAX_FRAMES, &na[i], &why);
            memcpy(keep + i * MAX_FRAMES, a, na[i] * sizeof *a);
            dw.frames += na[i];
        }
        double t1 = now_s();
        hg_unwinder_forget(lu.cache);
        for (size_t i = 0; i < nthreads; i++) {
            size_t nb = libunwind_thread(as, &t->threads[i], b);
            un.frames += nb;
            compared++;
            same += nb == na[i] && !memcmp(b, keep + i * MAX_FRAMES, nb * sizeof *b);
        }
        double t2 = now_s();
        t->ops->resume(t);
        free(keep);
        dw.threads += nthreads;
        un.threads += nthreads;
        *(s ? &dw.rest_s : &dw.first_s) += t1 - t0;
        *(s ? &un.rest_s : &un.first_s) += t2 - t1;
    }
    size_t per_stop = (size_t)(dw.threads / (uint64_t)stops);
    printf("%d stops of %zu threads each\n\n", stops, per_stop);
    printf("| unwinder (heapgrab's reader, page cache) | first stop ms | then ms per stop | "
           "us per thread | frames per thread | pages read per stop |\n");
    printf("|---|---|---|---|---|---|\n");
    double rest = stops - 1;
    printf("| libdwfl (elfutils) | %.2f | %.3f | %.1f | %.1f | %.1f |\n", dw.first_s * 1e3,
           dw.rest_s * 1e3 / rest, dw.rest_s * 1e6 / rest / (double)per_stop,
           (double)dw.frames / (double)dw.threads, (double)hg_unwinder_reads(u) / stops);
    printf("| libunwind-ptrace | %.2f | %.3f | %.1f | %.1f | %.1f |\n", un.first_s * 1e3,
           un.rest_s * 1e3 / rest, un.rest_s * 1e6 / rest / (double)per_stop,
           (double)un.frames / (double)un.threads, (double)hg_unwinder_reads(lu.cache) / stops);
    printf("\nsame frames from both: %llu of %llu stacks\n", (unsigned long long)same,
           (unsigned long long)compared);
    _UPT_destroy(lu.upt);
    unw_destroy_addr_space(as);
    hg_unwinder_free(lu.cache);
    hg_unwinder_free(u);
    hg_target_close(t);
    return 0;
}
