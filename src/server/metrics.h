/* metrics.h - counters for /metrics (Prometheus text format): requests by
 * route and status, latency per route, events stored by pipeline, step and
 * status, and what the tracker, the streams and the webhooks report. */
#ifndef PTD_METRICS_H
#define PTD_METRICS_H

#include "server.h"

/* Counters for nroutes routes (and the "other" row after them). */
ptd_metrics *ptd_metrics_new(size_t nroutes);
void ptd_metrics_free(ptd_metrics *m);
/* A request answered: route is an index of the route table (nroutes: none). */
void ptd_metrics_request(ptd_metrics *m, size_t route, unsigned status, uint64_t ns);
/* A pt_change_fn (ctx: the metrics): counts the events stored. */
void ptd_metrics_on_change(void *ctx, const pt_change *c);
/* The /metrics text (malloc'd), every route named after it was called. */
char *ptd_metrics_render(ptd_server *s);

#endif
