/* sqlite_store.h - what the files of the "sqlite:PATH" backend share, for
 * src/store only: the store and reader structs, the layout of the prepared
 * statements, and the functions one file calls in another.
 *
 * The backend: WAL mode, synchronous=FULL so a commit is on disk when it
 * returns, one writer connection (driven by the tracker's committer thread,
 * which batches many appends into one commit) and a pool of reader
 * connections for concurrent reads.
 *
 *   sqlite_schema.c  the migrations and the text of every statement
 *   sqlite_open.c    connections, open and close, the table of methods
 *   sqlite_codec.c   rows to structs (and digests to blobs)
 *   sqlite_write.c   the write transaction, and session rows written behind
 *   sqlite_read.c    the readers, and the reads the writer shares with them
 *   sqlite_issues.c  issues, the sessions they affected, the webhook outbox
 *   sqlite_rollups.c rollups */
#ifndef PT_SQLITE_STORE_H
#define PT_SQLITE_STORE_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "../core/clock.h"
#include "../core/map.h"
#include "store.h"

/* The writer's prepared statements; their text is sq_wsql[]. */
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
  W_OUTBOX_CLAIM,
  W_EVENT_IDS,
  W_EVENT_REDACT,
  W_ROLLUP_ADD,
  W_ROLLUP_TODO,
  W_ROLLUP_TODO_SET,
  W_ROLLUP_TODO_DONE,
  W_MARK_PUT,
  W_COUNT
};

/* A reader's prepared statements; their text is sq_rsql[]. */
enum {
  R_SESSION,
  R_EVENTS,
  R_SNAPS_FIRST,
  R_SNAPS_AFTER,
  R_LATEST_SNAP,
  R_LIST_ALL,
  R_LIST_TYPE,
  R_LIST_STATE,
  R_LIST_BOTH,
  R_MARK,
  R_BEGIN,
  R_COMMIT,
  R_IDS,
  R_IDS_PREFIX,
  R_SNAPS_FROM,
  R_ISSUE,
  R_ISSUES_FIRST,
  R_ISSUES_AFTER,
  R_ISSUE_SESSIONS,
  R_ISSUE_SESSIONS_FROM,
  R_OUTBOX_DUE,
  R_OUTBOX_COUNT,
  R_ROLLUPS,
  R_CREATED,
  R_COUNT
};

extern const char *const sq_wsql[W_COUNT];
extern const char *const sq_rsql[R_COUNT];

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
/* How long a statement waits for another connection's lock (ms). */
#define BUSY_TIMEOUT_MS 10000
#define FLUSH_MAX 2048
#define LAG_MAX 32
#define ROWCOUNTS_MAX 100000

/* ---- sqlite_schema.c ---- */

/* Creates or migrates db's schema to this build's version, in one
 * transaction; fails on a database newer than the build. */
pt_status sq_migrate(sqlite3 *db, pt_error *err);

/* ---- sqlite_open.c ---- */

/* Fills err with what db says went wrong in `what`; returns PT_ESTORAGE. */
pt_status sq_db_fail(pt_error *err, sqlite3 *db, const char *what);
/* Opens a connection to path with the backend's pragmas (the writer and
 * every reader alike). On failure *out is NULL. */
pt_status sq_open_conn(const char *path, sqlite3 **out, pt_error *err);

/* ---- sqlite_codec.c: a row's columns as the core's structs ---- */

/* The column's text, "" for NULL; valid until the statement steps again. */
const char *sq_col_text(sqlite3_stmt *q, int i);
/* A digest's 64 hex digits as the 32 bytes a row stores. */
void sq_unhex(const char *h, unsigned char out[32]);
/* Binds a payload digest to parameter i: its 32 bytes, or an empty blob for
 * the digest of null (read back as such). */
void sq_bind_digest(sqlite3_stmt *q, int i, const char *hex);
/* The sessions row (W_SESSION_GET's columns) of sid into *out, which it
 * initialises (the caller cleans it up, failure included). */
pt_status sq_row_session(sqlite3_stmt *q, const char *sid, pt_session *out, pt_error *err);
/* The events row (W_EVENT_FIND's columns) as a new event (free with
 * pt_event_free), or NULL when out of memory. */
pt_event *sq_row_event(sqlite3_stmt *q);
/* The issues row (W_ISSUE_GET's columns) into *x (pt_issue_cleanup it,
 * failure included). */
pt_status sq_row_issue(sqlite3_stmt *q, pt_issue *x, pt_error *err);

