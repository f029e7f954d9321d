/* sqlite_read.c - the SQLite backend's reads: the pool of reader
 * connections and what they read, and the reads the writer makes inside its
 * transaction with the same code (a session folded past its lagging row, a
 * range of events). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "sqlite_store.h"

/* The "_N" suffix of a registry id reg_<session>_<ms>[_N]. */
static int id_suffix(const char *id, const char *sid) {
  size_t skip = 4 + strlen(sid) + 1; /* "reg_" sid "_" */
  if (strlen(id) < skip) return 0;   /* damaged: no suffix (checked before pointing past it) */
  const char *p = id + skip;
  while (*p >= '0' && *p <= '9') p++;
  return *p == '_' ? (int)strtol(p + 1, NULL, 10) : 0;
}

/* Brings an aggregate read from its (possibly lagging) row up to date: the
 * events after the row's event_count, and the newest snapshot's id state. */
static pt_status fold(sqlite3 *db, sqlite3_stmt *evq, sqlite3_stmt *snq, pt_session *s,
                      pt_error *err) {
  sqlite3_bind_text(evq, 1, s->session_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(evq, 2, s->event_count);
  sqlite3_bind_int64(evq, 3, INT64_MAX);
  pt_status st = PT_OK;
  int rc;
  while ((rc = sqlite3_step(evq)) == SQLITE_ROW) {
    pt_event *e = sq_row_event(evq);
    /* a gap is damage: stop, verification will name it */
    int apply = e && e->seq == s->event_count;
    if (!e || (apply && pt_session_apply(s, e)))
      st = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    pt_event_free(e);
    if (!apply || st) break;
  }
  if (st == PT_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) st = sq_db_fail(err, db, "fold events");
  sqlite3_reset(evq);
  if (st) return st;
  /* the newest entry (one index probe): entries made since the row was
   * written, by snapshot calls without events, are counted in */
  sqlite3_bind_text(snq, 1, s->session_id, -1, SQLITE_STATIC);
  rc = sqlite3_step(snq);
  if (rc == SQLITE_ROW) {
    int64_t at = sqlite3_column_int64(snq, 0);
    int suffix = id_suffix(sq_col_text(snq, 1), s->session_id);
    int64_t n = sqlite3_column_int64(snq, 2);
    if (at > s->snap_ms || (at == s->snap_ms && suffix > s->snap_suffix)) {
      s->snap_ms = at;
      s->snap_suffix = suffix;
    }
    if (n + 1 > s->snapshot_count) s->snapshot_count = n + 1;
  } else if (rc != SQLITE_DONE) {
    st = sq_db_fail(err, db, "fold snapshots");
  }
  sqlite3_reset(snq);
  return st;
}

pt_status sq_get_session(sqlite3 *db, sqlite3_stmt *q, sqlite3_stmt *evq, sqlite3_stmt *snq,
                         const char *sid, pt_session *out, int64_t *row_count, pt_error *err) {
  sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  pt_status st;
  if (rc == SQLITE_ROW)
    st = sq_row_session(q, sid, out, err);
  else if (rc == SQLITE_DONE) {
    pt_session_init(out, sid, "");
    st = PT_ENOTFOUND;
  } else {
    pt_session_init(out, sid, "");
    st = sq_db_fail(err, db, "read session");
  }
  sqlite3_reset(q);
  if (st == PT_OK && row_count) *row_count = out->event_count;
  if (st == PT_OK) st = fold(db, evq, snq, out, err);
  return st;
}

/* Runs a query of events (session, from seq, to seq: W_EVENTS_FROM or
 * R_EVENTS, the same columns) on db, handing each row to cb. */
static pt_status events_range(sqlite3 *db, sqlite3_stmt *q, const char *sid, int64_t from,
                              int64_t to, pt_event_cb cb, void *ctx, pt_error *err) {
  sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, from);
  sqlite3_bind_int64(q, 3, to);
  pt_status st = PT_OK;
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    pt_event *e = sq_row_event(q);
    if (!e) {
      st = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
      break;
    }
    int stop = cb(ctx, e);
    pt_event_free(e);
    if (stop) break;
  }
  if (st == PT_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) st = sq_db_fail(err, db, "read events");
  sqlite3_reset(q);
  return st;
}

pt_status sq_tx_event_ids(pt_store *st, const char *sid, int64_t from, int64_t to, pt_sid_cb cb,
                          void *ctx, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_EVENT_IDS];
  sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, from);
  sqlite3_bind_int64(q, 3, to);
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    if (cb(ctx, (const char *)sqlite3_column_text(q, 0))) break;
  pt_status st2 =
      rc == SQLITE_ROW || rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, s->db, "event ids");
  sqlite3_reset(q);
  return st2;
}

