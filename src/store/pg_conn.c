/* pg_conn.c - the PostgreSQL backend's connections: connecting, what a
 * failure means (the connection lost, or a conflict worth a retry), the
 * statements and the pipeline that sends several in one round trip; opening
 * the store (the migrations, once however many servers start together),
 * closing it, the listener that hears other servers' commits, and the table
 * of methods (pt_store_pg_methods). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "../core/error.h"
#include "pg_store.h"

#define SCHEMA_VERSION 3
/* The session-level advisory lock the migrations run under. */
#define MIGRATE_LOCK 0x70697065747261LL /* "pipetra" */
/* The channel commits are announced on. */
#define CHANNEL "pipetrack"

/* Ids compare bytewise (COLLATE "C"), as on SQLite: cursors and orders are
 * the same on both stores, and cheaper than a locale's rules. Every table a
 * session's rows live in leads with session_id, and no write of one session
 * touches another's rows, so the same schema can be distributed by
 * session_id (docs/scaling.md). */
static const char *const MIGRATIONS[] = {
    /* 0 -> 1 */
    "CREATE TABLE sessions ("
    " session_id text COLLATE \"C\" PRIMARY KEY, pipeline_type text COLLATE \"C\" NOT NULL,"
    " event_count bigint NOT NULL, last_link text NOT NULL, last_event_id text NOT NULL,"
    " first_ts bigint NOT NULL, last_ts bigint NOT NULL, created_at bigint NOT NULL,"
    " updated_at bigint NOT NULL, snap_ms bigint NOT NULL, snap_suffix integer NOT NULL,"
    " snapshot_count bigint NOT NULL, steps text NOT NULL,"
    /* the ids of the last events (up to 16): an entry made right after an
     * event lists them without reading events back */
    " recent text NOT NULL,"
    /* one more at every write: a writer that remembers the row writes it
     * only while it is the version it remembers */
    " version bigint NOT NULL);"
    "CREATE INDEX sessions_by_activity ON sessions (updated_at, session_id);"
    "CREATE TABLE events ("
    " session_id text COLLATE \"C\" NOT NULL, seq bigint NOT NULL, id text COLLATE \"C\" NOT NULL,"
    " pipeline_type text NOT NULL, step text NOT NULL, status smallint NOT NULL,"
    " ts bigint NOT NULL, ts_given smallint NOT NULL, received_at bigint NOT NULL,"
    " input text NOT NULL, output text NOT NULL, error text NOT NULL,"
    " input_sha256 bytea NOT NULL, output_sha256 bytea NOT NULL, link bytea NOT NULL,"
    " redacted smallint NOT NULL DEFAULT 0, PRIMARY KEY (session_id, seq));"
    "CREATE UNIQUE INDEX events_by_id ON events (session_id, id);"
    "CREATE TABLE snapshots ("
    " session_id text COLLATE \"C\" NOT NULL, n bigint NOT NULL, id text COLLATE \"C\" NOT NULL,"
    " pipeline_type text NOT NULL, chain_hash text NOT NULL, event_count bigint NOT NULL,"
    " last_event_id text NOT NULL, completed integer NOT NULL, total integer NOT NULL,"
    " percent integer NOT NULL, state text NOT NULL, is_valid integer NOT NULL,"
    " created_at bigint NOT NULL, notes text, signature text, PRIMARY KEY (session_id, n));"
    /* issues and the outbox are global: one row an issue, whatever the
     * sessions (docs/scaling.md says how they would be distributed) */
    "CREATE TABLE issues ("
    " id text COLLATE \"C\" PRIMARY KEY, fingerprint text NOT NULL UNIQUE,"
    " pipeline_type text COLLATE \"C\" NOT NULL, step text NOT NULL, code text NOT NULL,"
    " open integer NOT NULL, count bigint NOT NULL, sessions_affected bigint NOT NULL,"
    " first_seen bigint NOT NULL, last_seen bigint NOT NULL, resolved_at bigint NOT NULL,"
    " reopened bigint NOT NULL, last_session_id text NOT NULL, sample_event text);"
    "CREATE INDEX issues_by_last_seen ON issues (last_seen, id);"
    "CREATE TABLE issue_sessions ("
    " issue_id text COLLATE \"C\" NOT NULL, session_id text COLLATE \"C\" NOT NULL,"
    " first_seen bigint NOT NULL, last_seen bigint NOT NULL,"
    " PRIMARY KEY (issue_id, session_id));"
    "CREATE INDEX issue_sessions_by_time ON issue_sessions (issue_id, last_seen);"
    "CREATE TABLE outbox (id bigserial PRIMARY KEY, issue_id text COLLATE \"C\" NOT NULL,"
    " action text NOT NULL, created_at bigint NOT NULL, next_at bigint NOT NULL,"
    " attempts integer NOT NULL);"
    "CREATE INDEX outbox_by_issue ON outbox (issue_id, id);"
    /* what a write that finds a row changed under it raises: 40001, which
     * the committer answers by running the group again */
    "CREATE FUNCTION pipetrack_conflict() RETURNS integer LANGUAGE plpgsql AS"
    " $$BEGIN RAISE EXCEPTION USING ERRCODE = '40001',"
    " MESSAGE = 'a session changed since this server read it'; END$$;",
    /* 1 -> 2: listings on indexes. Each row carries its state code
     * (pt_session.scode; 0 until the tracker computes it: rows stored before
     * this migration get theirs at the tracker's first open, recode.c), and
     * sessions are listed by type, by state and by both as index ranges.
     * marks: the tracker's small values (the stall sweep's progress, the
     * definitions the state codes follow). */
    "ALTER TABLE sessions ADD COLUMN state smallint NOT NULL DEFAULT 0;"
    "CREATE INDEX sessions_by_type ON sessions (pipeline_type, updated_at, session_id);"
    "CREATE INDEX sessions_by_state ON sessions (state, updated_at, session_id);"
    "CREATE INDEX sessions_by_type_state ON sessions"
    " (pipeline_type, state, updated_at, session_id);"
    "CREATE TABLE marks (key text COLLATE \"C\" PRIMARY KEY, value text NOT NULL);",
    /* 2 -> 3: rollups (docs/architecture.md#rollups), global like issues;
     * each server adds to rows of its own shard, summed when read */
    "CREATE TABLE rollups (pipeline_type text COLLATE \"C\" NOT NULL, res bigint NOT NULL,"
    " bucket bigint NOT NULL, step text COLLATE \"C\" NOT NULL, metric integer NOT NULL,"
    " shard smallint NOT NULL, value bigint NOT NULL,"
    " PRIMARY KEY (pipeline_type, res, bucket, step, metric, shard));"
    "CREATE TABLE rollup_todo (after_id text COLLATE \"C\" NOT NULL);"
    "INSERT INTO rollup_todo SELECT '' WHERE EXISTS (SELECT 1 FROM sessions);"
    "CREATE INDEX sessions_by_created ON sessions (pipeline_type, created_at);",
};

