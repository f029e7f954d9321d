/* tracker_int.h - what the tracker's own files share and nothing else sees:
 * the tracker itself, the jobs its committer runs (one common header, one
 * struct per kind, one table of kinds in committer.c) and the write
 * transaction they run in. The programs and tests use internal.h. */
#ifndef PT_TRACKER_INT_H
#define PT_TRACKER_INT_H

#include <pthread.h>

#include "../core/map.h"
#include "../core/sign.h"
#include "internal.h"

/* ---- jobs ------------------------------------------------------------------ */

/* What the committer runs; its table (committer.c) says how, kind by kind. */
typedef enum pt__job_kind {
  PT__JOB_TRACK,    /* tracked events (track.c, append.c) */
  PT__JOB_SNAPSHOT, /* a registry entry on request (snapshot.c) */
  PT__JOB_FLUSH,    /* what the store writes behind (committer.c) */
  PT__JOB_IMPORT,   /* the records of an import (import.c) */
  PT__JOB_RESOLVE,  /* an issue resolved (issues.c) */
  PT__JOB_OUTBOX,   /* a webhook delivery marked (issues.c) */
  PT__JOB_STALL,    /* stalled sessions counted (issues.c) */
  PT__JOB_REDACT,   /* events redacted (redact.c) */
  PT__JOB_RECODE,   /* rows' state codes brought to the definitions (recode.c) */
  PT__JOB_PROBE,    /* a write that proves the store takes writes again (tracker.c) */
  PT__JOB_KINDS
} pt__job_kind;

/* What every job has. Each kind's struct begins with it (a member `h`), so
 * the committer handles any job as a pt__job and the kind's functions cast
 * it back (PT__JOB_AS). A job belongs to its caller (on the stack, or in a
 * pt__pending) and is lent to the committer from pt__submit until done. */
typedef struct pt__job {
  pt__job_kind kind;
  pt_defs *defs; /* referenced for the job's life; NULL where the kind needs none */
  int64_t now;
  size_t nsessions; /* sessions it may touch (0: one), to size the transaction */
  int needs_scrub;  /* payloads were redacted: scrub the store after the commit */
  /* whole-job outcome */
  pt_status result;
  pt_error err;
  int done;
  /* Asynchronous jobs: called by the committer once the job is done, instead
   * of waking a waiting caller (who then owns the job again). */
  void (*on_done)(void *ctx);
  void *on_done_ctx;
  struct pt__job *next;
} pt__job;

/* The kind's struct of job h (whose kind the caller knows). */
#define PT__JOB_AS(type, h) ((type *)(h))

/* Tracked events: validated by track.c, applied by append.c, rendered by
 * track.c. */
typedef struct pt__track_job {
  pt__job h;
  size_t n;
  pt_event **evs;      /* validated, owned; NULL where validation failed */
  pt_status *st;       /* per event */
  pt_error *errs;      /* per event */
  pt_event **replayed; /* the stored event for a replay (owned), else NULL */
  pt_snap *snaps;
  int *has_snap;
  /* the ids an auto-snapshot lists, from the session's recent list (owned,
   * NUL-separated), or NULL: fill_result then reads them back */
  char **snap_ids;
  int *adopted; /* the store owns evs[i] (memory store) */
  int auto_snapshot;
  const char *prefix; /* names the events in errors: "event", or NULL for "events[i]" */
} pt__track_job;

/* What a group will touch (see pt_store_keys), gathered kind by kind for a
 * store that locks it all at once (committer.c). */
typedef struct pt__keys {
  const char **sessions; /* borrowed from the jobs */
  size_t nsessions, caps;
  const char **issues; /* owned */
  size_t nissues, nissues_all, capi;
  const char **esessions, **eids; /* borrowed pairs */
  size_t nevents, cape;
  int oom;
  /* every job of the group would insert an event whose id it finds absent
   * (track): an id assumed absent is checked by the insert itself */
  int ids_insert;
} pt__keys;

