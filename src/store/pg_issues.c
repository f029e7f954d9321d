/* pg_issues.c - the PostgreSQL backend's issues (docs/concepts.md#issues),
 * the sessions each affected, and the webhook outbox.
 *
 * An issue is counted by read, change, write back: that is sound with
 * several servers because the issue's advisory lock is held from the read
 * to the commit (taken at prepare when the group names the issue, else
 * here, before the read). The sessions an issue affected are added with
 * one upsert that says whether the session is new to it, so a stalled
 * session counts once however many servers sweep. */
#include <stdio.h>
#include <string.h>

#include "../core/error.h"
#include "pg_store.h"

static const char *i64s(char *buf, int64_t v) {
  snprintf(buf, 24, "%lld", (long long)v);
  return buf;
}

/* Inside the write transaction: a statement that returns nothing we keep. */
static pt_status wrun(pgstore *s, int stmt, int n, const char *const *v, PGresult **keep,
                      const char *what, pt_error *err) {
  pgq q = {.stmt = stmt, .n = n, .v = v};
  /* the writer's pipeline adds the BEGIN when this is the first statement */
  pt_status rc = pg_exec_tx(s, &q, what, err);
  if (keep)
    *keep = q.res;
  else
    PQclear(q.res);
  return rc;
}

static pt_status issue_lock(pgstore *s, const char *id, pt_error *err) {
  char key[64];
  snprintf(key, sizeof key, "i:%s", id);
  return pg_lock(s, key, err);
}

static pt_status pg_issue_get(pt_store *st, const char *id, pt_issue *out, pt_error *err) {
  pgstore *s = (pgstore *)st;
  memset(out, 0, sizeof *out);
  pt_status rc = issue_lock(s, id, err);
  const char *v[1] = {id};
  PGresult *r = NULL;
  if (rc == PT_OK) rc = wrun(s, Q_ISSUE_GET, 1, v, &r, "read issue", err);
  if (rc == PT_OK) rc = PQntuples(r) ? pg_row_issue(r, 0, out, err) : PT_ENOTFOUND;
  PQclear(r);
  return rc;
}

static pt_status pg_issue_put(pt_store *st, const pt_issue *x, int is_new, pt_error *err) {
  (void)is_new; /* the upsert serves both, under the issue's lock */
  pgstore *s = (pgstore *)st;
  pt_status rc = issue_lock(s, x->id, err);
  char open[24], count[24], aff[24], first[24], last[24], res[24], reo[24];
  const char *v[14] = {x->id,
                       x->fingerprint,
                       x->pipeline_type,
                       x->step,
                       x->code,
                       i64s(open, x->open),
                       i64s(count, x->count),
                       i64s(aff, x->sessions_affected),
                       i64s(first, x->first_seen),
                       i64s(last, x->last_seen),
                       i64s(res, x->resolved_at),
                       i64s(reo, x->reopened),
                       x->last_session_id,
                       x->sample_event};
  if (rc == PT_OK) rc = wrun(s, Q_ISSUE_PUT, 14, v, NULL, "write issue", err);
  char key[64];
  snprintf(key, sizeof key, "i|%s", x->id);
  if (rc == PT_OK && pgset_put(&s->notify, key, NULL))
    rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return rc;
}

static pt_status pg_issue_session_add(pt_store *st, const char *issue_id, const char *sid,
                                      int64_t at, int *is_new, pt_error *err) {
  pgstore *s = (pgstore *)st;
  *is_new = 0;
  pt_status rc = issue_lock(s, issue_id, err);
  char a[24];
  const char *v[3] = {issue_id, sid, i64s(a, at)};
  PGresult *r = NULL;
  if (rc == PT_OK) rc = wrun(s, Q_ISSUE_SESSION_ADD, 3, v, &r, "write issue session", err);
  if (rc == PT_OK) *is_new = PQntuples(r) == 1 && strcmp(pg_text(r, 0, 0), "t") == 0;
  PQclear(r);
  return rc;
}

static pt_status one_issue(pt_reader *rb, const char *id, pt_issue *out, pt_error *err) {
  memset(out, 0, sizeof *out);
  const char *v[1] = {id};
  PGresult *r;
  pt_status rc = pg_read((pgreader *)rb, Q_ISSUE_GET, 1, v, &r, "read issue", err);
  if (rc) return rc;
  rc = PQntuples(r) ? pg_row_issue(r, 0, out, err) : PT_ENOTFOUND;
  PQclear(r);
  return rc;
}

static pt_status pg_read_issue(pt_reader *rb, const char *id, pt_issue *out, pt_error *err) {
  return one_issue(rb, id, out, err);
}

static pt_status pg_read_issues(pt_reader *rb, int open, const char *ptype, int64_t before_ms,
                                const char *before_id, int64_t limit, pt_issue_cb cb, void *ctx,
                                pt_error *err) {
  char o[24], l[24], b[24];
  const char *v[5] = {i64s(o, open), ptype, limit > 0 ? i64s(l, limit) : NULL, i64s(b, before_ms),
                      before_id};
  PGresult *r;
  pt_status rc = pg_read((pgreader *)rb, before_id ? Q_ISSUES_AFTER : Q_ISSUES_FIRST,
                         before_id ? 5 : 3, v, &r, "read issues", err);
  if (rc) return rc;
  for (int i = 0; i < PQntuples(r) && rc == PT_OK; i++) {
    pt_issue x;
    rc = pg_row_issue(r, i, &x, err);
    int stop = rc != PT_OK || cb(ctx, &x);
    pt_issue_cleanup(&x);
    if (stop) break;
  }
  PQclear(r);
  return rc;
}