#define SESSION_UPDATE(c) c " = excluded." c
const char *const pg_sql[Q_COUNT] = {
    /* in the array's order (sorted by the caller): two groups lock in the
     * same order, so neither waits for the other in a circle */
    [Q_LOCKS] = "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k",
    [Q_SESSIONS_GET] =
        "SELECT session_id, " PG_SESSION_COLS " FROM sessions WHERE session_id = ANY ($1::text[])",
    [Q_SESSION_GET] = "SELECT session_id, " PG_SESSION_COLS " FROM sessions WHERE session_id = $1",
    [Q_EVENTS_FIND] = "SELECT " PG_EVENT_COLS
                      " FROM events WHERE (session_id, id) IN"
                      " (SELECT * FROM unnest($1::text[], $2::text[]))",
    [Q_EVENT_FIND] = "SELECT " PG_EVENT_COLS " FROM events WHERE session_id = $1 AND id = $2",
    [Q_SNAPS_INSERT] = "INSERT INTO snapshots (" PG_SNAP_COLS
                       ") SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
                       " $5::bigint[], $6::text[], $7::int[], $8::int[], $9::int[], $10::text[],"
                       " $11::int[], $12::bigint[], $13::text[], $14::text[], $15::bigint[])",
    [Q_NOTIFY] = "SELECT pg_notify('" CHANNEL "', p) FROM unnest($1::text[]) AS p",
    [Q_EVENTS_RANGE] = "SELECT " PG_EVENT_COLS
                       " FROM events WHERE session_id = $1 AND seq >= $2"
                       " AND seq < $3 ORDER BY seq LIMIT $4",
    [Q_EVENT_IDS] =
        "SELECT id, seq FROM events WHERE session_id = $1 AND seq >= $2 AND seq < $3"
        " ORDER BY seq LIMIT $4",
    [Q_EVENT_REDACT] =
        "UPDATE events SET input = 'null', output = 'null', redacted = 1"
        " WHERE session_id = $1 AND seq = $2",
    [Q_ISSUE_GET] = "SELECT " PG_ISSUE_COLS " FROM issues WHERE id = $1",
    [Q_ISSUE_PUT] = "INSERT INTO issues (" PG_ISSUE_COLS
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                    " ON CONFLICT (id) DO UPDATE SET open = excluded.open, count = excluded.count,"
                    " sessions_affected = excluded.sessions_affected,"
                    " first_seen = excluded.first_seen, last_seen = excluded.last_seen,"
                    " resolved_at = excluded.resolved_at, reopened = excluded.reopened,"
                    " last_session_id = excluded.last_session_id,"
                    " sample_event = excluded.sample_event",
    /* inserted (xmax 0) or touched: is_new */
    [Q_ISSUE_SESSION_ADD] =
        "INSERT INTO issue_sessions AS x (issue_id, session_id, first_seen, last_seen)"
        " VALUES ($1, $2, $3, $3) ON CONFLICT (issue_id, session_id) DO UPDATE"
        " SET last_seen = greatest(x.last_seen, excluded.last_seen) RETURNING (x.xmax = 0)",
    [Q_OUTBOX_ADD] =
        "INSERT INTO outbox (issue_id, action, created_at, next_at, attempts)"
        " VALUES ($1, $2, $3, $4, 0)",
    /* a waiting, unattempted delivery of the issue will carry this change */
    [Q_OUTBOX_ADD_COALESCED] =
        "INSERT INTO outbox (issue_id, action, created_at, next_at, attempts)"
        " SELECT $1::text, $2, $3, $4, 0 WHERE NOT EXISTS"
        " (SELECT 1 FROM outbox WHERE issue_id = $1::text AND attempts = 0)",
    /* only while still due, and not while another server holds the row:
     * of concurrent claimers one wins, the others skip it at once */
    [Q_OUTBOX_CLAIM] =
        "UPDATE outbox SET next_at = $2, attempts = attempts + 1 WHERE id ="
        " (SELECT id FROM outbox WHERE id = $1 AND next_at <= $3"
        " FOR UPDATE SKIP LOCKED)",
    [Q_OUTBOX_DELETE] = "DELETE FROM outbox WHERE id = $1",
    [Q_OUTBOX_RESCHEDULE] = "UPDATE outbox SET next_at = $2 WHERE id = $1",
    [Q_SNAPS_FIRST] = "SELECT " PG_SNAP_COLS
                      " FROM snapshots WHERE session_id = $1"
                      " ORDER BY n DESC LIMIT $2",
    [Q_SNAPS_BEFORE] = "SELECT " PG_SNAP_COLS
                       " FROM snapshots WHERE session_id = $1"
                       " AND n < $3 ORDER BY n DESC LIMIT $2",
    [Q_SNAPS_FROM] = "SELECT " PG_SNAP_COLS
                     " FROM snapshots WHERE session_id = $1"
                     " AND n >= $2 ORDER BY n LIMIT $3",
    /* Sessions newest first, each listing one index range (a filter
     * "$1 IS NULL OR pipeline_type = $1" walks sessions_by_activity through
     * every other type's rows): $1 limit, $2 $3 the cursor (before it), $4
     * activity after it, $5 the type or the state code, $6 the state code. */
    [Q_LIST_ALL] = "SELECT session_id, " PG_SESSION_COLS
                   " FROM sessions WHERE updated_at > $4::bigint"
                   " AND (updated_at, session_id) < ($2::bigint, $3::text)"
                   " ORDER BY updated_at DESC, session_id DESC LIMIT $1",
    [Q_LIST_TYPE] = "SELECT session_id, " PG_SESSION_COLS
                    " FROM sessions WHERE pipeline_type = $5::text AND updated_at > $4::bigint"
                    " AND (updated_at, session_id) < ($2::bigint, $3::text)"
                    " ORDER BY updated_at DESC, session_id DESC LIMIT $1",
    [Q_LIST_STATE] = "SELECT session_id, " PG_SESSION_COLS
                     " FROM sessions WHERE state = $5::smallint AND updated_at > $4::bigint"
                     " AND (updated_at, session_id) < ($2::bigint, $3::text)"
                     " ORDER BY updated_at DESC, session_id DESC LIMIT $1",
    [Q_LIST_BOTH] = "SELECT session_id, " PG_SESSION_COLS
                    " FROM sessions WHERE pipeline_type = $5::text AND state = $6::smallint"
                    " AND updated_at > $4::bigint"
                    " AND (updated_at, session_id) < ($2::bigint, $3::text)"
                    " ORDER BY updated_at DESC, session_id DESC LIMIT $1",
    [Q_MARK] = "SELECT value FROM marks WHERE key = $1",
    [Q_MARK_PUT] =
        "INSERT INTO marks (key, value) VALUES ($1, $2)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [Q_IDS] = "SELECT session_id FROM sessions WHERE session_id > $1 ORDER BY session_id LIMIT $2",
    /* starts_with: whatever the database's collation (a scan) */
    [Q_IDS_PREFIX] =
        "SELECT session_id FROM sessions WHERE starts_with(session_id, $1)"
        " AND session_id > $2 ORDER BY session_id LIMIT $3",
    [Q_ISSUES_FIRST] = "SELECT " PG_ISSUE_COLS
                       " FROM issues WHERE ($1::int < 0 OR open = $1::int)"
                       " AND ($2::text IS NULL OR pipeline_type = $2::text)"
                       " ORDER BY last_seen DESC, id DESC LIMIT $3",
    [Q_ISSUES_AFTER] = "SELECT " PG_ISSUE_COLS
                       " FROM issues WHERE ($1::int < 0 OR open = $1::int)"
                       " AND ($2::text IS NULL OR pipeline_type = $2::text)"
                       " AND (last_seen, id) < ($4, $5) ORDER BY last_seen DESC, id DESC LIMIT $3",
    [Q_ISSUE_SESSIONS] =
        "SELECT session_id, first_seen, last_seen FROM issue_sessions"
        " WHERE issue_id = $1 AND last_seen < $3 ORDER BY last_seen DESC, session_id DESC"
        " LIMIT $2",
    [Q_ISSUE_SESSIONS_FROM] =
        "SELECT session_id, first_seen, last_seen FROM issue_sessions"
        " WHERE issue_id = $1 AND session_id > $2 ORDER BY session_id"
        " LIMIT $3",
    /* the head delivery of each issue, when due */
    [Q_OUTBOX_DUE] =
        "SELECT id, issue_id, action, created_at, next_at, attempts FROM outbox o"
        " WHERE next_at <= $1 AND id = (SELECT min(id) FROM outbox"
        " WHERE issue_id = o.issue_id) ORDER BY id LIMIT $2",
    [Q_OUTBOX_COUNT] = "SELECT count(*) FROM outbox",
    /* rows sorted and unique by key (one shard; add_rolls merges them) */
    [Q_ROLLUPS_ADD] =
        "INSERT INTO rollups (pipeline_type, res, bucket, step, metric, shard, value)"
        " SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::int[],"
        " $6::smallint[], $7::bigint[])"
        " ON CONFLICT (pipeline_type, res, bucket, step, metric, shard)"
        " DO UPDATE SET value = rollups.value + excluded.value",
    [Q_ROLLUPS_READ] =
        "SELECT bucket, step, metric, sum(value)::bigint FROM rollups"
        " WHERE pipeline_type = $1 AND res = $2 AND bucket >= $3 AND bucket < $4"
        " GROUP BY bucket, step, metric ORDER BY bucket, step, metric",
    [Q_CREATED] = "SELECT session_id, " PG_SESSION_COLS
                  " FROM sessions WHERE pipeline_type = $1 AND created_at >= $2"
                  " AND created_at < $3",
    /* one process at a time counts a page (the row lock) */
    [Q_ROLLUP_TODO] = "SELECT after_id FROM rollup_todo FOR UPDATE",
    [Q_ROLLUP_TODO_SET] = "UPDATE rollup_todo SET after_id = $1",
    [Q_ROLLUP_TODO_DONE] = "DELETE FROM rollup_todo",
};

