/* sqlite_schema.c - the SQLite backend's schema: the migrations that bring a
 * database to this build's version, and the text of every statement the
 * writer and the readers prepare (sqlite_store.h names them). */
#include <stdio.h>

#include "../core/error.h"
#include "sqlite_store.h"

#define SCHEMA_VERSION 6

/* Each migration takes the schema from version i to i+1. Never edit one that
 * has shipped: add the next. */
static const char *const MIGRATIONS[] = {
    /* 0 -> 1 */
    "CREATE TABLE sessions ("
    " session_id TEXT PRIMARY KEY, pipeline_type TEXT NOT NULL,"
    " event_count INTEGER NOT NULL, last_link TEXT NOT NULL, last_event_id TEXT NOT NULL,"
    " first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " snap_ms INTEGER NOT NULL, snap_suffix INTEGER NOT NULL, snapshot_count INTEGER NOT NULL,"
    " steps TEXT NOT NULL) WITHOUT ROWID;"
    /* Events live in a rowid table in commit order, so a group commit appends
     * to the last pages instead of touching one b-tree page per session; the
     * small indexes below find a session's events. */
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
    " rowid INTEGER PRIMARY KEY, id TEXT NOT NULL, session_id TEXT NOT NULL, pipeline_type TEXT "
    "NOT NULL,"
    " chain_hash TEXT NOT NULL, event_count INTEGER NOT NULL, last_event_id TEXT NOT NULL,"
    " completed INTEGER NOT NULL, total INTEGER NOT NULL, percent INTEGER NOT NULL,"
    " state TEXT NOT NULL, is_valid INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    " notes TEXT, signature TEXT);"
    "CREATE UNIQUE INDEX snapshots_by_session ON snapshots(session_id, created_at, id);",
    /* 1 -> 2: sessions listed by latest activity; registry entries ordered
     * by their position n in the session (rowids are in commit order) */
    "CREATE INDEX sessions_by_activity ON sessions(updated_at, session_id);"
    "ALTER TABLE snapshots ADD COLUMN n INTEGER NOT NULL DEFAULT -1;"
    "UPDATE snapshots SET n = (SELECT count(*) FROM snapshots s2"
    " WHERE s2.session_id = snapshots.session_id AND s2.rowid < snapshots.rowid);"
    "CREATE UNIQUE INDEX snapshots_by_n ON snapshots(session_id, n);"
    /* ids are unique by construction; one index less to write per entry */
    "DROP INDEX snapshots_by_session;",
    /* 2 -> 3: issues, and the sessions each affected */
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
    /* 3 -> 4: the webhook outbox */
    "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, issue_id TEXT NOT NULL,"
    " action TEXT NOT NULL, created_at INTEGER NOT NULL, next_at INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL);"
    "CREATE INDEX outbox_by_issue ON outbox(issue_id, id);",
    /* 4 -> 5: listings on indexes. Each row carries its state code
     * (pt_session.scode; 0 until the tracker computes it: rows stored before
     * this migration get theirs at the tracker's first open, recode.c), and
     * sessions are listed by type, by state and by both as index ranges.
     * marks: the tracker's small values (the stall sweep's progress, the
     * definitions the state codes follow). */
    "ALTER TABLE sessions ADD COLUMN state INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX sessions_by_type ON sessions(pipeline_type, updated_at, session_id);"
    "CREATE INDEX sessions_by_state ON sessions(state, updated_at, session_id);"
    "CREATE INDEX sessions_by_type_state ON sessions(pipeline_type, state, updated_at, session_id);"
    "CREATE TABLE marks (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
    /* 5 -> 6: rollups (docs/architecture.md#rollups); sessions stored
     * before them are counted by the tracker at open, a page a
     * transaction, from where rollup_todo says */
    "CREATE TABLE rollups (pipeline_type TEXT NOT NULL, res INTEGER NOT NULL,"
    " bucket INTEGER NOT NULL, step TEXT NOT NULL, metric INTEGER NOT NULL,"
    " value INTEGER NOT NULL, PRIMARY KEY (pipeline_type, res, bucket, step, metric))"
    " WITHOUT ROWID;"
    "CREATE TABLE rollup_todo (after_id TEXT NOT NULL);"
    "INSERT INTO rollup_todo SELECT '' WHERE EXISTS (SELECT 1 FROM sessions);"
    /* the edges of a range the buckets do not cover */
    "CREATE INDEX sessions_by_created ON sessions(pipeline_type, created_at);",
};

