/* lifecycle.h - starting and stopping pipetrackd around an open tracker. */
#ifndef PTD_LIFECYCLE_H
#define PTD_LIFECYCLE_H

#include <stddef.h>

#include "server.h"

/* Starts everything on s (s->cfg and s->t set): the route table, metrics,
 * streams, webhooks, rate limits, the subscriptions to the tracker's
 * changes, the listening daemon and the ticker. On failure everything
 * started is stopped again and errbuf says why; returns 0 or -1. */
int ptd_start(ptd_server *s, char *errbuf, size_t errlen);
/* SIGTERM: stop accepting, end streams, wait for requests in flight (at
 * most drain_timeout_s), stop the daemon and the threads. */
void ptd_stop(ptd_server *s);
/* Frees what ptd_start made, once the tracker is closed (its changes reach
 * these parts until then). */
void ptd_free(ptd_server *s);

#endif