/* ---- the VALUES inserts ------------------------------------------------------ */

/* A row's placeholders, with the casts the columns need ("hex": a digest's
 * 64 hex digits decoded; "+1": the version the row will have). */
static const char *const EVENT_ROW[] = {
    "",         "::bigint", "", "", "",    "::smallint", "::bigint", "::smallint",
    "::bigint", "",         "", "", "hex", "hex",        "hex",      "::smallint"};
static const char *const SESSION_ROW[] = {
    "",         "",         "::bigint", "",         "", "::bigint", "::bigint", "::bigint",
    "::bigint", "::bigint", "::int",    "::bigint", "", "",         "+1",       "::smallint"};

static char *values_sql[PG_V_COUNT * PG_CHUNKS];
static pthread_once_t values_once = PTHREAD_ONCE_INIT;

/* check: the statement is a CTE w whose rows must number `rows`. */
static char *values_text(const char *head, const char *const *row, int ncols, int rows,
                         const char *tail, int check) {
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_buf_puts(&b, head);
  int p = 1;
  for (int r = 0; r < rows; r++) {
    pt_buf_puts(&b, r ? ",(" : " VALUES (");
    for (int c = 0; c < ncols; c++, p++) {
      if (c) pt_buf_putc(&b, ',');
      if (strcmp(row[c], "hex") == 0)
        pt_buf_printf(&b, "decode($%d, 'hex')", p);
      else if (strcmp(row[c], "+1") == 0)
        pt_buf_printf(&b, "$%d::bigint + 1", p);
      else
        pt_buf_printf(&b, "$%d%s", p, row[c]);
    }
    pt_buf_putc(&b, ')');
  }
  pt_buf_puts(&b, tail);
  if (check)
    pt_buf_printf(&b, " SELECT CASE WHEN count(*) = %d THEN 0 ELSE pipetrack_conflict() END FROM w",
                  rows);
  return pt_buf_take(&b);
}