const char *const sq_wsql[W_COUNT] = {
    [W_SESSION_GET] =
        "SELECT pipeline_type, event_count, last_link, last_event_id, first_ts, last_ts,"
        " created_at, updated_at, snap_ms, snap_suffix, snapshot_count, steps, state"
        " FROM sessions WHERE session_id = ?1",
    [W_SESSION_PUT] =
        "INSERT INTO sessions VALUES"
        " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    /* an update in place rewrites one row; REPLACE would delete and
     * re-insert it, touching the b-tree twice */
    /* pipeline_type (?2) and created_at (?8) never change: left out of
     * the SET, the index on them (sessions_by_created) is not rewritten */
    [W_SESSION_UPDATE] =
        "UPDATE sessions SET event_count = ?3,"
        " last_link = ?4, last_event_id = ?5, first_ts = ?6, last_ts = ?7,"
        " updated_at = ?9, snap_ms = ?10, snap_suffix = ?11,"
        " snapshot_count = ?12, steps = ?13, state = ?14 WHERE session_id = ?1"
        /* a row written behind never moves back over a newer one */
        " AND event_count <= ?3",
    [W_EVENT_FIND] =
        "SELECT session_id, seq, id, pipeline_type, step, status, ts, ts_given,"
        " received_at, input, output, error, input_sha256, output_sha256, link,"
        " redacted FROM events WHERE session_id = ?1 AND id = ?2",
    [W_EVENT_APPEND] =
        "INSERT INTO events (session_id, seq, id, pipeline_type, step, status, ts,"
        " ts_given, received_at, input, output, error, input_sha256,"
        " output_sha256, link, redacted) VALUES"
        " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    [W_SNAPSHOT_PUT] =
        "INSERT INTO snapshots (id, session_id, pipeline_type, chain_hash,"
        " event_count, last_event_id, completed, total, percent, state, is_valid,"
        " created_at, notes, signature, n) VALUES"
        " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    /* changes when another connection (or process) commits */
    [W_DATA_VERSION] = "PRAGMA data_version",
    [W_EVENTS_FROM] =
        "SELECT session_id, seq, id, pipeline_type, step, status, ts, ts_given,"
        " received_at, input, output, error, input_sha256, output_sha256, link,"
        " redacted FROM events WHERE session_id = ?1 AND seq >= ?2 AND seq < ?3"
        " ORDER BY seq",
    /* the newest entry, by its position in the session (its id's "_N"
     * suffix would not sort as a number: "_10" < "_9") */
    [W_LATEST_SNAP] =
        "SELECT created_at, id, n FROM snapshots WHERE session_id = ?1 ORDER BY n DESC LIMIT 1",
    [W_ISSUE_GET] =
        "SELECT id, fingerprint, pipeline_type, step, code, open, count, sessions_affected,"
        " first_seen, last_seen, resolved_at, reopened, last_session_id, sample_event FROM issues"
        " WHERE id = ?1",
    [W_ISSUE_PUT] =
        "INSERT OR REPLACE INTO issues VALUES"
        " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [W_ISSUE_SESSION_INSERT] = "INSERT OR IGNORE INTO issue_sessions VALUES (?1, ?2, ?3, ?3)",
    [W_ISSUE_SESSION_TOUCH] =
        "UPDATE issue_sessions SET last_seen = max(last_seen, ?3)"
        " WHERE issue_id = ?1 AND session_id = ?2",
    [W_OUTBOX_ADD] =
        "INSERT INTO outbox (issue_id, action, created_at, next_at, attempts)"
        " VALUES (?1, ?2, ?3, ?4, 0)",
    /* a waiting, unattempted delivery of the issue will carry this change */
    [W_OUTBOX_ADD_COALESCED] =
        "INSERT INTO outbox (issue_id, action, created_at, next_at, attempts)"
        " SELECT ?1, ?2, ?3, ?4, 0 WHERE NOT EXISTS"
        " (SELECT 1 FROM outbox WHERE issue_id = ?1 AND attempts = 0)",
    [W_OUTBOX_DELETE] = "DELETE FROM outbox WHERE id = ?1",
    [W_OUTBOX_RESCHEDULE] = "UPDATE outbox SET next_at = ?2 WHERE id = ?1",
    /* only while still due: of concurrent claimers one wins */
    [W_OUTBOX_CLAIM] =
        "UPDATE outbox SET next_at = ?2, attempts = attempts + 1 WHERE id = ?1 AND next_at <= ?3",
    [W_EVENT_IDS] =
        "SELECT id FROM events WHERE session_id = ?1 AND seq >= ?2 AND seq < ?3 ORDER BY seq",
    [W_EVENT_REDACT] =
        "UPDATE events SET input = 'null', output = 'null', redacted = 1"
        " WHERE session_id = ?1 AND seq = ?2",
    [W_ROLLUP_ADD] =
        "INSERT INTO rollups VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        " ON CONFLICT (pipeline_type, res, bucket, step, metric)"
        " DO UPDATE SET value = value + excluded.value",
    [W_ROLLUP_TODO] = "SELECT after_id FROM rollup_todo",
    [W_ROLLUP_TODO_SET] = "UPDATE rollup_todo SET after_id = ?1",
    [W_ROLLUP_TODO_DONE] = "DELETE FROM rollup_todo",
    [W_MARK_PUT] = "INSERT OR REPLACE INTO marks VALUES (?1, ?2)",
};

