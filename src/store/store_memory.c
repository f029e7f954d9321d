/* store_memory.c - the "memory:" backend: everything in hash maps and arrays
 * under one read-write lock. Not durable; for tests, demos and benchmarks.
 * A transaction writes in place and keeps an undo log, so rollback after a
 * failed write restores exactly what was there. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/map.h"
#include "store.h"

typedef struct msess {
  pt_session agg;
  size_t pos; /* index in mstore.all: sessions are listed in creation order */
  int exists; /* 0: created by a transaction that was rolled back */
  pt_event **ev;
  size_t n, cap;
  pt_map ids;     /* event id -> (seq + 1) */
  pt_snap *snaps; /* ascending (created_at, id) */
  size_t nsnap, capsnap;
} msess;

typedef struct undo {
  msess *s;
  int existed;
  size_t n, nsnap;
  pt_session agg; /* copy from before the transaction */
} undo;

/* An issue and the sessions it affected (in the order first affected). */
typedef struct msi {
  char sid[PT_ID_MAX + 1];
  int64_t first, last;
  size_t pos; /* index in missue.s: the export's order */
} msi;

typedef struct missue {
  pt_issue x;
  int exists;
  pt_map sess; /* sid -> msi */
  msi **s;
  size_t ns, caps;
} missue;

typedef struct iundo {
  missue *m;
  int existed;
  pt_issue old;
  size_t ns;
} iundo;

typedef struct mstore {
  pt_store base;
  pt_map issues; /* id -> missue */
  missue **iall;
  size_t niall, capiall;
  iundo *ilog; /* issues touched by the open transaction */
  size_t nilog, capilog;
  /* the webhook outbox in id order; a rollback drops what the transaction
   * added (claims and deliveries are never rolled back: they happen in
   * transactions of their own that cannot fail here) */
  pt_outbox *ob;
  size_t nob, capob, ob_mark;
  int64_t ob_next;
  pthread_rwlock_t lock;
  pt_map sessions;
  msess **all;
  size_t nall, capall;
  /* Undo entries keep their step buffers between transactions (entries
   * below maxlog own one), so a steady stream of appends allocates none. */
  undo *log;
  size_t nlog, caplog, maxlog;
  /* redactions of the open transaction, applied by its commit (a rollback
   * must find the payloads still there) */
  struct mredact {
    msess *s;
    int64_t seq;
  } *red;
  size_t nred, capred;
} mstore;

typedef struct mreader {
  pt_reader base;
} mreader;

static pt_status oom(pt_error *err) {
  return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}

static pt_status m_open(const char *where, pt_store **out, pt_error *err) {
  (void)where;
  mstore *m = calloc(1, sizeof *m);
  if (!m) return oom(err);
  m->base.m = &pt_store_memory_methods;
  pthread_rwlock_init(&m->lock, NULL);
  pt_map_init(&m->sessions);
  *out = &m->base;
  return PT_OK;
}

static void free_sess(msess *s) {
  for (size_t i = 0; i < s->n; i++) pt_event_free(s->ev[i]);
  free(s->ev);
  for (size_t i = 0; i < s->nsnap; i++) pt_snap_cleanup(&s->snaps[i]);
  free(s->snaps);
  pt_map_cleanup(&s->ids);
  pt_session_cleanup(&s->agg);
  free(s);
}

static void m_close(pt_store *st) {
  mstore *m = (mstore *)st;
  for (size_t i = 0; i < m->nall; i++) free_sess(m->all[i]);
  free(m->all);
  for (size_t i = 0; i < m->maxlog; i++) pt_session_cleanup(&m->log[i].agg);
  free(m->log);
  free(m->red);
  pt_map_cleanup(&m->sessions);
  for (size_t i = 0; i < m->niall; i++) {
    missue *mi = m->iall[i];
    for (size_t k = 0; k < mi->ns; k++) free(mi->s[k]);
    free(mi->s);
    pt_map_cleanup(&mi->sess);
    pt_issue_cleanup(&mi->x);
    free(mi);
  }
  free(m->iall);
  free(m->ilog);
  free(m->ob);
  pt_map_cleanup(&m->issues);
  pthread_rwlock_destroy(&m->lock);
  free(m);
}

