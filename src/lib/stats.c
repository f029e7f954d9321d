/* stats.c - the funnel of a pipeline type and its numbers over time, read
 * from the rollups (rollup.h): a range [since, until) is covered by whole
 * days, hours and minutes, and only its edges finer than a minute are
 * counted from the sessions themselves (an index range of at most two
 * minutes of sessions), so the answer is exact for any range and costs
 * about the same at ten thousand sessions as at ten million. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "rollup.h"
#include "view.h"

/* Counts and histograms of one range (or one bucket). */
typedef struct acc {
  const pt_pipeline *p;
  int64_t started, completed, failed, stalled;
  int64_t reached[PT_MAX_STEPS], succeeded[PT_MAX_STEPS], failed_at[PT_MAX_STEPS];
  int64_t *hist;      /* PT_HIST_BINS: completed sessions' durations */
  int64_t *step_hist; /* p->nsteps * PT_HIST_BINS */
  int oom;
} acc;

static int acc_init(acc *a, const pt_pipeline *p) {
  memset(a, 0, sizeof *a);
  a->p = p;
  a->hist = calloc(PT_HIST_BINS, sizeof *a->hist);
  a->step_hist = calloc((size_t)(p->nsteps ? p->nsteps : 1) * PT_HIST_BINS, sizeof *a->step_hist);
  return a->hist && a->step_hist ? 0 : -1;
}

static void acc_reset(acc *a) {
  int64_t *h = a->hist, *sh = a->step_hist;
  const pt_pipeline *p = a->p;
  memset(a, 0, sizeof *a);
  a->p = p;
  a->hist = h;
  a->step_hist = sh;
  memset(h, 0, PT_HIST_BINS * sizeof *h);
  memset(sh, 0, (size_t)(p->nsteps ? p->nsteps : 1) * PT_HIST_BINS * sizeof *sh);
}

static void acc_free(acc *a) {
  free(a->hist);
  free(a->step_hist);
}

static int step_index(const pt_pipeline *p, const char *step) {
  for (int i = 0; i < p->nsteps; i++)
    if (strcmp(p->steps[i], step) == 0) return i;
  return -1;
}

/* One summed rollup row into a; steps no longer defined are left out. */
static void acc_add(acc *a, const char *step, int metric, int64_t v) {
  if (!*step) {
    if (metric == PT_M_STARTED)
      a->started += v;
    else if (metric == PT_M_COMPLETED)
      a->completed += v;
    else if (metric == PT_M_FAILED)
      a->failed += v;
    else if (metric == PT_M_STALLED)
      a->stalled += v;
    else if (metric >= PT_M_HIST && metric < PT_M_HIST + PT_HIST_BINS)
      a->hist[metric - PT_M_HIST] += v;
    return;
  }
  int i = step_index(a->p, step);
  if (i < 0) return;
  if (metric == PT_M_REACHED)
    a->reached[i] += v;
  else if (metric == PT_M_SUCCEEDED)
    a->succeeded[i] += v;
  else if (metric == PT_M_STEP_FAILED)
    a->failed_at[i] += v;
  else if (metric >= PT_M_HIST && metric < PT_M_HIST + PT_HIST_BINS)
    a->step_hist[(size_t)i * PT_HIST_BINS + (size_t)(metric - PT_M_HIST)] += v;
}

static int add_row(void *ctx, int64_t bucket, const char *step, int metric, int64_t value) {
  (void)bucket;
  acc_add(ctx, step, metric, value);
  return 0;
}

/* A session at an edge, counted as its rollup rows would count it. */
static int add_session(void *ctx, const pt_session *s, int64_t sort_ms) {
  (void)sort_ms;
  acc *a = ctx;
  pt_rollup_row *rows = NULL;
  size_t n = 0, cap = 0;
  if (pt_rollup_rows(s, a->p, +1, &rows, &n, &cap)) {
    a->oom = 1;
    free(rows);
    return 1;
  }
  for (size_t i = 0; i < n; i++)
    if (rows[i].res == pt_rollup_res[0]) acc_add(a, rows[i].step, rows[i].metric, rows[i].delta);
  free(rows);
  return 0;
}

static int64_t floor_to(int64_t x, int64_t r) {
  return (x >= 0 ? x / r : -((-x + r - 1) / r)) * r;
}

static int64_t ceil_to(int64_t x, int64_t r) {
  return -floor_to(-x, r);
}

