/* pg_store.h - what the files of the "postgres://" backend share, for
 * src/store only: the store and reader structs, the statements, and the
 * functions one file calls in another.
 *
 * The backend: one writer connection (the tracker's committer thread, which
 * batches many appends into one transaction), a pool of reader connections,
 * and a listener connection for changes other servers commit. Several
 * pipetrackd may share one database; what keeps them correct:
 *
 *   - a group's transaction first takes a transaction-scoped advisory lock
 *     on every session and issue it will touch (prepare(), sorted: no
 *     deadlock between groups), then reads them: a session's aggregate,
 *     its next seq and its event ids cannot change under the group, however
 *     many servers write the same session;
 *   - nothing is cached across transactions (no generation()): every
 *     transaction reads the rows it builds on, after taking their locks;
 *   - the session rows are written in the commit of their events (no row
 *     lags, nothing lives in one process's memory);
 *   - a serialization failure or deadlock is marked retryable: the
 *     committer runs the group again.
 *
 *   pg_conn.c    connections, errors, statements, the pipeline helper,
 *                open and close, migrations, the table of methods, listen
 *   pg_codec.c   rows to structs, and the array literals of batch writes
 *   pg_write.c   the write transaction
 *   pg_read.c    the readers
 *   pg_issues.c  issues, the sessions they affected, the webhook outbox */
#ifndef PT_PG_STORE_H
#define PT_PG_STORE_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>

#include "../core/buf.h"
#include "../core/map.h"
#include "store.h"

/* Named statements, prepared on every connection when it is made; their
 * text is pg_sql[]. */
enum {
  Q_LOCKS,
  Q_SESSIONS_GET,
  Q_SESSION_GET,
  Q_EVENTS_FIND,
  Q_EVENT_FIND,
  Q_SNAPS_INSERT,
  Q_NOTIFY,
  Q_EVENTS_RANGE,
  Q_EVENT_IDS,
  Q_EVENT_REDACT,
  Q_ISSUE_GET,
  Q_ISSUE_PUT,
  Q_ISSUE_SESSION_ADD,
  Q_OUTBOX_ADD,
  Q_OUTBOX_ADD_COALESCED,
  Q_OUTBOX_CLAIM,
  Q_OUTBOX_DELETE,
  Q_OUTBOX_RESCHEDULE,
  Q_SNAPS_FIRST,
  Q_SNAPS_BEFORE,
  Q_SNAPS_FROM,
  Q_LIST_ALL,
  Q_LIST_TYPE,
  Q_LIST_STATE,
  Q_LIST_BOTH,
  Q_MARK,
  Q_MARK_PUT,
  Q_IDS,
  Q_IDS_PREFIX,
  Q_ISSUES_FIRST,
  Q_ISSUES_AFTER,
  Q_ISSUE_SESSIONS,
  Q_ISSUE_SESSIONS_FROM,
  Q_OUTBOX_DUE,
  Q_OUTBOX_COUNT,
  Q_ROLLUPS_ADD,
  Q_ROLLUPS_READ,
  Q_CREATED,
  Q_ROLLUP_TODO,
  Q_ROLLUP_TODO_SET,
  Q_ROLLUP_TODO_DONE,
  Q_COUNT
};
extern const char *const pg_sql[Q_COUNT];

/* A group's events and session rows go as multi-row VALUES lists,
 * prepared a size at a time (1, 2, 4 ... PG_CHUNK_MAX rows): n rows are
 * sent as the chunks of n's binary digits, in one pipeline. */
#define PG_CHUNKS 9
enum { PG_V_EVENTS, PG_V_SESSIONS, PG_V_COUNT };
#define Q_VALUES(table, k) (Q_COUNT + (table)*PG_CHUNKS + (k))
#define Q_ALL (Q_COUNT + PG_V_COUNT * PG_CHUNKS)
/* The text of statement stmt: pg_sql[stmt], or a VALUES insert; NULL out
 * of memory. */
const char *pg_stmt_sql(int stmt);

/* The columns every event query selects, in pg_row_event's order. */
#define PG_EVENT_COLS                                                                   \
  "session_id, seq, id, pipeline_type, step, status, ts, ts_given, received_at, input," \
  " output, error, encode(input_sha256, 'hex'), encode(output_sha256, 'hex'),"          \
  " encode(link, 'hex'), redacted"