static pt_status m_begin(pt_store *st, pt_error *err) {
  (void)err;
  mstore *m = (mstore *)st;
  pthread_rwlock_wrlock(&m->lock);
  m->nlog = 0;
  m->ob_mark = m->nob;
  m->nred = 0;
  return PT_OK;
}

static void clear_log(mstore *m) {
  m->nlog = 0;
  for (size_t i = 0; i < m->nilog; i++) pt_issue_cleanup(&m->ilog[i].old);
  m->nilog = 0;
}

/* The payload bytes are overwritten, not just dropped: nothing of them stays
 * in the process's memory once the redaction is committed. */
static void redact_now(pt_event *e) {
  if (e->redacted) return;
  memset((char *)e->input, 0, e->input_len);
  memset((char *)e->output, 0, e->output_len);
  e->input = e->output = "null";
  e->input_len = e->output_len = 4;
  e->redacted = 1;
}

static pt_status m_commit(pt_store *st, pt_error *err) {
  (void)err;
  mstore *m = (mstore *)st;
  for (size_t i = 0; i < m->nred; i++)
    if (m->red[i].seq < (int64_t)m->red[i].s->n) redact_now(m->red[i].s->ev[m->red[i].seq]);
  m->nred = 0;
  clear_log(m);
  pthread_rwlock_unlock(&m->lock);
  return PT_OK;
}

static void m_rollback(pt_store *st) {
  mstore *m = (mstore *)st;
  m->nred = 0;
  for (size_t i = m->nlog; i-- > 0;) {
    undo *u = &m->log[i];
    msess *s = u->s;
    while (s->n > u->n) {
      pt_event *e = s->ev[--s->n];
      pt_map_del(&s->ids, e->id);
      pt_event_free(e);
    }
    while (s->nsnap > u->nsnap) pt_snap_cleanup(&s->snaps[--s->nsnap]);
    /* swap: the session gets the saved state, the entry keeps a buffer */
    pt_session cur = s->agg;
    s->agg = u->agg;
    u->agg = cur;
    s->exists = u->existed;
  }
  for (size_t i = m->nilog; i-- > 0;) {
    iundo *u = &m->ilog[i];
    missue *mi = u->m;
    while (mi->ns > u->ns) {
      msi *e = mi->s[--mi->ns];
      pt_map_del(&mi->sess, e->sid);
      free(e);
    }
    pt_issue_cleanup(&mi->x);
    mi->x = u->old; /* the entry's sample moves back */
    u->old.sample_event = NULL;
    mi->exists = u->existed;
  }
  if (m->nob > m->ob_mark) m->nob = m->ob_mark;
  clear_log(m);
  pthread_rwlock_unlock(&m->lock);
}

/* Records the session's state before this transaction first touches it. */
static int log_touch(mstore *m, msess *s) {
  for (size_t i = 0; i < m->nlog; i++)
    if (m->log[i].s == s) return 0;
  if (m->nlog == m->caplog) {
    size_t nc = m->caplog ? m->caplog * 2 : 16;
    undo *n = realloc(m->log, nc * sizeof *n);
    if (!n) return -1;
    m->log = n;
    m->caplog = nc;
  }
  undo *u = &m->log[m->nlog];
  if (m->nlog == m->maxlog) {
    memset(&u->agg, 0, sizeof u->agg);
    m->maxlog++;
  }
  if (pt_session_assign(&u->agg, &s->agg)) return -1;
  u->s = s;
  u->existed = s->exists;
  u->n = s->n;
  u->nsnap = s->nsnap;
  m->nlog++;
  return 0;
}

