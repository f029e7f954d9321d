/* memory_issues.c - the "memory:" backend's issues (docs/concepts.md#issues), the
 * sessions each affected, and the webhook outbox; a rollback of their
 * transaction undoes them in memory_store.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "memory_store.h"

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

static pt_status mem_issue_get(pt_store *st, const char *id, pt_issue *out, pt_error *err) {
  memset(out, 0, sizeof *out);
  missue *mi = pt_map_get(&((mstore *)st)->issues, id);
  if (!mi || !mi->exists) return PT_ENOTFOUND;
  return pt_issue_copy(out, &mi->x) ? mem_oom(err) : PT_OK;
}

static pt_status mem_issue_put(pt_store *st, const pt_issue *x, int is_new, pt_error *err) {
  (void)is_new;
  missue *mi = issue_slot((mstore *)st, x->id, 1);
  if (!mi || pt_issue_copy(&mi->x, x)) return mem_oom(err);
  mi->exists = 1;
  return PT_OK;
}

static pt_status mem_issue_session_add(pt_store *st, const char *issue_id, const char *sid,
                                       int64_t at, int *is_new, pt_error *err) {
  missue *mi = issue_slot((mstore *)st, issue_id, 1);
  if (!mi) return mem_oom(err);
  msi *e = pt_map_get(&mi->sess, sid);
  *is_new = e == NULL;
  if (e) {
    /* (a rollback does not move last_seen back: it only orders the list) */
    if (at > e->last) {
      pt_oset_remove(&mi->recent, &e->node);
      e->last = e->node.ms = at;
      pt_oset_insert(&mi->recent, &e->node);
    }
    return PT_OK;
  }
  if (mi->ns == mi->caps) {
    size_t nc = mi->caps ? mi->caps * 2 : 8;
    msi **n = realloc(mi->s, nc * sizeof *n);
    if (!n) return mem_oom(err);
    mi->s = n;
    mi->caps = nc;
  }
  e = calloc(1, sizeof *e);
  if (!e) return mem_oom(err);
  snprintf(e->sid, sizeof e->sid, "%s", sid);
  e->first = e->last = at;
  e->pos = mi->ns;
  if (pt_map_put(&mi->sess, e->sid, e)) {
    free(e);
    return mem_oom(err);
  }
  mi->s[mi->ns++] = e;
  e->node.ms = at;
  e->node.id = e->sid;
  e->node.owner = e;
  pt_oset_insert(&mi->recent, &e->node);
  return PT_OK;
}

static pt_status mem_read_issue(pt_reader *r, const char *id, pt_issue *out, pt_error *err) {
  return mem_issue_get(r->store, id, out, err);
}

static int issue_by_recency(const void *pa, const void *pb) {
  const pt_issue *a = &(*(missue *const *)pa)->x, *b = &(*(missue *const *)pb)->x;
  if (a->last_seen != b->last_seen) return a->last_seen < b->last_seen ? 1 : -1;
  return -strcmp(a->id, b->id);
}

static pt_status mem_read_issues(pt_reader *r, int open, const char *ptype, int64_t before_ms,
                                 const char *before_id, int64_t limit, pt_issue_cb cb, void *ctx,
                                 pt_error *err) {
  mstore *m = (mstore *)r->store;
  missue **v = malloc((m->niall ? m->niall : 1) * sizeof *v);
  if (!v) return mem_oom(err);
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

typedef struct iwalk {
  int64_t left;
  pt_issue_session_cb cb;
  void *ctx;
} iwalk;

static int issue_session_one(void *ctx, pt_onode *n) {
  iwalk *w = ctx;
  const msi *e = n->owner;
  if (w->left == 0) return 1;
  if (w->left > 0) w->left--;
  return w->cb(w->ctx, e->sid, e->first, e->last) ? 1 : 0;
}

/* Newest first from the issue's sorted set (last_seen, then id, descending). */
static pt_status mem_read_issue_sessions(pt_reader *r, const char *issue_id, int64_t before_ms,
                                         int64_t limit, pt_issue_session_cb cb, void *ctx,
                                         pt_error *err) {
  (void)err;
  missue *mi = pt_map_get(&((mstore *)r->store)->issues, issue_id);
  if (!mi || !mi->exists) return PT_OK;
  iwalk w = {limit > 0 ? limit : -1, cb, ctx};
  /* (ms, id) < (before_ms, ""): every id of a smaller ms, none of it */
  pt_oset_walk(&mi->recent, INT64_MIN, before_ms, before_ms == INT64_MAX ? NULL : "",
               issue_session_one, &w);
  return PT_OK;
}

static pt_status mem_read_issue_sessions_from(pt_reader *r, const char *issue_id, const char *after,
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

static pt_status mem_outbox_add(pt_store *st, const char *issue_id, const char *action, int64_t at,
                                int64_t due_at, pt_error *err) {
  mstore *m = (mstore *)st;
  if (strcmp(action, "updated") == 0)
    for (size_t i = 0; i < m->nob; i++)
      if (m->ob[i].attempts == 0 && strcmp(m->ob[i].issue_id, issue_id) == 0) return PT_OK;
  if (m->nob == m->capob) {
    size_t nc = m->capob ? m->capob * 2 : 16;
    pt_outbox *n = realloc(m->ob, nc * sizeof *n);
    if (!n) return mem_oom(err);
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

static pt_outbox *mem_outbox_find(mstore *m, int64_t id, size_t *at) {
  for (size_t i = 0; i < m->nob; i++)
    if (m->ob[i].id == id) {
      *at = i;
      return &m->ob[i];
    }
  return NULL;
}

static pt_status mem_outbox_claim(pt_store *st, int64_t id, int64_t now, int64_t until,
                                  int *claimed, pt_error *err) {
  (void)err;
  size_t i;
  pt_outbox *o = mem_outbox_find((mstore *)st, id, &i);
  *claimed = o && o->next_at <= now;
  if (*claimed) {
    o->next_at = until;
    o->attempts++;
  }
  return PT_OK;
}

static pt_status mem_outbox_done(pt_store *st, int64_t id, int ok, int64_t next_at, pt_error *err) {
  (void)err;
  mstore *m = (mstore *)st;
  size_t i;
  pt_outbox *o = mem_outbox_find(m, id, &i);
  if (o && ok) {
    memmove(&m->ob[i], &m->ob[i + 1], (m->nob - i - 1) * sizeof *m->ob);
    m->nob--;
    if (m->ob_mark > i) m->ob_mark--;
  } else if (o) {
    o->next_at = next_at;
  }
  return PT_OK;
}

static pt_status mem_read_outbox_due(pt_reader *r, int64_t now, int64_t limit, pt_outbox *out,
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

static pt_status mem_read_outbox_count(pt_reader *r, int64_t *out, pt_error *err) {
  (void)err;
  *out = (int64_t)((mstore *)r->store)->nob;
  return PT_OK;
}

const pt_store_issue_methods pt__memory_issue_methods = PT_STORE_ISSUE_METHODS(mem);
