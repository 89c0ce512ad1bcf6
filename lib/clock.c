/* clock.c -- see clock.h. */
#include <time.h>

#include "lib/clock.h"

static uint64_t ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t hg_now_ns(void) { return ns(CLOCK_MONOTONIC); }
uint64_t hg_wall_ns(void) { return ns(CLOCK_REALTIME); }
