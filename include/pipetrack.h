/* pipetrack.h - the public API of libpipetrack: track pipeline events into a
 * tamper-evident hash chain, and read back status, snapshots, reports and
 * verification results. This is the only public header: what is not declared
 * here is not API.
 *
 * Conventions
 * - Every function that can fail returns a pt_status and takes an optional
 *   pt_error * last (NULL to skip the detail). On failure every out-pointer is
 *   set to NULL and nothing was changed.
 * - Documents (stored events, status summaries, snapshots, reports) are
 *   returned as NUL-terminated UTF-8 JSON text owned by the caller: free them
 *   with pt_free(). Structs returned by pointer have their own *_free();
 *   every *_free(NULL) is a no-op.
 * - A pt_tracker is thread-safe: any number of threads may call any function
 *   on one tracker concurrently. Concurrent track calls are group-committed.
 */
#ifndef PIPETRACK_H
#define PIPETRACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared from here to the matching pop is exported from
 * libpipetrack.so, which is built with -fvisibility=hidden: a function is
 * public API exactly when this header declares it. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* The version of this header; pt_version() gives the library's. */
#define PT_VERSION "0.1.0"

/* The version of the library linked at run time ("0.1.0"): a program built
 * against one header can tell which libpipetrack.so it got. */
const char *pt_version(void);

/* The longest id (session, event: 1-128 of A-Z a-z 0-9 _ . : -) and name
 * (pipeline type, step: ^[a-z][a-z0-9_]{0,63}$), in bytes. */
#define PT_ID_MAX 128
#define PT_NAME_MAX 64
/* The most items one page of a list (events, registry entries, sessions,
 * issues) holds; the largest client ts (2^53 - 1 ms). */
#define PT_PAGE_MAX 1000
#define PT_TS_MAX 9007199254740991LL

/* The error table: enum name, stable code string (as the HTTP API uses it),
 * and a description. One list makes the enum, pt_strerror and pt_err_name. */
#define PT_ERRNO_MAP(X)                                                                    \
  X(OK, "ok", "success")                                                                   \
  X(EINVALID_JSON, "invalid_json", "the text is not valid I-JSON")                         \
  X(EINVALID, "invalid_request", "a member breaks a rule")                                 \
  X(EUNKNOWN_PIPELINE, "unknown_pipeline", "no pipeline of that type is defined")          \
  X(EUNKNOWN_STEP, "unknown_step", "the pipeline has no such step")                        \
  X(ESESSION_CONFLICT, "session_conflict", "the session belongs to another pipeline type") \
  X(EEVENT_ID_CONFLICT, "event_id_conflict", "that event id is stored with other content") \
  X(ENOTFOUND, "not_found", "no such session or record")                                   \
  X(ETOOBIG, "payload_too_large", "a size limit was exceeded")                             \
  X(ESTORAGE, "storage_unavailable", "the store failed or cannot be reached")              \
  X(ENOMEM, "out_of_memory", "out of memory")                                              \
  X(EDEFINITIONS, "invalid_definitions", "the pipeline definitions are invalid")           \
  X(EIO, "io_error", "a file could not be read or written")

typedef enum pt_status {
#define PT_X_ENUM(name, code, desc) PT_##name,
  PT_ERRNO_MAP(PT_X_ENUM)
#undef PT_X_ENUM
      PT_STATUS_COUNT
} pt_status;

/* Detail of a failure. field is the member path that broke a rule
 * ("event.status"), empty where no single member is at fault. Messages are
 * one line. */
typedef struct pt_error {
  pt_status code;
  char message[256];
  char field[128];
} pt_error;

/* A description of the status; never NULL, also for unknown values. */
const char *pt_strerror(pt_status status);
/* The stable code string of the status ("session_conflict"). */
const char *pt_err_name(pt_status status);

/* Frees a document returned by this library. pt_free(NULL) is a no-op. */
void pt_free(void *doc);

/* ---- opening a tracker ---------------------------------------------------- */

typedef struct pt_tracker pt_tracker;

/* Milliseconds since the Unix epoch. Tests pass their own to make `stalled`
 * and timestamps deterministic. */
typedef int64_t (*pt_clock_fn)(void *ctx);

