/* test_listings.c - the listings on indexes, on every backend: sessions by
 * type, by state and by both with their pages, the stall sweep's progress
 * kept in the store across restarts, the state codes recomputed when the
 * definitions change, a store made by the schema before the codes, and the
 * memory store's sorted sets against a sort. */
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/internal.h"
#include "store/oset.h"
#include "testutil.h"

static char urls[TU_STORES_MAX][TU_URL_SIZE];
static size_t nurls;

static int setup(void **state) {
  (void)state;
  nurls = tu_store_urls("listings", urls, TU_STORES_MAX);
  return 0;
}

#define EACH_BACKEND TU_EACH_URL(urls, nurls, url)

#define T0 1000000000LL

/* The session ids of a sessions page, comma-separated, into out; the
 * next_cursor into cursor ("" for null). */
static void page(pt_tracker *t, const char *type, const char *state, int limit, const char *after,
                 char *out, size_t n, char *cursor, size_t cn) {
  char *doc;
  pt_error err;
  TU_ASSERT_OK(pt_sessions(t, type, state, limit, after, &doc, &err), &err);
  json_t *v = tu_json(doc);
  pt_free(doc);
  json_t *items = json_object_get(v, "items");
  size_t len = 0;
  out[0] = 0;
  for (size_t i = 0; i < json_array_size(items); i++) {
    json_t *it = json_array_get(items, i);
    const char *sid = json_string_value(json_object_get(it, "session_id"));
    /* what a listing by state shows is that state */
    if (state) assert_string_equal(json_string_value(json_object_get(it, "state")), state);
    len += (size_t)snprintf(out + len, n - len, "%s%s", i ? "," : "", sid);
  }
  const char *c = json_string_value(json_object_get(v, "next_cursor"));
  if (cursor) snprintf(cursor, cn, "%s", c ? c : "");
  json_decref(v);
}

static void expect(pt_tracker *t, const char *type, const char *state, const char *want) {
  char got[1024];
  page(t, type, state, 0, NULL, got, sizeof got, NULL, 0);
  if (strcmp(got, want) != 0)
    fail_msg("sessions type=%s state=%s: got [%s], want [%s]", type ? type : "-",
             state ? state : "-", got, want);
}

static void track_ts(pt_tracker *t, const char *sid, const char *type, const char *step,
                     pt_event_status st, int64_t ts) {
  pt_event_in ev = {.session_id = sid, .pipeline_type = type, .step = step, .status = st, .ts = ts};
  pt_track_result *r = NULL;
  pt_error err;
  TU_ASSERT_OK(pt_track(t, &ev, PT_SNAPSHOT_DEFAULT, &r, &err), &err);
  pt_track_result_free(r);
}

static const char *const CHECKOUT[] = {"checkout_started", "payment_initiated", "payment_confirmed",
                                       "checkout_completed"};

/* One session of each state; the clock ends 900.5 s after the first (the
 * checkout stall time is 900 s, signup's a day). */
