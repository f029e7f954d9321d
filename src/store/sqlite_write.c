/* sqlite_write.c - the SQLite backend's write transaction: begin, commit and
 * rollback, the appends, redaction and its scrub, and the session rows the
 * commits write behind. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../core/error.h"
#include "sqlite_store.h"

static void plist_clear(plist *l) {
  for (size_t i = 0; i < l->n; i++) {
    if (!l->items[i]) continue; /* moved away (plist_move) */
    pt_session_cleanup(&l->items[i]->s);
    free(l->items[i]);
  }
  l->n = 0;
  pt_map_cleanup(&l->map);
  pt_map_init(&l->map);
}

void sq_plist_free(plist *l) {
  plist_clear(l);
  free(l->items);
  l->items = NULL;
  l->cap = 0;
}

/* Records x in l (replacing what l held for the session). -1 on OOM. */
static int plist_put(plist *l, const pt_session *x, int is_new) {
  pending *p = pt_map_get(&l->map, x->session_id);
  if (p) {
    if (pt_session_assign(&p->s, x)) return -1;
    p->is_new |= is_new;
    return 0;
  }
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 64;
    pending **ni = realloc(l->items, nc * sizeof *ni);
    if (!ni) return -1;
    l->items = ni;
    l->cap = nc;
  }
  p = calloc(1, sizeof *p);
  if (!p || pt_session_copy(&p->s, x)) {
    free(p);
    return -1;
  }
  p->is_new = is_new;
  if (pt_map_put(&l->map, p->s.session_id, p)) {
    pt_session_cleanup(&p->s);
    free(p);
    return -1;
  }
  l->items[l->n++] = p;
  return 0;
}

/* Moves every aggregate of src into dst (replacing what dst held for the
 * session) without copying, and empties src. -1 on OOM: dst may then hold
 * some of them, the caller forgets it. */
static int plist_move(plist *dst, plist *src) {
  int rc = 0;
  for (size_t i = 0; i < src->n && rc == 0; i++) {
    pending *p = src->items[i];
    pending *q = pt_map_get(&dst->map, p->s.session_id);
    if (q) {
      /* the newer aggregate goes in; the older one leaves with src */
      pt_session tmp = q->s;
      q->s = p->s;
      p->s = tmp;
      q->is_new |= p->is_new;
      continue;
    }
    if (dst->n == dst->cap) {
      size_t nc = dst->cap ? dst->cap * 2 : 64;
      pending **ni = realloc(dst->items, nc * sizeof *ni);
      if (!ni) {
        rc = -1;
        break;
      }
      dst->items = ni;
      dst->cap = nc;
    }
    if (pt_map_put(&dst->map, p->s.session_id, p)) {
      rc = -1;
      break;
    }
    dst->items[dst->n++] = p;
    src->items[i] = NULL;
  }
  plist_clear(src);
  return rc;
}

void sq_rowcounts_clear(sstore *s) {
  for (size_t i = 0; i < s->nrc; i++) free(s->rcs[i]);
  s->nrc = 0;
  pt_map_cleanup(&s->rowcounts);
  pt_map_init(&s->rowcounts);
}

/* Remembers that the row of sid holds count events (best effort). */
static void rowcount_set(sstore *s, const char *sid, int64_t count) {
  rowcount *r = pt_map_get(&s->rowcounts, sid);
  if (r) {
    r->count = count;
    return;
  }
  if (s->nrc >= ROWCOUNTS_MAX) sq_rowcounts_clear(s);
  if (s->nrc == s->caprc) {
    size_t nc = s->caprc ? s->caprc * 2 : 256;
    rowcount **n = realloc(s->rcs, nc * sizeof *n);
    if (!n) return;
    s->rcs = n;
    s->caprc = nc;
  }
  r = malloc(sizeof *r);
  if (!r) return;
  r->count = count;
  snprintf(r->sid, sizeof r->sid, "%s", sid);
  if (pt_map_put(&s->rowcounts, r->sid, r)) {
    free(r);
    return;
  }
  s->rcs[s->nrc++] = r;
}

static pt_status flush_rows(sstore *s, pt_error *err);

pt_status sq_begin(pt_store *st, pt_error *err) {
  sstore *s = (sstore *)st;
  /* IMMEDIATE takes the write lock now, so what we read inside the
   * transaction cannot change under us (another process on the file). */
  if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return sq_db_fail(err, s->db, "begin");
  sqlite3_stmt *q = s->st[W_DATA_VERSION];
  int rc = sqlite3_step(q);
  int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -2;
  sqlite3_reset(q);
  /* Another connection wrote: what we remember of sessions may be older
   * than their events now, so it may no longer be served. Its rows are
   * still written (they never overwrite newer ones), then it is forgotten;
   * reads fold from the rows. */
  if (v != s->data_version && s->pending.n) {
    pt_status frc = flush_rows(s, err);
    plist_clear(&s->pending);
    if (frc) {
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
      return frc;
    }
  }
  s->data_version = v;
  return PT_OK;
}

