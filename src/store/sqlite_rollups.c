/* sqlite_rollups.c - the SQLite backend's rollups: one row a key, changed
 * by an upsert that adds the delta, in the transaction of the events that
 * changed them. */
#include <stdio.h>
#include <string.h>

#include "../core/error.h"
#include "sqlite_store.h"

static pt_status sq_rollup_add(pt_store *st, const pt_rollup_row *rows, size_t n, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_ROLLUP_ADD];
  for (size_t i = 0; i < n; i++) {
    const pt_rollup_row *r = &rows[i];
    sqlite3_bind_text(q, 1, r->pipeline_type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, r->res);
    sqlite3_bind_int64(q, 3, r->bucket);
    sqlite3_bind_text(q, 4, r->step, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 5, r->metric);
    sqlite3_bind_int64(q, 6, r->delta);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    if (rc != SQLITE_DONE) return sq_db_fail(err, s->db, "write rollups");
  }
  return PT_OK;
}

static pt_status sq_read_rollups(pt_reader *rb, const char *ptype, int64_t res, int64_t from,
                                 int64_t to, pt_rollup_cb cb, void *ctx, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_ROLLUPS];
  sqlite3_bind_text(q, 1, ptype, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, res);
  sqlite3_bind_int64(q, 3, from);
  sqlite3_bind_int64(q, 4, to);
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    if (cb(ctx, sqlite3_column_int64(q, 0), sq_col_text(q, 1), sqlite3_column_int(q, 2),
           sqlite3_column_int64(q, 3)))
      break;
  pt_status st =
      rc == SQLITE_ROW || rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, r->db, "read rollups");
  sqlite3_reset(q);
  return st;
}

static pt_status sq_list_sessions_created(pt_reader *rb, const char *ptype, int64_t from,
                                          int64_t to, pt_session_cb cb, void *ctx, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_CREATED];
  sqlite3_bind_text(q, 1, ptype, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, from);
  sqlite3_bind_int64(q, 3, to);
  int rc;
  pt_status st = PT_OK;
  while (st == PT_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
    char sid[PT_ID_MAX + 1];
    snprintf(sid, sizeof sid, "%s", sq_col_text(q, 0));
    pt_session s;
    /* the aggregate brought up past a lagging row (other statements) */
    st = sq_read_session(rb, sid, &s, err);
    int stop = st == PT_OK ? cb(ctx, &s, s.updated_at) : 1;
    pt_session_cleanup(&s);
    if (stop) break;
  }
  if (st == PT_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
    st = sq_db_fail(err, r->db, "list sessions by creation");
  sqlite3_reset(q);
  return st;
}

static pt_status sq_rollup_todo(pt_store *st, int *todo, char *after, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_ROLLUP_TODO];
  int rc = sqlite3_step(q);
  *todo = rc == SQLITE_ROW;
  after[0] = 0;
  if (*todo) snprintf(after, PT_ID_MAX + 1, "%s", sq_col_text(q, 0));
  sqlite3_reset(q);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, s->db, "read rollup_todo");
}

static pt_status sq_rollup_todo_set(pt_store *st, const char *after, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[after ? W_ROLLUP_TODO_SET : W_ROLLUP_TODO_DONE];
  if (after) sqlite3_bind_text(q, 1, after, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, s->db, "write rollup_todo");
}

const pt_store_rollup_methods pt__sqlite_rollup_methods = PT_STORE_ROLLUP_METHODS(sq);
