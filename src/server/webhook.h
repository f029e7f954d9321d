/* webhook.h - the deliverer of issue changes to --webhook-url: a thread
 * that sends what the store's outbox holds, woken by the tracker's
 * changes. */
#ifndef PTD_WEBHOOK_H
#define PTD_WEBHOOK_H

#include "server.h"

/* Starts the deliverer (its thread); NULL when it cannot. */
ptd_webhook *ptd_webhook_start(ptd_server *s);
/* A pt_change_fn (ctx: the deliverer): an issue change wakes it at once. */
void ptd_webhook_on_change(void *ctx, const pt_change *c);
/* Stops its thread; a delivery in flight finishes (or its lease expires and
 * it is sent again after restart). Changes may still arrive (they do
 * nothing). NULL is a no-op. */
void ptd_webhook_stop(ptd_webhook *w);
/* Stops and frees it, once no change can arrive (the tracker is closed).
 * NULL is a no-op. */
void ptd_webhook_free(ptd_webhook *w);
/* Deliveries made and failed so far, and waiting at the last look (0s for
 * NULL). */
void ptd_webhook_stats(ptd_webhook *w, uint64_t *delivered, uint64_t *failed, int64_t *waiting);

#endif
