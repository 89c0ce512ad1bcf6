/* procfs.c -- everything heapgrab reads from /proc (see procfs.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target/procfs.h"
#include "lib/array.h"
#include "lib/error.h"

/* "/proc/PID/NAME" or "/proc/PID/task/TID/NAME". */
static void proc_path(char *buf, size_t len, int pid, int tid, const char *name)
{
    if (tid)
        snprintf(buf, len, "/proc/%d/task/%d/%s", pid, tid, name);
    else
        snprintf(buf, len, "/proc/%d/%s", pid, name);
}

int hg_proc_open(int pid, int tid, const char *name)
{
    char path[128];
    proc_path(path, sizeof path, pid, tid, name);
    return open(path, O_RDONLY | O_CLOEXEC);
}

int hg_read_whole_file(const char *path, char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* /proc files have no size: read until the end, 64 KiB at first (a
     * big process's maps run to megabytes) */
    hg_array(char) buf = HG_ARRAY_INIT;
    for (;;) {
        if (hg_array_reserve(buf, buf.size + 4096 > 65536 ? buf.size + 4096 : 65536) != 0) {
            hg_array_clear(buf);
            close(fd);
            errno = ENOMEM;
            return -1;
        }
        ssize_t n = read(fd, buf.ptr + buf.size, buf.alloc - buf.size - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            hg_array_clear(buf);
            close(fd);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        buf.size += (size_t)n;
    }
    close(fd);
    buf.ptr[buf.size] = '\0';
    *out = buf.ptr;
    return 0;
}

int hg_proc_read(int pid, int tid, const char *name, char **out)
{
    char path[128];
    proc_path(path, sizeof path, pid, tid, name);
    return hg_read_whole_file(path, out);
}

/* ------------------------------------------------------------------ maps */

int hg_parse_maps(hg_target *t, const char *text)
{
    hg_free_maps(t);
    size_t cap = 0;
    const char *line = text;
    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        unsigned long long start, end, off;
        char perms[5] = "";
        int pathpos = 0;
        /* "start-end perms offset dev inode   path" */
        if (sscanf(line, "%llx-%llx %4s %llx %*s %*s %n", &start, &end, perms, &off,
                   &pathpos) >= 4) {
            if (hg_array_reserve_((void **)&t->maps, &cap, sizeof *t->maps, t->nmaps + 1) != 0)
                return hg_fail(HG_ENOMEM, "out of memory");
            hg_mapping *m = &t->maps[t->nmaps];
            memset(m, 0, sizeof *m);
            m->start = start;
            m->end = end;
            m->offset = off;
            memcpy(m->perms, perms, sizeof m->perms);
            size_t plen = pathpos > 0 && (size_t)pathpos <= len ? len - (size_t)pathpos : 0;
            m->path = strndup(pathpos > 0 ? line + pathpos : "", plen);
            if (!m->path)
                return hg_fail(HG_ENOMEM, "out of memory");
            t->nmaps++;
        }
        line += len + (eol ? 1 : 0);
    }
    return 0;
}

int hg_proc_maps(hg_target *t, int pid)
{
    char *text;
    if (hg_proc_read(pid, 0, "maps", &text) != 0)
        return -1;
    int rc = hg_parse_maps(t, text);
    free(text);
    return rc;
}

int hg_proc_maps_mention(int pid, const char *needle)
{
    char *text;
    if (hg_proc_read(pid, 0, "maps", &text) != 0)
        return 0;
    int found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

/* ---------------------------------------------------------------- status */

int hg_proc_status_field(int pid, int tid, const char *key, char *out, size_t len)
{
    char *text, want[64];
    if (hg_proc_read(pid, tid, "status", &text) < 0)
        return -1;
    snprintf(want, sizeof want, "\n%s:", key);
    char *p = strstr(text, want);
    if (p) {
        p += strlen(want);
        p += strspn(p, " \t");
        snprintf(out, len, "%.*s", (int)strcspn(p, "\n"), p);
    }
    free(text);
    return p ? 0 : -1;
}

int hg_proc_tracer(int pid, int tid)
{
    char v[32];
    return hg_proc_status_field(pid, tid, "TracerPid", v, sizeof v) == 0 ? atoi(v) : -1;
}

int hg_proc_tgid(int tid)
{
    char v[32];
    return hg_proc_status_field(tid, 0, "Tgid", v, sizeof v) == 0 ? atoi(v) : tid;
}

uint64_t hg_proc_rss(int pid)
{
    char v[64];
    if (hg_proc_status_field(pid, 0, "VmRSS", v, sizeof v) != 0)
        return 0;
    return strtoull(v, NULL, 10) * 1024; /* "1234 kB" */
}

/* A zombie (or dying) process refuses PTRACE_SEIZE with EPERM, like a
 * process we may not trace: its state tells them apart. */
int hg_proc_exited(int pid)
{
    char v[32];
    return hg_proc_status_field(pid, 0, "State", v, sizeof v) != 0 || v[0] == 'Z' || v[0] == 'X';
}

/* ------------------------------------------------------- stat, schedstat */

/* A stat file's text after the name in parentheses (which may hold spaces
 * and parentheses itself), read afresh from fd into buf; NULL if it
 * cannot be read. */
static const char *after_name(int fd, char *buf, size_t len)
{
    ssize_t n = fd >= 0 ? pread(fd, buf, len - 1, 0) : -1;
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    return strrchr(buf, ')');
}

char hg_proc_stat_state(int fd)
{
    char buf[512];
    const char *paren = after_name(fd, buf, sizeof buf);
    return paren && paren[1] == ' ' && paren[2] ? paren[2] : '?';
}

long hg_proc_stat_threads(int fd)
{
    char buf[1024];
    const char *p = after_name(fd, buf, sizeof buf);
    for (int field = 2; p && field < 20; field++)
        p = strchr(p + 1, ' ');
    return p ? strtol(p + 1, NULL, 10) : -1;
}

int hg_proc_schedstat_cpu(int fd, uint64_t *ns)
{
    char buf[128];
    ssize_t n = fd >= 0 ? pread(fd, buf, sizeof buf - 1, 0) : -1;
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    if (end == buf || *end != ' ')
        return -1;
    *ns = v;
    return 0;
}

int hg_proc_task_exited(int pid, int tid)
{
    int fd = hg_proc_open(pid, tid, "stat");
    char st = hg_proc_stat_state(fd);
    if (fd >= 0)
        close(fd);
    return st == '?' || st == 'Z' || st == 'X';
}

/* ----------------------------------------------------------------- tasks */

int hg_proc_tasks(int pid, int **tids, size_t *n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    *tids = NULL;
    *n = 0;
    DIR *d = opendir(path);
    if (!d)
        return -1;
    hg_array(int) v = HG_ARRAY_INIT;
    struct dirent *de;
    while ((de = readdir(d))) {
        int tid = atoi(de->d_name);
        if (tid <= 0)
            continue;
        int *slot = hg_array_push(v);
        if (!slot) {
            closedir(d);
            hg_array_clear(v);
            errno = ENOMEM;
            return -1;
        }
        *slot = tid;
    }
    closedir(d);
    *tids = v.ptr;
    *n = v.size;
    return 0;
}

int hg_proc_living_task(int pid)
{
    int *tids, found = -1;
    size_t n;
    if (hg_proc_tasks(pid, &tids, &n) != 0)
        return -1;
    for (size_t i = 0; i < n && found < 0; i++)
        if (!hg_proc_task_exited(pid, tids[i]))
            found = tids[i];
    free(tids);
    return found;
}

void hg_proc_comm(int pid, int tid, char *buf, size_t len, const char *unknown)
{
    char *text;
    snprintf(buf, len, "%s", unknown);
    if (hg_proc_read(pid, tid, "comm", &text) == 0) {
        snprintf(buf, len, "%.*s", (int)strcspn(text, "\n"), text);
        free(text);
    }
}

void hg_proc_exe(int pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    ssize_t n = len ? readlink(path, buf, len - 1) : -1;
    if (len)
        buf[n > 0 ? n : 0] = '\0';
}

/* --------------------------------------------------------------- pagemap */

int hg_proc_pagemap(int fd, uint64_t addr, size_t npages, uint8_t *present)
{
    if (fd < 0)
        return -1;
    uint64_t buf[1024];
    size_t done = 0;
    while (done < npages) {
        size_t n = npages - done < 1024 ? npages - done : 1024;
        off_t off = (off_t)((addr / 4096 + done) * 8);
        ssize_t r = pread(fd, buf, n * 8, off);
        if (r <= 0)
            return -1;
        n = (size_t)r / 8;
        /* bit 63: present in RAM; bit 62: swapped out */
        for (size_t i = 0; i < n; i++)
            present[done + i] = (buf[i] >> 63) & 1 ? 1 : (buf[i] >> 62) & 1 ? 2 : 0;
        done += n;
    }
    return 0;
}
