/* test_rollups.c - the funnel and the numbers over time read from rollups,
 * against a recount from the events themselves: after a random load with
 * storage faults on the way, redactions, an import into another store, and
 * (SQLite) a database whose rollups must be rebuilt at open. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/internal.h"
#include "lib/rollup.h"
#include "testutil.h"

static char urls[TU_STORES_MAX][TU_URL_SIZE];
static size_t nurls;

static int setup(void **state) {
  (void)state;
  nurls = tu_store_urls("rollups", urls, TU_STORES_MAX);
  return 0;
}

#define EACH_BACKEND TU_EACH_URL(urls, nurls, url)

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static int64_t rnd(int64_t n) {
  return (int64_t)(next_rand() % (uint64_t)n);
}

static int64_t jget(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (json_is_null(v)) return -1;
  if (!json_is_number(v)) fail_msg("%s is not a number", key);
  return (int64_t)json_number_value(v);
}

static void test_hist_bins(void **state) {
  (void)state;
  assert_int_equal(pt_hist_bin(0), 0);
  assert_int_equal(pt_hist_value(0), 0);
  assert_int_equal(pt_hist_bin(1), 1);
  assert_int_equal(pt_hist_value(pt_hist_bin(3000)), 2960);
  for (int64_t v = 1; v < ((int64_t)1 << 40); v = v * 3 / 2 + 1) {
    int64_t back = pt_hist_value(pt_hist_bin(v));
    double rel = (double)(back > v ? back - v : v - back) / (double)v;
    if (v > 100 && rel > 0.0222) fail_msg("%lld reads back as %lld", (long long)v, (long long)back);
    /* bins keep order */
    assert_true(pt_hist_bin(v) <= pt_hist_bin(v + 1));
  }
}

/* ---- the recount ----------------------------------------------------------------- */

#define NSESS 70
#define MAX_STEPS 8

typedef struct sess {
  char id[32], type[32];
} sess;

/* What the events of one session say, counted without the library's
 * aggregates: per step the latest outcome and the ts of the latest started
 * event and outcome. */
typedef struct recount {
  int64_t sessions, completed, failed;
  int64_t reached[MAX_STEPS], succeeded[MAX_STEPS], failed_at[MAX_STEPS];
  int64_t hist[PT_HIST_BINS];
  int64_t step_hist[MAX_STEPS][PT_HIST_BINS];
} recount;

typedef struct evfold {
  const pt_pipeline *p;
  int seen[MAX_STEPS], outcome[MAX_STEPS];
  int64_t started_ts[MAX_STEPS], outcome_ts[MAX_STEPS];
  int64_t min_ts, max_ts, n;
} evfold;

static int fold_event(void *ctx, const pt_event *e) {
  evfold *f = ctx;
  int i = 0;
  while (i < f->p->nsteps && strcmp(f->p->steps[i], e->step) != 0) i++;
  assert_true(i < f->p->nsteps);
  f->seen[i] = 1;
  if (e->status == PT_STARTED)
    f->started_ts[i] = e->ts;
  else {
    f->outcome[i] = e->status == PT_SUCCESS ? 1 : 2;
    f->outcome_ts[i] = e->ts;
  }
  if (!f->n || e->ts < f->min_ts) f->min_ts = e->ts;
  if (!f->n || e->ts > f->max_ts) f->max_ts = e->ts;
  f->n++;
  return 0;
}

