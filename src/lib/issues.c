/* issues.c - issues (docs/concepts.md#issues) as they change: stored failures and stalled
 * sessions counted in them in the transaction of the change, resolved on
 * request, and each change queued in the webhook outbox, whose deliveries
 * are read and marked here too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "rollup.h"
#include "tracker_int.h"

/* When a queued change is sent: an "updated" waits the coalescing window,
 * gathering the changes that follow; the others go at once. */
static int64_t outbox_due(const pt_tracker *t, const char *action, int64_t at) {
  return strcmp(action, "updated") == 0 ? at + t->outbox_window_ms : at;
}

/* Queues an issue's change for the webhook deliverer, in the transaction of
 * the change, where the tracker keeps an outbox. */
static pt_status queue_change(pt__tx *x, const char *issue_id, const char *action, int64_t at,
                              pt_error *err) {
  pt_store *st = x->t->store;
  if (!x->t->outbox) return PT_OK;
  return pt_store_outbox_add(st, issue_id, action, at, outbox_due(x->t, action, at), err);
}

/* One more occurrence at `at` of the issue keyed in *cur: *cur becomes the
 * stored issue, or a new one first seen then; a resolved one reopens.
 * *action names the change for the outbox; *is_new: it was not stored. */
static pt_status count_in_issue(pt_store *st, pt_issue *cur, int64_t at, const char **action,
                                int *is_new, pt_error *err) {
  pt_issue got;
  pt_status rc = pt_store_issue_get(st, cur->id, &got, err);
  *is_new = rc == PT_ENOTFOUND;
  if (rc != PT_OK && !*is_new) return rc;
  *action = "updated";
  if (*is_new) {
    cur->first_seen = at;
    *action = "opened";
  } else {
    *cur = got;
    if (!cur->open) { /* it happens again: reopened */
      cur->open = 1;
      cur->reopened++;
      *action = "reopened";
    }
  }
  cur->count++;
  return PT_OK;
}

/* An acknowledged failure is counted exactly once (replays never get
 * here). */
pt_status pt__record_failure(pt__tx *x, const pt_event *e, int announce, pt_error *err) {
  pt_store *st = x->t->store;
  pt_issue cur;
  pt_issue_key(&cur, e, NULL);
  const char *action;
  int is_new;
  pt_status rc = count_in_issue(st, &cur, e->received_at, &action, &is_new, err);
  if (rc) return rc;
  if (e->received_at > cur.last_seen) cur.last_seen = e->received_at;
  snprintf(cur.last_session_id, sizeof cur.last_session_id, "%s", e->session_id);
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_event_write_json(&b, e);
  free(cur.sample_event);
  cur.sample_event = pt_buf_take(&b);
  if (!cur.sample_event) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  int new_session = 0;
  rc = pt_store_issue_session_add(st, cur.id, e->session_id, e->received_at, &new_session, err);
  if (rc == PT_OK) {
    cur.sessions_affected += new_session;
    rc = pt_store_issue_put(st, &cur, is_new, err);
  }
  if (rc == PT_OK && announce) rc = queue_change(x, cur.id, action, e->received_at, err);
  pt_issue_cleanup(&cur);
  return rc;
}

/* ---- resolving ------------------------------------------------------------------ */

typedef struct resolve_job {
  pt__job h;
  const char *id;
  pt_issue *issue; /* the issue after */
} resolve_job;

pt_status pt__resolve_apply(pt__tx *x, pt__job *h) {
  resolve_job *j = PT__JOB_AS(resolve_job, h);
  pt_store *st = x->t->store;
  pt_status rc = pt_store_issue_get(st, j->id, j->issue, &h->err);
  if (rc == PT_ENOTFOUND) {
    h->result = pt_fail(&h->err, PT_ENOTFOUND, "id", "id: no issue \"%s\"", j->id);
    return PT_OK;
  }
  if (rc) return rc;
  if (j->issue->open) {
    j->issue->open = 0;
    j->issue->resolved_at = h->now;
    rc = pt_store_issue_put(st, j->issue, 0, &h->err);
    if (rc == PT_OK) rc = queue_change(x, j->issue->id, "resolved", h->now, &h->err);
    if (rc) return rc;
  }
  h->result = PT_OK;
  return PT_OK;
}