static pt_status issue_session_rows(pt_reader *rb, int stmt, int n, const char *const *v,
                                    pt_issue_session_cb cb, void *ctx, pt_error *err) {
  PGresult *r;
  pt_status rc = pg_read((pgreader *)rb, stmt, n, v, &r, "read issue sessions", err);
  if (rc) return rc;
  for (int i = 0; i < PQntuples(r); i++)
    if (cb(ctx, pg_text(r, i, 0), pg_i64(r, i, 1), pg_i64(r, i, 2))) break;
  PQclear(r);
  return PT_OK;
}

static pt_status pg_read_issue_sessions(pt_reader *rb, const char *issue_id, int64_t before_ms,
                                        int64_t limit, pt_issue_session_cb cb, void *ctx,
                                        pt_error *err) {
  char l[24], b[24];
  const char *v[3] = {issue_id, limit > 0 ? i64s(l, limit) : NULL, i64s(b, before_ms)};
  return issue_session_rows(rb, Q_ISSUE_SESSIONS, 3, v, cb, ctx, err);
}

static pt_status pg_read_issue_sessions_from(pt_reader *rb, const char *issue_id, const char *after,
                                             int64_t limit, pt_issue_session_cb cb, void *ctx,
                                             pt_error *err) {
  char l[24];
  const char *v[3] = {issue_id, after ? after : "", limit > 0 ? i64s(l, limit) : NULL};
  return issue_session_rows(rb, Q_ISSUE_SESSIONS_FROM, 3, v, cb, ctx, err);
}

/* ---- the webhook outbox ---------------------------------------------------------- */

static pt_status pg_outbox_add(pt_store *st, const char *issue_id, const char *action, int64_t at,
                               int64_t due_at, pt_error *err) {
  char a[24], d[24];
  const char *v[4] = {issue_id, action, i64s(a, at), i64s(d, due_at)};
  return wrun((pgstore *)st, strcmp(action, "updated") == 0 ? Q_OUTBOX_ADD_COALESCED : Q_OUTBOX_ADD,
              4, v, NULL, "queue webhook", err);
}

static pt_status pg_outbox_claim(pt_store *st, int64_t id, int64_t now, int64_t until, int *claimed,
                                 pt_error *err) {
  char i[24], u[24], n[24];
  const char *v[3] = {i64s(i, id), i64s(u, until), i64s(n, now)};
  PGresult *r = NULL;
  pt_status rc = wrun((pgstore *)st, Q_OUTBOX_CLAIM, 3, v, &r, "claim webhook", err);
  *claimed = rc == PT_OK && strcmp(PQcmdTuples(r), "1") == 0;
  PQclear(r);
  return rc;
}

static pt_status pg_outbox_done(pt_store *st, int64_t id, int ok, int64_t next_at, pt_error *err) {
  char i[24], n[24];
  const char *v[2] = {i64s(i, id), i64s(n, next_at)};
  return wrun((pgstore *)st, ok ? Q_OUTBOX_DELETE : Q_OUTBOX_RESCHEDULE, ok ? 1 : 2, v, NULL,
              "update webhook", err);
}

static pt_status pg_read_outbox_due(pt_reader *rb, int64_t now, int64_t limit, pt_outbox *out,
                                    size_t *n, pt_error *err) {
  *n = 0;
  char a[24], l[24];
  const char *v[2] = {i64s(a, now), i64s(l, limit)};
  PGresult *r;
  pt_status rc = pg_read((pgreader *)rb, Q_OUTBOX_DUE, 2, v, &r, "read outbox", err);
  if (rc) return rc;
  for (int i = 0; i < PQntuples(r) && (int64_t)*n < limit; i++) {
    pt_outbox *o = &out[(*n)++];
    memset(o, 0, sizeof *o);
    o->id = pg_i64(r, i, 0);
    snprintf(o->issue_id, sizeof o->issue_id, "%s", pg_text(r, i, 1));
    snprintf(o->action, sizeof o->action, "%s", pg_text(r, i, 2));
    o->created_at = pg_i64(r, i, 3);
    o->next_at = pg_i64(r, i, 4);
    o->attempts = (int)pg_i64(r, i, 5);
  }
  PQclear(r);
  return PT_OK;
}

static pt_status pg_read_outbox_count(pt_reader *rb, int64_t *out, pt_error *err) {
  PGresult *r;
  *out = 0;
  pt_status rc = pg_read((pgreader *)rb, Q_OUTBOX_COUNT, 0, NULL, &r, "count outbox", err);
  if (rc) return rc;
  *out = pg_i64(r, 0, 0);
  PQclear(r);
  return PT_OK;
}

const pt_store_issue_methods pt__pg_issue_methods = PT_STORE_ISSUE_METHODS(pg);