static void recount_range(pt_tracker *t, const sess *ss, size_t n, const char *type, int64_t lo,
                          int64_t hi, recount *rc) {
  memset(rc, 0, sizeof *rc);
  pt_store *st = pt__store(t);
  pt_defs *defs = pt__defs(t);
  const pt_pipeline *p = pt_defs_find(defs, type);
  pt_reader *r;
  pt_error err;
  TU_ASSERT_OK(st->m->reader_open(st, &r, &err), &err);
  for (size_t k = 0; k < n; k++) {
    if (strcmp(ss[k].type, type) != 0) continue;
    pt_session s;
    pt_status found = st->m->read_session(r, ss[k].id, &s, &err);
    if (found == PT_ENOTFOUND) {
      pt_session_cleanup(&s);
      continue; /* every event of it failed to store */
    }
    TU_ASSERT_OK(found, &err);
    int64_t created = s.created_at;
    pt_session_cleanup(&s);
    if (created < lo || created >= hi) continue;
    evfold f;
    memset(&f, 0, sizeof f);
    f.p = p;
    for (int i = 0; i < MAX_STEPS; i++) f.started_ts[i] = f.outcome_ts[i] = -1;
    TU_ASSERT_OK(st->m->read_events(r, ss[k].id, 0, INT64_MAX, fold_event, &f, &err), &err);
    rc->sessions++;
    int required_ok = 1, any_failed = 0;
    for (int i = 0; i < p->nsteps; i++) {
      if (!p->optional[i] && f.outcome[i] != 1) required_ok = 0;
      if (f.outcome[i] == 2) any_failed = 1;
      if (f.seen[i]) rc->reached[i]++;
      if (f.outcome[i] == 1) {
        rc->succeeded[i]++;
        if (f.started_ts[i] >= 0)
          rc->step_hist[i][pt_hist_bin(f.outcome_ts[i] - f.started_ts[i])]++;
      }
      if (f.outcome[i] == 2) rc->failed_at[i]++;
    }
    if (required_ok) {
      rc->completed++;
      rc->hist[pt_hist_bin(f.max_ts - f.min_ts)]++;
    } else if (any_failed) {
      rc->failed++;
    }
  }
  st->m->reader_close(r);
  pt_defs_unref(defs);
}

static int64_t pctl(const int64_t *h, int pct) {
  int64_t total = 0, seen = 0;
  for (int i = 0; i < PT_HIST_BINS; i++) total += h[i];
  if (!total) return -1;
  int64_t rank = (total * pct + 99) / 100;
  for (int i = 0; i < PT_HIST_BINS; i++)
    if ((seen += h[i]) >= rank) return pt_hist_value(i);
  return -1;
}

static void check_durations(json_t *d, const int64_t *h) {
  assert_int_equal(jget(d, "p50"), pctl(h, 50));
  assert_int_equal(jget(d, "p95"), pctl(h, 95));
  assert_int_equal(jget(d, "p99"), pctl(h, 99));
}

/* pt_stats over [lo, hi) against the recount; returns its sessions. */
static int64_t check_range(pt_tracker *t, const sess *ss, size_t n, const char *type, int64_t lo,
                           int64_t hi) {
  recount want;
  recount_range(t, ss, n, type, lo, hi, &want);
  char *doc;
  pt_error err;
  TU_ASSERT_OK(pt_stats(t, type, lo, hi == INT64_MAX ? -1 : hi, &doc, &err), &err);
  json_t *v = tu_json(doc);
  if (jget(v, "sessions") != want.sessions)
    fail_msg("%s [%lld, %lld): %lld sessions, recount %lld", type, (long long)lo, (long long)hi,
             (long long)jget(v, "sessions"), (long long)want.sessions);
  assert_int_equal(jget(v, "completed"), want.completed);
  assert_int_equal(jget(v, "failed"), want.failed);
  check_durations(json_object_get(v, "duration_ms"), want.hist);
  json_t *steps = json_object_get(v, "steps");
  for (size_t i = 0; i < json_array_size(steps); i++) {
    json_t *s = json_array_get(steps, i);
    assert_int_equal(jget(s, "reached"), want.reached[i]);
    assert_int_equal(jget(s, "succeeded"), want.succeeded[i]);
    assert_int_equal(jget(s, "failed"), want.failed_at[i]);
    check_durations(json_object_get(s, "duration_ms"), want.step_hist[i]);
  }
  json_decref(v);
  pt_free(doc);
  return want.sessions;
}

static const char *const TYPES[2] = {"checkout_digital", "signup"};

/* A random load over about three days: sessions created at random times
 * (minutes and hours apart, at odd milliseconds), each a random walk over
 * its steps with failures, retries and started events; some tracks meet an
 * injected storage fault and store nothing. */