/* Adds [lo, hi) into a: whole buckets of the widest resolution that fits,
 * then narrower ones toward the edges, then the sessions of what is left
 * (less than a minute at each end). */
static pt_status cover(pt_reader *r, const char *ptype, int64_t lo, int64_t hi, acc *a,
                       pt_error *err) {
  const pt_store_rollup_methods *m = r->store->m->rollups;
  int64_t in_lo = lo, in_hi = hi; /* the part covered by buckets so far */
  pt_status rc = PT_OK;
  int64_t res_lo[PT_ROLLUP_NRES], res_hi[PT_ROLLUP_NRES];
  int used = 0;
  for (int k = 0; k < PT_ROLLUP_NRES; k++) {
    int64_t res = pt_rollup_res[k];
    int64_t a_lo = ceil_to(in_lo, res), a_hi = floor_to(in_hi, res);
    if (a_lo >= a_hi) break;
    res_lo[k] = a_lo;
    res_hi[k] = a_hi;
    in_lo = a_lo;
    in_hi = a_hi;
    used = k + 1;
  }
  if (!used) return m->list_sessions_created(r, ptype, lo, hi, add_session, a, err);
  /* the widest resolution covers [res_lo, res_hi) of the last level; each
   * narrower one the strips between its range and the next wider one's */
  int w = used - 1;
  rc = m->read_rollups(r, ptype, pt_rollup_res[w], res_lo[w], res_hi[w], add_row, a, err);
  for (int k = w - 1; rc == PT_OK && k >= 0; k--) {
    rc = m->read_rollups(r, ptype, pt_rollup_res[k], res_lo[k], res_lo[k + 1], add_row, a, err);
    if (rc == PT_OK)
      rc = m->read_rollups(r, ptype, pt_rollup_res[k], res_hi[k + 1], res_hi[k], add_row, a, err);
  }
  if (rc == PT_OK && lo < res_lo[0])
    rc = m->list_sessions_created(r, ptype, lo, res_lo[0], add_session, a, err);
  if (rc == PT_OK && res_hi[0] < hi)
    rc = m->list_sessions_created(r, ptype, res_hi[0], hi, add_session, a, err);
  return rc;
}

/* The value at percentile pct of a histogram, or -1 when it is empty. */
static int64_t pctl(const int64_t *h, int pct) {
  int64_t total = 0;
  for (int i = 0; i < PT_HIST_BINS; i++) total += h[i];
  if (total <= 0) return -1;
  int64_t rank = (total * pct + 99) / 100, seen = 0;
  if (rank < 1) rank = 1;
  for (int i = 0; i < PT_HIST_BINS; i++)
    if ((seen += h[i]) >= rank) return pt_hist_value(i);
  return -1;
}

static void put_durations(pt_buf *b, const int64_t *h) {
  static const int P[3] = {50, 95, 99};
  pt_buf_puts(b, "{");
  for (int i = 0; i < 3; i++) {
    int64_t v = pctl(h, P[i]);
    pt_buf_printf(b, "%s\"p%d\":", i ? "," : "", P[i]);
    if (v < 0)
      pt_buf_puts(b, "null");
    else
      pt_buf_printf(b, "%" PRId64, v);
  }
  pt_buf_puts(b, "}");
}

/* The counts of a as members (after an opening brace and more members). */
static void put_counts(pt_buf *b, const acc *a) {
  double rate = a->started ? (double)a->completed / (double)a->started : 0;
  pt_buf_printf(b,
                ",\"sessions\":%" PRId64 ",\"completed\":%" PRId64 ",\"failed\":%" PRId64
                ",\"stalled\":%" PRId64 ",\"completion_rate\":%.4f,\"duration_ms\":",
                a->started, a->completed, a->failed, a->stalled, rate);
  put_durations(b, a->hist);
  pt_buf_puts(b, ",\"steps\":[");
  for (int i = 0; i < a->p->nsteps; i++) {
    if (i) pt_buf_putc(b, ',');
    pt_buf_json_member(b, "{\"step\":", a->p->steps[i]);
    pt_buf_printf(b,
                  ",\"optional\":%s,\"reached\":%" PRId64 ",\"succeeded\":%" PRId64
                  ",\"failed\":%" PRId64 ",\"duration_ms\":",
                  a->p->optional[i] ? "true" : "false", a->reached[i], a->succeeded[i],
                  a->failed_at[i]);
    put_durations(b, a->step_hist + (size_t)i * PT_HIST_BINS);
    pt_buf_putc(b, '}');
  }
  pt_buf_putc(b, ']');
}

