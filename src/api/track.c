/* track.c - POST /api/pipeline/track and /track/batch: the body is read and
 * checked in the caller's thread, its events queued for the tracker's next
 * group commit, and the answer rendered once the commit is done (in
 * pt_call_finish), so a server's thread never waits for the disk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/buf.h"
#include "core/error.h"
#include "lib/internal.h"

struct pt__api_pending {
  json_t *doc;          /* the parsed body: the events point into it */
  const json_t **items; /* the events tracked */
  size_t n;
  int batch;
  char session_id[129];
  pt__pending *p;
  /* read tokens (pt_request.read_token) */
  void (*read_token)(void *ctx, const char *session_id, char *out, size_t cap);
  void *read_token_ctx;
  int read_token_all;
};

static void pending_free(pt__api_pending *x) {
  if (!x) return;
  json_decref(x->doc);
  free(x->items);
  free(x);
}

/* auto_snapshot: absent or null is the tracker's default. NULL, or the
 * 400 answer. */
static pt_answer *auto_snapshot_member(json_t *o, int *out) {
  json_t *a = json_object_get(o, "auto_snapshot");
  *out = PT_SNAPSHOT_DEFAULT;
  if (!a || json_is_null(a)) return NULL;
  if (!json_is_boolean(a))
    return pt_answer_error(400, "invalid_request", "auto_snapshot",
                           "auto_snapshot: must be true or false");
  *out = json_is_true(a);
  return NULL;
}

static pt_answer *track(pt_tracker *t, const pt_request *rq, int batch, void (*done)(void *),
                        void *done_ctx, pt__api_pending **pending) {
  pt_answer *fail = NULL;
  json_t *doc = pt__body_object(t, rq, &fail);
  if (!doc) return fail;
  static const char *const one[] = {"event", "auto_snapshot", NULL};
  static const char *const many[] = {"events", "auto_snapshot", NULL};
  int snap;
  if ((fail = pt__only_members(doc, batch ? many : one)) ||
      (fail = auto_snapshot_member(doc, &snap))) {
    json_decref(doc);
    return fail;
  }
  json_t *ev = json_object_get(doc, batch ? "events" : "event");
  if (batch && !json_is_array(ev))
    fail = pt_answer_error(400, "invalid_request", "events",
                           "events: must be an array of event objects");
  else if (batch && json_array_size(ev) > PT_BATCH_MAX)
    fail = pt_answer_error(413, "payload_too_large", "events",
                           "events: at most %d events a batch, got %zu", PT_BATCH_MAX,
                           json_array_size(ev));
  else if (!batch && !ev)
    fail = pt_answer_error(400, "invalid_request", "event", "event: is required");
  if (fail) {
    json_decref(doc);
    return fail;
  }
  pt__api_pending *x = calloc(1, sizeof *x);
  size_t n = batch ? json_array_size(ev) : 1;
  if (!x || !(x->items = malloc((n ? n : 1) * sizeof *x->items))) {
    free(x);
    json_decref(doc);
    return NULL;
  }
  x->doc = doc;
  x->n = n;
  x->batch = batch;
  x->read_token = rq->read_token;
  x->read_token_ctx = rq->read_token_ctx;
  x->read_token_all = rq->read_token_all;
  for (size_t i = 0; i < n; i++) x->items[i] = batch ? json_array_get(ev, i) : ev;
  if (!batch) {
    const char *sid = json_string_value(json_object_get(ev, "session_id"));
    if (sid) snprintf(x->session_id, sizeof x->session_id, "%s", sid);
  }
  pt_error err;
  /* done may run inside this call (nothing to wait for): the caller then
   * finishes at once */
  *pending = x;
  if (pt__track_start(t, x->items, n, snap, batch ? NULL : "event", done, done_ctx, &x->p, &err) !=
      PT_OK) {
    *pending = NULL;
    pt_answer *a = pt_answer_fail(&err);
    pt__ans_session(a, x->session_id);
    pending_free(x);
    return a;
  }
  return NULL;
}

pt_answer *pt__api_track(ARGS) {
  return track(t, rq, 0, done, ctx, pending);
}

pt_answer *pt__api_track_batch(ARGS) {
  return track(t, rq, 1, done, ctx, pending);
}

/* {"event", "snapshot", "receipt", "replayed", "read_token"} of one stored
 * event, item i of the request: a read token for its session when the
 * event created it (seq 0, replayed or not) or the caller may read all. */
static void put_result(pt_buf *b, const pt__api_pending *x, size_t i, const pt_track_result *r) {
  pt_buf_puts(b, "\"event\":");
  pt_buf_puts(b, r->event_json);
  pt_buf_puts(b, ",\"snapshot\":");
  pt_buf_puts(b, r->snapshot_json ? r->snapshot_json : "null");
  pt_buf_json_member(b, ",\"receipt\":", r->receipt[0] ? r->receipt : NULL);
  pt_buf_printf(b, ",\"replayed\":%s", r->replayed ? "true" : "false");
  char tok[128] = "";
  const char *sid = json_string_value(json_object_get(x->items[i], "session_id"));
  if (x->read_token && sid && (r->seq == 0 || x->read_token_all))
    x->read_token(x->read_token_ctx, sid, tok, sizeof tok);
  pt_buf_json_member(b, ",\"read_token\":", tok[0] ? tok : NULL);
}

static void put_error(pt_buf *b, const pt_error *e) {
  pt_buf_json_member(b, "{\"code\":", pt_err_name(e->code));
  pt_buf_json_member(b, ",\"message\":", e->message[0] ? e->message : pt_strerror(e->code));
  pt_buf_json_member(b, ",\"field\":", e->field[0] ? e->field : NULL);
  pt_buf_putc(b, '}');
}

pt_answer *pt__api_track_finish(pt_tracker *t, pt__api_pending *x) {
  pt_batch_result *br;
  pt_error err;
  pt_status st = pt__track_finish(t, x->p, &br, &err);
  pt_answer *a;
  if (st != PT_OK) {
    a = pt_answer_fail(&err);
  } else if (!x->batch && br->items[0].status != PT_OK) {
    a = pt_answer_fail(&br->items[0].error);
  } else {
    pt_buf b;
    pt_buf_init(&b, 0);
    int status = 200;
    if (!x->batch) {
      const pt_track_result *r = br->items[0].result;
      status = r->replayed ? 200 : 201;
      pt_buf_putc(&b, '{');
      put_result(&b, x, 0, r);
      pt_buf_putc(&b, '}');
    } else {
      pt_buf_puts(&b, "{\"results\":[");
      for (size_t i = 0; i < br->count; i++) {
        const pt_batch_item *it = &br->items[i];
        if (i) pt_buf_putc(&b, ',');
        if (it->status == PT_OK) {
          pt_buf_printf(&b, "{\"status\":%d,", it->result->replayed ? 200 : 201);
          put_result(&b, x, i, it->result);
        } else {
          pt_buf_printf(&b, "{\"status\":%u,\"error\":", pt_http_status(it->status));
          put_error(&b, &it->error);
        }
        pt_buf_putc(&b, '}');
      }
      pt_buf_puts(&b, "]}");
    }
    a = pt__ans_json(status, pt_buf_take(&b));
  }
  if (st == PT_OK) pt_batch_result_free(br);
  pt__ans_session(a, x->session_id);
  pending_free(x);
  return a;
}
