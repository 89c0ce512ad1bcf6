/* signals.c -- SIGINT, SIGTERM and SIGHUP: the target is let go, the
 * unfinished output removed, one line said, and heapgrab dies of the same
 * signal. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

volatile sig_atomic_t cli_interrupted;
volatile int cli_stop_profile;
volatile int cli_target_pid;
const char *volatile cli_unfinished_output;

static void on_signal(int sig);

/* During a profile the first Ctrl-C (or SIGTERM) ends it and the profile
 * is still written; a second one leaves at once (detaching first). */
static void on_profile_signal(int sig)
{
    if (!cli_stop_profile) {
        cli_stop_profile = 1;
        return;
    }
    on_signal(sig);
}

/* Async-signal-safe: append s, or the decimal v, at *p. */
static char *put_str(char *p, const char *s)
{
    while (*s)
        *p++ = *s++;
    return p;
}

static char *put_int(char *p, int v)
{
    char digits[16];
    int n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) > 0 && n < (int)sizeof digits);
    while (n > 0)
        *p++ = digits[--n];
    return p;
}

/*
 * Leave the target running whatever happens to us: detach, say so, then
 * die of the same signal.  Dying of it, rather than exiting with a status
 * of our own, is what tells a shell loop (while ...; do heapgrab ...) that
 * the user pressed Ctrl-C.  (If heapgrab is killed outright, the kernel
 * detaches and resumes the threads itself.)
 */
static void on_signal(int sig)
{
    int saved = errno;
    cli_interrupted = 1;
    hg_emergency_detach();
    if (cli_unfinished_output)
        unlink(cli_unfinished_output);
    char msg[128], *p = msg;
    if (cli_progress_drawn)
        p = put_str(p, "\r\033[K"); /* the progress line gives way */
    p = put_str(p, "heapgrab: interrupted by ");
    p = put_str(p, sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM"
                 : sig == SIGHUP ? "SIGHUP" : "a signal");
    if (cli_target_pid > 0) {
        p = put_str(p, ": process ");
        p = put_int(p, cli_target_pid);
        p = put_str(p, " was left running");
    }
    p = put_str(p, "\n");
    ssize_t ignored = write(STDERR_FILENO, msg, (size_t)(p - msg));
    (void)ignored;
    signal(sig, SIG_DFL);
    raise(sig);
    errno = saved;
}

void cli_handle_signals(int profile)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    /* one handler at a time: two signals at once give one line */
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGHUP);
    sa.sa_handler = profile ? on_profile_signal : on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_signal;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}