typedef struct pt_options {
  /* "sqlite:PATH", "postgres://USER@HOST:PORT/DB" (or "postgresql://"; a
   * libpq connection URL, PG* environment variables fill in what it leaves
   * out; several processes may share the database: docs/scaling.md), or
   * "memory:" (not durable; for tests and demos). NULL means
   * "sqlite:./pipetrack.db". */
  const char *db_url;
  /* Pipeline definitions (docs/concepts.md#pipelines): a file path, or the JSON text itself.
   * Both NULL: the built-in default (checkout_digital and friends). */
  const char *pipelines_file;
  const char *pipelines_json;
  /* Snapshot after every tracked event unless a call says otherwise. */
  int auto_snapshot;
  /* Clock; NULL for the system clock. */
  pt_clock_fn clock;
  void *clock_ctx;
  /* Largest canonical input/output in bytes; 0 for the default 64 KiB. */
  size_t max_payload;
  /* Deepest JSON nesting accepted in an event; 0 for the default 32. */
  int max_depth;
  /* Queue every issue change (opened, updated, reopened, resolved) in the
   * store's outbox, in the transaction of the change, for a deliverer
   * (pipetrackd's --webhook-url). Off: nothing is queued. */
  int issue_outbox;
  /* An "updated" change waits this long (ms) before it is due, so a burst
   * of failures of one issue sends one update; 0 for the default 1000. */
  int64_t issue_outbox_window_ms;
  /* An Ed25519 private key as PEM text (`openssl genpkey -algorithm
   * ed25519`). Set: every registry entry is signed when made (its
   * "signature"), every tracked event's result carries a receipt, pt_verify
   * checks the signatures and pt_pubkey serves the public key. NULL: none of
   * that. */
  const char *signing_key_pem;
  /* SQLite: how long (ms) a session's row may lag its newest events before
   * it is written (reads always fold the newer events in; see
   * docs/architecture.md). 0: the default, 200 ms; negative: written in
   * every commit. */
  int64_t sqlite_row_lag_ms;
  /* For tests of failure paths only: the store fails its N-th write call
   * after opening (once), as a full disk would; 0: never. */
  int store_fault_after;
} pt_options;

/* Opens (creating if needed) the store at opts->db_url, loads definitions.
 * opts may be NULL for all defaults. *out is owned by the caller: pt_close. */
pt_status pt_open(const pt_options *opts, pt_tracker **out, pt_error *err);

/* A store URL as it may be shown or logged: a password in it
 * (postgres://user:secret@host/db, or password=secret among its
 * parameters) becomes "***". Writes at most size bytes, NUL included. */
void pt_db_url_display(const char *url, char *out, size_t size);

/* Commits what is queued, writes what the store holds back (SQLite session
 * rows), then closes the store. No other call on t may be in progress or
 * follow. NULL is a no-op. */
void pt_close(pt_tracker *t);

/* Replaces the pipeline definitions (JSON text as docs/concepts.md#pipelines). On error the
 * definitions in force stay; err names the position and the reason. */
pt_status pt_definitions_load(pt_tracker *t, const char *json, size_t len, pt_error *err);
/* The definitions in force, as JSON {"pipelines": [...]}. */
pt_status pt_definitions_json(pt_tracker *t, char **out, pt_error *err);

/* ---- tracking --------------------------------------------------------------- */

typedef enum pt_event_status { PT_STARTED = 0, PT_SUCCESS = 1, PT_FAILURE = 2 } pt_event_status;

/* An event as a C caller builds it. Strings are borrowed for the call only.
 * NULL members are absent: id generated, input/output null, no error. */
typedef struct pt_event_in {
  const char *id;            /* optional idempotency key */
  const char *session_id;    /* required */
  const char *pipeline_type; /* required */
  const char *step;          /* required */
  pt_event_status status;
  int64_t ts;              /* client ms; < 0 means absent (server time) */
  const char *input_json;  /* optional JSON text */
  const char *output_json; /* optional JSON text */
  const char *error_code;  /* optional; with error_message makes "error" */
  const char *error_message;
} pt_event_in;

/* auto_snapshot argument of the track calls. */
#define PT_SNAPSHOT_DEFAULT (-1)

/* The answer to one tracked event. */
typedef struct pt_track_result {
  char *event_json;    /* the stored event, with seq, received_at, link */
  char *snapshot_json; /* the registry entry made for it, or NULL */
  int replayed;        /* 1: the id was stored already with the same content */
  int64_t seq;
  char link[65];
  char chain_hash[65]; /* the session's chain hash right after this event */
  char issue_id[32];   /* the issue a stored failure counted in; "" otherwise */
  /* With a signing key (docs/concepts.md#receipts): base64 Ed25519 signature of the RFC 8785
   * form of {"chain_hash", "link", "seq", "session_id"} as above; "" without
   * a key. */
  char receipt[89];
} pt_track_result;

void pt_track_result_free(pt_track_result *r);