void pt__keys_session(pt__keys *k, const char *sid);
void pt__keys_issue(pt__keys *k, const char *issue_id);
void pt__keys_event(pt__keys *k, const char *sid, const char *eid);

/* ---- the tracker ------------------------------------------------------------ */

#define PT__SUBS_MAX 8

struct pt_tracker {
  pt_store *store;
  pthread_mutex_t defs_lock;
  pt_defs *defs;
  pt_limits lim;
  pt_signer *signer; /* NULL: entries and receipts are not signed */
  int auto_snapshot;
  int outbox; /* issue changes are queued for webhooks */
  int64_t outbox_window_ms;
  /* one stall sweep at a time (its progress is in the store's marks) */
  pthread_mutex_t sweep_lock;
  pt_clock_fn clock;
  void *clock_ctx;
  int inline_commit;
  /* the committer */
  pthread_t thread;
  int thread_started;
  pthread_mutex_t q_lock;
  pthread_cond_t q_cond;    /* jobs queued, or stopping */
  pthread_cond_t done_cond; /* some jobs finished */
  pt__job *head, *tail;
  int queued;     /* jobs in the queue */
  int last_group; /* jobs in the last group commit */
  int stopping;
  pt_tracker_stats stats;
  /* the subscribers to changes (pt_subscribe), under subs_lock */
  pthread_mutex_t subs_lock;
  struct {
    pt_change_fn fn;
    void *ctx;
  } subs[PT__SUBS_MAX];
  int nsubs;
  int listening; /* the store's listener runs (shared stores) */
  /* Session aggregates as last committed, for stores with a generation():
   * touched only inside the committer's transactions, which never run two
   * at once. */
  pt_map cache;
  pt_session **cached;
  size_t ncached, capcached;
  int64_t cache_gen;
  /* pt_ready: the last transaction failed for lack of space (cleared by
   * the next one that commits), its message, and when a probe last ran */
  int write_full;
  pthread_mutex_t ready_lock;
  char full_msg[256];
  uint64_t probe_ns;
};

/* ---- the write transaction (tx.c) ------------------------------------------- */

typedef struct pt__txsess {
  pt_session s;
  int stored; /* in the store before this transaction */
  int exists; /* stored before, or appended to in this transaction */
  int dirty;
  int from_cache; /* s was lent by the session cache (tx.c) */
} pt__txsess;

typedef struct pt__tx {
  pt_tracker *t;
  pt_map map;
  pt__txsess **list;
  size_t n, cap;
  int began;     /* the store's transaction is open */
  size_t events; /* events applied, for the stats */
  /* the rollups' changes (rollup.c): what each event applied changed, and
   * what jobs noted (a stall counted); their strings live as long as the
   * transaction's sessions and its jobs */
  struct pt_rollup_row *noted;
  size_t nnoted, capnoted;
  pt_defs *defs; /* referenced when first needed */
} pt__tx;

/* Begins the store's write transaction, its session table sized for
 * nsessions, and tells the store what it will touch (keys, may be NULL).
 * Whatever it returns, pt__tx_end ends x. */
pt_status pt__tx_begin(pt__tx *x, pt_tracker *t, size_t nsessions, const pt__keys *keys,
                       pt_error *err);
/* The session's aggregate as of this transaction (loaded once; a new one
 * of pipeline `type` when it is not stored). */
pt_status pt__tx_session(pt__tx *x, const char *sid, const char *type, pt__txsess **out,
                         pt_error *err);
/* The stored session job j names, as pt__tx_session; none stored: *out is
 * NULL and j is refused (PT_ENOTFOUND). */
pt_status pt__tx_stored(pt__tx *x, pt__job *j, const char *sid, pt__txsess **out);
/* With rc PT_OK writes the sessions changed and commits, else rolls back
 * what began; keeps the session cache in step and frees x. Returns the
 * outcome: rc, or the commit's failure. */
