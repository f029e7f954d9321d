/* store.h - the storage backend interface: one table of methods per backend
 * (memory, sqlite, later postgres), chosen by URL scheme at run time.
 *
 * The tracker never knows which backend it talks to. Writes happen inside a
 * write transaction opened by begin() and closed by commit() or rollback(),
 * one at a time and from one thread (the tracker's committer). Everything the
 * tracker needs to decide an append (the session aggregate, an event by id) is
 * read inside that transaction, so several writer processes on a shared
 * database stay correct as long as begin() takes the session rows' locks the
 * backend needs (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE).
 *
 * Reads happen through a reader: a consistent view of committed data, usable
 * from any thread while a write transaction runs elsewhere. */
#ifndef PT_STORE_H
#define PT_STORE_H

#include "../core/event.h"
#include "../core/issue.h"
#include "../core/session.h"
#include "pipetrack.h"

typedef struct pt_store pt_store;
typedef struct pt_reader pt_reader;

/* Callbacks for listing: return 0 to go on, non-zero to stop early. The
 * argument is borrowed for the call. */
typedef int (*pt_event_cb)(void *ctx, const pt_event *e);
typedef int (*pt_snap_cb)(void *ctx, const pt_snap *s);
/* sort_ms is the activity time the listing is ordered by (the cursor). */
typedef int (*pt_session_cb)(void *ctx, const pt_session *s, int64_t sort_ms);
typedef int (*pt_sid_cb)(void *ctx, const char *session_id);
typedef int (*pt_issue_cb)(void *ctx, const pt_issue *x);

/* A webhook delivery waiting in the outbox (docs/concepts.md#issues). */
typedef struct pt_outbox {
  int64_t id; /* increasing: deliveries of one issue go out in id order */
  char issue_id[32];
  char action[16]; /* opened, updated, reopened, resolved */
  int64_t created_at, next_at;
  int attempts;
} pt_outbox;
typedef int (*pt_issue_session_cb)(void *ctx, const char *session_id, int64_t first_seen,
                                   int64_t last_seen);

/* Backend capabilities. */
enum {
  /* commit() costs nothing (memory): the tracker appends inline instead of
   * queueing for group commit. */
  PT_STORE_F_INLINE = 1,
  /* open() gets the whole URL (a libpq conninfo URL), not what follows
   * "scheme:". */
  PT_STORE_F_WHOLE_URL = 2,
  /* session_get returns a session's recent ids (kept with its row): the
   * tracker keeps the list going without a cache, and a registry entry
   * right after an event lists its ids without reading events back. */
  PT_STORE_F_RECENT = 4,
};

/* A store's issues and webhook outbox: a table of its own, so a backend
 * keeps them in a file of their own (each backend's *_issues.c). */
typedef struct pt_store_issue_methods {
  /* ---- issues, written in the transaction of their event ---- */
  /* The issue (*out owned by the caller: pt_issue_cleanup), or PT_ENOTFOUND. */
  pt_status (*issue_get)(pt_store *s, const char *id, pt_issue *out, pt_error *err);
  pt_status (*issue_put)(pt_store *s, const pt_issue *x, int is_new, pt_error *err);
  /* Notes that the session is affected at `at`; *is_new is 1 the first time. */
  pt_status (*issue_session_add)(pt_store *s, const char *issue_id, const char *session_id,
                                 int64_t at, int *is_new, pt_error *err);
  pt_status (*read_issue)(pt_reader *r, const char *id, pt_issue *out, pt_error *err);
  /* Newest activity first (last_seen, then id, descending); open: 1 open,
   * 0 resolved, -1 both; ptype NULL for all; after (before_ms, before_id)
   * when before_id is not NULL. */
  pt_status (*read_issues)(pt_reader *r, int open, const char *ptype, int64_t before_ms,
                           const char *before_id, int64_t limit, pt_issue_cb cb, void *ctx,
                           pt_error *err);
  /* The sessions an issue affected, most recent first (last_seen, then
   * session id, descending), those with last_seen < before_ms (INT64_MAX:
   * all): an index range, so the caller stops where its window ends. */
  pt_status (*read_issue_sessions)(pt_reader *r, const char *issue_id, int64_t before_ms,
                                   int64_t limit, pt_issue_session_cb cb, void *ctx, pt_error *err);
  /* The same in a stable order (SQLite: by session id; memory: first
   * affected), after `after` when not NULL: for export, a page at a time. */
  pt_status (*read_issue_sessions_from)(pt_reader *r, const char *issue_id, const char *after,
                                        int64_t limit, pt_issue_session_cb cb, void *ctx,
                                        pt_error *err);

  /* ---- the webhook outbox, written with the change it announces ---- */
  /* Queues a delivery due at due_at; an "updated" is not queued while a
   * delivery of the same issue waits unattempted (it will carry the change:
   * a burst sends one). */
  pt_status (*outbox_add)(pt_store *s, const char *issue_id, const char *action, int64_t at,
                          int64_t due_at, pt_error *err);
  /* Claims a delivery before it is sent: when it is still due at now
   * (next_at <= now), its next_at becomes until (a lease) and one more
   * attempt is counted, *claimed = 1; else (another claimer won, or it is
   * gone) nothing changes, *claimed = 0. Exactly one of several concurrent
   * claimers wins. */
  pt_status (*outbox_claim)(pt_store *s, int64_t id, int64_t now, int64_t until, int *claimed,
                            pt_error *err);
  /* After an attempt: delivered (ok) removes it; else it is due again at
   * next_at. */
  pt_status (*outbox_done)(pt_store *s, int64_t id, int ok, int64_t next_at, pt_error *err);
  /* The first waiting delivery of each issue (the others wait behind it),
   * due at `now`, oldest first; at most limit. */
  pt_status (*read_outbox_due)(pt_reader *r, int64_t now, int64_t limit, pt_outbox *out, size_t *n,
                               pt_error *err);
  /* How many deliveries wait. */
  pt_status (*read_outbox_count)(pt_reader *r, int64_t *out, pt_error *err);
} pt_store_issue_methods;

