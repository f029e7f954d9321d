/* session.h - the per-session aggregate a store keeps beside the events, and
 * what is computed from it: the checksum (docs/concepts.md#checksum) and registry entries
 * (docs/concepts.md#registry-entries-snapshots). Keeping per-step outcomes in the aggregate makes
 * appending and computing a checksum O(steps), whatever the session's length. */
#ifndef PT_SESSION_H
#define PT_SESSION_H

#include <stdint.h>

#include "buf.h"
#include "defs.h"
#include "event.h"

enum { PT_OUTCOME_NONE = 0, PT_OUTCOME_SUCCESS = 1, PT_OUTCOME_FAILURE = 2 };

typedef struct pt_step_state {
  char name[PT_NAME_MAX + 1];
  int outcome;           /* latest success/failure */
  int64_t first_success; /* seq of its first success, -1 if none */
  int started;           /* a started event was seen */
  int64_t started_ts;    /* ts of its latest started event, -1 if none */
  int64_t outcome_ts;    /* ts of its latest outcome, -1 if none */
} pt_step_state;

typedef struct pt_session {
  char session_id[PT_ID_MAX + 1];
  char pipeline_type[PT_NAME_MAX + 1];
  int64_t event_count;
  char last_link[65]; /* PT_GENESIS when empty */
  char last_event_id[PT_ID_MAX + 1];
  int64_t first_ts, last_ts;      /* min/max event ts, -1 when empty */
  int64_t created_at, updated_at; /* receive times of first/last event */
  int64_t snap_ms;                /* created_at of the newest snapshot, -1 none */
  int snap_suffix;                /* its _N suffix */
  int64_t snapshot_count;
  int nsteps, capsteps;
  pt_step_state *steps; /* owned; capsteps allocated */
  /* The state as stored for listings (PT_SCODE_*): set by the tracker when
   * it writes the row, read back by stores; 0 when never computed. */
  int scode;
  /* The ids of the latest events, so that a registry entry made right after
   * them lists its event_ids without reading the events back. Kept only
   * where keep_recent is set (a tracker's in-memory aggregates); stores never
   * persist it. recent holds nrecent NUL-terminated ids, those of events
   * recent_from .. event_count - 1, at most PT_RECENT_IDS. */
  int keep_recent;
  int nrecent;
  int64_t recent_from;
  char *recent; /* owned */
  size_t recent_len, recent_cap;
} pt_session;

/* Ids kept in a session's recent list: a pipeline of up to 8 steps with a
 * `started` and an outcome for each fits whole. */
#define PT_RECENT_IDS 16

void pt_session_init(pt_session *s, const char *session_id, const char *pipeline_type);
void pt_session_cleanup(pt_session *s);
/* Makes dst (not initialised) a copy of src with buffers of its own, to be
 * released with pt_session_cleanup. 0, or -1 (no memory): then nothing is
 * left allocated and dst needs no cleanup (one is harmless). */
int pt_session_copy(pt_session *dst, const pt_session *src);
/* Makes dst (an initialised session) equal to src, reusing dst's step
 * buffer when it is large enough. 0, or -1 (no memory; dst unchanged). */
int pt_session_assign(pt_session *dst, const pt_session *src);
/* Folds one appended event (seq already set) into the aggregate. -1 on OOM. */
int pt_session_apply(pt_session *s, const pt_event *e);
const pt_step_state *pt_session_step(const pt_session *s, const char *name);
/* Starts keeping the ids of events appended from now on (see recent). */
void pt_session_keep_recent(pt_session *s);
/* The ids of events first .. event_count - 1 as consecutive NUL-terminated
 * strings, or NULL when the recent list does not hold all of them. */
const char *pt_session_recent_ids(const pt_session *s, int64_t first);

/* Compact text of the per-step state, for stores that keep it in a column:
 * "name,outcome,first_success,started,started_ts,outcome_ts;..." */
void pt_session_steps_encode(pt_buf *b, const pt_session *s);
int pt_session_steps_decode(pt_session *s, const char *text);
/* The recent list as text, for stores that keep it with the session's row
 * (PT_STORE_F_RECENT): the ids of events recent_from .. event_count - 1
 * separated by spaces (ids hold none); "" when no complete list is kept. */
