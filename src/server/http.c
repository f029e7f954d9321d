/* http.c - pipetrackd's HTTP layer on libmicrohttpd: a small pool of event
 * loop threads (epoll), no thread per connection. A request is read whole
 * (bounded), checked (route, method, access, CORS, content type, size) and
 * handed to its endpoint. A track request is validated in the loop thread,
 * queued for the tracker's next group commit and its connection suspended;
 * the committer resumes it, so a thread never waits for a disk sync. One
 * JSON log line per request when it completes. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "ratelimit.h"
#include "server.h"

uint64_t ptd_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line, one write: lines of concurrent threads never interleave. */
void ptd_log(const char *level, const char *msg, const char *extra_json) {
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_buf_printf(&b, "{\"ts\":%" PRId64 ",\"level\":\"%s\",\"msg\":", wall_ms(), level);
  pt_buf_json_cstr(&b, msg);
  if (extra_json && *extra_json) {
    pt_buf_putc(&b, ',');
    pt_buf_puts(&b, extra_json);
  }
  pt_buf_puts(&b, "}\n");
  if (b.data) fwrite(b.data, 1, b.len, stderr);
  pt_buf_cleanup(&b);
}

unsigned ptd_status_of(pt_status code) {
  return pt_http_status(code);
}

/* ---- answers ---------------------------------------------------------------- */

void ptd_add_common_headers(ptd_req *r, struct MHD_Response *resp) {
  if (r->retry_after) {
    char v[16];
    snprintf(v, sizeof v, "%u", r->retry_after);
    MHD_add_response_header(resp, "Retry-After", v);
  }
  if (r->origin) {
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->origin);
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", "ETag");
    MHD_add_response_header(resp, "Vary", "Origin");
  }
}

enum MHD_Result ptd_reply(ptd_req *r, unsigned status, char *body, size_t len, const char *ctype,
                          const char *etag) {
  struct MHD_Response *resp =
      body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
           : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!resp) {
    free(body);
    return MHD_NO;
  }
  if (ctype) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  if (etag) {
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    /* may be stored, never used without asking (If-None-Match) */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
  } else if (r->route != R_INDEX) {
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  }
  if (status == 405)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, ptd_routes[r->route].method);
  ptd_add_common_headers(r, resp);
  r->status = status;
  r->phase = PH_DONE;
  enum MHD_Result rc = MHD_queue_response(r->conn, status, resp);
  MHD_destroy_response(resp);
  return rc;
}

enum MHD_Result ptd_reply_json(ptd_req *r, unsigned status, char *json) {
  if (!json) return ptd_reply_http_error(r, 503, "out_of_memory", NULL, "out of memory");
  return ptd_reply(r, status, json, strlen(json), "application/json", NULL);
}

enum MHD_Result ptd_reply_error(ptd_req *r, const pt_error *err) {
  const char *msg = err->message[0] ? err->message : pt_strerror(err->code);
  return ptd_reply_json(r, ptd_status_of(err->code),
                        pt_error_json(pt_err_name(err->code), msg, err->field));
}

enum MHD_Result ptd_reply_http_error(ptd_req *r, unsigned status, const char *code,
                                     const char *field, const char *fmt, ...) {
  char msg[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ptd_reply_json(r, status, pt_error_json(code, msg, field));
}

/* ---- access ------------------------------------------------------------------- */

/* Constant time whatever the lengths: both sides hashed, digests compared. */
static int token_equal(const char *given, size_t n, const char *want) {
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)given, n, a);
  SHA256((const unsigned char *)want, strlen(want), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

/* 0: allowed; else the answer was queued (401/403). */
static int check_access(ptd_req *r, enum MHD_Result *out) {
  const ptd_config *c = &r->srv->cfg;
  int need = ptd_routes[r->route].auth;
  if (need == AUTH_NONE) return 0;
  /* Tracking is open only when neither credential is configured: an API
   * token alone also guards tracking (docs/decisions.md). */
  if (need == AUTH_INGEST && !c->ingest_key && !c->api_token) return 0;
  if (need == AUTH_API && !c->api_token) return 0;
  if (need == AUTH_TOKEN && !c->api_token) {
    *out = ptd_reply_http_error(r, 403, "forbidden", NULL,
                                "%s needs the API token: start pipetrackd with --api-token",
                                ptd_routes[r->route].path);
    return 1;
  }
  const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
  const char *tok = NULL;
  if (h && strncasecmp(h, "Bearer ", 7) == 0) {
    tok = h + 7;
    while (*tok == ' ') tok++;
  }
  if (!tok || !*tok) {
    *out = ptd_reply_http_error(r, 401, "unauthorized", "Authorization",
                                "Authorization: a Bearer token is required");
    return 1;
  }
  size_t n = strlen(tok);
  if (c->api_token && token_equal(tok, n, c->api_token)) return 0;
  if (c->ingest_key && token_equal(tok, n, c->ingest_key)) {
    if (need == AUTH_INGEST) return 0;
    *out = ptd_reply_http_error(r, 403, "forbidden", "Authorization",
                                "Authorization: the ingest key may only track events");
    return 1;
  }
  *out = ptd_reply_http_error(r, 401, "unauthorized", "Authorization",
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
    MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                            "Authorization, Content-Type, If-None-Match, Last-Event-ID");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
  }
  ptd_add_common_headers(r, resp);
  r->status = 204;
  r->phase = PH_DONE;
  enum MHD_Result rc = MHD_queue_response(r->conn, 204, resp);
  MHD_destroy_response(resp);
  return rc;
}