/* Tracks one event. Returns once the event is durable. auto_snapshot is 0, 1
 * or PT_SNAPSHOT_DEFAULT (the tracker's option). */
pt_status pt_track(pt_tracker *t, const pt_event_in *ev, int auto_snapshot, pt_track_result **out,
                   pt_error *err);

/* Tracks one event given as JSON text (docs/concepts.md#sessions-and-events, as the HTTP API takes
 * it). Texts over 3 x max_payload + 16 KiB are refused (PT_ETOOBIG) unparsed. */
pt_status pt_track_json(pt_tracker *t, const char *json, size_t len, int auto_snapshot,
                        pt_track_result **out, pt_error *err);

/* One result per event of a batch, in order. */
typedef struct pt_batch_item {
  pt_status status; /* PT_OK: result is set; else error says why */
  pt_track_result *result;
  pt_error error;
} pt_batch_item;

/* items[i].result belongs to the batch: free the whole batch with
 * pt_batch_result_free, never one item's result alone. */
typedef struct pt_batch_result {
  size_t count;
  pt_batch_item *items;
  void *priv_; /* the batch's own storage for results and their text */
} pt_batch_result;

void pt_batch_result_free(pt_batch_result *r);

#define PT_BATCH_MAX 1000

/* Tracks up to PT_BATCH_MAX events in one commit. Valid events are stored even
 * where others fail; the return is PT_OK unless the batch as a whole could not
 * be handled (too many events, storage failure). */
pt_status pt_track_batch(pt_tracker *t, const pt_event_in *evs, size_t n, int auto_snapshot,
                         pt_batch_result **out, pt_error *err);
/* The same with a JSON array of event objects. */
pt_status pt_track_batch_json(pt_tracker *t, const char *json, size_t len, int auto_snapshot,
                              pt_batch_result **out, pt_error *err);

/* ---- traced steps --------------------------------------------------------- */

/* A step in progress, for instrumenting C code: begin tracks `started`; end
 * tracks the outcome with {"duration_ms": N, "result": output} as its output. */
typedef struct pt_step pt_step;

pt_status pt_step_begin(pt_tracker *t, const char *session_id, const char *pipeline_type,
                        const char *step, const char *input_json, pt_step **out, pt_error *err);
/* Ends and frees the step (also on failure). error_code/message only for
 * PT_FAILURE. */
pt_status pt_step_end(pt_step *s, pt_event_status outcome, const char *output_json,
                      const char *error_code, const char *error_message, pt_error *err);

/* ---- reading ---------------------------------------------------------------- */

/* The checksum of a session now (docs/concepts.md#checksum); nothing stored. PT_ENOTFOUND for
 * an unknown session. */
pt_status pt_checksum(pt_tracker *t, const char *session_id, char **out, pt_error *err);

/* The status summary a UI polls (docs/api.md). pipeline_type may be NULL; an
 * unknown session with a pipeline_type is `pending`, without it PT_ENOTFOUND.
 * Limits <= 0 take the defaults (100 events, 20 snapshots). */
pt_status pt_status_summary(pt_tracker *t, const char *session_id, const char *pipeline_type,
                            int events_limit, int history_limit, char **out, pt_error *err);

/* A strong HTTP entity tag of the status summary, quoted: "\"<32 hex>\"". */
#define PT_ETAG_SIZE 35

/* The status summary with its entity tag, which changes whenever the summary
 * does (events, registry, state, definitions, limits). With out NULL only
 * the tag is computed, from the session aggregate alone: cheap enough to
 * answer If-None-Match without building the summary. */
pt_status pt_status_summary_etag(pt_tracker *t, const char *session_id, const char *pipeline_type,
                                 int events_limit, int history_limit, char etag[PT_ETAG_SIZE],
                                 char **out, pt_error *err);

/* Stores a snapshot (registry entry) of the session now; notes may be NULL.
 * pipeline_type, where given, must match the session's. */
pt_status pt_snapshot(pt_tracker *t, const char *session_id, const char *pipeline_type,
                      const char *notes, char **out, pt_error *err);

/* Redacts events of a session (docs/concepts.md#redaction): their input and output are
 * deleted for good (SQLite: zeroed in the file and gone from the WAL before
 * this returns), their digests and links stay, so the chain still verifies,
 * and they read as "redacted": true. event_ids NULL / n 0: every event of the
 * session. actor says who asked (recorded with the count in a registry
 * entry's notes; NULL: "unknown"). Answers {"session_id", "redacted": [ids],
 * "snapshot": the entry, or null when every event was redacted already}.
 * PT_ENOTFOUND for an unknown session or event id (nothing is changed). */