static msess *lookup(mstore *m, const char *sid) {
  msess *s = pt_map_get(&m->sessions, sid);
  return s && s->exists ? s : NULL;
}

static pt_status m_session_get(pt_store *st, const char *sid, pt_session *out, pt_error *err) {
  msess *s = lookup((mstore *)st, sid);
  pt_session_init(out, sid, "");
  if (!s) return PT_ENOTFOUND;
  pt_session_cleanup(out);
  return pt_session_copy(out, &s->agg) ? oom(err) : PT_OK;
}

static pt_status m_session_put(pt_store *st, const pt_session *sess, int is_new, pt_error *err) {
  (void)is_new; /* one path serves both */
  mstore *m = (mstore *)st;
  msess *s = pt_map_get(&m->sessions, sess->session_id);
  if (!s) {
    if (m->nall == m->capall) {
      size_t nc = m->capall ? m->capall * 2 : 64;
      msess **n = realloc(m->all, nc * sizeof *n);
      if (!n) return oom(err);
      m->all = n;
      m->capall = nc;
    }
    s = calloc(1, sizeof *s);
    if (!s) return oom(err);
    pt_session_init(&s->agg, sess->session_id, sess->pipeline_type);
    pt_map_init(&s->ids);
    if (pt_map_put(&m->sessions, s->agg.session_id, s)) {
      free(s);
      return oom(err);
    }
    s->pos = m->nall;
    m->all[m->nall++] = s;
  }
  if (log_touch(m, s)) return oom(err);
  if (pt_session_assign(&s->agg, sess)) return oom(err);
  s->exists = 1;
  return PT_OK;
}

/* Appends and snapshots may arrive before session_put for a new session, so
 * both create the entry (not yet "existing") when needed. */
static msess *ensure(mstore *m, const char *sid, const char *type) {
  msess *s = pt_map_get(&m->sessions, sid);
  if (s) return log_touch(m, s) ? NULL : s;
  pt_session init;
  pt_session_init(&init, sid, type);
  if (m_session_put(&m->base, &init, 1, NULL) != PT_OK) return NULL;
  s = pt_map_get(&m->sessions, sid);
  /* The undo entry was logged while the session did not exist yet. */
  s->exists = 0;
  return s;
}

static pt_event *find_event(msess *s, const char *eid) {
  uintptr_t v = (uintptr_t)pt_map_get(&s->ids, eid);
  if (!v || v - 1 >= s->n) return NULL;
  pt_event *e = s->ev[v - 1];
  return strcmp(e->id, eid) == 0 ? e : NULL;
}

static pt_status m_event_find(pt_store *st, const char *sid, const char *eid, pt_event **out,
                              pt_error *err) {
  *out = NULL;
  msess *s = pt_map_get(&((mstore *)st)->sessions, sid);
  pt_event *e = s ? find_event(s, eid) : NULL;
  if (!e) return PT_ENOTFOUND;
  *out = pt_event_clone(e);
  return *out ? PT_OK : oom(err);
}

/* Appends c (owned by the store from here on, once this returns PT_OK). */
static pt_status append_owned(mstore *m, pt_event *c, pt_error *err) {
  msess *s = ensure(m, c->session_id, c->pipeline_type);
  if (!s) return oom(err);
  if (c->seq != (int64_t)s->n)
    return pt_fail(err, PT_ESTORAGE, NULL, "append out of order: seq %lld, have %zu",
                   (long long)c->seq, s->n);
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 8;
    pt_event **n = realloc(s->ev, nc * sizeof *n);
    if (!n) return oom(err);
    s->ev = n;
    s->cap = nc;
  }
  if (pt_map_put(&s->ids, c->id, (void *)(uintptr_t)(s->n + 1))) return oom(err);
  s->ev[s->n++] = c;
  return PT_OK;
}