static void fill(pt_tracker *t) {
  tu_clock_ms = T0;
  tu_track(t, "s1", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
  tu_clock_ms = T0 + 1000;
  for (int i = 0; i < 4; i++) tu_track(t, "c1", "checkout_digital", CHECKOUT[i], PT_SUCCESS, NULL);
  tu_clock_ms = T0 + 2000;
  tu_track(t, "f1", "checkout_digital", "checkout_started", PT_FAILURE, NULL);
  tu_clock_ms = T0 + 3000;
  tu_track(t, "g1", "signup", "account_created", PT_SUCCESS, NULL);
  tu_clock_ms = T0 + 4000;
  tu_track(t, "g2", "signup", "account_created", PT_SUCCESS, NULL);
  tu_track(t, "g2", "signup", "email_verified", PT_SUCCESS, NULL);
  tu_clock_ms = T0 + 900500;
  tu_track(t, "a1", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
  /* a client clock an hour ahead: in progress until an hour and 900 s on */
  track_ts(t, "h1", "checkout_digital", "checkout_started", PT_SUCCESS, T0 + 900500 + 3600000);
  tu_clock_ms = T0 + 900600;
}

static void test_by_type_state_and_both(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    fill(t);
    expect(t, NULL, NULL, "h1,a1,g2,g1,f1,c1,s1");
    expect(t, "signup", NULL, "g2,g1");
    expect(t, "checkout_digital", NULL, "h1,a1,f1,c1,s1");
    expect(t, "data_job", NULL, "");
    expect(t, NULL, "completed", "g2,c1");
    expect(t, NULL, "failed", "f1");
    expect(t, NULL, "pending", "");
    expect(t, NULL, "stalled", "s1");
    expect(t, NULL, "in_progress", "h1,a1,g1");
    expect(t, "checkout_digital", "in_progress", "h1,a1");
    expect(t, "checkout_digital", "completed", "c1");
    expect(t, "signup", "completed", "g2");
    expect(t, "signup", "in_progress", "g1");
    expect(t, "signup", "stalled", "");
    /* time passes: a1 stalls (h1's ts is still ahead), then h1 too */
    tu_clock_ms = T0 + 900500 + 900000;
    expect(t, "checkout_digital", "stalled", "a1,s1");
    expect(t, "checkout_digital", "in_progress", "h1");
    tu_clock_ms = T0 + 900500 + 3600000 + 900000;
    expect(t, "checkout_digital", "stalled", "h1,a1,s1");
    expect(t, NULL, "in_progress", "g1");
    /* a failure later: f-state moves the row to another range */
    tu_track(t, "a1", "checkout_digital", "payment_initiated", PT_FAILURE, NULL);
    expect(t, "checkout_digital", "failed", "a1,f1");
    expect(t, "checkout_digital", "stalled", "h1,s1");
    pt_close(t);
  }
}

/* Pages of one, across the cursor, where the page merges two ranges. */
static void test_pages_across_the_cursor(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    fill(t);
    const char *want[] = {"h1", "a1", "g1"};
    char cursor[256] = "", got[256];
    for (int i = 0; i < 3; i++) {
      page(t, NULL, "in_progress", 1, i ? cursor : NULL, got, sizeof got, cursor, sizeof cursor);
      assert_string_equal(got, want[i]);
      if (i < 2) assert_true(cursor[0] != 0);
    }
    assert_string_equal(cursor, "");
    /* by type, two a page */
    page(t, "checkout_digital", NULL, 2, NULL, got, sizeof got, cursor, sizeof cursor);
    assert_string_equal(got, "h1,a1");
    page(t, "checkout_digital", NULL, 2, cursor, got, sizeof got, cursor, sizeof cursor);
    assert_string_equal(got, "f1,c1");
    page(t, "checkout_digital", NULL, 2, cursor, got, sizeof got, cursor, sizeof cursor);
    assert_string_equal(got, "s1");
    assert_string_equal(cursor, "");
    /* by both */
    page(t, "signup", "completed", 1, NULL, got, sizeof got, cursor, sizeof cursor);
    assert_string_equal(got, "g2");
    assert_string_equal(cursor, "");
    pt_close(t);
  }
}

static uint64_t sweep_rows(pt_tracker *t) {
  pt_tracker_stats st;
  pt__stats(t, &st);
  return st.sweep_rows;
}

/* The sweep reads only sessions whose activity crossed the stall line
 * since the last sweep (their deadline), of the states that can stall; its
 * progress is in the store, so a restart reads nothing read before. */