/* The columns an events insert names, in the order of its values. */
#define PG_EVENT_INSERT_COLS                                                            \
  "session_id, seq, id, pipeline_type, step, status, ts, ts_given, received_at, input," \
  " output, error, input_sha256, output_sha256, link, redacted"
/* The columns of a session row after session_id, in pg_row_session's order. */
#define PG_SESSION_COLS                                                                  \
  "pipeline_type, event_count, last_link, last_event_id, first_ts, last_ts, created_at," \
  " updated_at, snap_ms, snap_suffix, snapshot_count, steps, recent, version, state"
#define PG_SNAP_COLS                                                                  \
  "id, session_id, pipeline_type, chain_hash, event_count, last_event_id, completed," \
  " total, percent, state, is_valid, created_at, notes, signature, n"
#define PG_ISSUE_COLS                                                           \
  "id, fingerprint, pipeline_type, step, code, open, count, sessions_affected," \
  " first_seen, last_seen, resolved_at, reopened, last_session_id, sample_event"

/* One statement of a pipeline (pg_pipeline): a named statement (or, with
 * sql set, a text of its own) and its parameters as text. */
typedef struct pgq {
  int stmt; /* Q_*, or -1 with sql */
  const char *sql;
  int n;
  const char *const *v;
  PGresult *res; /* set by pg_pipeline; the caller PQclears it */
} pgq;

/* A connection and what a failure on it meant. */
typedef struct pgconn {
  PGconn *c;
  /* the last failure was the connection's (reset it before the next use) */
  int broken;
  /* the last failure's SQLSTATE says running the transaction again may
   * succeed (40001 serialization, 40P01 deadlock) */
  int retryable;
  unsigned char prepared[Q_ALL]; /* statements prepared on it */
} pgconn;

typedef struct pgreader {
  pt_reader base;
  pgconn k;
  int in_tx; /* the read transaction began (with the first read) */
  struct pgreader *next;
} pgreader;

/* A keyed entry owned by a pgset: the key (copied) and a value whose
 * free function the set knows. */
typedef struct pgent {
  void *v;
  char key[];
} pgent;

typedef struct pgset {
  pt_map map;
  pgent **e;
  size_t n, cap;
  void (*free_v)(void *);
} pgset;

/* The value of a prefetched key that is not stored. */
extern char pg_absent[1];

/* A session's aggregate and the version of its row (1 when inserted, one
 * more at every write; 0: no row yet). The aggregate comes first: a pgsess
 * is used where a pt_session is. */
typedef struct pgsess {
  pt_session s;
  int64_t version;
} pgsess;

/* Sessions whose committed rows a store remembers, at most. */
#define PG_CACHE_MAX 20000

typedef struct pgstore {
  pt_store base;
  char *conninfo;
  char instance[17]; /* this store's name in notifications (random) */
  pgconn w;          /* the writer */
  int in_tx;
  int tx_sent; /* a statement of this transaction reached the server */
  /* ---- the transaction's writes, sent with its commit (or before a read
   * that must see them) ---- */
  pt_event **ev; /* owned; those before evsent reached the server */
  size_t nev, capev, evsent;
  pgset evpend;   /* "sid\x1fid" -> the pending event (borrowed from ev) */
  pgset sesspend; /* sid -> pt_session (owned copy) */
  pt_snap *snaps; /* owned copies; those before snapsent reached the server */
  size_t nsnaps, capsnaps, snapsent;
  pgset notify;         /* "s|sid" or "i|iid" -> NULL: who hears of the commit */
  struct pgroll *rolls; /* rollup deltas (owned copies) */
  size_t nrolls, caprolls;
  int shard; /* the rollup rows this store adds to (random: servers do not
                wait for each other's row locks) */
  /* ---- the rows this store committed last (sid -> pgsess) ----
   * A group whose sessions are all here and that names no issue is sent
   * optimistically: no locks, no reads, one round trip; each row is written
   * only if its version is still the remembered one, and an event's seq or
   * id already taken fails its insert. Either failure rolls the group back
   * as retryable, forgets its sessions, and the retry goes the locked way. */
  pgset cache;
  int optimistic; /* this transaction went without locks */
  /* ---- read at prepare ---- */
  pgset locked;  /* "s:sid" / "i:iid" -> NULL: advisory locks held */
  pgset presess; /* sid -> pt_session, or pg_absent */
  pgset preev;   /* "sid\x1fid" -> pt_event, or pg_absent */
  pt_buf scratch;
  /* ---- readers ---- */
  pthread_mutex_t pool_lock;
  pgreader *pool;
  /* ---- the listener ---- */
  pthread_t listener;
  int listening;
  volatile int stop;
  pt_store_change_fn on_change;
  void *on_change_ctx;
} pgstore;

