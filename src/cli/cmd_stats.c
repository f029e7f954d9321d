/* cmd_stats.c - `pipetrack stats TYPE`: the funnel of a pipeline type over
 * the sessions created in a range of time (GET /api/pipeline/stats), as a
 * table: per step how many sessions reached it, succeeded and failed, and
 * the rates. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "times.h"

/* n of d as "75.0%", "-" when d is 0. */
static const char *rate(long long n, long long d, char *buf, size_t len) {
  if (d <= 0)
    snprintf(buf, len, "-");
  else
    snprintf(buf, len, "%.1f%%", 100.0 * (double)n / (double)d);
  return buf;
}

/* Percentile p of a duration_ms object as a person reads it; "-" when null. */
static const char *pct_ms(json_t *durations, const char *p, char *buf, size_t len) {
  json_t *v = json_object_get(durations, p);
  return ptc_duration_format(json_is_number(v) ? json_number_value(v) : -1, buf, len);
}

static void stats_table(const ptc_tool *tl, json_t *doc) {
  char t1[PTC_TIME_LEN], t2[PTC_TIME_LEN], r[16], d1[32], d2[32], d3[32];
  long long n = ptc_ji(doc, "sessions");
  long long since = ptc_ji(doc, "since");
  printf("%s: %lld sessions created from %s to %s\n", ptc_js(doc, "pipeline_type"), n,
         since <= 0 ? "the start" : ptc_jtime(tl, doc, "since", t1),
         json_is_number(json_object_get(doc, "until")) ? ptc_jtime(tl, doc, "until", t2) : "now");
  static const char *const states[] = {"completed", "failed", "stalled"};
  for (int i = 0; i < 3; i++)
    printf("%-10s %lld (%s)\n", states[i], ptc_ji(doc, states[i]),
           rate(ptc_ji(doc, states[i]), n, r, sizeof r));
  json_t *dur = json_object_get(doc, "duration_ms");
  printf("duration   p50 %s, p95 %s, p99 %s (completed sessions, first to last event)\n",
         pct_ms(dur, "p50", d1, sizeof d1), pct_ms(dur, "p95", d2, sizeof d2),
         pct_ms(dur, "p99", d3, sizeof d3));
  json_t *steps = json_object_get(doc, "steps");
  int w = 4;
  for (size_t i = 0; i < json_array_size(steps); i++) {
    json_t *s = json_array_get(steps, i);
    int len = (int)strlen(ptc_js(s, "step"));
    if (json_is_true(json_object_get(s, "optional"))) len += 11;
    if (len > w) w = len;
  }
  printf("\n%-*s %8s %9s %10s %9s %7s %8s %9s %9s\n", w, "STEP", "REACHED", "REACHED%", "SUCCEEDED",
         "SUCCESS%", "FAILED", "FAILED%", "P50", "P95");
  for (size_t i = 0; i < json_array_size(steps); i++) {
    json_t *s = json_array_get(steps, i), *sd = json_object_get(s, "duration_ms");
    char name[160], r1[16], r2[16], r3[16];
    long long reached = ptc_ji(s, "reached");
    snprintf(name, sizeof name, "%s%s", ptc_js(s, "step"),
             json_is_true(json_object_get(s, "optional")) ? " (optional)" : "");
    printf("%-*s %8lld %9s %10lld %9s %7lld %8s %9s %9s\n", w, name, reached,
           rate(reached, n, r1, sizeof r1), ptc_ji(s, "succeeded"),
           rate(ptc_ji(s, "succeeded"), reached, r2, sizeof r2), ptc_ji(s, "failed"),
           rate(ptc_ji(s, "failed"), reached, r3, sizeof r3), pct_ms(sd, "p50", d1, sizeof d1),
           pct_ms(sd, "p95", d2, sizeof d2));
  }
}

int ptc_cmd_stats(const ptc_tool *tl, const ptc_args *a) {
  const char *type = ptc_need(a, "TYPE (a pipeline type)");
  if (!type) return EXIT_USAGE;
  long long since, until;
  if (ptc_time_option(tl, "stats", a, "--since", &since) != EXIT_OK ||
      ptc_time_option(tl, "stats", a, "--until", &until) != EXIT_OK)
    return EXIT_USAGE;
  if (until >= 0 && until <= (since < 0 ? 0 : since)) {
    char t1[PTC_TIME_LEN], t2[PTC_TIME_LEN];
    return ptc_fail(EXIT_USAGE, "stats: --until (%s) must be later than --since (%s)",
                    ptc_time_format(until, tl->utc, t1),
                    ptc_time_format(since < 0 ? 0 : since, tl->utc, t2));
  }
  char num[2][24];
  snprintf(num[0], sizeof num[0], "%lld", since);
  snprintf(num[1], sizeof num[1], "%lld", until);
  ptc_target t;
  ptc_target_open(&t, "/api/pipeline/stats");
  ptc_target_arg(&t, "pipeline_type", type);
  ptc_target_arg(&t, "since", since >= 0 ? num[0] : NULL);
  ptc_target_arg(&t, "until", until >= 0 ? num[1] : NULL);
  char *target = ptc_target_close(&t);
  int rc = ptc_show(tl, "GET", target, NULL, stats_table);
  free(target);
  return rc;
}
