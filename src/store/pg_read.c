/* pg_read.c - the PostgreSQL backend's readers: a pool of connections, each
 * reader one REPEATABLE READ READ ONLY transaction (every read of a request
 * sees the same committed state, as on SQLite), begun with its first read
 * in the same round trip; long listings are read a page at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "pg_store.h"

#define PAGE 1000

static pt_status oom(pt_error *err) {
  return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}

void pg_reader_free(pgreader *r) {
  pg_disconnect(&r->k);
  free(r);
}

pt_status pg_reader_open(pt_store *st, pt_reader **out, pt_error *err) {
  pgstore *s = (pgstore *)st;
  *out = NULL;
  pthread_mutex_lock(&s->pool_lock);
  pgreader *r = s->pool;
  if (r) s->pool = r->next;
  pthread_mutex_unlock(&s->pool_lock);
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return oom(err);
    r->base.store = st;
    pt_status rc = pg_connect(s->conninfo, &r->k, err);
    if (rc) {
      free(r);
      return rc;
    }
  }
  r->in_tx = 0;
  r->next = NULL;
  *out = &r->base;
  return PT_OK;
}

void pg_reader_close(pt_reader *rb) {
  if (!rb) return;
  pgreader *r = (pgreader *)rb;
  pgstore *s = (pgstore *)rb->store;
  if (r->in_tx && !r->k.broken) {
    PGresult *res = PQexec(r->k.c, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) r->k.broken = 1;
    PQclear(res);
  }
  if (r->k.broken || PQstatus(r->k.c) != CONNECTION_OK) {
    pg_reader_free(r);
    return;
  }
  pthread_mutex_lock(&s->pool_lock);
  r->next = s->pool;
  s->pool = r;
  pthread_mutex_unlock(&s->pool_lock);
}

pt_status pg_read(pgreader *r, int stmt, int n, const char *const *v, PGresult **res,
                  const char *what, pt_error *err) {
  pgstore *s = (pgstore *)r->base.store;
  *res = NULL;
  for (int attempt = 0;; attempt++) {
    pgq q[2];
    int m = 0, first = !r->in_tx;
    if (first) q[m++] = (pgq){.stmt = -1, .sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"};
    q[m++] = (pgq){.stmt = stmt, .n = n, .v = v};
    pt_status rc = pg_pipeline(&r->k, q, m, what, err);
    if (rc == PT_OK) {
      r->in_tx = 1;
      if (first) PQclear(q[0].res);
      *res = q[m - 1].res;
      return PT_OK;
    }
    if (!r->k.broken) {
      r->in_tx = 1; /* begun, and failed: close ends it */
      return rc;
    }
    /* a pooled connection the database dropped (a restart): nothing was
     * read yet, so a fresh one serves the same transaction */
    if (!first || attempt > 0) return rc;
    pg_disconnect(&r->k);
    if ((rc = pg_connect(s->conninfo, &r->k, err))) {
      r->k.broken = 1;
      return rc;
    }
  }
}

static const char *i64s(char *buf, int64_t v) {
  snprintf(buf, 24, "%lld", (long long)v);
  return buf;
}

pt_status pg_get_session(pg_run_fn run, void *on, const char *sid, pt_session *out, pt_error *err) {
  const char *v[1] = {sid};
  PGresult *r = NULL;
  pt_status rc = run(on, Q_SESSION_GET, 1, v, &r, "read session", err);
  if (rc == PT_OK && PQntuples(r) == 1) {
    rc = pg_row_session(r, 0, 1, sid, out, err);
  } else {
    pt_session_init(out, sid, "");
    if (rc == PT_OK) rc = PT_ENOTFOUND;
  }
  PQclear(r);
  return rc;
}

pt_status pg_events_paged(pg_run_fn run, void *on, const char *sid, int64_t from, int64_t to,
                          pt_event_cb ecb, pt_sid_cb icb, void *ctx, pt_error *err) {
  pt_status rc = PT_OK;
  int stop = 0;
  while (rc == PT_OK && !stop && from < to) {
    char f[24], t[24], l[24];
    const char *v[4] = {sid, i64s(f, from), i64s(t, to), i64s(l, PAGE)};
    PGresult *r;
    if ((rc = run(on, icb ? Q_EVENT_IDS : Q_EVENTS_RANGE, 4, v, &r, "read events", err))) break;
    int n = PQntuples(r);
    for (int i = 0; i < n && !stop; i++) {
      if (icb) {
        stop = icb(ctx, pg_text(r, i, 0));
        from = pg_i64(r, i, 1) + 1;
        continue;
      }
      pt_event *e = pg_row_event(r, i);
      if (!e) {
        rc = oom(err);
        break;
      }
      from = e->seq + 1;
      stop = ecb(ctx, e);
      pt_event_free(e);
    }
    PQclear(r);
    if (n < PAGE) break;
  }
  return rc;
}

static pt_status run_reader(void *on, int stmt, int n, const char *const *v, PGresult **res,
                            const char *what, pt_error *err) {
  return pg_read(on, stmt, n, v, res, what, err);
}

pt_status pg_read_session(pt_reader *rb, const char *sid, pt_session *out, pt_error *err) {
  return pg_get_session(run_reader, rb, sid, out, err);
}

pt_status pg_read_events(pt_reader *rb, const char *sid, int64_t from, int64_t to, pt_event_cb cb,
                         void *ctx, pt_error *err) {
  return pg_events_paged(run_reader, rb, sid, from, to, cb, NULL, ctx, err);
}