pt_status pt_redact(pt_tracker *t, const char *session_id, const char *const *event_ids, size_t n,
                    const char *actor, char **out, pt_error *err);

/* Registry history, newest first, as {"items": [...], "next_cursor": ...}.
 * limit <= 0 means 50; cursor is NULL or a next_cursor from an earlier page. */
pt_status pt_history(pt_tracker *t, const char *session_id, int limit, const char *cursor,
                     char **out, pt_error *err);

/* Sessions, most recent activity first, as {"items": [...], "next_cursor":
 * ...}. pipeline_type and state (pending, in_progress, completed, failed,
 * stalled) filter when not NULL; limit <= 0 means 50 (at most 1000); cursor
 * is NULL or a next_cursor. A page filtered by state may hold fewer than
 * limit items and still have a next_cursor: follow it. */
pt_status pt_sessions(pt_tracker *t, const char *pipeline_type, const char *state, int limit,
                      const char *cursor, char **out, pt_error *err);

/* pt_sessions within a window of its own order: the sessions whose latest
 * activity (updated_at) is in [since_ms, until_ms), each bound an index
 * range, so a page costs the same however large the store (since_ms < 0 or
 * until_ms < 0: no bound on that side). PT_EINVALID when until_ms <=
 * since_ms. */
pt_status pt_sessions_range(pt_tracker *t, const char *pipeline_type, const char *state,
                            int64_t since_ms, int64_t until_ms, int limit, const char *cursor,
                            char **out, pt_error *err);

/* Sessions whose id starts with id_prefix (1-128 characters of A-Z a-z 0-9
 * _ . : -), in id order, as pt_sessions renders them: {"items": [...],
 * "next_cursor": "<last id>" | null}. limit <= 0 means 50 (at most 1000);
 * cursor is NULL or a next_cursor. */
pt_status pt_sessions_prefix(pt_tracker *t, const char *id_prefix, int limit, const char *cursor,
                             char **out, pt_error *err);

/* The funnel of one pipeline type (docs/api.md stats) over the sessions
 * created in [since_ms, until_ms) (until_ms < 0: no upper bound):
 * {"pipeline_type", "since", "until", "sessions", "completed", "failed",
 * "stalled", "completion_rate", "duration_ms": {"p50", "p95", "p99"},
 * "steps": [{"step", "optional", "reached", "succeeded", "failed",
 * "duration_ms"}], "truncated": false}. Exact for any range (read from
 * rollups); durations within 2.2 %. */
pt_status pt_stats(pt_tracker *t, const char *pipeline_type, int64_t since_ms, int64_t until_ms,
                   char **out, pt_error *err);

/* The same per bucket of `interval` ("minute", "hour" or "day"; NULL:
 * hour), whole buckets from since_ms rounded down to until_ms rounded up,
 * at most 1,440: {"pipeline_type", "interval", "since", "until", "buckets":
 * [{"start", ...the counts of pt_stats}]}. since_ms < 0: 60 minutes, 48
 * hours or 30 days before until_ms; until_ms < 0: now. */
pt_status pt_timeseries(pt_tracker *t, const char *pipeline_type, int64_t since_ms,
                        int64_t until_ms, const char *interval, char **out, pt_error *err);

/* {"algorithm": "ed25519", "public_key": base64 of its 32 raw bytes}, the
 * key registry entries and receipts are signed with; PT_ENOTFOUND when the
 * tracker has no signing key. */
pt_status pt_pubkey(pt_tracker *t, char **out, pt_error *err);

/* The newest registry entry, or PT_ENOTFOUND when there is none. */
pt_status pt_latest_snapshot(pt_tracker *t, const char *session_id, char **out, pt_error *err);

typedef enum pt_format { PT_FORMAT_JSON = 0, PT_FORMAT_MARKDOWN = 1 } pt_format;

/* The issue report of a session (docs/concepts.md#reports). */
pt_status pt_report(pt_tracker *t, const char *session_id, pt_format format, char **out,
                    pt_error *err);

/* Verification (docs/concepts.md#verification). *ok is 1 when everything matches. The document is
 * {"ok": bool, "mismatches": [...]} naming every mismatching event and
 * snapshot. */
pt_status pt_verify(pt_tracker *t, const char *session_id, int *ok, char **out, pt_error *err);

/* ---- issues: failures grouped as they arrive (docs/concepts.md#issues) ---------------------- */

/* Every stored `failure` event counts in the issue of its fingerprint
 * pipeline_type/step/error.code ("unknown" without a code), in the same
 * transaction as the event (replays do not count twice); a resolved issue
 * that fails again reopens. */