static void test_sweep_progress_persists(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    fill(t);
    pt_error err;
    int64_t n;
    tu_clock_ms = T0 + 900500 + 900000;
    TU_ASSERT_OK(pt_sweep_stalls(t, &n, &err), &err);
    /* s1 and a1 stalled; h1 (in progress by its ts) looked at; c1, f1, g2
     * never read; g1 not past signup's day */
    assert_int_equal(n, 2);
    assert_int_equal(sweep_rows(t), 3);
    TU_ASSERT_OK(pt_sweep_stalls(t, &n, &err), &err);
    assert_int_equal(n, 0);
    assert_int_equal(sweep_rows(t), 3); /* nothing read twice */
    if (tu_store_persists(url)) {
      pt_close(t);
      t = tu_open(url, 0);
      TU_ASSERT_OK(pt_sweep_stalls(t, &n, &err), &err);
      assert_int_equal(n, 0);
      assert_int_equal(sweep_rows(t), 0); /* a start reads nothing old */
    }
    /* a new session crosses the line: read alone */
    uint64_t before = sweep_rows(t);
    tu_track(t, "late", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    tu_clock_ms += 901 * 1000;
    TU_ASSERT_OK(pt_sweep_stalls(t, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_int_equal(sweep_rows(t) - before, 1);
    char *doc;
    TU_ASSERT_OK(pt_issues(t, NULL, NULL, 10, NULL, &doc, &err), &err);
    json_t *v = tu_json(doc);
    pt_free(doc);
    json_t *it = json_array_get(json_object_get(v, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(it, "fingerprint")),
                        "checkout_digital/*/stalled");
    assert_int_equal(json_integer_value(json_object_get(it, "sessions_affected")), 3);
    json_decref(v);
    pt_close(t);
  }
}

/* A load of definitions recomputes the stored codes of the types whose
 * definition changed (a required step more: completed is in progress). */
static void test_codes_follow_definitions(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    fill(t);
    static const char DEFS[] =
        "{\"pipelines\":[{\"type\":\"signup\",\"steps\":[\"account_created\","
        "\"email_verified\",\"profile_completed\"],\"optional\":[],\"stall_after_s\":86400}]}";
    pt_error err;
    TU_ASSERT_OK(pt_definitions_load(t, DEFS, strlen(DEFS), &err), &err);
    expect(t, "signup", "in_progress", "g2,g1");
    expect(t, "signup", "completed", "");
    expect(t, NULL, "completed", ""); /* c1: its type is no longer defined */
    expect(t, NULL, "unknown_pipeline", "h1,a1,f1,c1,s1");
    pt_close(t);
  }
}

/* ---- a store made by the schema before the state codes ---- */

static void sql_run(const char *url, const char *sql) {
  const char *path = tu_sqlite_path(url);
  if (path) {
    sqlite3 *db;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
    return;
  }
  PGconn *c = PQconnectdb(url);
  if (PQstatus(c) != CONNECTION_OK) fail_msg("%s", PQerrorMessage(c));
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s: %s", sql, PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
}

static int64_t sql_int(const char *url, const char *sql) {
  const char *path = tu_sqlite_path(url);
  int64_t v = -1;
  if (path) {
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW) v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
  }
  PGconn *c = PQconnectdb(url);
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r)) v = strtoll(PQgetvalue(r, 0, 0), 0, 10);
  PQclear(r);
  PQfinish(c);
  return v;
}

static void test_old_store_migrated(void **state) {
  (void)state;
  EACH_BACKEND {
    if (!tu_store_persists(url)) continue;
    pt_tracker *t = tu_open(url, 0);
    fill(t);
    pt_close(t);
    /* back to the schema before: no state column, index, marks, rollups
     * (SQLite version 4, PostgreSQL version 1), rows as the old code wrote
     * them */
    int sqlite = tu_sqlite_path(url) != NULL;
    sql_run(url,
            "DROP INDEX sessions_by_type; DROP INDEX sessions_by_state;"
            "DROP INDEX sessions_by_type_state; DROP TABLE marks;"
            "ALTER TABLE sessions DROP COLUMN state; DROP TABLE rollups;"
            "DROP TABLE rollup_todo; DROP INDEX sessions_by_created;");
    sql_run(url, sqlite ? "UPDATE schema_version SET version = 4"
                        : "UPDATE schema_version SET version = 1");
    t = tu_open(url, 0);
    assert_int_equal(sql_int(url, "SELECT version FROM schema_version"), sqlite ? 6 : 3);
    /* the rollups were counted at the same open */
    assert_int_equal(sql_int(url, "SELECT count(*) FROM rollup_todo"), 0);
    assert_true(sql_int(url, "SELECT count(*) FROM rollups") > 0);
    /* every row has its code from the first open */
    assert_int_equal(sql_int(url, "SELECT count(*) FROM sessions WHERE state = 0"), 0);
    assert_int_equal(sql_int(url, "SELECT count(*) FROM sessions WHERE state = 4"), 2);
    expect(t, NULL, "completed", "g2,c1");
    expect(t, NULL, "stalled", "s1");
    expect(t, "checkout_digital", "in_progress", "h1,a1");
    pt_close(t);
  }
}

