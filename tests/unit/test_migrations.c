/* test_migrations.c - SQLite databases of every older schema version (1 to
 * 5), made by hand with the schema those versions shipped, opened by this
 * build: migrated to the current version with their content intact (sessions,
 * events, registry entries with their positions, issues, the outbox), the
 * state codes and rollups computed at open; a migration that fails leaves the
 * database as it was. The schema texts below are frozen copies of what each
 * version created: they must not follow later changes of
 * src/store/sqlite_schema.c. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define CURRENT 6

/* What migration i -> i+1 created, as version i+1 shipped it. */
static const char *const SCHEMA[] = {
    /* 1 */
    "CREATE TABLE sessions ("
    " session_id TEXT PRIMARY KEY, pipeline_type TEXT NOT NULL,"
    " event_count INTEGER NOT NULL, last_link TEXT NOT NULL, last_event_id TEXT NOT NULL,"
    " first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " snap_ms INTEGER NOT NULL, snap_suffix INTEGER NOT NULL, snapshot_count INTEGER NOT NULL,"
    " steps TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE events ("
    " rowid INTEGER PRIMARY KEY,"
    " session_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL,"
    " pipeline_type TEXT NOT NULL, step TEXT NOT NULL, status INTEGER NOT NULL,"
    " ts INTEGER NOT NULL, ts_given INTEGER NOT NULL, received_at INTEGER NOT NULL,"
    " input TEXT NOT NULL, output TEXT NOT NULL, error TEXT NOT NULL,"
    " input_sha256 BLOB NOT NULL, output_sha256 BLOB NOT NULL, link BLOB NOT NULL,"
    " redacted INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX events_by_seq ON events(session_id, seq);"
    "CREATE UNIQUE INDEX events_by_id ON events(session_id, id);"
    "CREATE TABLE snapshots ("
    " rowid INTEGER PRIMARY KEY, id TEXT NOT NULL, session_id TEXT NOT NULL,"
    " pipeline_type TEXT NOT NULL,"
    " chain_hash TEXT NOT NULL, event_count INTEGER NOT NULL, last_event_id TEXT NOT NULL,"
    " completed INTEGER NOT NULL, total INTEGER NOT NULL, percent INTEGER NOT NULL,"
    " state TEXT NOT NULL, is_valid INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    " notes TEXT, signature TEXT);"
    "CREATE UNIQUE INDEX snapshots_by_session ON snapshots(session_id, created_at, id);",
    /* 2 */
    "CREATE INDEX sessions_by_activity ON sessions(updated_at, session_id);"
    "ALTER TABLE snapshots ADD COLUMN n INTEGER NOT NULL DEFAULT -1;"
    "CREATE UNIQUE INDEX snapshots_by_n ON snapshots(session_id, n);"
    "DROP INDEX snapshots_by_session;",
    /* 3 */
    "CREATE TABLE issues ("
    " id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL UNIQUE, pipeline_type TEXT NOT NULL,"
    " step TEXT NOT NULL, code TEXT NOT NULL, open INTEGER NOT NULL, count INTEGER NOT NULL,"
    " sessions_affected INTEGER NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    " resolved_at INTEGER NOT NULL, reopened INTEGER NOT NULL, last_session_id TEXT NOT NULL,"
    " sample_event TEXT) WITHOUT ROWID;"
    "CREATE INDEX issues_by_last_seen ON issues(last_seen, id);"
    "CREATE TABLE issue_sessions ("
    " issue_id TEXT NOT NULL, session_id TEXT NOT NULL, first_seen INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL, PRIMARY KEY (issue_id, session_id)) WITHOUT ROWID;"
    "CREATE INDEX issue_sessions_by_time ON issue_sessions(issue_id, last_seen);",
    /* 4 */
    "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, issue_id TEXT NOT NULL,"
    " action TEXT NOT NULL, created_at INTEGER NOT NULL, next_at INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL);"
    "CREATE INDEX outbox_by_issue ON outbox(issue_id, id);",
    /* 5 */
    "ALTER TABLE sessions ADD COLUMN state INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX sessions_by_type ON sessions(pipeline_type, updated_at, session_id);"
    "CREATE INDEX sessions_by_state ON sessions(state, updated_at, session_id);"
    "CREATE INDEX sessions_by_type_state ON sessions(pipeline_type, state, updated_at, "
    "session_id);"
    "CREATE TABLE marks (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
};

