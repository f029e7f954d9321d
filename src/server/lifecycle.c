/* lifecycle.c - pipetrackd from start to stop: the parts are made in order
 * (route table, metrics, streams, rate limits, webhooks, the subscriptions
 * that carry the tracker's changes to them, the daemon, the ticker) and
 * unmade in reverse, also when a later part fails to start. The ticker
 * sends stream heartbeats and runs the stall sweep when a session turns
 * stalled. */
#include "lifecycle.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guard.h"
#include "http.h"
#include "metrics.h"
#include "ratelimit.h"
#include "reply.h"
#include "routes.h"
#include "stream.h"
#include "webhook.h"

#define SEC_NS 1000000000ull

static void sweep(ptd_server *s) {
  int64_t n = 0;
  pt_error err;
  /* the stalls counted reach streams and webhooks as a change */
  if (pt_sweep_stalls(s->t, &n, &err) != PT_OK) {
    json_t *e = json_pack("{s:s}", "error", err.message);
    ptd_log("error", "stall sweep failed", e);
    json_decref(e);
  } else if (n > 0) {
    json_t *e = json_pack("{s:I}", "sessions", (json_int_t)n);
    ptd_log("info", "stalled sessions counted", e);
    json_decref(e);
  }
}

/* When to sweep next: when the library says the next session turns
 * stalled, at least 1 s after the last sweep (a burst of sessions turning
 * stalled one after another costs one sweep a second) and at most
 * --sweep-interval after it. */
static uint64_t plan(ptd_server *s, uint64_t now, uint64_t last_sweep) {
  uint64_t cap = (uint64_t)s->cfg.sweep_interval_s * SEC_NS;
  int64_t in_ms = -1;
  pt_error err;
  if (pt_next_stall_ms(s->t, (int64_t)s->cfg.sweep_interval_s * 1000, &in_ms, &err) != PT_OK) {
    json_t *e = json_pack("{s:s}", "error", err.message);
    ptd_log("error", "stall deadline not found", e);
    json_decref(e);
  }
  uint64_t at = in_ms < 0 ? last_sweep + cap : now + (uint64_t)in_ms * 1000000u;
  if (at < last_sweep + SEC_NS) at = last_sweep + SEC_NS;
  if (at > last_sweep + cap) at = last_sweep + cap;
  return at;
}

/* Heartbeats for the streams, and the stall sweep by deadline: the ticker
 * sleeps until the next heartbeat or the moment the next session turns
 * stalled, whichever is first. New activity (on_change sets stall_dirty)
 * may bring a deadline sooner, so it plans again, at most once a second. */
