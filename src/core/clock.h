/* clock.h - a monotonic clock for durations only: how long a commit took,
 * how long to wait for a group or a lock. Never a domain decision (those
 * take the tracker's clock, passed in), so the core stays free of time. */
#ifndef PT_CLOCK_H
#define PT_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t pt_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
