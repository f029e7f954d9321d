/* server.h - what pipetrackd's modules share: the configuration, the server,
 * one request in flight, and the calls between the HTTP layer (http.c), the
 * endpoints (routes.c), the status streams (stream.c) and the metrics
 * (metrics.c). Not a public API. */
#ifndef PTD_SERVER_H
#define PTD_SERVER_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/map.h"
#include "lib/internal.h"
#include "pipetrack.h"

typedef struct ptd_config {
  char host[64];
  int port; /* 0: any free port (printed at start) */
  const char *db_url;
  const char *pipelines_file;
  const char *ingest_key;   /* NULL: tracking needs no key (unless api_token) */
  const char *api_token;    /* NULL: the API is open */
  const char *cors_origins; /* comma-separated, "*" for any; NULL: no CORS */
  int auto_snapshot;
  size_t max_body;           /* bytes of a request body */
  size_t conn_buffer;        /* bytes of MHD buffer per connection (headers fit) */
  int max_depth;             /* JSON nesting of a request body */
  size_t max_payload;        /* bytes of an event's canonical input/output */
  unsigned header_timeout_s; /* a request must arrive within this */
  unsigned idle_timeout_s;   /* a silent connection is closed after this */
  unsigned max_connections;
  unsigned threads;
  unsigned heartbeat_s; /* status streams: a comment line this often */
  unsigned drain_timeout_s;
  int quiet;                  /* no request log lines */
  const char *webhook_url;    /* NULL: no webhooks (and no outbox) */
  const char *webhook_secret; /* NULL: unsigned */
  unsigned webhook_timeout_ms, webhook_retry_ms, webhook_coalesce_ms;
  unsigned rate_limit, rate_burst; /* track requests a second per client address; 0: off */
  unsigned sweep_interval_s; /* stall sweep; 0: off */
} ptd_config;

/* Route ids: the index into the route table and the metrics. */
enum {
  R_TRACK,
  R_BATCH,
  R_STATUS,
  R_STREAM,
  R_SNAPSHOT,
  R_REGISTRY,
  R_CHECKSUM,
  R_REPORT,
  R_VERIFY,
  R_SESSIONS,
  R_DEFINITIONS,
  R_EXPORT,
  R_IMPORT,
  R_ISSUES,
  R_ISSUES_STREAM, /* before R_ISSUE: "stream" is not an issue id */
  R_ISSUE,
  R_ISSUE_RESOLVE,
  R_STATS,
  R_PUBKEY,
  R_REDACT,
  R_ASSET,
  R_METRICS,
  R_HEALTHZ,
  R_READYZ,
  R_INDEX,
  R_OTHER, /* unknown paths, preflights */
  R_COUNT
};

typedef struct ptd_metrics ptd_metrics;
typedef struct ptd_hub ptd_hub;
typedef struct ptd_webhook ptd_webhook;

typedef struct ptd_server {
  ptd_config cfg;
  pt_tracker *t;
  struct MHD_Daemon *d;
  uint16_t port;
  ptd_metrics *metrics;
  ptd_hub *hub;
  ptd_webhook *webhook; /* NULL without --webhook-url */
  struct ptd_limiter *limiter; /* NULL without --rate-limit */
  /* requests between their first byte and their answer (streams excluded),
   * atomic: SIGTERM waits for them */
  int inflight;
  int draining;
  pthread_t ticker;
  int ticker_started;
  pthread_mutex_t lock; /* draining, ticker wake-up */
  pthread_cond_t cond;
} ptd_server;

enum { PH_NEW, PH_BODY, PH_WAIT, PH_DONE };