/* ---- pg_conn.c ---- */

/* Connects (and prepares every statement); on failure k->c is NULL. */
pt_status pg_connect(const char *conninfo, pgconn *k, pt_error *err);
void pg_disconnect(pgconn *k);
/* Fills err from the result (or the connection) of a failed `what`, sets
 * k->broken / k->retryable; returns PT_ESTORAGE. */
pt_status pg_fail(pgconn *k, const PGresult *r, const char *what, pt_error *err);
/* Runs the statements in one round trip (pipeline mode); each q->res is
 * set (the caller clears them, failure included). Stops at the first
 * failure: PT_ESTORAGE with err filled. */
pt_status pg_pipeline(pgconn *k, pgq *q, int n, const char *what, pt_error *err);
/* One statement; *res set on success (the caller clears it). */
pt_status pg_exec(pgconn *k, int stmt, int n, const char *const *v, PGresult **res,
                  const char *what, pt_error *err);
/* The advisory lock key of "s:sid" or "i:iid" (64-bit FNV-1a: the same on
 * every server). */
int64_t pg_lock_key(const char *key);

/* ---- pg_codec.c ---- */

/* A copy of x (its aggregate and version), NULL out of memory. */
pgsess *pg_sess_dup(const pt_session *x, int64_t version);

void pgset_init(pgset *s, void (*free_v)(void *));
void *pgset_get(const pgset *s, const char *key);
int pgset_has(const pgset *s, const char *key);
/* Adds key -> v (the key copied; v owned by the set unless pg_absent or
 * NULL); replaces an entry of the same key. 0, or -1 out of memory (v is
 * then freed). */
int pgset_put(pgset *s, const char *key, void *v);
void pgset_clear(pgset *s);
void pgset_free(pgset *s);
/* "sid\x1fid" into out (size PT_ID_MAX * 2 + 2). */
void pg_event_key(char *out, const char *sid, const char *eid);
void pg_free_session(void *p);
void pg_free_event(void *p);

/* The text of a result's column, "" for NULL. */
const char *pg_text(const PGresult *r, int row, int col);
int64_t pg_i64(const PGresult *r, int row, int col);
/* A sessions row (its PG_SESSION_COLS starting at col) into *out, which it
 * initialises (the caller cleans it up, failure included). */
pt_status pg_row_session(const PGresult *r, int row, int col, const char *sid, pt_session *out,
                         pt_error *err);
/* An events row (PG_EVENT_COLS from col 0) as a new event, NULL out of memory. */
pt_event *pg_row_event(const PGresult *r, int row);
/* A snapshot row (PG_SNAP_COLS); notes and signature borrowed from r. */
void pg_row_snap(const PGresult *r, int row, pt_snap *x);
pt_status pg_row_issue(const PGresult *r, int row, pt_issue *x, pt_error *err);
/* Array literals: "{" ... "}" of texts (quoted, escaped) or numbers. */
void pg_arr_open(pt_buf *b);
void pg_arr_text(pt_buf *b, const char *s);
void pg_arr_i64(pt_buf *b, int64_t v);
void pg_arr_close(pt_buf *b);

/* ---- pg_write.c (store.h states each method) ---- */
/* Connects the writer (s->w) with its settings. */
pt_status pg_writer_connect(pgstore *s, pt_error *err);
pt_status pg_begin(pt_store *st, pt_error *err);
pt_status pg_prepare(pt_store *st, const pt_store_keys *keys, pt_error *err);
pt_status pg_commit(pt_store *st, pt_error *err);
void pg_rollback(pt_store *st);
pt_status pg_session_get(pt_store *st, const char *sid, pt_session *out, pt_error *err);
pt_status pg_session_put(pt_store *st, const pt_session *x, int is_new, pt_error *err);
pt_status pg_event_find(pt_store *st, const char *sid, const char *eid, pt_event **out,
                        pt_error *err);