pt_status sq_tx_read_events(pt_store *st, const char *sid, int64_t from, int64_t to, pt_event_cb cb,
                            void *ctx, pt_error *err) {
  sstore *s = (sstore *)st;
  return events_range(s->db, s->st[W_EVENTS_FROM], sid, from, to, cb, ctx, err);
}

void sq_reader_free(sreader *r) {
  for (int i = 0; i < R_COUNT; i++) sqlite3_finalize(r->st[i]);
  sqlite3_close(r->db);
  free(r);
}

pt_status sq_reader_open(pt_store *st, pt_reader **out, pt_error *err) {
  sstore *s = (sstore *)st;
  *out = NULL;
  pthread_mutex_lock(&s->pool_lock);
  sreader *r = s->pool;
  if (r) s->pool = r->next;
  pthread_mutex_unlock(&s->pool_lock);
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    r->base.store = st;
    pt_status rc = sq_open_conn(s->path, &r->db, err);
    for (int i = 0; rc == PT_OK && i < R_COUNT; i++)
      if (sqlite3_prepare_v3(r->db, sq_rsql[i], -1, SQLITE_PREPARE_PERSISTENT, &r->st[i], NULL) !=
          SQLITE_OK)
        rc = sq_db_fail(err, r->db, "prepare");
    if (rc != PT_OK) {
      sq_reader_free(r);
      return rc;
    }
  }
  /* One read transaction for the reader's life: every read sees the same
   * committed state. */
  int brc = sqlite3_step(r->st[R_BEGIN]);
  sqlite3_reset(r->st[R_BEGIN]);
  if (brc != SQLITE_DONE) {
    pt_status rc = sq_db_fail(err, r->db, "begin read");
    sq_reader_free(r);
    return rc;
  }
  *out = &r->base;
  return PT_OK;
}

void sq_reader_close(pt_reader *rb) {
  if (!rb) return;
  sreader *r = (sreader *)rb;
  sstore *s = (sstore *)rb->store;
  sqlite3_step(r->st[R_COMMIT]);
  sqlite3_reset(r->st[R_COMMIT]);
  pthread_mutex_lock(&s->pool_lock);
  r->next = s->pool;
  s->pool = r;
  pthread_mutex_unlock(&s->pool_lock);
}

pt_status sq_read_session(pt_reader *rb, const char *sid, pt_session *out, pt_error *err) {
  sreader *r = (sreader *)rb;
  return sq_get_session(r->db, r->st[R_SESSION], r->st[R_EVENTS], r->st[R_LATEST_SNAP], sid, out,
                        NULL, err);
}

pt_status sq_read_events(pt_reader *rb, const char *sid, int64_t from, int64_t to, pt_event_cb cb,
                         void *ctx, pt_error *err) {
  sreader *r = (sreader *)rb;
  return events_range(r->db, r->st[R_EVENTS], sid, from, to, cb, ctx, err);
}

/* Steps a bound snapshot query (the columns of sq_rsql's snapshot reads), one
 * callback a row. */
static pt_status snapshot_rows(sreader *r, sqlite3_stmt *q, pt_snap_cb cb, void *ctx,
                               pt_error *err) {
  int rc;
  pt_status st = PT_OK;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    pt_snap x;
    memset(&x, 0, sizeof x);
    snprintf(x.id, sizeof x.id, "%s", sq_col_text(q, 0));
    snprintf(x.session_id, sizeof x.session_id, "%s", sq_col_text(q, 1));
    snprintf(x.pipeline_type, sizeof x.pipeline_type, "%s", sq_col_text(q, 2));
    snprintf(x.chain_hash, sizeof x.chain_hash, "%s", sq_col_text(q, 3));
    x.event_count = sqlite3_column_int64(q, 4);
    snprintf(x.last_event_id, sizeof x.last_event_id, "%s", sq_col_text(q, 5));
    x.completed = sqlite3_column_int(q, 6);
    x.total = sqlite3_column_int(q, 7);
    x.percent = sqlite3_column_int(q, 8);
    snprintf(x.state, sizeof x.state, "%s", sq_col_text(q, 9));
    x.is_valid = sqlite3_column_int(q, 10);
    x.created_at = sqlite3_column_int64(q, 11);
    /* Borrowed for the callback: the row stays valid until the next step. */
    x.notes = (char *)sqlite3_column_text(q, 12);
    x.signature = (char *)sqlite3_column_text(q, 13);
    x.n = sqlite3_column_int64(q, 14);
    if (cb(ctx, &x)) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) st = sq_db_fail(err, r->db, "read snapshots");
  sqlite3_reset(q);
  return st;
}

