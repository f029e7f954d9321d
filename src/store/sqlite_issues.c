/* sqlite_issues.c - the SQLite backend's issues (docs/concepts.md#issues), the sessions
 * each affected, and the webhook outbox: written in the transaction of the
 * change they record, read through a reader. */
#include <stdio.h>
#include <string.h>

#include "../core/error.h"
#include "sqlite_store.h"

/* ---- issues ------------------------------------------------------------------- */

static pt_status one_issue(sqlite3 *db, sqlite3_stmt *q, const char *id, pt_issue *out,
                           pt_error *err) {
  memset(out, 0, sizeof *out);
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  pt_status st = rc == SQLITE_ROW    ? sq_row_issue(q, out, err)
                 : rc == SQLITE_DONE ? PT_ENOTFOUND
                                     : sq_db_fail(err, db, "read issue");
  sqlite3_reset(q);
  return st;
}

static pt_status sq_issue_get(pt_store *st, const char *id, pt_issue *out, pt_error *err) {
  sstore *s = (sstore *)st;
  return one_issue(s->db, s->st[W_ISSUE_GET], id, out, err);
}

static pt_status sq_issue_put(pt_store *st, const pt_issue *x, int is_new, pt_error *err) {
  (void)is_new; /* INSERT OR REPLACE serves both */
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_ISSUE_PUT];
  sqlite3_bind_text(q, 1, x->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, x->fingerprint, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, x->pipeline_type, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, x->step, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 5, x->code, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 6, x->open);
  sqlite3_bind_int64(q, 7, x->count);
  sqlite3_bind_int64(q, 8, x->sessions_affected);
  sqlite3_bind_int64(q, 9, x->first_seen);
  sqlite3_bind_int64(q, 10, x->last_seen);
  sqlite3_bind_int64(q, 11, x->resolved_at);
  sqlite3_bind_int64(q, 12, x->reopened);
  sqlite3_bind_text(q, 13, x->last_session_id, -1, SQLITE_STATIC);
  if (x->sample_event)
    sqlite3_bind_text(q, 14, x->sample_event, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 14);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, s->db, "write issue");
}

static pt_status sq_issue_session_add(pt_store *st, const char *issue_id, const char *sid,
                                      int64_t at, int *is_new, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_ISSUE_SESSION_INSERT];
  sqlite3_bind_text(q, 1, issue_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, at);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return sq_db_fail(err, s->db, "write issue session");
  *is_new = sqlite3_changes(s->db) > 0;
  if (*is_new) return PT_OK;
  q = s->st[W_ISSUE_SESSION_TOUCH];
  sqlite3_bind_text(q, 1, issue_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, at);
  rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, s->db, "write issue session");
}

static pt_status sq_read_issue(pt_reader *rb, const char *id, pt_issue *out, pt_error *err) {
  sreader *r = (sreader *)rb;
  return one_issue(r->db, r->st[R_ISSUE], id, out, err);
}

static pt_status sq_read_issues(pt_reader *rb, int open, const char *ptype, int64_t before_ms,
                                const char *before_id, int64_t limit, pt_issue_cb cb, void *ctx,
                                pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[before_id ? R_ISSUES_AFTER : R_ISSUES_FIRST];
  sqlite3_bind_int(q, 1, open);
  if (ptype)
    sqlite3_bind_text(q, 2, ptype, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 2);
  sqlite3_bind_int64(q, 3, limit > 0 ? limit : -1);
  if (before_id) {
    sqlite3_bind_int64(q, 4, before_ms);
    sqlite3_bind_text(q, 5, before_id, -1, SQLITE_STATIC);
  }
  int rc;
  pt_status st = PT_OK;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    pt_issue x;
    st = sq_row_issue(q, &x, err);
    int stop = st != PT_OK || cb(ctx, &x);
    pt_issue_cleanup(&x);
    if (stop) break;
  }
  if (st == PT_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
    st = sq_db_fail(err, r->db, "read issues");
  sqlite3_reset(q);
  return st;
}