/* A backend's table of issue methods, its functions named <prefix>_<method>:
 * one list for every backend, so none misses a method. */
#define PT_STORE_ISSUE_METHODS(prefix)                                                        \
  {                                                                                           \
    .issue_get = prefix##_issue_get, .issue_put = prefix##_issue_put,                         \
    .issue_session_add = prefix##_issue_session_add, .read_issue = prefix##_read_issue,       \
    .read_issues = prefix##_read_issues, .read_issue_sessions = prefix##_read_issue_sessions, \
    .read_issue_sessions_from = prefix##_read_issue_sessions_from,                            \
    .outbox_add = prefix##_outbox_add, .outbox_claim = prefix##_outbox_claim,                 \
    .outbox_done = prefix##_outbox_done, .read_outbox_due = prefix##_read_outbox_due,         \
    .read_outbox_count = prefix##_read_outbox_count                                           \
  }

/* Rollups (docs/architecture.md#rollups): counters per pipeline type,
 * resolution, time bucket, step and metric, which the tracker changes by
 * deltas in the transaction of the events that change them. A row's value
 * is the sum of every delta added to its key. */
typedef struct pt_rollup_row {
  const char *pipeline_type;
  const char *step; /* "" for the session-level metrics */
  int64_t res;      /* the bucket's width in ms: 60000, 3600000 or 86400000 */
  int64_t bucket;   /* its start, ms since the epoch, a multiple of res */
  int metric;       /* PT_M_* (src/lib/rollup.h) */
  int64_t delta;
} pt_rollup_row;
/* One summed row: called in bucket order (then step, metric). */
typedef int (*pt_rollup_cb)(void *ctx, int64_t bucket, const char *step, int metric, int64_t value);

typedef struct pt_store_rollup_methods {
  /* Inside a write transaction: adds each row's delta to its key (rows are
   * unique by key, in no particular order). */
  pt_status (*rollup_add)(pt_store *s, const pt_rollup_row *rows, size_t n, pt_error *err);
  /* The sums of ptype's rows at resolution res with from <= bucket < to. */
  pt_status (*read_rollups)(pt_reader *r, const char *ptype, int64_t res, int64_t from, int64_t to,
                            pt_rollup_cb cb, void *ctx, pt_error *err);
  /* The sessions of ptype created (created_at) in from .. to - 1, in no
   * particular order: the edges of a range that buckets do not cover. */
  pt_status (*list_sessions_created)(pt_reader *r, const char *ptype, int64_t from, int64_t to,
                                     pt_session_cb cb, void *ctx, pt_error *err);
  /* Inside a write transaction: whether sessions stored before rollups
   * existed are still to be counted (*todo), and after which session id
   * (after[PT_ID_MAX + 1], "" for the first). */
  pt_status (*rollup_todo)(pt_store *s, int *todo, char *after, pt_error *err);
  /* Inside a write transaction: counted up to `after`; NULL: all done. */
  pt_status (*rollup_todo_set)(pt_store *s, const char *after, pt_error *err);
} pt_store_rollup_methods;