/* Issues, most recent failure first, as {"items": [...], "next_cursor"}.
 * status "open", "resolved" or NULL (both); pipeline_type NULL for all. */
pt_status pt_issues(pt_tracker *t, const char *status, const char *pipeline_type, int limit,
                    const char *cursor, char **out, pt_error *err);
/* pt_issues of those seen in [since_ms, until_ms): first seen before
 * until_ms and last seen at or after since_ms (< 0: no bound on that side).
 * A page looks at most at 10,000 issues and may come back short with a
 * next_cursor. PT_EINVALID when until_ms <= since_ms. */
pt_status pt_issues_range(pt_tracker *t, const char *status, const char *pipeline_type,
                          int64_t since_ms, int64_t until_ms, int limit, const char *cursor,
                          char **out, pt_error *err);
/* How many of an issue's sessions had their latest failure of it in each
 * bucket of `interval` ("minute", "hour" or "day"; NULL: hour), whole
 * buckets from since_ms rounded down to until_ms rounded up, at most 1,440:
 * {"issue_id", "interval", "since", "until", "total", "buckets": [{"start",
 * "sessions"}]}; the defaults as pt_timeseries. Exact: it reads the issue's
 * sessions in the range (an index range), not a sample. PT_ENOTFOUND for an
 * unknown id. */
pt_status pt_issue_timeseries(pt_tracker *t, const char *issue_id, int64_t since_ms,
                              int64_t until_ms, const char *interval, char **out, pt_error *err);
/* One issue with "sessions": the sessions affected, most recent first (at
 * most 100). PT_ENOTFOUND for an unknown id. */
pt_status pt_issue_get(pt_tracker *t, const char *issue_id, char **out, pt_error *err);
/* Marks the issue resolved (no change if it is); the issue after. */
pt_status pt_issue_resolve(pt_tracker *t, const char *issue_id, char **out, pt_error *err);

/* Stalls: sessions with no event for their pipeline's stall_after_s (and
 * not completed or failed) count once each in their pipeline's stall
 * issue (step "*", code "stalled"). Looks only at sessions whose last activity
 * crossed the stall time since the previous sweep (an index range, not a
 * scan of every session); a session is counted once, also across restarts.
 * *recorded: sessions counted by this call. pipetrackd runs it when
 * pt_next_stall_ms says a session turns stalled (and at least every
 * --sweep-interval seconds). */
pt_status pt_sweep_stalls(pt_tracker *t, int64_t *recorded, pt_error *err);

/* When the next session turns stalled, from what is stored now: *in_ms is
 * the time until then in milliseconds, rounded up to at most 100 ms late
 * (0: a session the sweep has not counted is due already), or -1 when
 * none turns stalled within within_ms. Index ranges only, a few one-row
 * reads per pipeline. Events tracked later only move their sessions'
 * times later, but a new session (or one in another pipeline) may turn
 * stalled sooner: ask again after new activity. Thread-safe. */
pt_status pt_next_stall_ms(pt_tracker *t, int64_t within_ms, int64_t *in_ms /* out */,
                           pt_error *err);

/* ---- changes, as they are committed ------------------------------------------------ */

typedef enum pt_change_kind {
  PT_CHANGE_EVENT,   /* an event was stored (not a replay): session, type, step, status */
  PT_CHANGE_SESSION, /* a session changed otherwise (snapshot, redaction, import) */
  PT_CHANGE_ISSUE,   /* an issue changed (a failure counted, resolved, reopened) */
  PT_CHANGE_ISSUES,  /* issues changed that are not named one by one (stalls counted) */
  PT_CHANGE_RESYNC   /* anything may have changed: the news from other processes sharing
                      * the store was interrupted (a lost connection) */
} pt_change_kind;

/* One change. Strings are borrowed for the call. */
typedef struct pt_change {
  pt_change_kind kind;
  const char *session_id;    /* EVENT, SESSION */
  const char *pipeline_type; /* EVENT */
  const char *step;          /* EVENT */
  pt_event_status status;    /* EVENT */
  const char *issue_id;      /* ISSUE */
} pt_change;

/* Called once per change after the transaction that made it is committed,
 * in commit order, from the thread that committed it (the tracker's
 * committer, or the caller's with the memory store). It must return quickly
 * and must not wait for the tracker (it may start calls that do not wait). */
typedef void (*pt_change_fn)(void *ctx, const pt_change *change);