/* One request, from its request line to its answer (MHD's con_cls). */
typedef struct ptd_req {
  ptd_server *srv;
  struct MHD_Connection *conn;
  int route; /* R_* */
  int phase;
  uint64_t t0_ns;
  char method[12];
  char *path; /* without the query; as long as it is (an idle stream keeps its request) */
  char session_id[PT_ID_MAX + 1]; /* for the log line, when one is named */
  char param[64];                 /* the {id} of a route's path */
  unsigned status;                /* the answer's, for log and metrics */
  int counted;                    /* in srv->inflight */
  int stream;                     /* answered with an event stream */
  char *origin;                   /* allowed CORS origin to echo, or NULL */
  unsigned retry_after;           /* seconds, for a Retry-After header (429) */
  /* the body */
  char *body;
  size_t len, cap;
  int too_big;
  /* a track waiting for its group commit */
  pthread_mutex_t lock;
  int ready, suspended;
  pt__pending *pending;
  json_t *doc;          /* the parsed body, kept for the answer */
  const json_t **items; /* the events tracked */
  size_t nitems;
  int batch;
} ptd_req;

/* ---- http.c ---- */
int ptd_start(ptd_server *s, char *errbuf, size_t errlen);
/* SIGTERM: stop accepting, end streams, wait for requests in flight, stop. */
void ptd_stop(ptd_server *s);
/* Answers with body (owned, malloc'd; NULL for none). */
enum MHD_Result ptd_reply(ptd_req *r, unsigned status, char *body, size_t len, const char *ctype,
                          const char *etag);
enum MHD_Result ptd_reply_json(ptd_req *r, unsigned status, char *json);
/* The error body of docs/api.md with the status its code maps to. */
enum MHD_Result ptd_reply_error(ptd_req *r, const pt_error *err);
enum MHD_Result ptd_reply_http_error(ptd_req *r, unsigned status, const char *code,
                                     const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
unsigned ptd_status_of(pt_status code);
void ptd_add_common_headers(ptd_req *r, struct MHD_Response *resp);
uint64_t ptd_mono_ns(void);
void ptd_log(const char *level, const char *msg, const char *extra_json);

/* ---- routes.c ---- */
typedef struct ptd_route {
  const char *path;
  const char *method; /* "GET" or "POST" */
  int auth;           /* AUTH_* */
  int body;           /* takes a JSON body */
} ptd_route;
/* AUTH_TOKEN: the API token, and refused where none is configured
 * (destructive: redaction) */
enum { AUTH_NONE, AUTH_INGEST, AUTH_API, AUTH_TOKEN };
extern const ptd_route ptd_routes[R_COUNT];
/* The route for a path (and method: one path may serve several), or
 * R_OTHER; a "{id}" segment of the route's path is copied to param. */
int ptd_route_find(const char *path, const char *method, char param[64]);
/* Runs the route's handler once the request (and its body) is in. */
enum MHD_Result ptd_dispatch(ptd_req *r);
/* A track request resumed after its commit. */
enum MHD_Result ptd_track_finish(ptd_req *r);

/* ---- stream.c ---- */
ptd_hub *ptd_hub_new(ptd_server *s);
void ptd_hub_free(ptd_hub *h);
enum MHD_Result ptd_stream_start(ptd_req *r, const char *sid, const char *ptype);
/* The issues stream: the open issues at once, then every changed issue. */
enum MHD_Result ptd_issue_stream_start(ptd_req *r);
void ptd_hub_notify_issue(ptd_hub *h, const char *issue_id);
/* Issues changed that are not named (stalls): issue streams resend the list. */
void ptd_hub_issues_resync(ptd_hub *h);
void ptd_hub_notify(ptd_hub *h, const char *sid);
void ptd_hub_heartbeat(ptd_hub *h);
void ptd_hub_close_all(ptd_hub *h);
size_t ptd_hub_count(ptd_hub *h);

/* ---- webhook.c ---- */
ptd_webhook *ptd_webhook_start(ptd_server *s);
/* Something may have been queued: look now instead of at the next poll. */
void ptd_webhook_kick(ptd_webhook *w);
void ptd_webhook_stop(ptd_webhook *w);
void ptd_webhook_stats(ptd_webhook *w, uint64_t *delivered, uint64_t *failed, int64_t *waiting);

/* ---- metrics.c ---- */
ptd_metrics *ptd_metrics_new(void);
void ptd_metrics_free(ptd_metrics *m);
void ptd_metrics_request(ptd_metrics *m, int route, unsigned status, uint64_t ns);
void ptd_metrics_event(ptd_metrics *m, const char *ptype, const char *step, const char *status);
char *ptd_metrics_render(ptd_server *s);

#endif
