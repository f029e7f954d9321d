/* metrics.c - counters for /metrics in the Prometheus text format: requests
 * by route and status, a latency histogram per route, events stored by
 * pipeline, step and status, open streams, webhook deliveries and the
 * store's commits. Request counters are relaxed atomics (no lock on the
 * request path); event counters are a small hash table under a mutex,
 * bounded by the pipeline definitions (names are validated before they are
 * stored). Route names come from the route table, so a new route is counted
 * under its own name without a list to keep in step. */
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "reply.h"
#include "stream.h"
#include "webhook.h"

static const unsigned CODES[] = {200, 201, 204, 304, 400, 401, 403, 404, 405, 408,
                                 409, 413, 415, 422, 429, 431, 499, 500, 503};
#define NCODES (sizeof CODES / sizeof *CODES)
/* upper bounds in seconds */
static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define NBUCKETS (sizeof BUCKETS / sizeof *BUCKETS)
#define EV_BUCKETS 1024
#define EV_MAX 100000 /* distinct pipeline/step/status triples counted at most */

typedef struct evcount {
  char ptype[PT_NAME_MAX + 1], step[PT_NAME_MAX + 1], status[8];
  uint64_t n;
  struct evcount *next;
} evcount;

typedef struct route_counts {
  uint64_t requests[NCODES + 1]; /* last: other codes */
  uint64_t hist[NBUCKETS + 1];   /* last: +Inf */
  uint64_t sum_ns;
} route_counts;

struct ptd_metrics {
  size_t nroutes;
  route_counts *routes; /* nroutes + 1: the last is "other" */
  pthread_mutex_t lock;
  evcount *ev[EV_BUCKETS];
  size_t nev;
};

ptd_metrics *ptd_metrics_new(size_t nroutes) {
  ptd_metrics *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  if (!(m->routes = calloc(nroutes + 1, sizeof *m->routes))) {
    free(m);
    return NULL;
  }
  m->nroutes = nroutes;
  pthread_mutex_init(&m->lock, NULL);
  return m;
}