#define SESSION_COLS                                                                     \
  "session_id, pipeline_type, event_count, last_link, last_event_id, first_ts, last_ts," \
  " created_at, updated_at, snap_ms, snap_suffix, snapshot_count, steps"
#define SNAP_COLS                                                                            \
  "rowid, id, session_id, pipeline_type, chain_hash, event_count, last_event_id, completed," \
  " total, percent, state, is_valid, created_at, notes, signature"

static void run(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
}

static int64_t one_int(sqlite3 *db, const char *sql) {
  sqlite3_stmt *q;
  if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  return v;
}

static int64_t path_int(const char *path, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  int64_t v = one_int(db, sql);
  sqlite3_close(db);
  return v;
}

static const char *url_of(const char *path) {
  static char url[TU_URL_SIZE];
  snprintf(url, sizeof url, "sqlite:%s", path);
  return url;
}

static pt_tracker *open_path(const char *path) {
  pt_options o = {.db_url = url_of(path), .clock = NULL, .issue_outbox = 1};
  pt_tracker *t = NULL;
  pt_error err;
  TU_ASSERT_OK(pt_open(&o, &t, &err), &err);
  return t;
}

static void track(pt_tracker *t, const char *sid, const char *step, pt_event_status st,
                  const char *code, int snap) {
  pt_event_in ev = {.session_id = sid,
                    .pipeline_type = "checkout_digital",
                    .step = step,
                    .status = st,
                    .ts = -1,
                    .input_json = "{\"cart\":[1,2.5,\"x\"]}",
                    .error_code = code,
                    .error_message = code ? "declined by the bank" : NULL};
  pt_track_result *r = NULL;
  pt_error err;
  TU_ASSERT_OK(pt_track(t, &ev, snap, &r, &err), &err);
  pt_track_result_free(r);
}

/* The source: what an older build would have written, written by this one
 * (rows are the same in every version; later columns are left out when
 * copied). s_done completed with entries, s_fail failed (an issue and a
 * waiting delivery), s_many in progress with 12 entries (positions past 9:
 * "_10" sorts before "_9" as text). */
static const char *make_source(void) {
  const char *path = tu_tmp_db("migr_source");
  pt_tracker *t = open_path(path);
  track(t, "s_done", "checkout_started", PT_SUCCESS, NULL, 1);
  track(t, "s_done", "payment_initiated", PT_SUCCESS, NULL, 0);
  track(t, "s_done", "payment_confirmed", PT_SUCCESS, NULL, 1);
  track(t, "s_done", "checkout_completed", PT_SUCCESS, NULL, 1);
  track(t, "s_fail", "checkout_started", PT_SUCCESS, NULL, 0);
  track(t, "s_fail", "payment_initiated", PT_FAILURE, "card_declined", 1);
  track(t, "s_many", "checkout_started", PT_SUCCESS, NULL, 0);
  pt_error err;
  for (int i = 0; i < 12; i++) {
    char *doc;
    char notes[16];
    snprintf(notes, sizeof notes, "entry %d", i);
    TU_ASSERT_OK(pt_snapshot(t, "s_many", NULL, notes, &doc, &err), &err);
    pt_free(doc);
  }
  pt_close(t);
  /* what the test relies on */
  assert_int_equal(path_int(path, "SELECT count(*) FROM sessions"), 3);
  assert_int_equal(path_int(path, "SELECT count(*) FROM snapshots"), 16);
  assert_int_equal(path_int(path, "SELECT count(*) FROM issues"), 1);
  assert_int_equal(path_int(path, "SELECT count(*) FROM outbox"), 1);
  assert_int_equal(path_int(path, "SELECT max(n) FROM snapshots WHERE session_id = 's_many'"), 11);
  return path;
}

/* A database at `version` holding the source's rows as that version had
 * them. */