void pt_session_recent_encode(pt_buf *b, const pt_session *s);
/* Restores the list from that text, for a session whose event_count is set:
 * the ids are those of its last events. keep_recent is set; a text that
 * cannot be the list leaves it empty (a read later, not an error). */
void pt_session_recent_decode(pt_session *s, const char *text);

typedef struct pt_cksum {
  char chain_hash[65];
  int64_t event_count;
  const char *last_event_id; /* borrowed from the session; NULL when empty */
  const char *state;         /* static string */
  int is_complete, is_valid;
  int completed, total, percent;
  int64_t started_at, last_event_at; /* -1 when empty */
  /* Step lists as indexes into the pipeline's steps, definition order. */
  int ncompleted, nfailed, nmissing, nooo;
  int completed_steps[PT_MAX_STEPS], failed_steps[PT_MAX_STEPS];
  int missing_steps[PT_MAX_STEPS], out_of_order_steps[PT_MAX_STEPS];
} pt_cksum;

void pt_cksum_compute(const pt_session *s, const pt_pipeline *p, int64_t now_ms, pt_cksum *out);

/* A session's state as far as it does not depend on the clock, stored in
 * its row so that listings by state are index ranges. ACTIVE is in_progress
 * or stalled, by now - last_ts against the pipeline's stall time; AHEAD is
 * the same for a session whose latest ts is more than PT_SCODE_AHEAD_MS past
 * its latest receive time (a client clock ahead): the others, being
 * in_progress, were received after now - stall time - PT_SCODE_AHEAD_MS. */
enum {
  PT_SCODE_NONE = 0, /* not computed (a row from before the column) */
  PT_SCODE_PENDING = 1,
  PT_SCODE_ACTIVE = 2,
  PT_SCODE_AHEAD = 3,
  PT_SCODE_COMPLETED = 4,
  PT_SCODE_FAILED = 5,
  PT_SCODE_UNKNOWN = 6, /* no definition of its pipeline type */
  PT_SCODE_COUNT = 7
};
#define PT_SCODE_AHEAD_MS 300000
/* The code of s under p (NULL: its type is not defined). */
int pt_session_scode(const pt_session *s, const pt_pipeline *p);
void pt_cksum_write_json(pt_buf *b, const pt_cksum *c, const pt_pipeline *p);
/* completed or failed: a poller may stop. */
int pt_cksum_terminal(const pt_cksum *c);

typedef struct pt_snap {
  char id[PT_ID_MAX + 40];
  char session_id[PT_ID_MAX + 1];
  char pipeline_type[PT_NAME_MAX + 1];
  char chain_hash[65];
  int64_t event_count;
  char last_event_id[PT_ID_MAX + 1]; /* empty: none */
  int completed, total, percent;
  char state[16];
  int is_valid;
  int64_t created_at;
  /* Position in the session's registry (0 first). Lists are ordered by it:
   * ids within one millisecond ("_9", "_10") do not sort as numbers. */
  int64_t n;
  char *notes;     /* owned, may be NULL */
  char *signature; /* owned, may be NULL */
} pt_snap;

void pt_snap_cleanup(pt_snap *s);
/* Makes the entry for the session now and advances the session's snapshot
 * id state (same-millisecond suffixes). notes is copied. -1 on OOM. */
int pt_snap_make(pt_session *s, const pt_cksum *c, int64_t now_ms, const char *notes, pt_snap *out);
/* The most event ids an entry lists outside the report: entries are shown
 * in lists and polled, and their size must not grow with the session. */
#define PT_SNAP_IDS_MAX 1000

/* Writes the entry. Its event_ids are the ids of events 0..event_count-1
 * (the entry covers exactly those: events are immutable and ordered, so they
 * are not stored twice). ids[k] is the id of event first + k, for nids ids.
 * With cap > 0 only the last cap ids are listed and the entry says
 * "event_ids_truncated": true when that leaves any out. */
void pt_snap_write_json(pt_buf *b, const pt_snap *s, const char *const *ids, int64_t first,
                        int64_t nids, int64_t cap);
/* What an entry's signature signs (docs/concepts.md#registry-entries-snapshots): the RFC 8785 form
 * of the entry as lists show it (the last PT_SNAP_IDS_MAX ids), without "signature". Appends to
 * out; 0, or -1 (no memory). */
int pt_snap_signed_text(pt_buf *out, const pt_snap *s, const char *const *ids, int64_t first,
                        int64_t nids);

#endif