/* ---- sqlite_write.c: the write transaction (store.h states each method) ---- */

/* Frees every aggregate l holds, and its array. */
void sq_plist_free(plist *l);
/* Forgets what every session's row is known to hold. */
void sq_rowcounts_clear(sstore *s);
pt_status sq_begin(pt_store *st, pt_error *err);
pt_status sq_commit(pt_store *st, pt_error *err);
void sq_rollback(pt_store *st);
pt_status sq_session_get(pt_store *st, const char *sid, pt_session *out, pt_error *err);
pt_status sq_session_put(pt_store *st, const pt_session *x, int is_new, pt_error *err);
pt_status sq_event_find(pt_store *st, const char *sid, const char *eid, pt_event **out,
                        pt_error *err);
pt_status sq_event_append(pt_store *st, const pt_event *e, pt_error *err);
pt_status sq_event_redact(pt_store *st, const char *sid, int64_t seq, pt_error *err);
pt_status sq_scrub(pt_store *st, pt_error *err);
pt_status sq_snapshot_put(pt_store *st, const pt_snap *x, pt_error *err);
pt_status sq_generation(pt_store *st, int64_t *out, pt_error *err);
void sq_flush(pt_store *st);

/* ---- sqlite_read.c: the readers, and reads the writer shares ---- */

/* The aggregate of sid read with q (R_SESSION or W_SESSION_GET) and brought
 * up to date past a lagging row with evq (R_EVENTS or W_EVENTS_FROM) and snq
 * (R_LATEST_SNAP or W_LATEST_SNAP), all on db. *out is initialised here and
 * cleaned up by the caller, PT_ENOTFOUND included; *row_count (when not
 * NULL) is set to the event_count the row itself holds. */
pt_status sq_get_session(sqlite3 *db, sqlite3_stmt *q, sqlite3_stmt *evq, sqlite3_stmt *snq,
                         const char *sid, pt_session *out, int64_t *row_count, pt_error *err);
/* Finalizes a reader's statements and closes its connection. */
void sq_reader_free(sreader *r);
pt_status sq_tx_event_ids(pt_store *st, const char *sid, int64_t from, int64_t to, pt_sid_cb cb,
                          void *ctx, pt_error *err);
pt_status sq_tx_read_events(pt_store *st, const char *sid, int64_t from, int64_t to, pt_event_cb cb,
                            void *ctx, pt_error *err);
pt_status sq_reader_open(pt_store *st, pt_reader **out, pt_error *err);

/* ---- sqlite_rollups.c ---- */

extern const pt_store_rollup_methods pt__sqlite_rollup_methods;
void sq_reader_close(pt_reader *rb);
pt_status sq_read_session(pt_reader *rb, const char *sid, pt_session *out, pt_error *err);
pt_status sq_read_events(pt_reader *rb, const char *sid, int64_t from, int64_t to, pt_event_cb cb,
                         void *ctx, pt_error *err);
pt_status sq_read_snapshots(pt_reader *rb, const char *sid, int64_t before_n, int64_t limit,
                            pt_snap_cb cb, void *ctx, pt_error *err);
pt_status sq_read_snapshots_from(pt_reader *rb, const char *sid, int64_t from_n, int64_t limit,
                                 pt_snap_cb cb, void *ctx, pt_error *err);
pt_status sq_list_session_ids_prefix(pt_reader *rb, const char *prefix, const char *after_id,
                                     int64_t limit, pt_sid_cb cb, void *ctx, pt_error *err);
pt_status sq_list_session_ids(pt_reader *rb, const char *after_id, int64_t limit, pt_sid_cb cb,
                              void *ctx, pt_error *err);
pt_status sq_list_sessions(pt_reader *rb, const char *ptype, int64_t before_ms,
                           const char *before_id, int64_t limit, pt_session_cb cb, void *ctx,
                           pt_error *err);
pt_status sq_list_sessions_by(pt_reader *rb, const char *ptype, int scode, int64_t after_ms,
                              int64_t before_ms, const char *before_id, int64_t limit,
                              pt_session_cb cb, void *ctx, pt_error *err);
pt_status sq_read_mark(pt_reader *rb, const char *key, char *out, size_t cap, pt_error *err);
pt_status sq_mark_put(pt_store *st, const char *key, const char *value, pt_error *err);

/* ---- sqlite_issues.c: issues and the webhook outbox ---- */

extern const pt_store_issue_methods pt__sqlite_issue_methods;

#endif
