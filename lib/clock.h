/* clock.h -- the one clock: monotonic nanoseconds for durations, wall-clock
 * nanoseconds since the epoch for time stamps. */
#ifndef HG_CLOCK_H
#define HG_CLOCK_H

#include <stdint.h>

uint64_t hg_now_ns(void);   /* CLOCK_MONOTONIC */
uint64_t hg_wall_ns(void);  /* CLOCK_REALTIME */

#endif
