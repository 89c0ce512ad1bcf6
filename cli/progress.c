/*
 * progress.c -- the one updating line on a terminal that says what a long
 * run is doing ("heapgrab: walking the heap: 412 MiB of 1.5 GiB (27%),
 * 530 MiB/s").  A thread of its own reads the library's hg_progress ten
 * times a second and draws: the library only stores numbers, so drawing
 * (a write to a terminal that may be slow) never lengthens a target's
 * stop.  Nothing is drawn unless stderr is a terminal, nor with --quiet,
 * nor for an operation shorter than HEAPGRAB_PROGRESS_DELAY seconds (1).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

static hg_progress progress;
static pthread_t thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int running, stopping;
/* a line is on the terminal (read by the signal handler: see signals.c) */
volatile sig_atomic_t cli_progress_drawn;
#define drawn cli_progress_drawn
static uint64_t delay_ns = 1000000000ull;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "412 MiB" for bytes, "1234" otherwise */
static void amount(char *buf, size_t len, uint64_t v, const char *unit)
{
    static const char *const suffix[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    if (strcmp(unit, "bytes") != 0) {
        snprintf(buf, len, "%llu", (unsigned long long)v);
        return;
    }
    double d = (double)v;
    int i = 0;
    while (d >= 1024 && i < 4)
        d /= 1024, i++;
    snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", d, suffix[i]);
}

/* With mu held. */
static void clear_line(void)
{
    if (drawn)
        fputs("\r\033[K", stderr);
    drawn = 0;
}

static void draw(const hg_progress *p, uint64_t now)
{
    char done[32], total[32], rate[32] = "";
    uint64_t d = p->total && p->done > p->total ? p->total : p->done;
    amount(done, sizeof done, d, p->unit);
    amount(total, sizeof total, p->total, p->unit);
    double secs = (double)(now - p->started_ns) / 1e9;
    if (secs > 0.2 && d > 0) {
        if (strcmp(p->unit, "bytes") == 0) {
            amount(rate, sizeof rate - 2, (uint64_t)((double)d / secs), p->unit);
            strcat(rate, "/s");
        } else {
            snprintf(rate, sizeof rate, "%.0f %s/s", (double)d / secs, p->unit);
        }
    }
    char line[160];
    int bytes = strcmp(p->unit, "bytes") == 0;
    if (p->total)
        snprintf(line, sizeof line, "heapgrab: %s: %s of %s%s%s (%.0f%%)%s%s", p->what, done, total,
                 bytes ? "" : " ", bytes ? "" : p->unit, 100.0 * (double)d / (double)p->total,
                 rate[0] ? ", " : "", rate);
    else
        snprintf(line, sizeof line, "heapgrab: %s: %s%s%s", p->what, done, rate[0] ? ", " : "",
                 rate);
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    drawn = 1;
}

static void *loop(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&mu);
        if (stopping) {
            pthread_mutex_unlock(&mu);
            return NULL;
        }
        hg_progress p;
        hg_progress_read(&progress, &p);
        uint64_t now = now_ns();
        if (p.what && now - p.started_ns >= delay_ns)
            draw(&p, now);
        else
            clear_line();
        pthread_mutex_unlock(&mu);
    }
}

void cli_progress_start(int quiet)
{
    if (quiet || !isatty(STDERR_FILENO))
        return;
    const char *d = getenv("HEAPGRAB_PROGRESS_DELAY");
    if (d && *d) {
        char *end;
        double v = strtod(d, &end);
        if (*end == '\0' && v >= 0 && v <= 3600)
            delay_ns = (uint64_t)(v * 1e9);
    }
    hg_progress_watch(&progress);
    if (pthread_create(&thread, NULL, loop, NULL) != 0) {
        hg_progress_watch(NULL);
        return;
    }
    running = 1;
}

/* A message is printed between these two: the line is erased first, and
 * the drawing thread, which draws only holding mu, cannot put it back in
 * the middle of the message. */
void cli_progress_hold(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&mu);
    clear_line();
}

void cli_progress_release(void)
{
    if (running)
        pthread_mutex_unlock(&mu);
}

void cli_progress_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&mu);
    stopping = 1;
    clear_line();
    pthread_mutex_unlock(&mu);
    pthread_join(thread, NULL);
    hg_progress_watch(NULL);
    running = 0;
}
