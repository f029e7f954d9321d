/* rollup.c - the rows a session contributes to the rollups, and the
 * rollups kept in step with the sessions: every event applied notes what it
 * changed in what its session counts for (the counts after minus the
 * counts before), and the transaction adds the sum
 * (docs/architecture.md#rollups). */
#include "rollup.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "tracker_int.h"

const int64_t pt_rollup_res[PT_ROLLUP_NRES] = {60000, 3600000, 86400000};

int pt_hist_bin(int64_t ms) {
  if (ms <= 0) return 0;
  int b = 1 + (int)floor(log2((double)ms) * PT_HIST_SUB);
  return b < PT_HIST_BINS ? b : PT_HIST_BINS - 1;
}

int64_t pt_hist_value(int bin) {
  if (bin <= 0) return 0;
  return (int64_t)llround(exp2(((double)bin - 0.5) / PT_HIST_SUB));
}

/* One count at the minute of `at`; pt_rollup_finish adds its hour and day. */
static int push_at(pt_rollup_row **rows, size_t *n, size_t *cap, const char *ptype, int64_t at,
                   const char *step, int metric, int sign) {
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    pt_rollup_row *r = realloc(*rows, nc * sizeof *r);
    if (!r) return -1;
    *rows = r;
    *cap = nc;
  }
  int64_t res = pt_rollup_res[0];
  /* floor, also for times before the epoch */
  int64_t bucket = (at >= 0 ? at / res : -((-at + res - 1) / res)) * res;
  (*rows)[(*n)++] = (pt_rollup_row){ptype, step, res, bucket, metric, sign};
  return 0;
}

pt_status pt__rollup_note(pt__tx *x, const char *ptype, int64_t created_at, int metric,
                          pt_error *err) {
  if (push_at(&x->noted, &x->nnoted, &x->capnoted, ptype, created_at, "", metric, +1))
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return PT_OK;
}

/* What a session counts for, as pt_cksum_compute decides completed and
 * failed (without the chain hash it also computes): 1 completed, 2 failed,
 * 0 neither; *bin the completed session's duration bin. */
static int session_state(const pt_session *s, const pt_pipeline *p, int *bin) {
  *bin = -1;
  if (!p || s->event_count == 0) return 0;
  int complete = 1, failed = 0;
  for (int i = 0; i < p->nsteps; i++) {
    const pt_step_state *st = pt_session_step(s, p->steps[i]);
    int outcome = st ? st->outcome : PT_OUTCOME_NONE;
    if (outcome != PT_OUTCOME_SUCCESS && !p->optional[i]) complete = 0;
    if (outcome == PT_OUTCOME_FAILURE) failed = 1;
  }
  if (complete) {
    *bin = pt_hist_bin(s->last_ts - s->first_ts);
    return 1;
  }
  return failed ? 2 : 0;
}

/* A step's counts: bit 0 reached, 1 succeeded, 2 failed; *bin its duration
 * bin when it succeeded after a started event, else -1. */
static int step_counts(const pt_step_state *st, int *bin) {
  *bin = -1;
  if (!st) return 0;
  int f = 0;
  if (st->started || st->outcome != PT_OUTCOME_NONE) f |= 1;
  if (st->outcome == PT_OUTCOME_SUCCESS) {
    f |= 2;
    if (st->started_ts >= 0 && st->outcome_ts >= 0)
      *bin = pt_hist_bin(st->outcome_ts - st->started_ts);
  } else if (st->outcome == PT_OUTCOME_FAILURE) {
    f |= 4;
  }
  return f;
}

typedef struct rowlist {
  pt_rollup_row **rows;
  size_t *n, *cap;
  const pt_session *s;
  int oom;
} rowlist;

static void emit(rowlist *l, const char *step, int metric, int sign) {
  if (!l->oom &&
      push_at(l->rows, l->n, l->cap, l->s->pipeline_type, l->s->created_at, step, metric, sign))
    l->oom = 1;
}

/* The session-level counts of state/bin with sign. */
static void emit_state(rowlist *l, int state, int bin, int sign) {
  if (state == 1) {
    emit(l, "", PT_M_COMPLETED, sign);
    emit(l, "", PT_M_HIST + bin, sign);
  } else if (state == 2) {
    emit(l, "", PT_M_FAILED, sign);
  }
}