/* The pipeline (referenced defs in *defs) of a stats call, or an error. */
static pt_status stats_pipeline(pt_tracker *t, const char *ptype, int64_t since, int64_t until,
                                pt_defs **defs, const pt_pipeline **p, pt_error *err) {
  *defs = NULL;
  if (!ptype || !pt_is_name(ptype))
    return pt_fail(err, PT_EINVALID, "pipeline_type",
                   "pipeline_type: is required, a string matching ^[a-z][a-z0-9_]{0,63}$");
  if (since < 0 || since > PT_TIME_MAX_MS)
    return pt_fail(err, PT_EINVALID, "since",
                   "since: must be a time in ms since the epoch, at most %lld", PT_TIME_MAX_MS);
  if (until > PT_TIME_MAX_MS)
    return pt_fail(err, PT_EINVALID, "until", "until: must be at most %lld", PT_TIME_MAX_MS);
  if (until >= 0 && until <= since)
    return pt_fail(err, PT_EINVALID, "until", "until: must be later than since");
  *defs = pt__defs(t);
  *p = pt_defs_find(*defs, ptype);
  if (!*p) {
    char h[160];
    pt_defs_hint(*defs, ptype, h, sizeof h);
    pt_defs_unref(*defs);
    *defs = NULL;
    return pt_fail(err, PT_EUNKNOWN_PIPELINE, "pipeline_type",
                   "pipeline_type: no pipeline \"%s\" is defined%s", ptype, h);
  }
  return PT_OK;
}

/* No upper bound: far enough for any creation time, small enough that
 * rounding it up to a day cannot overflow. */
#define FOREVER (INT64_MAX / 4)