/* ---- the memory store's sorted sets, against a sorted array ---- */

typedef struct walked {
  pt_onode *got[64];
  int n, stop_at;
} walked;

static int collect(void *ctx, pt_onode *n) {
  walked *w = ctx;
  w->got[w->n++] = n;
  return w->n == w->stop_at;
}

static int key_cmp(const pt_onode *a, int64_t ms, const char *id) {
  return a->ms != ms ? (a->ms < ms ? -1 : 1) : strcmp(a->id, id);
}

static void test_oset_against_a_sort(void **state) {
  (void)state;
  enum { N = 64 };
  pt_onode nodes[N];
  char ids[N][8];
  int in[N] = {0};
  pt_oset set = {0};
  unsigned seed = 12345;
  for (int round = 0; round < 20000; round++) {
    seed = seed * 1103515245u + 12345u;
    int k = (int)((seed >> 8) % N);
    if (in[k]) {
      pt_oset_remove(&set, &nodes[k]);
      in[k] = 0;
    } else {
      snprintf(ids[k], sizeof ids[k], "s%02d", k);
      nodes[k].ms = (int64_t)((seed >> 16) % 8); /* many equal times */
      nodes[k].id = ids[k];
      nodes[k].owner = &nodes[k];
      pt_oset_insert(&set, &nodes[k]);
      in[k] = 1;
    }
    /* a walk from a random position with a random lower bound and stop */
    int64_t before_ms = (int64_t)((seed >> 4) % 9), after_ms = (int64_t)((seed >> 12) % 5) - 1;
    char before_id[8];
    snprintf(before_id, sizeof before_id, "s%02d", (int)((seed >> 20) % N));
    int from_top = (seed >> 28) & 1;
    walked w = {.stop_at = (int)((seed >> 24) % 10) + 1};
    pt_oset_walk(&set, after_ms, before_ms, from_top ? NULL : before_id, collect, &w);
    /* the expected: every member in the bounds, descending */
    int want = 0;
    const pt_onode *prev = NULL;
    for (int taken = 0; taken < w.stop_at; taken++) {
      const pt_onode *best = NULL;
      for (int i = 0; i < N; i++) {
        if (!in[i] || nodes[i].ms <= after_ms) continue;
        if (!from_top && key_cmp(&nodes[i], before_ms, before_id) >= 0) continue;
        if (prev && key_cmp(&nodes[i], prev->ms, prev->id) >= 0) continue;
        if (!best || key_cmp(&nodes[i], best->ms, best->id) > 0) best = &nodes[i];
      }
      if (!best) break;
      assert_true(want < w.n);
      assert_ptr_equal(w.got[want], best);
      want++;
      prev = best;
    }
    assert_int_equal(w.n, want);
  }
}

/* Checks a sessions page (out, freed here): its ids in order, comma-
 * separated, each rendered as the listing does, and its next_cursor (NULL:
 * null); what names the call in a failure. */
static void check_page(char *out, const char *what, const char *want_ids, const char *want_next) {
  json_t *d = tu_json(out);
  char got[512] = "";
  json_t *it;
  size_t i;
  json_array_foreach(json_object_get(d, "items"), i, it) {
    if (i) strcat(got, ",");
    strcat(got, json_string_value(json_object_get(it, "session_id")));
    assert_non_null(json_object_get(it, "state"));
  }
  if (strcmp(got, want_ids) != 0) fail_msg("%s: got [%s], want [%s]", what, got, want_ids);
  json_t *next = json_object_get(d, "next_cursor");
  if (want_next)
    assert_string_equal(json_string_value(next), want_next);
  else
    assert_true(json_is_null(next));
  json_decref(d);
  free(out);
}