pt_status pt__tx_end(pt__tx *x, pt_status rc, pt_error *err);

/* Folds event e (appended) into ts's aggregate, noting what that changes
 * in the rollups (rollup.c): every append goes through here. */
pt_status pt__tx_apply(pt__tx *x, pt__txsess *ts, const pt_event *e, pt_error *err);
/* Rollups: the changes x noted, added to the store before the sessions are
 * written. */
pt_status pt__rollup_tx(pt__tx *x, pt_error *err);
/* Notes one count of metric (rollup.h) for a session of ptype created at
 * created_at (ptype must live until the transaction ends). */
pt_status pt__rollup_note(pt__tx *x, const char *ptype, int64_t created_at, int metric,
                          pt_error *err);
/* At open: counts the sessions stored before rollups existed. */
pt_status pt__rollups_catch_up(pt_tracker *t, pt_error *err);

/* The session cache of t: an empty one, and its release. */
void pt__cache_init(pt_tracker *t);
void pt__cache_cleanup(pt_tracker *t);

/* ---- the committer (committer.c) -------------------------------------------- */

/* The queue's lock and conditions; cleanup also stops a started committer
 * once it has committed what is queued. */
void pt__committer_init(pt_tracker *t);
void pt__committer_cleanup(pt_tracker *t);
/* Starts the committer thread, for stores whose commit costs something. */
pt_status pt__committer_start(pt_tracker *t, pt_error *err);
/* Sets the kind of a job (its struct zeroed), the definitions in force
 * (released by the caller: pt_defs_unref) and the time now. */
void pt__job_init(pt__job *h, pt__job_kind kind, pt_tracker *t);
/* Runs j to completion: inline for stores whose commit costs nothing, else
 * in the committer's next group commit. Returns once j is done, or at once
 * for a job with on_done. */
void pt__submit(pt_tracker *t, pt__job *j);
/* pt__submit for a caller that waits: j's result, its detail copied to err
 * on failure. */
pt_status pt__job_run(pt_tracker *t, pt__job *j, pt_error *err);
/* j fails after it was applied (its transaction rolled back, or the scrub
 * after it failed): what it made is dropped, and rc, with err's message,
 * is its result. */
void pt__job_fail(pt__job *j, pt_status rc, const pt_error *err);
/* The committer tells the tracker how each transaction ended (rc, and
 * err's message on failure): a failure for lack of space makes pt_ready
 * answer not ready until a transaction commits again (tracker.c). */
void pt__note_commit(pt_tracker *t, pt_status rc, const pt_error *err);
/* The probe's apply: writes the mark "ready/probe". */
pt_status pt__probe_apply(pt__tx *x, pt__job *j);

/* ---- changes (changes.c) ------------------------------------------------------- */

/* Hands c to every subscriber, after the commit that made it. */
void pt__publish(pt_tracker *t, const pt_change *c);
/* The subscribers' lock: made with the tracker, destroyed with it. */
void pt__changes_init(pt_tracker *t);
void pt__changes_cleanup(pt_tracker *t);

/* ---- each kind's part, named in the committer's table ------------------------ */

/* Apply: runs the job in the group's transaction. A refusal is the job's own
 * result and returns PT_OK; only a failure that aborts the transaction (and
 * with it every job in it) is returned, its detail in the job's err.
 * Reset: drops what apply made, after a rollback (for a retry, or before
 * the failure is recorded). Rolled back: what a rollback leaves the job,
 * where pt__job_fail is not all. */
pt_status pt__track_apply(pt__tx *x, pt__job *j);
void pt__track_reset(pt__job *j);
/* Frees what apply made for the answer (replays, entries), whatever the
 * outcome: the job's end. */
