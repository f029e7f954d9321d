/* http.c - one request's life on libmicrohttpd: its row found in the route
 * table, checked (method, access, CORS, rate, content type, size), its body
 * read whole (bounded), handed to the row's handler, and when it completes
 * counted in the metrics and logged (one JSON line). */
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "guard.h"
#include "metrics.h"
#include "ratelimit.h"
#include "reply.h"
#include "routes.h"

/* ---- access ------------------------------------------------------------------- */

/* Constant time whatever the lengths: both sides hashed, digests compared. */
static int token_equal(const char *given, size_t n, const char *want) {
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)given, n, a);
  SHA256((const unsigned char *)want, strlen(want), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

/* A read token given for a route of one session (PT_ACCESS_SESSION): 0
 * when it reads the session named by session_id; else the 403 was queued.
 * field says where it came from (Authorization or read_token). */
static int check_read_token(ptd_req *r, const char *tok, const char *field, enum MHD_Result *out) {
  const char *sid = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "session_id");
  const char *why = NULL;
  if (!sid || !*sid) {
    why = "a read token reads the session named by session_id, and none is named";
  } else {
    switch (ptd_rt_check_token(&r->srv->rt, tok, sid, ptd_wall_ms())) {
      case PTD_RT_OK: return 0;
      case PTD_RT_EXPIRED:
        why =
            "this read token has expired: a new one comes from POST /api/pipeline/read_token "
            "(with the API token)";
        break;
      case PTD_RT_MALFORMED: why = "this is not a read token (rt1.<expiry>.<mac>)"; break;
      default: why = "this read token is not for this session (or its secret was rotated)";
    }
  }
  *out = ptd_reply_error(r, 403, "forbidden", field, "%s: %s", field, why);
  return 1;
}

/* 0: allowed; else the answer was queued (401/403). r->api_cred says
 * whether the API token was shown. */
static int check_access(ptd_req *r, pt_access need, enum MHD_Result *out) {
  const ptd_config *c = &r->srv->cfg;
  if (need == PT_ACCESS_OPEN) return 0;
  /* Tracking is open only when neither credential is configured: an API
   * token alone also guards tracking (docs/decisions.md). */
  if (need == PT_ACCESS_INGEST && !c->ingest_key && !c->api_token) return 0;
  /* reads are open without an API token: a read token changes nothing */
  if ((need == PT_ACCESS_API || need == PT_ACCESS_SESSION) && !c->api_token) return 0;
  if (need == PT_ACCESS_TOKEN && !c->api_token) {
    *out = ptd_reply_error(r, 403, "forbidden", NULL,
                           "%s needs the API token: start pipetrackd with --api-token",
                           r->srv->routes[r->route].path);
    return 1;
  }
  const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
  const char *tok = NULL;
  if (h && strncasecmp(h, "Bearer ", 7) == 0) {
    tok = h + 7;
    while (*tok == ' ') tok++;
  }
  if (tok && !*tok) tok = NULL;
  if (need == PT_ACCESS_SESSION) {
    /* EventSource sends no headers: the token may come as ?read_token= */
    const char *q = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "read_token");
    if (tok && ptd_rt_is_token(tok)) return check_read_token(r, tok, "Authorization", out);
    if (!tok && q) return check_read_token(r, q, "read_token", out);
  }
  if (!tok) {
    *out = ptd_reply_error(r, 401, "unauthorized", "Authorization",
                           "Authorization: a Bearer token is required");
    return 1;
  }
  size_t n = strlen(tok);
  if (c->api_token && token_equal(tok, n, c->api_token)) {
    r->api_cred = 1;
    return 0;
  }
  if (c->ingest_key && token_equal(tok, n, c->ingest_key)) {
    if (need == PT_ACCESS_INGEST) return 0;
    *out = ptd_reply_error(r, 403, "forbidden", "Authorization",
                           "Authorization: the ingest key may only track events");
    return 1;
  }
  if (ptd_rt_is_token(tok)) {
    *out = ptd_reply_error(r, 403, "forbidden", "Authorization",
                           "Authorization: a read token reads its own session's status, status "
                           "stream and report only");
    return 1;
  }
  *out = ptd_reply_error(r, 401, "unauthorized", "Authorization",
                         "Authorization: the token is not valid");
  return 1;
}