static const char *make_old(const char *source, int version) {
  char name[32];
  snprintf(name, sizeof name, "migr_v%d", version);
  const char *path = tu_tmp_db(name);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  char sql[1024];
  snprintf(sql, sizeof sql, "ATTACH '%s' AS src", source);
  run(db, sql);
  run(db, "BEGIN");
  for (int v = 1; v <= version; v++) run(db, SCHEMA[v - 1]);
  run(db, "CREATE TABLE schema_version (version INTEGER NOT NULL)");
  snprintf(sql, sizeof sql, "INSERT INTO schema_version VALUES (%d)", version);
  run(db, sql);
  run(db, version >= 5 ? "INSERT INTO sessions SELECT * FROM src.sessions"
                       : "INSERT INTO sessions SELECT " SESSION_COLS " FROM src.sessions");
  run(db, "INSERT INTO events SELECT * FROM src.events");
  if (version >= 2)
    run(db, "INSERT INTO snapshots (" SNAP_COLS ", n) SELECT " SNAP_COLS ", n FROM src.snapshots");
  else /* in commit order: version 2 numbers them by rowid */
    run(db, "INSERT INTO snapshots SELECT " SNAP_COLS " FROM src.snapshots ORDER BY rowid");
  if (version >= 3) {
    run(db, "INSERT INTO issues SELECT * FROM src.issues");
    run(db, "INSERT INTO issue_sessions SELECT * FROM src.issue_sessions");
  }
  if (version >= 4) run(db, "INSERT INTO outbox SELECT * FROM src.outbox");
  run(db, "COMMIT");
  run(db, "DETACH src");
  sqlite3_close(db);
  return path;
}

/* Rows of `table` in one database and not the other (both ways). */
static int64_t differ(sqlite3 *db, const char *table, const char *cols) {
  char sql[512];
  snprintf(sql, sizeof sql,
           "SELECT (SELECT count(*) FROM (SELECT %s FROM main.%s EXCEPT SELECT %s FROM src.%s))"
           " + (SELECT count(*) FROM (SELECT %s FROM src.%s EXCEPT SELECT %s FROM main.%s))",
           cols, table, cols, table, cols, table, cols, table);
  return one_int(db, sql);
}

static char *checksum(pt_tracker *t, const char *sid) {
  char *doc;
  pt_error err;
  TU_ASSERT_OK(pt_checksum(t, sid, &doc, &err), &err);
  return doc;
}

static void test_each_old_version(void **state) {
  (void)state;
  const char *source = make_source();
  static const char *sids[] = {"s_done", "s_fail", "s_many"};
  char *want[3];
  pt_tracker *t = open_path(source);
  for (int i = 0; i < 3; i++) want[i] = checksum(t, sids[i]);
  char *want_history;
  pt_error err;
  TU_ASSERT_OK(pt_history(t, "s_many", 3, NULL, &want_history, &err), &err);
  pt_close(t);
  char src_copy[TU_URL_SIZE];
  snprintf(src_copy, sizeof src_copy, "%s", source);

  for (int version = 1; version < CURRENT; version++) {
    print_message("schema version %d\n", version);
    const char *path = make_old(src_copy, version);
    t = open_path(path);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char sql[1024];
    snprintf(sql, sizeof sql, "ATTACH '%s' AS src", src_copy);
    run(db, sql);
    assert_int_equal(one_int(db, "SELECT count(*) FROM schema_version"), 1);
    assert_int_equal(one_int(db, "SELECT version FROM schema_version"), CURRENT);
    /* the rows as they were; the state codes computed at open */
    assert_int_equal(differ(db, "sessions", "*"), 0);
    assert_int_equal(one_int(db, "SELECT count(*) FROM sessions WHERE state = 0"), 0);
    assert_int_equal(differ(db, "events", "*"), 0);
    /* version 1 had no positions: numbered in commit order by 1 -> 2 */
    assert_int_equal(differ(db, "snapshots", "*"), 0);
    assert_int_equal(one_int(db, "SELECT count(*) FROM snapshots WHERE n < 0"), 0);
    /* issues and the outbox exist from versions 3 and 4 on */
    assert_int_equal(differ(db, "issues", "*"), 0 + (version < 3 ? 1 : 0));
    assert_int_equal(one_int(db, "SELECT count(*) FROM issues"), version < 3 ? 0 : 1);
    assert_int_equal(one_int(db, "SELECT count(*) FROM issue_sessions"), version < 3 ? 0 : 1);
    assert_int_equal(one_int(db, "SELECT count(*) FROM outbox"), version < 4 ? 0 : 1);
    /* rollups: counted at this open, equal to the ones kept as events came */
    assert_int_equal(one_int(db, "SELECT count(*) FROM rollup_todo"), 0);
    assert_true(one_int(db, "SELECT count(*) FROM rollups") > 0);
    assert_int_equal(differ(db, "rollups", "*"), 0);
    sqlite3_close(db);

    /* through the library: the same checksums, chains that verify, the
     * newest entries first (by position, not by id text) */
    for (int i = 0; i < 3; i++) {
      char *got = checksum(t, sids[i]);
      assert_string_equal(got, want[i]);
      pt_free(got);
      int ok = 0;
      char *doc;
      TU_ASSERT_OK(pt_verify(t, sids[i], &ok, &doc, &err), &err);
      if (!ok) fail_msg("%s does not verify: %s", sids[i], doc);
      pt_free(doc);
    }
    char *history;
    TU_ASSERT_OK(pt_history(t, "s_many", 3, NULL, &history, &err), &err);
    assert_string_equal(history, want_history);
    json_t *h = tu_json(history);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(h, "items"), 0), "notes")),
        "entry 11");
    json_decref(h);
    pt_free(history);
    /* listed by state from the recomputed codes */
    char *list;
    TU_ASSERT_OK(pt_sessions(t, NULL, "failed", 10, NULL, &list, &err), &err);
    h = tu_json(list);
    assert_int_equal(json_array_size(json_object_get(h, "items")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(h, "items"), 0), "session_id")),
                        "s_fail");
    json_decref(h);
    pt_free(list);
    /* the chain goes on where it was: the next seq, a new entry after 11 */
    track(t, "s_many", "payment_initiated", PT_SUCCESS, NULL, 1);
    pt_close(t);
    assert_int_equal(path_int(path, "SELECT max(seq) FROM events WHERE session_id = 's_many'"), 1);
    assert_int_equal(path_int(path, "SELECT max(n) FROM snapshots WHERE session_id = 's_many'"),
                     12);
    /* opened again: nothing more to migrate */
    t = open_path(path);
    pt_close(t);
    assert_int_equal(path_int(path, "SELECT version FROM schema_version"), CURRENT);
  }
  for (int i = 0; i < 3; i++) pt_free(want[i]);
  pt_free(want_history);
}