/* The ids of a search page, comma-separated, and its next cursor. */
static void expect_prefix(pt_tracker *t, const char *prefix, int limit, const char *cursor,
                          const char *want_ids, const char *want_next) {
  char *out;
  pt_error err;
  TU_ASSERT_OK(pt_sessions_prefix(t, prefix, limit, cursor, &out, &err), &err);
  char what[160];
  snprintf(what, sizeof what, "prefix %s", prefix);
  check_page(out, what, want_ids, want_next);
}

/* Sessions by id prefix: in id order, paged, exact on every backend; new
 * sessions (rows written behind) are found at once. */
static void test_by_id_prefix(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    const char *ids[] = {"chk_b2", "chk_a10", "chk_a2", "chk_a1", "chka", "job_1", "chk_"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
      tu_track(t, ids[i], "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    expect_prefix(t, "chk_a", 0, NULL, "chk_a1,chk_a10,chk_a2", NULL);
    expect_prefix(t, "chk_", 0, NULL, "chk_,chk_a1,chk_a10,chk_a2,chk_b2", NULL);
    expect_prefix(t, "chk_", 2, NULL, "chk_,chk_a1", "chk_a1");
    expect_prefix(t, "chk_", 2, "chk_a1", "chk_a10,chk_a2", "chk_a2");
    expect_prefix(t, "chk_", 2, "chk_a2", "chk_b2", NULL);
    expect_prefix(t, "job_1", 0, NULL, "job_1", NULL);
    expect_prefix(t, "zzz", 0, NULL, "", NULL);
    char *out;
    pt_error err;
    assert_int_equal(pt_sessions_prefix(t, "a b", 0, NULL, &out, &err), PT_EINVALID);
    assert_string_equal(err.field, "id_prefix");
    assert_int_equal(pt_sessions_prefix(t, "a", 0, "x y", &out, &err), PT_EINVALID);
    assert_string_equal(err.field, "cursor");
    pt_close(t);
  }
}

/* The ids of a sessions page within [since, until), and its cursor. */
static void expect_window(pt_tracker *t, const char *state, int64_t since, int64_t until, int limit,
                          const char *cursor, const char *want_ids, const char *want_next) {
  char *out;
  pt_error err;
  TU_ASSERT_OK(pt_sessions_range(t, NULL, state, since, until, limit, cursor, &out, &err), &err);
  char what[160];
  snprintf(what, sizeof what, "window [%lld, %lld) %s", (long long)since, (long long)until,
           state ? state : "-");
  check_page(out, what, want_ids, want_next);
}

/* Sessions whose latest activity falls in [since, until): both bounds on
 * the listing's own index, with a state's ranges, across pages. */
static void test_sessions_in_a_window(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    fill(t); /* activity: s1 T0, c1 +1 s, f1 +2 s, g1 +3 s, g2 +4 s, a1 and h1 +900.5 s */
    expect_window(t, NULL, T0 + 1000, T0 + 4000, 0, NULL, "g1,f1,c1", NULL);
    expect_window(t, NULL, T0 + 4000, -1, 0, NULL, "h1,a1,g2", NULL);
    expect_window(t, NULL, -1, T0 + 2000, 0, NULL, "c1,s1", NULL);
    expect_window(t, NULL, T0 + 4001, T0 + 900500, 0, NULL, "", NULL);
    expect_window(t, "completed", T0 + 1000, T0 + 4001, 0, NULL, "g2,c1", NULL);
    expect_window(t, "completed", T0 + 1001, T0 + 4001, 0, NULL, "g2", NULL);
    expect_window(t, "in_progress", T0 + 3000, -1, 0, NULL, "h1,a1,g1", NULL);
    expect_window(t, "in_progress", T0 + 3001, T0 + 900501, 0, NULL, "h1,a1", NULL);
    /* pages of one: the cursor carries the position, the window stays */
    char c1[64], c2[64];
    snprintf(c1, sizeof c1, "%lld.g1", (long long)(T0 + 3000));
    snprintf(c2, sizeof c2, "%lld.f1", (long long)(T0 + 2000));
    expect_window(t, NULL, T0 + 1000, T0 + 4000, 1, NULL, "g1", c1);
    expect_window(t, NULL, T0 + 1000, T0 + 4000, 1, c1, "f1", c2);
    expect_window(t, NULL, T0 + 1000, T0 + 4000, 2, c2, "c1", NULL);
    /* a cursor from above the window starts at the window's end */
    expect_window(t, NULL, T0 + 1000, T0 + 2001, 0, c1, "f1,c1", NULL);
    char *out;
    pt_error err;
    assert_int_equal(pt_sessions_range(t, NULL, NULL, T0, T0, 0, NULL, &out, &err), PT_EINVALID);
    assert_string_equal(err.field, "until");
    pt_close(t);
  }
}