static pt_status m_event_append(pt_store *st, const pt_event *e, pt_error *err) {
  pt_event *c = pt_event_clone(e);
  if (!c) return oom(err);
  pt_status rc = append_owned((mstore *)st, c, err);
  if (rc) pt_event_free(c);
  return rc;
}

static pt_status m_event_adopt(pt_store *st, pt_event *e, pt_error *err) {
  return append_owned((mstore *)st, e, err);
}

static pt_status m_snapshot_put(pt_store *st, const pt_snap *snap, pt_error *err) {
  mstore *m = (mstore *)st;
  msess *s = ensure(m, snap->session_id, snap->pipeline_type);
  if (!s) return oom(err);
  if (s->nsnap == s->capsnap) {
    size_t nc = s->capsnap ? s->capsnap * 2 : 8;
    pt_snap *n = realloc(s->snaps, nc * sizeof *n);
    if (!n) return oom(err);
    s->snaps = n;
    s->capsnap = nc;
  }
  pt_snap c = *snap;
  c.notes = snap->notes ? strdup(snap->notes) : NULL;
  c.signature = snap->signature ? strdup(snap->signature) : NULL;
  if ((snap->notes && !c.notes) || (snap->signature && !c.signature)) {
    pt_snap_cleanup(&c);
    return oom(err);
  }
  /* in registry order: n is the session's count of entries before it */
  s->snaps[s->nsnap++] = c;
  return PT_OK;
}

static pt_status m_reader_open(pt_store *st, pt_reader **out, pt_error *err) {
  mreader *r = malloc(sizeof *r);
  if (!r) return oom(err);
  r->base.store = st;
  pthread_rwlock_rdlock(&((mstore *)st)->lock);
  *out = &r->base;
  return PT_OK;
}

static void m_reader_close(pt_reader *r) {
  if (!r) return;
  pthread_rwlock_unlock(&((mstore *)r->store)->lock);
  free(r);
}

static pt_status m_read_session(pt_reader *r, const char *sid, pt_session *out, pt_error *err) {
  return m_session_get(r->store, sid, out, err);
}

static pt_status m_read_events(pt_reader *r, const char *sid, int64_t from, int64_t to,
                               pt_event_cb cb, void *ctx, pt_error *err) {
  (void)err;
  msess *s = lookup((mstore *)r->store, sid);
  if (!s) return PT_OK;
  if (from < 0) from = 0;
  if (to > (int64_t)s->n) to = (int64_t)s->n;
  for (int64_t i = from; i < to; i++)
    if (cb(ctx, s->ev[i])) break;
  return PT_OK;
}

/* The session's events from .. to - 1 as the open transaction sees them (to
 * clipped). Not lookup(): a session begun in this transaction does not
 * "exist" until its aggregate is written, but its events are there. */
static pt_event **tx_range(pt_store *st, const char *sid, int64_t *from, int64_t *to) {
  msess *s = pt_map_get(&((mstore *)st)->sessions, sid);
  if (!s) return NULL;
  if (*from < 0) *from = 0;
  if (*to > (int64_t)s->n) *to = (int64_t)s->n;
  return s->ev;
}

static pt_status m_tx_event_ids(pt_store *st, const char *sid, int64_t from, int64_t to,
                                pt_sid_cb cb, void *ctx, pt_error *err) {
  (void)err;
  pt_event **ev = tx_range(st, sid, &from, &to);
  for (int64_t i = from; ev && i < to; i++)
    if (cb(ctx, ev[i]->id)) break;
  return PT_OK;
}

static pt_status m_tx_read_events(pt_store *st, const char *sid, int64_t from, int64_t to,
                                  pt_event_cb cb, void *ctx, pt_error *err) {
  (void)err;
  pt_event **ev = tx_range(st, sid, &from, &to);
  for (int64_t i = from; ev && i < to; i++)
    if (cb(ctx, ev[i])) break;
  return PT_OK;
}