#define PT_STORE_ROLLUP_METHODS(prefix)                                                           \
  {                                                                                               \
    .rollup_add = prefix##_rollup_add, .read_rollups = prefix##_read_rollups,                     \
    .list_sessions_created = prefix##_list_sessions_created, .rollup_todo = prefix##_rollup_todo, \
    .rollup_todo_set = prefix##_rollup_todo_set                                                   \
  }

/* What one group commit will touch, known before it runs: the sessions
 * (sorted, unique), the issues, and the (session, event id) pairs whose
 * idempotency it will look up. A store that serialises writers by lock
 * takes every lock at once, in one order (no deadlock between groups), and
 * may fetch what it will be asked for in one round trip. */
typedef struct pt_store_keys {
  const char *const *sessions;
  size_t nsessions;
  const char *const *issues;
  size_t nissues;
  const char *const *event_sessions, *const *event_ids; /* pairs */
  size_t nevents;
  /* An event id the group looks up and does not find, it inserts: a store
   * may assume the ids absent and let the insert's unique key check it. */
  int ids_insert;
} pt_store_keys;

/* A change another process committed to a shared store (listen). kind 's'
 * (a session, id its session_id), 'i' (an issue), or 'r' (resync: the
 * notifications were interrupted; anything may have changed). */
typedef void (*pt_store_change_fn)(void *ctx, char kind, const char *id);

/* What a store is opened with; zeroes are the defaults. */
typedef struct pt_store_config {
  /* SQLite: how long (ms) a session's row may lag its events before it is
   * written (0: 200 ms; negative: in every commit). */
  int64_t row_lag_ms;
  /* Tests: the store fails its N-th write call, once (0: never). */
  int fail_after;
} pt_store_config;

