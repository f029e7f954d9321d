/* memory_rollups.c - the "memory:" backend's rollups: one array sorted by
 * key (pipeline type, resolution, bucket, step, metric), so a range is a
 * binary search and a walk. Deltas of the open transaction wait in a list
 * and are applied by its commit (a rollback drops them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "memory_store.h"

typedef struct mroll_row {
  char ptype[PT_NAME_MAX + 1];
  char step[PT_NAME_MAX + 1];
  int64_t res, bucket;
  int metric;
  int64_t value;
} mroll_row;

struct mroll {
  mroll_row *v; /* sorted by key */
  size_t n, cap;
  mroll_row *pend; /* the open transaction's deltas */
  size_t npend, cappend;
  int todo_done; /* a memory store has no sessions from before rollups */
};

static int cmp_key(const mroll_row *a, const char *ptype, int64_t res, int64_t bucket,
                   const char *step, int metric) {
  int c = strcmp(a->ptype, ptype);
  if (c) return c;
  if (a->res != res) return a->res < res ? -1 : 1;
  if (a->bucket != bucket) return a->bucket < bucket ? -1 : 1;
  if ((c = strcmp(a->step, step))) return c;
  return a->metric < metric ? -1 : a->metric > metric;
}

/* The first row not before the key. */
static size_t lower(const struct mroll *r, const char *ptype, int64_t res, int64_t bucket,
                    const char *step, int metric) {
  size_t lo = 0, hi = r->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cmp_key(&r->v[mid], ptype, res, bucket, step, metric) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static struct mroll *roll(mstore *m) {
  if (!m->roll) m->roll = calloc(1, sizeof *m->roll);
  return m->roll;
}

static pt_status mem_rollup_add(pt_store *st, const pt_rollup_row *rows, size_t n, pt_error *err) {
  struct mroll *r = roll((mstore *)st);
  if (!r) return mem_oom(err);
  if (r->npend + n > r->cappend) {
    size_t nc = r->cappend ? r->cappend : 64;
    while (nc < r->npend + n) nc *= 2;
    mroll_row *p = realloc(r->pend, nc * sizeof *p);
    if (!p) return mem_oom(err);
    r->pend = p;
    r->cappend = nc;
  }
  for (size_t i = 0; i < n; i++) {
    mroll_row *p = &r->pend[r->npend++];
    snprintf(p->ptype, sizeof p->ptype, "%s", rows[i].pipeline_type);
    snprintf(p->step, sizeof p->step, "%s", rows[i].step);
    p->res = rows[i].res;
    p->bucket = rows[i].bucket;
    p->metric = rows[i].metric;
    p->value = rows[i].delta;
  }
  return PT_OK;
}

/* Applies the open transaction's deltas (under the write lock). Room for
 * every new row is made first, so applying cannot fail half way. */
int mem_rollups_commit(mstore *m) {
  struct mroll *r = m->roll;
  if (!r || !r->npend) return 0;
  if (r->n + r->npend > r->cap) {
    size_t nc = r->cap ? r->cap : 256;
    while (nc < r->n + r->npend) nc *= 2;
    mroll_row *v = realloc(r->v, nc * sizeof *v);
    if (!v) return -1;
    r->v = v;
    r->cap = nc;
  }
  for (size_t i = 0; i < r->npend; i++) {
    const mroll_row *p = &r->pend[i];
    size_t at = lower(r, p->ptype, p->res, p->bucket, p->step, p->metric);
    if (at < r->n && cmp_key(&r->v[at], p->ptype, p->res, p->bucket, p->step, p->metric) == 0) {
      r->v[at].value += p->value;
      continue;
    }
    /* new rows are mostly the latest buckets: the move is short */
    memmove(&r->v[at + 1], &r->v[at], (r->n - at) * sizeof *r->v);
    r->v[at] = *p;
    r->n++;
  }
  r->npend = 0;
  return 0;
}

void mem_rollups_rollback(mstore *m) {
  if (m->roll) m->roll->npend = 0;
}

void mem_rollups_free(mstore *m) {
  if (!m->roll) return;
  free(m->roll->v);
  free(m->roll->pend);
  free(m->roll);
  m->roll = NULL;
}

static pt_status mem_read_rollups(pt_reader *rd, const char *ptype, int64_t res, int64_t from,
                                  int64_t to, pt_rollup_cb cb, void *ctx, pt_error *err) {
  (void)err;
  struct mroll *r = ((mstore *)rd->store)->roll;
  if (!r) return PT_OK;
  for (size_t i = lower(r, ptype, res, from, "", 0); i < r->n; i++) {
    const mroll_row *x = &r->v[i];
    if (strcmp(x->ptype, ptype) || x->res != res || x->bucket >= to) break;
    if (cb(ctx, x->bucket, x->step, x->metric, x->value)) break;
  }
  return PT_OK;
}

static pt_status mem_rollup_todo(pt_store *st, int *todo, char *after, pt_error *err) {
  (void)st;
  (void)err;
  *todo = 0;
  after[0] = 0;
  return PT_OK;
}

static pt_status mem_rollup_todo_set(pt_store *st, const char *after, pt_error *err) {
  (void)st;
  (void)after;
  (void)err;
  return PT_OK;
}

const pt_store_rollup_methods pt__memory_rollup_methods = PT_STORE_ROLLUP_METHODS(mem);