void pt__track_clear(pt__job *j);
void pt__track_rolled_back(pt__job *j, pt_status rc, const pt_error *err);
pt_status pt__snapshot_apply(pt__tx *x, pt__job *j);
void pt__snapshot_reset(pt__job *j);
pt_status pt__import_apply(pt__tx *x, pt__job *j);
void pt__import_rolled_back(pt__job *j, pt_status rc, const pt_error *err);
pt_status pt__resolve_apply(pt__tx *x, pt__job *j);
pt_status pt__outbox_apply(pt__tx *x, pt__job *j);
pt_status pt__stall_apply(pt__tx *x, pt__job *j);
pt_status pt__redact_apply(pt__tx *x, pt__job *j);
void pt__redact_reset(pt__job *j);
/* Publish: after the job's commit (and its result PT_OK), the changes it
 * made, to the subscribers (pt__publish). */
void pt__track_publish(pt_tracker *t, pt__job *j);
/* Keys: what the job will touch (sessions, issues, event ids looked up).
 * Reset (where above none): back to where apply found the job, to run it
 * again. */
void pt__track_keys(pt__job *j, pt__keys *k);
void pt__snapshot_keys(pt__job *j, pt__keys *k);
void pt__import_keys(pt__job *j, pt__keys *k);
void pt__import_reset(pt__job *j);
void pt__resolve_keys(pt__job *j, pt__keys *k);
void pt__resolve_reset(pt__job *j);
void pt__stall_keys(pt__job *j, pt__keys *k);
void pt__stall_reset(pt__job *j);
void pt__redact_keys(pt__job *j, pt__keys *k);
void pt__snapshot_publish(pt_tracker *t, pt__job *j);
void pt__import_publish(pt_tracker *t, pt__job *j);
void pt__resolve_publish(pt_tracker *t, pt__job *j);
void pt__stall_publish(pt_tracker *t, pt__job *j);
void pt__redact_publish(pt_tracker *t, pt__job *j);

/* ---- shared between the calls and the kinds ---------------------------------- */

/* Refuses a session id that is not one, or a pipeline type (where not
 * NULL) that is not a name, in the words the calls share (tracker.c). */
pt_status pt__check_session(const char *sid, const char *ptype, pt_error *err);

/* Makes and stores a registry entry for the session now (snapshot.c). With
 * ids, *ids gets the event ids the entry lists when the session's recent
 * list holds them all (else NULL: they are read back when the entry is
 * rendered). */
pt_status pt__take_snapshot(pt__tx *x, pt__txsess *ts, const pt_defs *defs, int64_t now,
                            const char *notes, pt_snap *out, char **ids, pt_error *err);
/* An entry rendered with the ids pt__take_snapshot found in memory: the
 * caller's to free, NULL when out of memory. */
char *pt__snapshot_json_ids(const pt_snap *s, const char *ids);
/* Frees a job's entry (NULL: nothing) and clears the pointer. */
void pt__entry_free(pt_snap **entry);

/* Counts a stored failure in its issue, in the event's transaction
 * (issues.c); announce: queue the change in the outbox. */
pt_status pt__record_failure(pt__tx *x, const pt_event *e, int announce, pt_error *err);

/* After a group's commit: a redaction is acknowledged only once the store
 * has scrubbed its files (redact.c); if it cannot, the jobs that redacted
 * fail. */
void pt__scrub_after_redactions(pt_tracker *t, pt__job *jobs);

/* The sweep's lock (issues.c). */
void pt__sweep_init(pt_tracker *t);
void pt__sweep_cleanup(pt_tracker *t);

/* The state codes stored in session rows (pt_session.scode) follow the
 * definitions in force: the rows of each pipeline type whose definition
 * changed since its codes were written (a mark in the store keeps the
 * definition's digest), or that were stored before the codes existed, are
 * written again with theirs (recode.c). Runs through the committer. */
pt_status pt__recode(pt_tracker *t, pt_error *err);
pt_status pt__recode_apply(pt__tx *x, pt__job *j);
void pt__recode_keys(pt__job *j, pt__keys *k);

#endif