/* Each session row is written only while its version is the one read (or
 * remembered; 0: no row): one missing from the count raises 40001. */
#define SESSION_UPSERT                                                            \
  " ON CONFLICT (session_id) DO UPDATE SET"                                       \
  " pipeline_type = excluded.pipeline_type, event_count = excluded.event_count,"  \
  " last_link = excluded.last_link, last_event_id = excluded.last_event_id,"      \
  " first_ts = excluded.first_ts, last_ts = excluded.last_ts,"                    \
  " created_at = excluded.created_at, updated_at = excluded.updated_at,"          \
  " snap_ms = excluded.snap_ms, snap_suffix = excluded.snap_suffix,"              \
  " snapshot_count = excluded.snapshot_count, steps = excluded.steps,"            \
  " recent = excluded.recent, version = excluded.version, state = excluded.state" \
  " WHERE x.version = excluded.version - 1 RETURNING 1)"

static void make_values(void) {
  for (int k = 0; k < PG_CHUNKS; k++) {
    values_sql[PG_V_EVENTS * PG_CHUNKS + k] =
        values_text("INSERT INTO events (" PG_EVENT_INSERT_COLS ")", EVENT_ROW, 16, 1 << k, "", 0);
    values_sql[PG_V_SESSIONS * PG_CHUNKS + k] =
        values_text("WITH w AS (INSERT INTO sessions AS x (session_id, " PG_SESSION_COLS ")",
                    SESSION_ROW, 16, 1 << k, SESSION_UPSERT, 1);
  }
}