void ptd_metrics_free(ptd_metrics *m) {
  if (!m) return;
  for (size_t b = 0; b < EV_BUCKETS; b++)
    for (evcount *e = m->ev[b], *next; e; e = next) {
      next = e->next;
      free(e);
    }
  free(m->routes);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

void ptd_metrics_request(ptd_metrics *m, size_t route, unsigned status, uint64_t ns) {
  if (route > m->nroutes) route = m->nroutes;
  route_counts *rc = &m->routes[route];
  size_t c = 0;
  while (c < NCODES && CODES[c] != status) c++;
  __atomic_add_fetch(&rc->requests[c], 1, __ATOMIC_RELAXED);
  double secs = (double)ns / 1e9;
  size_t b = 0;
  while (b < NBUCKETS && secs > BUCKETS[b]) b++;
  __atomic_add_fetch(&rc->hist[b], 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&rc->sum_ns, ns, __ATOMIC_RELAXED);
}

static const char *STATUS[] = {"started", "success", "failure"};

void ptd_metrics_on_change(void *ctx, const pt_change *c) {
  ptd_metrics *m = ctx;
  if (c->kind != PT_CHANGE_EVENT || !c->pipeline_type || !c->step) return;
  if ((unsigned)c->status > PT_FAILURE) return;
  const char *status = STATUS[c->status];
  size_t b =
      ptd_hash(ptd_hash(ptd_hash(PTD_HASH_SEED, c->pipeline_type), c->step), status) % EV_BUCKETS;
  pthread_mutex_lock(&m->lock);
  evcount *e = m->ev[b];
  while (e && (strcmp(e->ptype, c->pipeline_type) || strcmp(e->step, c->step) ||
               strcmp(e->status, status)))
    e = e->next;
  if (!e && m->nev < EV_MAX && (e = calloc(1, sizeof *e))) {
    snprintf(e->ptype, sizeof e->ptype, "%s", c->pipeline_type);
    snprintf(e->step, sizeof e->step, "%s", c->step);
    snprintf(e->status, sizeof e->status, "%s", status);
    e->next = m->ev[b];
    m->ev[b] = e;
    m->nev++;
  }
  if (e) e->n++;
  pthread_mutex_unlock(&m->lock);
}

static void requests(FILE *f, const ptd_metrics *m, const char *name, const route_counts *rc) {
  for (size_t c = 0; c <= NCODES; c++) {
    uint64_t n = __atomic_load_n(&rc->requests[c], __ATOMIC_RELAXED);
    if (!n) continue;
    if (c < NCODES)
      fprintf(f, "pipetrack_http_requests_total{route=\"%s\",code=\"%u\"} %" PRIu64 "\n", name,
              CODES[c], n);
    else
      fprintf(f, "pipetrack_http_requests_total{route=\"%s\",code=\"other\"} %" PRIu64 "\n", name,
              n);
  }
  (void)m;
}

static void histogram(FILE *f, const char *name, const route_counts *rc) {
  uint64_t cum = 0, total = 0;
  for (size_t k = 0; k <= NBUCKETS; k++) total += __atomic_load_n(&rc->hist[k], __ATOMIC_RELAXED);
  if (!total) return;
  for (size_t k = 0; k < NBUCKETS; k++) {
    cum += __atomic_load_n(&rc->hist[k], __ATOMIC_RELAXED);
    fprintf(f,
            "pipetrack_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %" PRIu64 "\n",
            name, BUCKETS[k], cum);
  }
  fprintf(f,
          "pipetrack_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
          name, total);
  fprintf(f, "pipetrack_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", name,
          (double)__atomic_load_n(&rc->sum_ns, __ATOMIC_RELAXED) / 1e9);
  fprintf(f, "pipetrack_http_request_duration_seconds_count{route=\"%s\"} %" PRIu64 "\n", name,
          total);
}

char *ptd_metrics_render(ptd_server *s) {
  ptd_metrics *m = s->metrics;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return NULL;
  /* the route table names every row; the row after it is "other" */
  fputs(
      "# HELP pipetrack_http_requests_total HTTP requests answered, by route and status.\n"
      "# TYPE pipetrack_http_requests_total counter\n",
      f);
  for (size_t r = 0; r <= m->nroutes; r++) requests(f, m, s->routes[r].name, &m->routes[r]);
  fputs(
      "# HELP pipetrack_http_request_duration_seconds Time from request line to answer.\n"
      "# TYPE pipetrack_http_request_duration_seconds histogram\n",
      f);
  for (size_t r = 0; r <= m->nroutes; r++) histogram(f, s->routes[r].name, &m->routes[r]);
  fputs(
      "# HELP pipetrack_events_total Events stored (replays not counted), by pipeline, "
      "step and status.\n# TYPE pipetrack_events_total counter\n",
      f);
  pthread_mutex_lock(&m->lock);
  for (size_t b = 0; b < EV_BUCKETS; b++)
    for (const evcount *e = m->ev[b]; e; e = e->next)
      /* the names are validated (lower case, digits, _): no escaping needed */
      fprintf(
          f, "pipetrack_events_total{pipeline_type=\"%s\",step=\"%s\",status=\"%s\"} %" PRIu64 "\n",
          e->ptype, e->step, e->status, e->n);
  pthread_mutex_unlock(&m->lock);
  uint64_t wd = 0, wf = 0;
  int64_t ww = 0;
  ptd_webhook_stats(s->webhook, &wd, &wf, &ww);
  fprintf(f,
          "# HELP pipetrack_webhook_deliveries_total Webhook deliveries, by result.\n"
          "# TYPE pipetrack_webhook_deliveries_total counter\n"
          "pipetrack_webhook_deliveries_total{result=\"delivered\"} %" PRIu64
          "\n"
          "pipetrack_webhook_deliveries_total{result=\"failed\"} %" PRIu64
          "\n"
          "# HELP pipetrack_webhook_outbox Deliveries waiting in the outbox.\n"
          "# TYPE pipetrack_webhook_outbox gauge\n"
          "pipetrack_webhook_outbox %" PRId64 "\n",
          wd, wf, ww);
  pt_counters st;
  pt_counters_get(s->t, &st);
  fprintf(f,
          "# HELP pipetrack_store_commits_total Store transactions committed.\n"
          "# TYPE pipetrack_store_commits_total counter\n"
          "pipetrack_store_commits_total %" PRIu64
          "\n"
          "# HELP pipetrack_store_commit_failures_total Store transactions that failed.\n"
          "# TYPE pipetrack_store_commit_failures_total counter\n"
          "pipetrack_store_commit_failures_total %" PRIu64
          "\n"
          "# HELP pipetrack_store_commit_retries_total Store transactions run again after a "
          "deadlock or serialization failure between servers.\n"
          "# TYPE pipetrack_store_commit_retries_total counter\n"
          "pipetrack_store_commit_retries_total %" PRIu64
          "\n"
          "# HELP pipetrack_store_commit_seconds_total Time in store transactions, begin to "
          "durable commit.\n"
          "# TYPE pipetrack_store_commit_seconds_total counter\n"
          "pipetrack_store_commit_seconds_total %.6f\n"
          "# HELP pipetrack_store_events_committed_total Events written by commits.\n"
          "# TYPE pipetrack_store_events_committed_total counter\n"
          "pipetrack_store_events_committed_total %" PRIu64
          "\n"
          "# HELP pipetrack_status_streams Open status streams.\n"
          "# TYPE pipetrack_status_streams gauge\n"
          "pipetrack_status_streams %zu\n"
          "# HELP pipetrack_answer_bytes_held Bytes of answers not yet sent to their clients "
          "(capped by --max-answer-memory).\n"
          "# TYPE pipetrack_answer_bytes_held gauge\n"
          "pipetrack_answer_bytes_held %zu\n",
          st.commits, st.commit_failures, st.commit_retries, (double)st.commit_ns / 1e9,
          st.events_committed, ptd_hub_count(s->hub), ptd_answer_bytes(s));
  if (fclose(f) != 0) {
    free(text);
    return NULL;
  }
  return text;
}
