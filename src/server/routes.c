/* routes.c - the endpoints of docs/api.md: each turns a checked request into a
 * library call and its document into an answer. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "core/sha.h"
#include "core/jparse.h"
#include "core/validate.h"
#include "server.h"

const ptd_route ptd_routes[R_COUNT] = {
    [R_TRACK] = {"/api/pipeline/track", "POST", AUTH_INGEST, 1},
    [R_BATCH] = {"/api/pipeline/track/batch", "POST", AUTH_INGEST, 1},
    [R_STATUS] = {"/api/pipeline/status", "GET", AUTH_API, 0},
    [R_STREAM] = {"/api/pipeline/status/stream", "GET", AUTH_API, 0},
    [R_SNAPSHOT] = {"/api/pipeline/snapshot", "POST", AUTH_API, 1},
    [R_REGISTRY] = {"/api/pipeline/registry", "GET", AUTH_API, 0},
    [R_CHECKSUM] = {"/api/pipeline/checksum", "GET", AUTH_API, 0},
    [R_REPORT] = {"/api/pipeline/report", "GET", AUTH_API, 0},
    [R_VERIFY] = {"/api/pipeline/verify", "GET", AUTH_API, 0},
    [R_SESSIONS] = {"/api/pipeline/sessions", "GET", AUTH_API, 0},
    [R_DEFINITIONS] = {"/api/pipeline/definitions", "GET", AUTH_API, 0},
    [R_EXPORT] = {"/api/pipeline/export", "GET", AUTH_API, 0},
    [R_IMPORT] = {"/api/pipeline/import", "POST", AUTH_API, 1},
    [R_ISSUES] = {"/api/pipeline/issues", "GET", AUTH_API, 0},
    [R_STATS] = {"/api/pipeline/stats", "GET", AUTH_API, 0},
    [R_PUBKEY] = {"/api/pipeline/pubkey", "GET", AUTH_API, 0},
    [R_REDACT] = {"/api/pipeline/redact", "POST", AUTH_TOKEN, 1},
    [R_ASSET] = {"/assets/{id}", "GET", AUTH_NONE, 0},
    [R_ISSUES_STREAM] = {"/api/pipeline/issues/stream", "GET", AUTH_API, 0},
    [R_ISSUE] = {"/api/pipeline/issues/{id}", "GET", AUTH_API, 0},
    [R_ISSUE_RESOLVE] = {"/api/pipeline/issues/{id}/resolve", "POST", AUTH_API, 0},
    [R_METRICS] = {"/metrics", "GET", AUTH_API, 0},
    [R_HEALTHZ] = {"/healthz", "GET", AUTH_NONE, 0},
    [R_READYZ] = {"/readyz", "GET", AUTH_NONE, 0},
    [R_INDEX] = {"/", "GET", AUTH_NONE, 0},
    [R_OTHER] = {"", "GET", AUTH_NONE, 0},
};

/* Does path match the route's pattern? "{id}" matches one non-empty
 * segment of at most 63 bytes, copied to param. */
static int match(const char *pattern, const char *path, char param[64]) {
  const char *hole = strstr(pattern, "{id}");
  if (!hole) return strcmp(pattern, path) == 0;
  size_t pre = (size_t)(hole - pattern);
  if (strncmp(pattern, path, pre) != 0) return 0;
  const char *seg = path + pre, *end = strchr(seg, '/');
  size_t n = end ? (size_t)(end - seg) : strlen(seg);
  if (n == 0 || n > 63) return 0;
  if (strcmp(hole + 4, end ? end : "") != 0) return 0;
  memcpy(param, seg, n);
  param[n] = '\0';
  return 1;
}

int ptd_route_find(const char *path, const char *method, char param[64]) {
  int found = R_OTHER;
  for (int i = 0; i < R_OTHER; i++) {
    if (!match(ptd_routes[i].path, path, param)) continue;
    if (strcmp(ptd_routes[i].method, method) == 0) return i;
    if (found == R_OTHER) found = i; /* the path exists: a 405 names its method */
  }
  return found;
}

static const char *arg(ptd_req *r, const char *name) {
  const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
  return v && *v ? v : NULL;
}