static void fail_code(pt_tracker *t, const char *sid, const char *code, char issue_id[32]) {
  pt_event_in ev = {.session_id = sid,
                    .pipeline_type = "checkout_digital",
                    .step = "checkout_started",
                    .status = PT_FAILURE,
                    .ts = -1,
                    .error_code = code,
                    .error_message = "refused"};
  pt_track_result *r = NULL;
  pt_error err;
  TU_ASSERT_OK(pt_track(t, &ev, PT_SNAPSHOT_DEFAULT, &r, &err), &err);
  if (issue_id) snprintf(issue_id, 32, "%s", r->issue_id);
  pt_track_result_free(r);
}

/* The codes of an issues page within the window, comma-separated. */
static void expect_issues(pt_tracker *t, int64_t since, int64_t until, int limit,
                          const char *want_codes, int want_more) {
  char *out;
  pt_error err;
  TU_ASSERT_OK(pt_issues_range(t, NULL, NULL, since, until, limit, NULL, &out, &err), &err);
  json_t *d = tu_json(out);
  char got[256] = "";
  json_t *it;
  size_t i;
  json_array_foreach(json_object_get(d, "items"), i, it) {
    if (i) strcat(got, ",");
    strcat(got, json_string_value(json_object_get(it, "code")));
  }
  if (strcmp(got, want_codes) != 0)
    fail_msg("issues [%lld, %lld): got [%s], want [%s]", (long long)since, (long long)until, got,
             want_codes);
  assert_int_equal(!json_is_null(json_object_get(d, "next_cursor")), want_more);
  json_decref(d);
  free(out);
}

/* The buckets of an issue's series as "n,n,...", and its total. */
static void expect_series(pt_tracker *t, const char *id, int64_t since, int64_t until,
                          const char *want, int64_t want_total, int64_t want_since) {
  char *out;
  pt_error err;
  TU_ASSERT_OK(pt_issue_timeseries(t, id, since, until, "minute", &out, &err), &err);
  json_t *d = tu_json(out);
  char got[256] = "";
  json_t *it;
  size_t i;
  json_array_foreach(json_object_get(d, "buckets"), i, it) {
    size_t n = strlen(got);
    snprintf(got + n, sizeof got - n, "%s%lld", i ? "," : "",
             (long long)json_integer_value(json_object_get(it, "sessions")));
    assert_int_equal(json_integer_value(json_object_get(it, "start")),
                     want_since + 60000 * (int64_t)i);
  }
  if (strcmp(got, want) != 0) fail_msg("series of %s: got [%s], want [%s]", id, got, want);
  assert_int_equal(json_integer_value(json_object_get(d, "total")), want_total);
  assert_int_equal(json_integer_value(json_object_get(d, "since")), want_since);
  assert_string_equal(json_string_value(json_object_get(d, "interval")), "minute");
  json_decref(d);
  free(out);
}

/* Issues seen in a window (first seen before its end, last seen at or
 * after its start), and an issue's sessions per bucket of their latest
 * failure of it, on every backend. */