pt_status pg_event_append(pt_store *st, const pt_event *e, pt_error *err);
pt_status pg_snapshot_put(pt_store *st, const pt_snap *x, pt_error *err);
pt_status pg_tx_event_ids(pt_store *st, const char *sid, int64_t from, int64_t to, pt_sid_cb cb,
                          void *ctx, pt_error *err);
pt_status pg_tx_read_events(pt_store *st, const char *sid, int64_t from, int64_t to, pt_event_cb cb,
                            void *ctx, pt_error *err);
pt_status pg_event_redact(pt_store *st, const char *sid, int64_t seq, pt_error *err);
pt_status pg_scrub(pt_store *st, pt_error *err);
/* Inside the write transaction: takes the advisory lock of key ("i:iid")
 * unless held. */
pt_status pg_lock(pgstore *s, const char *key, pt_error *err);
/* One statement inside the write transaction (with its BEGIN when it is
 * the first); q->res set on success. */
pt_status pg_exec_tx(pgstore *s, pgq *q, const char *what, pt_error *err);
/* Frees what the transaction kept (pending writes, prefetched rows, locks). */
void pg_tx_clear(pgstore *s);

/* ---- pg_read.c: the readers, and the reads the writer shares ---- */

/* Runs one statement on `on` (the writer's transaction: wexec; a reader:
 * pg_read). */
typedef pt_status (*pg_run_fn)(void *on, int stmt, int n, const char *const *v, PGresult **res,
                               const char *what, pt_error *err);
/* The session's row into *out (initialised here; the caller cleans it up,
 * PT_ENOTFOUND included). */
pt_status pg_get_session(pg_run_fn run, void *on, const char *sid, pt_session *out, pt_error *err);
/* The session's events from .. to - 1 a page at a time, each to ecb (or
 * only their ids, to icb, when icb is set). */
pt_status pg_events_paged(pg_run_fn run, void *on, const char *sid, int64_t from, int64_t to,
                          pt_event_cb ecb, pt_sid_cb icb, void *ctx, pt_error *err);
pt_status pg_reader_open(pt_store *st, pt_reader **out, pt_error *err);
void pg_reader_close(pt_reader *rb);
/* A reader's statement, inside its read transaction (begun with the
 * first). */
pt_status pg_read(pgreader *r, int stmt, int n, const char *const *v, PGresult **res,
                  const char *what, pt_error *err);
pt_status pg_read_session(pt_reader *rb, const char *sid, pt_session *out, pt_error *err);
pt_status pg_read_events(pt_reader *rb, const char *sid, int64_t from, int64_t to, pt_event_cb cb,
                         void *ctx, pt_error *err);
pt_status pg_read_snapshots(pt_reader *rb, const char *sid, int64_t before_n, int64_t limit,
                            pt_snap_cb cb, void *ctx, pt_error *err);
pt_status pg_read_snapshots_from(pt_reader *rb, const char *sid, int64_t from_n, int64_t limit,
                                 pt_snap_cb cb, void *ctx, pt_error *err);
pt_status pg_list_sessions(pt_reader *rb, const char *ptype, int64_t before_ms,
                           const char *before_id, int64_t limit, pt_session_cb cb, void *ctx,
                           pt_error *err);
pt_status pg_list_sessions_by(pt_reader *rb, const char *ptype, int scode, int64_t after_ms,
                              int64_t before_ms, const char *before_id, int64_t limit,
                              pt_session_cb cb, void *ctx, pt_error *err);
pt_status pg_read_mark(pt_reader *rb, const char *key, char *out, size_t cap, pt_error *err);
pt_status pg_mark_put(pt_store *st, const char *key, const char *value, pt_error *err);
pt_status pg_list_session_ids_prefix(pt_reader *rb, const char *prefix, const char *after_id,
                                     int64_t limit, pt_sid_cb cb, void *ctx, pt_error *err);
pt_status pg_list_session_ids(pt_reader *rb, const char *after_id, int64_t limit, pt_sid_cb cb,
                              void *ctx, pt_error *err);
void pg_reader_free(pgreader *r);

/* ---- pg_issues.c ---- */
extern const pt_store_issue_methods pt__pg_issue_methods;

/* ---- pg_rollups.c ---- */

typedef struct pgroll {
  char ptype[PT_NAME_MAX + 1], step[PT_NAME_MAX + 1];
  int64_t res, bucket, delta;
  int metric;
} pgroll;
extern const pt_store_rollup_methods pt__pg_rollup_methods;

#endif
