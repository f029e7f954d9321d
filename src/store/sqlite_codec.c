/* sqlite_codec.c - the SQLite backend's rows read into the core's structs
 * (sessions, events, issues), and digests turned into the bytes a row
 * stores. */
#include <stdio.h>
#include <string.h>

#include "../core/error.h"
#include "../core/sha.h"
#include "sqlite_store.h"

const char *sq_col_text(sqlite3_stmt *q, int i) {
  const char *t = (const char *)sqlite3_column_text(q, i);
  return t ? t : "";
}

pt_status sq_row_session(sqlite3_stmt *q, const char *sid, pt_session *out, pt_error *err) {
  pt_session_init(out, sid, sq_col_text(q, 0));
  out->event_count = sqlite3_column_int64(q, 1);
  snprintf(out->last_link, sizeof out->last_link, "%s", sq_col_text(q, 2));
  snprintf(out->last_event_id, sizeof out->last_event_id, "%s", sq_col_text(q, 3));
  out->first_ts = sqlite3_column_int64(q, 4);
  out->last_ts = sqlite3_column_int64(q, 5);
  out->created_at = sqlite3_column_int64(q, 6);
  out->updated_at = sqlite3_column_int64(q, 7);
  out->snap_ms = sqlite3_column_int64(q, 8);
  out->snap_suffix = sqlite3_column_int(q, 9);
  out->snapshot_count = sqlite3_column_int64(q, 10);
  if (pt_session_steps_decode(out, sq_col_text(q, 11)))
    return pt_fail(err, PT_ESTORAGE, NULL, "sqlite: session %s has a damaged steps column", sid);
  out->scode = sqlite3_column_int(q, 12);
  return PT_OK;
}

/* Digests are stored as their 32 raw bytes: half the size of the hex text,
 * and every event row carries three. */
void sq_bind_digest(sqlite3_stmt *q, int i, const char *hex) {
  /* most events carry no output, many no input: their digests are all
   * SHA-256("null"), stored as an empty blob (32 bytes less each) */
  if (memcmp(hex, pt_null_sha256, 64) == 0) {
    sqlite3_bind_blob(q, i, "", 0, SQLITE_STATIC);
    return;
  }
  unsigned char d[32];
  sq_unhex(hex, d);
  sqlite3_bind_blob(q, i, d, 32, SQLITE_TRANSIENT);
}

void sq_unhex(const char *h, unsigned char out[32]) {
  for (int i = 0; i < 32; i++) {
    unsigned v = 0;
    for (int k = 0; k < 2; k++) {
      char c = h[2 * i + k];
      v = v * 16 + (unsigned)(c >= 'a' ? c - 'a' + 10 : c - '0');
    }
    out[i] = (unsigned char)v;
  }
}

static void col_digest(sqlite3_stmt *q, int i, char out[65]) {
  const unsigned char *b = sqlite3_column_blob(q, i);
  int n = sqlite3_column_bytes(q, i);
  /* an empty blob stands for the digest of a null payload (sq_put_digest) */
  if (n == 0 && sqlite3_column_type(q, i) == SQLITE_BLOB) {
    memcpy(out, pt_null_sha256, 65);
    return;
  }
  /* anything but 32 bytes is damage: render it so verification flags it */
  if (b && n == 32)
    pt_hex(b, 32, out);
  else
    snprintf(out, 65, "damaged");
}

pt_event *sq_row_event(sqlite3_stmt *q) {
  pt_event *e = pt_event_new(
      sq_col_text(q, 2), sq_col_text(q, 0), sq_col_text(q, 3), sq_col_text(q, 4), sq_col_text(q, 9),
      (size_t)sqlite3_column_bytes(q, 9), sq_col_text(q, 10), (size_t)sqlite3_column_bytes(q, 10),
      sq_col_text(q, 11), (size_t)sqlite3_column_bytes(q, 11));
  if (!e) return NULL;
  e->seq = sqlite3_column_int64(q, 1);
  int status = sqlite3_column_int(q, 5);
  /* A status outside the enum can only come from tampering; keep it in range
   * so rendering is safe, and let verification flag the event. */
  e->status = status >= 0 && status <= 2 ? status : 0;
  e->ts = sqlite3_column_int64(q, 6);
  e->ts_given = sqlite3_column_int(q, 7);
  e->received_at = sqlite3_column_int64(q, 8);
  col_digest(q, 12, e->input_sha256);
  col_digest(q, 13, e->output_sha256);
  col_digest(q, 14, e->link);
  e->redacted = sqlite3_column_int(q, 15);
  e->id_given = 1;
  return e;
}

pt_status sq_row_issue(sqlite3_stmt *q, pt_issue *x, pt_error *err) {
  memset(x, 0, sizeof *x);
  snprintf(x->id, sizeof x->id, "%s", sq_col_text(q, 0));
  snprintf(x->fingerprint, sizeof x->fingerprint, "%s", sq_col_text(q, 1));
  snprintf(x->pipeline_type, sizeof x->pipeline_type, "%s", sq_col_text(q, 2));
  snprintf(x->step, sizeof x->step, "%s", sq_col_text(q, 3));
  snprintf(x->code, sizeof x->code, "%s", sq_col_text(q, 4));
  x->open = sqlite3_column_int(q, 5);
  x->count = sqlite3_column_int64(q, 6);
  x->sessions_affected = sqlite3_column_int64(q, 7);
  x->first_seen = sqlite3_column_int64(q, 8);
  x->last_seen = sqlite3_column_int64(q, 9);
  x->resolved_at = sqlite3_column_int64(q, 10);
  x->reopened = sqlite3_column_int64(q, 11);
  snprintf(x->last_session_id, sizeof x->last_session_id, "%s", sq_col_text(q, 12));
  if (sqlite3_column_type(q, 13) != SQLITE_NULL && !(x->sample_event = strdup(sq_col_text(q, 13))))
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return PT_OK;
}