const char *const sq_rsql[R_COUNT] = {
    [R_SESSION] =
        "SELECT pipeline_type, event_count, last_link, last_event_id, first_ts, last_ts,"
        " created_at, updated_at, snap_ms, snap_suffix, snapshot_count, steps, state"
        " FROM sessions WHERE session_id = ?1",
    [R_EVENTS] =
        "SELECT session_id, seq, id, pipeline_type, step, status, ts, ts_given,"
        " received_at, input, output, error, input_sha256, output_sha256, link,"
        " redacted FROM events WHERE session_id = ?1 AND seq >= ?2 AND seq < ?3"
        " ORDER BY seq",
    [R_SNAPS_FIRST] =
        "SELECT id, session_id, pipeline_type, chain_hash, event_count,"
        " last_event_id, completed, total, percent, state, is_valid, created_at,"
        " notes, signature, n FROM snapshots WHERE session_id = ?1"
        " ORDER BY n DESC LIMIT ?2",
    [R_SNAPS_AFTER] =
        "SELECT id, session_id, pipeline_type, chain_hash, event_count,"
        " last_event_id, completed, total, percent, state, is_valid, created_at,"
        " notes, signature, n FROM snapshots WHERE session_id = ?1"
        " AND n < ?3 ORDER BY n DESC LIMIT ?2",
    /* the newest entry, by its position (as W_LATEST_SNAP) */
    [R_LATEST_SNAP] =
        "SELECT created_at, id, n FROM snapshots WHERE session_id = ?1 ORDER BY n DESC LIMIT 1",
    /* Sessions newest first, each listing one index range (a filter
     * "?1 IS NULL OR pipeline_type = ?1" would walk sessions_by_activity and
     * read every row of the other types): ?1 pipeline type, ?2 limit, ?3 ?4
     * the cursor (before it), ?5 activity after it, ?6 state code. */
    [R_LIST_ALL] =
        "SELECT session_id, updated_at FROM sessions INDEXED BY sessions_by_activity"
        " WHERE updated_at > ?5 AND (updated_at, session_id) < (?3, ?4)"
        " ORDER BY updated_at DESC, session_id DESC LIMIT ?2",
    [R_LIST_TYPE] =
        "SELECT session_id, updated_at FROM sessions INDEXED BY sessions_by_type"
        " WHERE pipeline_type = ?1 AND updated_at > ?5 AND (updated_at, session_id) < (?3, ?4)"
        " ORDER BY updated_at DESC, session_id DESC LIMIT ?2",
    [R_LIST_STATE] =
        "SELECT session_id, updated_at FROM sessions INDEXED BY sessions_by_state"
        " WHERE state = ?6 AND updated_at > ?5 AND (updated_at, session_id) < (?3, ?4)"
        " ORDER BY updated_at DESC, session_id DESC LIMIT ?2",
    [R_LIST_BOTH] =
        "SELECT session_id, updated_at FROM sessions INDEXED BY sessions_by_type_state"
        " WHERE pipeline_type = ?1 AND state = ?6 AND updated_at > ?5"
        " AND (updated_at, session_id) < (?3, ?4)"
        " ORDER BY updated_at DESC, session_id DESC LIMIT ?2",
    [R_MARK] = "SELECT value FROM marks WHERE key = ?1",
    /* prepared once: a reader opens and closes a transaction per request */
    [R_BEGIN] = "BEGIN",
    [R_COMMIT] = "COMMIT",
    [R_IDS] = "SELECT session_id FROM sessions WHERE session_id > ?1 ORDER BY session_id LIMIT ?2",
    /* an index range: ids are [A-Za-z0-9_.:-], all below char(127) */
    [R_IDS_PREFIX] =
        "SELECT session_id FROM sessions WHERE session_id >= ?1"
        " AND session_id < ?1 || char(127) AND session_id > ?2"
        " ORDER BY session_id LIMIT ?3",
    [R_SNAPS_FROM] =
        "SELECT id, session_id, pipeline_type, chain_hash, event_count,"
        " last_event_id, completed, total, percent, state, is_valid, created_at,"
        " notes, signature, n FROM snapshots WHERE session_id = ?1"
        " AND n >= ?2 ORDER BY n LIMIT ?3",
    [R_ISSUE] =
        "SELECT id, fingerprint, pipeline_type, step, code, open, count, sessions_affected,"
        " first_seen, last_seen, resolved_at, reopened, last_session_id, sample_event FROM issues"
        " WHERE id = ?1",
    /* ?1 open (-1 any), ?2 pipeline type or NULL, ?3 limit, ?4 ?5 cursor */
    [R_ISSUES_FIRST] =
        "SELECT id, fingerprint, pipeline_type, step, code, open, count, sessions_affected,"
        " first_seen, last_seen, resolved_at, reopened, last_session_id, sample_event FROM issues"
        " WHERE (?1 < 0 OR open = ?1) AND (?2 IS NULL OR pipeline_type = ?2)"
        " ORDER BY last_seen DESC, id DESC LIMIT ?3",
    [R_ISSUES_AFTER] =
        "SELECT id, fingerprint, pipeline_type, step, code, open, count, sessions_affected,"
        " first_seen, last_seen, resolved_at, reopened, last_session_id, sample_event FROM issues"
        " WHERE (?1 < 0 OR open = ?1) AND (?2 IS NULL OR pipeline_type = ?2)"
        " AND (last_seen, id) < (?4, ?5) ORDER BY last_seen DESC, id DESC LIMIT ?3",
    [R_ISSUE_SESSIONS] =
        "SELECT session_id, first_seen, last_seen FROM issue_sessions WHERE issue_id = ?1"
        " AND last_seen < ?3 ORDER BY last_seen DESC, session_id DESC LIMIT ?2",
    [R_ISSUE_SESSIONS_FROM] =
        "SELECT session_id, first_seen, last_seen FROM issue_sessions WHERE issue_id = ?1"
        " AND session_id > ?2 ORDER BY session_id LIMIT ?3",
    /* the head delivery of each issue, when due */
    [R_OUTBOX_DUE] =
        "SELECT id, issue_id, action, created_at, next_at, attempts FROM outbox o"
        " WHERE next_at <= ?1 AND id = (SELECT min(id) FROM outbox WHERE issue_id = o.issue_id)"
        " ORDER BY id LIMIT ?2",
    [R_OUTBOX_COUNT] = "SELECT count(*) FROM outbox",
    /* in the key's order: an index range, no sort */
    [R_ROLLUPS] =
        "SELECT bucket, step, metric, value FROM rollups WHERE pipeline_type = ?1 AND res = ?2"
        " AND bucket >= ?3 AND bucket < ?4 ORDER BY bucket, step, metric",
    [R_CREATED] =
        "SELECT session_id FROM sessions WHERE pipeline_type = ?1"
        " AND created_at >= ?2 AND created_at < ?3",
};