static void test_issues_in_a_window_and_series(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    char a[32], b[32], c[32];
    tu_clock_ms = T0;
    fail_code(t, "x1", "declined", a); /* declined: first T0, last T0 + 200 s */
    tu_clock_ms = T0 + 5000;
    fail_code(t, "y1", "timeout", b); /* timeout: only T0 + 5 s */
    tu_clock_ms = T0 + 120000;
    fail_code(t, "x2", "declined", NULL);
    tu_clock_ms = T0 + 130000;
    fail_code(t, "x3", "declined", NULL);
    tu_clock_ms = T0 + 150000;
    fail_code(t, "z1", "fraud", c); /* fraud: only T0 + 150 s */
    tu_clock_ms = T0 + 200000;
    fail_code(t, "x1", "declined", NULL); /* x1 again: its latest failure moves */
    tu_clock_ms = T0 + 250000;
    expect_issues(t, -1, -1, 0, "declined,fraud,timeout", 0);
    expect_issues(t, T0 + 6000, T0 + 8000, 0, "declined", 0);
    expect_issues(t, T0 + 150000, -1, 0, "declined,fraud", 0);
    expect_issues(t, -1, T0 + 5000, 0, "declined", 0);
    expect_issues(t, -1, T0 + 5001, 0, "declined,timeout", 0);
    expect_issues(t, T0 + 150001, -1, 0, "declined", 0);
    expect_issues(t, -1, -1, 1, "declined", 1);
    /* minutes: T0 is 40 s into the minute starting at 999,960,000 */
    expect_series(t, a, T0, T0 + 240000, "0,0,2,0,1", 3, 999960000LL);
    expect_series(t, a, T0 + 150000, T0 + 240000, "0,1", 1, 1000140000LL);
    expect_series(t, b, T0, T0 + 60000, "1,0", 1, 999960000LL);
    expect_series(t, c, T0, T0 + 60000, "0,0", 0, 999960000LL);
    char *out;
    pt_error err;
    assert_int_equal(pt_issue_timeseries(t, "iss_nope", -1, -1, NULL, &out, &err), PT_ENOTFOUND);
    assert_int_equal(pt_issue_timeseries(t, a, -1, -1, "week", &out, &err), PT_EINVALID);
    assert_string_equal(err.field, "interval");
    assert_int_equal(pt_issue_timeseries(t, a, T0, T0 - 1, NULL, &out, &err), PT_EINVALID);
    assert_string_equal(err.field, "until");
    /* past the last date a range takes: refused, not rounded into overflow */
    assert_int_equal(pt_issue_timeseries(t, a, -1, INT64_MAX, "day", &out, &err), PT_EINVALID);
    assert_string_equal(err.field, "until");
    assert_int_equal(pt_timeseries(t, "checkout_digital", -1, INT64_MAX, "day", &out, &err),
                     PT_EINVALID);
    assert_string_equal(err.field, "until");
    assert_int_equal(pt_stats(t, "checkout_digital", 0, INT64_MAX, &out, &err), PT_EINVALID);
    assert_string_equal(err.field, "until");
    TU_ASSERT_OK(pt_issue_timeseries(t, a, 8640000000000000LL - 86400000, 8640000000000000LL, "day",
                                     &out, &err),
                 &err);
    json_t *last = tu_json(out);
    assert_int_equal(json_array_size(json_object_get(last, "buckets")), 1);
    json_decref(last);
    free(out);
    assert_int_equal(pt_issues_range(t, NULL, NULL, T0, T0, 0, NULL, &out, &err), PT_EINVALID);
    assert_string_equal(err.field, "until");
    pt_close(t);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_by_type_state_and_both, setup),
      cmocka_unit_test_setup(test_pages_across_the_cursor, setup),
      cmocka_unit_test_setup(test_sweep_progress_persists, setup),
      cmocka_unit_test_setup(test_codes_follow_definitions, setup),
      cmocka_unit_test_setup(test_old_store_migrated, setup),
      cmocka_unit_test_setup(test_by_id_prefix, setup),
      cmocka_unit_test_setup(test_sessions_in_a_window, setup),
      cmocka_unit_test_setup(test_issues_in_a_window_and_series, setup),
      cmocka_unit_test(test_oset_against_a_sort),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