static void emit_step(rowlist *l, const char *name, int f, int bin, int sign) {
  if (f & 1) emit(l, name, PT_M_REACHED, sign);
  if (f & 2) emit(l, name, PT_M_SUCCEEDED, sign);
  if (f & 4) emit(l, name, PT_M_STEP_FAILED, sign);
  if (bin >= 0) emit(l, name, PT_M_HIST + bin, sign);
}

int pt_rollup_rows(const pt_session *s, const pt_pipeline *p, int sign, pt_rollup_row **rows,
                   size_t *n, size_t *cap) {
  rowlist l = {rows, n, cap, s, 0};
  if (s->event_count == 0) return 0;
  emit(&l, "", PT_M_STARTED, sign);
  int bin, state = session_state(s, p, &bin);
  emit_state(&l, state, bin, sign);
  for (int i = 0; i < s->nsteps; i++) {
    int sbin, f = step_counts(&s->steps[i], &sbin);
    emit_step(&l, s->steps[i].name, f, sbin, sign);
  }
  return l.oom ? -1 : 0;
}

static int cmp_row(const void *pa, const void *pb) {
  const pt_rollup_row *a = pa, *b = pb;
  /* the integers first: most rows of a group differ there */
  if (a->metric != b->metric) return a->metric < b->metric ? -1 : 1;
  if (a->bucket != b->bucket) return a->bucket < b->bucket ? -1 : 1;
  if (a->res != b->res) return a->res < b->res ? -1 : 1;
  int c = a->step == b->step ? 0 : strcmp(a->step, b->step);
  if (c) return c;
  return a->pipeline_type == b->pipeline_type ? 0 : strcmp(a->pipeline_type, b->pipeline_type);
}

void pt_rollup_merge(pt_rollup_row *rows, size_t *n) {
  if (*n > 1) qsort(rows, *n, sizeof *rows, cmp_row);
  size_t w = 0;
  for (size_t i = 0; i < *n;) {
    pt_rollup_row r = rows[i++];
    while (i < *n && cmp_row(&r, &rows[i]) == 0) r.delta += rows[i++].delta;
    if (r.delta) rows[w++] = r;
  }
  *n = w;
}

int pt_rollup_finish(pt_rollup_row **rows, size_t *n, size_t *cap) {
  /* minutes merged first: most of a group's counts fall in one minute */
  pt_rollup_merge(*rows, n);
  size_t minutes = *n;
  if (*n * PT_ROLLUP_NRES > *cap) {
    pt_rollup_row *r = realloc(*rows, *n * PT_ROLLUP_NRES * sizeof *r);
    if (!r) return -1;
    *rows = r;
    *cap = *n * PT_ROLLUP_NRES;
  }
  for (size_t i = 0; i < minutes; i++)
    for (int k = 1; k < PT_ROLLUP_NRES; k++) {
      pt_rollup_row r = (*rows)[i];
      int64_t res = pt_rollup_res[k];
      r.res = res;
      r.bucket = (r.bucket >= 0 ? r.bucket / res : -((-r.bucket + res - 1) / res)) * res;
      (*rows)[(*n)++] = r;
    }
  pt_rollup_merge(*rows, n);
  return 0;
}

pt_status pt__tx_apply(pt__tx *x, pt__txsess *ts, const pt_event *e, pt_error *err) {
  pt_session *s = &ts->s;
  if (!x->defs) x->defs = pt__defs(x->t);
  const pt_pipeline *p = pt_defs_find(x->defs, s->pipeline_type);
  /* what the session and the event's step counted for before */
  int had = s->event_count > 0, bin_b = -1, sbin_b;
  int state_b = had ? session_state(s, p, &bin_b) : 0;
  int step_b = step_counts(pt_session_step(s, e->step), &sbin_b);
  if (pt_session_apply(s, e)) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  int bin_a, sbin_a;
  int state_a = session_state(s, p, &bin_a);
  const pt_step_state *st = pt_session_step(s, e->step);
  int step_a = step_counts(st, &sbin_a);
  rowlist l = {&x->noted, &x->nnoted, &x->capnoted, s, 0};
  if (!had) emit(&l, "", PT_M_STARTED, +1);
  if (state_b != state_a || bin_b != bin_a) {
    emit_state(&l, state_b, bin_b, -1);
    emit_state(&l, state_a, bin_a, +1);
  }
  /* the rows keep the name until the transaction ends: the definition's
   * copy, not the aggregate's, whose step array a later event may move (a
   * step no longer defined is not in any funnel: nothing to count) */
  const char *name = NULL;
  for (int i = 0; p && i < p->nsteps && !name; i++)
    if (strcmp(p->steps[i], e->step) == 0) name = p->steps[i];
  if (st && name && (step_b != step_a || sbin_b != sbin_a)) {
    emit_step(&l, name, step_b, sbin_b, -1);
    emit_step(&l, name, step_a, sbin_a, +1);
  }
  return l.oom ? pt_fail(err, PT_ENOMEM, NULL, "out of memory") : PT_OK;
}

