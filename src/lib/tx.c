/* tx.c - the committer's write transaction: the aggregates of the sessions
 * it touches, each loaded once and written back once at the end, and the
 * cache of committed aggregates that spares reading them back from stores
 * that say when someone else wrote (a generation()). */
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "tracker_int.h"

/* Sessions kept in the cache at most; past that it starts over. */
#define SESSION_CACHE_MAX 20000

/* ---- the session cache ------------------------------------------------------ */

void pt__cache_init(pt_tracker *t) {
  pt_map_init(&t->cache);
  t->cache_gen = -1;
}

static void cache_clear(pt_tracker *t) {
  for (size_t i = 0; i < t->ncached; i++) {
    pt_session_cleanup(t->cached[i]);
    free(t->cached[i]);
  }
  t->ncached = 0;
  pt_map_cleanup(&t->cache);
  pt_map_init(&t->cache);
}

void pt__cache_cleanup(pt_tracker *t) {
  cache_clear(t);
  free(t->cached);
}

/* Moves s's contents into the cache (s is left empty): the transaction is
 * done with its aggregate, so the cache takes it without a copy. */
static void cache_put_move(pt_tracker *t, pt_session *s) {
  pt_session *c = pt_map_get(&t->cache, s->session_id);
  if (!c) {
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
    if (!(c = malloc(sizeof *c))) {
      cache_clear(t);
      return;
    }
    pt_session_init(c, s->session_id, "");
    if (pt_map_put(&t->cache, c->session_id, c)) {
      free(c);
      cache_clear(t);
      return;
    }
    t->cached[t->ncached++] = c;
  }
  pt_session_cleanup(c);
  *c = *s;
  /* s keeps its scalars but no buffers: cleaning it up frees nothing */
  s->steps = NULL;
  s->nsteps = s->capsteps = 0;
  s->recent = NULL;
  s->nrecent = 0;
  s->recent_len = s->recent_cap = 0;
}

/* ---- the write transaction ---------------------------------------------- */

pt_status pt__tx_begin(pt__tx *x, pt_tracker *t, size_t nsessions, const pt__keys *keys,
                       pt_error *err) {
  memset(x, 0, sizeof *x);
  x->t = t;
  pt_map_init(&x->map);
  pt_map_reserve(&x->map, nsessions); /* one table for the whole group: no rehashing */
  pt_status rc = pt_store_begin(t->store, err);
  x->began = rc == PT_OK;
  if (rc == PT_OK && keys && t->store->m->prepare) {
    pt_store_keys k = {keys->sessions,  keys->nsessions, keys->issues,  keys->nissues,
                       keys->esessions, keys->eids,      keys->nevents, keys->ids_insert};
    rc = t->store->m->prepare(t->store, &k, err);
  }
  if (rc == PT_OK && t->store->m->generation) {
    int64_t gen;
    rc = t->store->m->generation(t->store, &gen, err);
    if (rc == PT_OK && gen != t->cache_gen) {
      cache_clear(t); /* someone else wrote: what we remember may be stale */
      t->cache_gen = gen;
    }
  }
  return rc;
}

static void tx_cleanup(pt__tx *x) {
  for (size_t i = 0; i < x->n; i++) {
    pt_session_cleanup(&x->list[i]->s);

    free(x->list[i]);
  }
  free(x->list);
  free(x->noted);
  pt_defs_unref(x->defs);
  pt_map_cleanup(&x->map);
}

pt_status pt__tx_session(pt__tx *x, const char *sid, const char *type, pt__txsess **out,
                         pt_error *err) {
  pt__txsess *ts = pt_map_get(&x->map, sid);
  if (ts) {
    *out = ts;
    return PT_OK;
  }
  if (x->n == x->cap) {
    size_t nc = x->cap ? x->cap * 2 : 16;
    pt__txsess **nl = realloc(x->list, nc * sizeof *nl);
    if (!nl) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    x->list = nl;
    x->cap = nc;
  }
  ts = calloc(1, sizeof *ts);
  if (!ts) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  pt_session *cached = x->t->store->m->generation ? pt_map_get(&x->t->cache, sid) : NULL;
  pt_status rc = PT_OK;
  if (cached) {
    /* lent to the transaction, buffers and all (no copy): the entry stays
     * an empty shell until pt__tx_end gives it back, or drops the cache */
    ts->s = *cached;
    cached->steps = NULL;
    cached->nsteps = cached->capsteps = 0;
    cached->recent = NULL;
    cached->nrecent = 0;
    cached->recent_len = cached->recent_cap = 0;
    ts->from_cache = 1;
  } else {
    rc = pt_store_session_get(x->t->store, sid, &ts->s, err);
  }
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
  /* stores that keep aggregates cached keep the latest ids with them, and
   * so do stores that keep them with the row (a restored list goes on) */
  if (!cached && (x->t->store->m->generation || (x->t->store->m->flags & PT_STORE_F_RECENT)))
    pt_session_keep_recent(&ts->s);
  if (pt_map_put(&x->map, ts->s.session_id, ts)) {
    pt_session_cleanup(&ts->s);
    free(ts);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  x->list[x->n++] = ts;
  *out = ts;
  return PT_OK;
}

pt_status pt__tx_stored(pt__tx *x, pt__job *j, const char *sid, pt__txsess **out) {
  pt_status rc = pt__tx_session(x, sid, NULL, out, &j->err);
  if (rc || (*out)->exists) return rc;
  *out = NULL;
  j->result =
      pt_fail(&j->err, PT_ENOTFOUND, "session_id", "session_id: no session \"%s\" is stored", sid);
  return PT_OK;
}

pt_status pt__tx_end(pt__tx *x, pt_status rc, pt_error *err) {
  pt_tracker *t = x->t;
  if (rc == PT_OK) rc = pt__rollup_tx(x, err);
  pt_defs *defs = NULL;
  for (size_t i = 0; rc == PT_OK && i < x->n; i++) {
    if (!x->list[i]->dirty) continue;
    pt_session *s = &x->list[i]->s;
    /* the row carries its state under the definitions in force, for the
     * listings by state (recode.c follows a change of definitions) */
    if (!defs) defs = pt__defs(t);
    s->scode = pt_session_scode(s, pt_defs_find(defs, s->pipeline_type));
    rc = pt_store_session_put(t->store, s, !x->list[i]->stored, err);
  }
  pt_defs_unref(defs);
  if (rc == PT_OK) {
    rc = pt_store_commit(t->store, err);
  } else if (x->began) {
    pt_store_rollback(t->store);
  }
  if (t->store->m->generation) {
    if (rc == PT_OK) {
      /* what was lent comes back, and what changed is remembered */
      for (size_t i = 0; i < x->n; i++)
        if (x->list[i]->dirty || x->list[i]->from_cache) cache_put_move(t, &x->list[i]->s);
    } else {
      cache_clear(t); /* the lent shells go with it */
    }
  }
  tx_cleanup(x);
  return rc;
}
