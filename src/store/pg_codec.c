/* pg_codec.c - the PostgreSQL backend's rows read into the core's structs,
 * the array literals its batch writes send, and the keyed sets the write
 * transaction keeps (what it will write, what it read, which locks it
 * holds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "pg_store.h"

char pg_absent[1];

/* ---- keyed sets ------------------------------------------------------------- */

void pgset_init(pgset *s, void (*free_v)(void *)) {
  memset(s, 0, sizeof *s);
  pt_map_init(&s->map);
  s->free_v = free_v;
}

void *pgset_get(const pgset *s, const char *key) {
  pgent *e = pt_map_get(&s->map, key);
  return e ? e->v : NULL;
}

int pgset_has(const pgset *s, const char *key) {
  return pt_map_get(&s->map, key) != NULL;
}

static void free_value(pgset *s, void *v) {
  if (v && v != pg_absent && s->free_v) s->free_v(v);
}

int pgset_put(pgset *s, const char *key, void *v) {
  pgent *e = pt_map_get(&s->map, key);
  if (e) {
    free_value(s, e->v);
    e->v = v;
    return 0;
  }
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 32;
    pgent **ne = realloc(s->e, nc * sizeof *ne);
    if (!ne) {
      free_value(s, v);
      return -1;
    }
    s->e = ne;
    s->cap = nc;
  }
  size_t kl = strlen(key);
  e = malloc(sizeof *e + kl + 1);
  if (!e) {
    free_value(s, v);
    return -1;
  }
  memcpy(e->key, key, kl + 1);
  e->v = v;
  if (pt_map_put(&s->map, e->key, e)) {
    free(e);
    free_value(s, v);
    return -1;
  }
  s->e[s->n++] = e;
  return 0;
}

void pgset_clear(pgset *s) {
  if (!s->n) return;
  for (size_t i = 0; i < s->n; i++) {
    free_value(s, s->e[i]->v);
    free(s->e[i]);
  }
  s->n = 0;
  pt_map_cleanup(&s->map);
  pt_map_init(&s->map);
}

void pgset_free(pgset *s) {
  pgset_clear(s);
  pt_map_cleanup(&s->map);
  free(s->e);
  s->e = NULL;
  s->cap = 0;
}

void pg_event_key(char *out, const char *sid, const char *eid) {
  snprintf(out, 2 * PT_ID_MAX + 2, "%s\x1f%s", sid, eid);
}

pgsess *pg_sess_dup(const pt_session *x, int64_t version) {
  pgsess *c = malloc(sizeof *c);
  if (!c || pt_session_copy(&c->s, x)) {
    free(c);
    return NULL;
  }
  c->version = version;
  return c;
}

void pg_free_session(void *p) {
  pt_session_cleanup(p);
  free(p);
}

void pg_free_event(void *p) {
  pt_event_free(p);
}

/* ---- rows --------------------------------------------------------------------- */

const char *pg_text(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col);
}

int64_t pg_i64(const PGresult *r, int row, int col) {
  return strtoll(pg_text(r, row, col), NULL, 10);
}

pt_status pg_row_session(const PGresult *r, int row, int col, const char *sid, pt_session *out,
                         pt_error *err) {
  pt_session_init(out, sid, pg_text(r, row, col));
  out->event_count = pg_i64(r, row, col + 1);
  snprintf(out->last_link, sizeof out->last_link, "%s", pg_text(r, row, col + 2));
  snprintf(out->last_event_id, sizeof out->last_event_id, "%s", pg_text(r, row, col + 3));
  out->first_ts = pg_i64(r, row, col + 4);
  out->last_ts = pg_i64(r, row, col + 5);
  out->created_at = pg_i64(r, row, col + 6);
  out->updated_at = pg_i64(r, row, col + 7);
  out->snap_ms = pg_i64(r, row, col + 8);
  out->snap_suffix = (int)pg_i64(r, row, col + 9);
  out->snapshot_count = pg_i64(r, row, col + 10);
  if (pt_session_steps_decode(out, pg_text(r, row, col + 11)))
    return pt_fail(err, PT_ESTORAGE, NULL, "postgres: session %s has a damaged steps column", sid);
  pt_session_recent_decode(out, pg_text(r, row, col + 12));
  out->scode = (int)pg_i64(r, row, col + 14);
  return PT_OK;
}

/* A digest column (hex): anything but 64 digits is damage, rendered so that
 * verification flags it. */
static void digest(const PGresult *r, int row, int col, char out[65]) {
  const char *h = pg_text(r, row, col);
  if (strlen(h) == 64)
    memcpy(out, h, 65);
  else
    snprintf(out, 65, "damaged");
}