/* An integer query parameter in [lo, hi]; 0 when absent. -1: answered. */
static int int_arg(ptd_req *r, const char *name, int lo, int hi, int *out, enum MHD_Result *rc) {
  const char *v = arg(r, name);
  *out = 0;
  if (!v) return 0;
  char *end;
  long n = strtol(v, &end, 10);
  if (*end || n < lo || n > hi) {
    *rc = ptd_reply_http_error(r, 400, "invalid_request", name,
                               "%s: must be an integer from %d to %d", name, lo, hi);
    return -1;
  }
  *out = (int)n;
  return 0;
}

/* session_id, required; remembered for the log line. */
static const char *session_arg(ptd_req *r, enum MHD_Result *rc) {
  const char *sid = arg(r, "session_id");
  if (!sid) {
    *rc = ptd_reply_http_error(r, 400, "invalid_request", "session_id", "session_id: is required");
    return NULL;
  }
  snprintf(r->session_id, sizeof r->session_id, "%s", sid);
  return sid;
}

/* Deepest nesting of a JSON text, strings skipped: bounds the parser's
 * work before it runs. */
static int json_depth(const char *s, size_t n) {
  int d = 0, max = 0, in_str = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = 0;
    } else if (c == '"') {
      in_str = 1;
    } else if (c == '{' || c == '[') {
      if (++d > max) max = d;
    } else if (c == '}' || c == ']') {
      d--;
    }
  }
  return max;
}

/* The body as a JSON object; NULL when answered. */
static json_t *body_object(ptd_req *r, enum MHD_Result *rc) {
  /* the envelope and a batch's array add two levels to an event's own */
  int limit = r->srv->cfg.max_depth + 2;
  if (!r->body || r->len == 0) {
    *rc = ptd_reply_http_error(r, 400, "invalid_json", "body", "body: must be a JSON object");
    return NULL;
  }
  if (json_depth(r->body, r->len) > limit) {
    *rc = ptd_reply_http_error(r, 400, "invalid_request", "body",
                               "body: JSON nested deeper than %d levels", limit);
    return NULL;
  }
  json_t *v;
  pt_error err;
  if (pt_parse_ijson(r->body, r->len, "body", &v, &err) != PT_OK) {
    *rc = ptd_reply_error(r, &err);
    return NULL;
  }
  if (!json_is_object(v)) {
    json_decref(v);
    *rc = ptd_reply_http_error(r, 400, "invalid_request", "body", "body: must be a JSON object");
    return NULL;
  }
  return v;
}

/* A JSON string as a C string: the ids, names and notes the library takes
 * are C strings, so one holding U+0000 would be cut short; such a string is
 * refused (not a string here) instead of being read as its prefix. */