/* Steps q (bound) over issue sessions into cb. */
static pt_status issue_session_rows(sreader *r, sqlite3_stmt *q, pt_issue_session_cb cb, void *ctx,
                                    pt_error *err) {
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    if (cb(ctx, sq_col_text(q, 0), sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2))) break;
  pt_status st =
      rc == SQLITE_ROW || rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, r->db, "read issue sessions");
  sqlite3_reset(q);
  return st;
}

static pt_status sq_read_issue_sessions(pt_reader *rb, const char *issue_id, int64_t before_ms,
                                        int64_t limit, pt_issue_session_cb cb, void *ctx,
                                        pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_ISSUE_SESSIONS];
  sqlite3_bind_text(q, 1, issue_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, limit > 0 ? limit : -1);
  sqlite3_bind_int64(q, 3, before_ms);
  return issue_session_rows(r, q, cb, ctx, err);
}

static pt_status sq_read_issue_sessions_from(pt_reader *rb, const char *issue_id, const char *after,
                                             int64_t limit, pt_issue_session_cb cb, void *ctx,
                                             pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_ISSUE_SESSIONS_FROM];
  sqlite3_bind_text(q, 1, issue_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, after ? after : "", -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, limit > 0 ? limit : -1);
  return issue_session_rows(r, q, cb, ctx, err);
}

/* ---- the webhook outbox --------------------------------------------------------- */

static pt_status sq_outbox_add(pt_store *st, const char *issue_id, const char *action, int64_t at,
                               int64_t due_at, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[strcmp(action, "updated") == 0 ? W_OUTBOX_ADD_COALESCED : W_OUTBOX_ADD];
  sqlite3_bind_text(q, 1, issue_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, action, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, at);
  sqlite3_bind_int64(q, 4, due_at);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, s->db, "queue webhook");
}

static pt_status sq_outbox_claim(pt_store *st, int64_t id, int64_t now, int64_t until, int *claimed,
                                 pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_OUTBOX_CLAIM];
  sqlite3_bind_int64(q, 1, id);
  sqlite3_bind_int64(q, 2, until);
  sqlite3_bind_int64(q, 3, now);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return sq_db_fail(err, s->db, "claim webhook");
  *claimed = sqlite3_changes(s->db) == 1;
  return PT_OK;
}

static pt_status sq_outbox_done(pt_store *st, int64_t id, int ok, int64_t next_at, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[ok ? W_OUTBOX_DELETE : W_OUTBOX_RESCHEDULE];
  sqlite3_bind_int64(q, 1, id);
  if (!ok) sqlite3_bind_int64(q, 2, next_at);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, s->db, "update webhook");
}

static pt_status sq_read_outbox_due(pt_reader *rb, int64_t now, int64_t limit, pt_outbox *out,
                                    size_t *n, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_OUTBOX_DUE];
  sqlite3_bind_int64(q, 1, now);
  sqlite3_bind_int64(q, 2, limit);
  *n = 0;
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW && (int64_t)*n < limit) {
    pt_outbox *o = &out[(*n)++];
    memset(o, 0, sizeof *o);
    o->id = sqlite3_column_int64(q, 0);
    snprintf(o->issue_id, sizeof o->issue_id, "%s", sq_col_text(q, 1));
    snprintf(o->action, sizeof o->action, "%s", sq_col_text(q, 2));
    o->created_at = sqlite3_column_int64(q, 3);
    o->next_at = sqlite3_column_int64(q, 4);
    o->attempts = sqlite3_column_int(q, 5);
  }
  pt_status st =
      rc == SQLITE_ROW || rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, r->db, "read outbox");
  sqlite3_reset(q);
  return st;
}

static pt_status sq_read_outbox_count(pt_reader *rb, int64_t *out, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_OUTBOX_COUNT];
  int rc = sqlite3_step(q);
  *out = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
  sqlite3_reset(q);
  return rc == SQLITE_ROW ? PT_OK : sq_db_fail(err, r->db, "count outbox");
}

const pt_store_issue_methods pt__sqlite_issue_methods = PT_STORE_ISSUE_METHODS(sq);
