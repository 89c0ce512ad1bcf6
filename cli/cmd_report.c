/*
 * cmd_report.c -- heapgrab report PID|CORE|PROFILE.pprof [-o FILE]
 * [--base OLD.pprof]: one self-contained HTML page (hg_write_report_html
 * and friends) to standard output or FILE.  A process or a core is
 * snapshotted as `snapshot` does, its holders searched (the page of the
 * size-class view: snapshot --by-size -o x.html);
 * a file that is no ELF core is read as a pprof profile (gzipped or not),
 * heapgrab's or anyone's.  --base: a pprof profile the page compares with.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

/* Profiles bigger than this are not read (a pprof file is a few MiB). */
#define MAX_PROFILE_FILE (256u << 20)

/* The whole of path in memory; 0 or the exit status of the error said. */
static int read_whole(const char *path, char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        say("cannot open %s: %s", path, strerror(e));
        if (fd >= 0)
            close(fd);
        return e == EACCES ? EXIT_PERM : e == ENOENT ? EXIT_USAGE : EXIT_FAIL;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_PROFILE_FILE) {
        close(fd);
        return usage_error("%s is not a profile: %s", path,
                           S_ISREG(st.st_mode) ? "over 256 MiB" : "not a regular file");
    }
    size_t n = 0, cap = (size_t)st.st_size + 1;
    char *b = malloc(cap);
    if (!b) {
        close(fd);
        say("out of memory");
        return EXIT_FAIL;
    }
    for (;;) {
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            say("reading %s: %s", path, strerror(errno));
            free(b);
            close(fd);
            return EXIT_FAIL;
        }
        if (r == 0 || (n += (size_t)r) == cap)
            break; /* a file that grew while read: what it had is enough */
    }
    close(fd);
    *buf = b;
    *len = n;
    return 0;
}

/* Whether path starts as an ELF file does (a core), else it is taken for a
 * profile. */
static int is_elf(const char *path)
{
    unsigned char magic[4] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1; /* the core opener says what is wrong with it */
    ssize_t r = read(fd, magic, sizeof magic);
    close(fd);
    return r == 4 && !memcmp(magic, "\177ELF", 4);
}

struct pprof_page {
    const char *data;
    size_t len;
    const hg_report_options *opt;
};

static int snapshot_page(const void *s, FILE *f) { return hg_write_report_html(s, NULL, f); }
static hg_report_options report_opt;
static int snapshot_base_page(const void *s, FILE *f)
{
    return hg_write_report_html(s, &report_opt, f);
}
static int pprof_page(const void *what, FILE *f)
{
    const struct pprof_page *p = what;
    return hg_write_pprof_report_html(p->data, p->len, p->opt, f);
}

int cmd_report(const struct cli_args *a)
{
    cli_handle_signals(0);
    char *base = NULL, *data = NULL;
    size_t base_len = 0, len = 0;
    int status = 0;
    if (a->base && (status = read_whole(a->base, &base, &base_len)) != 0)
        return status;
    /* a base that is no profile is said before the process is touched */
    int rc = base ? hg_pprof_check(base, base_len) : 0;
    if (rc) {
        free(base);
        return fail(rc);
    }
    report_opt = (hg_report_options){base, base_len, NULL};
    int profile = a->core_path && !is_elf(a->core_path);
    if (profile && (a->given & (OPT_CORE | OPT_LOCATE))) {
        free(base);
        return usage_error("%s is a profile, not a core: --sysroot, --exe and --locate are "
                           "for processes and cores", a->core_path);
    }
    struct output out = {0};
    if ((status = output_open(&out, a->output)) != 0) {
        free(base);
        return status;
    }
    if (profile) {
        if ((status = read_whole(a->core_path, &data, &len)) != 0) {
            output_discard(&out);
        } else {
            struct pprof_page p = {data, len, &report_opt};
            status = output_write(&out, pprof_page, &p);
        }
        free(data);
        free(base);
        return status;
    }
    hg_target *t;
    if ((status = cli_open_target(a, &t)) != 0) {
        output_discard(&out);
        free(base);
        return status;
    }
    hg_snapshot *s;
    rc = cli_take(t, &a->snap, &s);
    hg_target_close(t);
    if (rc) {
        output_discard(&out);
        status = fail(rc);
    } else {
        status = output_write(&out, base ? snapshot_base_page : snapshot_page, s);
        hg_snapshot_free(s);
    }
    free(base);
    return status;
}
