/*
 * procfs.h -- everything heapgrab reads from /proc, in one place: whole
 * files, the one parser of /proc/PID/maps lines, status fields, stat and
 * schedstat, comm, task listings, pagemap.  Internal to target/ (and the
 * synthetic targets of the tests, which feed the maps parser).
 *
 * A pid here is the one whose /proc directory is read; a tid of 0 means
 * the process's own files (/proc/PID/...), any other the thread's
 * (/proc/PID/task/TID/...).
 */
#ifndef HG_PROCFS_H
#define HG_PROCFS_H

#include <stddef.h>
#include <stdint.h>

#include "target/target.h"

/* open() of /proc/PID[/task/TID]/NAME, read-only, O_CLOEXEC: the
 * descriptor, or -1 with errno. */
int hg_proc_open(int pid, int tid, const char *name);
/* A whole file, NUL-terminated, into *out (malloc'd): 0, or -1 with
 * errno. */
int hg_read_whole_file(const char *path, char **out);
/* The same for /proc/PID[/task/TID]/NAME. */
int hg_proc_read(int pid, int tid, const char *name, char **out);

/* Parse /proc/PID/maps-format text into t->maps (replacing the ones it
 * had): 0, or HG_ENOMEM.  Lines that are not mappings are skipped. */
int hg_parse_maps(hg_target *t, const char *text);
/* Read /proc/PID/maps into t->maps: 0; -1 with errno if the file cannot be
 * read (t->maps is left as it was); or HG_ENOMEM from the parser. */
int hg_proc_maps(hg_target *t, int pid);
/* Whether a path of some mapping of process pid contains needle; 0 if the
 * maps cannot be read. */
int hg_proc_maps_mention(int pid, const char *needle);

/* The value of a field ("TracerPid") of /proc/PID[/task/TID]/status into
 * out: 0, or -1 if the file or the field is not there. */
int hg_proc_status_field(int pid, int tid, const char *key, char *out, size_t len);
/* The thread tracing thread tid of process pid: 0 if none, -1 if the
 * thread is gone.  (TracerPid names the tracing thread, not its process.) */
int hg_proc_tracer(int pid, int tid);
/* The process a thread belongs to (Tgid), or tid itself if unknown. */
int hg_proc_tgid(int tid);
/* The VmRSS of process pid in bytes, 0 if unknown. */
uint64_t hg_proc_rss(int pid);
/* Whether process pid has exited: gone, or a zombie (State Z or X). */
int hg_proc_exited(int pid);

/* The run state ('R', 'S', 'Z', ...) in a /proc/.../stat file open at fd,
 * read afresh; '?' if it cannot be read. */
char hg_proc_stat_state(int fd);
/* Field 20 of a /proc/PID/stat file open at fd (num_threads), -1 if it
 * cannot be read. */
long hg_proc_stat_threads(int fd);
/* The first field of a schedstat file open at fd, read afresh:
 * nanoseconds the task has run on a CPU (the kernel's own sum, the one
 * getrusage and CLOCK_PROCESS_CPUTIME_ID add up).  0, or -1 if it cannot
 * be read (the thread has ended). */
int hg_proc_schedstat_cpu(int fd, uint64_t *ns);
/* Whether thread tid of process pid has exited (gone, or a zombie). */
int hg_proc_task_exited(int pid, int tid);

/* The threads of process pid, as /proc/PID/task lists them now: *tids
 * malloc'd.  0, or -1 with errno (ENOMEM; any other: the process is
 * gone). */
int hg_proc_tasks(int pid, int **tids, size_t *n);
/* A thread of process pid that has not exited, or -1. */
int hg_proc_living_task(int pid);
/* The name (comm) of process pid (tid 0) or of its thread tid, into buf;
 * unknown when it cannot be read. */
void hg_proc_comm(int pid, int tid, char *buf, size_t len, const char *unknown);
/* The target of /proc/PID/exe into buf ("" if unknown). */
void hg_proc_exe(int pid, char *buf, size_t len);

/* Page residency from /proc/PID/pagemap open at fd, as the resident op
 * gives it (target.h): 0, or -1 if it cannot be read. */
int hg_proc_pagemap(int fd, uint64_t addr, size_t npages, uint8_t *present);

#endif
