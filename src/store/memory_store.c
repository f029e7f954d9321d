/* memory_store.c - the "memory:" backend (memory_store.h describes it):
 * opening and closing, the transaction and its undo log, sessions, events
 * and snapshots, the readers, and the table of methods. */
#include "memory_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

typedef struct msess {
  pt_session agg;
  size_t pos; /* index in mstore.all: sessions are listed in creation order */
  int exists; /* 0: created by a transaction that was rolled back */
  pt_event **ev;
  size_t n, cap;
  pt_map ids;     /* event id -> (seq + 1) */
  pt_snap *snaps; /* ascending (created_at, id) */
  size_t nsnap, capsnap;
  mplaces at; /* in the listings' indexes */
} msess;

typedef struct undo {
  msess *s;
  int existed;
  size_t n, nsnap;
  pt_session agg; /* copy from before the transaction */
} undo;

typedef struct mreader {
  pt_reader base;
} mreader;

pt_status mem_oom(pt_error *err) {
  return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}

static pt_status m_open(const char *where, const pt_store_config *cfg, pt_store **out,
                        pt_error *err) {
  (void)cfg; /* nothing of it applies in memory */
  (void)where;
  mstore *m = calloc(1, sizeof *m);
  if (!m) return mem_oom(err);
  m->base.m = &pt_store_memory_methods;
  pthread_rwlock_init(&m->lock, NULL);
  pt_map_init(&m->sessions);
  pt_map_init(&m->issues);
  pt_map_init(&m->types);
  pt_map_init(&m->marks);
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
  free(m->adopted);
  pt_map_cleanup(&m->sessions);
  mem_index_cleanup(m);
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
  mem_rollups_free(m);
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
  m->nadopted = 0;
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

static void m_rollback(pt_store *st);

static pt_status m_commit(pt_store *st, pt_error *err) {
  mstore *m = (mstore *)st;
  if (mem_rollups_commit(m)) {
    m_rollback(st);
    return mem_oom(err);
  }
  for (size_t i = 0; i < m->nred; i++)
    if (m->red[i].seq < (int64_t)m->red[i].s->n) redact_now(m->red[i].s->ev[m->red[i].seq]);
  m->nred = 0;
  m->nadopted = 0;
  clear_log(m);
  mem_marks_end(m, 1);
  pthread_rwlock_unlock(&m->lock);
  return PT_OK;
}

/* Adopted in this transaction: handed back on rollback, not freed. */
static int adopted_now(const mstore *m, const pt_event *e) {
  for (size_t i = 0; i < m->nadopted; i++)
    if (m->adopted[i] == e) return 1;
  return 0;
}

static void m_rollback(pt_store *st) {
  mstore *m = (mstore *)st;
  m->nred = 0;
  mem_rollups_rollback(m);
  for (size_t i = m->nlog; i-- > 0;) {
    undo *u = &m->log[i];
    msess *s = u->s;
    while (s->n > u->n) {
      pt_event *e = s->ev[--s->n];
      pt_map_del(&s->ids, e->id);
      if (!adopted_now(m, e)) pt_event_free(e);
    }
    while (s->nsnap > u->nsnap) pt_snap_cleanup(&s->snaps[--s->nsnap]);
    /* swap: the session gets the saved state, the entry keeps a buffer */
    pt_session cur = s->agg;
    s->agg = u->agg;
    u->agg = cur;
    s->exists = u->existed;
    /* its old key was in the indexes before; taking the new one out never
     * allocates, and putting the old back only may */
    if (mem_index(m, &s->at, &s->agg, s->exists, &s->agg)) mem_index(m, &s->at, &s->agg, 0, NULL);
  }
  for (size_t i = m->nilog; i-- > 0;) {
    iundo *u = &m->ilog[i];
    missue *mi = u->m;
    while (mi->ns > u->ns) {
      msi *e = mi->s[--mi->ns];
      pt_oset_remove(&mi->recent, &e->node);
      pt_map_del(&mi->sess, e->sid);
      free(e);
    }
    pt_issue_cleanup(&mi->x);
    mi->x = u->old; /* the entry's sample moves back */
    u->old.sample_event = NULL;
    mi->exists = u->existed;
  }
  if (m->nob > m->ob_mark) m->nob = m->ob_mark;
  mem_marks_end(m, 0);
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
  return pt_session_copy(out, &s->agg) ? mem_oom(err) : PT_OK;
}

static pt_status m_session_put(pt_store *st, const pt_session *sess, int is_new, pt_error *err) {
  (void)is_new; /* one path serves both */
  mstore *m = (mstore *)st;
  msess *s = pt_map_get(&m->sessions, sess->session_id);
  if (!s) {
    if (m->nall == m->capall) {
      size_t nc = m->capall ? m->capall * 2 : 64;
      msess **n = realloc(m->all, nc * sizeof *n);
      if (!n) return mem_oom(err);
      m->all = n;
      m->capall = nc;
    }
    s = calloc(1, sizeof *s);
    if (!s) return mem_oom(err);
    pt_session_init(&s->agg, sess->session_id, sess->pipeline_type);
    pt_map_init(&s->ids);
    if (pt_map_put(&m->sessions, s->agg.session_id, s)) {
      free(s);
      return mem_oom(err);
    }
    s->pos = m->nall;
    m->all[m->nall++] = s;
  }
  if (log_touch(m, s)) return mem_oom(err);
  if (pt_session_assign(&s->agg, sess)) return mem_oom(err);
  s->exists = 1;
  return mem_index(m, &s->at, &s->agg, 1, &s->agg) ? mem_oom(err) : PT_OK;
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
  mem_index(m, &s->at, &s->agg, 0, NULL);
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
  return *out ? PT_OK : mem_oom(err);
}

/* Appends c (owned by the store from here on, once this returns PT_OK). */
static pt_status append_owned(mstore *m, pt_event *c, pt_error *err) {
  msess *s = ensure(m, c->session_id, c->pipeline_type);
  if (!s) return mem_oom(err);
  if (c->seq != (int64_t)s->n)
    return pt_fail(err, PT_ESTORAGE, NULL, "append out of order: seq %lld, have %zu",
                   (long long)c->seq, s->n);
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 8;
    pt_event **n = realloc(s->ev, nc * sizeof *n);
    if (!n) return mem_oom(err);
    s->ev = n;
    s->cap = nc;
  }
  if (pt_map_put(&s->ids, c->id, (void *)(uintptr_t)(s->n + 1))) return mem_oom(err);
  s->ev[s->n++] = c;
  return PT_OK;
}

