/* store_sqlite.c - the "sqlite:PATH" backend: WAL mode, synchronous=FULL so a
 * commit is on disk when it returns, one writer connection (driven by the
 * tracker's committer thread, which batches many appends into one commit) and
 * a pool of reader connections for concurrent reads. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/error.h"
#include "../core/map.h"
#include "../core/sha.h"
#include "store.h"

#define SCHEMA_VERSION 4

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
};

enum {
  W_SESSION_GET,
  W_SESSION_PUT,
  W_SESSION_UPDATE,
  W_EVENT_FIND,
  W_EVENT_APPEND,
  W_SNAPSHOT_PUT,
  W_DATA_VERSION,
  W_EVENTS_FROM,
  W_LATEST_SNAP,
  W_ISSUE_GET,
  W_ISSUE_PUT,
  W_ISSUE_SESSION_INSERT,
  W_ISSUE_SESSION_TOUCH,
  W_OUTBOX_ADD,
  W_OUTBOX_ADD_COALESCED,
  W_OUTBOX_DELETE,
  W_OUTBOX_RESCHEDULE,
  W_EVENT_IDS,
  W_EVENT_REDACT,
  W_COUNT
};

static const char *const WSQL[W_COUNT] = {
    [W_SESSION_GET] =
        "SELECT pipeline_type, event_count, last_link, last_event_id, first_ts, last_ts,"
        " created_at, updated_at, snap_ms, snap_suffix, snapshot_count, steps"
        " FROM sessions WHERE session_id = ?1",
    [W_SESSION_PUT] =
        "INSERT INTO sessions VALUES"
        " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    /* an update in place rewrites one row; REPLACE would delete and
     * re-insert it, touching the b-tree twice */
    [W_SESSION_UPDATE] =
        "UPDATE sessions SET pipeline_type = ?2, event_count = ?3,"
        " last_link = ?4, last_event_id = ?5, first_ts = ?6, last_ts = ?7,"
        " created_at = ?8, updated_at = ?9, snap_ms = ?10, snap_suffix = ?11,"
        " snapshot_count = ?12, steps = ?13 WHERE session_id = ?1"
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
    /* every entry of the newest millisecond: their ids' "_N" suffixes do
     * not sort as numbers ("_10" < "_9"), so the largest is found by hand */
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
    [W_OUTBOX_RESCHEDULE] =
        "UPDATE outbox SET next_at = ?2, attempts = attempts + ?3 WHERE id = ?1",
    [W_EVENT_IDS] =
        "SELECT id FROM events WHERE session_id = ?1 AND seq >= ?2 AND seq < ?3 ORDER BY seq",
    [W_EVENT_REDACT] = "UPDATE events SET input = 'null', output = 'null', redacted = 1"
                       " WHERE session_id = ?1 AND seq = ?2",
};

enum {
  R_SESSION,
  R_EVENTS,
  R_SNAPS_FIRST,
  R_SNAPS_AFTER,
  R_LATEST_SNAP,
  R_LIST_FIRST,
  R_LIST_AFTER,
  R_BEGIN,
  R_COMMIT,
  R_IDS,
  R_SNAPS_FROM,
  R_ISSUE,
  R_ISSUES_FIRST,
  R_ISSUES_AFTER,
  R_ISSUE_SESSIONS,
  R_ISSUE_SESSIONS_FROM,
  R_OUTBOX_DUE,
  R_OUTBOX_COUNT,
  R_COUNT
};

static const char *const RSQL[R_COUNT] = {
    [R_SESSION] =
        "SELECT pipeline_type, event_count, last_link, last_event_id, first_ts, last_ts,"
        " created_at, updated_at, snap_ms, snap_suffix, snapshot_count, steps"
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
    /* every entry of the newest millisecond: their ids' "_N" suffixes do
     * not sort as numbers ("_10" < "_9"), so the largest is found by hand */
    [R_LATEST_SNAP] =
        "SELECT created_at, id, n FROM snapshots WHERE session_id = ?1 ORDER BY n DESC LIMIT 1",
    /* ?1 pipeline type or NULL for all; ?2 limit; ?3, ?4 the cursor */
    [R_LIST_FIRST] =
        "SELECT session_id, updated_at FROM sessions WHERE (?1 IS NULL OR pipeline_type = ?1)"
        " ORDER BY updated_at DESC, session_id DESC LIMIT ?2",
    [R_LIST_AFTER] =
        "SELECT session_id, updated_at FROM sessions WHERE (?1 IS NULL OR pipeline_type = ?1)"
        " AND (updated_at, session_id) < (?3, ?4)"
        " ORDER BY updated_at DESC, session_id DESC LIMIT ?2",
    /* prepared once: a reader opens and closes a transaction per request */
    [R_BEGIN] = "BEGIN",
    [R_COMMIT] = "COMMIT",
    [R_IDS] = "SELECT session_id FROM sessions WHERE session_id > ?1 ORDER BY session_id LIMIT ?2",
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
        " ORDER BY last_seen DESC LIMIT ?2",
    [R_ISSUE_SESSIONS_FROM] =
        "SELECT session_id, first_seen, last_seen FROM issue_sessions WHERE issue_id = ?1"
        " AND session_id > ?2 ORDER BY session_id LIMIT ?3",
    /* the head delivery of each issue, when due */
    [R_OUTBOX_DUE] =
        "SELECT id, issue_id, action, created_at, next_at, attempts FROM outbox o"
        " WHERE next_at <= ?1 AND id = (SELECT min(id) FROM outbox WHERE issue_id = o.issue_id)"
        " ORDER BY id LIMIT ?2",
    [R_OUTBOX_COUNT] = "SELECT count(*) FROM outbox",
};

typedef struct sreader {
  pt_reader base;
  sqlite3 *db;
  sqlite3_stmt *st[R_COUNT];
  struct sreader *next; /* pool */
} sreader;

/* Session rows are written behind: a commit stages the aggregates it
 * changed, and they are written to their rows only every FLUSH_MS (or when
 * many are waiting), in a later commit. Until then a row may lag its
 * events; every read folds the events and the newest snapshot past the row
 * into the aggregate, so a lagging row (a crash, another process) is never
 * wrong, only slower to read. This takes one random page write per event out
 * of the commit, which is what limits durable throughput here. */