pt_status pt_issue_resolve(pt_tracker *t, const char *issue_id, char **out, pt_error *err) {
  *out = NULL;
  if (!issue_id || strncmp(issue_id, "iss_", 4) != 0 || strlen(issue_id) > 31)
    return pt_fail(err, PT_EINVALID, "id", "id: must be an issue id (iss_...)");
  pt_issue x;
  memset(&x, 0, sizeof x);
  resolve_job j = {.h = {.kind = PT__JOB_RESOLVE, .now = pt__now(t)}, .id = issue_id, .issue = &x};
  pt_status rc = pt__job_run(t, &j.h, err);
  if (rc == PT_OK) {
    pt_buf b;
    pt_buf_init(&b, 0);
    pt_issue_write_json(&b, &x);
    *out = pt_buf_take(&b);
    if (!*out) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  pt_issue_cleanup(&x);
  return rc;
}

/* ---- the webhook outbox ------------------------------------------------------- */

/* A claim (now >= 0: claimed when still due then; the lease is next_at) or
 * the outcome of an attempt (ok, or due again at next_at). */
typedef struct outbox_job {
  pt__job h;
  int64_t id, next_at, now;
  int ok, claim, claimed;
} outbox_job;

pt_status pt__outbox_apply(pt__tx *x, pt__job *h) {
  outbox_job *j = PT__JOB_AS(outbox_job, h);
  pt_store *st = x->t->store;
  j->claimed = 0;
  if (j->claim) return pt_store_outbox_claim(st, j->id, j->now, j->next_at, &j->claimed, &h->err);
  return pt_store_outbox_done(st, j->id, j->ok, j->next_at, &h->err);
}

pt_status pt_outbox_claim(pt_tracker *t, int64_t id, int64_t now, int64_t lease_until, int *claimed,
                          pt_error *err) {
  outbox_job j = {
      .h = {.kind = PT__JOB_OUTBOX}, .id = id, .next_at = lease_until, .now = now, .claim = 1};
  pt_status rc = pt__job_run(t, &j.h, err);
  *claimed = rc == PT_OK && j.claimed;
  return rc;
}

pt_status pt_outbox_mark(pt_tracker *t, int64_t id, int ok, int64_t next_at, pt_error *err) {
  outbox_job j = {.h = {.kind = PT__JOB_OUTBOX}, .id = id, .next_at = next_at, .ok = ok};
  return pt__job_run(t, &j.h, err);
}

pt_status pt__outbox_due(pt_tracker *t, int64_t now, pt_outbox *out, size_t max, size_t *n,
                         int64_t *waiting, pt_error *err) {
  *n = 0;
  *waiting = 0;
  pt_store *st = t->store;
  pt_reader *r;
  pt_status rc = st->m->reader_open(st, &r, err);
  if (rc) return rc;
  rc = st->m->issues->read_outbox_due(r, now, (int64_t)max, out, n, err);
  if (rc == PT_OK) rc = st->m->issues->read_outbox_count(r, waiting, err);
  st->m->reader_close(r);
  return rc;
}

/* ---- the stall sweep ------------------------------------------------------------ */

typedef struct stall_job {
  pt__job h;
  /* sessions found stalled (session_id, pipeline_type pairs) */
  char (*sid)[PT_ID_MAX + 1];
  char (*type)[PT_NAME_MAX + 1];
  int64_t *created; /* their creation times: the rollups' buckets */
  size_t n;
  /* the sweep's progress, written with what it found: "sweep/<type>" = the
   * newest activity time looked at */
  char (*key)[PT_NAME_MAX + 8];
  int64_t *mark;
  size_t nmarks;
  int64_t recorded;
} stall_job;

/* A stalled session counts once in its pipeline's "stalled" issue: the
 * issue's session list says whether it was counted (also across restarts). */
pt_status pt__stall_apply(pt__tx *x, pt__job *h) {
  stall_job *j = PT__JOB_AS(stall_job, h);
  pt_store *st = x->t->store;
  for (size_t i = 0; i < j->n; i++) {
    pt_issue cur;
    pt_issue_key(&cur, NULL, j->type[i]);
    int new_session = 0;
    pt_status rc = pt_store_issue_session_add(st, cur.id, j->sid[i], h->now, &new_session, &h->err);
    if (rc) return rc;
    if (!new_session) continue; /* reported before */
    const char *action;
    int is_new;
    if ((rc = count_in_issue(st, &cur, h->now, &action, &is_new, &h->err))) return rc;
    cur.sessions_affected++;
    cur.last_seen = h->now;
    snprintf(cur.last_session_id, sizeof cur.last_session_id, "%s", j->sid[i]);
    rc = pt_store_issue_put(st, &cur, is_new, &h->err);
    if (rc == PT_OK) rc = queue_change(x, cur.id, action, h->now, &h->err);
    pt_issue_cleanup(&cur);
    /* counted once, in the funnel of its creation time too */
    if (rc == PT_OK) rc = pt__rollup_note(x, j->type[i], j->created[i], PT_M_STALLED, &h->err);
    if (rc) return rc;
    j->recorded++;
  }
  for (size_t i = 0; i < j->nmarks; i++) {
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)j->mark[i]);
    pt_status rc = pt_store_mark_put(st, j->key[i], v, &h->err);
    if (rc) return rc;
  }
  return PT_OK;
}