/* The request's Origin when --cors-origin allows it. */
static char *allowed_origin(ptd_req *r) {
  const char *list = r->srv->cfg.cors_origins;
  const char *o = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
  if (!list || !o || !*o) return NULL;
  size_t on = strlen(o);
  for (const char *p = list; *p;) {
    while (*p == ' ' || *p == ',') p++;
    const char *e = p;
    while (*e && *e != ',') e++;
    size_t n = (size_t)(e - p);
    while (n && p[n - 1] == ' ') n--;
    if ((n == 1 && *p == '*') || (n == on && strncmp(p, o, n) == 0)) return strdup(o);
    p = e;
  }
  return NULL;
}

static enum MHD_Result preflight(ptd_req *r) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!resp) return MHD_NO;
  if (r->origin) {
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    const char *extra = r->srv->cfg.cors_headers;
    char allow[600];
    snprintf(allow, sizeof allow, "Authorization, Content-Type, If-None-Match, Last-Event-ID%s%s",
             extra && *extra ? ", " : "", extra ? extra : "");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", allow);
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
  }
  enum MHD_Result rc = ptd_queue(r, 204, resp);
  MHD_destroy_response(resp);
  return rc;
}

/* Rate limits on tracking: after access, so a client without the key
 * cannot spend another's budget; answered before the body is read. 0: go
 * on; else the 429 was queued. */
static int over_rate(ptd_req *r, enum MHD_Result *out) {
  ptd_server *s = r->srv;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  uint32_t addr = 0;
  char ip[INET_ADDRSTRLEN] = "?";
  if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
    addr = ((const struct sockaddr_in *)ci->client_addr)->sin_addr.s_addr;
    inet_ntop(AF_INET, &addr, ip, sizeof ip);
  }
  uint64_t wait_ms = ptd_limiter_take(s->limiter, addr, ptd_mono_ns());
  if (!wait_ms) return 0;
  r->retry_after = (unsigned)((wait_ms + 999) / 1000);
  *out = ptd_reply_error(r, 429, "rate_limited", NULL,
                         "too many track requests from %s: at most %u a second "
                         "(bursts of %u); retry in %llu ms",
                         ip, s->cfg.rate_limit,
                         s->cfg.rate_burst ? s->cfg.rate_burst : s->cfg.rate_limit,
                         (unsigned long long)wait_ms);
  return 1;
}

static int content_type_is(const char *ct, const char *want) {
  if (!ct) return 0;
  while (*ct == ' ') ct++;
  size_t n = strlen(want);
  if (strncasecmp(ct, want, n) != 0) return 0;
  ct += n;
  while (*ct == ' ') ct++;
  return *ct == '\0' || *ct == ';';
}

/* ---- the request head, per RFC 9110/9112 ------------------------------------------- */

/* A field name is a token (RFC 9110 §5.1): no space (so no "Name : v"), no
 * control, not empty. */
static int is_tchar(unsigned char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

typedef struct head {
  const char *bad; /* the first thing wrong, for the message */
  unsigned hosts, lengths, encodings;
  const char *length, *encoding;
  int lengths_differ;
} head;

static enum MHD_Result look_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size) {
  head *h = cls;
  (void)kind;
  if (!key_size || strlen(key) != key_size) {
    h->bad = "an empty header name";
    return MHD_NO;
  }
  for (size_t i = 0; i < key_size; i++)
    if (!is_tchar((unsigned char)key[i])) {
      h->bad = key[i] == ' ' || key[i] == '\t' ? "whitespace in a header name or before its colon"
                                               : "a character not allowed in a header name";
      return MHD_NO;
    }
  /* libmicrohttpd cuts a value at a NUL (so "Bearer T\0junk" would read as
   * "T"): a value shorter than its line had a NUL in it */
  if (value && strlen(value) != value_size) {
    h->bad = "a NUL in a header value";
    return MHD_NO;
  }
  for (size_t i = 0; value && i < value_size; i++) {
    unsigned char ch = (unsigned char)value[i];
    if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
      h->bad = "a control character (CR, LF, NUL...) in a header value";
      return MHD_NO;
    }
  }
  if (strcasecmp(key, "Host") == 0) h->hosts++;
  if (strcasecmp(key, "Content-Length") == 0) {
    if (h->length && strcmp(h->length, value ? value : "") != 0) h->lengths_differ = 1;
    h->length = value ? value : "";
    h->lengths++;
  }
  if (strcasecmp(key, "Transfer-Encoding") == 0) {
    h->encoding = value ? value : "";
    h->encodings++;
  }
  return MHD_YES;
}