typedef struct pending {
  pt_session s;
  int is_new; /* the row does not exist yet */
} pending;

typedef struct plist {
  pt_map map; /* session_id -> pending (keys point into the pending) */
  pending **items;
  size_t n, cap;
} plist;

/* The event_count a session's row is known to hold. */
typedef struct rowcount {
  int64_t count;
  char sid[PT_ID_MAX + 1];
} rowcount;

typedef struct sstore {
  pt_store base;
  char *path;
  sqlite3 *db; /* the writer */
  /* how far each row lags is bounded (LAG_MAX events), so a read never
   * folds more than that, even when writes stop and no flush comes */
  pt_map rowcounts;
  rowcount **rcs;
  size_t nrc, caprc;
  sqlite3_stmt *st[W_COUNT];
  pthread_mutex_t pool_lock;
  sreader *pool;
  plist pending; /* committed aggregates whose rows lag */
  plist staged;  /* aggregates of the open transaction */
  int64_t data_version;
  uint64_t last_flush_ns;
  int64_t flush_ms;
} sstore;

#define FLUSH_MS_DEFAULT 200
#define FLUSH_MAX 2048
#define LAG_MAX 32
#define ROWCOUNTS_MAX 100000

static pt_status db_fail(pt_error *err, sqlite3 *db, const char *what) {
  return pt_fail(err, PT_ESTORAGE, NULL, "sqlite: %s: %s", what, db ? sqlite3_errmsg(db) : "?");
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void plist_clear(plist *l) {
  for (size_t i = 0; i < l->n; i++) {
    pt_session_cleanup(&l->items[i]->s);
    free(l->items[i]);
  }
  l->n = 0;
  pt_map_cleanup(&l->map);
  pt_map_init(&l->map);
}

static void plist_free(plist *l) {
  plist_clear(l);
  free(l->items);
  l->items = NULL;
  l->cap = 0;
}

/* Records x in l (replacing what l held for the session). -1 on OOM. */
static int plist_put(plist *l, const pt_session *x, int is_new) {
  pending *p = pt_map_get(&l->map, x->session_id);
  if (p) {
    if (pt_session_assign(&p->s, x)) return -1;
    p->is_new |= is_new;
    return 0;
  }
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 64;
    pending **ni = realloc(l->items, nc * sizeof *ni);
    if (!ni) return -1;
    l->items = ni;
    l->cap = nc;
  }
  p = calloc(1, sizeof *p);
  if (!p || pt_session_copy(&p->s, x)) {
    free(p);
    return -1;
  }
  p->is_new = is_new;
  if (pt_map_put(&l->map, p->s.session_id, p)) {
    pt_session_cleanup(&p->s);
    free(p);
    return -1;
  }
  l->items[l->n++] = p;
  return 0;
}

static void rowcounts_clear(sstore *s) {
  for (size_t i = 0; i < s->nrc; i++) free(s->rcs[i]);
  s->nrc = 0;
  pt_map_cleanup(&s->rowcounts);
  pt_map_init(&s->rowcounts);
}

/* Remembers that the row of sid holds count events (best effort). */
static void rowcount_set(sstore *s, const char *sid, int64_t count) {
  rowcount *r = pt_map_get(&s->rowcounts, sid);
  if (r) {
    r->count = count;
    return;
  }
  if (s->nrc >= ROWCOUNTS_MAX) rowcounts_clear(s);
  if (s->nrc == s->caprc) {
    size_t nc = s->caprc ? s->caprc * 2 : 256;
    rowcount **n = realloc(s->rcs, nc * sizeof *n);
    if (!n) return;
    s->rcs = n;
    s->caprc = nc;
  }
  r = malloc(sizeof *r);
  if (!r) return;
  r->count = count;
  snprintf(r->sid, sizeof r->sid, "%s", sid);
  if (pt_map_put(&s->rowcounts, r->sid, r)) {
    free(r);
    return;
  }
  s->rcs[s->nrc++] = r;
}

