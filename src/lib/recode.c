/* recode.c - keeps the state code in each session row (pt_session.scode,
 * what the listings by state walk) in step with the definitions: a code
 * depends on the pipeline's steps, which only the tracker knows. At open
 * and at each load of definitions, the rows of a pipeline type whose
 * definition changed since its codes were written are written again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "tracker_int.h"

/* Sessions rewritten a transaction. */
#define RECODE_BATCH 512

typedef struct recode_job {
  pt__job h;
  char (*sid)[PT_ID_MAX + 1];
  size_t n;
  /* marks written with it: "codes/<type>" = the definition's digest */
  char (*key)[PT_NAME_MAX + 8];
  char (*digest)[65];
  size_t nmarks;
} recode_job;

pt_status pt__recode_apply(pt__tx *x, pt__job *h) {
  recode_job *j = PT__JOB_AS(recode_job, h);
  for (size_t i = 0; i < j->n; i++) {
    pt__txsess *ts;
    pt_status rc = pt__tx_session(x, j->sid[i], NULL, &ts, &h->err);
    if (rc) return rc;
    /* written again at the end of the transaction, with its code */
    if (ts->exists) ts->dirty = 1;
  }
  /* the marks say the rows are through: rows written behind (SQLite) go
   * in the same commit */
  if (j->nmarks && x->t->store->m->flush) x->t->store->m->flush(x->t->store);
  for (size_t i = 0; i < j->nmarks; i++) {
    pt_status rc = pt_store_mark_put(x->t->store, j->key[i], j->digest[i], &h->err);
    if (rc) return rc;
  }
  h->result = PT_OK;
  return PT_OK;
}

void pt__recode_keys(pt__job *h, pt__keys *k) {
  recode_job *j = PT__JOB_AS(recode_job, h);
  for (size_t i = 0; i < j->n; i++) pt__keys_session(k, j->sid[i]);
}

typedef struct scan {
  const pt_pipeline *p;
  char (*sid)[PT_ID_MAX + 1];
  size_t n;
  int64_t last_ms;
  char last_id[PT_ID_MAX + 1];
} scan;

static int scan_one(void *ctx, const pt_session *s, int64_t sort_ms) {
  scan *w = ctx;
  w->last_ms = sort_ms;
  snprintf(w->last_id, sizeof w->last_id, "%s", s->session_id);
  if (s->scode != pt_session_scode(s, w->p))
    snprintf(w->sid[w->n++], sizeof w->sid[0], "%s", s->session_id);
  return 0;
}

static pt_status run_job(pt_tracker *t, recode_job *j, pt_error *err) {
  j->h = (pt__job){.kind = PT__JOB_RECODE, .now = pt__now(t), .nsessions = j->n};
  return pt__job_run(t, &j->h, err);
}

/* Rewrites the rows of p's type whose code differs, a batch at a time (a
 * row's activity time does not change with its code: the walk's order
 * holds). */
static pt_status recode_type(pt_tracker *t, const pt_pipeline *p, char (*sid)[PT_ID_MAX + 1],
                             pt_error *err) {
  pt_store *st = t->store;
  scan w = {.p = p, .sid = sid};
  int first = 1;
  for (;;) {
    pt_reader *r;
    pt_status rc = st->m->reader_open(st, &r, err);
    if (rc) return rc;
    w.n = 0;
    int64_t before_ms = w.last_ms;
    char before_id[PT_ID_MAX + 1];
    snprintf(before_id, sizeof before_id, "%s", w.last_id);
    w.last_id[0] = 0;
    rc = st->m->list_sessions_by(r, p->type, 0, INT64_MIN, before_ms, first ? NULL : before_id,
                                 RECODE_BATCH, scan_one, &w, err);
    st->m->reader_close(r);
    if (rc) return rc;
    first = 0;
    if (w.n) {
      recode_job j = {.sid = w.sid, .n = w.n};
      if ((rc = run_job(t, &j, err))) return rc;
    }
    if (!w.last_id[0]) return PT_OK; /* the walk is through */
  }
}

pt_status pt__recode(pt_tracker *t, pt_error *err) {
  pt_store *st = t->store;
  /* the walk follows the rows: bring lagging ones up first */
  pt_status rc = pt__flush(t, err);
  if (rc) return rc;
  pt_defs *defs = pt__defs(t);
  recode_job marks = {0};
  char(*sid)[PT_ID_MAX + 1] = malloc(RECODE_BATCH * sizeof *sid);
  marks.key = malloc((size_t)(defs->n ? defs->n : 1) * sizeof *marks.key);
  marks.digest = malloc((size_t)(defs->n ? defs->n : 1) * sizeof *marks.digest);
  if (!sid || !marks.key || !marks.digest) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  for (int i = 0; rc == PT_OK && i < defs->n; i++) {
    const pt_pipeline *p = &defs->p[i];
    char key[PT_NAME_MAX + 8], have[80] = "";
    snprintf(key, sizeof key, "codes/%s", p->type);
    pt_reader *r;
    if ((rc = st->m->reader_open(st, &r, err))) break;
    rc = st->m->read_mark(r, key, have, sizeof have, err);
    st->m->reader_close(r);
    if (rc == PT_ENOTFOUND) rc = PT_OK;
    if (rc) break;
    if (strcmp(have, p->digest) == 0) continue;
    if ((rc = recode_type(t, p, sid, err))) break;
    snprintf(marks.key[marks.nmarks], sizeof marks.key[0], "%s", key);
    snprintf(marks.digest[marks.nmarks], sizeof marks.digest[0], "%s", p->digest);
    marks.nmarks++;
  }
  /* the marks in one transaction, once every type is through */
  if (rc == PT_OK && marks.nmarks) rc = run_job(t, &marks, err);
  free(sid);
  free(marks.key);
  free(marks.digest);
  pt_defs_unref(defs);
  return rc;
}