/* 0: the head is well formed; else the refusal was queued and the
 * connection will close (what follows a bad frame is not a request). */
static int refuse_bad_head(ptd_req *r, const char *version, enum MHD_Result *out) {
  head h = {0};
  MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, look_header, &h);
  int http11 = strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
  unsigned status = 400;
  const char *code = "bad_request", *field = NULL;
  char msg[160];
  const char *p = r->path;
  while (*p && (unsigned char)*p > 0x20 && *p != 0x7f) p++;
  if (*p) {
    snprintf(msg, sizeof msg, "the request target has a space or a control character");
  } else if (h.bad) {
    snprintf(msg, sizeof msg, "the request head has %s", h.bad);
  } else if (http11 ? h.hosts != 1 : h.hosts > 1) {
    field = "Host";
    snprintf(msg, sizeof msg, "Host: an HTTP/1.1 request must have exactly one (it has %u)",
             h.hosts);
  } else if (h.lengths_differ) {
    field = "Content-Length";
    snprintf(msg, sizeof msg, "Content-Length: given twice with different values");
  } else if (h.encodings && !http11) {
    field = "Transfer-Encoding";
    snprintf(msg, sizeof msg, "Transfer-Encoding: not allowed in HTTP/1.0");
  } else if (h.encodings && h.lengths) {
    field = "Transfer-Encoding";
    snprintf(msg, sizeof msg, "Transfer-Encoding and Content-Length: only one may frame the body");
  } else if (h.encodings > 1 || (h.encodings && strcasecmp(h.encoding, "chunked") != 0)) {
    status = 501;
    code = "not_implemented";
    field = "Transfer-Encoding";
    snprintf(msg, sizeof msg, "Transfer-Encoding: only \"chunked\" is supported");
  } else {
    return 0;
  }
  r->close = 1;
  *out = ptd_reply_error(r, status, code, field, "%s", msg);
  return 1;
}

static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                       size_t key_size, const char *value, size_t value_size) {
  size_t *n = cls;
  (void)kind;
  (void)key;
  (void)value;
  *n += key_size + 2 + value_size + 2; /* "Name: value" CRLF */
  return MHD_YES;
}

/* The request line and headers over --max-header-bytes: 431 and closed,
 * a JSON error like every other. (A head too large for libmicrohttpd's
 * pool, --conn-buffer, never gets here: the library answers its own 431.) */
static int refuse_large_head(ptd_req *r, const char *method, const char *version,
                             enum MHD_Result *out) {
  size_t n = strlen(method) + 1 + r->target_len + 1 + strlen(version) + 2 + 2;
  MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, add_header_size, &n);
  size_t max = r->srv->cfg.max_header_bytes;
  if (n <= max) return 0;
  r->close = 1;
  *out = ptd_reply_error(r, 431, "headers_too_large", NULL,
                         "the request line and headers are %zu bytes; at most %zu are accepted "
                         "(--max-header-bytes)",
                         n, max);
  return 1;
}

static enum MHD_Result look_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                size_t key_size, const char *value, size_t value_size) {
  const char **bad = cls;
  (void)kind;
  if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
    *bad = key;
    return MHD_NO;
  }
  return MHD_YES;
}

/* A "%00" in the query would cut its value short after it was read (past
 * validation): refused, naming the parameter. */
static int refuse_nul_in_query(ptd_req *r, enum MHD_Result *out) {
  const char *bad = NULL;
  MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, look_arg, &bad);
  if (!bad) return 0;
  char name[64];
  snprintf(name, sizeof name, "%s", *bad ? bad : "query");
  *out = ptd_reply_error(r, 400, "invalid_request", name,
                         "%s: must not contain a NUL character (%%00)", name);
  return 1;
}