static pt_status open_conn(const char *path, sqlite3 **out, pt_error *err) {
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(path, &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    pt_status s = pt_fail(err, PT_ESTORAGE, NULL, "sqlite: cannot open %s: %s", path,
                          db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    *out = NULL;
    return s;
  }
  sqlite3_busy_timeout(db, 10000);
  /* WAL lets readers run beside the writer; synchronous=FULL makes every
   * commit durable (NORMAL in WAL mode may lose the last commits on power
   * loss, which would break "a 2xx answer means durable"). */
  /* wal_autocheckpoint=1000 (SQLite's default): a checkpoint copies 4 MB,
   * not 40 MB, into the database in the middle of a commit, and the WAL is
   * overwritten (not grown) sooner; POST track's p99 halved (38 -> 17 ms).
   * secure_delete: space freed in a page (a redacted payload, an old row
   * version) is zeroed, not left for a later write to cover (SPEC §1.9). */
  const char *pragmas =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;"
      "PRAGMA cache_size=-16000; PRAGMA wal_autocheckpoint=1000; PRAGMA secure_delete=ON;";
  if (sqlite3_exec(db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
    pt_status s = db_fail(err, db, "pragmas");
    sqlite3_close(db);
    *out = NULL;
    return s;
  }
  *out = db;
  return PT_OK;
}

static pt_status migrate(sqlite3 *db, pt_error *err) {
  if (sqlite3_exec(db,
                   "BEGIN IMMEDIATE;"
                   "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);",
                   NULL, NULL, NULL) != SQLITE_OK)
    return db_fail(err, db, "schema_version");
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
      pt_status s = db_fail(err, db, "migration");
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
    pt_status s = db_fail(err, db, "schema_version");
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return s;
  }
  return PT_OK;
}

static void s_close(pt_store *st);

static pt_status s_open(const char *where, pt_store **out, pt_error *err) {
  *out = NULL;
  if (!where || !*where)
    return pt_fail(err, PT_EINVALID, "db", "db: sqlite needs a path, as sqlite:PATH");
  sstore *s = calloc(1, sizeof *s);
  if (!s || !(s->path = strdup(where))) {
    free(s);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  s->base.m = &pt_store_sqlite_methods;
  pthread_mutex_init(&s->pool_lock, NULL);
  pt_map_init(&s->pending.map);
  pt_map_init(&s->staged.map);
  pt_map_init(&s->rowcounts);
  s->data_version = -1;
  s->last_flush_ns = mono_ns();
  /* PT_SQLITE_FLUSH_MS: how long session rows may lag (tests set it high to
   * exercise lagging rows; 0 writes them in every commit) */
  const char *fm = getenv("PT_SQLITE_FLUSH_MS");
  s->flush_ms = fm && *fm ? strtoll(fm, NULL, 10) : FLUSH_MS_DEFAULT;
  pt_status rc = open_conn(s->path, &s->db, err);
  if (rc == PT_OK) rc = migrate(s->db, err);
  for (int i = 0; rc == PT_OK && i < W_COUNT; i++)
    if (sqlite3_prepare_v3(s->db, WSQL[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) !=
        SQLITE_OK)
      rc = db_fail(err, s->db, "prepare");
  if (rc != PT_OK) {
    s_close(&s->base);
    return rc;
  }
  *out = &s->base;
  return PT_OK;
}

static void reader_free(sreader *r) {
  for (int i = 0; i < R_COUNT; i++) sqlite3_finalize(r->st[i]);
  sqlite3_close(r->db);
  free(r);
}

static pt_status s_begin(pt_store *st, pt_error *err);
static pt_status s_commit(pt_store *st, pt_error *err);
static pt_status flush_rows(sstore *s, pt_error *err);

static void s_close(pt_store *st) {
  sstore *s = (sstore *)st;
  /* write the rows that lag (a failure only leaves them lagging: reads
   * fold past them) */
  if (s->pending.n && s->st[W_SESSION_UPDATE] && s_begin(st, NULL) == PT_OK) {
    s->last_flush_ns = 0;
    s_commit(st, NULL);
  }
  plist_free(&s->pending);
  plist_free(&s->staged);
  rowcounts_clear(s);
  free(s->rcs);
  while (s->pool) {
    sreader *r = s->pool;
    s->pool = r->next;
    reader_free(r);
  }
  for (int i = 0; i < W_COUNT; i++) sqlite3_finalize(s->st[i]);
  sqlite3_close(s->db);
  pthread_mutex_destroy(&s->pool_lock);
  free(s->path);
  free(s);
}

static pt_status s_begin(pt_store *st, pt_error *err) {
  sstore *s = (sstore *)st;
  /* IMMEDIATE takes the write lock now, so what we read inside the
   * transaction cannot change under us (another process on the file). */
  if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return db_fail(err, s->db, "begin");
  sqlite3_stmt *q = s->st[W_DATA_VERSION];
  int rc = sqlite3_step(q);
  int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -2;
  sqlite3_reset(q);
  /* Another connection wrote: what we remember of sessions may be older
   * than their events now, so it may no longer be served. Its rows are
   * still written (they never overwrite newer ones), then it is forgotten;
   * reads fold from the rows. */
  if (v != s->data_version && s->pending.n) {
    pt_status frc = flush_rows(s, err);
    plist_clear(&s->pending);
    if (frc) {
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
      return frc;
    }
  }
  s->data_version = v;
  return PT_OK;
}

static pt_status s_commit(pt_store *st, pt_error *err) {
  sstore *s = (sstore *)st;
  uint64_t now = mono_ns();
  int flush = s->pending.n + s->staged.n >= FLUSH_MAX ||
              now - s->last_flush_ns >= (uint64_t)s->flush_ms * 1000000u;
  pt_status rc = flush ? flush_rows(s, err) : PT_OK;
  if (rc == PT_OK && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    rc = db_fail(err, s->db, "commit");
  if (rc) {
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    plist_clear(&s->staged);
    rowcounts_clear(s);
    return rc;
  }
  if (flush) {
    plist_clear(&s->pending);
    s->last_flush_ns = now;
  } else {
    for (size_t i = 0; i < s->staged.n; i++) {
      if (plist_put(&s->pending, &s->staged.items[i]->s, 0)) {
        /* cannot remember it: forget all, so nothing stale is served */
        plist_clear(&s->pending);
        break;
      }
    }
  }
  plist_clear(&s->staged);
  return PT_OK;
}

static void s_rollback(pt_store *st) {
  sstore *s = (sstore *)st;
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  plist_clear(&s->staged);
  rowcounts_clear(s); /* rows written in it are gone */
}

static const char *col_text(sqlite3_stmt *q, int i) {
  const char *t = (const char *)sqlite3_column_text(q, i);
  return t ? t : "";
}

static pt_status row_session(sqlite3_stmt *q, const char *sid, pt_session *out, pt_error *err) {
  pt_session_init(out, sid, col_text(q, 0));
  out->event_count = sqlite3_column_int64(q, 1);
  snprintf(out->last_link, sizeof out->last_link, "%s", col_text(q, 2));
  snprintf(out->last_event_id, sizeof out->last_event_id, "%s", col_text(q, 3));
  out->first_ts = sqlite3_column_int64(q, 4);
  out->last_ts = sqlite3_column_int64(q, 5);
  out->created_at = sqlite3_column_int64(q, 6);
  out->updated_at = sqlite3_column_int64(q, 7);
  out->snap_ms = sqlite3_column_int64(q, 8);
  out->snap_suffix = sqlite3_column_int(q, 9);
  out->snapshot_count = sqlite3_column_int64(q, 10);
  if (pt_session_steps_decode(out, col_text(q, 11)))
    return pt_fail(err, PT_ESTORAGE, NULL, "sqlite: session %s has a damaged steps column", sid);
  return PT_OK;
}

static pt_event *row_event(sqlite3_stmt *q);

/* The "_N" suffix of a registry id reg_<session>_<ms>[_N]. */
static int id_suffix(const char *id, const char *sid) {
  const char *p = id + 4 + strlen(sid) + 1;
  if (strlen(id) < (size_t)(p - id)) return 0;
  while (*p >= '0' && *p <= '9') p++;
  return *p == '_' ? (int)strtol(p + 1, NULL, 10) : 0;
}

/* Brings an aggregate read from its (possibly lagging) row up to date: the
 * events after the row's event_count, and the newest snapshot's id state. */
static pt_status fold(sqlite3 *db, sqlite3_stmt *evq, sqlite3_stmt *snq, pt_session *s,
                      pt_error *err) {
  sqlite3_bind_text(evq, 1, s->session_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(evq, 2, s->event_count);
  sqlite3_bind_int64(evq, 3, INT64_MAX);
  pt_status st = PT_OK;
  int rc;
  while ((rc = sqlite3_step(evq)) == SQLITE_ROW) {
    pt_event *e = row_event(evq);
    /* a gap is damage: stop, verification will name it */
    int apply = e && e->seq == s->event_count;
    if (!e || (apply && pt_session_apply(s, e)))
      st = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    pt_event_free(e);
    if (!apply || st) break;
  }
  if (st == PT_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) st = db_fail(err, db, "fold events");
  sqlite3_reset(evq);
  if (st) return st;
  /* the newest entry (one index probe): entries made since the row was
   * written, by snapshot calls without events, are counted in */
  sqlite3_bind_text(snq, 1, s->session_id, -1, SQLITE_STATIC);
  rc = sqlite3_step(snq);
  if (rc == SQLITE_ROW) {
    int64_t at = sqlite3_column_int64(snq, 0);
    int suffix = id_suffix(col_text(snq, 1), s->session_id);
    int64_t n = sqlite3_column_int64(snq, 2);
    if (at > s->snap_ms || (at == s->snap_ms && suffix > s->snap_suffix)) {
      s->snap_ms = at;
      s->snap_suffix = suffix;
    }
    if (n + 1 > s->snapshot_count) s->snapshot_count = n + 1;
  } else if (rc != SQLITE_DONE) {
    st = db_fail(err, db, "fold snapshots");
  }
  sqlite3_reset(snq);
  return st;
}

static pt_status get_session(sqlite3 *db, sqlite3_stmt *q, sqlite3_stmt *evq, sqlite3_stmt *snq,
                             const char *sid, pt_session *out, int64_t *row_count, pt_error *err) {
  sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  pt_status st;
  if (rc == SQLITE_ROW)
    st = row_session(q, sid, out, err);
  else if (rc == SQLITE_DONE) {
    pt_session_init(out, sid, "");
    st = PT_ENOTFOUND;
  } else {
    pt_session_init(out, sid, "");
    st = db_fail(err, db, "read session");
  }
  sqlite3_reset(q);
  if (st == PT_OK && row_count) *row_count = out->event_count;
  if (st == PT_OK) st = fold(db, evq, snq, out, err);
  return st;
}

static pt_status s_session_get(pt_store *st, const char *sid, pt_session *out, pt_error *err) {
  sstore *s = (sstore *)st;
  /* what this process wrote last is newer than any row */
  pending *p = pt_map_get(&s->staged.map, sid);
  if (!p) p = pt_map_get(&s->pending.map, sid);
  if (p) {
    if (pt_session_copy(out, &p->s)) {
      pt_session_init(out, sid, "");
      return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    }
    return PT_OK;
  }
  int64_t row_count = -1;
  pt_status rc = get_session(s->db, s->st[W_SESSION_GET], s->st[W_EVENTS_FROM],
                             s->st[W_LATEST_SNAP], sid, out, &row_count, err);
  if (rc == PT_OK) rowcount_set(s, sid, row_count);
  return rc;
}

static pt_status write_row(sstore *s, const pt_session *x, int is_new, pt_error *err) {
  sqlite3_stmt *q = s->st[is_new ? W_SESSION_PUT : W_SESSION_UPDATE];
  char stack[512];
  pt_buf steps;
  pt_buf_init_on(&steps, stack, sizeof stack);
  pt_session_steps_encode(&steps, x);
  if (steps.failed) {
    pt_buf_cleanup(&steps);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  sqlite3_bind_text(q, 1, x->session_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, x->pipeline_type, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, x->event_count);
  sqlite3_bind_text(q, 4, x->last_link, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 5, x->last_event_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 6, x->first_ts);
  sqlite3_bind_int64(q, 7, x->last_ts);
  sqlite3_bind_int64(q, 8, x->created_at);
  sqlite3_bind_int64(q, 9, x->updated_at);
  sqlite3_bind_int64(q, 10, x->snap_ms);
  sqlite3_bind_int(q, 11, x->snap_suffix);
  sqlite3_bind_int64(q, 12, x->snapshot_count);
  sqlite3_bind_text(q, 13, steps.data, (int)steps.len, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  pt_buf_cleanup(&steps);
  return rc == SQLITE_DONE ? PT_OK : db_fail(err, s->db, "write session");
}

static pt_status s_session_put(pt_store *st, const pt_session *x, int is_new, pt_error *err) {
  sstore *s = (sstore *)st;
  /* a new session's row goes in with its first events: readers find a
   * session by its row */
  if (is_new || s->flush_ms == 0) {
    pt_status rc = write_row(s, x, is_new, err);
    if (rc == PT_OK) rowcount_set(s, x->session_id, x->event_count);
    return rc;
  }
  /* a row too far behind (or of unknown age) is written now; the staged
   * copy still serves this process until the commit */
  rowcount *known = pt_map_get(&s->rowcounts, x->session_id);
  if (!known || x->event_count - known->count >= LAG_MAX) {
    pt_status rc = write_row(s, x, 0, err);
    if (rc) return rc;
    rowcount_set(s, x->session_id, x->event_count);
  }
  return plist_put(&s->staged, x, 0) ? pt_fail(err, PT_ENOMEM, NULL, "out of memory") : PT_OK;
}

/* Writes every lagging row (pending, then this transaction's staged). */
static pt_status flush_rows(sstore *s, pt_error *err) {
  for (size_t i = 0; i < s->pending.n; i++) {
    pending *p = s->pending.items[i];
    if (pt_map_get(&s->staged.map, p->s.session_id)) continue; /* newer staged */
    pt_status rc = write_row(s, &p->s, 0, err);
    if (rc) return rc;
    rowcount_set(s, p->s.session_id, p->s.event_count);
  }
  for (size_t i = 0; i < s->staged.n; i++) {
    pt_status rc = write_row(s, &s->staged.items[i]->s, 0, err);
    if (rc) return rc;
    rowcount_set(s, s->staged.items[i]->s.session_id, s->staged.items[i]->s.event_count);
  }
  return PT_OK;
}

/* Digests are stored as their 32 raw bytes: half the size of the hex text,
 * and every event row carries three. */
static void unhex(const char *h, unsigned char out[32]) {
  for (int i = 0; i < 32; i++) {
    unsigned v = 0;
    for (int k = 0; k < 2; k++) {
      char c = h[2 * i + k];
      v = v * 16 + (unsigned)(c >= 'a' ? c - 'a' + 10 : c - '0');
    }
    out[i] = (unsigned char)v;
  }
}

static void col_digest(sqlite3_stmt *q, int i, char out[65]) {
  const unsigned char *b = sqlite3_column_blob(q, i);
  int n = sqlite3_column_bytes(q, i);
  /* anything but 32 bytes is damage: render it so verification flags it */
  if (b && n == 32)
    pt_hex(b, 32, out);
  else
    snprintf(out, 65, "damaged");
}

static pt_event *row_event(sqlite3_stmt *q) {
  pt_event *e = pt_event_new(col_text(q, 2), col_text(q, 0), col_text(q, 3), col_text(q, 4),
                             col_text(q, 9), (size_t)sqlite3_column_bytes(q, 9), col_text(q, 10),
                             (size_t)sqlite3_column_bytes(q, 10), col_text(q, 11),
                             (size_t)sqlite3_column_bytes(q, 11));
  if (!e) return NULL;
  e->seq = sqlite3_column_int64(q, 1);
  int status = sqlite3_column_int(q, 5);
  /* A status outside the enum can only come from tampering; keep it in range
   * so rendering is safe, and let verification flag the event. */
  e->status = status >= 0 && status <= 2 ? status : 0;
  e->ts = sqlite3_column_int64(q, 6);
  e->ts_given = sqlite3_column_int(q, 7);
  e->received_at = sqlite3_column_int64(q, 8);
  col_digest(q, 12, e->input_sha256);
  col_digest(q, 13, e->output_sha256);
  col_digest(q, 14, e->link);
  e->redacted = sqlite3_column_int(q, 15);
  e->id_given = 1;
  return e;
}

static pt_status s_event_find(pt_store *st, const char *sid, const char *eid, pt_event **out,
                              pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_EVENT_FIND];
  *out = NULL;
  sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, eid, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  pt_status r = PT_ENOTFOUND;
  if (rc == SQLITE_ROW) {
    *out = row_event(q);
    r = *out ? PT_OK : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  } else if (rc != SQLITE_DONE) {
    r = db_fail(err, s->db, "find event");
  }
  sqlite3_reset(q);
  return r;
}

static pt_status s_event_append(pt_store *st, const pt_event *e, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_EVENT_APPEND];
  sqlite3_bind_text(q, 1, e->session_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, e->seq);
  sqlite3_bind_text(q, 3, e->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, e->pipeline_type, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 5, e->step, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 6, e->status);
  sqlite3_bind_int64(q, 7, e->ts);
  sqlite3_bind_int(q, 8, e->ts_given);
  sqlite3_bind_int64(q, 9, e->received_at);
  sqlite3_bind_text(q, 10, e->input, (int)e->input_len, SQLITE_STATIC);
  sqlite3_bind_text(q, 11, e->output, (int)e->output_len, SQLITE_STATIC);
  sqlite3_bind_text(q, 12, e->error, (int)e->error_len, SQLITE_STATIC);
  unsigned char d[3][32];
  unhex(e->input_sha256, d[0]);
  unhex(e->output_sha256, d[1]);
  unhex(e->link, d[2]);
  sqlite3_bind_blob(q, 13, d[0], 32, SQLITE_TRANSIENT);
  sqlite3_bind_blob(q, 14, d[1], 32, SQLITE_TRANSIENT);
  sqlite3_bind_blob(q, 15, d[2], 32, SQLITE_TRANSIENT);
  sqlite3_bind_int(q, 16, e->redacted);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? PT_OK : db_fail(err, s->db, "append event");
}

static pt_status s_tx_event_ids(pt_store *st, const char *sid, int64_t from, int64_t to,
                                pt_sid_cb cb, void *ctx, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_EVENT_IDS];
  sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, from);
  sqlite3_bind_int64(q, 3, to);
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    if (cb(ctx, (const char *)sqlite3_column_text(q, 0))) break;
  pt_status st2 = rc == SQLITE_ROW || rc == SQLITE_DONE ? PT_OK : db_fail(err, s->db, "event ids");
  sqlite3_reset(q);
  return st2;
}

/* Runs a query of events (session, from seq, to seq: W_EVENTS_FROM or
 * R_EVENTS, the same columns) on db, handing each row to cb. */
static pt_status events_range(sqlite3 *db, sqlite3_stmt *q, const char *sid, int64_t from,
                              int64_t to, pt_event_cb cb, void *ctx, pt_error *err) {
  sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, from);
  sqlite3_bind_int64(q, 3, to);
  pt_status st = PT_OK;
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    pt_event *e = row_event(q);
    if (!e) {
      st = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
      break;
    }
    int stop = cb(ctx, e);
    pt_event_free(e);
    if (stop) break;
  }
  if (st == PT_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) st = db_fail(err, db, "read events");
  sqlite3_reset(q);
  return st;
}

static pt_status s_tx_read_events(pt_store *st, const char *sid, int64_t from, int64_t to,
                                  pt_event_cb cb, void *ctx, pt_error *err) {
  sstore *s = (sstore *)st;
  return events_range(s->db, s->st[W_EVENTS_FROM], sid, from, to, cb, ctx, err);
}

/* The row is rewritten in place; secure_delete (on for the writer) zeroes
 * the space the old payloads took, and s_scrub removes the older page
 * images from the WAL. */
static pt_status s_event_redact(pt_store *st, const char *sid, int64_t seq, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_EVENT_REDACT];
  sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, seq);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return db_fail(err, s->db, "redact");
  if (sqlite3_changes(s->db) != 1)
    return pt_fail(err, PT_ENOTFOUND, NULL, "no event %lld in session \"%s\"", (long long)seq,
                   sid);
  return PT_OK;
}