static int is_cstr(const json_t *v) {
  return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

/* Refuses members other than the allowed ones (NULL-terminated). */
static int only_members(ptd_req *r, json_t *o, const char *const *allowed, enum MHD_Result *rc) {
  char f[64];
  if (pt_json_only_members(o, allowed, f, sizeof f)) return 0;
  *rc = ptd_reply_http_error(r, 400, "invalid_request", f, "%s: is not a member of this request", f);
  return -1;
}

static int auto_snapshot_member(ptd_req *r, json_t *o, int *out, enum MHD_Result *rc) {
  json_t *a = json_object_get(o, "auto_snapshot");
  *out = PT_SNAPSHOT_DEFAULT;
  if (!a || json_is_null(a)) return 0;
  if (!json_is_boolean(a)) {
    *rc = ptd_reply_http_error(r, 400, "invalid_request", "auto_snapshot",
                               "auto_snapshot: must be true or false");
    return -1;
  }
  *out = json_is_true(a);
  return 0;
}

/* ---- tracking ----------------------------------------------------------------- */

/* Called once the commit is done (committer thread), or at once (nothing to
 * commit, memory store): resumes the request if it is suspended. */
static void track_done(void *ctx) {
  ptd_req *r = ctx;
  pthread_mutex_lock(&r->lock);
  r->ready = 1;
  int resume = r->suspended;
  r->suspended = 0;
  struct MHD_Connection *conn = r->conn;
  pthread_mutex_unlock(&r->lock);
  /* after the unlock, and r is not touched again: once resumed, the loop
   * thread may answer and free the request at any moment */
  if (resume) MHD_resume_connection(conn);
}

static enum MHD_Result track(ptd_req *r, int batch) {
  enum MHD_Result rc = MHD_NO;
  json_t *doc = body_object(r, &rc);
  if (!doc) return rc;
  r->doc = doc;
  static const char *const one[] = {"event", "auto_snapshot", NULL};
  static const char *const many[] = {"events", "auto_snapshot", NULL};
  int snap;
  if (only_members(r, doc, batch ? many : one, &rc) || auto_snapshot_member(r, doc, &snap, &rc))
    return rc;
  json_t *ev = json_object_get(doc, batch ? "events" : "event");
  if (batch) {
    if (!json_is_array(ev))
      return ptd_reply_http_error(r, 400, "invalid_request", "events",
                                  "events: must be an array of event objects");
    if (json_array_size(ev) > PT_BATCH_MAX)
      return ptd_reply_http_error(r, 413, "payload_too_large", "events",
                                  "events: at most %d events a batch, got %zu", PT_BATCH_MAX,
                                  json_array_size(ev));
    r->nitems = json_array_size(ev);
    r->items = malloc((r->nitems ? r->nitems : 1) * sizeof *r->items);
    if (!r->items) return MHD_NO;
    for (size_t i = 0; i < r->nitems; i++) r->items[i] = json_array_get(ev, i);
  } else {
    if (!ev) return ptd_reply_http_error(r, 400, "invalid_request", "event", "event: is required");
    r->nitems = 1;
    r->items = malloc(sizeof *r->items);
    if (!r->items) return MHD_NO;
    r->items[0] = ev;
    const char *sid = json_string_value(json_object_get(ev, "session_id"));
    if (sid) snprintf(r->session_id, sizeof r->session_id, "%s", sid);
  }
  r->batch = batch;
  if (snap == PT_SNAPSHOT_DEFAULT) snap = r->srv->cfg.auto_snapshot;
  pt_error err;
  r->phase = PH_WAIT;
  /* not under r->lock: track_done may run inside this call */
  pt_status st = pt__track_start(r->srv->t, r->items, r->nitems, snap, batch ? NULL : "event",
                                 track_done, r, &r->pending, &err);
  if (st != PT_OK) {
    r->phase = PH_DONE;
    return ptd_reply_error(r, &err);
  }
  pthread_mutex_lock(&r->lock);
  if (!r->ready) {
    /* the committer resumes it: no thread waits for the disk */
    r->suspended = 1;
    MHD_suspend_connection(r->conn);
    pthread_mutex_unlock(&r->lock);
    return MHD_YES;
  }
  pthread_mutex_unlock(&r->lock);
  return ptd_track_finish(r);
}

/* What was stored (not replayed) goes to streams and metrics. */
/* ,"receipt": the signed receipt (docs/concepts.md#receipts), or null without a key */
static void put_receipt(pt_buf *b, const pt_track_result *r) {
  pt_buf_puts(b, ",\"receipt\":");
  pt_buf_json_cstr(b, r->receipt[0] ? r->receipt : NULL);
}

static void announce(ptd_req *r, const pt_batch_result *br) {
  for (size_t i = 0; i < br->count; i++) {
    const pt_batch_item *it = &br->items[i];
    if (it->status != PT_OK || it->result->replayed) continue;
    const json_t *ev = r->items[i];
    const char *sid = json_string_value(json_object_get(ev, "session_id"));
    if (sid) ptd_hub_notify(r->srv->hub, sid);
    const char *status = json_string_value(json_object_get(ev, "status"));
    ptd_metrics_event(r->srv->metrics, json_string_value(json_object_get(ev, "pipeline_type")),
                      json_string_value(json_object_get(ev, "step")), status);
    if (status && strcmp(status, "failure") == 0) {
      ptd_webhook_kick(r->srv->webhook);
      ptd_hub_notify_issue(r->srv->hub, it->result->issue_id);
    }
  }
}

static void put_error(pt_buf *b, const pt_error *e) {
  pt_buf_puts(b, "{\"code\":");
  pt_buf_json_cstr(b, pt_err_name(e->code));
  pt_buf_puts(b, ",\"message\":");
  pt_buf_json_cstr(b, e->message[0] ? e->message : pt_strerror(e->code));
  pt_buf_puts(b, ",\"field\":");
  pt_buf_json_cstr(b, e->field[0] ? e->field : NULL);
  pt_buf_putc(b, '}');
}

enum MHD_Result ptd_track_finish(ptd_req *r) {
  pt_batch_result *br;
  pt_error err;
  pt__pending *p = r->pending;
  r->pending = NULL;
  r->phase = PH_DONE;
  pt_status st = pt__track_finish(r->srv->t, p, &br, &err);
  if (st != PT_OK) return ptd_reply_error(r, &err);
  announce(r, br);
  pt_buf b;
  pt_buf_init(&b, 0);
  unsigned status = 200;
  if (!r->batch) {
    const pt_batch_item *it = &br->items[0];
    if (it->status != PT_OK) {
      pt_error e = it->error;
      pt_batch_result_free(br);
      return ptd_reply_error(r, &e);
    }
    status = it->result->replayed ? 200 : 201;
    pt_buf_puts(&b, "{\"event\":");
    pt_buf_puts(&b, it->result->event_json);
    pt_buf_puts(&b, ",\"snapshot\":");
    pt_buf_puts(&b, it->result->snapshot_json ? it->result->snapshot_json : "null");
    put_receipt(&b, it->result);
    pt_buf_printf(&b, ",\"replayed\":%s}", it->result->replayed ? "true" : "false");
  } else {
    pt_buf_puts(&b, "{\"results\":[");
    for (size_t i = 0; i < br->count; i++) {
      const pt_batch_item *it = &br->items[i];
      if (i) pt_buf_putc(&b, ',');
      if (it->status == PT_OK) {
        pt_buf_printf(&b, "{\"status\":%d,\"event\":", it->result->replayed ? 200 : 201);
        pt_buf_puts(&b, it->result->event_json);
        pt_buf_puts(&b, ",\"snapshot\":");
        pt_buf_puts(&b, it->result->snapshot_json ? it->result->snapshot_json : "null");
        put_receipt(&b, it->result);
        pt_buf_printf(&b, ",\"replayed\":%s}", it->result->replayed ? "true" : "false");
      } else {
        pt_buf_printf(&b, "{\"status\":%u,\"error\":", ptd_status_of(it->status));
        put_error(&b, &it->error);
        pt_buf_putc(&b, '}');
      }
    }
    pt_buf_puts(&b, "]}");
  }
  pt_batch_result_free(br);
  return ptd_reply_json(r, status, pt_buf_take(&b));
}

/* ---- reading ---------------------------------------------------------------------- */

static enum MHD_Result status_get(ptd_req *r) {
  enum MHD_Result rc = MHD_NO;
  const char *sid = session_arg(r, &rc);
  if (!sid) return rc;
  int evl, hl;
  if (int_arg(r, "events_limit", 1, 1000, &evl, &rc) ||
      int_arg(r, "history_limit", 1, 1000, &hl, &rc))
    return rc;
  const char *ptype = arg(r, "pipeline_type");
  char etag[PT_ETAG_SIZE];
  pt_error err;
  const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
  if (inm) {
    /* the tag alone costs one session read: an unchanged poll is cheap */
    pt_status st = pt_status_summary_etag(r->srv->t, sid, ptype, evl, hl, etag, NULL, &err);
    if (st != PT_OK) return ptd_reply_error(r, &err);
    if (strstr(inm, etag) || strcmp(inm, "*") == 0) return ptd_reply(r, 304, NULL, 0, NULL, etag);
  }
  char *doc;
  pt_status st = pt_status_summary_etag(r->srv->t, sid, ptype, evl, hl, etag, &doc, &err);
  if (st != PT_OK) return ptd_reply_error(r, &err);
  return ptd_reply(r, 200, doc, strlen(doc), "application/json", etag);
}

static enum MHD_Result stream_get(ptd_req *r) {
  enum MHD_Result rc = MHD_NO;
  const char *sid = session_arg(r, &rc);
  if (!sid) return rc;
  const char *ptype = arg(r, "pipeline_type");
  char etag[PT_ETAG_SIZE];
  pt_error err;
  /* refusals (unknown session, bad names) as plain answers, before the
   * stream starts */
  pt_status st = pt_status_summary_etag(r->srv->t, sid, ptype, 0, 0, etag, NULL, &err);
  if (st != PT_OK) return ptd_reply_error(r, &err);
  return ptd_stream_start(r, sid, ptype);
}

static enum MHD_Result snapshot_post(ptd_req *r) {
  enum MHD_Result rc = MHD_NO;
  json_t *doc = body_object(r, &rc);
  if (!doc) return rc;
  r->doc = doc;
  static const char *const allowed[] = {"session_id", "pipeline_type", "notes", NULL};
  if (only_members(r, doc, allowed, &rc)) return rc;
  json_t *sid = json_object_get(doc, "session_id"), *pt = json_object_get(doc, "pipeline_type"),
         *notes = json_object_get(doc, "notes");
  if (!is_cstr(sid))
    return ptd_reply_http_error(r, 400, "invalid_request", "session_id",
                                "session_id: is required and must be a string without U+0000");
  if (pt && !json_is_null(pt) && !is_cstr(pt))
    return ptd_reply_http_error(r, 400, "invalid_request", "pipeline_type",
                                "pipeline_type: must be a string without U+0000");
  if (notes && !json_is_null(notes) && !is_cstr(notes))
    return ptd_reply_http_error(r, 400, "invalid_request", "notes",
                                "notes: must be a string without U+0000");
  snprintf(r->session_id, sizeof r->session_id, "%s", json_string_value(sid));
  char *out;
  pt_error err;
  pt_status st = pt_snapshot(r->srv->t, json_string_value(sid), json_string_value(pt),
                             json_string_value(notes), &out, &err);
  if (st != PT_OK) return ptd_reply_error(r, &err);
  ptd_hub_notify(r->srv->hub, json_string_value(sid));
  return ptd_reply_json(r, 201, out);
}

/* POST /api/pipeline/redact {"session_id", "event_ids"?, "actor"?}: who
 * asked is recorded as the credential and address the request came with,
 * and the name the client gives, if any. */
static enum MHD_Result redact_post(ptd_req *r) {
  enum MHD_Result rc = MHD_NO;
  json_t *doc = body_object(r, &rc);
  if (!doc) return rc;
  r->doc = doc;
  static const char *const allowed[] = {"session_id", "event_ids", "actor", NULL};
  if (only_members(r, doc, allowed, &rc)) return rc;
  json_t *sid = json_object_get(doc, "session_id"), *ids = json_object_get(doc, "event_ids"),
         *actor = json_object_get(doc, "actor");
  if (!is_cstr(sid))
    return ptd_reply_http_error(r, 400, "invalid_request", "session_id",
                                "session_id: is required and must be a string without U+0000");
  if (ids && !json_is_array(ids))
    return ptd_reply_http_error(r, 400, "invalid_request", "event_ids",
                                "event_ids: must be an array of event ids (absent: all)");
  if (ids && json_array_size(ids) == 0)
    return ptd_reply_http_error(r, 400, "invalid_request", "event_ids",
                                "event_ids: must not be empty (leave it out to redact every event)");
  if (actor && (!is_cstr(actor) || json_string_length(actor) > 128))
    return ptd_reply_http_error(r, 400, "invalid_request", "actor",
                                "actor: must be a string of at most 128 bytes without U+0000");
  size_t n = ids ? json_array_size(ids) : 0;
  if (n > PT_BATCH_MAX)
    return ptd_reply_http_error(r, 413, "payload_too_large", "event_ids",
                                "event_ids: at most %d ids a request", PT_BATCH_MAX);
  const char **list = n ? calloc(n, sizeof *list) : NULL;
  if (n && !list) return ptd_reply_http_error(r, 503, "storage_unavailable", NULL, "out of memory");
  for (size_t i = 0; i < n; i++) {
    json_t *id = json_array_get(ids, i);
    list[i] = is_cstr(id) ? json_string_value(id) : NULL;
    if (!list[i]) {
      free(list);
      char field[32];
      snprintf(field, sizeof field, "event_ids[%zu]", i);
      return ptd_reply_http_error(r, 400, "invalid_request", field,
                                  "%s: must be a string without U+0000", field);
    }
  }
  char ip[64] = "?";
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, ip, sizeof ip);
  pt_buf who;
  pt_buf_init(&who, 0);
  pt_buf_printf(&who, "%s from %s", r->srv->cfg.api_token ? "the API token" : "an open server", ip);
  if (actor) {
    pt_buf_puts(&who, " as ");
    pt_buf_json_cstr(&who, json_string_value(actor));
  }
  snprintf(r->session_id, sizeof r->session_id, "%s", json_string_value(sid));
  char *out;
  pt_error err;
  pt_status st = pt_redact(r->srv->t, json_string_value(sid), list, n, pt_buf_cstr(&who), &out, &err);
  free(list);
  pt_buf_cleanup(&who);
  if (st != PT_OK) return ptd_reply_error(r, &err);
  ptd_hub_notify(r->srv->hub, json_string_value(sid));
  return ptd_reply_json(r, 200, out);
}

