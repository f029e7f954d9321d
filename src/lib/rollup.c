/* rollup.c - the rows a session contributes to the rollups, and the
 * rollups kept in step with the sessions: every transaction adds, for each
 * session it changed, what the session counts for now minus what it
 * counted for before (docs/architecture.md#rollups). */
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

static int push_at(pt_rollup_row **rows, size_t *n, size_t *cap, const char *ptype, int64_t at,
                   const char *step, int metric, int sign) {
  if (*n + PT_ROLLUP_NRES > *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    pt_rollup_row *r = realloc(*rows, nc * sizeof *r);
    if (!r) return -1;
    *rows = r;
    *cap = nc;
  }
  for (int k = 0; k < PT_ROLLUP_NRES; k++) {
    int64_t res = pt_rollup_res[k];
    /* floor, also for times before the epoch */
    int64_t bucket = (at >= 0 ? at / res : -((-at + res - 1) / res)) * res;
    (*rows)[(*n)++] = (pt_rollup_row){ptype, step, res, bucket, metric, sign};
  }
  return 0;
}

static int push(pt_rollup_row **rows, size_t *n, size_t *cap, const pt_session *s, const char *step,
                int metric, int sign) {
  return push_at(rows, n, cap, s->pipeline_type, s->created_at, step, metric, sign);
}

pt_status pt__rollup_note(pt__tx *x, const char *ptype, int64_t created_at, int metric,
                          pt_error *err) {
  if (push_at(&x->noted, &x->nnoted, &x->capnoted, ptype, created_at, "", metric, +1))
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return PT_OK;
}

int pt_rollup_rows(const pt_session *s, const pt_pipeline *p, int sign, pt_rollup_row **rows,
                   size_t *n, size_t *cap) {
  if (s->event_count == 0) return 0;
  if (push(rows, n, cap, s, "", PT_M_STARTED, sign)) return -1;
  if (p) {
    /* the state's completed / failed, as pt_cksum_compute decides them,
     * without the chain hash it also computes */
    int complete = 1, failed = 0;
    for (int i = 0; i < p->nsteps; i++) {
      const pt_step_state *st = pt_session_step(s, p->steps[i]);
      int outcome = st ? st->outcome : PT_OUTCOME_NONE;
      if (outcome != PT_OUTCOME_SUCCESS && !p->optional[i]) complete = 0;
      if (outcome == PT_OUTCOME_FAILURE) failed = 1;
    }
    if (complete) {
      if (push(rows, n, cap, s, "", PT_M_COMPLETED, sign) ||
          push(rows, n, cap, s, "", PT_M_HIST + pt_hist_bin(s->last_ts - s->first_ts), sign))
        return -1;
    } else if (failed) {
      if (push(rows, n, cap, s, "", PT_M_FAILED, sign)) return -1;
    }
  }
  for (int i = 0; i < s->nsteps; i++) {
    const pt_step_state *st = &s->steps[i];
    if ((st->started || st->outcome != PT_OUTCOME_NONE) &&
        push(rows, n, cap, s, st->name, PT_M_REACHED, sign))
      return -1;
    if (st->outcome == PT_OUTCOME_SUCCESS) {
      if (push(rows, n, cap, s, st->name, PT_M_SUCCEEDED, sign)) return -1;
      if (st->started_ts >= 0 && st->outcome_ts >= 0 &&
          push(rows, n, cap, s, st->name, PT_M_HIST + pt_hist_bin(st->outcome_ts - st->started_ts),
               sign))
        return -1;
    } else if (st->outcome == PT_OUTCOME_FAILURE &&
               push(rows, n, cap, s, st->name, PT_M_STEP_FAILED, sign)) {
      return -1;
    }
  }
  return 0;
}

static int cmp_row(const void *pa, const void *pb) {
  const pt_rollup_row *a = pa, *b = pb;
  int c = strcmp(a->pipeline_type, b->pipeline_type);
  if (c) return c;
  if (a->res != b->res) return a->res < b->res ? -1 : 1;
  if (a->bucket != b->bucket) return a->bucket < b->bucket ? -1 : 1;
  if ((c = strcmp(a->step, b->step))) return c;
  return a->metric < b->metric ? -1 : a->metric > b->metric;
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

pt_status pt__rollup_tx(pt__tx *x, pt_error *err) {
  pt_rollup_row *rows = NULL;
  size_t n = 0, cap = 0;
  pt_defs *defs = pt__defs(x->t);
  int oom = 0;
  for (size_t i = 0; i < x->n && !oom; i++) {
    const pt__txsess *ts = x->list[i];
    if (!ts->dirty) continue;
    const pt_pipeline *p = pt_defs_find(defs, ts->s.pipeline_type);
    if (ts->has_before) oom |= pt_rollup_rows(&ts->before, p, -1, &rows, &n, &cap);
    oom |= pt_rollup_rows(&ts->s, p, +1, &rows, &n, &cap);
  }
  for (size_t i = 0; i < x->nnoted && !oom; i++) {
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 64;
      pt_rollup_row *r = realloc(rows, nc * sizeof *r);
      if (!r) {
        oom = 1;
        break;
      }
      rows = r;
      cap = nc;
    }
    rows[n++] = x->noted[i];
  }
  pt_status rc = PT_OK;
  if (oom) {
    rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  } else {
    pt_rollup_merge(rows, &n);
    if (n) rc = pt_store_rollup_add(x->t->store, rows, n, err);
  }
  free(rows);
  pt_defs_unref(defs);
  return rc;
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
    pt_rollup_merge(rows, &n);
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