/* After a redaction's commit: a TRUNCATE checkpoint copies the current pages
 * (old payload space zeroed) into the database file and empties the WAL, so
 * no older page image remains in either file. It must wait for readers still
 * on older snapshots (reads are short transactions, an export's included),
 * and writes wait meanwhile: bounded to SCRUB_MS in all, in short tries. */
#define SCRUB_MS 5000
static pt_status s_scrub(pt_store *st, pt_error *err) {
  sstore *s = (sstore *)st;
  int rc = SQLITE_BUSY;
  uint64_t until = mono_ns() + (uint64_t)SCRUB_MS * 1000000u;
  sqlite3_busy_timeout(s->db, 50);
  while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    int nlog = 0, nckpt = 0;
    rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &nlog, &nckpt);
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && mono_ns() >= until) break;
  }
  sqlite3_busy_timeout(s->db, 10000);
  if (rc != SQLITE_OK)
    return pt_fail(err, PT_ESTORAGE, NULL,
                   "sqlite: the redaction is stored but older copies may remain in the "
                   "write-ahead log (checkpoint: %s); repeat the request",
                   sqlite3_errmsg(s->db));
  return PT_OK;
}

static pt_status s_snapshot_put(pt_store *st, const pt_snap *x, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_SNAPSHOT_PUT];
  sqlite3_bind_text(q, 1, x->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, x->session_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, x->pipeline_type, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, x->chain_hash, 64, SQLITE_STATIC);
  sqlite3_bind_int64(q, 5, x->event_count);
  sqlite3_bind_text(q, 6, x->last_event_id, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 7, x->completed);
  sqlite3_bind_int(q, 8, x->total);
  sqlite3_bind_int(q, 9, x->percent);
  sqlite3_bind_text(q, 10, x->state, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 11, x->is_valid);
  sqlite3_bind_int64(q, 12, x->created_at);
  if (x->notes)
    sqlite3_bind_text(q, 13, x->notes, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 13);
  if (x->signature)
    sqlite3_bind_text(q, 14, x->signature, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 14);
  sqlite3_bind_int64(q, 15, x->n);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? PT_OK : db_fail(err, s->db, "write snapshot");
}