static pt_status m_event_redact(pt_store *st, const char *sid, int64_t seq, pt_error *err) {
  mstore *m = (mstore *)st;
  msess *s = pt_map_get(&m->sessions, sid);
  if (!s || seq < 0 || seq >= (int64_t)s->n)
    return pt_fail(err, PT_ENOTFOUND, NULL, "no event %" PRId64 " in session \"%s\"", seq, sid);
  if (m->nred == m->capred) {
    size_t nc = m->capred ? m->capred * 2 : 16;
    struct mredact *n = realloc(m->red, nc * sizeof *n);
    if (!n) return oom(err);
    m->red = n;
    m->capred = nc;
  }
  m->red[m->nred++] = (struct mredact){s, seq};
  return PT_OK;
}

static pt_status m_read_snapshots(pt_reader *r, const char *sid, int64_t before_n, int64_t limit,
                                  pt_snap_cb cb, void *ctx, pt_error *err) {
  (void)err;
  msess *s = lookup((mstore *)r->store, sid);
  if (!s) return PT_OK;
  int64_t given = 0;
  for (size_t i = s->nsnap; i-- > 0;) {
    if (before_n >= 0 && s->snaps[i].n >= before_n) continue;
    if (limit > 0 && given >= limit) break;
    given++;
    if (cb(ctx, &s->snaps[i])) break;
  }
  return PT_OK;
}

/* Activity order, newest first; ties by session id, descending. */
static int by_activity(const void *pa, const void *pb) {
  const pt_session *a = &(*(msess *const *)pa)->agg, *b = &(*(msess *const *)pb)->agg;
  if (a->updated_at != b->updated_at) return a->updated_at < b->updated_at ? 1 : -1;
  return -strcmp(a->session_id, b->session_id);
}

/* Sorts every session per call: the memory store is for tests and demos,
 * where that is cheap; the durable stores keep an index. */
static pt_status m_list_sessions(pt_reader *r, const char *ptype, int64_t before_ms,
                                 const char *before_id, int64_t limit, pt_session_cb cb, void *ctx,
                                 pt_error *err) {
  mstore *m = (mstore *)r->store;
  msess **v = malloc((m->nall ? m->nall : 1) * sizeof *v);
  if (!v) return oom(err);
  size_t n = 0;
  for (size_t i = 0; i < m->nall; i++) {
    msess *s = m->all[i];
    if (!s->exists || (ptype && strcmp(s->agg.pipeline_type, ptype) != 0)) continue;
    if (before_id && (s->agg.updated_at > before_ms || (s->agg.updated_at == before_ms &&
                                                        strcmp(s->agg.session_id, before_id) >= 0)))
      continue;
    v[n++] = s;
  }
  qsort(v, n, sizeof *v, by_activity);
  for (size_t i = 0; i < n && (limit <= 0 || (int64_t)i < limit); i++)
    if (cb(ctx, &v[i]->agg, v[i]->agg.updated_at)) break;
  free(v);
  return PT_OK;
}

static pt_status m_list_session_ids(pt_reader *r, const char *after_id, int64_t limit, pt_sid_cb cb,
                                    void *ctx, pt_error *err) {
  mstore *m = (mstore *)r->store;
  size_t i = 0;
  if (after_id) {
    msess *a = pt_map_get(&m->sessions, after_id);
    if (!a) return pt_fail(err, PT_EINVALID, "cursor", "cursor: no session \"%s\"", after_id);
    i = a->pos + 1;
  }
  for (int64_t given = 0; i < m->nall && (limit <= 0 || given < limit); i++) {
    if (!m->all[i]->exists) continue;
    given++;
    if (cb(ctx, m->all[i]->agg.session_id)) break;
  }
  return PT_OK;
}