static pt_status snapshot_rows(pgreader *r, int stmt, int n, const char *const *v, pt_snap_cb cb,
                               void *ctx, pt_error *err) {
  PGresult *res;
  pt_status rc = pg_read(r, stmt, n, v, &res, "read snapshots", err);
  if (rc) return rc;
  for (int i = 0; i < PQntuples(res); i++) {
    pt_snap x;
    pg_row_snap(res, i, &x);
    if (cb(ctx, &x)) break;
  }
  PQclear(res);
  return PT_OK;
}

pt_status pg_read_snapshots(pt_reader *rb, const char *sid, int64_t before_n, int64_t limit,
                            pt_snap_cb cb, void *ctx, pt_error *err) {
  char l[24], b[24];
  /* LIMIT NULL: all */
  const char *v[3] = {sid, limit > 0 ? i64s(l, limit) : NULL, i64s(b, before_n)};
  return snapshot_rows((pgreader *)rb, before_n >= 0 ? Q_SNAPS_BEFORE : Q_SNAPS_FIRST,
                       before_n >= 0 ? 3 : 2, v, cb, ctx, err);
}

pt_status pg_read_snapshots_from(pt_reader *rb, const char *sid, int64_t from_n, int64_t limit,
                                 pt_snap_cb cb, void *ctx, pt_error *err) {
  char f[24], l[24];
  const char *v[3] = {sid, i64s(f, from_n), limit > 0 ? i64s(l, limit) : NULL};
  return snapshot_rows((pgreader *)rb, Q_SNAPS_FROM, 3, v, cb, ctx, err);
}

/* Full rows in activity order, a page at a time (the stall sweep reads
 * without a limit and stops when it has seen enough). */
pt_status pg_list_sessions_by(pt_reader *rb, const char *ptype, int scode, int64_t after_ms,
                              int64_t before_ms, const char *before_id, int64_t limit,
                              pt_session_cb cb, void *ctx, pt_error *err) {
  pt_status rc = PT_OK;
  /* no cursor: before every row ("~" sorts after every id character) */
  char cursor_id[PT_ID_MAX + 1] = "~";
  if (before_id) snprintf(cursor_id, sizeof cursor_id, "%s", before_id);
  if (!before_id) before_ms = INT64_MAX;
  int stmt = ptype ? (scode ? Q_LIST_BOTH : Q_LIST_TYPE) : (scode ? Q_LIST_STATE : Q_LIST_ALL);
  int64_t left = limit > 0 ? limit : INT64_MAX;
  int stop = 0;
  while (rc == PT_OK && !stop && left > 0) {
    int64_t page = left < PAGE ? left : PAGE;
    char l[24], b[24], a[24], c[24];
    const char *v[6] = {i64s(l, page),
                        i64s(b, before_ms),
                        cursor_id,
                        i64s(a, after_ms),
                        ptype ? ptype : i64s(c, scode),
                        i64s(c, scode)};
    PGresult *r;
    rc = pg_read((pgreader *)rb, stmt, 4 + !!ptype + !!scode, v, &r, "list sessions", err);
    if (rc) break;
    int n = PQntuples(r);
    for (int i = 0; i < n && !stop && rc == PT_OK; i++) {
      pt_session x;
      const char *sid = pg_text(r, i, 0);
      rc = pg_row_session(r, i, 1, sid, &x, err);
      if (rc == PT_OK) stop = cb(ctx, &x, x.updated_at);
      before_ms = x.updated_at;
      snprintf(cursor_id, sizeof cursor_id, "%s", sid);
      pt_session_cleanup(&x);
      left--;
    }
    PQclear(r);
    if (n < page) break;
  }
  return rc;
}

pt_status pg_list_sessions(pt_reader *rb, const char *ptype, int64_t before_ms,
                           const char *before_id, int64_t limit, pt_session_cb cb, void *ctx,
                           pt_error *err) {
  return pg_list_sessions_by(rb, ptype, 0, INT64_MIN, before_ms, before_id, limit, cb, ctx, err);
}

pt_status pg_read_mark(pt_reader *rb, const char *key, char *out, size_t cap, pt_error *err) {
  const char *v[1] = {key};
  PGresult *r;
  pt_status rc = pg_read((pgreader *)rb, Q_MARK, 1, v, &r, "read mark", err);
  if (rc) return rc;
  if (PQntuples(r) > 0)
    snprintf(out, cap, "%s", pg_text(r, 0, 0));
  else
    rc = PT_ENOTFOUND;
  PQclear(r);
  return rc;
}

/* The ids of a result, each to cb until it says stop; frees the result. */
static pt_status id_rows(PGresult *r, pt_sid_cb cb, void *ctx) {
  for (int i = 0; i < PQntuples(r); i++)
    if (cb(ctx, pg_text(r, i, 0))) break;
  PQclear(r);
  return PT_OK;
}

pt_status pg_list_session_ids_prefix(pt_reader *rb, const char *prefix, const char *after_id,
                                     int64_t limit, pt_sid_cb cb, void *ctx, pt_error *err) {
  char l[24];
  const char *v[3] = {prefix, after_id ? after_id : "", limit > 0 ? i64s(l, limit) : NULL};
  PGresult *r;
  pt_status rc = pg_read((pgreader *)rb, Q_IDS_PREFIX, 3, v, &r, "search sessions", err);
  return rc ? rc : id_rows(r, cb, ctx);
}

pt_status pg_list_session_ids(pt_reader *rb, const char *after_id, int64_t limit, pt_sid_cb cb,
                              void *ctx, pt_error *err) {
  char l[24];
  const char *v[2] = {after_id ? after_id : "", limit > 0 ? i64s(l, limit) : NULL};
  PGresult *r;
  pt_status rc = pg_read((pgreader *)rb, Q_IDS, 2, v, &r, "list sessions", err);
  return rc ? rc : id_rows(r, cb, ctx);
}