/* Subscribes fn to this tracker's changes: every event stored, session,
 * and issue changed by any call on it — and, on a store that several
 * processes share (PostgreSQL), the sessions and issues the others change
 * (as PT_CHANGE_SESSION / PT_CHANGE_ISSUE, from a listener thread, within
 * moments of their commit). Up to 8 subscribers (PT_ETOOBIG past that).
 * Thread-safe. */
pt_status pt_subscribe(pt_tracker *t, pt_change_fn fn, void *ctx, pt_error *err);
/* Removes the subscription of fn with ctx (no change reaches it once this
 * returns); unknown pairs are ignored. */
void pt_unsubscribe(pt_tracker *t, pt_change_fn fn, void *ctx);

/* ---- counters, for monitoring -------------------------------------------------------- */

typedef struct pt_counters {
  uint64_t commits;          /* store transactions committed */
  uint64_t commit_failures;  /* store transactions that failed (rolled back) */
  uint64_t events_committed; /* events written by commits */
  uint64_t commit_ns;        /* time in transactions, begin to durable commit */
  uint64_t commit_retries;   /* transactions run again after a deadlock between servers */
} pt_counters;

/* The tracker's counters since it was opened. */
void pt_counters_get(pt_tracker *t, pt_counters *out);

/* Whether the tracker takes writes (pipetrackd's /readyz): PT_OK, or
 * PT_ESTORAGE while writes fail for lack of space — the last transaction
 * failed with a full disk (SQLite's SQLITE_FULL, PostgreSQL's disk_full)
 * and none has committed since; err names the store's message. While so, a
 * small probe write (the store's mark "ready/probe") is tried at most once
 * a second, so readiness comes back without other writes. Thread-safe. */
pt_status pt_ready(pt_tracker *t, pt_error *err);

/* ---- the webhook outbox (pt_options.issue_outbox) -------------------------------------- */

/* A delivery of an issue change waiting in the outbox. */
typedef struct pt_delivery {
  int64_t id; /* increasing: one issue's deliveries go out in id order */
  char issue_id[32];
  char action[16]; /* opened, updated, reopened, resolved */
  int64_t created_at, next_at;
  int attempts;
} pt_delivery;

/* The head delivery of each issue that is due at now (ms), at most max, in
 * out[0..*n); *waiting counts every delivery queued. */
pt_status pt_outbox_due(pt_tracker *t, int64_t now, pt_delivery *out, size_t max, size_t *n,
                        int64_t *waiting, pt_error *err);
/* Claims a delivery before sending it: when it is still due at now, it is
 * leased until lease_until (a crash mid-send sends it again after the lease)
 * and one more attempt is counted, *claimed = 1. *claimed = 0 when another
 * deliverer (another server on the same store) claimed it first: skip it. */
pt_status pt_outbox_claim(pt_tracker *t, int64_t id, int64_t now, int64_t lease_until, int *claimed,
                          pt_error *err);
/* After an attempt: ok removes the delivery; else it is due again at
 * next_at. */
pt_status pt_outbox_mark(pt_tracker *t, int64_t id, int ok, int64_t next_at, pt_error *err);
/* The body a delivery POSTs: {"action", "issue": the issue now, "report":
 * the report of its last session now (null when that session is gone)}. */
pt_status pt_delivery_body(pt_tracker *t, const pt_delivery *d, char **out, pt_error *err);

/* ---- export and import (JSON Lines) ------------------------------------------ */

/* An export: a header line {"type":"pipetrack_export","version":1}, then per
 * session its events in seq order ({"type":"event","event":{…stored…}}) and
 * its registry entries in order ({"type":"snapshot","snapshot":{…, "n"}}),
 * then (for a whole store) each issue ({"type":"issue","issue":{…}})
 * followed by the sessions it affected ({"type":"issue_session", …}).
 * Read in bounded memory, a chunk at a time. */
typedef struct pt_export pt_export;
typedef struct pt_export_counts {
  int64_t sessions, events, snapshots, issues;
} pt_export_counts;

/* Everything (session_id NULL) or one session (PT_ENOTFOUND if absent). */
pt_status pt_export_open(pt_tracker *t, const char *session_id, pt_export **out, pt_error *err);
/* The next chunk of whole lines (each ending in '\n'), owned by the export
 * and valid until the next call; *len is 0 at the end. */
pt_status pt_export_next(pt_export *x, const char **text, size_t *len, pt_error *err);
void pt_export_get_counts(const pt_export *x, pt_export_counts *out);
void pt_export_close(pt_export *x);

/* A body produced a chunk at a time as it is read: an export, or a status or
 * report larger than its request's inline_max. Whatever the size, it holds
 * one chunk (~256 KiB) and what it rendered ahead (a document's small
 * parts), never the whole. */