/* ---- the request life cycle ------------------------------------------------------ */

/* An atomic count, no lock and no wake-up per request: ptd_stop polls it.
 * (A broadcast here woke the ticker on every request: 4 futex calls a
 * request, most of the server's system time.) */
static void inflight_add(ptd_server *s, int d) {
  __atomic_add_fetch(&s->inflight, d, __ATOMIC_SEQ_CST);
}

/* MHD calls this when the request line is in: the request starts here, so
 * the header time limit counts from here. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  ptd_server *s = cls;
  ptd_req *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->srv = s;
  r->conn = c;
  r->t0_ns = ptd_mono_ns();
  r->route = R_OTHER;
  pthread_mutex_init(&r->lock, NULL);
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
  MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, s->cfg.header_timeout_s);
  r->counted = 1;
  inflight_add(s, 1);
  return r;
}

static void req_free(ptd_req *r) {
  free(r->path);
  free(r->body);
  free(r->origin);
  free(r->items);
  if (r->doc) json_decref(r->doc);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
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
  if (!s->cfg.quiet) {
    pt_buf b;
    pt_buf_init(&b, 0);
    pt_buf_puts(&b, "\"method\":");
    pt_buf_json_cstr(&b, r->method[0] ? r->method : "-");
    pt_buf_puts(&b, ",\"path\":");
    pt_buf_json_cstr(&b, r->path);
    pt_buf_printf(&b, ",\"status\":%u,\"duration_ms\":%.3f", status, (double)ns / 1e6);
    if (r->session_id[0]) {
      pt_buf_puts(&b, ",\"session_id\":");
      pt_buf_json_cstr(&b, r->session_id);
    }
    ptd_log("info", "request", b.data);
    pt_buf_cleanup(&b);
  }
  /* the next request on this connection gets the idle limit until its
   * request line arrives */
  MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, s->cfg.idle_timeout_s);
  if (r->counted) inflight_add(s, -1);
  req_free(r);
}