void pt__sweep_init(pt_tracker *t) {
  pthread_mutex_init(&t->sweep_lock, NULL);
}

void pt__sweep_cleanup(pt_tracker *t) {
  pthread_mutex_destroy(&t->sweep_lock);
}

typedef struct sweep {
  pt_tracker *t;
  const pt_pipeline *p;
  int64_t now, newest;
  uint64_t rows;
  char (*sid)[PT_ID_MAX + 1];
  char (*type)[PT_NAME_MAX + 1];
  int64_t *created;
  size_t n, cap;
  int oom;
} sweep;

/* Sessions still in progress by their stored state whose last activity is
 * past the pipeline's stall time and after the last sweep's mark: only
 * those that crossed the line since the last sweep are read. */
static int sweep_one(void *ctx, const pt_session *s, int64_t sort_ms) {
  sweep *w = ctx;
  w->rows++;
  if (sort_ms > w->newest) w->newest = sort_ms;
  pt_cksum c;
  pt_cksum_compute(s, w->p, w->now, &c);
  if (strcmp(c.state, "stalled") != 0) return 0;
  if (w->n == w->cap) {
    size_t nc = w->cap ? w->cap * 2 : 64;
    void *a = realloc(w->sid, nc * sizeof *w->sid);
    if (a) w->sid = a;
    void *b = a ? realloc(w->type, nc * sizeof *w->type) : NULL;
    if (b) w->type = b;
    void *cr = b ? realloc(w->created, nc * sizeof *w->created) : NULL;
    if (!cr) {
      w->oom = 1;
      return 1;
    }
    w->created = cr;
    w->cap = nc;
  }
  w->created[w->n] = s->created_at;
  snprintf(w->sid[w->n], sizeof w->sid[0], "%s", s->session_id);
  snprintf(w->type[w->n], sizeof w->type[0], "%s", s->pipeline_type);
  w->n++;
  return 0;
}
/* The sweep's mark of pipeline p (the activity time it has swept up to),
 * INT64_MIN when it has none yet. */
static pt_status sweep_mark(pt_store *st, pt_reader *r, const pt_pipeline *p, int64_t *mark,
                            pt_error *err) {
  char key[PT_NAME_MAX + 8], have[32];
  snprintf(key, sizeof key, "sweep/%s", p->type);
  *mark = INT64_MIN;
  pt_status rc = st->m->read_mark(r, key, have, sizeof have, err);
  if (rc == PT_OK) *mark = strtoll(have, NULL, 10);
  return rc == PT_ENOTFOUND ? PT_OK : rc;
}

pt_status pt_sweep_stalls(pt_tracker *t, int64_t *recorded, pt_error *err) {
  *recorded = 0;
  pt_store *st = t->store;

  pt_status rc = pt__flush(t, err); /* the activity index follows the rows */
  if (rc) return rc;
  pt_defs *defs = pt__defs(t);
  int64_t now = pt__now(t);
  size_t nd = (size_t)(defs->n ? defs->n : 1);
  stall_job j = {.h = {.kind = PT__JOB_STALL, .now = now},
                 .key = malloc(nd * sizeof *j.key),
                 .mark = malloc(nd * sizeof *j.mark)};
  sweep w = {.t = t, .now = now};
  pthread_mutex_lock(&t->sweep_lock); /* one sweep at a time */
  pt_reader *r = NULL;
  if (!j.key || !j.mark)
    rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  else
    rc = st->m->reader_open(st, &r, err);
  for (int i = 0; rc == PT_OK && i < defs->n; i++) {
    const pt_pipeline *p = &defs->p[i];
    int64_t mark;
    rc = sweep_mark(st, r, p, &mark, err);
    if (rc) break;
    int64_t cutoff = now - p->stall_after_s * 1000;
    w.p = p;
    w.newest = mark;
    /* (updated_at, id) < (cutoff + 1, "") : activity after the mark, at or
     * before the cutoff; only the codes a stalled session can have */
    static const int CODES[] = {PT_SCODE_ACTIVE, PT_SCODE_AHEAD};
    for (size_t k = 0; rc == PT_OK && k < 2; k++)
      rc = st->m->list_sessions_by(r, p->type, CODES[k], mark, cutoff + 1, "", -1, sweep_one, &w,
                                   err);
    if (rc == PT_OK && w.oom) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    if (rc == PT_OK && w.newest > mark) {
      snprintf(j.key[j.nmarks], sizeof j.key[0], "sweep/%s", p->type);
      j.mark[j.nmarks++] = w.newest;
    }
  }
  if (r) st->m->reader_close(r);
  __atomic_add_fetch(&t->stats.sweep_rows, w.rows, __ATOMIC_RELAXED);
  if (rc == PT_OK && (w.n || j.nmarks)) {
    j.sid = w.sid;
    j.type = w.type;
    j.created = w.created;
    j.n = w.n;
    j.h.nsessions = w.n;
    rc = pt__job_run(t, &j.h, err);
    if (rc == PT_OK) *recorded = j.recorded; /* a rolled-back job recorded nothing */
  }
  pthread_mutex_unlock(&t->sweep_lock);
  free(w.sid);
  free(w.type);
  free(w.created);
  free(j.key);
  free(j.mark);
  pt_defs_unref(defs);
  return rc;
}

