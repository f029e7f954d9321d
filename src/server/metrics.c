/* metrics.c - counters for /metrics in the Prometheus text format: requests
 * by route and status, a latency histogram per route, events tracked by
 * pipeline, step and status, open streams and the store's commit time.
 * Request counters are relaxed atomics (no lock on the request path); the
 * event counters are a small map under a mutex, bounded by the pipeline
 * definitions (names are validated before they are counted). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

static const unsigned CODES[] = {200, 201, 204, 304, 400, 401, 403, 404, 405,
                                 408, 409, 413, 415, 422, 429, 431, 499, 500, 503};
#define NCODES (sizeof CODES / sizeof *CODES)
/* upper bounds in seconds */
static const double BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define NBUCKETS (sizeof BUCKETS / sizeof *BUCKETS)

typedef struct evcount {
  char key[3 * (PT_NAME_MAX + 2)]; /* "ptype\tstep\tstatus" */
  uint64_t n;
} evcount;

struct ptd_metrics {
  uint64_t requests[R_COUNT][NCODES + 1]; /* last: other codes */
  uint64_t hist[R_COUNT][NBUCKETS + 1];   /* last: +Inf */
  uint64_t sum_ns[R_COUNT];
  pthread_mutex_t lock;
  pt_map events;
  evcount **ev;
  size_t nev, capev;
};

static const char *ROUTE_NAMES[R_COUNT] = {
    [R_TRACK] = "track",
    [R_BATCH] = "track_batch",
    [R_STATUS] = "status",
    [R_STREAM] = "status_stream",
    [R_SNAPSHOT] = "snapshot",
    [R_REGISTRY] = "registry",
    [R_CHECKSUM] = "checksum",
    [R_REPORT] = "report",
    [R_VERIFY] = "verify",
    [R_SESSIONS] = "sessions",
    [R_DEFINITIONS] = "definitions",
    [R_METRICS] = "metrics",
    [R_EXPORT] = "export",
    [R_IMPORT] = "import",
    [R_ISSUES] = "issues",
    [R_ISSUE] = "issue",
    [R_ISSUE_RESOLVE] = "issue_resolve",
    [R_ISSUES_STREAM] = "issues_stream",
    [R_STATS] = "stats",
    [R_ASSET] = "asset",
    [R_HEALTHZ] = "healthz",
    [R_READYZ] = "readyz",
    [R_INDEX] = "index",
    [R_OTHER] = "other",
};

ptd_metrics *ptd_metrics_new(void) {
  ptd_metrics *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  pthread_mutex_init(&m->lock, NULL);
  pt_map_init(&m->events);
  return m;
}

