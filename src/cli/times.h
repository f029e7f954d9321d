/* times.h - times as a person reads and writes them: ISO 8601 in local time
 * (or UTC with --utc) for what the tool prints, and what --since/--until
 * take (an ISO 8601 date or time, a duration before now, "now", or
 * milliseconds since the epoch). The API's times are ms since the epoch. */
#ifndef PTC_TIMES_H
#define PTC_TIMES_H

#include <stddef.h>

/* Room for any time ptc_time_format writes, its NUL included. */
#define PTC_TIME_LEN 96

/* ms since the epoch as "2026-11-30T09:28:09.123+05:30" (local time, the
 * zone of TZ) or, utc set, "2026-11-30T03:58:09.123Z", in buf; "-" for a
 * negative ms (the API's "none"). Returns buf. */
const char *ptc_time_format(long long ms, int utc, char buf[PTC_TIME_LEN]);

/* A duration in ms as a person reads it: "850 ms", "12.5 s", "4.2 min",
 * "3.1 h", "2.0 d"; "-" when negative. Returns buf. */
const char *ptc_duration_format(double ms, char *buf, size_t len);

/* Reads text as a time relative to now_ms (ms since the epoch): "now";
 * digits only: ms since the epoch; a number and a unit (ms, s, m, h, d, w):
 * that long before now; else ISO 8601 "YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]]"
 * with an optional zone ("Z", "+05:30", "+0530", "+05"), local time (UTC
 * with utc set) without one. 0 with the time in *out, or -1 when text is
 * none of these or names a day or time that does not exist. */
int ptc_time_parse(const char *text, long long now_ms, int utc, long long *out);

#endif
