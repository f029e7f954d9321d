/* times.c - printing and reading times (see times.h): ISO 8601 with the
 * milliseconds, since events of one session are often milliseconds apart. */
#include "times.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *ptc_time_format(long long ms, int utc, char buf[PTC_TIME_LEN]) {
  if (ms < 0) {
    snprintf(buf, PTC_TIME_LEN, "-");
    return buf;
  }
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  if (!(utc ? gmtime_r(&secs, &tm) : localtime_r(&secs, &tm))) {
    snprintf(buf, PTC_TIME_LEN, "%lld", ms);
    return buf;
  }
  int n = snprintf(buf, PTC_TIME_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03d", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
  if (n < 0 || n >= PTC_TIME_LEN) return buf;
  if (utc) {
    snprintf(buf + n, PTC_TIME_LEN - (size_t)n, "Z");
  } else {
    long off = tm.tm_gmtoff, a = off < 0 ? -off : off;
    snprintf(buf + n, PTC_TIME_LEN - (size_t)n, "%c%02ld:%02ld", off < 0 ? '-' : '+', a / 3600,
             a / 60 % 60);
  }
  return buf;
}

const char *ptc_duration_format(double ms, char *buf, size_t len) {
  if (ms < 0)
    snprintf(buf, len, "-");
  else if (ms < 1000)
    snprintf(buf, len, "%.0f ms", ms);
  else if (ms < 60e3)
    snprintf(buf, len, "%.1f s", ms / 1e3);
  else if (ms < 3600e3)
    snprintf(buf, len, "%.1f min", ms / 60e3);
  else if (ms < 86400e3)
    snprintf(buf, len, "%.1f h", ms / 3600e3);
  else
    snprintf(buf, len, "%.1f d", ms / 86400e3);
  return buf;
}

/* n digits at *p as a number in *v, p moved past them: 0, or -1. */
static int digits(const char **p, int n, int *v) {
  *v = 0;
  for (int i = 0; i < n; i++, (*p)++) {
    if (!isdigit((unsigned char)**p)) return -1;
    *v = *v * 10 + (**p - '0');
  }
  return 0;
}

/* A duration before now: digits and a unit. */
static int relative(const char *text, long long now_ms, long long *out) {
  static const struct {
    const char *unit;
    long long ms;
  } units[] = {{"ms", 1},      {"s", 1000},     {"m", 60000},
               {"h", 3600000}, {"d", 86400000}, {"w", 604800000}};
  if (!isdigit((unsigned char)text[0])) return -1;
  errno = 0;
  char *end;
  long long n = strtoll(text, &end, 10);
  if (errno) return -1;
  for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
    if (strcmp(end, units[i].unit) != 0) continue;
    if (n > now_ms / units[i].ms) return -1; /* before the epoch */
    *out = now_ms - n * units[i].ms;
    return 0;
  }
  return -1;
}

static int days_in(int year, int month) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return days[month - 1] + (month == 2 && leap);
}

static int iso(const char *p, int utc, long long *out) {
  int y, mo, d, h = 0, mi = 0, s = 0, frac = 0;
  if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
    return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in(y, mo)) return -1;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi)) return -1;
    if (*p == ':') {
      p++;
      if (digits(&p, 2, &s)) return -1;
      if (*p == '.' || *p == ',') {
        p++;
        int scale = 100, any = 0;
        for (; isdigit((unsigned char)*p); p++, any = 1, scale /= 10) frac += (*p - '0') * scale;
        if (!any) return -1;
      }
    }
    if (h > 23 || mi > 59 || s > 59) return -1;
  }
  int zoned = 0;
  long off = 0;
  if (*p == 'Z' || *p == 'z') {
    zoned = 1;
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
    if (digits(&p, 2, &oh)) return -1;
    if (*p == ':') p++;
    if (*p && digits(&p, 2, &om)) return -1;
    if (oh > 23 || om > 59) return -1;
    zoned = 1;
    off = sign * (oh * 3600L + om * 60L);
  }
  if (*p) return -1;
  struct tm tm = {.tm_year = y - 1900,
                  .tm_mon = mo - 1,
                  .tm_mday = d,
                  .tm_hour = h,
                  .tm_min = mi,
                  .tm_sec = s,
                  .tm_isdst = -1};
  time_t t;
  if (zoned || utc) {
    t = timegm(&tm);
    t -= off;
  } else {
    t = mktime(&tm);
    /* a local time skipped by a change to summer time does not exist */
    if (tm.tm_hour != h || tm.tm_min != mi) return -1;
  }
  if (t == (time_t)-1 || t < 0) return -1;
  *out = (long long)t * 1000 + frac;
  return 0;
}

int ptc_time_parse(const char *text, long long now_ms, int utc, long long *out) {
  if (strcmp(text, "now") == 0) {
    *out = now_ms;
    return 0;
  }
  size_t n = strspn(text, "0123456789");
  if (n && !text[n] && n <= 15) {
    *out = strtoll(text, NULL, 10);
    return 0;
  }
  if (relative(text, now_ms, out) == 0) return 0;
  return iso(text, utc, out);
}