const char *pg_stmt_sql(int stmt) {
  if (stmt < Q_COUNT) return pg_sql[stmt];
  pthread_once(&values_once, make_values);
  return values_sql[stmt - Q_COUNT];
}

/* ---- connections ------------------------------------------------------------ */

/* PQerrorMessage without its trailing newline. */
static const char *msg_of(const char *m, char *buf, size_t n) {
  if (!m || !*m) m = "unknown error";
  /* libpq's messages span lines ("...refused\n\tIs the server running"):
   * one line, single spaces */
  size_t l = 0;
  for (; *m && l + 1 < n; m++) {
    char c = *m == '\n' || *m == '\t' || *m == '\r' ? ' ' : *m;
    if (c == ' ' && (l == 0 || buf[l - 1] == ' ')) continue;
    buf[l++] = c;
  }
  while (l && buf[l - 1] == ' ') l--;
  buf[l] = 0;
  return buf;
}

pt_status pg_fail(pgconn *k, const PGresult *r, const char *what, pt_error *err) {
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  const char *m = r ? PQresultErrorMessage(r) : NULL;
  if ((!m || !*m) && k->c) m = PQerrorMessage(k->c);
  /* 23505: an optimistic group's event seq or id was taken meanwhile */
  if (state && strcmp(state, "23505") == 0) k->retryable = 1;
  /* class 08: connection exceptions; 57P0x: the server shut down or is
   * starting; a connection in a bad state was lost on the way */
  if (!k->c || PQstatus(k->c) != CONNECTION_OK ||
      (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)))
    k->broken = 1;
  if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)) k->retryable = 1;
  char buf[512];
  return pt_fail(err, PT_ESTORAGE, NULL, "postgres: %s: %s", what, msg_of(m, buf, sizeof buf));
}

/* The statement's name on every connection. */
static void stmt_name(int stmt, char out[16]) {
  snprintf(out, 16, "pt%d", stmt);
}

/* Notices ("relation already exists, skipping") are not errors, and a
 * library does not write to stderr. */
static void quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

