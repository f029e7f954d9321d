/* oset.c - the treap behind oset.h: expected O(log n) inserts, removals and
 * the first step of a walk, whatever the order keys arrive in. */
#include "oset.h"

#include <string.h>

static int cmp(int64_t ams, const char *aid, int64_t bms, const char *bid) {
  if (ams != bms) return ams < bms ? -1 : 1;
  return strcmp(aid, bid);
}

/* Splits t into keys < (ms, id) and the rest. */
static void split(pt_onode *t, int64_t ms, const char *id, pt_onode **lo, pt_onode **hi) {
  while (t) {
    if (cmp(t->ms, t->id, ms, id) < 0) {
      *lo = t;
      lo = &t->r;
      t = t->r;
    } else {
      *hi = t;
      hi = &t->l;
      t = t->l;
    }
  }
  *lo = *hi = NULL;
}

/* Joins a and b, every key of a below every key of b. */
static pt_onode *join(pt_onode *a, pt_onode *b) {
  pt_onode *root = NULL, **at = &root;
  while (a && b) {
    if (a->prio > b->prio) {
      *at = a;
      at = &a->r;
      a = a->r;
    } else {
      *at = b;
      at = &b->l;
      b = b->l;
    }
  }
  *at = a ? a : b;
  return root;
}

void pt_oset_insert(pt_oset *t, pt_onode *n) {
  /* xorshift: priorities need only be independent of the keys */
  uint32_t x = t->seed ? t->seed : 2463534242u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  t->seed = x;
  n->prio = x;
  pt_onode **at = &t->root;
  while (*at && (*at)->prio >= n->prio)
    at = cmp(n->ms, n->id, (*at)->ms, (*at)->id) < 0 ? &(*at)->l : &(*at)->r;
  split(*at, n->ms, n->id, &n->l, &n->r);
  *at = n;
  t->n++;
}

void pt_oset_remove(pt_oset *t, pt_onode *n) {
  pt_onode **at = &t->root;
  while (*at && *at != n) at = cmp(n->ms, n->id, (*at)->ms, (*at)->id) < 0 ? &(*at)->l : &(*at)->r;
  if (!*at) return;
  *at = join(n->l, n->r);
  n->l = n->r = NULL;
  t->n--;
}

typedef struct walk {
  int64_t after_ms, before_ms;
  const char *before_id;
  int (*cb)(void *, pt_onode *);
  void *ctx;
} walk;

/* Reverse in-order; the depth is the treap's height (expected ~2.5 log n). */
static int visit(const walk *w, pt_onode *n) {
  while (n) {
    if (w->before_id && cmp(n->ms, n->id, w->before_ms, w->before_id) >= 0) {
      n = n->l; /* n and its right side are at or past the bound */
      continue;
    }
    if (n->ms <= w->after_ms) {
      n = n->r; /* n and its left side are at or before the lower bound */
      continue;
    }
    int stop = visit(w, n->r);
    if (stop) return stop;
    if ((stop = w->cb(w->ctx, n))) return stop;
    n = n->l;
  }
  return 0;
}

int pt_oset_walk(const pt_oset *t, int64_t after_ms, int64_t before_ms, const char *before_id,
                 int (*cb)(void *ctx, pt_onode *n), void *ctx) {
  walk w = {after_ms, before_ms, before_id, cb, ctx};
  return visit(&w, t->root);
}