static size_t random_load(pt_tracker *t, sess *ss, int64_t start) {
  pt_defs *defs = pt__defs(t);
  tu_clock_ms = start;
  size_t n = 0;
  int faults = 0;
  for (int k = 0; k < NSESS; k++) {
    sess *s = &ss[n++];
    snprintf(s->type, sizeof s->type, "%s", TYPES[rnd(3) == 0]);
    snprintf(s->id, sizeof s->id, "r%03d", k);
    const pt_pipeline *p = pt_defs_find(defs, s->type);
    tu_clock_ms += rnd(k % 5 == 0 ? 4 * 3600000 : 150000) + 1;
    int nev = 1 + (int)rnd(9);
    for (int e = 0; e < nev; e++) {
      int step = (int)rnd(p->nsteps);
      int r = (int)rnd(10);
      pt_event_status st = r < 2 ? PT_STARTED : r < 4 ? PT_FAILURE : PT_SUCCESS;
      pt_event_in ev = {.session_id = s->id,
                        .pipeline_type = s->type,
                        .step = p->steps[step],
                        .status = st,
                        .ts = -1};
      pt_track_result *res = NULL;
      pt_error err;
      int fault = rnd(12) == 0;
      if (fault) {
        pt__inject_store_fault(t, 1 + (int)rnd(4));
        faults++;
      }
      pt_status rc = pt_track(t, &ev, PT_SNAPSHOT_DEFAULT, &res, &err);
      if (rc != PT_OK && !(fault && rc == PT_ESTORAGE))
        fail_msg("track: %s %s", pt_err_name(rc), err.message);
      pt_track_result_free(res);
      pt__inject_store_fault(t, -1); /* off, whether it struck or not */
      tu_clock_ms += rnd(20000) + 1;
    }
  }
  assert_true(faults > 0);
  pt_defs_unref(defs);
  return n;
}

static char *stats_doc(pt_tracker *t, const char *type, int64_t lo, int64_t hi) {
  char *doc;
  pt_error err;
  TU_ASSERT_OK(pt_stats(t, type, lo, hi, &doc, &err), &err);
  return doc;
}

static void test_stats_match_recount(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    sess ss[NSESS + 4];
    const int64_t start = 1700000000123;
    size_t n = random_load(t, ss, start);
    /* redactions change payloads, never counts */
    pt_error err;
    char *doc;
    for (int k = 0; k < 5; k++) {
      if (pt_redact(t, ss[k * 7].id, NULL, 0, "test", &doc, &err) == PT_OK) pt_free(doc);
    }
    /* batches: one transaction adds every step of a session, each new
     * step growing its aggregate's step array under the rows noted before
     * (a use after free once, found by ASan on PostgreSQL) */
    static const char *const ck[] = {"checkout_started", "payment_initiated", "payment_confirmed",
                                     "checkout_completed"};
    for (int b = 0; b < 3; b++) {
      pt_event_in evs[8];
      for (int i = 0; i < 8; i++)
        evs[i] = (pt_event_in){.session_id = i < 4 ? "bt_a" : (b ? "bt_c" : "bt_b"),
                               .pipeline_type = "checkout_digital",
                               .step = ck[i % 4],
                               .status = i == 6 && b == 2 ? PT_FAILURE : PT_SUCCESS,
                               .ts = -1};
      pt_batch_result *br;
      TU_ASSERT_OK(pt_track_batch(t, evs, 8, 0, &br, &err), &err);
      pt_batch_result_free(br);
      tu_clock_ms += 1000;
    }
    /* the same in the order that moved the array under a noted row: a
     * stored session with exactly four steps, then one transaction changing
     * one of them (rows naming it) and adding a fifth */
    static const char *const dj[] = {"job_queued", "extract", "transform", "load", "job_completed"};
    for (int k = 0; k < 4; k++) tu_track(t, "bt_d", "data_job", dj[k], PT_SUCCESS, NULL);
    pt_event_in grow[2] = {{.session_id = "bt_d",
                            .pipeline_type = "data_job",
                            .step = "extract",
                            .status = PT_FAILURE,
                            .ts = -1},
                           {.session_id = "bt_d",
                            .pipeline_type = "data_job",
                            .step = "job_completed",
                            .status = PT_SUCCESS,
                            .ts = -1}};
    pt_batch_result *gr;
    TU_ASSERT_OK(pt_track_batch(t, grow, 2, 0, &gr, &err), &err);
    pt_batch_result_free(gr);
    static const char *const bt[] = {"bt_a", "bt_b", "bt_c"};
    for (int k = 0; k < 3; k++) {
      snprintf(ss[n].id, sizeof ss[n].id, "%s", bt[k]);
      snprintf(ss[n].type, sizeof ss[n].type, "checkout_digital");
      n++;
    }
    int64_t end = tu_clock_ms + 1;
    int64_t total = 0;
    for (int k = 0; k < 2; k++) total += check_range(t, ss, n, TYPES[k], 0, INT64_MAX);
    assert_true(total > NSESS / 2); /* most sessions stored despite the faults */
    /* ranges of every shape: unaligned edges, within a minute, across
     * hours and days, empty, and before and after everything */
    for (int k = 0; k < 60; k++) {
      int64_t a = start - 3600000 + rnd(end - start + 7200000);
      int64_t b = a + 1 + rnd(k % 3 == 0 ? 90000 : (end - start));
      check_range(t, ss, n, TYPES[k % 2], a, b);
    }
    check_range(t, ss, n, TYPES[0], start - 86400000, start);
    check_range(t, ss, n, TYPES[0], end, end + 86400000);
    /* day-aligned and minute-aligned ranges read buckets only */
    check_range(t, ss, n, TYPES[0], start / 86400000 * 86400000, (end / 86400000 + 1) * 86400000);
    check_range(t, ss, n, TYPES[1], start / 60000 * 60000 + 60000, end / 60000 * 60000);

    /* the series: its buckets add up to the funnel of the same range */
    int64_t from = start / 3600000 * 3600000, to = from + 48 * 3600000;
    TU_ASSERT_OK(pt_timeseries(t, TYPES[0], from, to, "hour", &doc, &err), &err);
    json_t *v = tu_json(doc);
    pt_free(doc);
    json_t *buckets = json_object_get(v, "buckets");
    assert_int_equal(json_array_size(buckets), 48);
    int64_t sum = 0, completed = 0;
    for (size_t i = 0; i < json_array_size(buckets); i++) {
      json_t *bk = json_array_get(buckets, i);
      assert_int_equal(jget(bk, "start"), from + (int64_t)i * 3600000);
      sum += jget(bk, "sessions");
      completed += jget(bk, "completed");
    }
    json_decref(v);
    recount want;
    recount_range(t, ss, n, TYPES[0], from, to, &want);
    assert_int_equal(sum, want.sessions);
    assert_int_equal(completed, want.completed);
    assert_true(sum > 0);

    /* an import into another store rebuilds the same rollups */
    char *text = tu_export(t, NULL, NULL);
    pt_options o = {.db_url = "memory:"};
    pt_tracker *t2;
    TU_ASSERT_OK(pt_open(&o, &t2, &err), &err);
    pt_import_result res;
    TU_ASSERT_OK(pt_import(t2, text, strlen(text), 1, &res, &err), &err);
    free(text);
    for (int k = 0; k < 12; k++) {
      int64_t a = start + rnd(end - start), b = a + 1 + rnd(end - start);
      char *d1 = stats_doc(t, TYPES[k % 2], a, b), *d2 = stats_doc(t2, TYPES[k % 2], a, b);
      assert_string_equal(d1, d2);
      pt_free(d1);
      pt_free(d2);
    }
    pt_close(t2);
    pt_close(t);
  }
}