/* A version-2 database that already has a table version 3 creates (altered
 * by hand): the migration fails, is rolled back whole and says why; once the
 * stray table is gone the same file opens. */
static void test_failed_migration_rolls_back(void **state) {
  (void)state;
  const char *source = make_source();
  char src_copy[TU_URL_SIZE];
  snprintf(src_copy, sizeof src_copy, "%s", source);
  const char *path = make_old(src_copy, 2);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  run(db, "CREATE TABLE issues (x INTEGER)");
  sqlite3_close(db);
  pt_options o = {.db_url = url_of(path)};
  pt_tracker *t = (pt_tracker *)&o; /* must be set to NULL */
  pt_error err;
  assert_int_equal(pt_open(&o, &t, &err), PT_ESTORAGE);
  assert_null(t);
  assert_non_null(strstr(err.message, "migration"));
  assert_non_null(strstr(err.message, "issues already exists"));
  /* nothing of versions 3 to 6 was left behind */
  assert_int_equal(path_int(path, "SELECT version FROM schema_version"), 2);
  assert_int_equal(path_int(path,
                            "SELECT count(*) FROM sqlite_master WHERE name IN"
                            " ('issue_sessions', 'outbox', 'marks', 'rollups')"),
                   0);
  assert_int_equal(path_int(path, "SELECT count(*) FROM events"), 7);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  run(db, "DROP TABLE issues");
  sqlite3_close(db);
  t = open_path(path);
  char *doc = checksum(t, "s_done");
  pt_free(doc);
  pt_close(t);
  assert_int_equal(path_int(path, "SELECT version FROM schema_version"), CURRENT);
}

/* A store opened read-only (a SQLite URI with mode=ro) is refused at open:
 * the schema's version cannot be recorded. */
static void test_read_only_refused(void **state) {
  (void)state;
  const char *path = tu_tmp_db("migr_ro");
  pt_close(open_path(path));
  char url[TU_URL_SIZE];
  snprintf(url, sizeof url, "sqlite:file:%s?mode=ro", path);
  pt_options o = {.db_url = url};
  pt_tracker *t = NULL;
  pt_error err;
  assert_int_equal(pt_open(&o, &t, &err), PT_ESTORAGE);
  assert_null(t);
  assert_non_null(strstr(err.message, "schema_version"));
  assert_non_null(strstr(err.message, "readonly"));
  assert_int_equal(path_int(path, "SELECT version FROM schema_version"), CURRENT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_each_old_version),
      cmocka_unit_test(test_failed_migration_rolls_back),
      cmocka_unit_test(test_read_only_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