typedef struct pt_body pt_body;
/* The next chunk in *text (*len bytes, owned by the body and valid until
 * the next call); *len is 0 at the end. After a failure the text given so
 * far is incomplete (a JSON document that does not parse). */
pt_status pt_body_next(pt_body *b, const char **text, size_t *len, pt_error *err);
/* Bytes the body holds beside its chunk (what it rendered ahead). */
size_t pt_body_held(const pt_body *b);
/* Frees the body. NULL is a no-op. */
void pt_body_free(pt_body *b);

typedef struct pt_import_result {
  int64_t events_added, events_skipped; /* skipped: stored already, identical */
  int64_t snapshots_added, snapshots_skipped;
  int64_t issues_imported; /* issue states taken over (always overwritten) */
} pt_import_result;

/* Imports lines of an export (text holds whole lines; blank lines are
 * ignored) in one transaction. Each event must continue its session's chain
 * (its seq next, its link recomputed equal to the exported one, its digests
 * matching its payloads) or be stored already with the same link (then it is
 * skipped: importing twice changes nothing). On any refusal nothing of the
 * call is stored and err names the line ("line 12: ..."); first_line is the
 * number of text's first line in the whole file, for those messages. */
pt_status pt_import(pt_tracker *t, const char *text, size_t len, size_t first_line,
                    pt_import_result *res, pt_error *err);

/* ---- canonical JSON and the chain, for clients that check offline ----------- */

/* RFC 8785 canonical form of a JSON text. */
pt_status pt_canonicalize(const char *json, size_t len, char **out, pt_error *err);

/* ---- checking offline, as a client would ------------------------------------ */

/* The chain hash of a session whose last link is link: hex(SHA-256(session_id
 * ":" link)), lowercase, into out. */
void pt_chain_hash_of(const char *session_id, const char *link, char out[65]);

/* Whether signature (base64) is the Ed25519 signature, by the key pubkey
 * (base64 of its 32 raw bytes, as pt_pubkey and GET /api/pipeline/pubkey give
 * it), of the RFC 8785 form of the JSON text json. 1 yes, 0 no (also for a
 * text that is not I-JSON, or a malformed key or signature). */
int pt_signature_check(const char *pubkey, const char *json, size_t len, const char *signature);

/* A registry entry as the API lists it (JSON text with its "signature"): 1
 * when the signature holds for pubkey over the entry without "signature", 0
 * when it does not, -1 when the entry carries no signature or is not an
 * object. */
int pt_entry_check(const char *pubkey, const char *entry_json, size_t len);

/* A track answer's receipt: 1 when receipt is pubkey's signature of
 * {"chain_hash", "link", "seq", "session_id"} (chain_hash computed from
 * session_id and link), 0 when not. */
int pt_receipt_check(const char *pubkey, const char *session_id, const char *link, int64_t seq,
                     const char *receipt);

/* ---- reading JSON as pipetrack does -------------------------------------------- */

struct json_t; /* jansson's value type: the programs read answers with jansson */

/* Reads an I-JSON text (RFC 7493: UTF-8, no duplicate names, no lone
 * surrogates, numbers a double holds) into a new jansson tree in *out, every
 * number a real; member names may hold U+0000 (iterate them with
 * json_object_keylen_foreach). The caller owns *out (json_decref). On failure
 * *out is NULL and err says where (line, column, byte) and why. */
pt_status pt_json_read(const char *text, size_t len, struct json_t **out, pt_error *err);

/* ---- the HTTP API as calls (docs/api.md) ------------------------------------------
 *
 * Every JSON endpoint of the HTTP API is a row of one table (pt_api_routes):
 * its method, path, short name, who may call it and the body it takes; and
 * pt_api_start/pt_api_call answer it: a request in, an HTTP status and a body
 * out. A server adds the transport (access checks, CORS, limits) and what is
 * its own (streams, metrics, health, the dashboard); a tool calls the same
 * functions in-process. So the two cannot answer differently.
 */

/* Who may call a route. */
typedef enum pt_access {
  PT_ACCESS_OPEN,   /* anyone */
  PT_ACCESS_INGEST, /* the ingest key or the API token (open when neither is set) */
  PT_ACCESS_API,    /* the API token (open when none is set) */
  PT_ACCESS_TOKEN,  /* the API token; refused when none is set (destructive) */
  PT_ACCESS_SESSION /* as PT_ACCESS_API, or a read token of the session it names (a
                       server's: the track answer that created the session hands it out) */
} pt_access;