pt_status sq_commit(pt_store *st, pt_error *err) {
  sstore *s = (sstore *)st;
  uint64_t now = pt_mono_ns();
  int flush = s->pending.n + s->staged.n >= FLUSH_MAX ||
              now - s->last_flush_ns >= (uint64_t)s->flush_ms * 1000000u;
  pt_status rc = flush ? flush_rows(s, err) : PT_OK;
  if (rc == PT_OK && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    rc = sq_db_fail(err, s->db, "commit");
  if (rc) {
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    plist_clear(&s->staged);
    sq_rowcounts_clear(s);
    return rc;
  }
  if (flush) {
    plist_clear(&s->pending);
    s->last_flush_ns = now;
  } else if (plist_move(&s->pending, &s->staged)) {
    /* cannot remember it: forget all, so nothing stale is served */
    plist_clear(&s->pending);
  }
  plist_clear(&s->staged);
  return PT_OK;
}

void sq_rollback(pt_store *st) {
  sstore *s = (sstore *)st;
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  plist_clear(&s->staged);
  sq_rowcounts_clear(s); /* rows written in it are gone */
}

pt_status sq_session_get(pt_store *st, const char *sid, pt_session *out, pt_error *err) {
  sstore *s = (sstore *)st;
  /* what this process wrote last is newer than any row */
  pending *p = pt_map_get(&s->staged.map, sid);
  if (!p) p = pt_map_get(&s->pending.map, sid);
  if (p) {
    if (pt_session_copy(out, &p->s)) {
      pt_session_init(out, sid, "");
      return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    }
    return PT_OK;
  }
  int64_t row_count = -1;
  pt_status rc = sq_get_session(s->db, s->st[W_SESSION_GET], s->st[W_EVENTS_FROM],
                                s->st[W_LATEST_SNAP], sid, out, &row_count, err);
  if (rc == PT_OK) rowcount_set(s, sid, row_count);
  return rc;
}

static pt_status write_row(sstore *s, const pt_session *x, int is_new, pt_error *err) {
  sqlite3_stmt *q = s->st[is_new ? W_SESSION_PUT : W_SESSION_UPDATE];
  char stack[512];
  pt_buf steps;
  pt_buf_init_on(&steps, stack, sizeof stack);
  pt_session_steps_encode(&steps, x);
  if (steps.failed) {
    pt_buf_cleanup(&steps);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  sqlite3_bind_text(q, 1, x->session_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, x->pipeline_type, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, x->event_count);
  sqlite3_bind_text(q, 4, x->last_link, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 5, x->last_event_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 6, x->first_ts);
  sqlite3_bind_int64(q, 7, x->last_ts);
  sqlite3_bind_int64(q, 8, x->created_at);
  sqlite3_bind_int64(q, 9, x->updated_at);
  sqlite3_bind_int64(q, 10, x->snap_ms);
  sqlite3_bind_int(q, 11, x->snap_suffix);
  sqlite3_bind_int64(q, 12, x->snapshot_count);
  sqlite3_bind_text(q, 13, steps.data, (int)steps.len, SQLITE_STATIC);
  sqlite3_bind_int(q, 14, x->scode);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  pt_buf_cleanup(&steps);
  return rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, s->db, "write session");
}

pt_status sq_session_put(pt_store *st, const pt_session *x, int is_new, pt_error *err) {
  sstore *s = (sstore *)st;
  /* a new session's row goes in with its first events: readers find a
   * session by its row */
  if (is_new || s->flush_ms == 0) {
    pt_status rc = write_row(s, x, is_new, err);
    if (rc == PT_OK) rowcount_set(s, x->session_id, x->event_count);
    return rc;
  }
  /* a row too far behind (or of unknown age) is written now; the staged
   * copy still serves this process until the commit */
  rowcount *known = pt_map_get(&s->rowcounts, x->session_id);
  if (!known || x->event_count - known->count >= LAG_MAX) {
    pt_status rc = write_row(s, x, 0, err);
    if (rc) return rc;
    rowcount_set(s, x->session_id, x->event_count);
  }
  return plist_put(&s->staged, x, 0) ? pt_fail(err, PT_ENOMEM, NULL, "out of memory") : PT_OK;
}

/* Writes every lagging row (pending, then this transaction's staged). */
static pt_status flush_rows(sstore *s, pt_error *err) {
  for (size_t i = 0; i < s->pending.n; i++) {
    pending *p = s->pending.items[i];
    if (pt_map_get(&s->staged.map, p->s.session_id)) continue; /* newer staged */
    pt_status rc = write_row(s, &p->s, 0, err);
    if (rc) return rc;
    rowcount_set(s, p->s.session_id, p->s.event_count);
  }
  for (size_t i = 0; i < s->staged.n; i++) {
    pt_status rc = write_row(s, &s->staged.items[i]->s, 0, err);
    if (rc) return rc;
    rowcount_set(s, s->staged.items[i]->s.session_id, s->staged.items[i]->s.event_count);
  }
  return PT_OK;
}

pt_status sq_event_find(pt_store *st, const char *sid, const char *eid, pt_event **out,
                        pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_EVENT_FIND];
  *out = NULL;
  sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, eid, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  pt_status r = PT_ENOTFOUND;
  if (rc == SQLITE_ROW) {
    *out = sq_row_event(q);
    r = *out ? PT_OK : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  } else if (rc != SQLITE_DONE) {
    r = sq_db_fail(err, s->db, "find event");
  }
  sqlite3_reset(q);
  return r;
}