static enum MHD_Result registry_get(ptd_req *r) {
  enum MHD_Result rc = MHD_NO;
  const char *sid = session_arg(r, &rc);
  if (!sid) return rc;
  int limit;
  if (int_arg(r, "limit", 1, 1000, &limit, &rc)) return rc;
  char *out;
  pt_error err;
  pt_status st = pt_history(r->srv->t, sid, limit, arg(r, "cursor"), &out, &err);
  return st == PT_OK ? ptd_reply_json(r, 200, out) : ptd_reply_error(r, &err);
}

static enum MHD_Result checksum_get(ptd_req *r) {
  enum MHD_Result rc = MHD_NO;
  const char *sid = session_arg(r, &rc);
  if (!sid) return rc;
  char *out;
  pt_error err;
  pt_status st = pt_checksum(r->srv->t, sid, &out, &err);
  return st == PT_OK ? ptd_reply_json(r, 200, out) : ptd_reply_error(r, &err);
}

static enum MHD_Result report_get(ptd_req *r) {
  enum MHD_Result rc = MHD_NO;
  const char *sid = session_arg(r, &rc);
  if (!sid) return rc;
  const char *f = arg(r, "format");
  pt_format fmt = PT_FORMAT_JSON;
  if (f && strcmp(f, "markdown") == 0)
    fmt = PT_FORMAT_MARKDOWN;
  else if (f && strcmp(f, "json") != 0)
    return ptd_reply_http_error(r, 400, "invalid_request", "format",
                                "format: must be json or markdown");
  char *out;
  pt_error err;
  pt_status st = pt_report(r->srv->t, sid, fmt, &out, &err);
  if (st != PT_OK) return ptd_reply_error(r, &err);
  return ptd_reply(r, 200, out, strlen(out),
                   fmt == PT_FORMAT_JSON ? "application/json" : "text/markdown; charset=utf-8",
                   NULL);
}

