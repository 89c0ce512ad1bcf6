/*
 * test_reader PID -- drive libheapgrab through a caller-supplied reader, as
 * a debugger does: stop the threads itself, give their thread pointers,
 * serve memory from /proc/PID/mem, and print the snapshot as JSON (the
 * live test compares it with `heapgrab stats --json` on the same target).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heapgrab.h"

static long mem_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
    return pread(*(int *)ctx, buf, len, (off_t)addr);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    int pid = atoi(argv[1]);
    char path[64], line[4096], exe[4096] = "";
    hg_mapping maps[4096];
    char *paths[4096];
    size_t nmaps = 0;
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    while (nmaps < 4096 && fgets(line, sizeof line, f)) {
        unsigned long long s, e, off;
        int pos = 0;
        hg_mapping *m = &maps[nmaps];
        memset(m, 0, sizeof *m);
        if (sscanf(line, "%llx-%llx %4s %llx %*s %*s%n", &s, &e, m->perms, &off, &pos) < 4)
            continue;
        char *name = line + pos;
        name += strspn(name, " ");
        name[strcspn(name, "\n")] = '\0';
        m->start = s;
        m->end = e;
        m->offset = off;
        m->path = paths[nmaps] = strdup(name);
        nmaps++;
    }
    fclose(f);
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';

    /* stop every thread and take its thread pointer, as a debugger does */
    hg_reader_thread threads[256];
    size_t nthreads = 0;
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d)) && nthreads < 256) {
        int tid = atoi(de->d_name);
        if (tid <= 0 || ptrace(PTRACE_SEIZE, tid, 0, 0) != 0)
            continue;
        ptrace(PTRACE_INTERRUPT, tid, 0, 0);
        int st;
        waitpid(tid, &st, __WALL);
        struct user_regs_struct regs;
        ptrace(PTRACE_GETREGS, tid, 0, &regs);
        threads[nthreads].tid = tid;
        threads[nthreads].fs_base = regs.fs_base;
        nthreads++;
    }
    if (d)
        closedir(d);

    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    int fd = open(path, O_RDONLY);
    hg_reader r = {.ctx = &fd, .read = mem_read, .nmappings = nmaps, .mappings = maps,
                   .nthreads = nthreads, .threads = threads, .pid = pid, .exe = exe};
    hg_target *t;
    hg_snapshot *s = NULL;
    int rc = hg_target_from_reader(&r, &t);
    if (rc == 0) {
        rc = hg_snapshot_take(t, NULL, &s);
        hg_target_close(t);
    }
    for (size_t i = 0; i < nthreads; i++)
        ptrace(PTRACE_DETACH, threads[i].tid, 0, 0);
    close(fd);
    for (size_t i = 0; i < nmaps; i++)
        free(paths[i]);
    if (rc) {
        fprintf(stderr, "test_reader: %s\n", hg_error_message());
        return 1;
    }
    rc = hg_write_json(s, stdout);
    hg_snapshot_free(s);
    return rc ? 1 : 0;
}