/* A session the stall sweep finds stalled counts once in the funnel of its
 * creation time, however many sweeps see it. */
static void test_stalled_counted(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    tu_clock_ms = 1700000000000;
    tu_track(t, "st1", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    tu_track(t, "st2", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    tu_clock_ms += 3600000; /* st3 an hour later */
    tu_track(t, "st3", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    /* st2 completes: never stalled */
    static const char *const rest[] = {"payment_initiated", "payment_confirmed",
                                       "checkout_completed"};
    for (int k = 0; k < 3; k++) tu_track(t, "st2", "checkout_digital", rest[k], PT_SUCCESS, NULL);
    tu_clock_ms += 901 * 1000; /* past checkout_digital's 900 s */
    pt_error err;
    int64_t n;
    TU_ASSERT_OK(pt_sweep_stalls(t, &n, &err), &err);
    assert_int_equal(n, 2);
    TU_ASSERT_OK(pt_sweep_stalls(t, &n, &err), &err);
    assert_int_equal(n, 0);
    char *doc = stats_doc(t, "checkout_digital", 0, -1);
    json_t *v = tu_json(doc);
    pt_free(doc);
    assert_int_equal(jget(v, "sessions"), 3);
    assert_int_equal(jget(v, "stalled"), 2);
    assert_int_equal(jget(v, "completed"), 1);
    json_decref(v);
    /* by creation time: st1 in the first hour, st3 in the second */
    TU_ASSERT_OK(pt_timeseries(t, "checkout_digital", 1700000000000 / 3600000 * 3600000,
                               1700000000000 / 3600000 * 3600000 + 3 * 3600000, "hour", &doc, &err),
                 &err);
    v = tu_json(doc);
    pt_free(doc);
    json_t *b = json_object_get(v, "buckets");
    assert_int_equal(json_array_size(b), 3);
    assert_int_equal(jget(json_array_get(b, 0), "stalled"), 1);
    assert_int_equal(jget(json_array_get(b, 1), "stalled"), 1);
    assert_int_equal(jget(json_array_get(b, 2), "stalled"), 0);
    json_decref(v);
    pt_close(t);
  }
}

/* Bad arguments name their field; nothing is read. */
static void test_stats_arguments(void **state) {
  (void)state;
  pt_options o = {.db_url = "memory:"};
  pt_tracker *t;
  pt_error err;
  char *doc = NULL;
  TU_ASSERT_OK(pt_open(&o, &t, &err), &err);
  assert_int_equal(pt_stats(t, "checkout_digital", 100, 100, &doc, &err), PT_EINVALID);
  assert_string_equal(err.field, "until");
  assert_int_equal(pt_stats(t, "nope", 0, -1, &doc, &err), PT_EUNKNOWN_PIPELINE);
  assert_int_equal(pt_timeseries(t, "checkout_digital", 0, 86400000LL * 400, "hour", &doc, &err),
                   PT_EINVALID);
  assert_string_equal(err.field, "interval");
  assert_int_equal(pt_timeseries(t, "checkout_digital", -1, -1, "week", &doc, &err), PT_EINVALID);
  assert_string_equal(err.field, "interval");
  /* an empty store: zeroes and nulls, never an error */
  TU_ASSERT_OK(pt_stats(t, "signup", 0, -1, &doc, &err), &err);
  json_t *v = tu_json(doc);
  pt_free(doc);
  assert_int_equal(jget(v, "sessions"), 0);
  assert_int_equal(jget(json_object_get(v, "duration_ms"), "p50"), -1);
  json_decref(v);
  pt_close(t);
}

/* A database from before rollups: its sessions are counted at open, a page
 * a transaction. */
static void test_catch_up(void **state) {
  (void)state;
  const char *path = tu_tmp_db("rollups_catch_up");
  char url[600];
  snprintf(url, sizeof url, "sqlite:%s", path);
  pt_tracker *t = tu_open(url, 0);
  /* more sessions than one page of the catch-up */
  enum { N = 1234 }; /* 2 x 617 */
  static pt_event_in evs[N];
  static char ids[N][16];
  tu_clock_ms = 1700000000000;
  for (int i = 0; i < N; i++) {
    snprintf(ids[i], sizeof ids[i], "c%04d", i);
    evs[i] = (pt_event_in){.session_id = ids[i],
                           .pipeline_type = "checkout_digital",
                           .step = i % 3 ? "checkout_started" : "payment_initiated",
                           .status = i % 5 ? PT_SUCCESS : PT_FAILURE,
                           .ts = -1};
  }
  pt_batch_result *br;
  pt_error err;
  for (int i = 0; i < N; i += 617) { /* at most 1000 a batch */
    TU_ASSERT_OK(pt_track_batch(t, evs + i, 617, 0, &br, &err), &err);
    pt_batch_result_free(br);
  }
  char *before = stats_doc(t, "checkout_digital", 0, -1);
  pt_close(t);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "DELETE FROM rollups; INSERT INTO rollup_todo VALUES ('');",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  t = tu_open(url, 0);
  char *after = stats_doc(t, "checkout_digital", 0, -1);
  if (strcmp(before, after)) {
    size_t i = 0;
    while (before[i] == after[i]) i++;
    fail_msg("differs at %zu: before ...%.80s, after ...%.80s", i, before + (i > 40 ? i - 40 : 0),
             after + (i > 40 ? i - 40 : 0));
  }
  json_t *v = tu_json(after);
  assert_int_equal(jget(v, "sessions"), N);
  assert_int_equal(jget(v, "failed"), (N + 4) / 5);
  json_decref(v);
  pt_free(before);
  pt_free(after);
  pt_close(t);
  /* done once: nothing is left to do */
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM rollup_todo", -1, &q, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(q, 0), 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hist_bins),
      cmocka_unit_test_setup(test_stats_match_recount, setup),
      cmocka_unit_test(test_stats_arguments),
      cmocka_unit_test_setup(test_stalled_counted, setup),
      cmocka_unit_test(test_catch_up),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