static pt_status s_generation(pt_store *st, int64_t *out, pt_error *err) {
  (void)err;
  *out = ((sstore *)st)->data_version; /* read by s_begin */
  return PT_OK;
}

static void s_flush(pt_store *st) {
  ((sstore *)st)->last_flush_ns = 0; /* s_commit flushes when the interval is up */
}

static pt_status s_reader_open(pt_store *st, pt_reader **out, pt_error *err) {
  sstore *s = (sstore *)st;
  *out = NULL;
  pthread_mutex_lock(&s->pool_lock);
  sreader *r = s->pool;
  if (r) s->pool = r->next;
  pthread_mutex_unlock(&s->pool_lock);
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    r->base.store = st;
    pt_status rc = open_conn(s->path, &r->db, err);
    for (int i = 0; rc == PT_OK && i < R_COUNT; i++)
      if (sqlite3_prepare_v3(r->db, RSQL[i], -1, SQLITE_PREPARE_PERSISTENT, &r->st[i], NULL) !=
          SQLITE_OK)
        rc = db_fail(err, r->db, "prepare");
    if (rc != PT_OK) {
      reader_free(r);
      return rc;
    }
  }
  /* One read transaction for the reader's life: every read sees the same
   * committed state. */
  int brc = sqlite3_step(r->st[R_BEGIN]);
  sqlite3_reset(r->st[R_BEGIN]);
  if (brc != SQLITE_DONE) {
    pt_status rc = db_fail(err, r->db, "begin read");
    reader_free(r);
    return rc;
  }
  *out = &r->base;
  return PT_OK;
}