pt_event *pg_row_event(const PGresult *r, int row) {
  pt_event *e = pt_event_new(pg_text(r, row, 2), pg_text(r, row, 0), pg_text(r, row, 3),
                             pg_text(r, row, 4), pg_text(r, row, 9), (size_t)PQgetlength(r, row, 9),
                             pg_text(r, row, 10), (size_t)PQgetlength(r, row, 10),
                             pg_text(r, row, 11), (size_t)PQgetlength(r, row, 11));
  if (!e) return NULL;
  e->seq = pg_i64(r, row, 1);
  int64_t status = pg_i64(r, row, 5);
  /* a status outside the enum can only come from tampering: keep it in
   * range so rendering is safe, and let verification flag the event */
  e->status = status >= 0 && status <= 2 ? (int)status : 0;
  e->ts = pg_i64(r, row, 6);
  e->ts_given = (int)pg_i64(r, row, 7);
  e->received_at = pg_i64(r, row, 8);
  digest(r, row, 12, e->input_sha256);
  digest(r, row, 13, e->output_sha256);
  digest(r, row, 14, e->link);
  e->redacted = (int)pg_i64(r, row, 15);
  e->id_given = 1;
  return e;
}

void pg_row_snap(const PGresult *r, int row, pt_snap *x) {
  memset(x, 0, sizeof *x);
  snprintf(x->id, sizeof x->id, "%s", pg_text(r, row, 0));
  snprintf(x->session_id, sizeof x->session_id, "%s", pg_text(r, row, 1));
  snprintf(x->pipeline_type, sizeof x->pipeline_type, "%s", pg_text(r, row, 2));
  snprintf(x->chain_hash, sizeof x->chain_hash, "%s", pg_text(r, row, 3));
  x->event_count = pg_i64(r, row, 4);
  snprintf(x->last_event_id, sizeof x->last_event_id, "%s", pg_text(r, row, 5));
  x->completed = (int)pg_i64(r, row, 6);
  x->total = (int)pg_i64(r, row, 7);
  x->percent = (int)pg_i64(r, row, 8);
  snprintf(x->state, sizeof x->state, "%s", pg_text(r, row, 9));
  x->is_valid = (int)pg_i64(r, row, 10);
  x->created_at = pg_i64(r, row, 11);
  /* borrowed from the result, as SQLite's rows are from the statement */
  x->notes = PQgetisnull(r, row, 12) ? NULL : PQgetvalue(r, row, 12);
  x->signature = PQgetisnull(r, row, 13) ? NULL : PQgetvalue(r, row, 13);
  x->n = pg_i64(r, row, 14);
}

pt_status pg_row_issue(const PGresult *r, int row, pt_issue *x, pt_error *err) {
  memset(x, 0, sizeof *x);
  snprintf(x->id, sizeof x->id, "%s", pg_text(r, row, 0));
  snprintf(x->fingerprint, sizeof x->fingerprint, "%s", pg_text(r, row, 1));
  snprintf(x->pipeline_type, sizeof x->pipeline_type, "%s", pg_text(r, row, 2));
  snprintf(x->step, sizeof x->step, "%s", pg_text(r, row, 3));
  snprintf(x->code, sizeof x->code, "%s", pg_text(r, row, 4));
  x->open = (int)pg_i64(r, row, 5);
  x->count = pg_i64(r, row, 6);
  x->sessions_affected = pg_i64(r, row, 7);
  x->first_seen = pg_i64(r, row, 8);
  x->last_seen = pg_i64(r, row, 9);
  x->resolved_at = pg_i64(r, row, 10);
  x->reopened = pg_i64(r, row, 11);
  snprintf(x->last_session_id, sizeof x->last_session_id, "%s", pg_text(r, row, 12));
  if (!PQgetisnull(r, row, 13) && !(x->sample_event = strdup(PQgetvalue(r, row, 13))))
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return PT_OK;
}

/* ---- array literals ------------------------------------------------------------ */

void pg_arr_open(pt_buf *b) {
  pt_buf_putc(b, '{');
}

static void sep(pt_buf *b) {
  if (b->len && b->data[b->len - 1] != '{') pt_buf_putc(b, ',');
}

/* Quoted, with " and \ escaped: any text is one element (NULL is the
 * element NULL). */
void pg_arr_text(pt_buf *b, const char *s) {
  sep(b);
  if (!s) {
    pt_buf_puts(b, "NULL");
    return;
  }
  pt_buf_putc(b, '"');
  const char *run = s;
  for (const char *p = s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      pt_buf_put(b, run, (size_t)(p - run));
      pt_buf_putc(b, '\\');
      run = p;
    }
  }
  pt_buf_puts(b, run);
  pt_buf_putc(b, '"');
}

void pg_arr_i64(pt_buf *b, int64_t v) {
  sep(b);
  pt_buf_i64(b, v);
}

void pg_arr_close(pt_buf *b) {
  pt_buf_putc(b, '}');
}