static int json_content_type(const char *ct, int lines) {
  if (!ct) return 0;
  while (*ct == ' ') ct++;
  const char *want = lines ? "application/x-ndjson" : "application/json";
  size_t n = strlen(want);
  if (strncasecmp(ct, want, n) != 0) return 0;
  ct += n;
  while (*ct == ' ') ct++;
  return *ct == '\0' || *ct == ';';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  ptd_server *s = cls;
  (void)url;
  (void)version;
  ptd_req *r = *con_cls;
  if (!r) return MHD_NO; /* out of memory in on_uri */
  if (r->phase == PH_NEW) {
    r->phase = PH_BODY;
    snprintf(r->method, sizeof r->method, "%s", method);
    r->route = ptd_route_find(r->path, method, r->param);
    r->origin = allowed_origin(r);
    if (__atomic_load_n(&s->draining, __ATOMIC_SEQ_CST)) {
      /* shutting down: answered at once, never suspended; the client
       * retries on the next server */
      MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 1);
      return ptd_reply_http_error(r, 503, "shutting_down", NULL,
                                  "the server is shutting down; retry");
    }
    uint64_t waited = ptd_mono_ns() - r->t0_ns;
    if (s->cfg.header_timeout_s && waited > (uint64_t)s->cfg.header_timeout_s * 1000000000u) {
      MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 1);
      return ptd_reply_http_error(r, 408, "request_timeout", NULL,
                                  "the request headers took longer than %u s",
                                  s->cfg.header_timeout_s);
    }
    if (strcmp(method, "OPTIONS") == 0) return preflight(r);
    if (r->route == R_OTHER)
      return ptd_reply_http_error(r, 404, "not_found", NULL, "no such endpoint: %s", r->path);
    const ptd_route *rt = &ptd_routes[r->route];
    int head = strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0;
    if (strcmp(method, rt->method) != 0 && !head)
      return ptd_reply_http_error(r, 405, "method_not_allowed", NULL, "%s takes %s, not %s",
                                  rt->path, rt->method, method);
    enum MHD_Result denied;
    if (check_access(r, &denied)) return denied;
    if (rt->auth == AUTH_INGEST && s->limiter) {
      /* after access, so a client without the key cannot spend another's
       * budget; answered before the body is read */
      const union MHD_ConnectionInfo *ci =
          MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
      uint32_t addr = 0;
      char ip[INET_ADDRSTRLEN] = "?";
      if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
        addr = ((const struct sockaddr_in *)ci->client_addr)->sin_addr.s_addr;
        inet_ntop(AF_INET, &addr, ip, sizeof ip);
      }
      uint64_t wait_ms = ptd_limiter_take(s->limiter, addr, ptd_mono_ns());
      if (wait_ms) {
        r->retry_after = (unsigned)((wait_ms + 999) / 1000);
        return ptd_reply_http_error(r, 429, "rate_limited", NULL,
                                    "too many track requests from %s: at most %u a second "
                                    "(bursts of %u); retry in %llu ms",
                                    ip, s->cfg.rate_limit,
                                    s->cfg.rate_burst ? s->cfg.rate_burst : s->cfg.rate_limit,
                                    (unsigned long long)wait_ms);
      }
    }
    if (rt->body) {
      int lines = r->route == R_IMPORT;
      if (!json_content_type(
              MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE), lines))
        return ptd_reply_http_error(r, 415, "unsupported_media_type", "Content-Type",
                                    "Content-Type: must be %s",
                                    lines ? "application/x-ndjson" : "application/json");
      const char *cl =
          MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
      if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body)
        return ptd_reply_http_error(r, 413, "payload_too_large", "body",
                                    "body: must be at most %zu bytes", s->cfg.max_body);
    }
    /* answered on the next call: a response queued on this first call
     * makes MHD close the connection afterwards (no keep-alive) */
    return MHD_YES;
  }
  if (r->phase == PH_BODY) {
    if (*upload_size) {
      size_t n = *upload_size;
      *upload_size = 0;
      if (r->too_big || r->len + n > s->cfg.max_body) {
        /* a body larger than it said, or chunked past the limit: MHD can
         * only answer once the body is read, so the connection is cut */
        r->too_big = 1;
        r->status = 413;
        return MHD_NO;
      }
      if (r->len + n + 1 > r->cap) {
        size_t nc = r->cap ? r->cap : 4096;
        while (nc < r->len + n + 1) nc *= 2;
        if (nc > s->cfg.max_body + 1) nc = s->cfg.max_body + 1;
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
    r->phase = PH_DONE;
    return ptd_dispatch(r);
  }
  if (r->phase == PH_WAIT) return ptd_track_finish(r);
  return MHD_YES;
}

/* ---- start and stop ------------------------------------------------------------------ */

/* Heartbeats for the streams and the stall sweep, each on its interval. */
static void *ticker(void *arg) {
  ptd_server *s = arg;
  uint64_t next_hb = ptd_mono_ns() + (uint64_t)s->cfg.heartbeat_s * 1000000000u;
  uint64_t next_sweep = ptd_mono_ns() + (uint64_t)s->cfg.sweep_interval_s * 1000000000u;
  pthread_mutex_lock(&s->lock);
  while (!s->draining) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_cond_timedwait(&s->cond, &s->lock, &until);
    if (s->draining) break;
    uint64_t now = ptd_mono_ns();
    int hb = now >= next_hb, sweep = s->cfg.sweep_interval_s && now >= next_sweep;
    if (!hb && !sweep) continue;
    pthread_mutex_unlock(&s->lock);
    if (hb) {
      ptd_hub_heartbeat(s->hub);
      next_hb = now + (uint64_t)s->cfg.heartbeat_s * 1000000000u;
    }
    if (sweep) {
      int64_t n = 0;
      pt_error err;
      if (pt_sweep_stalls(s->t, &n, &err) != PT_OK) {
        pt_buf e;
        pt_buf_init(&e, 0);
        pt_buf_puts(&e, "\"error\":");
        pt_buf_json_cstr(&e, err.message);
        ptd_log("error", "stall sweep failed", e.data);
        pt_buf_cleanup(&e);
      } else if (n > 0) {
        char extra[64];
        snprintf(extra, sizeof extra, "\"sessions\":%lld", (long long)n);
        ptd_log("info", "stalled sessions counted", extra);
        ptd_webhook_kick(s->webhook);
        ptd_hub_issues_resync(s->hub);
      }
      next_sweep = ptd_mono_ns() + (uint64_t)s->cfg.sweep_interval_s * 1000000000u;
    }
    pthread_mutex_lock(&s->lock);
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

int ptd_start(ptd_server *s, char *errbuf, size_t errlen) {
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cond, NULL);
  s->metrics = ptd_metrics_new();
  s->hub = ptd_hub_new(s);
  if (!s->metrics || !s->hub) {
    snprintf(errbuf, errlen, "out of memory");
    return -1;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)s->cfg.port);
  if (inet_pton(AF_INET, s->cfg.host, &sa.sin_addr) != 1) {
    snprintf(errbuf, errlen, "--listen: \"%s\" is not an IPv4 address", s->cfg.host);
    return -1;
  }
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                   MHD_USE_ERROR_LOG;
  s->d = MHD_start_daemon(flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s,
                          MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE, s->cfg.threads,
                          MHD_OPTION_CONNECTION_LIMIT, s->cfg.max_connections,
                          MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.idle_timeout_s,
                          /* request line and headers must fit here (a header flood gets 431);
                           * small, so that 10,000 idle streams stay under 100 MiB */
                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->cfg.conn_buffer,
                          MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_COMPLETED,
                          on_completed, s, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, MHD_OPTION_END);
  if (!s->d) {
    snprintf(errbuf, errlen, "cannot listen on %s:%d: %s", s->cfg.host, s->cfg.port,
             strerror(errno ? errno : EADDRINUSE));
    return -1;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = di ? di->port : (uint16_t)s->cfg.port;
  if (pthread_create(&s->ticker, NULL, ticker, s) == 0) s->ticker_started = 1;
  if (s->cfg.rate_limit && !(s->limiter = ptd_limiter_new(s->cfg.rate_limit, s->cfg.rate_burst))) {
    snprintf(errbuf, errlen, "out of memory");
    return -1;
  }
  if (s->cfg.webhook_url && !(s->webhook = ptd_webhook_start(s))) {
    snprintf(errbuf, errlen, "cannot start the webhook deliverer");
    return -1;
  }
  return 0;
}

void ptd_stop(ptd_server *s) {
  if (!s->d) return;
  /* a delivery in flight finishes (or its lease expires and it is sent
   * again after restart); nothing queued is lost */
  ptd_webhook_stop(s->webhook);
  s->webhook = NULL;
  /* no new connections; requests in flight finish (their commits too) */
  MHD_quiesce_daemon(s->d);
  pthread_mutex_lock(&s->lock);
  /* sequentially consistent with the handlers' read (on_request): a request
   * either is counted in `inflight` before the drain below reads it, or
   * sees `draining` and is refused without being suspended (keep-alive
   * connections still bring requests after the quiesce; a suspended one at
   * MHD_stop_daemon is fatal) */
  __atomic_store_n(&s->draining, 1, __ATOMIC_SEQ_CST);
  pthread_cond_broadcast(&s->cond);
  pthread_mutex_unlock(&s->lock);
  if (s->ticker_started) pthread_join(s->ticker, NULL);
  ptd_hub_close_all(s->hub);
  uint64_t until = ptd_mono_ns() + (uint64_t)s->cfg.drain_timeout_s * 1000000000u;
  pthread_mutex_lock(&s->lock);
  while (__atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST) > 0 || ptd_hub_count(s->hub) > 0) {
    if (ptd_mono_ns() >= until) break;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += 20000000;
    if (t.tv_nsec >= 1000000000L) {
      t.tv_sec++;
      t.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&s->cond, &s->lock, &t);
  }
  int left = __atomic_load_n(&s->inflight, __ATOMIC_ACQUIRE);
  pthread_mutex_unlock(&s->lock);
  if (left) {
    char extra[64];
    snprintf(extra, sizeof extra, "\"requests\":%d", left);
    ptd_log("warn", "drain timed out", extra);
  }
  MHD_stop_daemon(s->d);
  s->d = NULL;
  ptd_hub_free(s->hub);
  ptd_metrics_free(s->metrics);
  ptd_limiter_free(s->limiter);
  s->limiter = NULL;
  s->hub = NULL;
  s->metrics = NULL;
}