static void s_reader_close(pt_reader *rb) {
  if (!rb) return;
  sreader *r = (sreader *)rb;
  sstore *s = (sstore *)rb->store;
  sqlite3_step(r->st[R_COMMIT]);
  sqlite3_reset(r->st[R_COMMIT]);
  pthread_mutex_lock(&s->pool_lock);
  r->next = s->pool;
  s->pool = r;
  pthread_mutex_unlock(&s->pool_lock);
}

static pt_status s_read_session(pt_reader *rb, const char *sid, pt_session *out, pt_error *err) {
  sreader *r = (sreader *)rb;
  return get_session(r->db, r->st[R_SESSION], r->st[R_EVENTS], r->st[R_LATEST_SNAP], sid, out, NULL,
                     err);
}

static pt_status s_read_events(pt_reader *rb, const char *sid, int64_t from, int64_t to,
                               pt_event_cb cb, void *ctx, pt_error *err) {
  sreader *r = (sreader *)rb;
  return events_range(r->db, r->st[R_EVENTS], sid, from, to, cb, ctx, err);
}

/* Steps a bound snapshot query (the columns of RSQL's snapshot reads), one
 * callback a row. */
static pt_status snapshot_rows(sreader *r, sqlite3_stmt *q, pt_snap_cb cb, void *ctx,
                               pt_error *err) {
  int rc;
  pt_status st = PT_OK;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    pt_snap x;
    memset(&x, 0, sizeof x);
    snprintf(x.id, sizeof x.id, "%s", col_text(q, 0));
    snprintf(x.session_id, sizeof x.session_id, "%s", col_text(q, 1));
    snprintf(x.pipeline_type, sizeof x.pipeline_type, "%s", col_text(q, 2));
    snprintf(x.chain_hash, sizeof x.chain_hash, "%s", col_text(q, 3));
    x.event_count = sqlite3_column_int64(q, 4);
    snprintf(x.last_event_id, sizeof x.last_event_id, "%s", col_text(q, 5));
    x.completed = sqlite3_column_int(q, 6);
    x.total = sqlite3_column_int(q, 7);
    x.percent = sqlite3_column_int(q, 8);
    snprintf(x.state, sizeof x.state, "%s", col_text(q, 9));
    x.is_valid = sqlite3_column_int(q, 10);
    x.created_at = sqlite3_column_int64(q, 11);
    /* Borrowed for the callback: the row stays valid until the next step. */
    x.notes = (char *)sqlite3_column_text(q, 12);
    x.signature = (char *)sqlite3_column_text(q, 13);
    x.n = sqlite3_column_int64(q, 14);
    if (cb(ctx, &x)) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) st = db_fail(err, r->db, "read snapshots");
  sqlite3_reset(q);
  return st;
}