void ptd_metrics_free(ptd_metrics *m) {
  if (!m) return;
  for (size_t i = 0; i < m->nev; i++) free(m->ev[i]);
  free(m->ev);
  pt_map_cleanup(&m->events);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

void ptd_metrics_request(ptd_metrics *m, int route, unsigned status, uint64_t ns) {
  if (route < 0 || route >= R_COUNT) route = R_OTHER;
  size_t c = 0;
  while (c < NCODES && CODES[c] != status) c++;
  __atomic_add_fetch(&m->requests[route][c], 1, __ATOMIC_RELAXED);
  double secs = (double)ns / 1e9;
  size_t b = 0;
  while (b < NBUCKETS && secs > BUCKETS[b]) b++;
  __atomic_add_fetch(&m->hist[route][b], 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&m->sum_ns[route], ns, __ATOMIC_RELAXED);
}

void ptd_metrics_event(ptd_metrics *m, const char *ptype, const char *step, const char *status) {
  if (!ptype || !step || !status) return;
  char key[sizeof((evcount *)0)->key];
  int n = snprintf(key, sizeof key, "%s\t%s\t%s", ptype, step, status);
  if (n < 0 || (size_t)n >= sizeof key) return;
  pthread_mutex_lock(&m->lock);
  evcount *e = pt_map_get(&m->events, key);
  if (!e && m->nev < 100000) {
    if (m->nev == m->capev) {
      size_t nc = m->capev ? m->capev * 2 : 64;
      evcount **ne = realloc(m->ev, nc * sizeof *ne);
      if (ne) {
        m->ev = ne;
        m->capev = nc;
      }
    }
    if (m->nev < m->capev && (e = calloc(1, sizeof *e))) {
      memcpy(e->key, key, (size_t)n + 1);
      if (pt_map_put(&m->events, e->key, e) == 0) {
        m->ev[m->nev++] = e;
      } else {
        free(e);
        e = NULL;
      }
    }
  }
  if (e) e->n++;
  pthread_mutex_unlock(&m->lock);
}

char *ptd_metrics_render(ptd_server *s) {
  ptd_metrics *m = s->metrics;
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_buf_puts(&b,
              "# HELP pipetrack_http_requests_total HTTP requests answered, by route and status.\n"
              "# TYPE pipetrack_http_requests_total counter\n");
  for (int r = 0; r < R_COUNT; r++)
    for (size_t c = 0; c <= NCODES; c++) {
      uint64_t n = __atomic_load_n(&m->requests[r][c], __ATOMIC_RELAXED);
      if (!n) continue;
      if (c < NCODES)
        pt_buf_printf(&b, "pipetrack_http_requests_total{route=\"%s\",code=\"%u\"} %" PRIu64 "\n",
                      ROUTE_NAMES[r], CODES[c], n);
      else
        pt_buf_printf(&b,
                      "pipetrack_http_requests_total{route=\"%s\",code=\"other\"} %" PRIu64 "\n",
                      ROUTE_NAMES[r], n);
    }
  pt_buf_puts(&b,
              "# HELP pipetrack_http_request_duration_seconds Time from request line to answer.\n"
              "# TYPE pipetrack_http_request_duration_seconds histogram\n");
  for (int r = 0; r < R_COUNT; r++) {
    uint64_t cum = 0, total = 0;
    for (size_t k = 0; k <= NBUCKETS; k++)
      total += __atomic_load_n(&m->hist[r][k], __ATOMIC_RELAXED);
    if (!total) continue;
    for (size_t k = 0; k < NBUCKETS; k++) {
      cum += __atomic_load_n(&m->hist[r][k], __ATOMIC_RELAXED);
      pt_buf_printf(
          &b,
          "pipetrack_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %" PRIu64 "\n",
          ROUTE_NAMES[r], BUCKETS[k], cum);
    }
    pt_buf_printf(
        &b,
        "pipetrack_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
        ROUTE_NAMES[r], total);
    pt_buf_printf(&b, "pipetrack_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                  ROUTE_NAMES[r], (double)__atomic_load_n(&m->sum_ns[r], __ATOMIC_RELAXED) / 1e9);
    pt_buf_printf(&b, "pipetrack_http_request_duration_seconds_count{route=\"%s\"} %" PRIu64 "\n",
                  ROUTE_NAMES[r], total);
  }
  pt_buf_puts(&b,
              "# HELP pipetrack_events_total Events stored (replays not counted), by pipeline, "
              "step and status.\n# TYPE pipetrack_events_total counter\n");
  pthread_mutex_lock(&m->lock);
  for (size_t i = 0; i < m->nev; i++) {
    char k[sizeof m->ev[i]->key];
    memcpy(k, m->ev[i]->key, sizeof k);
    char *step = strchr(k, '\t'), *status = step ? strchr(step + 1, '\t') : NULL;
    if (!status) continue;
    *step++ = '\0';
    *status++ = '\0';
    /* the names are validated (lower case, digits, _): no escaping needed */
    pt_buf_printf(
        &b, "pipetrack_events_total{pipeline_type=\"%s\",step=\"%s\",status=\"%s\"} %" PRIu64 "\n",
        k, step, status, m->ev[i]->n);
  }
  pthread_mutex_unlock(&m->lock);
  uint64_t wd, wf;
  int64_t ww;
  ptd_webhook_stats(s->webhook, &wd, &wf, &ww);
  pt_buf_printf(&b,
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
  pt_tracker_stats st;
  pt__stats(s->t, &st);
  pt_buf_printf(&b,
                "# HELP pipetrack_store_commits_total Store transactions committed.\n"
                "# TYPE pipetrack_store_commits_total counter\n"
                "pipetrack_store_commits_total %" PRIu64
                "\n"
                "# HELP pipetrack_store_commit_failures_total Store transactions that failed.\n"
                "# TYPE pipetrack_store_commit_failures_total counter\n"
                "pipetrack_store_commit_failures_total %" PRIu64
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
                "pipetrack_status_streams %zu\n",
                st.commits, st.commit_failures, (double)st.commit_ns / 1e9, st.events_committed,
                ptd_hub_count(s->hub));
  return pt_buf_take(&b);
}
