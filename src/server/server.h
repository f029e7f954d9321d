/* server.h - the data pipetrackd's modules share: the configuration, the
 * server, a route row and one request in flight. Types only: each module
 * declares its functions in its own header, and they depend one way (see
 * docs/architecture.md). */
#ifndef PTD_SERVER_H
#define PTD_SERVER_H

#include <microhttpd.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "pipetrack.h"
#include "readtoken.h"

typedef struct ptd_config {
  char host[64];
  int port; /* 0: any free port (printed at start) */
  const char *db_url;
  const char *pipelines_file;
  const char *ingest_key;    /* NULL: tracking needs no key (unless api_token) */
  const char *api_token;     /* NULL: the API is open */
  const char *cors_origins;  /* comma-separated, "*" for any; NULL: no CORS */
  const char *cors_headers;  /* extra request headers a preflight allows (comma-separated) */
  size_t max_body;           /* bytes of a request body */
  size_t max_header_bytes;   /* request line and headers; larger get 431 */
  size_t conn_buffer;        /* bytes of MHD memory pool per connection */
  unsigned header_timeout_s; /* a request must arrive within this */
  unsigned idle_timeout_s;   /* a silent connection is closed after this */
  unsigned max_connections;
  unsigned max_conns_per_ip; /* 0: no cap (behind a proxy every client is its address) */
  size_t max_answer_memory;  /* bytes held by answers not yet sent; 0: no cap */
  size_t inline_max;         /* a status or report past this is streamed; 0: never */
  unsigned threads;
  unsigned heartbeat_s; /* status streams: a comment line this often */
  unsigned drain_timeout_s;
  int quiet;                  /* no request log lines */
  const char *webhook_url;    /* NULL: no webhooks (and no outbox) */
  const char *webhook_secret; /* NULL: unsigned */
  unsigned webhook_timeout_ms, webhook_retry_ms;
  unsigned rate_limit, rate_burst; /* track requests a second per client address; 0: off */
  unsigned sweep_interval_s;       /* stall sweep; 0: off */
} ptd_config;

typedef struct ptd_server ptd_server;
typedef struct ptd_req ptd_req;

/* Answers a request whose route, access and body are checked. */
typedef enum MHD_Result (*ptd_handler)(ptd_req *r);

/* One endpoint: the server's own rows and the library's (pt_api_routes),
 * assembled at start (routes.c). Dispatch, access, /metrics and
 * `pipetrackd --routes` read these rows; nothing else lists routes. */
typedef struct ptd_route {
  const char *method; /* "GET" or "POST" */
  const char *path;   /* at most one "{id}" segment */
  const char *name;   /* metrics label and log name */
  pt_access access;
  const char *body_type; /* the Content-Type of its body; NULL: takes none */
  ptd_handler handler;
  int api_route; /* the row of pt_api_routes it answers, or -1 */
} ptd_route;

typedef struct ptd_metrics ptd_metrics;
typedef struct ptd_hub ptd_hub;
typedef struct ptd_webhook ptd_webhook;
struct ptd_limiter;
struct ptd_guard;

struct ptd_server {
  ptd_config cfg;
  pt_tracker *t;
  struct MHD_Daemon *d;
  uint16_t port;
  const ptd_route *routes; /* the table: routes[nroutes] is the "no route" row */
  size_t nroutes;
  ptd_metrics *metrics;
  ptd_hub *hub;
  ptd_webhook *webhook;        /* NULL without --webhook-url */
  struct ptd_limiter *limiter; /* NULL without --rate-limit */
  struct ptd_guard *guard;     /* connection states, head deadline, dropped-connection log */
  ptd_readtoken rt;            /* the read tokens' secrets and lifetime */
  /* requests between their first byte and their answer (streams excluded),
   * atomic: SIGTERM waits for them */
  int inflight;
  int draining;
  /* bytes of answers created and not yet freed by MHD (reply.c), atomic */
  size_t answer_bytes;
  pthread_t ticker;
  int ticker_started;
  int stall_dirty;      /* atomic: activity since the ticker last planned the stall sweep */
  pthread_mutex_t lock; /* draining, ticker wake-up */
  pthread_cond_t cond;
};

enum { PH_NEW, PH_BODY, PH_WAIT, PH_DONE };

/* One request, from its request line to its answer (MHD's con_cls). */
struct ptd_req {
  ptd_server *srv;
  struct MHD_Connection *conn;
  size_t route; /* index into srv->routes; srv->nroutes: none */
  int phase;
  uint64_t t0_ns;
  char method[12];
  char *path;           /* without the query (an idle stream keeps its request) */
  size_t target_len;    /* the request target's length, as sent */
  char param[64];       /* the {id} of the route's path */
  char session_id[129]; /* for the log line, when one is named */
  unsigned status;      /* the answer's, for log and metrics */
  int counted;          /* in srv->inflight */
  int stream;           /* answered with an event stream */
  int close;            /* a framing error: "Connection: close", nothing more is read */
  char *origin;         /* allowed CORS origin to echo, or NULL */
  int api_cred;         /* the API token was shown (track answers: a read token each) */
  unsigned retry_after; /* seconds, for a Retry-After header (429) */
  /* the body */
  char *body;
  size_t len, cap;
  int too_big;
  /* a call waiting for its group commit (api.c) */
  pthread_mutex_t lock;
  int ready, suspended;
  pt_call *call;
};

#endif