static enum MHD_Result verify_get(ptd_req *r) {
  enum MHD_Result rc = MHD_NO;
  const char *sid = session_arg(r, &rc);
  if (!sid) return rc;
  char *out;
  int ok;
  pt_error err;
  pt_status st = pt_verify(r->srv->t, sid, &ok, &out, &err);
  return st == PT_OK ? ptd_reply_json(r, 200, out) : ptd_reply_error(r, &err);
}

static enum MHD_Result sessions_get(ptd_req *r) {
  enum MHD_Result rc = MHD_NO;
  int limit;
  if (int_arg(r, "limit", 1, 1000, &limit, &rc)) return rc;
  char *out;
  pt_error err;
  pt_status st = pt_sessions(r->srv->t, arg(r, "pipeline_type"), arg(r, "state"), limit,
                             arg(r, "cursor"), &out, &err);
  return st == PT_OK ? ptd_reply_json(r, 200, out) : ptd_reply_error(r, &err);
}

static enum MHD_Result pubkey_get(ptd_req *r) {
  char *out;
  pt_error err;
  pt_status st = pt_pubkey(r->srv->t, &out, &err);
  return st == PT_OK ? ptd_reply_json(r, 200, out) : ptd_reply_error(r, &err);
}

static enum MHD_Result definitions_get(ptd_req *r) {
  char *out;
  pt_error err;
  pt_status st = pt_definitions_json(r->srv->t, &out, &err);
  return st == PT_OK ? ptd_reply_json(r, 200, out) : ptd_reply_error(r, &err);
}