static pt_status m_read_snapshots_from(pt_reader *r, const char *sid, int64_t from_n, int64_t limit,
                                       pt_snap_cb cb, void *ctx, pt_error *err) {
  (void)err;
  msess *s = lookup((mstore *)r->store, sid);
  if (!s) return PT_OK;
  int64_t given = 0;
  for (size_t i = from_n > 0 ? (size_t)from_n : 0; i < s->nsnap; i++) {
    if (limit > 0 && given >= limit) break;
    given++;
    if (cb(ctx, &s->snaps[i])) break;
  }
  return PT_OK;
}

/* ---- issues ------------------------------------------------------------------- */

/* The issue, created (not yet existing) when asked; logged for rollback the
 * first time the transaction touches it. NULL: out of memory. */
static missue *issue_slot(mstore *m, const char *id, int create) {
  missue *mi = pt_map_get(&m->issues, id);
  if (!mi) {
    if (!create) return NULL;
    if (m->niall == m->capiall) {
      size_t nc = m->capiall ? m->capiall * 2 : 16;
      missue **n = realloc(m->iall, nc * sizeof *n);
      if (!n) return NULL;
      m->iall = n;
      m->capiall = nc;
    }
    mi = calloc(1, sizeof *mi);
    if (!mi) return NULL;
    snprintf(mi->x.id, sizeof mi->x.id, "%s", id);
    pt_map_init(&mi->sess);
    if (pt_map_put(&m->issues, mi->x.id, mi)) {
      free(mi);
      return NULL;
    }
    m->iall[m->niall++] = mi;
  }
  for (size_t i = 0; i < m->nilog; i++)
    if (m->ilog[i].m == mi) return mi;
  if (m->nilog == m->capilog) {
    size_t nc = m->capilog ? m->capilog * 2 : 8;
    iundo *n = realloc(m->ilog, nc * sizeof *n);
    if (!n) return NULL;
    m->ilog = n;
    m->capilog = nc;
  }
  iundo *u = &m->ilog[m->nilog];
  memset(&u->old, 0, sizeof u->old);
  if (pt_issue_copy(&u->old, &mi->x)) return NULL;
  u->m = mi;
  u->existed = mi->exists;
  u->ns = mi->ns;
  m->nilog++;
  return mi;
}

static pt_status m_issue_get(pt_store *st, const char *id, pt_issue *out, pt_error *err) {
  memset(out, 0, sizeof *out);
  missue *mi = pt_map_get(&((mstore *)st)->issues, id);
  if (!mi || !mi->exists) return PT_ENOTFOUND;
  return pt_issue_copy(out, &mi->x) ? oom(err) : PT_OK;
}

static pt_status m_issue_put(pt_store *st, const pt_issue *x, int is_new, pt_error *err) {
  (void)is_new;
  missue *mi = issue_slot((mstore *)st, x->id, 1);
  if (!mi || pt_issue_copy(&mi->x, x)) return oom(err);
  mi->exists = 1;
  return PT_OK;
}

static pt_status m_issue_session_add(pt_store *st, const char *issue_id, const char *sid,
                                     int64_t at, int *is_new, pt_error *err) {
  missue *mi = issue_slot((mstore *)st, issue_id, 1);
  if (!mi) return oom(err);
  msi *e = pt_map_get(&mi->sess, sid);
  *is_new = e == NULL;
  if (e) {
    /* (a rollback does not move last_seen back: it only orders the list) */
    if (at > e->last) e->last = at;
    return PT_OK;
  }
  if (mi->ns == mi->caps) {
    size_t nc = mi->caps ? mi->caps * 2 : 8;
    msi **n = realloc(mi->s, nc * sizeof *n);
    if (!n) return oom(err);
    mi->s = n;
    mi->caps = nc;
  }
  e = calloc(1, sizeof *e);
  if (!e) return oom(err);
  snprintf(e->sid, sizeof e->sid, "%s", sid);
  e->first = e->last = at;
  e->pos = mi->ns;
  if (pt_map_put(&mi->sess, e->sid, e)) {
    free(e);
    return oom(err);
  }
  mi->s[mi->ns++] = e;
  return PT_OK;
}