/* ---- the request life cycle ------------------------------------------------------ */

/* An atomic count, no lock and no wake-up per request: the drain polls it.
 * (A broadcast here woke the ticker on every request: 4 futex calls a
 * request, most of the server's system time.) */
static void inflight_add(ptd_server *s, int d) {
  __atomic_add_fetch(&s->inflight, d, __ATOMIC_SEQ_CST);
}

void *ptd_http_on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  ptd_server *s = cls;
  ptd_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->srv = s;
  r->conn = c;
  r->t0_ns = ptd_mono_ns();
  r->route = s->nroutes;
  pthread_mutex_init(&r->lock, NULL);
  r->target_len = strlen(uri);
  /* absolute form (RFC 9112 §3.2.2): routed by its path */
  if (strncasecmp(uri, "http://", 7) == 0 || strncasecmp(uri, "https://", 8) == 0) {
    const char *p = strchr(uri, ':') + 3;
    p += strcspn(p, "/?");
    uri = *p == '/' ? p : "/";
  }
  const char *q = strchr(uri, '?');
  size_t n = q ? (size_t)(q - uri) : strlen(uri);
  if (n > 2048) n = 2048; /* the log line and error messages need no more */
  r->path = malloc(n + 1);
  if (!r->path) {
    pthread_mutex_destroy(&r->lock);
    free(r);
    return NULL;
  }
  memcpy(r->path, uri, n);
  r->path[n] = '\0';
  /* the request starts here: the header time limit counts from here */
  MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, s->cfg.header_timeout_s);
  r->counted = 1;
  inflight_add(s, 1);
  ptd_guard_head_started(s->guard, c);
  return r;
}

static void req_free(ptd_req *r) {
  free(r->path);
  free(r->body);
  free(r->origin);
  if (r->call) pt_answer_free(pt_call_finish(r->call)); /* cut off while waiting */
  pthread_mutex_destroy(&r->lock);
  free(r);
}

void ptd_http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe) {
  ptd_server *s = cls;
  ptd_req *r = *con_cls;
  if (!r) return;
  *con_cls = NULL;
  uint64_t ns = ptd_mono_ns() - r->t0_ns;
  unsigned status = r->status;
  if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !r->stream && status < 400)
    status = 499; /* the client went away (or a timeout) before the answer */
  if (!status) status = 499;
  ptd_metrics_request(s->metrics, r->route, status, ns);
  ptd_guard_request_done(s->guard, c);
  /* cut before its head was complete (a slow or broken client): counted
   * into the guard's one line a second, not a line each */
  int cut = r->phase == PH_NEW && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK;
  if (cut) ptd_guard_count_cut(s->guard);
  if (!s->cfg.quiet && !cut) {
    json_t *extra = json_pack("{s:s,s:s,s:i,s:f}", "method", r->method[0] ? r->method : "-", "path",
                              r->path, "status", (int)status, "duration_ms", (double)ns / 1e6);
    if (extra && r->session_id[0])
      json_object_set_new(extra, "session_id", json_string(r->session_id));
    ptd_log("info", "request", extra);
    json_decref(extra);
  }
  /* the next request on this connection gets the idle limit until its
   * request line arrives */
  MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, s->cfg.idle_timeout_s);
  if (r->counted) inflight_add(s, -1);
  req_free(r);
}

/* The first call for a request: everything that can be answered before the
 * body is read. */