/* ---- export and import ------------------------------------------------------ */

typedef struct exporter {
  pt_export *x;
  const char *chunk;
  size_t len, off;
  int failed;
} exporter;

/* Pulls the export a chunk at a time: memory stays bounded however large
 * the store. A failure mid-way can only cut the stream (the status is
 * sent): the last line is then incomplete, which import refuses. */
static ssize_t export_read(void *cls, uint64_t pos, char *buf, size_t max) {
  exporter *e = cls;
  (void)pos;
  if (e->off == e->len) {
    pt_error err;
    if (e->failed || pt_export_next(e->x, &e->chunk, &e->len, &err) != PT_OK) {
      e->failed = 1;
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    e->off = 0;
    if (e->len == 0) return MHD_CONTENT_READER_END_OF_STREAM;
  }
  size_t n = e->len - e->off < max ? e->len - e->off : max;
  memcpy(buf, e->chunk + e->off, n);
  e->off += n;
  return (ssize_t)n;
}

static void export_free(void *cls) {
  exporter *e = cls;
  pt_export_close(e->x);
  free(e);
}

static enum MHD_Result export_get(ptd_req *r) {
  const char *sid = arg(r, "session_id");
  if (sid) snprintf(r->session_id, sizeof r->session_id, "%s", sid);
  exporter *e = calloc(1, sizeof *e);
  if (!e) return MHD_NO;
  pt_error err;
  if (pt_export_open(r->srv->t, sid, &e->x, &err) != PT_OK) {
    free(e);
    return ptd_reply_error(r, &err);
  }
  struct MHD_Response *resp =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, export_read, e, export_free);
  if (!resp) {
    export_free(e);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  ptd_add_common_headers(r, resp);
  r->status = 200;
  r->phase = PH_DONE;
  enum MHD_Result rc = MHD_queue_response(r->conn, 200, resp);
  MHD_destroy_response(resp);
  return rc;
}

/* One transaction per request: the client sends a large file in parts of
 * whole lines (`pipetrack import` sends 1,000 lines a request). */
static enum MHD_Result import_post(ptd_req *r) {
  const char *from = arg(r, "first_line");
  size_t first = from ? strtoull(from, NULL, 10) : 1;
  pt_import_result res;
  pt_error err;
  if (pt_import(r->srv->t, r->body ? r->body : "", r->len, first ? first : 1, &res, &err) != PT_OK)
    return ptd_reply_error(r, &err);
  char *out = malloc(256);
  if (!out) return MHD_NO;
  snprintf(out, 256,
           "{\"events_added\":%lld,\"events_skipped\":%lld,\"snapshots_added\":%lld,"
           "\"snapshots_skipped\":%lld,\"issues_imported\":%lld}",
           (long long)res.events_added, (long long)res.events_skipped,
           (long long)res.snapshots_added, (long long)res.snapshots_skipped,
           (long long)res.issues_imported);
  return ptd_reply_json(r, 200, out);
}

/* ---- issues ----------------------------------------------------------------- */

static enum MHD_Result issues_get(ptd_req *r) {
  enum MHD_Result rc = MHD_NO;
  int limit;
  if (int_arg(r, "limit", 1, 1000, &limit, &rc)) return rc;
  char *out;
  pt_error err;
  pt_status st = pt_issues(r->srv->t, arg(r, "status"), arg(r, "pipeline_type"), limit,
                           arg(r, "cursor"), &out, &err);
  return st == PT_OK ? ptd_reply_json(r, 200, out) : ptd_reply_error(r, &err);
}

static enum MHD_Result issue_get(ptd_req *r) {
  char *out;
  pt_error err;
  pt_status st = pt_issue_get(r->srv->t, r->param, &out, &err);
  return st == PT_OK ? ptd_reply_json(r, 200, out) : ptd_reply_error(r, &err);
}

static enum MHD_Result issue_resolve(ptd_req *r) {
  char *out;
  pt_error err;
  pt_status st = pt_issue_resolve(r->srv->t, r->param, &out, &err);
  if (st == PT_OK) {
    ptd_webhook_kick(r->srv->webhook);
    ptd_hub_notify_issue(r->srv->hub, r->param);
  }
  return st == PT_OK ? ptd_reply_json(r, 200, out) : ptd_reply_error(r, &err);
}

static enum MHD_Result metrics_get(ptd_req *r) {
  char *out = ptd_metrics_render(r->srv);
  if (!out) return MHD_NO;
  return ptd_reply(r, 200, out, strlen(out), "text/plain; version=0.0.4; charset=utf-8", NULL);
}

static enum MHD_Result readyz_get(ptd_req *r) {
  char etag[PT_ETAG_SIZE];
  pt_error err;
  /* "the store answers": a read of a session that need not exist */
  pt_status st = pt_status_summary_etag(r->srv->t, "readyz.probe", NULL, 0, 0, etag, NULL, &err);
  if (st != PT_OK && st != PT_ENOTFOUND) return ptd_reply_error(r, &err);
  return ptd_reply_json(r, 200, strdup("{\"status\":\"ready\"}"));
}

static enum MHD_Result stats_get(ptd_req *r) {
  const char *since = arg(r, "since");
  char *end = NULL;
  long long ms = since ? strtoll(since, &end, 10) : 0;
  if (since && (*end || ms < 0))
    return ptd_reply_http_error(r, 400, "invalid_request", "since",
                                "since: must be a time in ms since the epoch");
  char *out;
  pt_error err;
  pt_status st = pt_stats(r->srv->t, arg(r, "pipeline_type"), ms, &out, &err);
  return st == PT_OK ? ptd_reply_json(r, 200, out) : ptd_reply_error(r, &err);
}

/* The dashboard's files: built in, revalidated by ETag (a hash of the
 * content), so a new build is picked up at once and an unchanged file costs
 * a 304. */
static enum MHD_Result asset(ptd_req *r, const char *name) {
  for (size_t i = 0; i < ptd_nassets; i++) {
    const ptd_asset *a = &ptd_assets[i];
    if (strcmp(a->name, name) != 0) continue;
    char hex[65], etag[40];
    pt_sha256_hex(a->data, a->len, hex);
    snprintf(etag, sizeof etag, "\"%.32s\"", hex);
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    struct MHD_Response *resp =
        inm && strstr(inm, etag)
            ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
            : MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    unsigned status = inm && strstr(inm, etag) ? 304 : 200;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                            "img-src 'self' data:; object-src 'none'; base-uri 'none'");
    r->status = status;
    r->phase = PH_DONE;
    enum MHD_Result rc = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
  }
  return ptd_reply_http_error(r, 404, "not_found", NULL, "no such file: %s", name);
}

