/* test_sqlite.c - what only the SQLite backend has: data survives reopening,
 * the schema is versioned, and tampering with the file is caught by
 * verification naming the altered event. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static void exec(const char *path, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
  sqlite3_close(db);
}

static int64_t query_int(const char *path, const char *sql) {
  sqlite3 *db;
  sqlite3_stmt *q;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

static pt_tracker *open_lag(const char *path, int64_t row_lag_ms) {
  char url[600];
  snprintf(url, sizeof url, "sqlite:%s", path);
  return tu_open_lag(url, 1, row_lag_ms);
}

static pt_tracker *open_at(const char *path) {
  return open_lag(path, 0);
}

static void fill(pt_tracker *t, const char *sid, int n) {
  const char *steps[] = {"checkout_started", "payment_initiated", "payment_confirmed",
                         "checkout_completed"};
  for (int i = 0; i < n; i++) tu_track(t, sid, "checkout_digital", steps[i % 4], PT_SUCCESS, NULL);
}

static void verify_doc(pt_tracker *t, const char *sid, int want_ok, json_t **out) {
  char *doc;
  int ok;
  pt_error err;
  TU_ASSERT_OK(pt_verify(t, sid, &ok, &doc, &err), &err);
  assert_int_equal(ok, want_ok);
  *out = tu_json(doc);
  pt_free(doc);
}

static void test_persists_across_reopen(void **state) {
  (void)state;
  const char *path = tu_tmp_db("persist");
  pt_tracker *t = open_at(path);
  fill(t, "p1", 3);
  char *before;
  pt_error err;
  TU_ASSERT_OK(pt_checksum(t, "p1", &before, &err), &err);
  pt_close(t);
  assert_int_equal(query_int(path, "SELECT version FROM schema_version"), 6);
  t = open_at(path); /* migrations are idempotent */
  char *after;
  TU_ASSERT_OK(pt_checksum(t, "p1", &after, &err), &err);
  assert_string_equal(before, after);
  assert_int_equal(tu_track(t, "p1", "checkout_digital", "checkout_completed", PT_SUCCESS, NULL),
                   3);
  pt_free(before);
  pt_free(after);
  pt_close(t);
}

static void test_newer_schema_refused(void **state) {
  (void)state;
  const char *path = tu_tmp_db("newer");
  pt_close(open_at(path));
  exec(path, "UPDATE schema_version SET version = 99");
  char url[600];
  snprintf(url, sizeof url, "sqlite:%s", path);
  pt_options o = {.db_url = url};
  pt_tracker *t;
  pt_error err;
  assert_int_equal(pt_open(&o, &t, &err), PT_ESTORAGE);
  assert_null(t);
  assert_non_null(strstr(err.message, "schema version 99"));
}

static void test_tamper_event_is_named(void **state) {
  (void)state;
  const char *path = tu_tmp_db("tamper");
  pt_tracker *t = open_at(path);
  fill(t, "tam", 4);
  fill(t, "other", 2);
  pt_close(t);
  /* Change the stored status of seq 2, as someone editing the file would. */
  exec(path, "UPDATE events SET status = 2 WHERE session_id = 'tam' AND seq = 2");
  t = open_at(path);
  json_t *v;
  verify_doc(t, "tam", 0, &v);
  json_t *mm = json_object_get(v, "mismatches");
  json_t *first = json_array_get(mm, 0);
  assert_string_equal(json_string_value(json_object_get(first, "kind")), "event");
  assert_int_equal(json_integer_value(json_object_get(first, "seq")), 2);
  /* only seq 2 among the events: later links still chain from stored links */
  size_t i;
  json_t *m;
  int events = 0, snaps = 0;
  json_array_foreach(mm, i, m) {
    const char *kind = json_string_value(json_object_get(m, "kind"));
    if (strcmp(kind, "event") == 0) events++;
    if (strcmp(kind, "snapshot") == 0) snaps++;
  }
  assert_int_equal(events, 1);
  assert_int_equal(snaps, 2); /* the snapshots at 3 and 4 events no longer match */
  json_decref(v);
  verify_doc(t, "other", 1, &v); /* other sessions are untouched */
  json_decref(v);
  pt_close(t);

  /* Rewriting a payload breaks its digest. */
  exec(path, "UPDATE events SET input = '{\"evil\":1}' WHERE session_id = 'other' AND seq = 1");
  t = open_at(path);
  verify_doc(t, "other", 0, &v);
  first = json_array_get(json_object_get(v, "mismatches"), 0);
  assert_int_equal(json_integer_value(json_object_get(first, "seq")), 1);
  assert_string_equal(json_string_value(json_object_get(first, "reason")),
                      "input no longer matches input_sha256");
  json_decref(v);
  pt_close(t);

  /* Deleting the last event: the session row and a snapshot disagree. */
  exec(path, "DELETE FROM events WHERE session_id = 'other' AND seq = 1");
  t = open_at(path);
  verify_doc(t, "other", 0, &v);
  json_t *kinds = json_object_get(v, "mismatches");
  int session_flagged = 0;
  json_array_foreach(kinds, i, m) session_flagged |=
      strcmp(json_string_value(json_object_get(m, "kind")), "session") == 0;
  assert_true(session_flagged);
  json_decref(v);
  pt_close(t);
}