pt_status sq_migrate(sqlite3 *db, pt_error *err) {
  if (sqlite3_exec(db,
                   "BEGIN IMMEDIATE;"
                   "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);",
                   NULL, NULL, NULL) != SQLITE_OK)
    return sq_db_fail(err, db, "schema_version");
  sqlite3_stmt *q = NULL;
  int version = 0, have = 0;
  if (sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &q, NULL) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW) {
    version = sqlite3_column_int(q, 0);
    have = 1;
  }
  sqlite3_finalize(q);
  if (version > SCHEMA_VERSION) {
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return pt_fail(err, PT_ESTORAGE, NULL,
                   "sqlite: the database has schema version %d, newer than this build's %d",
                   version, SCHEMA_VERSION);
  }
  for (int v = version; v < SCHEMA_VERSION; v++) {
    if (sqlite3_exec(db, MIGRATIONS[v], NULL, NULL, NULL) != SQLITE_OK) {
      pt_status s = sq_db_fail(err, db, "migration");
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      return s;
    }
  }
  char sql[96];
  if (have)
    snprintf(sql, sizeof sql, "UPDATE schema_version SET version = %d; COMMIT;", SCHEMA_VERSION);
  else
    snprintf(sql, sizeof sql, "INSERT INTO schema_version VALUES (%d); COMMIT;", SCHEMA_VERSION);
  if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
    pt_status s = sq_db_fail(err, db, "schema_version");
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return s;
  }
  return PT_OK;
}