static pt_status s_read_snapshots(pt_reader *rb, const char *sid, int64_t before_n, int64_t limit,
                                  pt_snap_cb cb, void *ctx, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[before_n >= 0 ? R_SNAPS_AFTER : R_SNAPS_FIRST];
  sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, limit > 0 ? limit : -1);
  if (before_n >= 0) sqlite3_bind_int64(q, 3, before_n);
  return snapshot_rows(r, q, cb, ctx, err);
}

static pt_status s_read_snapshots_from(pt_reader *rb, const char *sid, int64_t from_n,
                                       int64_t limit, pt_snap_cb cb, void *ctx, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_SNAPS_FROM];
  sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, from_n);
  sqlite3_bind_int64(q, 3, limit > 0 ? limit : -1);
  return snapshot_rows(r, q, cb, ctx, err);
}

static pt_status s_list_session_ids(pt_reader *rb, const char *after_id, int64_t limit,
                                    pt_sid_cb cb, void *ctx, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_IDS];
  sqlite3_bind_text(q, 1, after_id ? after_id : "", -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, limit > 0 ? limit : -1);
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    if (cb(ctx, col_text(q, 0))) break;
  pt_status st =
      rc == SQLITE_ROW || rc == SQLITE_DONE ? PT_OK : db_fail(err, r->db, "list sessions");
  sqlite3_reset(q);
  return st;
}

/* Rows in activity order; each session is read with read_session, which
 * folds in events past a lagging row. The order is the rows' own, so it may
 * trail the newest activity by the write-behind delay (FLUSH_MS). */
static pt_status s_list_sessions(pt_reader *rb, const char *ptype, int64_t before_ms,
                                 const char *before_id, int64_t limit, pt_session_cb cb, void *ctx,
                                 pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[before_id ? R_LIST_AFTER : R_LIST_FIRST];
  if (ptype)
    sqlite3_bind_text(q, 1, ptype, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 1);
  sqlite3_bind_int64(q, 2, limit > 0 ? limit : -1);
  if (before_id) {
    sqlite3_bind_int64(q, 3, before_ms);
    sqlite3_bind_text(q, 4, before_id, -1, SQLITE_STATIC);
  }
  pt_status st = PT_OK;
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    char sid[PT_ID_MAX + 1];
    snprintf(sid, sizeof sid, "%s", col_text(q, 0));
    int64_t key = sqlite3_column_int64(q, 1);
    pt_session s;
    pt_session_init(&s, sid, "");
    st = s_read_session(rb, sid, &s, err);
    int stop = st == PT_OK ? cb(ctx, &s, key) : 1;
    pt_session_cleanup(&s);
    if (stop) break;
  }
  if (st == PT_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
    st = db_fail(err, r->db, "list sessions");
  sqlite3_reset(q);
  return st;
}

/* ---- issues ------------------------------------------------------------------- */

static pt_status row_issue(sqlite3_stmt *q, pt_issue *x, pt_error *err) {
  memset(x, 0, sizeof *x);
  snprintf(x->id, sizeof x->id, "%s", col_text(q, 0));
  snprintf(x->fingerprint, sizeof x->fingerprint, "%s", col_text(q, 1));
  snprintf(x->pipeline_type, sizeof x->pipeline_type, "%s", col_text(q, 2));
  snprintf(x->step, sizeof x->step, "%s", col_text(q, 3));
  snprintf(x->code, sizeof x->code, "%s", col_text(q, 4));
  x->open = sqlite3_column_int(q, 5);
  x->count = sqlite3_column_int64(q, 6);
  x->sessions_affected = sqlite3_column_int64(q, 7);
  x->first_seen = sqlite3_column_int64(q, 8);
  x->last_seen = sqlite3_column_int64(q, 9);
  x->resolved_at = sqlite3_column_int64(q, 10);
  x->reopened = sqlite3_column_int64(q, 11);
  snprintf(x->last_session_id, sizeof x->last_session_id, "%s", col_text(q, 12));
  if (sqlite3_column_type(q, 13) != SQLITE_NULL && !(x->sample_event = strdup(col_text(q, 13))))
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return PT_OK;
}

static pt_status one_issue(sqlite3 *db, sqlite3_stmt *q, const char *id, pt_issue *out,
                           pt_error *err) {
  memset(out, 0, sizeof *out);
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  pt_status st = rc == SQLITE_ROW    ? row_issue(q, out, err)
                 : rc == SQLITE_DONE ? PT_ENOTFOUND
                                     : db_fail(err, db, "read issue");
  sqlite3_reset(q);
  return st;
}

static pt_status s_issue_get(pt_store *st, const char *id, pt_issue *out, pt_error *err) {
  sstore *s = (sstore *)st;
  return one_issue(s->db, s->st[W_ISSUE_GET], id, out, err);
}

static pt_status s_issue_put(pt_store *st, const pt_issue *x, int is_new, pt_error *err) {
  (void)is_new; /* INSERT OR REPLACE serves both */
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_ISSUE_PUT];
  sqlite3_bind_text(q, 1, x->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, x->fingerprint, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, x->pipeline_type, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, x->step, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 5, x->code, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 6, x->open);
  sqlite3_bind_int64(q, 7, x->count);
  sqlite3_bind_int64(q, 8, x->sessions_affected);
  sqlite3_bind_int64(q, 9, x->first_seen);
  sqlite3_bind_int64(q, 10, x->last_seen);
  sqlite3_bind_int64(q, 11, x->resolved_at);
  sqlite3_bind_int64(q, 12, x->reopened);
  sqlite3_bind_text(q, 13, x->last_session_id, -1, SQLITE_STATIC);
  if (x->sample_event)
    sqlite3_bind_text(q, 14, x->sample_event, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 14);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? PT_OK : db_fail(err, s->db, "write issue");
}

static pt_status s_issue_session_add(pt_store *st, const char *issue_id, const char *sid,
                                     int64_t at, int *is_new, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_ISSUE_SESSION_INSERT];
  sqlite3_bind_text(q, 1, issue_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, at);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return db_fail(err, s->db, "write issue session");
  *is_new = sqlite3_changes(s->db) > 0;
  if (*is_new) return PT_OK;
  q = s->st[W_ISSUE_SESSION_TOUCH];
  sqlite3_bind_text(q, 1, issue_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, at);
  rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? PT_OK : db_fail(err, s->db, "write issue session");
}