static pt_status m_event_append(pt_store *st, const pt_event *e, pt_error *err) {
  pt_event *c = pt_event_clone(e);
  if (!c) return mem_oom(err);
  pt_status rc = append_owned((mstore *)st, c, err);
  if (rc) pt_event_free(c);
  return rc;
}

static pt_status m_event_adopt(pt_store *st, pt_event *e, pt_error *err) {
  mstore *m = (mstore *)st;
  if (m->nadopted == m->capadopted) {
    size_t nc = m->capadopted ? m->capadopted * 2 : 64;
    pt_event **n = realloc(m->adopted, nc * sizeof *n);
    if (!n) return mem_oom(err);
    m->adopted = n;
    m->capadopted = nc;
  }
  pt_status rc = append_owned(m, e, err);
  if (rc == PT_OK) m->adopted[m->nadopted++] = e;
  return rc;
}

static pt_status m_snapshot_put(pt_store *st, const pt_snap *snap, pt_error *err) {
  mstore *m = (mstore *)st;
  msess *s = ensure(m, snap->session_id, snap->pipeline_type);
  if (!s) return mem_oom(err);
  if (s->nsnap == s->capsnap) {
    size_t nc = s->capsnap ? s->capsnap * 2 : 8;
    pt_snap *n = realloc(s->snaps, nc * sizeof *n);
    if (!n) return mem_oom(err);
    s->snaps = n;
    s->capsnap = nc;
  }
  pt_snap c = *snap;
  c.notes = snap->notes ? strdup(snap->notes) : NULL;
  c.signature = snap->signature ? strdup(snap->signature) : NULL;
  if ((snap->notes && !c.notes) || (snap->signature && !c.signature)) {
    pt_snap_cleanup(&c);
    return mem_oom(err);
  }
  /* in registry order: n is the session's count of entries before it */
  s->snaps[s->nsnap++] = c;
  return PT_OK;
}

static pt_status m_reader_open(pt_store *st, pt_reader **out, pt_error *err) {
  mreader *r = malloc(sizeof *r);
  if (!r) return mem_oom(err);
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
    if (!n) return mem_oom(err);
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

static pt_status m_list_sessions(pt_reader *r, const char *ptype, int64_t before_ms,
                                 const char *before_id, int64_t limit, pt_session_cb cb, void *ctx,
                                 pt_error *err) {
  return mem_list_sessions_by(r, ptype, 0, INT64_MIN, before_ms, before_id, limit, cb, ctx, err);
}

pt_status mem_list_sessions_created(pt_reader *r, const char *ptype, int64_t from, int64_t to,
                                    pt_session_cb cb, void *ctx, pt_error *err) {
  (void)err;
  mstore *m = (mstore *)r->store;
  /* a walk over every session: imported sessions keep their creation
   * times, so creation order is not time order */
  for (size_t i = 0; i < m->nall; i++) {
    const pt_session *s = &m->all[i]->agg;
    if (!m->all[i]->exists || s->created_at < from || s->created_at >= to ||
        strcmp(s->pipeline_type, ptype) != 0)
      continue;
    if (cb(ctx, s, s->updated_at)) break;
  }
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

static int by_id(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A scan of every session (the memory: store is for tests and demos). */
static pt_status m_list_session_ids_prefix(pt_reader *r, const char *prefix, const char *after_id,
                                           int64_t limit, pt_sid_cb cb, void *ctx, pt_error *err) {
  mstore *m = (mstore *)r->store;
  size_t np = strlen(prefix), n = 0;
  const char **ids = malloc((m->nall ? m->nall : 1) * sizeof *ids);
  if (!ids) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  for (size_t i = 0; i < m->nall; i++) {
    const char *id = m->all[i]->agg.session_id;
    if (m->all[i]->exists && strncmp(id, prefix, np) == 0 &&
        (!after_id || strcmp(id, after_id) > 0))
      ids[n++] = id;
  }
  qsort(ids, n, sizeof *ids, by_id);
  for (size_t i = 0; i < n && (limit <= 0 || (int64_t)i < limit); i++)
    if (cb(ctx, ids[i])) break;
  free(ids);
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
    .list_sessions_by = mem_list_sessions_by,
    .read_mark = mem_read_mark,
    .mark_put = mem_mark_put,
    .list_session_ids = m_list_session_ids,
    .list_session_ids_prefix = m_list_session_ids_prefix,
    .read_snapshots_from = m_read_snapshots_from,
    .issues = &pt__memory_issue_methods,
    .rollups = &pt__memory_rollup_methods,
};