typedef struct pt_store_methods {
  int version;        /* 1 */
  const char *scheme; /* "memory", "sqlite", "postgres" */
  const char *alias;  /* another scheme for the same store ("postgresql"), or NULL */
  int flags;

  /* Opens the store at `where` (the URL after "scheme:") with cfg (never
   * NULL). Creates or migrates the schema. On failure *out is NULL. */
  pt_status (*open)(const char *where, const pt_store_config *cfg, pt_store **out, pt_error *err);
  /* Closes; no transaction or reader may be open. */
  void (*close)(pt_store *s);

  /* ---- the write transaction ---- */
  pt_status (*begin)(pt_store *s, pt_error *err);
  /* Optional, right after begin: what the transaction will touch (see
   * pt_store_keys). Nothing else may be assumed locked or fetched. */
  pt_status (*prepare)(pt_store *s, const pt_store_keys *keys, pt_error *err);
  /* Durable when it returns PT_OK. On failure the transaction is rolled back:
   * nothing of it is stored. */
  pt_status (*commit)(pt_store *s, pt_error *err);
  void (*rollback)(pt_store *s);
  /* The session's aggregate into *out (initialised by the callee; the caller
   * cleans it up), or PT_ENOTFOUND. */
  pt_status (*session_get)(pt_store *s, const char *session_id, pt_session *out, pt_error *err);
  /* Writes the aggregate: inserts it when is_new (session_get said
   * PT_ENOTFOUND in this transaction), else updates it. */
  pt_status (*session_put)(pt_store *s, const pt_session *sess, int is_new, pt_error *err);
  /* The event with that id in that session (*out owned by the caller), or
   * PT_ENOTFOUND. Sees events appended earlier in the same transaction. */
  pt_status (*event_find)(pt_store *s, const char *session_id, const char *event_id, pt_event **out,
                          pt_error *err);
  /* Appends an event whose seq and link are set (the store copies it). */
  pt_status (*event_append)(pt_store *s, const pt_event *e, pt_error *err);
  /* Optional: the same, taking ownership of e on success instead of
   * copying it. e then stays valid and unchanged until the store is closed;
   * if this transaction rolls back, e is the caller's again (not freed: a
   * group run again after a retryable failure appends it again). */
  pt_status (*event_adopt)(pt_store *s, pt_event *e, pt_error *err);
  pt_status (*snapshot_put)(pt_store *s, const pt_snap *snap, pt_error *err);
  /* Optional (NULL: the tracker keeps no cache). Inside a write transaction:
   * a number that changes whenever anything other than this store's own
   * writes changed the data since the last call. While it stays the same,
   * the tracker may keep session aggregates it wrote in memory and skip
   * reading them back. */
  pt_status (*generation)(pt_store *s, int64_t *out, pt_error *err);
  /* Optional: inside a write transaction, asks that what the store writes
   * behind (SQLite's session rows) be written by this transaction's
   * commit. */
  void (*flush)(pt_store *s);
  /* Inside a write transaction: the ids of the session's events from_seq ..
   * to_seq - 1 in seq order, this transaction's own included (to sign a
   * registry entry before it is stored). */
  pt_status (*tx_event_ids)(pt_store *s, const char *session_id, int64_t from_seq, int64_t to_seq,
                            pt_sid_cb cb, void *ctx, pt_error *err);
  /* Inside a write transaction: the session's events from_seq .. to_seq - 1
   * in seq order (borrowed for the call), this transaction's included. */
  pt_status (*tx_read_events)(pt_store *s, const char *session_id, int64_t from_seq, int64_t to_seq,
                              pt_event_cb cb, void *ctx, pt_error *err);
  /* Redaction (docs/concepts.md#redaction), inside a write transaction: the event's input and
   * output become null and it is marked redacted; its digests and link stay.
   * Once committed no copy may remain in the store's memory. */
  pt_status (*event_redact)(pt_store *s, const char *session_id, int64_t seq, pt_error *err);
  /* Optional, outside transactions: after a redaction's commit, removes what
   * the store's files may still hold of the old payloads (SQLite: old page
   * images in the WAL). A redaction is acknowledged only once this
   * succeeded. */
  pt_status (*scrub)(pt_store *s, pt_error *err);

  /* ---- readers ---- */
  pt_status (*reader_open)(pt_store *s, pt_reader **out, pt_error *err);
  void (*reader_close)(pt_reader *r);
  pt_status (*read_session)(pt_reader *r, const char *session_id, pt_session *out, pt_error *err);
  /* Events with from_seq <= seq < to_seq, ascending. */
  pt_status (*read_events)(pt_reader *r, const char *session_id, int64_t from_seq, int64_t to_seq,
                           pt_event_cb cb, void *ctx, pt_error *err);
  /* Snapshots newest first (descending n), those with n < before_n when
   * before_n >= 0; at most limit (<= 0: all). */
  pt_status (*read_snapshots)(pt_reader *r, const char *session_id, int64_t before_n, int64_t limit,
                              pt_snap_cb cb, void *ctx, pt_error *err);
  /* Sessions by latest activity, newest first (updated_at, then session_id,
   * descending), of one pipeline type or all (ptype NULL), starting after
   * the (before_ms, before_id) position when before_id is not NULL; at most
   * limit (<= 0: all). */
  pt_status (*list_sessions)(pt_reader *r, const char *ptype, int64_t before_ms,
                             const char *before_id, int64_t limit, pt_session_cb cb, void *ctx,
                             pt_error *err);
  /* The same within one stored state code (pt_session.scode; 0: any) and
   * only activity after after_ms (updated_at > after_ms; INT64_MIN: no
   * bound): each an index range (memory: a sorted set), never a filter
   * while scanning. Sessions come back with their scode. */
  pt_status (*list_sessions_by)(pt_reader *r, const char *ptype, int scode, int64_t after_ms,
                                int64_t before_ms, const char *before_id, int64_t limit,
                                pt_session_cb cb, void *ctx, pt_error *err);
  /* The tracker's own small values by key (the sweep's progress, the
   * definitions the stored state codes follow): the value of key into out
   * (cap bytes, NUL-terminated; longer values are cut), or PT_ENOTFOUND. */
  pt_status (*read_mark)(pt_reader *r, const char *key, char *out, size_t cap, pt_error *err);
  /* Inside a write transaction: sets key to value (at most 255 bytes). */
  pt_status (*mark_put)(pt_store *s, const char *key, const char *value, pt_error *err);
  /* Every session id once, in an order that new sessions do not disturb
   * (SQLite: by id; memory: creation order), after `after_id` when not NULL;
   * at most limit. For export and `verify --all`. */
  pt_status (*list_session_ids)(pt_reader *r, const char *after_id, int64_t limit, pt_sid_cb cb,
                                void *ctx, pt_error *err);
  /* The ids that start with prefix, in the order of list_session_ids (the
   * store's own: SQLite and memory by bytes, PostgreSQL by the database's
   * collation), after `after_id` when not NULL; at most limit. SQLite reads
   * an index range; PostgreSQL and memory scan (docs/api.md). */
  pt_status (*list_session_ids_prefix)(pt_reader *r, const char *prefix, const char *after_id,
                                       int64_t limit, pt_sid_cb cb, void *ctx, pt_error *err);
  /* Snapshots oldest first, n >= from_n, at most limit (<= 0: all). */
  pt_status (*read_snapshots_from)(pt_reader *r, const char *session_id, int64_t from_n,
                                   int64_t limit, pt_snap_cb cb, void *ctx, pt_error *err);

  /* Issues and the webhook outbox (every method set). */
  const struct pt_store_issue_methods *issues;
  /* Rollups (every method set). */
  const struct pt_store_rollup_methods *rollups;

  /* Optional, for stores several processes share: calls fn from a thread
   * of the store's for every change another process commits, until close
   * (one listener a store). */
  pt_status (*listen)(pt_store *s, pt_store_change_fn fn, void *ctx, pt_error *err);
} pt_store_methods;