static pt_status m_read_issue(pt_reader *r, const char *id, pt_issue *out, pt_error *err) {
  return m_issue_get(r->store, id, out, err);
}

static int issue_by_recency(const void *pa, const void *pb) {
  const pt_issue *a = &(*(missue *const *)pa)->x, *b = &(*(missue *const *)pb)->x;
  if (a->last_seen != b->last_seen) return a->last_seen < b->last_seen ? 1 : -1;
  return -strcmp(a->id, b->id);
}

static pt_status m_read_issues(pt_reader *r, int open, const char *ptype, int64_t before_ms,
                               const char *before_id, int64_t limit, pt_issue_cb cb, void *ctx,
                               pt_error *err) {
  mstore *m = (mstore *)r->store;
  missue **v = malloc((m->niall ? m->niall : 1) * sizeof *v);
  if (!v) return oom(err);
  size_t n = 0;
  for (size_t i = 0; i < m->niall; i++) {
    pt_issue *x = &m->iall[i]->x;
    if (!m->iall[i]->exists || (open >= 0 && x->open != open) ||
        (ptype && strcmp(x->pipeline_type, ptype) != 0))
      continue;
    if (before_id &&
        (x->last_seen > before_ms || (x->last_seen == before_ms && strcmp(x->id, before_id) >= 0)))
      continue;
    v[n++] = m->iall[i];
  }
  qsort(v, n, sizeof *v, issue_by_recency);
  for (size_t i = 0; i < n && (limit <= 0 || (int64_t)i < limit); i++)
    if (cb(ctx, &v[i]->x)) break;
  free(v);
  return PT_OK;
}

static int session_by_recency(const void *pa, const void *pb) {
  const msi *a = *(msi *const *)pa, *b = *(msi *const *)pb;
  if (a->last != b->last) return a->last < b->last ? 1 : -1;
  return -strcmp(a->sid, b->sid);
}

static pt_status m_read_issue_sessions(pt_reader *r, const char *issue_id, int64_t limit,
                                       pt_issue_session_cb cb, void *ctx, pt_error *err) {
  missue *mi = pt_map_get(&((mstore *)r->store)->issues, issue_id);
  if (!mi || !mi->exists) return PT_OK;
  msi **v = malloc((mi->ns ? mi->ns : 1) * sizeof *v);
  if (!v) return oom(err);
  memcpy(v, mi->s, mi->ns * sizeof *v);
  qsort(v, mi->ns, sizeof *v, session_by_recency);
  for (size_t i = 0; i < mi->ns && (limit <= 0 || (int64_t)i < limit); i++)
    if (cb(ctx, v[i]->sid, v[i]->first, v[i]->last)) break;
  free(v);
  return PT_OK;
}

static pt_status m_read_issue_sessions_from(pt_reader *r, const char *issue_id, const char *after,
                                            int64_t limit, pt_issue_session_cb cb, void *ctx,
                                            pt_error *err) {
  (void)err;
  missue *mi = pt_map_get(&((mstore *)r->store)->issues, issue_id);
  if (!mi || !mi->exists) return PT_OK;
  size_t i = 0;
  if (after) {
    msi *a = pt_map_get(&mi->sess, after);
    i = a ? a->pos + 1 : mi->ns;
  }
  for (int64_t given = 0; i < mi->ns && (limit <= 0 || given < limit); i++, given++)
    if (cb(ctx, mi->s[i]->sid, mi->s[i]->first, mi->s[i]->last)) break;
  return PT_OK;
}

/* ---- the webhook outbox ----------------------------------------------------- */