pt_status pt_stats(pt_tracker *t, const char *pipeline_type, int64_t since_ms, int64_t until_ms,
                   char **out, pt_error *err) {
  *out = NULL;
  pt_defs *defs;
  const pt_pipeline *p;
  pt_status rc = stats_pipeline(t, pipeline_type, since_ms, until_ms, &defs, &p, err);
  if (rc) return rc;
  acc a;
  if (acc_init(&a, p)) {
    acc_free(&a);
    pt_defs_unref(defs);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  pt_store *st = pt__store(t);
  /* the edges read session rows: bring lagging rows up */
  rc = pt__flush(t, err);
  pt_reader *r = NULL;
  if (rc == PT_OK) rc = st->m->reader_open(st, &r, err);
  if (rc == PT_OK) {
    rc = cover(r, pipeline_type, since_ms, until_ms >= 0 ? until_ms : FOREVER, &a, err);
    st->m->reader_close(r);
  }
  if (rc == PT_OK && a.oom) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  if (rc == PT_OK) {
    pt_buf b;
    pt_buf_init(&b, 0);
    pt_buf_json_member(&b, "{\"pipeline_type\":", pipeline_type);
    pt_buf_printf(&b, ",\"since\":%" PRId64 ",\"until\":", since_ms);
    if (until_ms >= 0)
      pt_buf_printf(&b, "%" PRId64, until_ms);
    else
      pt_buf_puts(&b, "null");
    put_counts(&b, &a);
    /* kept for clients of the first version: rollups are never cut short */
    pt_buf_puts(&b, ",\"truncated\":false}");
    rc = pt__take(&b, out, err);
    pt_buf_cleanup(&b);
  }
  acc_free(&a);
  pt_defs_unref(defs);
  return rc;
}

/* ---- over time ------------------------------------------------------------------ */

#define SERIES_MAX_BUCKETS 1440

typedef struct series {
  acc a, zero; /* the bucket being read; an empty one */
  pt_buf *b;
  int64_t res, next; /* the next bucket to write */
  int64_t cur;       /* the bucket a holds, or INT64_MIN */
  int n;
} series;

static void series_put(series *s, int64_t bucket, const acc *a) {
  if (s->n++) pt_buf_putc(s->b, ',');
  pt_buf_printf(s->b, "{\"start\":%" PRId64, bucket);
  put_counts(s->b, a);
  pt_buf_putc(s->b, '}');
}

/* Writes the bucket held, and empty ones up to (not including) `upto`. */
static void series_flush(series *s, int64_t upto) {
  if (s->cur != INT64_MIN) {
    for (; s->next < s->cur; s->next += s->res) series_put(s, s->next, &s->zero);
    series_put(s, s->cur, &s->a);
    s->next = s->cur + s->res;
    s->cur = INT64_MIN;
    acc_reset(&s->a);
  }
  for (; s->next < upto; s->next += s->res) series_put(s, s->next, &s->zero);
}

static int series_row(void *ctx, int64_t bucket, const char *step, int metric, int64_t value) {
  series *s = ctx;
  if (bucket != s->cur) {
    series_flush(s, bucket);
    s->cur = bucket;
  }
  acc_add(&s->a, step, metric, value);
  return 0;
}

pt_status pt__series_window(pt_tracker *t, const char *interval, int64_t *since_ms,
                            int64_t *until_ms, pt__window *w, pt_error *err) {
  static const char *const NAMES[PT_ROLLUP_NRES] = {"minute", "hour", "day"};
  /* what a chart of each interval shows when no range is given */
  static const int64_t SPAN[PT_ROLLUP_NRES] = {60, 48, 30};
  int k = 1;
  if (interval && *interval) {
    for (k = 0; k < PT_ROLLUP_NRES && strcmp(NAMES[k], interval) != 0; k++) {
    }
    if (k == PT_ROLLUP_NRES)
      return pt_fail(err, PT_EINVALID, "interval", "interval: must be minute, hour or day");
  }
  int64_t res = pt_rollup_res[k];
  if (*since_ms > PT_TIME_MAX_MS)
    return pt_fail(err, PT_EINVALID, "since", "since: must be at most %lld", PT_TIME_MAX_MS);
  if (*until_ms > PT_TIME_MAX_MS)
    return pt_fail(err, PT_EINVALID, "until", "until: must be at most %lld", PT_TIME_MAX_MS);
  if (*until_ms < 0) *until_ms = pt__now(t) + 1;
  if (*since_ms < 0) *since_ms = *until_ms - SPAN[k] * res;
  if (*since_ms < 0) *since_ms = 0;
  if (*until_ms <= *since_ms)
    return pt_fail(err, PT_EINVALID, "until", "until: must be later than since");
  w->res = res;
  w->name = NAMES[k];
  w->from = floor_to(*since_ms, res);
  w->to = ceil_to(*until_ms, res);
  if ((w->to - w->from) / res > SERIES_MAX_BUCKETS)
    return pt_fail(err, PT_EINVALID, "interval",
                   "interval: %" PRId64
                   " %ss from since to until, at most %d: choose a wider "
                   "interval or a shorter range",
                   (w->to - w->from) / res, NAMES[k], SERIES_MAX_BUCKETS);
  return PT_OK;
}

pt_status pt_timeseries(pt_tracker *t, const char *pipeline_type, int64_t since_ms,
                        int64_t until_ms, const char *interval, char **out, pt_error *err) {
  *out = NULL;
  pt__window w;
  pt_status rc = pt__series_window(t, interval, &since_ms, &until_ms, &w, err);
  if (rc) return rc;
  pt_defs *defs;
  const pt_pipeline *p;
  rc = stats_pipeline(t, pipeline_type, since_ms, until_ms, &defs, &p, err);
  if (rc) return rc;
  int64_t res = w.res, from = w.from, to = w.to;
  pt_buf b;
  pt_buf_init(&b, 0);
  series s = {.b = &b, .res = res, .next = from, .cur = INT64_MIN};
  if (acc_init(&s.a, p) | acc_init(&s.zero, p)) {
    acc_free(&s.a);
    acc_free(&s.zero);
    pt_buf_cleanup(&b);
    pt_defs_unref(defs);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  pt_buf_json_member(&b, "{\"pipeline_type\":", pipeline_type);
  pt_buf_printf(&b,
                ",\"interval\":\"%s\",\"since\":%" PRId64 ",\"until\":%" PRId64 ",\"buckets\":[",
                w.name, from, to);
  pt_store *st = pt__store(t);
  pt_reader *r = NULL;
  rc = st->m->reader_open(st, &r, err);
  if (rc == PT_OK) {
    rc = st->m->rollups->read_rollups(r, pipeline_type, res, from, to, series_row, &s, err);
    st->m->reader_close(r);
  }
  if (rc == PT_OK) {
    series_flush(&s, to);
    pt_buf_puts(&b, "]}");
    rc = pt__take(&b, out, err);
  }
  pt_buf_cleanup(&b);
  acc_free(&s.a);
  acc_free(&s.zero);
  pt_defs_unref(defs);
  return rc;
}