pt_status pg_connect(const char *conninfo, pgconn *k, pt_error *err) {
  memset(k, 0, sizeof *k);
  PGconn *c = PQconnectdb(conninfo);
  if (!c || PQstatus(c) != CONNECTION_OK) {
    char buf[512];
    pt_status rc = pt_fail(err, PT_ESTORAGE, NULL, "postgres: cannot connect: %s",
                           msg_of(c ? PQerrorMessage(c) : "out of memory", buf, sizeof buf));
    PQfinish(c);
    return rc;
  }
  PQsetNoticeProcessor(c, quiet, NULL);
  /* ids and payloads are UTF-8 (the database must be UTF8 too) */
  PGresult *r = PQexec(c, "SET client_encoding = 'UTF8'");
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (!ok) {
    k->c = c;
    pt_status rc = pg_fail(k, NULL, "client_encoding", err);
    PQfinish(c);
    k->c = NULL;
    return rc;
  }
  k->c = c;
  return PT_OK;
}

void pg_disconnect(pgconn *k) {
  PQfinish(k->c);
  memset(k, 0, sizeof *k);
}

/* ---- statements ------------------------------------------------------------ */

/* Statements are prepared on a connection the first time it runs them, in
 * the same round trip (a connection made after the database restarted
 * prepares them again: pgconn.prepared starts empty). */
pt_status pg_pipeline(pgconn *k, pgq *q, int n, const char *what, pt_error *err) {
  for (int i = 0; i < n; i++) q[i].res = NULL;
  k->retryable = 0;
  if (!k->c || k->broken || PQstatus(k->c) != CONNECTION_OK) {
    k->broken = 1;
    return pt_fail(err, PT_ESTORAGE, NULL, "postgres: %s: not connected", what);
  }
  PGconn *c = k->c;
  char *prep = calloc((size_t)n + 1, 1); /* a statement prepared first */
  if (!prep) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  if (!PQenterPipelineMode(c)) {
    free(prep);
    return pg_fail(k, NULL, what, err);
  }
  int sent = 1;
  for (int i = 0; sent && i < n; i++) {
    char name[16];
    /* the reads of a group's rows by key lists: planned for their
     * arguments each time (unnamed), so no plan made while the tables were
     * small (a sequential scan of sessions) outlives that */
    if (q[i].stmt == Q_SESSIONS_GET || q[i].stmt == Q_EVENTS_FIND) {
      sent = PQsendQueryParams(c, pg_sql[q[i].stmt], q[i].n, NULL, q[i].v, NULL, NULL, 0);
    } else if (q[i].stmt >= 0) {
      stmt_name(q[i].stmt, name);
      if (!(k->prepared[q[i].stmt])) {
        prep[i] = 1;
        k->prepared[q[i].stmt] = 1; /* once a pipeline (a failure below undoes it) */
        const char *sql = pg_stmt_sql(q[i].stmt);
        sent = sql && PQsendPrepare(c, name, sql, 0, NULL);
      }
      sent = sent && PQsendQueryPrepared(c, name, q[i].n, q[i].v, NULL, NULL, 0);
    } else {
      sent = PQsendQueryParams(c, q[i].sql, q[i].n, NULL, q[i].v, NULL, NULL, 0);
    }
  }
  if (!sent || !PQpipelineSync(c)) {
    k->broken = 1; /* the connection's state is unknown: start over */
    free(prep);
    return pg_fail(k, NULL, what, err);
  }
  pt_status rc = PT_OK;
  for (int i = 0; i < n && !k->broken; i++) {
    for (int pass = prep[i] ? 0 : 1; pass < 2 && !k->broken; pass++) {
      PGresult *r = PQgetResult(c);
      if (!r) {
        k->broken = 1;
        if (rc == PT_OK) rc = pg_fail(k, NULL, what, err);
        break;
      }
      ExecStatusType es = PQresultStatus(r);
      int good = es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK;
      /* the first failure names the cause; those after it were skipped */
      if (!good && rc == PT_OK) rc = pg_fail(k, r, what, err);
      if (pass == 0) {
        if (!good) k->prepared[q[i].stmt] = 0;
        PQclear(r);
      } else if (good) {
        q[i].res = r;
      } else {
        PQclear(r);
      }
      PGresult *end = PQgetResult(c); /* NULL ends each statement's results */
      if (end) {
        PQclear(end);
        k->broken = 1;
        if (rc == PT_OK) rc = pg_fail(k, NULL, what, err);
      }
    }
  }
  if (!k->broken) {
    PGresult *r = PQgetResult(c);
    if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC) k->broken = 1;
    PQclear(r);
  }
  if (!k->broken && !PQexitPipelineMode(c)) k->broken = 1;
  if (k->broken && rc == PT_OK) rc = pg_fail(k, NULL, what, err);
  free(prep);
  if (rc != PT_OK)
    for (int i = 0; i < n; i++) {
      PQclear(q[i].res);
      q[i].res = NULL;
    }
  return rc;
}

