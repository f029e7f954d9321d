/* tracker.c - the tracker behind the public API: validation in the caller's
 * thread, then appends through one committer thread that group-commits
 * whatever has queued up (one durable commit for many callers), then results
 * rendered back in the caller's thread.
 *
 * Appends for a session are decided inside the store's write transaction
 * (session aggregate read, idempotency lookup, link computed from the last
 * link), so order is total and gap-free however many threads track. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/buf.h"
#include "../core/defs.h"
#include "../core/error.h"
#include "../core/jcs.h"
#include "../core/jparse.h"
#include "../core/map.h"
#include "../core/report.h"
#include "../core/session.h"
#include "../core/sign.h"
#include "../core/validate.h"
#include "../core/verify.h"
#include "../store/store.h"
#include "internal.h"

enum {
  JOB_TRACK,
  JOB_SNAPSHOT,
  JOB_FLUSH,
  JOB_IMPORT,
  JOB_RESOLVE,
  JOB_OUTBOX,
  JOB_STALL,
  JOB_REDACT
};

/* Longest the committer waits to fill a group (see committer()). */
#define GROUP_WAIT_NS 200000L

typedef struct job {
  int kind;
  pt_defs *defs; /* referenced for the job's life */
  int64_t now;
  /* JOB_TRACK */
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
  /* JOB_SNAPSHOT (sid: the issue id for JOB_RESOLVE) */
  const char *sid, *ptype, *notes;
  pt_issue *issue; /* JOB_RESOLVE: the issue after */
  /* JOB_REDACT (sid, notes: who asked): the ids asked for (none: all), and
   * the answer's list of redacted ids (a JSON array) */
  const char *const *rids;
  size_t nrids;
  pt_buf *redacted;
  int needs_scrub; /* payloads were redacted: scrub the store after the commit */
  /* JOB_OUTBOX */
  int64_t ob_id, ob_next;
  int ob_ok, ob_bump;
  /* JOB_STALL: sessions found stalled (session_id, pipeline_type pairs) */
  char (*stall_sid)[PT_ID_MAX + 1];
  char (*stall_type)[PT_NAME_MAX + 1];
  size_t nstall;
  int64_t stalls_recorded;
  /* JOB_IMPORT: runs in a transaction of its own; a refusal rolls back only
   * that one and keeps its own error */
  pt__imrec *recs;
  size_t nrecs;
  pt_import_result *ires;
  int refused;
  /* whole-job outcome */
  pt_status result;
  pt_error err;
  int done;
  /* Asynchronous jobs: called by the committer once the job is done, instead
   * of waking a waiting caller (who then owns the job again). */
  void (*on_done)(void *ctx);
  void *on_done_ctx;
  struct job *next;
} job;

struct pt_tracker {
  pt_store *store;
  pthread_mutex_t defs_lock;
  pt_defs *defs;
  pt_limits lim;
  pt_signer *signer; /* NULL: entries and receipts are not signed */
  int auto_snapshot;
  int outbox; /* issue changes are queued for webhooks */
  int64_t outbox_window_ms;
  /* the stall sweep: per pipeline, sessions active up to here are done */
  pthread_mutex_t sweep_lock;
  pt_map sweep_marks; /* pipeline type -> int64_t * (heap) */
  pt_clock_fn clock;
  void *clock_ctx;
  int inline_commit;
  /* the committer */
  pthread_t thread;
  int thread_started;
  pthread_mutex_t q_lock;
  pthread_cond_t q_cond;    /* jobs queued, or stopping */
  pthread_cond_t done_cond; /* some jobs finished */
  job *head, *tail;
  int queued;     /* jobs in the queue */
  int last_group; /* jobs in the last group commit */
  int stopping;
  pt_tracker_stats stats;
  /* Session aggregates as last committed, for stores with a generation():
   * touched only inside run_jobs, which never runs twice at once. */
  pt_map cache;
  pt_session **cached;
  size_t ncached, capcached;
  int64_t cache_gen;
};

/* Sessions kept in the cache at most; past that it starts over. */
#define SESSION_CACHE_MAX 20000

/* The first event an entry lists the id of (it lists the latest
 * PT_SNAP_IDS_MAX). */
static int64_t snap_ids_first(const pt_snap *s) {
  return s->event_count > PT_SNAP_IDS_MAX ? s->event_count - PT_SNAP_IDS_MAX : 0;
}

void pt_free(void *doc) {
  free(doc);
}

