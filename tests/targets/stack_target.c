/*
 * stack_target -- threads with known call chains, for the stacks and
 * profile tests.
 *
 *   main        main -> chain_a -> chain_b -> chain_c -> read(stdin)
 *   spinner-1/2 spin_outer -> spin_mid -> spin_leaf (-> spin_step, inlined),
 *               busy forever, counting its work
 *   sleeper     sleep_outer -> sleep_inner (-> sleep_nap, inlined) -> nanosleep
 *   idle        (with an argument "idle=N") N threads in pause(), unlisted
 *   deep        (with an argument "deep") deep_outer -> deep_down
 *               DEEP_LEVELS times, 8 KiB of locals each -> deep_bottom ->
 *               nanosleep: a stack deeper than a profile copies (640 KiB)
 *
 * It prints one JSON line: its pid, each thread's tid, name and role, and
 * the source line of the spin loop; then it waits for stdin to close.  On
 * a line "count" it prints the spinners' total work so far (a target that
 * counts its own work shows what profiling costs it); on "leave" the main
 * thread calls pthread_exit and the process lives on without it; on
 * "spawn" it starts one more spinner and prints its tid; on "churn" it
 * starts a thread that starts and joins short-lived threads forever (a
 * thousand or so a second), and prints "churning".
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define MAX_SPIN 64

/* One cache line per spinner: counters sharing a line would bounce it
 * between cores, and the work rate would then depend on which spinners the
 * scheduler happens to run together (seen: +-15% from second to second). */
static struct {
    volatile unsigned long n;
} __attribute__((aligned(64))) work[MAX_SPIN];
static volatile int tids[MAX_SPIN + 2];
static volatile int spin_line;

static inline __attribute__((always_inline)) unsigned long spin_step(unsigned long x)
{
    return x * 2862933555777941757ul + 3037000493ul; /* SPIN_STEP */
}

NOINLINE static void spin_leaf(int i)
{
    unsigned long x = (unsigned long)i;
    spin_line = __LINE__ + 3;
    tids[i] = (int)syscall(SYS_gettid); /* after spin_line: main waits for it */
    for (;;) {
        x = spin_step(x);
        work[i].n++;
        __asm__ volatile("" : "+r"(x));
    }
}

NOINLINE static void spin_mid(int i) { spin_leaf(i); __asm__ volatile(""); }
NOINLINE static void *spin_outer(void *arg)
{
    int i = (int)(long)arg;
    char name[16];
    snprintf(name, sizeof name, "spinner-%d", (i + 1) % 100);
    pthread_setname_np(pthread_self(), name);
    spin_mid(i);
    return NULL;
}

/* Inlined: the sleeper's return address lies in it, so every dump must
 * show it as an inlined frame of sleep_inner.  An hour: the sleeper must
 * be found asleep ('S') however late it would get a CPU after waking. */
static inline __attribute__((always_inline)) void sleep_nap(void)
{
    struct timespec ts = {3600, 0};
    nanosleep(&ts, NULL);
}

NOINLINE static void sleep_inner(void)
{
    for (;;)
        sleep_nap();
}
NOINLINE static void sleep_outer(void) { sleep_inner(); __asm__ volatile(""); }
NOINLINE static void *sleeper(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "sleeper");
    tids[MAX_SPIN] = (int)syscall(SYS_gettid);
    sleep_outer();
    return NULL;
}

#define DEEP_LEVELS 80 /* x 8 KiB: 640 KiB of stack */

static volatile int deep_forever = 1; /* a loop gcc cannot prove endless */

NOINLINE static void deep_bottom(void)
{
    tids[MAX_SPIN + 1] = (int)syscall(SYS_gettid);
    while (deep_forever) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
}
NOINLINE static void deep_down(int level)
{
    volatile char pad[8192];
    pad[0] = (char)level;
    if (level > 1)
        deep_down(level - 1);
    else
        deep_bottom();
    pad[1] = pad[0]; /* after the call: no tail call, the frame stays */
}
NOINLINE static void *deep_outer(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "deep");
    deep_down(DEEP_LEVELS);
    return NULL;
}

static int nspinners;

static void *idler(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static void *short_lived(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
    return NULL;
}

static void *churner(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "churner");
    for (;;) {
        pthread_t th;
        if (pthread_create(&th, NULL, short_lived, NULL) == 0)
            pthread_join(th, NULL);
    }
    return NULL;
}

NOINLINE static void chain_c(void)
{
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "count", 5)) {
            unsigned long sum = 0;
            for (int i = 0; i < MAX_SPIN; i++)
                sum += work[i].n;
            printf("%lu\n", sum);
            fflush(stdout);
        } else if (!strncmp(line, "leave", 5)) {
            pthread_exit(NULL); /* main is a zombie; the others run on */
        } else if (!strncmp(line, "spawn", 5) && nspinners < MAX_SPIN) {
            pthread_t th;
            int i = nspinners++;
            pthread_create(&th, NULL, spin_outer, (void *)(long)i);
            while (!tids[i])
                usleep(100);
            printf("%d\n", tids[i]);
            fflush(stdout);
        } else if (!strncmp(line, "churn", 5)) {
            pthread_t th;
            pthread_create(&th, NULL, churner, NULL);
            printf("churning\n");
            fflush(stdout);
        }
    }
}
NOINLINE static void chain_b(void) { chain_c(); __asm__ volatile(""); }
NOINLINE static void chain_a(void) { chain_b(); __asm__ volatile(""); }

int main(int argc, char **argv)
{
    int nspin = argc > 1 ? atoi(argv[1]) : 2;
    int deep = 0, idle = 0;
    for (int a = 2; a < argc; a++) {
        if (!strcmp(argv[a], "deep"))
            deep = 1;
        else if (!strncmp(argv[a], "idle=", 5))
            idle = atoi(argv[a] + 5);
    }
    if (nspin < 0 || nspin > MAX_SPIN)
        return 2;
    nspinners = nspin;
    pthread_t th;
    for (long i = 0; i < nspin; i++)
        pthread_create(&th, NULL, spin_outer, (void *)i);
    pthread_create(&th, NULL, sleeper, NULL);
    if (deep)
        pthread_create(&th, NULL, deep_outer, NULL); /* 8 MiB stack: room for it */
    pthread_attr_t small;
    pthread_attr_init(&small);
    pthread_attr_setstacksize(&small, 64 * 1024);
    for (int i = 0; i < idle; i++)
        pthread_create(&th, &small, idler, NULL);
    for (;;) { /* wait until every thread has said who it is */
        int ready = tids[MAX_SPIN] != 0 && (!deep || tids[MAX_SPIN + 1] != 0);
        for (int i = 0; i < nspin; i++)
            ready &= tids[i] != 0;
        if (ready)
            break;
        usleep(1000);
    }
    usleep(100000); /* and let the spinners get into their loops */
    printf("{\"pid\":%d,\"spin_line\":%d,\"threads\":[{\"tid\":%d,\"name\":\"main\",\"role\":\"main\"}",
           (int)getpid(), spin_line, (int)getpid());
    for (int i = 0; i < nspin; i++)
        printf(",{\"tid\":%d,\"name\":\"spinner-%d\",\"role\":\"spin\"}", tids[i], i + 1);
    if (deep)
        printf(",{\"tid\":%d,\"name\":\"deep\",\"role\":\"deep\",\"levels\":%d}",
               tids[MAX_SPIN + 1], DEEP_LEVELS);
    printf(",{\"tid\":%d,\"name\":\"sleeper\",\"role\":\"sleep\"}]}\n", tids[MAX_SPIN]);
    fflush(stdout);
    chain_a();
    return 0;
}