/* Every backend's struct begins with this. */
struct pt_store {
  const pt_store_methods *m;
  /* Fault injection for tests: when >= 0, counts down on every write call
   * (begin, writes, commit) and the call that brings it to 0 fails with
   * PT_ESTORAGE. -1: off. Only the committer thread touches it. */
  int fail_after;
  /* Set by the backend with a PT_ESTORAGE failure that running the same
   * transaction again may cure (a deadlock between writers, a
   * serialization failure); the committer clears it and retries. */
  int retryable;
  /* Tests: the injected fault (fail_after) is one a retry may cure: it
   * sets retryable, as a deadlock between writers would. */
  int fail_retryable;
};
struct pt_reader {
  pt_store *store;
};

/* Opens a store by URL: "memory:", "sqlite:PATH". cfg NULL: the defaults. */
pt_status pt_store_open(const char *url, const pt_store_config *cfg, pt_store **out, pt_error *err);
void pt_store_close(pt_store *s);

/* The wrappers the tracker calls: they hold the fault-injection hook. */
pt_status pt_store_begin(pt_store *s, pt_error *err);
pt_status pt_store_commit(pt_store *s, pt_error *err);
void pt_store_rollback(pt_store *s);
pt_status pt_store_session_get(pt_store *s, const char *sid, pt_session *out, pt_error *err);
pt_status pt_store_session_put(pt_store *s, const pt_session *x, int is_new, pt_error *err);
pt_status pt_store_event_find(pt_store *s, const char *sid, const char *eid, pt_event **out,
                              pt_error *err);
pt_status pt_store_event_append(pt_store *s, const pt_event *e, pt_error *err);
/* Appends e, handing it over where the backend can adopt it: *adopted says
 * whether the store now owns e. */
pt_status pt_store_event_put(pt_store *s, pt_event *e, int *adopted, pt_error *err);
pt_status pt_store_snapshot_put(pt_store *s, const pt_snap *x, pt_error *err);
pt_status pt_store_event_redact(pt_store *s, const char *sid, int64_t seq, pt_error *err);
pt_status pt_store_issue_get(pt_store *s, const char *id, pt_issue *out, pt_error *err);
pt_status pt_store_issue_put(pt_store *s, const pt_issue *x, int is_new, pt_error *err);
pt_status pt_store_issue_session_add(pt_store *s, const char *issue_id, const char *sid, int64_t at,
                                     int *is_new, pt_error *err);
pt_status pt_store_outbox_add(pt_store *s, const char *issue_id, const char *action, int64_t at,
                              int64_t due_at, pt_error *err);
pt_status pt_store_outbox_claim(pt_store *s, int64_t id, int64_t now, int64_t until, int *claimed,
                                pt_error *err);
pt_status pt_store_outbox_done(pt_store *s, int64_t id, int ok, int64_t next_at, pt_error *err);
pt_status pt_store_rollup_add(pt_store *s, const pt_rollup_row *rows, size_t n, pt_error *err);
pt_status pt_store_mark_put(pt_store *s, const char *key, const char *value, pt_error *err);

extern const pt_store_methods pt_store_memory_methods;
extern const pt_store_methods pt_store_sqlite_methods;
extern const pt_store_methods pt_store_pg_methods;

#endif
