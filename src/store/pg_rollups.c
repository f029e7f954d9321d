/* pg_rollups.c - the PostgreSQL backend's rollups: deltas kept in the
 * store and sent with the commit as one upsert (pg_write.c), into rows of
 * this store's shard, so servers adding to the same minute do not queue
 * for one row lock; a read sums the shards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "pg_store.h"

static const char *i64s(char *buf, int64_t v) {
  snprintf(buf, 24, "%lld", (long long)v);
  return buf;
}

static pt_status pg_rollup_add(pt_store *st, const pt_rollup_row *rows, size_t n, pt_error *err) {
  pgstore *s = (pgstore *)st;
  if (s->nrolls + n > s->caprolls) {
    size_t nc = s->caprolls ? s->caprolls : 64;
    while (nc < s->nrolls + n) nc *= 2;
    pgroll *r = realloc(s->rolls, nc * sizeof *r);
    if (!r) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    s->rolls = r;
    s->caprolls = nc;
  }
  for (size_t i = 0; i < n; i++) {
    pgroll *r = &s->rolls[s->nrolls++];
    snprintf(r->ptype, sizeof r->ptype, "%s", rows[i].pipeline_type);
    snprintf(r->step, sizeof r->step, "%s", rows[i].step);
    r->res = rows[i].res;
    r->bucket = rows[i].bucket;
    r->metric = rows[i].metric;
    r->delta = rows[i].delta;
  }
  return PT_OK;
}

static pt_status pg_read_rollups(pt_reader *rb, const char *ptype, int64_t res, int64_t from,
                                 int64_t to, pt_rollup_cb cb, void *ctx, pt_error *err) {
  char r_[24], f[24], t[24];
  const char *v[4] = {ptype, i64s(r_, res), i64s(f, from), i64s(t, to)};
  PGresult *r;
  pt_status rc = pg_read((pgreader *)rb, Q_ROLLUPS_READ, 4, v, &r, "read rollups", err);
  if (rc) return rc;
  for (int i = 0; i < PQntuples(r); i++)
    if (cb(ctx, pg_i64(r, i, 0), pg_text(r, i, 1), (int)pg_i64(r, i, 2), pg_i64(r, i, 3))) break;
  PQclear(r);
  return PT_OK;
}

static pt_status pg_list_sessions_created(pt_reader *rb, const char *ptype, int64_t from,
                                          int64_t to, pt_session_cb cb, void *ctx, pt_error *err) {
  char f[24], t[24];
  const char *v[3] = {ptype, i64s(f, from), i64s(t, to)};
  PGresult *r;
  pt_status rc = pg_read((pgreader *)rb, Q_CREATED, 3, v, &r, "list sessions by creation", err);
  if (rc) return rc;
  int stop = 0;
  for (int i = 0; i < PQntuples(r) && !stop && rc == PT_OK; i++) {
    pt_session x;
    rc = pg_row_session(r, i, 1, pg_text(r, i, 0), &x, err);
    if (rc == PT_OK) stop = cb(ctx, &x, x.updated_at);
    pt_session_cleanup(&x);
  }
  PQclear(r);
  return rc;
}

static pt_status todo_run(pgstore *s, int stmt, int n, const char *const *v, PGresult **keep,
                          pt_error *err) {
  pgq q = {.stmt = stmt, .n = n, .v = v};
  pt_status rc = pg_exec_tx(s, &q, "rollup_todo", err);
  if (keep)
    *keep = q.res;
  else
    PQclear(q.res);
  return rc;
}

static pt_status pg_rollup_todo(pt_store *st, int *todo, char *after, pt_error *err) {
  PGresult *r = NULL;
  pt_status rc = todo_run((pgstore *)st, Q_ROLLUP_TODO, 0, NULL, &r, err);
  *todo = rc == PT_OK && PQntuples(r) > 0;
  after[0] = 0;
  if (*todo) snprintf(after, PT_ID_MAX + 1, "%s", pg_text(r, 0, 0));
  PQclear(r);
  return rc;
}

static pt_status pg_rollup_todo_set(pt_store *st, const char *after, pt_error *err) {
  const char *v[1] = {after};
  return todo_run((pgstore *)st, after ? Q_ROLLUP_TODO_SET : Q_ROLLUP_TODO_DONE, after ? 1 : 0, v,
                  NULL, err);
}

const pt_store_rollup_methods pt__pg_rollup_methods = PT_STORE_ROLLUP_METHODS(pg);