static void *ticker(void *arg) {
  ptd_server *s = arg;
  uint64_t t0 = ptd_mono_ns();
  uint64_t next_hb = t0 + (uint64_t)s->cfg.heartbeat_s * SEC_NS;
  int sweeps = s->cfg.sweep_interval_s != 0;
  uint64_t last_sweep = t0, last_plan = t0;
  /* the first plan 1 s after start, like any other: sessions already due
   * are swept then, and nothing touches the store while the server starts */
  uint64_t next_sweep = sweeps ? t0 + (uint64_t)s->cfg.sweep_interval_s * SEC_NS : UINT64_MAX;
  __atomic_store_n(&s->stall_dirty, 1, __ATOMIC_RELEASE);
  pthread_mutex_lock(&s->lock);
  while (!s->draining) {
    uint64_t now = ptd_mono_ns();
    uint64_t wake = next_hb < next_sweep ? next_hb : next_sweep;
    int dirty = sweeps && __atomic_load_n(&s->stall_dirty, __ATOMIC_ACQUIRE);
    if (dirty && last_plan + SEC_NS < wake) wake = last_plan + SEC_NS;
    if (wake > now) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      uint64_t ns = (uint64_t)until.tv_nsec + (wake - now);
      until.tv_sec += (time_t)(ns / SEC_NS);
      until.tv_nsec = (long)(ns % SEC_NS);
      pthread_cond_timedwait(&s->cond, &s->lock, &until);
      continue; /* woken early (activity, the drain) or on time: look again */
    }
    pthread_mutex_unlock(&s->lock);
    if (now >= next_hb) {
      ptd_hub_heartbeat(s->hub);
      next_hb = now + (uint64_t)s->cfg.heartbeat_s * SEC_NS;
    }
    int swept = sweeps && now >= next_sweep;
    if (swept) {
      sweep(s);
      last_sweep = ptd_mono_ns();
    }
    if (swept || (dirty && ptd_mono_ns() >= last_plan + SEC_NS)) {
      __atomic_store_n(&s->stall_dirty, 0, __ATOMIC_RELEASE);
      last_plan = ptd_mono_ns();
      next_sweep = plan(s, last_plan, last_sweep);
    }
    pthread_mutex_lock(&s->lock);
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

/* Frees what start made, whatever it got to (each part NULL when not made). */
static void unmake(ptd_server *s) {
  ptd_webhook_free(s->webhook);
  s->webhook = NULL;
  ptd_guard_free(s->guard);
  s->guard = NULL;
  ptd_limiter_free(s->limiter);
  s->limiter = NULL;
  ptd_hub_free(s->hub);
  s->hub = NULL;
  ptd_metrics_free(s->metrics);
  s->metrics = NULL;
  free((void *)s->routes);
  s->routes = NULL;
  pthread_cond_destroy(&s->cond);
  pthread_mutex_destroy(&s->lock);
}

/* The tracker's changes reach the parts from here, after each commit: the
 * endpoints that made them never call the parts by name. s->webhook is set
 * before the subscription, and every part lives until ptd_free, after the
 * tracker is closed. */
static void on_change(void *ctx, const pt_change *c) {
  ptd_server *s = ctx;
  ptd_hub_on_change(s->hub, c);
  ptd_metrics_on_change(s->metrics, c);
  if (s->webhook) ptd_webhook_on_change(s->webhook, c);
  /* activity may bring the next stall sooner: wake the ticker to plan again
   * (once until it has; not for every event) */
  if (c->kind != PT_CHANGE_ISSUE && c->kind != PT_CHANGE_ISSUES &&
      !__atomic_load_n(&s->stall_dirty, __ATOMIC_ACQUIRE) &&
      __atomic_exchange_n(&s->stall_dirty, 1, __ATOMIC_ACQ_REL) == 0) {
    pthread_mutex_lock(&s->lock);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
  }
}

int ptd_start(ptd_server *s, char *errbuf, size_t errlen) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)s->cfg.port);
  if (inet_pton(AF_INET, s->cfg.host, &sa.sin_addr) != 1) {
    snprintf(errbuf, errlen, "--listen: \"%s\" is not an IPv4 address", s->cfg.host);
    return -1;
  }
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cond, NULL);
  ptd_route *routes = ptd_routes_build(&s->nroutes);
  s->routes = routes;
  if (!routes || !(s->metrics = ptd_metrics_new(s->nroutes)) || !(s->hub = ptd_hub_new(s)) ||
      (s->cfg.rate_limit &&
       !(s->limiter = ptd_limiter_new(s->cfg.rate_limit, s->cfg.rate_burst))) ||
      !(s->guard = ptd_guard_new(s))) {
    snprintf(errbuf, errlen, "out of memory");
    unmake(s);
    return -1;
  }
  if (s->cfg.webhook_url && !(s->webhook = ptd_webhook_start(s))) {
    snprintf(errbuf, errlen, "cannot start the webhook deliverer");
    unmake(s);
    return -1;
  }
  pt_error err;
  if (pt_subscribe(s->t, on_change, s, &err) != PT_OK) {
    snprintf(errbuf, errlen, "%s", err.message);
    unmake(s);
    return -1;
  }
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                   MHD_USE_ERROR_LOG;
  s->d = MHD_start_daemon(
      flags, (uint16_t)s->cfg.port, NULL, NULL, ptd_http_on_request, s,
      /* first: its logger takes the messages of the options after it */
      MHD_OPTION_ARRAY, ptd_guard_options(s->guard), MHD_OPTION_SOCK_ADDR, &sa,
      MHD_OPTION_THREAD_POOL_SIZE, s->cfg.threads, MHD_OPTION_CONNECTION_LIMIT,
      s->cfg.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.idle_timeout_s,
      /* the request head is read into this pool: --max-header-bytes is
       * checked in the handler (a JSON 431); heads too large for the pool
       * get libmicrohttpd's own 431. Over 32 KiB the library mmaps it; an
       * idle stream keeps about half of it resident, an idle keep-alive
       * connection all of it (docs/decisions.md) */
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->cfg.conn_buffer, MHD_OPTION_URI_LOG_CALLBACK,
      ptd_http_on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, ptd_http_on_completed, s,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, MHD_OPTION_END);
  if (!s->d) {
    snprintf(errbuf, errlen, "cannot listen on %s:%d: %s", s->cfg.host, s->cfg.port,
             strerror(errno ? errno : EADDRINUSE));
    pt_unsubscribe(s->t, on_change, s);
    unmake(s);
    return -1;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = di ? di->port : (uint16_t)s->cfg.port;
  if (pthread_create(&s->ticker, NULL, ticker, s) != 0) {
    snprintf(errbuf, errlen, "cannot start the ticker thread");
    MHD_stop_daemon(s->d);
    s->d = NULL;
    pt_unsubscribe(s->t, on_change, s);
    unmake(s);
    return -1;
  }
  s->ticker_started = 1;
  return 0;
}

void ptd_stop(ptd_server *s) {
  if (!s->d) return;
  /* a delivery in flight finishes (or its lease expires and it is sent
   * again after restart); nothing queued is lost */
  ptd_webhook_stop(s->webhook);
  /* no new connections; requests in flight finish (their commits too) */
  MHD_quiesce_daemon(s->d);
  pthread_mutex_lock(&s->lock);
  /* sequentially consistent with the handlers' read (begin): a request
   * either is counted in `inflight` before the drain below reads it, or
   * sees `draining` and is refused without being suspended (keep-alive
   * connections still bring requests after the quiesce; a suspended one at
   * MHD_stop_daemon is fatal) */
  __atomic_store_n(&s->draining, 1, __ATOMIC_SEQ_CST);
  pthread_cond_broadcast(&s->cond);
  pthread_mutex_unlock(&s->lock);
  if (s->ticker_started) pthread_join(s->ticker, NULL);
  s->ticker_started = 0;
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
    json_t *e = json_pack("{s:i}", "requests", left);
    ptd_log("warn", "drain timed out", e);
    json_decref(e);
  }
  MHD_stop_daemon(s->d);
  s->d = NULL;
}

void ptd_free(ptd_server *s) {
  unmake(s);
}