static int64_t system_ms(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pt__now(pt_tracker *t) {
  return t->clock(t->clock_ctx);
}

pt_defs *pt__defs(pt_tracker *t) {
  pthread_mutex_lock(&t->defs_lock);
  pt_defs *d = pt_defs_ref(t->defs);
  pthread_mutex_unlock(&t->defs_lock);
  return d;
}

const pt_limits *pt__limits(pt_tracker *t) {
  return &t->lim;
}
pt_store *pt__store(pt_tracker *t) {
  return t->store;
}

/* ---- the session cache ------------------------------------------------------ */

static void cache_clear(pt_tracker *t) {
  for (size_t i = 0; i < t->ncached; i++) {
    pt_session_cleanup(t->cached[i]);
    free(t->cached[i]);
  }
  t->ncached = 0;
  pt_map_cleanup(&t->cache);
  pt_map_init(&t->cache);
}

/* Stores a copy of s as the committed aggregate. Failing to cache is
 * harmless (the next transaction reads the store), so errors clear it. */
static void cache_put(pt_tracker *t, const pt_session *s) {
  pt_session *c = pt_map_get(&t->cache, s->session_id);
  if (c) {
    pt_session tmp;
    if (pt_session_copy(&tmp, s)) {
      cache_clear(t);
      return;
    }
    pt_session_cleanup(c);
    *c = tmp;
    return;
  }
  if (t->ncached >= SESSION_CACHE_MAX) cache_clear(t);
  if (t->ncached == t->capcached) {
    size_t nc = t->capcached ? t->capcached * 2 : 256;
    pt_session **n = realloc(t->cached, nc * sizeof *n);
    if (!n) {
      cache_clear(t);
      return;
    }
    t->cached = n;
    t->capcached = nc;
  }
  c = malloc(sizeof *c);
  if (!c || pt_session_copy(c, s)) {
    free(c);
    cache_clear(t);
    return;
  }
  if (pt_map_put(&t->cache, c->session_id, c)) {
    pt_session_cleanup(c);
    free(c);
    cache_clear(t);
    return;
  }
  t->cached[t->ncached++] = c;
}

/* ---- the write transaction ---------------------------------------------- */

typedef struct txsess {
  pt_session s;
  int stored; /* in the store before this transaction */
  int exists; /* stored before, or appended to in this transaction */
  int dirty;
} txsess;

typedef struct tx {
  pt_tracker *t;
  pt_map map;
  txsess **list;
  size_t n, cap;
} tx;

static void tx_cleanup(tx *x) {
  for (size_t i = 0; i < x->n; i++) {
    pt_session_cleanup(&x->list[i]->s);
    free(x->list[i]);
  }
  free(x->list);
  pt_map_cleanup(&x->map);
}

/* The session's aggregate as of this transaction (loaded once). */
static pt_status tx_session(tx *x, const char *sid, const char *type, txsess **out, pt_error *err) {
  txsess *ts = pt_map_get(&x->map, sid);
  if (ts) {
    *out = ts;
    return PT_OK;
  }
  if (x->n == x->cap) {
    size_t nc = x->cap ? x->cap * 2 : 16;
    txsess **nl = realloc(x->list, nc * sizeof *nl);
    if (!nl) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    x->list = nl;
    x->cap = nc;
  }
  ts = calloc(1, sizeof *ts);
  if (!ts) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  const pt_session *cached = x->t->store->m->generation ? pt_map_get(&x->t->cache, sid) : NULL;
  pt_status rc = cached ? (pt_session_copy(&ts->s, cached) ? PT_ENOMEM : PT_OK)
                        : pt_store_session_get(x->t->store, sid, &ts->s, err);
  if (rc == PT_ENOMEM) {
    free(ts);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  if (rc == PT_ENOTFOUND) {
    pt_session_cleanup(&ts->s);
    pt_session_init(&ts->s, sid, type ? type : "");
    ts->exists = 0;
  } else if (rc != PT_OK) {
    pt_session_cleanup(&ts->s);
    free(ts);
    return rc;
  } else {
    ts->exists = ts->stored = 1;
  }
  /* stores that keep aggregates cached keep the latest ids with them */
  if (!cached && x->t->store->m->generation) pt_session_keep_recent(&ts->s);
  if (pt_map_put(&x->map, ts->s.session_id, ts)) {
    pt_session_cleanup(&ts->s);
    free(ts);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  x->list[x->n++] = ts;
  *out = ts;
  return PT_OK;
}

/* Same content as SPEC §1.2 defines it for a replay: the members the client
 * sent, canonical; a ts left out of the replay counts as equal. */
static int same_content(const pt_event *stored, const pt_event *e) {
  if (strcmp(stored->pipeline_type, e->pipeline_type) || strcmp(stored->step, e->step) ||
      stored->status != e->status)
    return 0;
  if (e->ts_given && stored->ts != e->ts) return 0;
  if (strcmp(stored->error, e->error)) return 0;
  if (stored->redacted) /* payloads are gone; their digests remain */
    return strcmp(stored->input_sha256, e->input_sha256) == 0 &&
           strcmp(stored->output_sha256, e->output_sha256) == 0;
  return stored->input_len == e->input_len && stored->output_len == e->output_len &&
         memcmp(stored->input, e->input, e->input_len) == 0 &&
         memcmp(stored->output, e->output, e->output_len) == 0;
}

static int collect_id_text(void *ctx, const char *id) {
  pt_buf *b = ctx;
  pt_buf_put(b, id, strlen(id) + 1);
  return b->failed != 0;
}

/* Signs the entry (SPEC §1.5) before it is stored: over its listed form,
 * whose ids come from the session's recent list (have, NUL-separated) or,
 * past it, from this transaction's view of the store. */
static pt_status sign_snapshot(tx *x, pt_snap *out, const char *have, pt_error *err) {
  int64_t first = snap_ids_first(out), n = out->event_count - first;
  pt_buf idtext;
  pt_buf_init(&idtext, 0);
  if (!have) {
    pt_store *st = x->t->store;
    pt_status rc = st->m->tx_event_ids(st, out->session_id, first, out->event_count,
                                       collect_id_text, &idtext, err);
    if (rc) {
      pt_buf_cleanup(&idtext);
      return rc;
    }
    have = idtext.data ? idtext.data : "";
  }
  const char **list = n ? malloc((size_t)n * sizeof *list) : NULL;
  pt_buf text;
  pt_buf_init(&text, 0);
  char sig[PT_SIG_B64];
  int ok = !idtext.failed && (list || !n);
  for (int64_t k = 0; ok && k < n; k++, have += strlen(have) + 1) list[k] = have;
  ok = ok && pt_snap_signed_text(&text, out, list, first, n) == 0 &&
       pt_signer_sign(x->t->signer, text.data, text.len, sig) == 0 &&
       (out->signature = strdup(sig)) != NULL;
  free(list);
  pt_buf_cleanup(&text);
  pt_buf_cleanup(&idtext);
  return ok ? PT_OK : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}

/* Makes and stores a registry entry for the session now. With ids, *ids gets
 * the event ids the entry lists when the session's recent list holds them
 * all (else NULL: they are read back when the entry is rendered). */
static pt_status take_snapshot(tx *x, txsess *ts, const pt_defs *defs, int64_t now,
                               const char *notes, pt_snap *out, char **ids, pt_error *err) {
  const pt_pipeline *p = pt_defs_find(defs, ts->s.pipeline_type);
  if (!p)
    return pt_fail(err, PT_EUNKNOWN_PIPELINE, "pipeline_type",
                   "pipeline_type: \"%s\" is no longer defined", ts->s.pipeline_type);
  pt_cksum c;
  pt_cksum_compute(&ts->s, p, now, &c);
  if (pt_snap_make(&ts->s, &c, now, notes, out))
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  const char *have = pt_session_recent_ids(&ts->s, snap_ids_first(out));
  if (have && ids) {
    size_t len = (size_t)(ts->s.recent + ts->s.recent_len - have);
    if ((*ids = malloc(len ? len : 1))) memcpy(*ids, have, len);
  }
  ts->dirty = 1;
  if (x->t->signer) {
    pt_status rc = sign_snapshot(x, out, have, err);
    if (rc) return rc;
  }
  return pt_store_snapshot_put(x->t->store, out, err);
}

/* When a queued change is sent: an "updated" waits the coalescing window,
 * gathering the changes that follow; the others go at once. */
static int64_t outbox_due(const pt_tracker *t, const char *action, int64_t at) {
  return strcmp(action, "updated") == 0 ? at + t->outbox_window_ms : at;
}

/* Counts a stored failure in its issue, in the event's transaction: an
 * acknowledged failure is counted exactly once (replays never get here). */
static pt_status record_failure(tx *x, const pt_event *e, int announce, pt_error *err) {
  pt_store *st = x->t->store;
  if (!st->m->issue_put) return PT_OK;
  pt_issue cur;
  pt_issue_key(&cur, e, NULL);
  pt_issue got;
  pt_status rc = st->m->issue_get(st, cur.id, &got, err);
  int is_new = rc == PT_ENOTFOUND;
  if (rc != PT_OK && !is_new) return rc;
  const char *action = "updated";
  if (is_new) {
    cur.first_seen = e->received_at;
    action = "opened";
  } else {
    cur = got;
    if (!cur.open) { /* it fails again: reopened */
      cur.open = 1;
      cur.reopened++;
      action = "reopened";
    }
  }
  cur.count++;
  if (e->received_at > cur.last_seen) cur.last_seen = e->received_at;
  snprintf(cur.last_session_id, sizeof cur.last_session_id, "%s", e->session_id);
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_event_write_json(&b, e);
  free(cur.sample_event);
  cur.sample_event = pt_buf_take(&b);
  if (!cur.sample_event) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  int new_session = 0;
  rc = st->m->issue_session_add(st, cur.id, e->session_id, e->received_at, &new_session, err);
  if (rc == PT_OK) {
    cur.sessions_affected += new_session;
    rc = st->m->issue_put(st, &cur, is_new, err);
  }
  if (rc == PT_OK && announce && x->t->outbox && st->m->outbox_add)
    rc = st->m->outbox_add(st, cur.id, action, e->received_at,
                           outbox_due(x->t, action, e->received_at), err);
  pt_issue_cleanup(&cur);
  return rc;
}

/* A stalled session counts once in its pipeline's "stalled" issue: the
 * issue's session list says whether it was counted (also across restarts). */
static pt_status apply_stall(tx *x, job *j) {
  pt_store *st = x->t->store;
  if (!st->m->issue_put) return PT_OK;
  for (size_t i = 0; i < j->nstall; i++) {
    pt_issue cur;
    pt_issue_key(&cur, NULL, j->stall_type[i]);
    int new_session = 0;
    pt_status rc =
        st->m->issue_session_add(st, cur.id, j->stall_sid[i], j->now, &new_session, &j->err);
    if (rc) return rc;
    if (!new_session) continue; /* reported before */
    pt_issue got;
    rc = st->m->issue_get(st, cur.id, &got, &j->err);
    int is_new = rc == PT_ENOTFOUND;
    if (rc != PT_OK && !is_new) return rc;
    const char *action = "updated";
    if (is_new) {
      cur.first_seen = j->now;
      action = "opened";
    } else {
      cur = got;
      if (!cur.open) {
        cur.open = 1;
        cur.reopened++;
        action = "reopened";
      }
    }
    cur.count++;
    cur.sessions_affected++;
    cur.last_seen = j->now;
    snprintf(cur.last_session_id, sizeof cur.last_session_id, "%s", j->stall_sid[i]);
    rc = st->m->issue_put(st, &cur, is_new, &j->err);
    if (rc == PT_OK && x->t->outbox && st->m->outbox_add)
      rc = st->m->outbox_add(st, cur.id, action, j->now, outbox_due(x->t, action, j->now), &j->err);
    pt_issue_cleanup(&cur);
    if (rc) return rc;
    j->stalls_recorded++;
  }
  return PT_OK;
}

static pt_status apply_outbox(tx *x, job *j) {
  pt_store *st = x->t->store;
  if (!st->m->outbox_done) return PT_OK;
  return st->m->outbox_done(st, j->ob_id, j->ob_ok, j->ob_bump, j->ob_next, &j->err);
}

static pt_status apply_resolve(tx *x, job *j) {
  pt_store *st = x->t->store;
  if (!st->m->issue_get) return pt_fail(&j->err, PT_ENOTFOUND, "id", "this store keeps no issues");
  pt_status rc = st->m->issue_get(st, j->sid, j->issue, &j->err);
  if (rc == PT_ENOTFOUND) {
    j->result = pt_fail(&j->err, PT_ENOTFOUND, "id", "id: no issue \"%s\"", j->sid);
    return PT_OK;
  }
  if (rc) return rc;
  if (j->issue->open) {
    j->issue->open = 0;
    j->issue->resolved_at = j->now;
    rc = st->m->issue_put(st, j->issue, 0, &j->err);
    if (rc == PT_OK && x->t->outbox && st->m->outbox_add)
      rc = st->m->outbox_add(st, j->issue->id, "resolved", j->now, j->now, &j->err);
    if (rc) return rc;
  }
  j->result = PT_OK;
  return PT_OK;
}

/* Decides and appends one event. A refusal (conflict) sets st[i] and returns
 * PT_OK; only a storage failure, which aborts the transaction, is returned. */
static pt_status apply_event(tx *x, job *j, size_t i) {
  pt_event *e = j->evs[i];
  pt_error *err = &j->errs[i];
  txsess *ts;
  pt_status rc = tx_session(x, e->session_id, e->pipeline_type, &ts, err);
  if (rc) return rc;
  char name[48];
  if (j->prefix)
    snprintf(name, sizeof name, "%s", j->prefix);
  else
    snprintf(name, sizeof name, "events[%zu]", i);
  if (ts->exists && strcmp(ts->s.pipeline_type, e->pipeline_type) != 0) {
    j->st[i] = pt_fail(err, PT_ESESSION_CONFLICT, NULL,
                       "%s.pipeline_type: session \"%s\" is a \"%s\" session, not \"%s\"", name,
                       e->session_id, ts->s.pipeline_type, e->pipeline_type);
    snprintf(err->field, sizeof err->field, "%s.pipeline_type", name);
    return PT_OK;
  }
  if (e->id_given && ts->exists) {
    pt_event *found = NULL;
    rc = pt_store_event_find(x->t->store, e->session_id, e->id, &found, err);
    if (rc == PT_OK) {
      if (same_content(found, e)) {
        j->replayed[i] = found;
        j->st[i] = PT_OK;
      } else {
        pt_event_free(found);
        j->st[i] = pt_fail(err, PT_EEVENT_ID_CONFLICT, NULL,
                           "%s.id: event \"%s\" is already stored in session \"%s\" with other "
                           "content",
                           name, e->id, e->session_id);
        snprintf(err->field, sizeof err->field, "%s.id", name);
      }
      return PT_OK;
    }
    if (rc != PT_ENOTFOUND) return rc;
  }
  e->seq = ts->s.event_count;
  e->received_at = j->now;
  if (e->ts < 0) e->ts = j->now;
  pt_chain_link(ts->s.event_count ? ts->s.last_link : PT_GENESIS, e, e->link);
  rc = pt_store_event_put(x->t->store, e, &j->adopted[i], err);
  if (rc) return rc;
  if (pt_session_apply(&ts->s, e)) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  ts->exists = 1;
  ts->dirty = 1;
  j->st[i] = PT_OK;
  if (e->status == PT_FAILURE && (rc = record_failure(x, e, 1, err))) return rc;
  if (j->auto_snapshot) {
    rc = take_snapshot(x, ts, j->defs, j->now, NULL, &j->snaps[i], &j->snap_ids[i], err);
    if (rc == PT_EUNKNOWN_PIPELINE) return PT_OK; /* defs reloaded away: no snapshot */
    if (rc) return rc;
    j->has_snap[i] = 1;
  }
  return PT_OK;
}

typedef struct evvec {
  pt_event **v;
  size_t n, cap;
  int oom;
} evvec;

static int evvec_add(evvec *l, pt_event *e) {
  if (!e) return l->oom = 1;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    pt_event **nv = realloc(l->v, nc * sizeof *nv);
    if (!nv) {
      pt_event_free(e);
      return l->oom = 1;
    }
    l->v = nv;
    l->cap = nc;
  }
  l->v[l->n++] = e;
  return 0;
}

static int evvec_clone(void *ctx, const pt_event *e) {
  return evvec_add(ctx, pt_event_clone(e));
}

static void evvec_free(evvec *l) {
  for (size_t i = 0; i < l->n; i++) pt_event_free(l->v[i]);
  free(l->v);
}

/* An issue whose sample is one of the redacted events gets the redacted
 * copy as its sample: an issue's sample is its latest failure, so only
 * issues whose last session is this one can hold one. */
static pt_status redact_samples(tx *x, const evvec *l, pt_error *err) {
  pt_store *st = x->t->store;
  if (!st->m->issue_get) return PT_OK;
  for (size_t i = 0; i < l->n; i++) {
    const pt_event *e = l->v[i];
    if (e->status != PT_FAILURE) continue;
    pt_issue key, got;
    pt_issue_key(&key, e, NULL);
    pt_status rc = st->m->issue_get(st, key.id, &got, err);
    if (rc == PT_ENOTFOUND) continue;
    if (rc) return rc;
    /* the sample is the event's JSON, which starts with its id */
    char head[PT_ID_MAX + 16];
    snprintf(head, sizeof head, "{\"id\":\"%s\",", e->id);
    if (strcmp(got.last_session_id, e->session_id) == 0 && got.sample_event &&
        strncmp(got.sample_event, head, strlen(head)) == 0) {
      pt_event *r = pt_event_redacted(e);
      pt_buf b;
      pt_buf_init(&b, 0);
      if (r) pt_event_write_json(&b, r);
      pt_event_free(r);
      char *text = pt_buf_take(&b);
      if (!text) {
        pt_issue_cleanup(&got);
        return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
      }
      free(got.sample_event);
      got.sample_event = text;
      rc = st->m->issue_put(st, &got, 0, err);
    }
    pt_issue_cleanup(&got);
    if (rc) return rc;
  }
  return PT_OK;
}

/* Redaction (SPEC §1.9): every event asked for is checked first (an unknown
 * id refuses the request with nothing changed), then each one not redacted
 * yet loses its payloads, issue samples are redacted too, and a registry
 * entry records who and how many. */
static pt_status apply_redact(tx *x, job *j) {
  pt_store *st = x->t->store;
  if (!st->m->event_redact)
    return pt_fail(&j->err, PT_ESTORAGE, NULL, "this store cannot redact");
  txsess *ts;
  pt_status rc = tx_session(x, j->sid, NULL, &ts, &j->err);
  if (rc) return rc;
  if (!ts->exists) {
    j->result = pt_fail(&j->err, PT_ENOTFOUND, "session_id", "session_id: no session \"%s\" is stored",
                        j->sid);
    return PT_OK;
  }
  evvec l = {0};
  if (j->nrids) {
    for (size_t i = 0; i < j->nrids; i++) {
      pt_event *e = NULL;
      rc = pt_store_event_find(st, j->sid, j->rids[i], &e, &j->err);
      if (rc == PT_ENOTFOUND) {
        j->result = pt_fail(&j->err, PT_ENOTFOUND, NULL,
                            "event_ids[%zu]: no event \"%s\" in session \"%s\"", i, j->rids[i],
                            j->sid);
        snprintf(j->err.field, sizeof j->err.field, "event_ids[%zu]", i);
        evvec_free(&l);
        return PT_OK;
      }
      if (rc) {
        evvec_free(&l);
        return rc;
      }
      int dup = 0;
      for (size_t k = 0; k < l.n && !dup; k++) dup = l.v[k]->seq == e->seq;
      if (dup)
        pt_event_free(e);
      else
        evvec_add(&l, e);
    }
  } else {
    rc = st->m->tx_read_events(st, j->sid, 0, ts->s.event_count, evvec_clone, &l, &j->err);
  }
  if (rc == PT_OK && l.oom) rc = pt_fail(&j->err, PT_ENOMEM, NULL, "out of memory");
  size_t fresh = 0;
  pt_buf_puts(j->redacted, "[");
  for (size_t i = 0; rc == PT_OK && i < l.n; i++) {
    if (i) pt_buf_putc(j->redacted, ',');
    pt_buf_json_cstr(j->redacted, l.v[i]->id);
    if (l.v[i]->redacted) continue;
    rc = st->m->event_redact(st, j->sid, l.v[i]->seq, &j->err);
    fresh++;
  }
  pt_buf_puts(j->redacted, "]");
  if (rc == PT_OK) rc = redact_samples(x, &l, &j->err);
  if (rc == PT_OK && fresh) {
    /* who, when (the entry's created_at) and how many; ids in the list */
    pt_buf note;
    pt_buf_init(&note, 0);
    pt_buf_printf(&note, "redacted %zu event%s by %s:", fresh, fresh == 1 ? "" : "s", j->notes);
    size_t shown = 0;
    for (size_t i = 0; i < l.n && shown < 10; i++)
      if (!l.v[i]->redacted) pt_buf_printf(&note, "%s %s", shown++ ? "," : "", l.v[i]->id);
    if (fresh > shown) pt_buf_printf(&note, " and %zu more", fresh - shown);
    j->snaps = calloc(1, sizeof *j->snaps);
    if (!j->snaps || note.failed)
      rc = pt_fail(&j->err, PT_ENOMEM, NULL, "out of memory");
    else
      rc = take_snapshot(x, ts, j->defs, j->now, pt_buf_cstr(&note), j->snaps, NULL, &j->err);
    pt_buf_cleanup(&note);
    if (rc == PT_EUNKNOWN_PIPELINE) { /* definitions reloaded away: no entry */
      free(j->snaps);
      j->snaps = NULL;
      rc = PT_OK;
    }
  }
  evvec_free(&l);
  if (rc == PT_OK && j->redacted->failed) rc = pt_fail(&j->err, PT_ENOMEM, NULL, "out of memory");
  if (rc) return rc;
  /* a repeat scrubs too: it is how a redaction whose scrub failed (readers
   * held old pages) is completed */
  j->needs_scrub = 1;
  j->result = PT_OK;
  return PT_OK;
}

static pt_status apply_snapshot_job(tx *x, job *j) {
  txsess *ts;
  pt_status rc = tx_session(x, j->sid, NULL, &ts, &j->err);
  if (rc) return rc;
  if (!ts->exists) {
    j->result = pt_fail(&j->err, PT_ENOTFOUND, "session_id",
                        "session_id: no session \"%s\" is stored", j->sid);
    return PT_OK;
  }
  if (j->ptype && strcmp(j->ptype, ts->s.pipeline_type) != 0) {
    j->result = pt_fail(&j->err, PT_ESESSION_CONFLICT, "pipeline_type",
                        "pipeline_type: session \"%s\" is a \"%s\" session, not \"%s\"", j->sid,
                        ts->s.pipeline_type, j->ptype);
    return PT_OK;
  }
  j->snaps = calloc(1, sizeof *j->snaps);
  if (!j->snaps) return pt_fail(&j->err, PT_ENOMEM, NULL, "out of memory");
  rc = take_snapshot(x, ts, j->defs, j->now, j->notes, j->snaps, NULL, &j->err);
  if (rc == PT_EUNKNOWN_PIPELINE) {
    j->result = rc;
    return PT_OK;
  }
  if (rc) return rc;
  j->result = PT_OK;
  return PT_OK;
}

/* Refuses an import: the transaction (the import's own) is rolled back. */
static pt_status import_refuse(job *j, const pt__imrec *r, pt_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static pt_status import_refuse(job *j, const pt__imrec *r, pt_status code, const char *fmt, ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pt_fail(&j->err, code, NULL, "line %zu: %s", r->line, msg);
  j->refused = 1;
  return code;
}

/* The id suffix of a registry entry of that session and millisecond:
 * reg_<sid>_<ms> is 0, reg_<sid>_<ms>_<N> is N; -1 when it is neither. */
static int snap_suffix(const pt_snap *s) {
  char base[PT_ID_MAX + 64];
  int n = snprintf(base, sizeof base, "reg_%s_%" PRId64, s->session_id, s->created_at);
  if (n < 0 || (size_t)n >= sizeof base || strncmp(s->id, base, (size_t)n) != 0) return -1;
  const char *rest = s->id + n;
  if (!*rest) return 0;
  if (*rest != '_' || !rest[1]) return -1;
  char *end;
  long v = strtol(rest + 1, &end, 10);
  return *end || v <= 0 || v > 1000000000L ? -1 : (int)v;
}

static pt_status apply_import(tx *x, job *j) {
  pt_store *st = x->t->store;
  for (size_t i = 0; i < j->nrecs; i++) {
    pt__imrec *r = &j->recs[i];
    txsess *ts;
    pt_status rc;
    if (r->kind == 3) {
      /* the issue as it was in the source (after its failures, re-counted
       * above from the events, it is overwritten with the exported state) */
      if (!st->m->issue_put) continue;
      if ((rc = st->m->issue_put(st, &r->issue, 0, &j->err))) return rc;
      j->ires->issues_imported++;
      continue;
    }
    if (r->kind == 4) {
      if (!st->m->issue_session_add) continue;
      pt_issue got;
      rc = st->m->issue_get(st, r->iid, &got, &j->err);
      pt_issue_cleanup(&got);
      if (rc == PT_ENOTFOUND)
        return import_refuse(j, r, PT_EINVALID,
                             "issue_session of issue \"%s\" comes before the issue", r->iid);
      if (rc) return rc;
      int fresh;
      if ((rc = st->m->issue_session_add(st, r->iid, r->isid, r->ifirst, &fresh, &j->err)) ||
          (rc = st->m->issue_session_add(st, r->iid, r->isid, r->ilast, &fresh, &j->err)))
        return rc;
      continue;
    }
    if (r->kind == 1) {
      pt_event *e = r->ev;
      if ((rc = tx_session(x, e->session_id, e->pipeline_type, &ts, &j->err))) return rc;
      if (ts->exists && strcmp(ts->s.pipeline_type, e->pipeline_type) != 0)
        return import_refuse(j, r, PT_ESESSION_CONFLICT, "session \"%s\" is a \"%s\" session here",
                             e->session_id, ts->s.pipeline_type);
      if (e->seq < ts->s.event_count) {
        pt_event *found = NULL;
        rc = pt_store_event_find(st, e->session_id, e->id, &found, &j->err);
        if (rc && rc != PT_ENOTFOUND) return rc;
        int same = found && found->seq == e->seq && strcmp(found->link, r->link) == 0;
        /* redacted where it came from: redacted here too */
        int redact = same && e->redacted && !found->redacted;
        pt_event_free(found);
        if (!same)
          return import_refuse(j, r, PT_EEVENT_ID_CONFLICT,
                               "event \"%s\" (seq %lld) differs from the stored session's event",
                               e->id, (long long)e->seq);
        if (redact) {
          if (!st->m->event_redact)
            return pt_fail(&j->err, PT_ESTORAGE, NULL, "this store cannot redact");
          if ((rc = st->m->event_redact(st, e->session_id, e->seq, &j->err))) return rc;
          j->needs_scrub = 1;
        }
        j->ires->events_skipped++;
        continue;
      }
      if (e->seq > ts->s.event_count)
        return import_refuse(j, r, PT_EINVALID,
                             "event seq %lld of session \"%s\" leaves a gap: the session has "
                             "%lld events",
                             (long long)e->seq, e->session_id, (long long)ts->s.event_count);
      pt_chain_link(ts->s.event_count ? ts->s.last_link : PT_GENESIS, e, e->link);
      if (strcmp(e->link, r->link) != 0)
        return import_refuse(j, r, PT_EINVALID,
                             "the link of event \"%s\" (seq %lld) does not follow the chain: the "
                             "export was altered",
                             e->id, (long long)e->seq);
      if ((rc = pt_store_event_put(st, e, &r->adopted, &j->err))) return rc;
      if (pt_session_apply(&ts->s, e)) return pt_fail(&j->err, PT_ENOMEM, NULL, "out of memory");
      ts->exists = ts->dirty = 1;
      /* issues are derived from the failures: counted here as when tracked */
      /* (not announced: an import replays history, it is not news) */
      if (e->status == PT_FAILURE && (rc = record_failure(x, e, 0, &j->err))) return rc;
      j->ires->events_added++;
    } else {
      pt_snap *s = &r->snap;
      if ((rc = tx_session(x, s->session_id, NULL, &ts, &j->err))) return rc;
      if (!ts->exists || strcmp(ts->s.pipeline_type, s->pipeline_type) != 0)
        return import_refuse(j, r, PT_EINVALID,
                             "registry entry \"%s\" comes before its session's events", s->id);
      if (s->n < ts->s.snapshot_count) {
        j->ires->snapshots_skipped++;
        continue;
      }
      int suffix = snap_suffix(s);
      if (s->n > ts->s.snapshot_count || suffix < 0 || s->event_count > ts->s.event_count)
        return import_refuse(j, r, PT_EINVALID,
                             "registry entry \"%s\" (n %lld) does not follow the session's "
                             "registry (%lld entries)",
                             s->id, (long long)s->n, (long long)ts->s.snapshot_count);
      if ((rc = pt_store_snapshot_put(st, s, &j->err))) return rc;
      if (s->created_at > ts->s.snap_ms ||
          (s->created_at == ts->s.snap_ms && suffix > ts->s.snap_suffix)) {
        ts->s.snap_ms = s->created_at;
        ts->s.snap_suffix = suffix;
      }
      ts->s.snapshot_count++;
      ts->dirty = 1;
      j->ires->snapshots_added++;
    }
  }
  return PT_OK;
}

static void reset_job_outcome(job *j) {
  for (size_t i = 0; j->kind == JOB_TRACK && i < j->n; i++) {
    pt_event_free(j->replayed[i]);
    j->replayed[i] = NULL;
    if (j->has_snap[i]) pt_snap_cleanup(&j->snaps[i]);
    j->has_snap[i] = 0;
    free(j->snap_ids[i]);
    j->snap_ids[i] = NULL;
  }
  if ((j->kind == JOB_SNAPSHOT || j->kind == JOB_REDACT) && j->snaps) {
    pt_snap_cleanup(j->snaps);
    free(j->snaps);
    j->snaps = NULL;
  }
}

/* A redaction is acknowledged only once the store's files hold no older copy
 * of the payloads (SPEC §1.9). */
static void scrub_after_redactions(pt_tracker *t, job *jobs) {
  int any = 0;
  for (job *j = jobs; j; j = j->next) any |= j->needs_scrub && j->result == PT_OK;
  if (!any || !t->store->m->scrub) return;
  pt_error err;
  memset(&err, 0, sizeof err);
  if (t->store->m->scrub(t->store, &err) == PT_OK) return;
  for (job *j = jobs; j; j = j->next)
    if (j->needs_scrub && j->result == PT_OK) {
      if (j->snaps) {
        pt_snap_cleanup(j->snaps);
        free(j->snaps);
        j->snaps = NULL;
      }
      j->result = PT_ESTORAGE;
      j->err = err;
      j->err.code = PT_ESTORAGE;
    }
}

/* Runs the jobs (a linked list) in one transaction. On a storage failure the
 * whole transaction is rolled back and every job in it fails: nothing of it
 * is stored, and nothing was acknowledged. */
static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void run_jobs(pt_tracker *t, job *jobs) {
  uint64_t t0 = mono_ns();
  pt_error err;
  pt_error_clear(&err);
  tx x = {t, {0}, NULL, 0, 0};
  pt_map_init(&x.map);
  size_t want = 0;
  for (job *j = jobs; j; j = j->next) want += j->kind == JOB_TRACK ? j->n : 1;
  pt_map_reserve(&x.map, want); /* one table for the whole group: no rehashing */
  pt_status rc = pt_store_begin(t->store, &err);
  int began = rc == PT_OK;
  if (rc == PT_OK && t->store->m->generation) {
    int64_t gen;
    rc = t->store->m->generation(t->store, &gen, &err);
    if (rc == PT_OK && gen != t->cache_gen) {
      cache_clear(t); /* someone else wrote: what we remember may be stale */
      t->cache_gen = gen;
    }
  }
  size_t events = 0;
  for (job *j = jobs; rc == PT_OK && j; j = j->next) {
    if (j->kind == JOB_FLUSH) {
      if (t->store->m->flush) t->store->m->flush(t->store);
      continue;
    }
    if (j->kind == JOB_IMPORT) {
      rc = apply_import(&x, j);
      if (rc) err = j->err;
      continue;
    }
    if (j->kind == JOB_RESOLVE) {
      rc = apply_resolve(&x, j);
      if (rc) err = j->err;
      continue;
    }
    if (j->kind == JOB_OUTBOX) {
      rc = apply_outbox(&x, j);
      if (rc) err = j->err;
      continue;
    }
    if (j->kind == JOB_STALL) {
      rc = apply_stall(&x, j);
      if (rc) err = j->err;
      continue;
    }
    if (j->kind == JOB_SNAPSHOT) {
      rc = apply_snapshot_job(&x, j);
      if (rc) err = j->err;
      continue;
    }
    if (j->kind == JOB_REDACT) {
      rc = apply_redact(&x, j);
      if (rc) err = j->err;
      continue;
    }
    for (size_t i = 0; rc == PT_OK && i < j->n; i++) {
      if (!j->evs[i]) continue;
      rc = apply_event(&x, j, i);
      if (rc) err = j->errs[i];
      events++;
    }
  }
  for (size_t i = 0; rc == PT_OK && i < x.n; i++)
    if (x.list[i]->dirty)
      rc = pt_store_session_put(t->store, &x.list[i]->s, !x.list[i]->stored, &err);
  if (rc == PT_OK) {
    rc = pt_store_commit(t->store, &err);
  } else if (began) {
    pt_store_rollback(t->store);
  }
  if (t->store->m->generation) {
    if (rc == PT_OK) {
      for (size_t i = 0; i < x.n; i++)
        if (x.list[i]->dirty) cache_put(t, &x.list[i]->s);
    } else {
      cache_clear(t);
    }
  }
  tx_cleanup(&x);
  if (rc != PT_OK) {
    if (rc != PT_ENOMEM) rc = PT_ESTORAGE;
    for (job *j = jobs; j; j = j->next) {
      if (j->kind == JOB_IMPORT) {
        /* the import's own transaction: its refusal, or the failure */
        for (size_t i = 0; i < j->nrecs; i++)
          if (j->recs[i].adopted) { /* the rollback freed it */
            j->recs[i].ev = NULL;
            j->recs[i].adopted = 0;
          }
        memset(j->ires, 0, sizeof *j->ires);
        if (!j->refused) {
          j->err.code = j->result = rc;
          if (!j->err.message[0]) j->err = err;
          j->err.code = rc;
        } else {
          j->result = j->err.code;
        }
        continue;
      }
      reset_job_outcome(j);
      j->result = rc;
      j->err = err;
      j->err.code = rc;
      for (size_t i = 0; j->kind == JOB_TRACK && i < j->n; i++)
        if (j->evs[i]) {
          j->st[i] = rc;
          j->errs[i] = j->err;
          if (j->adopted[i]) { /* the rollback freed it */
            j->evs[i] = NULL;
            j->adopted[i] = 0;
          }
        }
    }
    __atomic_add_fetch(&t->stats.commit_failures, 1, __ATOMIC_RELAXED);
  } else {
    __atomic_add_fetch(&t->stats.commits, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&t->stats.events_committed, events, __ATOMIC_RELAXED);
    scrub_after_redactions(t, jobs);
  }
  __atomic_add_fetch(&t->stats.commit_ns, mono_ns() - t0, __ATOMIC_RELAXED);
}

static void *committer(void *arg) {
  pt_tracker *t = arg;
  pthread_mutex_lock(&t->q_lock);
  for (;;) {
    while (!t->head && !t->stopping) pthread_cond_wait(&t->q_cond, &t->q_lock);
    if (!t->head) break; /* stopping, and the queue is drained */
    /* The callers of the last group are usually busy rendering their results
     * and are about to queue again: waiting a moment for as many of them
     * (never longer than GROUP_WAIT_NS, far less than a sync) turns
     * alternating groups of 1 and N-1 into groups of N. */
    if (t->queued < t->last_group && !t->stopping) {
      struct timespec until;
      clock_gettime(CLOCK_MONOTONIC, &until);
      until.tv_nsec += GROUP_WAIT_NS;
      if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
      }
      while (t->queued < t->last_group && !t->stopping)
        if (pthread_cond_timedwait(&t->q_cond, &t->q_lock, &until) == ETIMEDOUT) break;
    }
    job *jobs = t->head;
    t->last_group = t->queued;
    t->head = t->tail = NULL;
    t->queued = 0;
    pthread_mutex_unlock(&t->q_lock);
    /* imports run in transactions of their own, after the group: a refused
     * import rolls back nothing but itself */
    job *normal = NULL, **nt = &normal, *imports = NULL, **it = &imports;
    for (job *j = jobs; j;) {
      job *next = j->next;
      j->next = NULL;
      if (j->kind == JOB_IMPORT) {
        *it = j;
        it = &j->next;
      } else {
        *nt = j;
        nt = &j->next;
      }
      j = next;
    }
    if (normal) run_jobs(t, normal);
    for (job *j = imports; j; j = j->next) {
      job *next = j->next;
      j->next = NULL;
      run_jobs(t, j);
      j->next = next;
    }
    *nt = imports;
    jobs = normal;
    job *async = NULL;
    pthread_mutex_lock(&t->q_lock);
    for (job *j = jobs; j;) {
      job *next = j->next; /* j may be freed by its waiter once done is set */
      if (j->on_done) {
        j->next = async;
        async = j;
      } else {
        j->done = 1;
      }
      j = next;
    }
    pthread_cond_broadcast(&t->done_cond);
    pthread_mutex_unlock(&t->q_lock);
    /* outside the lock: a callback may hand the job straight back to
     * pt__track_finish in another thread */
    while (async) {
      job *next = async->next;
      async->done = 1;
      async->on_done(async->on_done_ctx);
      async = next;
    }
    pthread_mutex_lock(&t->q_lock);
  }
  pthread_mutex_unlock(&t->q_lock);
  return NULL;
}

/* Runs a job to completion: inline for stores whose commit costs nothing,
 * else queued for the committer's next group commit. */
static void submit(pt_tracker *t, job *j) {
  j->next = NULL;
  if (t->inline_commit) {
    run_jobs(t, j);
    j->done = 1;
    if (j->on_done) j->on_done(j->on_done_ctx);
    return;
  }
  pthread_mutex_lock(&t->q_lock);
  if (t->tail)
    t->tail->next = j;
  else
    t->head = j;
  t->tail = j;
  t->queued++;
  pthread_cond_signal(&t->q_cond);
  while (!j->on_done && !j->done) pthread_cond_wait(&t->done_cond, &t->q_lock);
  pthread_mutex_unlock(&t->q_lock);
}

pt_status pt__import_run(pt_tracker *t, pt__imrec *recs, size_t n, pt_import_result *res,
                         pt_error *err) {
  job j;
  memset(&j, 0, sizeof j);
  j.kind = JOB_IMPORT;
  j.defs = pt__defs(t);
  j.now = pt__now(t);
  j.recs = recs;
  j.nrecs = n;
  j.ires = res;
  submit(t, &j);
  pt_defs_unref(j.defs);
  if (j.result != PT_OK && err) *err = j.err;
  return j.result;
}

pt_status pt_issue_resolve(pt_tracker *t, const char *issue_id, char **out, pt_error *err) {
  *out = NULL;
  if (!issue_id || strncmp(issue_id, "iss_", 4) != 0 || strlen(issue_id) > 31)
    return pt_fail(err, PT_EINVALID, "id", "id: must be an issue id (iss_...)");
  pt_issue x;
  memset(&x, 0, sizeof x);
  job j;
  memset(&j, 0, sizeof j);
  j.kind = JOB_RESOLVE;
  j.now = pt__now(t);
  j.sid = issue_id;
  j.issue = &x;
  submit(t, &j);
  pt_status rc = j.result;
  if (rc == PT_OK) {
    pt_buf b;
    pt_buf_init(&b, 0);
    pt_issue_write_json(&b, &x);
    *out = pt_buf_take(&b);
    if (!*out) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  } else if (err) {
    *err = j.err;
  }
  pt_issue_cleanup(&x);
  return rc;
}

pt_status pt__outbox_mark(pt_tracker *t, int64_t id, int ok, int bump, int64_t next_at,
                          pt_error *err) {
  job j;
  memset(&j, 0, sizeof j);
  j.kind = JOB_OUTBOX;
  j.ob_id = id;
  j.ob_ok = ok;
  j.ob_bump = bump;
  j.ob_next = next_at;
  submit(t, &j);
  if (j.result != PT_OK && err) *err = j.err;
  return j.result;
}

pt_status pt__outbox_due(pt_tracker *t, int64_t now, pt_outbox *out, size_t max, size_t *n,
                         int64_t *waiting, pt_error *err) {
  *n = 0;
  *waiting = 0;
  pt_store *st = t->store;
  if (!st->m->read_outbox_due) return PT_OK;
  pt_reader *r;
  pt_status rc = st->m->reader_open(st, &r, err);
  if (rc) return rc;
  rc = st->m->read_outbox_due(r, now, (int64_t)max, out, n, err);
  if (rc == PT_OK) rc = st->m->read_outbox_count(r, waiting, err);
  st->m->reader_close(r);
  return rc;
}

/* ---- the stall sweep ------------------------------------------------------------ */

typedef struct sweep {
  pt_tracker *t;
  const pt_pipeline *p;
  int64_t now, mark, newest;
  char (*sid)[PT_ID_MAX + 1];
  char (*type)[PT_NAME_MAX + 1];
  size_t n, cap;
  int oom;
} sweep;

/* Sessions whose last activity is older than the pipeline's stall time and
 * newer than the last sweep's mark, newest first: only those that crossed
 * the line since the last sweep are looked at. */
static int sweep_one(void *ctx, const pt_session *s, int64_t sort_ms) {
  sweep *w = ctx;
  if (sort_ms <= w->mark) return 1; /* looked at by an earlier sweep */
  if (sort_ms > w->newest) w->newest = sort_ms;
  pt_cksum c;
  pt_cksum_compute(s, w->p, w->now, &c);
  if (strcmp(c.state, "stalled") != 0) return 0;
  if (w->n == w->cap) {
    size_t nc = w->cap ? w->cap * 2 : 64;
    void *a = realloc(w->sid, nc * sizeof *w->sid),
         *b = a ? realloc(w->type, nc * sizeof *w->type) : NULL;
    if (a) w->sid = a;
    if (!a || !b) {
      w->oom = 1;
      return 1;
    }
    w->type = b;
    w->cap = nc;
  }
  snprintf(w->sid[w->n], sizeof w->sid[0], "%s", s->session_id);
  snprintf(w->type[w->n], sizeof w->type[0], "%s", s->pipeline_type);
  w->n++;
  return 0;
}

pt_status pt_sweep_stalls(pt_tracker *t, int64_t *recorded, pt_error *err) {
  *recorded = 0;
  pt_store *st = t->store;
  if (!st->m->list_sessions || !st->m->issue_put) return PT_OK;
  pt_status rc = pt__flush(t, err); /* the activity index follows the rows */
  if (rc) return rc;
  pt_defs *defs = pt__defs(t);
  int64_t now = pt__now(t);
  pthread_mutex_lock(&t->sweep_lock); /* one sweep at a time */
  for (int i = 0; rc == PT_OK && i < defs->n; i++) {
    const pt_pipeline *p = &defs->p[i];
    int64_t *mark = pt_map_get(&t->sweep_marks, p->type);
    if (!mark) {
      char *key = strdup(p->type);
      mark = calloc(1, sizeof *mark + 0);
      if (!key || !mark || pt_map_put(&t->sweep_marks, key, mark)) {
        free(key);
        free(mark);
        rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
        break;
      }
    }
    int64_t cutoff = now - p->stall_after_s * 1000;
    sweep w = {t, p, now, *mark, *mark, NULL, NULL, 0, 0, 0};
    pt_reader *r;
    if ((rc = st->m->reader_open(st, &r, err))) break;
    /* (updated_at, id) < (cutoff + 1, "") : activity at or before cutoff */
    rc = st->m->list_sessions(r, p->type, cutoff + 1, "", -1, sweep_one, &w, err);
    st->m->reader_close(r);
    if (rc == PT_OK && w.oom) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    if (rc == PT_OK && w.n) {
      job j;
      memset(&j, 0, sizeof j);
      j.kind = JOB_STALL;
      j.now = now;
      j.stall_sid = w.sid;
      j.stall_type = w.type;
      j.nstall = w.n;
      submit(t, &j);
      rc = j.result;
      if (rc && err) *err = j.err;
      *recorded += j.stalls_recorded;
    }
    if (rc == PT_OK) *mark = w.newest;
    free(w.sid);
    free(w.type);
  }
  pthread_mutex_unlock(&t->sweep_lock);
  pt_defs_unref(defs);
  return rc;
}

pt_status pt__flush(pt_tracker *t, pt_error *err) {
  if (!t->store->m->flush) return PT_OK;
  job j;
  memset(&j, 0, sizeof j);
  j.kind = JOB_FLUSH;
  submit(t, &j);
  if (j.result != PT_OK && err) *err = j.err;
  return j.result;
}

/* ---- opening and closing -------------------------------------------------- */

static pt_status read_file(const char *path, char **out, size_t *len, pt_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return pt_fail(err, PT_EIO, "pipelines", "pipelines: cannot open %s: %s", path,
                   strerror(errno));
  pt_buf b;
  pt_buf_init(&b, 16u << 20);
  char chunk[8192];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) pt_buf_put(&b, chunk, n);
  int bad = ferror(f);
  fclose(f);
  if (bad || b.failed) {
    pt_buf_cleanup(&b);
    return pt_fail(err, PT_EIO, "pipelines", "pipelines: cannot read %s", path);
  }
  *len = b.len;
  *out = pt_buf_take(&b);
  return *out ? PT_OK : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}

pt_status pt_open(const pt_options *opts, pt_tracker **out, pt_error *err) {
  *out = NULL;
  pt_error_clear(err);
  pt_options none;
  memset(&none, 0, sizeof none);
  if (!opts) opts = &none;
  pt_tracker *t = calloc(1, sizeof *t);
  if (!t) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  pthread_mutex_init(&t->defs_lock, NULL);
  pthread_mutex_init(&t->sweep_lock, NULL);
  pt_map_init(&t->sweep_marks);
  pthread_mutex_init(&t->q_lock, NULL);
  pt_map_init(&t->cache);
  t->cache_gen = -1;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&t->q_cond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_cond_init(&t->done_cond, NULL);
  t->clock = opts->clock ? opts->clock : system_ms;
  t->clock_ctx = opts->clock_ctx;
  t->auto_snapshot = opts->auto_snapshot != 0;
  t->outbox = opts->issue_outbox != 0;
  t->outbox_window_ms = opts->issue_outbox_window_ms > 0 ? opts->issue_outbox_window_ms : 1000;
  t->lim.max_payload = opts->max_payload ? opts->max_payload : PT_DEFAULT_MAX_PAYLOAD;
  t->lim.max_depth = opts->max_depth > 0 ? opts->max_depth : PT_DEFAULT_MAX_DEPTH;
  pt_status rc;
  if (opts->pipelines_file) {
    char *text = NULL;
    size_t len = 0;
    rc = read_file(opts->pipelines_file, &text, &len, err);
    if (rc == PT_OK) {
      rc = pt_defs_parse(text, len, &t->defs, err);
      if (rc != PT_OK && err) {
        char msg[sizeof err->message + 512];
        snprintf(msg, sizeof msg, "%s: %s", opts->pipelines_file, err->message);
        size_t n = strlen(msg);
        if (n >= sizeof err->message) n = sizeof err->message - 1;
        memcpy(err->message, msg, n);
        err->message[n] = '\0';
      }
    }
    free(text);
  } else if (opts->pipelines_json) {
    rc = pt_defs_parse(opts->pipelines_json, strlen(opts->pipelines_json), &t->defs, err);
  } else {
    rc = pt_defs_default(&t->defs, err);
  }
  if (rc == PT_OK && opts->signing_key_pem) {
    char why[160];
    t->signer = pt_signer_from_pem(opts->signing_key_pem, strlen(opts->signing_key_pem), why,
                                   sizeof why);
    if (!t->signer) rc = pt_fail(err, PT_EINVALID, "signing_key", "signing_key: %s", why);
  }
  if (rc == PT_OK)
    rc = pt_store_open(opts->db_url ? opts->db_url : "sqlite:./pipetrack.db", &t->store, err);
  if (rc == PT_OK) {
    t->inline_commit = (t->store->m->flags & PT_STORE_F_INLINE) != 0;
    if (!t->inline_commit) {
      if (pthread_create(&t->thread, NULL, committer, t) != 0)
        rc = pt_fail(err, PT_ENOMEM, NULL, "cannot start the committer thread");
      else
        t->thread_started = 1;
    }
  }
  if (rc != PT_OK) {
    pt_close(t);
    return rc;
  }
  *out = t;
  return PT_OK;
}

void pt_close(pt_tracker *t) {
  if (!t) return;
  if (t->thread_started) {
    pthread_mutex_lock(&t->q_lock);
    t->stopping = 1;
    pthread_cond_signal(&t->q_cond);
    pthread_mutex_unlock(&t->q_lock);
    pthread_join(t->thread, NULL);
  }
  pt_store_close(t->store);
  pt_signer_free(t->signer);
  cache_clear(t);
  free(t->cached);
  pt_defs_unref(t->defs);
  pthread_mutex_destroy(&t->defs_lock);
  for (size_t i = 0; i < t->sweep_marks.cap; i++)
    if (t->sweep_marks.slots[i].key) {
      free((char *)t->sweep_marks.slots[i].key);
      free(t->sweep_marks.slots[i].value);
    }
  pt_map_cleanup(&t->sweep_marks);
  pthread_mutex_destroy(&t->sweep_lock);
  pthread_mutex_destroy(&t->q_lock);
  pthread_cond_destroy(&t->q_cond);
  pthread_cond_destroy(&t->done_cond);
  free(t);
}

pt_status pt_definitions_load(pt_tracker *t, const char *json, size_t len, pt_error *err) {
  pt_defs *d;
  pt_status rc = pt_defs_parse(json, len, &d, err);
  if (rc) return rc;
  pthread_mutex_lock(&t->defs_lock);
  pt_defs *old = t->defs;
  t->defs = d;
  pthread_mutex_unlock(&t->defs_lock);
  pt_defs_unref(old);
  return PT_OK;
}

pt_status pt_definitions_json(pt_tracker *t, char **out, pt_error *err) {
  pt_defs *d = pt__defs(t);
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_defs_write_json(&b, d);
  pt_defs_unref(d);
  *out = pt_buf_take(&b);
  return *out ? PT_OK : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}

void pt__stats(pt_tracker *t, pt_tracker_stats *out) {
  out->commits = __atomic_load_n(&t->stats.commits, __ATOMIC_RELAXED);
  out->commit_failures = __atomic_load_n(&t->stats.commit_failures, __ATOMIC_RELAXED);
  out->events_committed = __atomic_load_n(&t->stats.events_committed, __ATOMIC_RELAXED);
  out->commit_ns = __atomic_load_n(&t->stats.commit_ns, __ATOMIC_RELAXED);
}

void pt__inject_store_fault(pt_tracker *t, int after) {
  t->store->fail_after = after;
}

/* ---- tracking --------------------------------------------------------------- */

static void job_free(job *j) {
  reset_job_outcome(j);
  for (size_t i = 0; i < j->n; i++)
    if (!j->adopted || !j->adopted[i]) pt_event_free(j->evs[i]);
  free(j->evs);
  free(j->st);
  free(j->errs);
  free(j->replayed);
  free(j->snaps);
  free(j->snap_ids);
  free(j->has_snap);
  free(j->adopted);
  pt_defs_unref(j->defs);
}

static pt_status job_init_track(pt_tracker *t, job *j, size_t n, int auto_snapshot, pt_error *err) {
  memset(j, 0, sizeof *j);
  j->kind = JOB_TRACK;
  j->defs = pt__defs(t);
  j->now = pt__now(t);
  j->n = n;
  j->auto_snapshot = auto_snapshot == PT_SNAPSHOT_DEFAULT ? t->auto_snapshot : auto_snapshot != 0;
  size_t k = n ? n : 1;
  j->evs = calloc(k, sizeof *j->evs);
  j->st = calloc(k, sizeof *j->st);
  j->errs = calloc(k, sizeof *j->errs);
  j->replayed = calloc(k, sizeof *j->replayed);
  j->snaps = calloc(k, sizeof *j->snaps);
  j->snap_ids = calloc(k, sizeof *j->snap_ids);
  j->has_snap = calloc(k, sizeof *j->has_snap);
  j->adopted = calloc(k, sizeof *j->adopted);
  if (!j->evs || !j->st || !j->errs || !j->replayed || !j->snaps || !j->snap_ids ||
      !j->has_snap || !j->adopted) {
    j->n = 0;
    job_free(j);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  return PT_OK;
}

/* Event ids 0..count-1 of a session, for rendering snapshot entries. */
typedef struct idlist {
  char **ids;
  int64_t n, cap;
} idlist;

static int collect_id(void *ctx, const pt_event *e) {
  idlist *l = ctx;
  if (l->n == l->cap) {
    int64_t nc = l->cap ? l->cap * 2 : 16;
    char **ni = realloc(l->ids, (size_t)nc * sizeof *ni);
    if (!ni) return 1;
    l->ids = ni;
    l->cap = nc;
  }
  if (!(l->ids[l->n] = strdup(e->id))) return 1;
  l->n++;
  return 0;
}

static void idlist_free(idlist *l) {
  for (int64_t i = 0; i < l->n; i++) free(l->ids[i]);
  free(l->ids);
  l->ids = NULL;
  l->n = l->cap = 0;
}

/* Renders an entry whose ids take_snapshot found in memory. */
static char *snapshot_json_with(const pt_snap *s, const char *ids) {
  int64_t first = snap_ids_first(s), n = s->event_count - first;
  const char *list[PT_RECENT_IDS];
  if (n > PT_RECENT_IDS) return NULL; /* cannot happen: the list is shorter */
  for (int64_t k = 0; k < n; k++, ids += strlen(ids) + 1) list[k] = ids;
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_snap_write_json(&b, s, list, first, n, PT_SNAP_IDS_MAX);
  return pt_buf_take(&b);
}

pt_status pt_pubkey(pt_tracker *t, char **out, pt_error *err) {
  *out = NULL;
  if (!t->signer)
    return pt_fail(err, PT_ENOTFOUND, NULL,
                   "no signing key: entries and receipts are not signed (--signing-key)");
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_buf_puts(&b, "{\"algorithm\":\"ed25519\",\"public_key\":\"");
  pt_buf_puts(&b, pt_signer_pubkey(t->signer));
  pt_buf_puts(&b, "\"}");
  if (!(*out = pt_buf_take(&b))) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return PT_OK;
}

const pt_signer *pt__signer(pt_tracker *t) {
  return t->signer;
}

char *pt__snapshot_json(pt_tracker *t, const pt_snap *s, pt_error *err) {
  pt_reader *r;
  if (t->store->m->reader_open(t->store, &r, err)) return NULL;
  idlist l;
  memset(&l, 0, sizeof l);
  int64_t first = snap_ids_first(s);
  pt_status rc =
      r->store->m->read_events(r, s->session_id, first, s->event_count, collect_id, &l, err);
  t->store->m->reader_close(r);
  if (rc) {
    idlist_free(&l);
    return NULL;
  }
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_snap_write_json(&b, s, (const char *const *)l.ids, first, l.n, PT_SNAP_IDS_MAX);
  idlist_free(&l);
  return pt_buf_take(&b);
}

/* Fills r for event i of a finished job. The event's JSON goes to *text
 * (a slice of the batch's text block) when given, else to its own
 * allocation. */
static pt_status fill_result(pt_tracker *t, job *j, size_t i, pt_track_result *r, char **text,
                             pt_error *err) {
  const pt_event *e = j->replayed[i] ? j->replayed[i] : j->evs[i];
  r->replayed = j->replayed[i] != NULL;
  r->seq = e->seq;
  memcpy(r->link, e->link, 65);
  pt_chain_hash(e->session_id, e->link, r->chain_hash);
  r->issue_id[0] = '\0';
  r->receipt[0] = '\0';
  if (t->signer) {
    /* RFC 8785 as written: keys in order, an integer, ids that need no
     * escaping (pt_is_id) */
    char msg[PT_ID_MAX + 220];
    int n = snprintf(msg, sizeof msg,
                     "{\"chain_hash\":\"%s\",\"link\":\"%s\",\"seq\":%" PRId64
                     ",\"session_id\":\"%s\"}",
                     r->chain_hash, r->link, r->seq, e->session_id);
    if (n < 0 || (size_t)n >= sizeof msg || pt_signer_sign(t->signer, msg, (size_t)n, r->receipt))
      return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  if (e->status == PT_FAILURE && !r->replayed) {
    pt_issue key;
    pt_issue_key(&key, e, NULL);
    memcpy(r->issue_id, key.id, sizeof r->issue_id);
  }
  pt_buf b;
  if (text) {
    pt_buf_init_on(&b, *text, pt_event_json_size(e));
    pt_event_write_json(&b, e);
    assert(b.borrowed); /* pt_event_json_size is an upper bound: never spills */
    r->event_json = b.data;
    *text += b.len + 1;
  } else {
    pt_buf_init(&b, 0);
    pt_buf_reserve(&b, pt_event_json_size(e));
    pt_event_write_json(&b, e);
    r->event_json = pt_buf_take(&b);
    if (!r->event_json) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  if (j->has_snap[i]) {
    r->snapshot_json = j->snap_ids[i] ? snapshot_json_with(&j->snaps[i], j->snap_ids[i])
                                      : pt__snapshot_json(t, &j->snaps[i], err);
    if (!r->snapshot_json)
      return err && err->code != PT_OK ? err->code : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  return PT_OK;
}

void pt_track_result_free(pt_track_result *r) {
  if (!r) return;
  free(r->event_json);
  free(r->snapshot_json);
  free(r);
}

/* A batch's own storage: every result struct in one array and every event's
 * JSON in one text block, instead of two allocations per event. */
typedef struct batch_store {
  pt_track_result *results;
  char *text;
} batch_store;

void pt_batch_result_free(pt_batch_result *r) {
  if (!r) return;
  batch_store *bs = r->priv_;
  for (size_t i = 0; i < r->count; i++) {
    if (!bs) {
      pt_track_result_free(r->items[i].result);
    } else if (r->items[i].result) {
      free(r->items[i].result->snapshot_json);
    }
  }
  if (bs) {
    free(bs->results);
    free(bs->text);
    free(bs);
  }
  free(r->items);
  free(r);
}

static int job_has_work(const job *j) {
  for (size_t i = 0; i < j->n; i++)
    if (j->evs[i]) return 1;
  return 0;
}

static pt_status render_batch(pt_tracker *t, job *j, pt_batch_result **out, pt_error *err);

/* Runs a validated job and turns it into a batch result. */
static pt_status finish_batch(pt_tracker *t, job *j, pt_batch_result **out, pt_error *err) {
  if (job_has_work(j)) submit(t, j);
  return render_batch(t, j, out, err);
}

/* The result of a job that has run; frees the job's contents. */
static pt_status render_batch(pt_tracker *t, job *j, pt_batch_result **out, pt_error *err) {
  pt_batch_result *br = calloc(1, sizeof *br);
  if (br) br->items = calloc(j->n ? j->n : 1, sizeof *br->items);
  batch_store *bs = NULL;
  int failed = !br || !br->items;
  if (!failed && j->n > 1) {
    size_t text = 0;
    for (size_t i = 0; i < j->n; i++)
      if (j->st[i] == PT_OK)
        text += pt_event_json_size(j->replayed[i] ? j->replayed[i] : j->evs[i]) + 1;
    bs = calloc(1, sizeof *bs);
    if (bs) {
      bs->results = calloc(j->n, sizeof *bs->results);
      bs->text = malloc(text ? text : 1);
    }
    failed = !bs || !bs->results || !bs->text;
    if (bs) br->priv_ = bs;
  }
  if (failed) {
    if (br) {
      br->count = 0;
      pt_batch_result_free(br);
    }
    job_free(j);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  br->count = j->n;
  char *text = bs ? bs->text : NULL;
  pt_status whole = PT_OK;
  for (size_t i = 0; i < j->n; i++) {
    pt_batch_item *it = &br->items[i];
    it->status = j->st[i];
    it->error = j->errs[i];
    if (it->status == PT_OK) {
      it->result = bs ? &bs->results[i] : calloc(1, sizeof *it->result);
      it->status = it->result ? fill_result(t, j, i, it->result, bs ? &text : NULL, &it->error)
                              : pt_fail(&it->error, PT_ENOMEM, NULL, "out of memory");
      if (it->status != PT_OK) it->error.code = it->status;
    }
    if (it->status == PT_ESTORAGE) whole = PT_ESTORAGE;
  }
  job_free(j);
  if (whole != PT_OK) {
    /* The commit failed: nothing in the batch is stored. */
    pt_fail(err, whole, NULL, "%s", br->items[0].error.message);
    pt_batch_result_free(br);
    return whole;
  }
  *out = br;
  return PT_OK;
}

/* "events[i]": the name of a batch item in error fields. Built by hand: it
 * is made for every event and printf would cost more than the SHA-256. */
static const char *item_name(char p[32], size_t i) {
  memcpy(p, "events[", 7);
  size_t n = 7 + pt_u64_digits(i, p + 7);
  p[n] = ']';
  p[n + 1] = '\0';
  return p;
}

pt_status pt__track_values(pt_tracker *t, const json_t *const *events, size_t n, int auto_snapshot,
                           const char *prefix, pt_batch_result **out, pt_error *err) {
  *out = NULL;
  if (n > PT_BATCH_MAX)
    return pt_fail(err, PT_ETOOBIG, "events", "events: at most %d events a batch, got %zu",
                   PT_BATCH_MAX, n);
  job j;
  pt_status rc = job_init_track(t, &j, n, auto_snapshot, err);
  if (rc) return rc;
  j.prefix = prefix;
  for (size_t i = 0; i < n; i++) {
    char p[32];
    j.st[i] = pt_validate_event(events[i], j.defs, &t->lim, j.now,
                                prefix ? prefix : item_name(p, i), &j.evs[i], &j.errs[i]);
  }
  return finish_batch(t, &j, out, err);
}

struct pt__pending {
  job j;
};

pt_status pt__track_start(pt_tracker *t, const json_t *const *events, size_t n, int auto_snapshot,
                          const char *prefix, void (*on_done)(void *ctx), void *ctx,
                          pt__pending **out, pt_error *err) {
  *out = NULL;
  if (n > PT_BATCH_MAX)
    return pt_fail(err, PT_ETOOBIG, "events", "events: at most %d events a batch, got %zu",
                   PT_BATCH_MAX, n);
  pt__pending *p = malloc(sizeof *p);
  if (!p) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  pt_status rc = job_init_track(t, &p->j, n, auto_snapshot, err);
  if (rc) {
    free(p);
    return rc;
  }
  for (size_t i = 0; i < n; i++) {
    char name[32];
    p->j.st[i] =
        pt_validate_event(events[i], p->j.defs, &t->lim, p->j.now,
                          prefix ? prefix : item_name(name, i), &p->j.evs[i], &p->j.errs[i]);
  }
  p->j.prefix = prefix;
  p->j.on_done = on_done;
  p->j.on_done_ctx = ctx;
  *out = p;
  if (job_has_work(&p->j)) {
    submit(t, &p->j);
  } else {
    p->j.done = 1;
    on_done(ctx);
  }
  return PT_OK;
}

pt_status pt__track_finish(pt_tracker *t, pt__pending *p, pt_batch_result **out, pt_error *err) {
  *out = NULL;
  pt_status rc = render_batch(t, &p->j, out, err);
  free(p);
  return rc;
}

pt_status pt_track_batch(pt_tracker *t, const pt_event_in *evs, size_t n, int auto_snapshot,
                         pt_batch_result **out, pt_error *err) {
  *out = NULL;
  if (n > PT_BATCH_MAX)
    return pt_fail(err, PT_ETOOBIG, "events", "events: at most %d events a batch, got %zu",
                   PT_BATCH_MAX, n);
  job j;
  pt_status rc = job_init_track(t, &j, n, auto_snapshot, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    char p[32];
    j.st[i] =
        pt_validate_struct(&evs[i], j.defs, &t->lim, j.now, item_name(p, i), &j.evs[i], &j.errs[i]);
  }
  return finish_batch(t, &j, out, err);
}

/* One event: the batch machinery with the error lifted to the call. */
static pt_status single(pt_batch_result *br, pt_status rc, pt_track_result **out, pt_error *err) {
  if (rc != PT_OK) return rc;
  pt_batch_item *it = &br->items[0];
  rc = it->status;
  if (rc == PT_OK) {
    *out = it->result;
    it->result = NULL;
  } else if (err) {
    *err = it->error;
  }
  pt_batch_result_free(br);
  return rc;
}

pt_status pt_track(pt_tracker *t, const pt_event_in *ev, int auto_snapshot, pt_track_result **out,
                   pt_error *err) {
  *out = NULL;
  pt_batch_result *br = NULL;
  job j;
  pt_status rc = job_init_track(t, &j, 1, auto_snapshot, err);
  if (rc) return rc;
  j.prefix = "event";
  j.st[0] = pt_validate_struct(ev, j.defs, &t->lim, j.now, "event", &j.evs[0], &j.errs[0]);
  rc = finish_batch(t, &j, &br, err);
  return single(br, rc, out, err);
}

pt_status pt__track_value(pt_tracker *t, const json_t *event, int auto_snapshot,
                          pt_track_result **out, pt_error *err) {
  *out = NULL;
  pt_batch_result *br = NULL;
  pt_status rc = pt__track_values(t, &event, 1, auto_snapshot, "event", &br, err);
  return single(br, rc, out, err);
}

/* The largest event text worth parsing: two payloads at their limit, an
 * error message of the same size, and room for the rest. Larger texts are
 * refused before any parsing. */
static size_t event_text_max(const pt_tracker *t) {
  return 3 * t->lim.max_payload + 16384;
}

pt_status pt_track_json(pt_tracker *t, const char *json, size_t len, int auto_snapshot,
                        pt_track_result **out, pt_error *err) {
  *out = NULL;
  if (len > event_text_max(t))
    return pt_fail(err, PT_ETOOBIG, "event", "event: must be at most %zu bytes of JSON",
                   event_text_max(t));
  json_t *v;
  pt_status rc = pt_parse_ijson(json, len, "event", &v, err);
  if (rc) return rc;
  rc = pt__track_value(t, v, auto_snapshot, out, err);
  json_decref(v);
  return rc;
}

pt_status pt_track_batch_json(pt_tracker *t, const char *json, size_t len, int auto_snapshot,
                              pt_batch_result **out, pt_error *err) {
  *out = NULL;
  if (len > PT_BATCH_MAX * event_text_max(t))
    return pt_fail(err, PT_ETOOBIG, "events", "events: must be at most %zu bytes of JSON",
                   PT_BATCH_MAX * event_text_max(t));
  json_t *v;
  pt_status rc = pt_parse_ijson(json, len, "events", &v, err);
  if (rc) return rc;
  if (!json_is_array(v)) {
    json_decref(v);
    return pt_fail(err, PT_EINVALID, "events", "events: must be an array of event objects");
  }
  size_t n = json_array_size(v);
  const json_t **items = malloc((n ? n : 1) * sizeof *items);
  if (!items) {
    json_decref(v);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  for (size_t i = 0; i < n; i++) items[i] = json_array_get(v, i);
  rc = pt__track_values(t, items, n, auto_snapshot, NULL, out, err);
  free(items);
  json_decref(v);
  return rc;
}

/* ---- traced steps ------------------------------------------------------------ */

struct pt_step {
  pt_tracker *t;
  char session_id[PT_ID_MAX + 1];
  char pipeline_type[PT_NAME_MAX + 1];
  char step[PT_NAME_MAX + 1];
  int64_t started_ms;
};

pt_status pt_step_begin(pt_tracker *t, const char *session_id, const char *pipeline_type,
                        const char *step, const char *input_json, pt_step **out, pt_error *err) {
  *out = NULL;
  pt_event_in in = {.session_id = session_id,
                    .pipeline_type = pipeline_type,
                    .step = step,
                    .status = PT_STARTED,
                    .ts = -1,
                    .input_json = input_json};
  pt_track_result *r;
  pt_status rc = pt_track(t, &in, PT_SNAPSHOT_DEFAULT, &r, err);
  if (rc) return rc;
  pt_step *s = calloc(1, sizeof *s);
  if (!s) {
    pt_track_result_free(r);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  s->t = t;
  snprintf(s->session_id, sizeof s->session_id, "%s", session_id);
  snprintf(s->pipeline_type, sizeof s->pipeline_type, "%s", pipeline_type);
  snprintf(s->step, sizeof s->step, "%s", step);
  /* The stored ts is the server's receive time of the started event. */
  json_t *ev = NULL;
  if (pt_jparse_tree(r->event_json, strlen(r->event_json), 0, &ev, NULL) != 0) ev = NULL;
  s->started_ms = ev ? (int64_t)json_number_value(json_object_get(ev, "ts")) : pt__now(t);
  json_decref(ev);
  pt_track_result_free(r);
  *out = s;
  return PT_OK;
}

pt_status pt_step_end(pt_step *s, pt_event_status outcome, const char *output_json,
                      const char *error_code, const char *error_message, pt_error *err) {
  if (!s) return pt_fail(err, PT_EINVALID, NULL, "step: is NULL");
  pt_status rc = PT_OK;
  if (outcome != PT_SUCCESS && outcome != PT_FAILURE)
    rc = pt_fail(err, PT_EINVALID, "status", "status: a step ends with success or failure");
  int64_t now = pt__now(s->t);
  pt_buf out;
  pt_buf_init(&out, 0);
  if (rc == PT_OK) {
    pt_buf_puts(&out, "{\"duration_ms\":");
    pt_buf_i64(&out, now > s->started_ms ? now - s->started_ms : 0);
    pt_buf_puts(&out, ",\"result\":");
    pt_buf_puts(&out, output_json ? output_json : "null");
    pt_buf_putc(&out, '}');
    pt_event_in in = {.session_id = s->session_id,
                      .pipeline_type = s->pipeline_type,
                      .step = s->step,
                      .status = outcome,
                      .ts = now,
                      .output_json = pt_buf_cstr(&out)};
    if (outcome == PT_FAILURE) {
      in.error_code = error_code ? error_code : "unknown";
      in.error_message = error_message ? error_message : "";
    }
    pt_track_result *r = NULL;
    rc = pt_track(s->t, &in, PT_SNAPSHOT_DEFAULT, &r, err);
    pt_track_result_free(r);
  }
  pt_buf_cleanup(&out);
  free(s);
  return rc;
}

/* ---- snapshots on request ------------------------------------------------------ */

pt_status pt_redact(pt_tracker *t, const char *session_id, const char *const *event_ids,
                    size_t n, const char *actor, char **out, pt_error *err) {
  *out = NULL;
  if (!session_id || !pt_is_id(session_id))
    return pt_fail(err, PT_EINVALID, "session_id",
                   "session_id: must be 1-128 characters of A-Z a-z 0-9 _ . : -");
  if (n > PT_BATCH_MAX)
    return pt_fail(err, PT_EINVALID, "event_ids", "event_ids: at most %d ids a request",
                   PT_BATCH_MAX);
  for (size_t i = 0; i < n; i++)
    if (!event_ids[i] || !pt_is_id(event_ids[i])) {
      pt_fail(err, PT_EINVALID, NULL,
              "event_ids[%zu]: must be 1-128 characters of A-Z a-z 0-9 _ . : -", i);
      if (err) snprintf(err->field, sizeof err->field, "event_ids[%zu]", i);
      return PT_EINVALID;
    }
  if (!actor || !*actor) actor = "unknown";
  if (strlen(actor) > 256 || !pt_utf8_valid(actor, strlen(actor)))
    return pt_fail(err, PT_EINVALID, "actor", "actor: must be valid UTF-8, at most 256 bytes");
  pt_buf ids;
  pt_buf_init(&ids, 0);
  job j;
  memset(&j, 0, sizeof j);
  j.kind = JOB_REDACT;
  j.defs = pt__defs(t);
  j.now = pt__now(t);
  j.sid = session_id;
  j.notes = actor;
  j.rids = event_ids;
  j.nrids = n;
  j.redacted = &ids;
  submit(t, &j);
  pt_status rc = j.result;
  if (rc == PT_OK) {
    char *entry = j.snaps ? pt__snapshot_json(t, j.snaps, err) : NULL;
    pt_buf b;
    pt_buf_init(&b, 0);
    pt_buf_puts(&b, "{\"session_id\":");
    pt_buf_json_cstr(&b, session_id);
    pt_buf_puts(&b, ",\"redacted\":");
    pt_buf_puts(&b, pt_buf_cstr(&ids));
    pt_buf_puts(&b, ",\"snapshot\":");
    pt_buf_puts(&b, entry ? entry : "null");
    pt_buf_putc(&b, '}');
    free(entry);
    if ((j.snaps && !entry) || !(*out = pt_buf_take(&b))) {
      pt_buf_cleanup(&b);
      rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    }
  } else if (err) {
    *err = j.err;
  }
  reset_job_outcome(&j);
  pt_buf_cleanup(&ids);
  pt_defs_unref(j.defs);
  return rc;
}

pt_status pt_snapshot(pt_tracker *t, const char *session_id, const char *pipeline_type,
                      const char *notes, char **out, pt_error *err) {
  *out = NULL;
  if (!pt_is_id(session_id))
    return pt_fail(err, PT_EINVALID, "session_id",
                   "session_id: must be 1-128 characters of A-Z a-z 0-9 _ . : -");
  if (pipeline_type && !pt_is_name(pipeline_type))
    return pt_fail(err, PT_EINVALID, "pipeline_type",
                   "pipeline_type: must be a string matching ^[a-z][a-z0-9_]{0,63}$");
  if (notes && (strlen(notes) > 4096 || !pt_utf8_valid(notes, strlen(notes))))
    return pt_fail(err, PT_EINVALID, "notes", "notes: must be valid UTF-8, at most 4096 bytes");
  job j;
  memset(&j, 0, sizeof j);
  j.kind = JOB_SNAPSHOT;
  j.defs = pt__defs(t);
  j.now = pt__now(t);
  j.sid = session_id;
  j.ptype = pipeline_type;
  j.notes = notes;
  submit(t, &j);
  pt_status rc = j.result;
  if (rc == PT_OK) {
    *out = pt__snapshot_json(t, j.snaps, err);
    if (!*out) rc = err && err->code ? err->code : PT_ENOMEM;
  } else if (err) {
    *err = j.err;
  }
  reset_job_outcome(&j);
  pt_defs_unref(j.defs);
  return rc;
}
