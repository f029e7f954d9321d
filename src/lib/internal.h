/* internal.h - what the tracker's modules share with each other, with the
 * request layer (src/api) and with the white-box tests and benchmarks. Not
 * API: the programs use include/pipetrack.h alone. */
#ifndef PT_INTERNAL_H
#define PT_INTERNAL_H

#include <jansson.h>
#include <stdint.h>

#include "../core/defs.h"
#include "../core/session.h"
#include "../core/validate.h"
#include "../store/store.h"
#include "pipetrack.h"

/* The latest time a range takes (ECMAScript's last date, year 275760):
 * rounding it to a day stays far from overflow. */
#define PT_TIME_MAX_MS 8640000000000000LL

typedef struct pt_tracker_stats {
  uint64_t commits;
  uint64_t commit_failures;
  uint64_t events_committed;
  uint64_t commit_ns;      /* time spent in transactions, begin to commit */
  uint64_t commit_retries; /* transactions run again (a shared store's deadlock) */
  uint64_t sweep_rows;     /* session rows the stall sweeps read */
} pt_tracker_stats;

int64_t pt__now(pt_tracker *t);
/* The definitions in force, referenced: release with pt_defs_unref. */
pt_defs *pt__defs(pt_tracker *t);
const pt_limits *pt__limits(pt_tracker *t);
pt_store *pt__store(pt_tracker *t);
/* The signing key, or NULL. */
struct pt_signer;
const struct pt_signer *pt__signer(pt_tracker *t);
void pt__stats(pt_tracker *t, pt_tracker_stats *out);
/* Test hook: the store fails its `after`-th write call from now. */
void pt__inject_store_fault(pt_tracker *t, int after);
/* The same as a failure a retry may cure (a deadlock): the committer runs
 * the group again. */
void pt__inject_retryable_fault(pt_tracker *t, int after);

/* Tracking parsed JSON values (the server parses the request body once). */
pt_status pt__track_value(pt_tracker *t, const json_t *event, int auto_snapshot,
                          pt_track_result **out, pt_error *err);
/* prefix NULL names items "events[i]". */
pt_status pt__track_values(pt_tracker *t, const json_t *const *events, size_t n, int auto_snapshot,
                           const char *prefix, pt_batch_result **out, pt_error *err);

/* Asynchronous tracking, for servers that must not block a thread per
 * request: validates in the caller's thread and queues the events for the
 * next group commit. on_done(ctx) is called exactly once when the result is
 * ready: from the committer thread, or from inside this call (memory store,
 * or nothing valid to store). Then pt__track_finish renders the results
 * (as pt__track_values would have) and frees the pending job. On an error
 * return on_done is never called. */
typedef struct pt__pending pt__pending;
pt_status pt__track_start(pt_tracker *t, const json_t *const *events, size_t n, int auto_snapshot,
                          const char *prefix, void (*on_done)(void *ctx), void *ctx,
                          pt__pending **out, pt_error *err);
pt_status pt__track_finish(pt_tracker *t, pt__pending *p, pt_batch_result **out, pt_error *err);

/* The webhook outbox (with pt_options.issue_outbox): the head delivery of
 * each issue that is due at `now` (at most max), and how many wait. */
pt_status pt__outbox_due(pt_tracker *t, int64_t now, pt_outbox *out, size_t max, size_t *n,
                         int64_t *waiting, pt_error *err);

/* Writes what the store holds back (SQLite's lagging session rows) in one
 * commit, so listings ordered by the rows see the newest activity. */
pt_status pt__flush(pt_tracker *t, pt_error *err);

/* One parsed line of an export (import.c), applied in order by the
 * committer in a transaction of its own (pt__import_run). */
typedef struct pt__imrec {
  int kind; /* 1 event, 2 snapshot, 3 issue, 4 issue_session */
  size_t line;
  pt_event *ev; /* owned (until the store adopts it) */
  int adopted;
  char link[65]; /* the link the export says this event has */
  pt_snap snap;
  pt_issue issue;                    /* kind 3 */
  char iid[32], isid[PT_ID_MAX + 1]; /* kind 4 */
  int64_t ifirst, ilast;
} pt__imrec;
/* Applies the records; refusals (a gap, a link off the chain, a stored
 * event that differs) roll the whole call back and name the line. */
pt_status pt__import_run(pt_tracker *t, pt__imrec *recs, size_t n, pt_import_result *res,
                         pt_error *err);

/* A registry entry rendered with its event ids read from the store. */
char *pt__snapshot_json(pt_tracker *t, const pt_snap *s, pt_error *err);

/* pt_status_summary_etag and pt_report as the API answers them: whole in
 * *out while the rendered document stays under budget bytes, else (body not
 * NULL, budget > 0) as a body in *body that reads the rest as it is taken
 * (src/lib/longdoc.h). out NULL: the status's tag only. */
pt_status pt__status_doc(pt_tracker *t, const char *session_id, const char *pipeline_type,
                         int events_limit, int history_limit, char etag[PT_ETAG_SIZE],
                         size_t budget, char **out, pt_body **body, pt_error *err);
pt_status pt__report_doc(pt_tracker *t, const char *session_id, pt_format format, size_t budget,
                         char **out, pt_body **body, pt_error *err);

#endif
