/* changes.c - who hears of what the tracker commits: the subscribers
 * (pt_subscribe) and handing each change to them. The committer calls
 * pt__publish after a commit, kind by kind (see its table). */
#include <string.h>

#include "../core/error.h"
#include "tracker_int.h"

void pt__changes_init(pt_tracker *t) {
  pthread_mutex_init(&t->subs_lock, NULL);
}

void pt__changes_cleanup(pt_tracker *t) {
  pthread_mutex_destroy(&t->subs_lock);
}

/* What another process committed to a shared store, told as a change. */
static void from_store(void *ctx, char kind, const char *id) {
  pt_change c = {.kind = PT_CHANGE_RESYNC};
  if (kind == 's') {
    c.kind = PT_CHANGE_SESSION;
    c.session_id = id;
  } else if (kind == 'i') {
    c.kind = PT_CHANGE_ISSUE;
    c.issue_id = id;
  }
  pt__publish(ctx, &c);
}

pt_status pt_subscribe(pt_tracker *t, pt_change_fn fn, void *ctx, pt_error *err) {
  if (!fn) return pt_fail(err, PT_EINVALID, NULL, "subscribe: fn is NULL");
  pthread_mutex_lock(&t->subs_lock);
  int full = t->nsubs == PT__SUBS_MAX;
  if (!full) {
    t->subs[t->nsubs].fn = fn;
    t->subs[t->nsubs].ctx = ctx;
    t->nsubs++;
  }
  /* the first subscriber starts listening to the other processes */
  int listen = !full && !t->listening && t->store->m->listen;
  if (listen) t->listening = 1;
  pthread_mutex_unlock(&t->subs_lock);
  if (full)
    return pt_fail(err, PT_ETOOBIG, NULL, "subscribe: at most %d subscribers", PT__SUBS_MAX);
  if (listen) {
    pt_status rc = t->store->m->listen(t->store, from_store, t, err);
    if (rc) {
      pt_unsubscribe(t, fn, ctx);
      return rc;
    }
  }
  return PT_OK;
}

void pt_unsubscribe(pt_tracker *t, pt_change_fn fn, void *ctx) {
  pthread_mutex_lock(&t->subs_lock);
  for (int i = 0; i < t->nsubs; i++)
    if (t->subs[i].fn == fn && t->subs[i].ctx == ctx) {
      memmove(&t->subs[i], &t->subs[i + 1], (size_t)(t->nsubs - i - 1) * sizeof t->subs[0]);
      t->nsubs--;
      break;
    }
  pthread_mutex_unlock(&t->subs_lock);
}

void pt__publish(pt_tracker *t, const pt_change *c) {
  /* called under the lock: an unsubscribe that returned has no call in
   * flight (subscribers must not subscribe from a callback) */
  pthread_mutex_lock(&t->subs_lock);
  for (int i = 0; i < t->nsubs; i++) t->subs[i].fn(t->subs[i].ctx, c);
  pthread_mutex_unlock(&t->subs_lock);
}
