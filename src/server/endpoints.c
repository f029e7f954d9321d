/* endpoints.c - what pipetrackd answers itself: the status and issues
 * streams (checked here, served by stream.c), /metrics (metrics.c renders
 * it), /healthz, /readyz and the dashboard's files built into the binary. */
#include "endpoints.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "metrics.h"
#include "reply.h"
#include "stream.h"

static const char *arg(ptd_req *r, const char *name) {
  const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
  return v && *v ? v : NULL;
}

static enum MHD_Result fail(ptd_req *r, const pt_error *err) {
  return ptd_reply_answer(r, pt_answer_fail(err));
}

enum MHD_Result ptd_status_stream_get(ptd_req *r) {
  const char *sid = arg(r, "session_id");
  if (!sid)
    return ptd_reply_error(r, 400, "invalid_request", "session_id", "session_id: is required");
  snprintf(r->session_id, sizeof r->session_id, "%s", sid);
  const char *ptype = arg(r, "pipeline_type");
  char etag[PT_ETAG_SIZE];
  pt_error err;
  /* refusals (unknown session, bad names) as plain answers, before the
   * stream starts */
  if (pt_status_summary_etag(r->srv->t, sid, ptype, 0, 0, etag, NULL, &err) != PT_OK)
    return fail(r, &err);
  return ptd_stream_start(r, sid, ptype);
}

/* POST /api/pipeline/read_token {"session_id"}: a read token for server
 * code that hands it to a page (the session need not exist yet: reading it
 * answers 404 until it does). */
enum MHD_Result ptd_read_token_post(ptd_req *r) {
  json_t *doc = NULL;
  pt_error err;
  if (pt_json_read(r->body ? r->body : "", r->len, &doc, &err) != PT_OK) return fail(r, &err);
  const char *sid = NULL;
  const char *bad = NULL;
  if (!json_is_object(doc)) {
    bad = "body: must be a JSON object {\"session_id\": \"...\"}";
  } else {
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
      if (strcmp(key, "session_id") != 0) {
        bad = "body: the only member is session_id";
        break;
      }
    }
    sid = json_string_value(json_object_get(doc, "session_id"));
    size_t n = sid ? strlen(sid) : 0;
    int ok = n >= 1 && n <= 128;
    for (size_t i = 0; ok && i < n; i++)
      ok = (sid[i] >= 'A' && sid[i] <= 'Z') || (sid[i] >= 'a' && sid[i] <= 'z') ||
           (sid[i] >= '0' && sid[i] <= '9') || strchr("_.:-", sid[i]) != NULL;
    if (!bad && !ok) bad = "session_id: must be 1-128 characters of A-Z a-z 0-9 _ . : -";
  }
  if (bad) {
    json_decref(doc);
    return ptd_reply_error(r, 400, "invalid_request",
                           strncmp(bad, "session_id", 10) == 0 ? "session_id" : NULL, "%s", bad);
  }
  snprintf(r->session_id, sizeof r->session_id, "%s", sid);
  char tok[PTD_READ_TOKEN_SIZE];
  int64_t exp;
  ptd_rt_mint(&r->srv->rt, sid, ptd_wall_ms(), tok, &exp);
  json_t *o = json_pack("{s:s,s:s,s:I}", "session_id", sid, "read_token", tok, "expires_at",
                        (json_int_t)exp);
  json_decref(doc);
  char *out = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(o);
  if (!out) return MHD_NO;
  return ptd_reply(r, 200, out, strlen(out), "application/json", NULL);
}

enum MHD_Result ptd_issues_stream_get(ptd_req *r) {
  return ptd_issue_stream_start(r);
}

enum MHD_Result ptd_metrics_get(ptd_req *r) {
  char *out = ptd_metrics_render(r->srv);
  if (!out) return MHD_NO;
  return ptd_reply(r, 200, out, strlen(out), "text/plain; version=0.0.4; charset=utf-8", NULL);
}

static enum MHD_Result json_text(ptd_req *r, const char *text) {
  char *body = strdup(text);
  if (!body) return MHD_NO;
  return ptd_reply(r, 200, body, strlen(body), "application/json", NULL);
}

enum MHD_Result ptd_healthz_get(ptd_req *r) {
  return json_text(r, "{\"status\":\"ok\"}");
}

enum MHD_Result ptd_readyz_get(ptd_req *r) {
  char etag[PT_ETAG_SIZE];
  pt_error err;
  /* writes fail for lack of space (a full disk): 503, the reason in the
   * body, until a write (or the tracker's probe) succeeds */
  if (pt_ready(r->srv->t, &err) != PT_OK) return fail(r, &err);
  /* "the store answers": a read of a session that need not exist */
  pt_status st = pt_status_summary_etag(r->srv->t, "readyz.probe", NULL, 0, 0, etag, NULL, &err);
  if (st != PT_OK && st != PT_ENOTFOUND) return fail(r, &err);
  return json_text(r, "{\"status\":\"ready\"}");
}

/* The dashboard's files: built in, revalidated by ETag (a hash of the
 * content), so a new build is picked up at once and an unchanged file costs
 * a 304. */
static enum MHD_Result asset(ptd_req *r, const char *name) {
  for (size_t i = 0; i < ptd_nassets; i++) {
    const ptd_asset *a = &ptd_assets[i];
    if (strcmp(a->name, name) != 0) continue;
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    int same = inm && strstr(inm, a->etag);
    struct MHD_Response *resp =
        same ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
             : MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                            "img-src 'self' data:; object-src 'none'; base-uri 'none'");
    enum MHD_Result rc = ptd_queue(r, same ? 304 : 200, resp);
    MHD_destroy_response(resp);
    return rc;
  }
  return ptd_reply_error(r, 404, "not_found", NULL, "no such file: %s", name);
}

enum MHD_Result ptd_index_get(ptd_req *r) {
  return asset(r, "index.html");
}

enum MHD_Result ptd_asset_get(ptd_req *r) {
  return asset(r, r->param);
}