static int seen_one(void *ctx, const pt_session *s, int64_t sort_ms) {
  (void)s;
  (void)sort_ms;
  *(int *)ctx = 1;
  return 1;
}

/* Whether a session of type p with a stall code was active in (lo, hi]:
 * one row of an index range. */
static pt_status any_active(pt_store *st, pt_reader *r, const char *type, int64_t lo, int64_t hi,
                            int *any, pt_error *err) {
  static const int CODES[] = {PT_SCODE_ACTIVE, PT_SCODE_AHEAD};
  *any = 0;
  pt_status rc = PT_OK;
  for (size_t k = 0; rc == PT_OK && k < 2 && !*any; k++)
    rc = st->m->list_sessions_by(r, type, CODES[k], lo, hi + 1, "", 1, seen_one, any, err);
  return rc;
}

/* The sessions the sweep has not read yet turn due at updated_at + the
 * stall time. The index lists newest first, so the oldest of them is found
 * by halving the range with one-row reads (about 8 for 30 s), not by
 * reading every session active since. */
pt_status pt_next_stall_ms(pt_tracker *t, int64_t within_ms, int64_t *in_ms, pt_error *err) {
  *in_ms = -1;
  pt_store *st = t->store;
  pt_status rc = pt__flush(t, err); /* the activity index follows the rows */
  if (rc) return rc;
  if (within_ms < 0) within_ms = 0;
  pt_defs *defs = pt__defs(t);
  int64_t now = pt__now(t), best = -1;
  pt_reader *r = NULL;
  rc = st->m->reader_open(st, &r, err);
  for (int i = 0; rc == PT_OK && i < defs->n && best != 0; i++) {
    const pt_pipeline *p = &defs->p[i];
    int64_t mark;
    rc = sweep_mark(st, r, p, &mark, err);
    int64_t cutoff = now - p->stall_after_s * 1000;
    int64_t lo = mark > cutoff ? mark : cutoff, hi = cutoff + within_ms;
    int any = 0;
    /* not yet swept and already due */
    if (rc == PT_OK && mark < cutoff) rc = any_active(st, r, p->type, mark, cutoff, &any, err);
    if (rc == PT_OK && any) {
      best = 0;
      break;
    }
    if (rc == PT_OK && best >= 0 && hi > cutoff + best) hi = cutoff + best;
    if (rc == PT_OK && hi > lo) rc = any_active(st, r, p->type, lo, hi, &any, err);
    if (rc || !any) continue;
    /* the oldest activity is in (lo, hi]; 100 ms is finer than the sweeps */
    while (rc == PT_OK && hi - lo > 100) {
      int64_t mid = lo + (hi - lo) / 2;
      rc = any_active(st, r, p->type, lo, mid, &any, err);
      if (any)
        hi = mid;
      else
        lo = mid;
    }
    if (rc == PT_OK) best = hi - cutoff;
  }
  if (r) st->m->reader_close(r);
  pt_defs_unref(defs);
  if (rc == PT_OK) *in_ms = best;
  return rc;
}

void pt__resolve_publish(pt_tracker *t, pt__job *h) {
  resolve_job *j = PT__JOB_AS(resolve_job, h);
  pt_change c = {.kind = PT_CHANGE_ISSUE, .issue_id = j->id};
  pt__publish(t, &c);
}

void pt__stall_publish(pt_tracker *t, pt__job *h) {
  stall_job *j = PT__JOB_AS(stall_job, h);
  if (!j->recorded) return;
  pt_change c = {.kind = PT_CHANGE_ISSUES};
  pt__publish(t, &c);
}

void pt__resolve_keys(pt__job *h, pt__keys *k) {
  pt__keys_issue(k, PT__JOB_AS(resolve_job, h)->id);
}

void pt__resolve_reset(pt__job *h) {
  pt_issue *x = PT__JOB_AS(resolve_job, h)->issue;
  pt_issue_cleanup(x);
  memset(x, 0, sizeof *x);
}

void pt__stall_keys(pt__job *h, pt__keys *k) {
  stall_job *j = PT__JOB_AS(stall_job, h);
  for (size_t i = 0; i < j->n; i++) {
    pt_issue key;
    pt_issue_key(&key, NULL, j->type[i]);
    pt__keys_issue(k, key.id);
  }
}

void pt__stall_reset(pt__job *h) {
  PT__JOB_AS(stall_job, h)->recorded = 0;
}