pt_status pt__rollup_tx(pt__tx *x, pt_error *err) {
  if (!x->nnoted) return PT_OK;
  if (pt_rollup_finish(&x->noted, &x->nnoted, &x->capnoted))
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return x->nnoted ? pt_store_rollup_add(x->t->store, x->noted, x->nnoted, err) : PT_OK;
}

/* Counts the sessions stored before rollups existed, a page a transaction,
 * resuming where the last one (of any process) stopped. */
#define CATCH_UP_PAGE 500

typedef struct idpage {
  char (*ids)[PT_ID_MAX + 1];
  size_t n;
} idpage;

static int take_id(void *ctx, const char *sid) {
  idpage *p = ctx;
  snprintf(p->ids[p->n++], sizeof *p->ids, "%s", sid);
  return 0;
}

static pt_status catch_up_page(pt_tracker *t, pt_store *st, int *done, pt_error *err) {
  char after[PT_ID_MAX + 1];
  int todo = 0;
  idpage page = {calloc(CATCH_UP_PAGE, sizeof *page.ids), 0};
  if (!page.ids) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  pt_rollup_row *rows = NULL;
  size_t n = 0, cap = 0, nsess = 0;
  pt_session *sess = NULL;
  pt_defs *defs = pt__defs(t);
  pt_status rc = pt_store_begin(st, err);
  if (rc == PT_OK) rc = st->m->rollups->rollup_todo(st, &todo, after, err);
  if (rc == PT_OK && todo) {
    pt_reader *r;
    rc = st->m->reader_open(st, &r, err);
    if (rc == PT_OK) {
      rc = st->m->list_session_ids(r, after[0] ? after : NULL, CATCH_UP_PAGE, take_id, &page, err);
      st->m->reader_close(r);
    }
    /* the rows point into the sessions: they live until the rows are added */
    sess = calloc(page.n ? page.n : 1, sizeof *sess);
    if (!sess) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; rc == PT_OK && i < page.n; i++) {
      pt_session *s = &sess[nsess];
      rc = pt_store_session_get(st, page.ids[i], s, err);
      nsess++; /* initialised either way: cleaned up below */
      if (rc == PT_ENOTFOUND) {
        rc = PT_OK;
        continue;
      }
      if (rc == PT_OK &&
          pt_rollup_rows(s, pt_defs_find(defs, s->pipeline_type), +1, &rows, &n, &cap))
        rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    }
    if (rc == PT_OK && pt_rollup_finish(&rows, &n, &cap))
      rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    if (rc == PT_OK && n) rc = pt_store_rollup_add(st, rows, n, err);
    if (rc == PT_OK)
      rc = st->m->rollups->rollup_todo_set(
          st, page.n == CATCH_UP_PAGE ? page.ids[page.n - 1] : NULL, err);
  }
  if (rc == PT_OK) {
    rc = pt_store_commit(st, err);
  } else {
    pt_store_rollback(st);
  }
  *done = rc == PT_OK && (!todo || page.n < CATCH_UP_PAGE);
  for (size_t i = 0; i < nsess; i++) pt_session_cleanup(&sess[i]);
  free(sess);
  free(rows);
  free(page.ids);
  pt_defs_unref(defs);
  return rc;
}

pt_status pt__rollups_catch_up(pt_tracker *t, pt_error *err) {
  pt_store *st = pt__store(t);
  int done = 0;
  pt_status rc = PT_OK;
  /* a fault injected at open (pt_options.store_fault_after) is meant for
   * the writes that follow, not for this */
  int fault = st->fail_after;
  st->fail_after = -1;
  while (rc == PT_OK && !done) rc = catch_up_page(t, st, &done, err);
  st->fail_after = fault;
  return rc;
}
