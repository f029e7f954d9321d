/* memory_index.c - the "memory:" backend's listing indexes: every session
 * in sorted sets by activity, by pipeline type, by state code and by both,
 * moved as its row changes, so a listing walks one set from its cursor
 * instead of sorting the store; and the tracker's marks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "memory_store.h"

typedef struct mmark {
  char *value;
  char key[]; /* the map's key */
} mmark;

static mtype *type_of(mstore *m, const char *name, int create) {
  mtype *t = pt_map_get(&m->types, name);
  if (t || !create) return t;
  if (m->ntall == m->captall) {
    size_t nc = m->captall ? m->captall * 2 : 16;
    mtype **n = realloc(m->tall, nc * sizeof *n);
    if (!n) return NULL;
    m->tall = n;
    m->captall = nc;
  }
  t = calloc(1, sizeof *t);
  if (!t) return NULL;
  snprintf(t->name, sizeof t->name, "%s", name);
  if (pt_map_put(&m->types, t->name, t)) {
    free(t);
    return NULL;
  }
  m->tall[m->ntall++] = t;
  return t;
}

static int code_ok(int c) {
  return c >= 0 && c < PT_SCODE_COUNT;
}

int mem_index(mstore *m, mplaces *p, const pt_session *agg, int exists, void *owner) {
  if (p->in) {
    if (exists && p->ms == agg->updated_at && p->scode == agg->scode &&
        strcmp(p->t->name, agg->pipeline_type) == 0)
      return 0;
    pt_oset_remove(&m->by_activity, &p->all);
    pt_oset_remove(&m->by_state[p->scode], &p->state);
    pt_oset_remove(&p->t->all, &p->type);
    pt_oset_remove(&p->t->by_state[p->scode], &p->both);
    p->in = 0;
  }
  if (!exists) return 0;
  mtype *t = type_of(m, agg->pipeline_type, 1);
  if (!t) return -1;
  p->t = t;
  p->ms = agg->updated_at;
  p->scode = code_ok(agg->scode) ? agg->scode : PT_SCODE_NONE;
  pt_onode *nodes[4] = {&p->all, &p->state, &p->type, &p->both};
  pt_oset *sets[4] = {&m->by_activity, &m->by_state[p->scode], &t->all, &t->by_state[p->scode]};
  for (int i = 0; i < 4; i++) {
    nodes[i]->ms = p->ms;
    nodes[i]->id = agg->session_id;
    nodes[i]->owner = owner;
    pt_oset_insert(sets[i], nodes[i]);
  }
  p->in = 1;
  return 0;
}

void mem_index_cleanup(mstore *m) {
  for (size_t i = 0; i < m->ntall; i++) free(m->tall[i]);
  free(m->tall);
  pt_map_cleanup(&m->types);
  for (size_t i = 0; i < m->marks.cap; i++) {
    struct mmark *mk = m->marks.slots[i].value;
    if (!m->marks.slots[i].key) continue;
    free(mk->value);
    free(mk);
  }
  pt_map_cleanup(&m->marks);
  free(m->mlog);
}

typedef struct lwalk {
  int64_t left;
  pt_session_cb cb;
  void *ctx;
} lwalk;

static int list_one(void *ctx, pt_onode *n) {
  lwalk *w = ctx;
  if (w->left == 0) return 1;
  if (w->left > 0) w->left--;
  return w->cb(w->ctx, n->owner, n->ms) ? 1 : 0;
}

pt_status mem_list_sessions_by(pt_reader *r, const char *ptype, int scode, int64_t after_ms,
                               int64_t before_ms, const char *before_id, int64_t limit,
                               pt_session_cb cb, void *ctx, pt_error *err) {
  (void)err;
  mstore *m = (mstore *)r->store;
  if (!code_ok(scode)) return PT_OK;
  const pt_oset *set;
  if (ptype) {
    mtype *t = type_of(m, ptype, 0);
    if (!t) return PT_OK;
    set = scode ? &t->by_state[scode] : &t->all;
  } else {
    set = scode ? &m->by_state[scode] : &m->by_activity;
  }
  lwalk w = {limit > 0 ? limit : -1, cb, ctx};
  pt_oset_walk(set, after_ms, before_ms, before_id, list_one, &w);
  return PT_OK;
}

/* ---- marks -------------------------------------------------------------------- */

pt_status mem_read_mark(pt_reader *r, const char *key, char *out, size_t cap, pt_error *err) {
  (void)err;
  const mmark *mk = pt_map_get(&((mstore *)r->store)->marks, key);
  if (!mk) return PT_ENOTFOUND;
  snprintf(out, cap, "%s", mk->value);
  return PT_OK;
}

pt_status mem_mark_put(pt_store *st, const char *key, const char *value, pt_error *err) {
  mstore *m = (mstore *)st;
  if (m->nmlog == m->capmlog) {
    size_t nc = m->capmlog ? m->capmlog * 2 : 8;
    struct mundo *n = realloc(m->mlog, nc * sizeof *n);
    if (!n) return mem_oom(err);
    m->mlog = n;
    m->capmlog = nc;
  }
  char *v = strdup(value);
  if (!v) return mem_oom(err);
  mmark *mk = pt_map_get(&m->marks, key);
  char *old = NULL;
  if (mk) {
    old = mk->value;
  } else {
    size_t kl = strlen(key) + 1;
    mk = malloc(sizeof *mk + kl);
    if (mk) memcpy(mk->key, key, kl);
    if (!mk || pt_map_put(&m->marks, mk->key, mk)) {
      free(mk);
      free(v);
      return mem_oom(err);
    }
  }
  mk->value = v;
  m->mlog[m->nmlog++] = (struct mundo){mk, old};
  return PT_OK;
}

void mem_marks_end(mstore *m, int commit) {
  if (commit) {
    for (size_t i = 0; i < m->nmlog; i++) free(m->mlog[i].old);
  } else {
    for (size_t i = m->nmlog; i-- > 0;) {
      struct mundo *u = &m->mlog[i];
      free(u->mk->value);
      u->mk->value = u->old;
      if (!u->old) { /* made by this transaction */
        pt_map_del(&m->marks, u->mk->key);
        free(u->mk);
      }
    }
  }
  m->nmlog = 0;
}