pt_status sq_read_snapshots(pt_reader *rb, const char *sid, int64_t before_n, int64_t limit,
                            pt_snap_cb cb, void *ctx, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[before_n >= 0 ? R_SNAPS_AFTER : R_SNAPS_FIRST];
  sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, limit > 0 ? limit : -1);
  if (before_n >= 0) sqlite3_bind_int64(q, 3, before_n);
  return snapshot_rows(r, q, cb, ctx, err);
}

pt_status sq_read_snapshots_from(pt_reader *rb, const char *sid, int64_t from_n, int64_t limit,
                                 pt_snap_cb cb, void *ctx, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_SNAPS_FROM];
  sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, from_n);
  sqlite3_bind_int64(q, 3, limit > 0 ? limit : -1);
  return snapshot_rows(r, q, cb, ctx, err);
}

/* The ids a bound statement gives, each to cb until it says stop. */
static pt_status id_rows(sreader *r, sqlite3_stmt *q, pt_sid_cb cb, void *ctx, const char *what,
                         pt_error *err) {
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    if (cb(ctx, sq_col_text(q, 0))) break;
  pt_status st = rc == SQLITE_ROW || rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, r->db, what);
  sqlite3_reset(q);
  return st;
}

pt_status sq_list_session_ids(pt_reader *rb, const char *after_id, int64_t limit, pt_sid_cb cb,
                              void *ctx, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_IDS];
  sqlite3_bind_text(q, 1, after_id ? after_id : "", -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, limit > 0 ? limit : -1);
  return id_rows(r, q, cb, ctx, "list sessions", err);
}

pt_status sq_list_session_ids_prefix(pt_reader *rb, const char *prefix, const char *after_id,
                                     int64_t limit, pt_sid_cb cb, void *ctx, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_IDS_PREFIX];
  sqlite3_bind_text(q, 1, prefix, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, after_id ? after_id : "", -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, limit > 0 ? limit : -1);
  return id_rows(r, q, cb, ctx, "search sessions", err);
}

/* Rows in activity order; each session is read with read_session, which
 * folds in events past a lagging row. The order is the rows' own, so it may
 * trail the newest activity by the write-behind delay (FLUSH_MS). */
pt_status sq_list_sessions_by(pt_reader *rb, const char *ptype, int scode, int64_t after_ms,
                              int64_t before_ms, const char *before_id, int64_t limit,
                              pt_session_cb cb, void *ctx, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q =
      r->st[ptype ? (scode ? R_LIST_BOTH : R_LIST_TYPE) : (scode ? R_LIST_STATE : R_LIST_ALL)];
  if (ptype) sqlite3_bind_text(q, 1, ptype, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, limit > 0 ? limit : -1);
  /* no cursor: before every row ("~" sorts after every id character) */
  sqlite3_bind_int64(q, 3, before_id ? before_ms : INT64_MAX);
  sqlite3_bind_text(q, 4, before_id ? before_id : "~", -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 5, after_ms);
  if (scode) sqlite3_bind_int(q, 6, scode);
  pt_status st = PT_OK;
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    char sid[PT_ID_MAX + 1];
    snprintf(sid, sizeof sid, "%s", sq_col_text(q, 0));
    int64_t key = sqlite3_column_int64(q, 1);
    pt_session s;
    pt_session_init(&s, sid, "");
    st = sq_read_session(rb, sid, &s, err);
    int stop = st == PT_OK ? cb(ctx, &s, key) : 1;
    pt_session_cleanup(&s);
    if (stop) break;
  }
  if (st == PT_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
    st = sq_db_fail(err, r->db, "list sessions");
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  return st;
}

pt_status sq_list_sessions(pt_reader *rb, const char *ptype, int64_t before_ms,
                           const char *before_id, int64_t limit, pt_session_cb cb, void *ctx,
                           pt_error *err) {
  return sq_list_sessions_by(rb, ptype, 0, INT64_MIN, before_ms, before_id, limit, cb, ctx, err);
}

pt_status sq_read_mark(pt_reader *rb, const char *key, char *out, size_t cap, pt_error *err) {
  sreader *r = (sreader *)rb;
  sqlite3_stmt *q = r->st[R_MARK];
  sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  pt_status st = PT_OK;
  if (rc == SQLITE_ROW)
    snprintf(out, cap, "%s", sq_col_text(q, 0));
  else if (rc == SQLITE_DONE)
    st = PT_ENOTFOUND;
  else
    st = sq_db_fail(err, r->db, "read mark");
  sqlite3_reset(q);
  return st;
}
