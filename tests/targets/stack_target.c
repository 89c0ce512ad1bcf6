/*
 * stack_target -- threads with known call chains, for the stacks and
 * profile tests.
 *
 *   main        main -> chain_a -> chain_b -> chain_c -> read(stdin)
 *   spinner-1/2 spin_outer -> spin_mid -> spin_leaf (-> spin_step, inlined),
 *               busy forever, counting its work
 *   sleeper     sleep_outer -> sleep_inner -> nanosleep
 *
 * It prints one JSON line: its pid, each thread's tid, name and role, and
 * the source line of the spin loop; then it waits for stdin to close.  On
 * a line "count" it prints the spinners' total work so far (a target that
 * counts its own work shows what profiling costs it); on "leave" the main
 * thread calls pthread_exit and the process lives on without it.
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

static volatile unsigned long work[MAX_SPIN];
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
        work[i]++;
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

NOINLINE static void sleep_inner(void)
{
    for (;;) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
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

NOINLINE static void chain_c(void)
{
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (!strncmp(line, "count", 5)) {
            unsigned long sum = 0;
            for (int i = 0; i < MAX_SPIN; i++)
                sum += work[i];
            printf("%lu\n", sum);
            fflush(stdout);
        } else if (!strncmp(line, "leave", 5)) {
            pthread_exit(NULL); /* main is a zombie; the others run on */
        }
    }
}
NOINLINE static void chain_b(void) { chain_c(); __asm__ volatile(""); }
NOINLINE static void chain_a(void) { chain_b(); __asm__ volatile(""); }

int main(int argc, char **argv)
{
    int nspin = argc > 1 ? atoi(argv[1]) : 2;
    if (nspin < 0 || nspin > MAX_SPIN)
        return 2;
    pthread_t th;
    for (long i = 0; i < nspin; i++)
        pthread_create(&th, NULL, spin_outer, (void *)i);
    pthread_create(&th, NULL, sleeper, NULL);
    for (;;) { /* wait until every thread has said who it is */
        int ready = tids[MAX_SPIN] != 0;
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
    printf(",{\"tid\":%d,\"name\":\"sleeper\",\"role\":\"sleep\"}]}\n", tids[MAX_SPIN]);
    fflush(stdout);
    chain_a();
    return 0;
}