pt_status pg_exec(pgconn *k, int stmt, int n, const char *const *v, PGresult **res,
                  const char *what, pt_error *err) {
  pgq q = {.stmt = stmt, .n = n, .v = v};
  pt_status rc = pg_pipeline(k, &q, 1, what, err);
  *res = q.res;
  return rc;
}

int64_t pg_lock_key(const char *key) {
  uint64_t h = 14695981039346656037ull;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
    h ^= *p;
    h *= 1099511628211ull;
  }
  return (int64_t)h;
}

/* ---- the schema ------------------------------------------------------------- */

/* Runs sql (no parameters, several statements allowed) on c. */
static pt_status run(pgconn *k, const char *sql, const char *what, pt_error *err) {
  PGresult *r = PQexec(k->c, sql);
  ExecStatusType es = PQresultStatus(r);
  pt_status rc = es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK ? PT_OK : pg_fail(k, r, what, err);
  PQclear(r);
  return rc;
}

/* Brings the schema to this build's version in one transaction, under a
 * session-level advisory lock: of N servers starting together on an empty
 * database one migrates, the others wait and find it done. */
static pt_status migrate(pgconn *k, pt_error *err) {
  char sql[160];
  snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(%lld)", (long long)MIGRATE_LOCK);
  pt_status rc = run(k, sql, "migration lock", err);
  if (rc) return rc;
  rc = run(k,
           "BEGIN; CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL);"
           " LOCK TABLE schema_version",
           "schema_version", err);
  int version = 0, have = 0;
  if (rc == PT_OK) {
    PGresult *r = PQexec(k->c, "SELECT version FROM schema_version");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
      rc = pg_fail(k, r, "schema_version", err);
    else if (PQntuples(r) > 0) {
      version = atoi(PQgetvalue(r, 0, 0));
      have = 1;
    }
    PQclear(r);
  }
  if (rc == PT_OK && version > SCHEMA_VERSION)
    rc = pt_fail(err, PT_ESTORAGE, NULL,
                 "postgres: the database has schema version %d, newer than this build's %d",
                 version, SCHEMA_VERSION);
  for (int v = version; rc == PT_OK && v < SCHEMA_VERSION; v++)
    rc = run(k, MIGRATIONS[v], "migration", err);
  if (rc == PT_OK && version != SCHEMA_VERSION) {
    snprintf(
        sql, sizeof sql,
        have ? "UPDATE schema_version SET version = %d" : "INSERT INTO schema_version VALUES (%d)",
        SCHEMA_VERSION);
    rc = run(k, sql, "schema_version", err);
  }
  if (rc == PT_OK)
    rc = run(k, "COMMIT", "migration commit", err);
  else if (k->c && PQstatus(k->c) == CONNECTION_OK)
    PQclear(PQexec(k->c, "ROLLBACK"));
  if (k->c && PQstatus(k->c) == CONNECTION_OK) {
    snprintf(sql, sizeof sql, "SELECT pg_advisory_unlock(%lld)", (long long)MIGRATE_LOCK);
    PQclear(PQexec(k->c, sql));
  }
  return rc;
}

/* ---- the listener ------------------------------------------------------------ */

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A notification's payload: "<instance>|<kind>|<id>". Our own commits were
 * published in this process already. */
static void deliver(pgstore *s, const char *payload) {
  const char *bar = strchr(payload, '|');
  if (!bar || bar[1] == 0 || bar[2] != '|') return;
  if ((size_t)(bar - payload) == strlen(s->instance) &&
      strncmp(payload, s->instance, (size_t)(bar - payload)) == 0)
    return;
  s->on_change(s->on_change_ctx, bar[1], bar + 3);
}

static void *listen_main(void *arg) {
  pgstore *s = arg;
  pgconn k = {0};
  int up = 0, was_up = 1, backoff = 50;
  while (!s->stop) {
    if (!up) {
      pt_error e;
      if (pg_connect(s->conninfo, &k, &e) == PT_OK &&
          run(&k, "LISTEN " CHANNEL, "listen", &e) == 0) {
        up = 1;
        backoff = 50;
        /* commits made while we did not listen were not heard: all may
         * have changed */
        if (!was_up) s->on_change(s->on_change_ctx, 'r', "");
        was_up = 1;
      } else {
        pg_disconnect(&k);
        was_up = 0;
        sleep_ms(backoff);
        if (backoff < 1000) backoff *= 2;
        continue;
      }
    }
    struct pollfd p = {.fd = PQsocket(k.c), .events = POLLIN};
    int pr = poll(&p, 1, 200);
    if (pr > 0 && !PQconsumeInput(k.c)) {
      pg_disconnect(&k);
      up = 0;
      was_up = 0;
      continue;
    }
    PGnotify *n;
    while ((n = PQnotifies(k.c))) {
      deliver(s, n->extra);
      PQfreemem(n);
    }
  }
  pg_disconnect(&k);
  return NULL;
}