static pt_status m_outbox_add(pt_store *st, const char *issue_id, const char *action, int64_t at,
                              int64_t due_at, pt_error *err) {
  mstore *m = (mstore *)st;
  if (strcmp(action, "updated") == 0)
    for (size_t i = 0; i < m->nob; i++)
      if (m->ob[i].attempts == 0 && strcmp(m->ob[i].issue_id, issue_id) == 0) return PT_OK;
  if (m->nob == m->capob) {
    size_t nc = m->capob ? m->capob * 2 : 16;
    pt_outbox *n = realloc(m->ob, nc * sizeof *n);
    if (!n) return oom(err);
    m->ob = n;
    m->capob = nc;
  }
  pt_outbox *o = &m->ob[m->nob++];
  memset(o, 0, sizeof *o);
  o->id = ++m->ob_next;
  snprintf(o->issue_id, sizeof o->issue_id, "%s", issue_id);
  snprintf(o->action, sizeof o->action, "%s", action);
  o->created_at = at;
  o->next_at = due_at;
  return PT_OK;
}

static pt_status m_outbox_done(pt_store *st, int64_t id, int ok, int bump, int64_t next_at,
                               pt_error *err) {
  (void)err;
  mstore *m = (mstore *)st;
  for (size_t i = 0; i < m->nob; i++) {
    if (m->ob[i].id != id) continue;
    if (ok) {
      memmove(&m->ob[i], &m->ob[i + 1], (m->nob - i - 1) * sizeof *m->ob);
      m->nob--;
      if (m->ob_mark > i) m->ob_mark--;
    } else {
      m->ob[i].next_at = next_at;
      m->ob[i].attempts += bump ? 1 : 0;
    }
    break;
  }
  return PT_OK;
}

static pt_status m_read_outbox_due(pt_reader *r, int64_t now, int64_t limit, pt_outbox *out,
                                   size_t *n, pt_error *err) {
  (void)err;
  mstore *m = (mstore *)r->store;
  *n = 0;
  for (size_t i = 0; i < m->nob && (int64_t)*n < limit; i++) {
    int head = 1;
    for (size_t k = 0; k < i && head; k++) head = strcmp(m->ob[k].issue_id, m->ob[i].issue_id) != 0;
    if (head && m->ob[i].next_at <= now) out[(*n)++] = m->ob[i];
  }
  return PT_OK;
}

static pt_status m_read_outbox_count(pt_reader *r, int64_t *out, pt_error *err) {
  (void)err;
  *out = (int64_t)((mstore *)r->store)->nob;
  return PT_OK;
}

const pt_store_methods pt_store_memory_methods = {
    .version = 1,
    .scheme = "memory",
    .flags = PT_STORE_F_INLINE,
    .open = m_open,
    .close = m_close,
    .begin = m_begin,
    .commit = m_commit,
    .rollback = m_rollback,
    .session_get = m_session_get,
    .session_put = m_session_put,
    .event_find = m_event_find,
    .event_append = m_event_append,
    .event_adopt = m_event_adopt,
    .snapshot_put = m_snapshot_put,
    .reader_open = m_reader_open,
    .reader_close = m_reader_close,
    .read_session = m_read_session,
    .read_events = m_read_events,
    .tx_event_ids = m_tx_event_ids,
    .tx_read_events = m_tx_read_events,
    .event_redact = m_event_redact,
    .read_snapshots = m_read_snapshots,
    .list_sessions = m_list_sessions,
    .list_session_ids = m_list_session_ids,
    .read_snapshots_from = m_read_snapshots_from,
    .issue_get = m_issue_get,
    .issue_put = m_issue_put,
    .issue_session_add = m_issue_session_add,
    .read_issue = m_read_issue,
    .read_issues = m_read_issues,
    .read_issue_sessions = m_read_issue_sessions,
    .read_issue_sessions_from = m_read_issue_sessions_from,
    .outbox_add = m_outbox_add,
    .outbox_done = m_outbox_done,
    .read_outbox_due = m_read_outbox_due,
    .read_outbox_count = m_read_outbox_count,
};