static enum MHD_Result begin(ptd_req *r, const char *method, const char *version) {
  ptd_server *s = r->srv;
  snprintf(r->method, sizeof r->method, "%s", method);
  ptd_guard_head_done(s->guard, r->conn);
  enum MHD_Result out;
  if (refuse_large_head(r, method, version, &out)) return out;
  if (refuse_bad_head(r, version, &out)) return out;
  int wrong_method = 0;
  r->route = ptd_route_find(s->routes, s->nroutes, method, r->path, r->param, &wrong_method);
  r->origin = allowed_origin(r);
  if (__atomic_load_n(&s->draining, __ATOMIC_SEQ_CST)) {
    /* shutting down: answered at once, never suspended; the client
     * retries on the next server */
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 1);
    return ptd_reply_error(r, 503, "shutting_down", NULL, "the server is shutting down; retry");
  }
  uint64_t waited = ptd_mono_ns() - r->t0_ns;
  if (s->cfg.header_timeout_s && waited > (uint64_t)s->cfg.header_timeout_s * 1000000000u) {
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 1);
    return ptd_reply_error(r, 408, "request_timeout", NULL,
                           "the request headers took longer than %u s", s->cfg.header_timeout_s);
  }
  if (r->route == s->nroutes)
    return ptd_reply_error(r, 404, "not_found", NULL, "no such endpoint: %s", r->path);
  if (strcmp(method, "OPTIONS") == 0) {
    r->route = s->nroutes; /* counted as "other" */
    return preflight(r);
  }
  if (refuse_nul_in_query(r, &out)) return out;
  const ptd_route *row = &s->routes[r->route];
  if (wrong_method)
    return ptd_reply_error(r, 405, "method_not_allowed", NULL, "%s takes %s, not %s", row->path,
                           row->method, method);
  if (check_access(r, row->access, &out)) return out;
  if (row->access == PT_ACCESS_INGEST && s->limiter && over_rate(r, &out)) return out;
  if (row->body_type) {
    const char *ct =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    /* navigator.sendBeacon sends a string as text/plain: the track
     * routes take the same JSON under it (read as strictly) */
    int beacon = row->access == PT_ACCESS_INGEST && content_type_is(ct, "text/plain");
    if (!beacon && !content_type_is(ct, row->body_type))
      return ptd_reply_error(r, 415, "unsupported_media_type", "Content-Type",
                             "Content-Type: must be %s%s", row->body_type,
                             row->access == PT_ACCESS_INGEST ? " (or text/plain holding it)" : "");
    const char *cl =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    char *end = NULL;
    unsigned long long len = cl ? strtoull(cl, &end, 10) : 0;
    if (cl && (end == cl || *end || len > s->cfg.max_body))
      return ptd_reply_error(r, 413, "payload_too_large", "body", "body: must be at most %zu bytes",
                             s->cfg.max_body);
  }
  /* answered on the next call: a response queued on this first call makes
   * MHD close the connection afterwards (no keep-alive) */
  return MHD_YES;
}

/* A part of the body. MHD_NO cuts the connection. */
static enum MHD_Result body_part(ptd_req *r, const char *upload, size_t n) {
  size_t max = r->srv->cfg.max_body;
  if (r->too_big || r->len + n > max) {
    /* a body larger than it said, or chunked past the limit: MHD can only
     * answer once the body is read, so the connection is cut */
    r->too_big = 1;
    r->status = 413;
    return MHD_NO;
  }
  if (r->len + n + 1 > r->cap) {
    size_t nc = r->cap ? r->cap : 4096;
    while (nc < r->len + n + 1) nc *= 2;
    if (nc > max + 1) nc = max + 1;
    char *nb = realloc(r->body, nc);
    if (!nb) return MHD_NO;
    r->body = nb;
    r->cap = nc;
  }
  memcpy(r->body + r->len, upload, n);
  r->len += n;
  r->body[r->len] = '\0';
  return MHD_YES;
}

enum MHD_Result ptd_http_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *upload,
                                    size_t *upload_size, void **con_cls) {
  (void)cls;
  (void)c;
  (void)url;
  ptd_req *r = *con_cls;
  if (!r) return MHD_NO; /* out of memory in on_uri */
  if (r->phase == PH_NEW) {
    r->phase = PH_BODY;
    return begin(r, method, version);
  }
  if (r->phase == PH_BODY) {
    if (*upload_size) {
      size_t n = *upload_size;
      *upload_size = 0;
      return body_part(r, upload, n);
    }
    r->phase = PH_DONE;
    return r->srv->routes[r->route].handler(r);
  }
  /* resumed after a suspension: the handler finishes what it started */
  if (r->phase == PH_WAIT) return r->srv->routes[r->route].handler(r);
  return MHD_YES;
}