static void test_tampered_snapshot_is_named(void **state) {
  (void)state;
  const char *path = tu_tmp_db("tamsnap");
  pt_tracker *t = open_at(path);
  fill(t, "ts", 2);
  pt_close(t);
  exec(path,
       "UPDATE snapshots SET chain_hash = replace(chain_hash, substr(chain_hash, 1, 1), 'z')"
       " WHERE event_count = 1");
  t = open_at(path);
  json_t *v;
  verify_doc(t, "ts", 0, &v);
  json_t *m = json_array_get(json_object_get(v, "mismatches"), 0);
  assert_string_equal(json_string_value(json_object_get(m, "kind")), "snapshot");
  assert_non_null(strstr(json_string_value(json_object_get(m, "id")), "reg_ts_"));
  assert_int_equal(json_array_size(json_object_get(v, "mismatches")), 1);
  json_decref(v);
  pt_close(t);
}

/* Two trackers (two writer connections, as two processes would be) on one
 * file, alternating on one session: each sees the other's appends, so seqs
 * stay gap-free and the chain verifies (the session cache must notice). */
static void test_two_writers_on_one_file(void **state) {
  (void)state;
  const char *path = tu_tmp_db("twowriters");
  pt_tracker *a = open_at(path), *b = open_at(path);
  const char *steps[] = {"checkout_started", "payment_initiated", "payment_confirmed",
                         "checkout_completed"};
  for (int i = 0; i < 40; i++) {
    pt_tracker *t = (i % 3 == 0) ? b : a;
    assert_int_equal(tu_track(t, "shared", "checkout_digital", steps[i % 4], PT_SUCCESS, NULL), i);
  }
  json_t *v;
  verify_doc(a, "shared", 1, &v);
  assert_int_equal(json_integer_value(json_object_get(v, "checked_events")), 40);
  json_decref(v);
  pt_close(a);
  pt_close(b);
}

/* Session rows are written behind their events. With rows held back (a
 * huge sqlite_row_lag_ms), every reader and writer must still see the
 * whole session: another tracker on the file, and one opened after a
 * process died without closing. */
static void test_lagging_rows_are_folded(void **state) {
  (void)state;
  const char *path = tu_tmp_db("lagging");
  pt_tracker *a = open_lag(path, 100000000);
  fill(a, "lag", 3);
  /* the row holds the first event only: the rest are staged in memory */
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT event_count FROM sessions WHERE session_id = 'lag'");
  assert_int_equal(query_int(path, sql), 1);
  char *ca, *cb;
  pt_error err;
  TU_ASSERT_OK(pt_checksum(a, "lag", &ca, &err), &err);
  pt_tracker *b = open_lag(path, 100000000);
  TU_ASSERT_OK(pt_checksum(b, "lag", &cb, &err), &err); /* folds events 1 and 2 */
  assert_string_equal(ca, cb);
  pt_free(ca);
  pt_free(cb);
  /* writers alternate: each folds what the other appended */
  assert_int_equal(tu_track(b, "lag", "checkout_digital", "checkout_completed", PT_SUCCESS, NULL),
                   3);
  assert_int_equal(tu_track(a, "lag", "checkout_digital", "checkout_completed", PT_SUCCESS, NULL),
                   4);
  assert_int_equal(tu_track(b, "lag", "checkout_digital", "checkout_completed", PT_SUCCESS, NULL),
                   5);
  json_t *v;
  verify_doc(a, "lag", 1, &v);
  assert_int_equal(json_integer_value(json_object_get(v, "checked_events")), 6);
  assert_int_equal(json_integer_value(json_object_get(v, "checked_snapshots")), 6);
  json_decref(v);
  /* however long flushes wait, a row never lags by 32 events or more, so a
   * read folds at most that many */
  for (int i = 0; i < 100; i++)
    tu_track(a, "bounded", "checkout_digital", "checkout_started", PT_STARTED, NULL);
  assert_true(query_int(path, "SELECT event_count FROM sessions WHERE session_id = 'bounded'") >
              100 - 32);
  pt_close(a);
  pt_close(b);
  assert_int_equal(query_int(path, sql), 6); /* closing wrote the rows */

  /* a process that dies without closing leaves lagging rows behind */
  pid_t pid = fork();
  if (pid == 0) {
    pt_tracker *c = open_lag(path, 100000000);
    fill(c, "lag", 3); /* seq 6, 7, 8 */
    fill(c, "died", 4);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(query_int(path, sql), 6);
  pt_tracker *d = open_at(path);
  verify_doc(d, "lag", 1, &v);
  assert_int_equal(json_integer_value(json_object_get(v, "checked_events")), 9);
  json_decref(v);
  char *doc;
  TU_ASSERT_OK(pt_checksum(d, "died", &doc, &err), &err);
  json_t *cs = tu_json(doc);
  pt_free(doc);
  assert_int_equal(json_integer_value(json_object_get(cs, "event_count")), 4);
  assert_string_equal(json_string_value(json_object_get(cs, "state")), "completed");
  json_decref(cs);
  assert_int_equal(tu_track(d, "lag", "checkout_digital", "checkout_completed", PT_SUCCESS, NULL),
                   9);
  pt_close(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_persists_across_reopen),
      cmocka_unit_test(test_newer_schema_refused),
      cmocka_unit_test(test_tamper_event_is_named),
      cmocka_unit_test(test_tampered_snapshot_is_named),
      cmocka_unit_test(test_two_writers_on_one_file),
      cmocka_unit_test(test_lagging_rows_are_folded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