typedef struct pt_route {
  const char *method; /* "GET" or "POST" */
  const char *path;   /* at most one "{id}" segment: "/api/pipeline/issues/{id}" */
  const char *name;   /* a stable short name: metrics label, log, docs */
  pt_access access;
  const char *body_type; /* the Content-Type of its body, or NULL: takes none */
} pt_route;

/* The table, in match order; *n its rows. Static: never freed. */
const pt_route *pt_api_routes(size_t *n);

/* Whether path matches the route pattern; a "{id}" segment (1-63 bytes) is
 * copied to param. */
int pt_route_match(const char *pattern, const char *path, char param[64]);

/* The row for method and path, or -1. With -1, *path_known (when not NULL)
 * says whether the path exists with another method (a 405, not a 404). */
int pt_api_route_find(const char *method, const char *path, char param[64], int *path_known);

/* A request to a route of pt_api_routes. Strings are borrowed for the call.
 * The tracker's options give the defaults (auto_snapshot, max_depth). */
typedef struct pt_request {
  int route;         /* a row of pt_api_routes */
  const char *param; /* its "{id}" segment, or NULL */
  /* query arguments: arg(arg_ctx, name) gives a value or NULL when absent */
  const char *(*arg)(void *arg_ctx, const char *name);
  void *arg_ctx;
  const char *body; /* the body, or NULL */
  size_t body_len;
  const char *if_none_match; /* the If-None-Match header, or NULL */
  const char *actor;         /* who asks, recorded by redactions; NULL: "unknown" */
  /* A status or report rendered past this many bytes is answered as a
   * stream (pt_answer.stream) that reads the rest as it is taken: a server
   * sets it so that a client that does not read holds a chunk, not the
   * document. 0: always whole (in-process callers). */
  size_t inline_max;
  /* Read tokens (a server's): a track answer carries "read_token" for the
   * session of each stored event that has seq 0 (it created the session;
   * also when replayed), or of every event when read_token_all (the caller
   * holds the API token); null otherwise, and always without read_token.
   * The function writes a NUL-terminated token of at most cap bytes. */
  void (*read_token)(void *ctx, const char *session_id, char *out, size_t cap);
  void *read_token_ctx;
  int read_token_all;
} pt_request;

/* An answer: HTTP status, body, and what a server sends with it. */
typedef struct pt_answer {
  int status;
  char *body; /* owned; NULL for none (304) */
  size_t len;
  const char *content_type; /* static; NULL with no body */
  char etag[PT_ETAG_SIZE];  /* "" for none */
  /* the session the request names, for logs ("" for none) */
  char session_id[129];
  /* a streamed body (an export; a status or report past the request's
   * inline_max): read it with pt_body_next until it gives 0 bytes; owned by
   * the answer (body is then NULL) */
  pt_body *stream;
} pt_answer;

/* Frees an answer (and its stream). NULL is a no-op. */
void pt_answer_free(pt_answer *a);

/* An error answer as every API error is shaped: status, and {"error":
 * {"code", "message", "field"}} (field null when NULL or ""). NULL only when
 * out of memory. */
pt_answer *pt_answer_error(int status, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The answer the API gives for a library error: its HTTP status (400, 404,
 * 409, 413, 422, 503, ...) and error body. NULL only when out of memory. */
pt_answer *pt_answer_fail(const pt_error *err);

typedef struct pt_call pt_call;

/* Starts a request. Most answers are ready at once: *answer is set and *call
 * NULL. A track waits for its group commit instead: *answer is NULL, *call
 * set, and done(done_ctx) is called exactly once when the answer is ready —
 * from the committer thread, or from inside this call — after which
 * pt_call_finish gives it. No thread waits for the disk. Returns PT_OK, or
 * PT_ENOMEM with both NULL. */
pt_status pt_api_start(pt_tracker *t, const pt_request *rq, void (*done)(void *done_ctx),
                       void *done_ctx, pt_call **call, pt_answer **answer);
/* The answer of a started call (never NULL but out of memory); frees call. */
pt_answer *pt_call_finish(pt_call *call);

/* A request answered in the calling thread (it waits for a track's commit).
 * NULL only when out of memory. */
pt_answer *pt_api_call(pt_tracker *t, const pt_request *rq);

/* The same from a method, a request target ("/api/pipeline/status?
 * session_id=a%20b": the path and its percent-encoded query) and a body:
 * what a tool sends a server, answered in-process. Unknown paths get 404,
 * other methods 405; access is not checked (the caller holds the store). */
pt_answer *pt_api_call_url(pt_tracker *t, const char *method, const char *target, const char *body,
                           size_t len, const char *actor);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