enum MHD_Result ptd_dispatch(ptd_req *r) {
  switch (r->route) {
    case R_TRACK: return track(r, 0);
    case R_BATCH: return track(r, 1);
    case R_STATUS: return status_get(r);
    case R_STREAM: return stream_get(r);
    case R_SNAPSHOT: return snapshot_post(r);
    case R_REGISTRY: return registry_get(r);
    case R_CHECKSUM: return checksum_get(r);
    case R_REPORT: return report_get(r);
    case R_VERIFY: return verify_get(r);
    case R_SESSIONS: return sessions_get(r);
    case R_DEFINITIONS: return definitions_get(r);
    case R_EXPORT: return export_get(r);
    case R_IMPORT: return import_post(r);
    case R_ISSUES: return issues_get(r);
    case R_ISSUE: return issue_get(r);
    case R_ISSUE_RESOLVE: return issue_resolve(r);
    case R_ISSUES_STREAM: return ptd_issue_stream_start(r);
    case R_METRICS: return metrics_get(r);
    case R_HEALTHZ: return ptd_reply_json(r, 200, strdup("{\"status\":\"ok\"}"));
    case R_READYZ: return readyz_get(r);
    case R_INDEX: return asset(r, "index.html");
    case R_ASSET: return asset(r, r->param);
    case R_STATS: return stats_get(r);
    case R_PUBKEY: return pubkey_get(r);
    case R_REDACT: return redact_post(r);
    default:
      return ptd_reply_http_error(r, 404, "not_found", NULL, "no such endpoint: %s", r->path);
  }
}