static pt_status p_listen(pt_store *st, pt_store_change_fn fn, void *ctx, pt_error *err) {
  pgstore *s = (pgstore *)st;
  if (s->listening) return pt_fail(err, PT_EINVALID, NULL, "postgres: already listening");
  s->on_change = fn;
  s->on_change_ctx = ctx;
  s->stop = 0;
  if (pthread_create(&s->listener, NULL, listen_main, s))
    return pt_fail(err, PT_ENOMEM, NULL, "postgres: cannot start the listener thread");
  s->listening = 1;
  return PT_OK;
}

/* ---- open and close ---------------------------------------------------------- */

static void p_close(pt_store *st);

static pt_status p_open(const char *where, const pt_store_config *cfg, pt_store **out,
                        pt_error *err) {
  (void)cfg; /* no rows written behind; faults are injected by the wrappers */
  *out = NULL;
  pgstore *s = calloc(1, sizeof *s);
  if (!s || !(s->conninfo = strdup(where))) {
    free(s);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  s->base.m = &pt_store_pg_methods;
  pthread_mutex_init(&s->pool_lock, NULL);
  pgset_init(&s->evpend, NULL);
  pgset_init(&s->sesspend, pg_free_session);
  pgset_init(&s->notify, NULL);
  pgset_init(&s->locked, NULL);
  pgset_init(&s->presess, pg_free_session);
  pgset_init(&s->cache, pg_free_session);
  pgset_init(&s->preev, pg_free_event);
  pt_buf_init(&s->scratch, 0);
  unsigned char r[8] = {0};
  if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
    uint64_t x = (uint64_t)(uintptr_t)s ^ (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
    memcpy(r, &x, sizeof r);
  }
  for (int i = 0; i < 8; i++) snprintf(s->instance + 2 * i, 3, "%02x", r[i]);
  s->shard = r[0] % 16;
  pt_status rc = pg_writer_connect(s, err);
  if (rc == PT_OK) rc = migrate(&s->w, err);
  if (rc != PT_OK) {
    p_close(&s->base);
    return rc;
  }
  *out = &s->base;
  return PT_OK;
}

static void p_close(pt_store *st) {
  pgstore *s = (pgstore *)st;
  if (s->listening) {
    s->stop = 1;
    pthread_join(s->listener, NULL);
  }
  if (s->in_tx) pg_rollback(st);
  pg_tx_clear(s);
  while (s->pool) {
    pgreader *r = s->pool;
    s->pool = r->next;
    pg_reader_free(r);
  }
  pg_disconnect(&s->w);
  free(s->ev);
  free(s->snaps);
  free(s->rolls);
  pgset_free(&s->evpend);
  pgset_free(&s->sesspend);
  pgset_free(&s->notify);
  pgset_free(&s->locked);
  pgset_free(&s->presess);
  pgset_free(&s->cache);
  pgset_free(&s->preev);
  pt_buf_cleanup(&s->scratch);
  pthread_mutex_destroy(&s->pool_lock);
  free(s->conninfo);
  free(s);
}

const pt_store_methods pt_store_pg_methods = {
    .version = 1,
    .scheme = "postgres",
    .alias = "postgresql",
    .flags = PT_STORE_F_WHOLE_URL | PT_STORE_F_RECENT,
    .open = p_open,
    .close = p_close,
    .begin = pg_begin,
    .prepare = pg_prepare,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .session_get = pg_session_get,
    .session_put = pg_session_put,
    .event_find = pg_event_find,
    .event_append = pg_event_append,
    .snapshot_put = pg_snapshot_put,
    .tx_event_ids = pg_tx_event_ids,
    .tx_read_events = pg_tx_read_events,
    .event_redact = pg_event_redact,
    .scrub = pg_scrub,
    .reader_open = pg_reader_open,
    .reader_close = pg_reader_close,
    .read_session = pg_read_session,
    .read_events = pg_read_events,
    .read_snapshots = pg_read_snapshots,
    .list_sessions = pg_list_sessions,
    .list_sessions_by = pg_list_sessions_by,
    .read_mark = pg_read_mark,
    .mark_put = pg_mark_put,
    .list_session_ids = pg_list_session_ids,
    .list_session_ids_prefix = pg_list_session_ids_prefix,
    .read_snapshots_from = pg_read_snapshots_from,
    .issues = &pt__pg_issue_methods,
    .rollups = &pt__pg_rollup_methods,
    .listen = p_listen,
};