static pt_status s_read_issue(pt_reader *rb, const char *id, pt_issue *out, pt_error *err) {
  sreader *r = (sreader *)rb;
  return one_issue(r->db, r->st[R_ISSUE], id, out, err);
}

static pt_status s_read_issues(pt_reader *rb, int open, const char *ptype, int64_t before_ms,
                               const char *before_id, int64_t limit, pt_issue_cb cb, void *ctx,
                               pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[before_id ? R_ISSUES_AFTER : R_ISSUES_FIRST];
  sqlite3_bind_int(q, 1, open);
  if (ptype)
    sqlite3_bind_text(q, 2, ptype, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 2);
  sqlite3_bind_int64(q, 3, limit > 0 ? limit : -1);
  if (before_id) {
    sqlite3_bind_int64(q, 4, before_ms);
    sqlite3_bind_text(q, 5, before_id, -1, SQLITE_STATIC);
  }
  int rc;
  pt_status st = PT_OK;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    pt_issue x;
    st = row_issue(q, &x, err);
    int stop = st != PT_OK || cb(ctx, &x);
    pt_issue_cleanup(&x);
    if (stop) break;
  }
  if (st == PT_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) st = db_fail(err, r->db, "read issues");
  sqlite3_reset(q);
  return st;
}

static pt_status s_read_issue_sessions(pt_reader *rb, const char *issue_id, int64_t limit,
                                       pt_issue_session_cb cb, void *ctx, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_ISSUE_SESSIONS];
  sqlite3_bind_text(q, 1, issue_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, limit > 0 ? limit : -1);
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    if (cb(ctx, col_text(q, 0), sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2))) break;
  pt_status st =
      rc == SQLITE_ROW || rc == SQLITE_DONE ? PT_OK : db_fail(err, r->db, "read issue sessions");
  sqlite3_reset(q);
  return st;
}

static pt_status s_read_issue_sessions_from(pt_reader *rb, const char *issue_id, const char *after,
                                            int64_t limit, pt_issue_session_cb cb, void *ctx,
                                            pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_ISSUE_SESSIONS_FROM];
  sqlite3_bind_text(q, 1, issue_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, after ? after : "", -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, limit > 0 ? limit : -1);
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    if (cb(ctx, col_text(q, 0), sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2))) break;
  pt_status st =
      rc == SQLITE_ROW || rc == SQLITE_DONE ? PT_OK : db_fail(err, r->db, "read issue sessions");
  sqlite3_reset(q);
  return st;
}

/* ---- the webhook outbox --------------------------------------------------------- */

static pt_status s_outbox_add(pt_store *st, const char *issue_id, const char *action, int64_t at,
                              int64_t due_at, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[strcmp(action, "updated") == 0 ? W_OUTBOX_ADD_COALESCED : W_OUTBOX_ADD];
  sqlite3_bind_text(q, 1, issue_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, action, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, at);
  sqlite3_bind_int64(q, 4, due_at);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? PT_OK : db_fail(err, s->db, "queue webhook");
}

static pt_status s_outbox_done(pt_store *st, int64_t id, int ok, int bump, int64_t next_at,
                               pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[ok ? W_OUTBOX_DELETE : W_OUTBOX_RESCHEDULE];
  sqlite3_bind_int64(q, 1, id);
  if (!ok) {
    sqlite3_bind_int64(q, 2, next_at);
    sqlite3_bind_int(q, 3, bump ? 1 : 0);
  }
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? PT_OK : db_fail(err, s->db, "update webhook");
}

static pt_status s_read_outbox_due(pt_reader *rb, int64_t now, int64_t limit, pt_outbox *out,
                                   size_t *n, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_OUTBOX_DUE];
  sqlite3_bind_int64(q, 1, now);
  sqlite3_bind_int64(q, 2, limit);
  *n = 0;
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW && (int64_t)*n < limit) {
    pt_outbox *o = &out[(*n)++];
    memset(o, 0, sizeof *o);
    o->id = sqlite3_column_int64(q, 0);
    snprintf(o->issue_id, sizeof o->issue_id, "%s", col_text(q, 1));
    snprintf(o->action, sizeof o->action, "%s", col_text(q, 2));
    o->created_at = sqlite3_column_int64(q, 3);
    o->next_at = sqlite3_column_int64(q, 4);
    o->attempts = sqlite3_column_int(q, 5);
  }
  pt_status st = rc == SQLITE_ROW || rc == SQLITE_DONE ? PT_OK : db_fail(err, r->db, "read outbox");
  sqlite3_reset(q);
  return st;
}

static pt_status s_read_outbox_count(pt_reader *rb, int64_t *out, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_OUTBOX_COUNT];
  int rc = sqlite3_step(q);
  *out = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
  sqlite3_reset(q);
  return rc == SQLITE_ROW ? PT_OK : db_fail(err, r->db, "count outbox");
}

const pt_store_methods pt_store_sqlite_methods = {
    .version = 1,
    .scheme = "sqlite",
    .flags = 0,
    .open = s_open,
    .close = s_close,
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .session_get = s_session_get,
    .session_put = s_session_put,
    .event_find = s_event_find,
    .event_append = s_event_append,
    .snapshot_put = s_snapshot_put,
    .generation = s_generation,
    .flush = s_flush,
    .tx_event_ids = s_tx_event_ids,
    .tx_read_events = s_tx_read_events,
    .event_redact = s_event_redact,
    .scrub = s_scrub,
    .reader_open = s_reader_open,
    .reader_close = s_reader_close,
    .read_session = s_read_session,
    .read_events = s_read_events,
    .read_snapshots = s_read_snapshots,
    .list_sessions = s_list_sessions,
    .list_session_ids = s_list_session_ids,
    .read_snapshots_from = s_read_snapshots_from,
    .issue_get = s_issue_get,
    .issue_put = s_issue_put,
    .issue_session_add = s_issue_session_add,
    .read_issue = s_read_issue,
    .read_issues = s_read_issues,
    .read_issue_sessions = s_read_issue_sessions,
    .read_issue_sessions_from = s_read_issue_sessions_from,
    .outbox_add = s_outbox_add,
    .outbox_done = s_outbox_done,
    .read_outbox_due = s_read_outbox_due,
    .read_outbox_count = s_read_outbox_count,
};