pt_status sq_event_append(pt_store *st, const pt_event *e, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_EVENT_APPEND];
  sqlite3_bind_text(q, 1, e->session_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, e->seq);
  sqlite3_bind_text(q, 3, e->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, e->pipeline_type, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 5, e->step, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 6, e->status);
  sqlite3_bind_int64(q, 7, e->ts);
  sqlite3_bind_int(q, 8, e->ts_given);
  sqlite3_bind_int64(q, 9, e->received_at);
  sqlite3_bind_text(q, 10, e->input, (int)e->input_len, SQLITE_STATIC);
  sqlite3_bind_text(q, 11, e->output, (int)e->output_len, SQLITE_STATIC);
  sqlite3_bind_text(q, 12, e->error, (int)e->error_len, SQLITE_STATIC);
  sq_bind_digest(q, 13, e->input_sha256);
  sq_bind_digest(q, 14, e->output_sha256);
  unsigned char link[32];
  sq_unhex(e->link, link);
  sqlite3_bind_blob(q, 15, link, 32, SQLITE_TRANSIENT);
  sqlite3_bind_int(q, 16, e->redacted);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, s->db, "append event");
}

/* The row is rewritten in place; secure_delete (on for the writer) zeroes
 * the space the old payloads took, and sq_scrub removes the older page
 * images from the WAL. */
pt_status sq_event_redact(pt_store *st, const char *sid, int64_t seq, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_EVENT_REDACT];
  sqlite3_bind_text(q, 1, sid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, seq);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE) return sq_db_fail(err, s->db, "redact");
  if (sqlite3_changes(s->db) != 1)
    return pt_fail(err, PT_ENOTFOUND, NULL, "no event %lld in session \"%s\"", (long long)seq, sid);
  return PT_OK;
}

pt_status sq_mark_put(pt_store *st, const char *key, const char *value, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_MARK_PUT];
  sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, s->db, "write mark");
}

/* After a redaction's commit: a TRUNCATE checkpoint copies the current pages
 * (old payload space zeroed) into the database file and empties the WAL, so
 * no older page image remains in either file. It must wait for readers still
 * on older snapshots (reads are short transactions, an export's included),
 * and writes wait meanwhile: bounded to SCRUB_MS in all, in short tries. */
#define SCRUB_MS 5000
pt_status sq_scrub(pt_store *st, pt_error *err) {
  sstore *s = (sstore *)st;
  int rc = SQLITE_BUSY;
  uint64_t until = pt_mono_ns() + (uint64_t)SCRUB_MS * 1000000u;
  sqlite3_busy_timeout(s->db, 50);
  while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    int nlog = 0, nckpt = 0;
    rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &nlog, &nckpt);
    if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && pt_mono_ns() >= until) break;
  }
  sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
  if (rc != SQLITE_OK)
    return pt_fail(err, PT_ESTORAGE, NULL,
                   "sqlite: the redaction is stored but older copies may remain in the "
                   "write-ahead log (checkpoint: %s); repeat the request",
                   sqlite3_errmsg(s->db));
  return PT_OK;
}

pt_status sq_snapshot_put(pt_store *st, const pt_snap *x, pt_error *err) {
  sstore *s = (sstore *)st;
  sqlite3_stmt *q = s->st[W_SNAPSHOT_PUT];
  sqlite3_bind_text(q, 1, x->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, x->session_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 3, x->pipeline_type, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 4, x->chain_hash, 64, SQLITE_STATIC);
  sqlite3_bind_int64(q, 5, x->event_count);
  sqlite3_bind_text(q, 6, x->last_event_id, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 7, x->completed);
  sqlite3_bind_int(q, 8, x->total);
  sqlite3_bind_int(q, 9, x->percent);
  sqlite3_bind_text(q, 10, x->state, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 11, x->is_valid);
  sqlite3_bind_int64(q, 12, x->created_at);
  if (x->notes)
    sqlite3_bind_text(q, 13, x->notes, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 13);
  if (x->signature)
    sqlite3_bind_text(q, 14, x->signature, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(q, 14);
  sqlite3_bind_int64(q, 15, x->n);
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  return rc == SQLITE_DONE ? PT_OK : sq_db_fail(err, s->db, "write snapshot");
}

pt_status sq_generation(pt_store *st, int64_t *out, pt_error *err) {
  (void)err;
  *out = ((sstore *)st)->data_version; /* read by sq_begin */
  return PT_OK;
}

void sq_flush(pt_store *st) {
  ((sstore *)st)->last_flush_ns = 0; /* sq_commit flushes when the interval is up */
}
