/* committer.c - the one thread that writes: callers queue jobs, and the
 * committer runs whatever has queued up in one transaction with one durable
 * commit (a group commit: one sync for many callers), each job by its kind's
 * row in a table. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "../core/clock.h"
#include "../core/error.h"
#include "tracker_int.h"

/* Longest the committer waits to fill a group (see committer()). */
#define GROUP_WAIT_NS 200000L

/* A flush carries nothing: the store writes what it held back with the
 * commit. */
static pt_status flush_apply(pt__tx *x, pt__job *j) {
  (void)j;
  if (x->t->store->m->flush) x->t->store->m->flush(x->t->store);
  return PT_OK;
}

/* What the committer knows of a kind of job (see tracker_int.h for the
 * contracts of apply, reset and rolled_back). */
typedef struct job_kind {
  pt_status (*apply)(pt__tx *x, pt__job *j);
  void (*reset)(pt__job *j);                                          /* NULL: nothing to drop */
  void (*rolled_back)(pt__job *j, pt_status rc, const pt_error *err); /* NULL: pt__job_fail */
  void (*publish)(pt_tracker *t, pt__job *j); /* NULL: changes nothing to tell */
  void (*keys)(pt__job *j, pt__keys *k);      /* NULL: touches nothing to lock */
  /* Runs in a transaction of its own, after the group: its refusal rolls
   * back nothing but itself. */
  int alone;
  /* An event id it looks up and does not find, it inserts (so a store may
   * assume ids absent and let the insert check: pt_store_keys.ids_insert). */
  int ids_insert;
} job_kind;

static const job_kind KINDS[PT__JOB_KINDS] = {
    [PT__JOB_TRACK] = {.apply = pt__track_apply,
                       .reset = pt__track_reset,
                       .rolled_back = pt__track_rolled_back,
                       .publish = pt__track_publish,
                       .keys = pt__track_keys,
                       .ids_insert = 1},
    [PT__JOB_SNAPSHOT] = {.apply = pt__snapshot_apply,
                          .reset = pt__snapshot_reset,
                          .publish = pt__snapshot_publish,
                          .keys = pt__snapshot_keys},
    [PT__JOB_FLUSH] = {.apply = flush_apply},
    [PT__JOB_IMPORT] = {.apply = pt__import_apply,
                        .reset = pt__import_reset,
                        .rolled_back = pt__import_rolled_back,
                        .publish = pt__import_publish,
                        .keys = pt__import_keys,
                        .alone = 1},
    [PT__JOB_RESOLVE] = {.apply = pt__resolve_apply,
                         .reset = pt__resolve_reset,
                         .publish = pt__resolve_publish,
                         .keys = pt__resolve_keys},
    [PT__JOB_OUTBOX] = {.apply = pt__outbox_apply},
    [PT__JOB_STALL] = {.apply = pt__stall_apply,
                       .reset = pt__stall_reset,
                       .publish = pt__stall_publish,
                       .keys = pt__stall_keys},
    [PT__JOB_RECODE] = {.apply = pt__recode_apply, .keys = pt__recode_keys},
    [PT__JOB_PROBE] = {.apply = pt__probe_apply},
    [PT__JOB_REDACT] = {.apply = pt__redact_apply,
                        .reset = pt__redact_reset,
                        .publish = pt__redact_publish,
                        .keys = pt__redact_keys},
};

void pt__job_fail(pt__job *j, pt_status rc, const pt_error *err) {
  if (KINDS[j->kind].reset) KINDS[j->kind].reset(j);
  j->result = rc;
  j->err = *err;
  j->err.code = rc;
}

/* ---- what a group will touch ------------------------------------------------ */

static int grow(const char ***v, size_t *cap, size_t n) {
  if (n < *cap) return 0;
  size_t nc = *cap ? *cap * 2 : 32;
  const char **nv = realloc(*v, nc * sizeof *nv);
  if (!nv) return -1;
  *v = nv;
  *cap = nc;
  return 0;
}

void pt__keys_session(pt__keys *k, const char *sid) {
  if (grow(&k->sessions, &k->caps, k->nsessions)) {
    k->oom = 1;
    return;
  }
  k->sessions[k->nsessions++] = sid;
}

void pt__keys_issue(pt__keys *k, const char *issue_id) {
  char *c = strdup(issue_id);
  if (!c || grow(&k->issues, &k->capi, k->nissues)) {
    free(c);
    k->oom = 1;
    return;
  }
  k->issues[k->nissues++] = c; /* owned: issue ids are computed, not borrowed */
}

void pt__keys_event(pt__keys *k, const char *sid, const char *eid) {
  size_t cap = k->cape;
  if (grow(&k->esessions, &cap, k->nevents) || grow(&k->eids, &k->cape, k->nevents)) {
    k->oom = 1;
    return;
  }
  k->esessions[k->nevents] = sid;
  k->eids[k->nevents++] = eid;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted, each once: every group takes its locks in one order. */
static size_t sort_unique(const char **v, size_t n) {
  if (!n) return 0;
  qsort(v, n, sizeof *v, cmp_str);
  size_t m = 1;
  for (size_t i = 1; i < n; i++)
    if (strcmp(v[i], v[m - 1]) != 0) v[m++] = v[i];
  return m;
}

static void keys_free(pt__keys *k) {
  for (size_t i = 0; i < k->nissues_all; i++) free((char *)k->issues[i]);
  free(k->sessions);
  free(k->issues);
  free(k->esessions);
  free(k->eids);
  memset(k, 0, sizeof *k);
}

/* The keys of the jobs, for a store that takes them (prepare); NULL
 * otherwise, or when they cannot be gathered (the store then locks as it
 * goes). */
static pt__keys *keys_of(pt_tracker *t, pt__job *jobs, pt__keys *k) {
  memset(k, 0, sizeof *k);
  if (!t->store->m->prepare) return NULL;
  k->ids_insert = 1;
  for (pt__job *j = jobs; j; j = j->next) {
    if (KINDS[j->kind].keys) KINDS[j->kind].keys(j, k);
    k->ids_insert &= KINDS[j->kind].ids_insert;
  }
  k->nissues_all = k->nissues;
  k->nsessions = sort_unique(k->sessions, k->nsessions);
  /* the duplicates stay owned past nissues, freed by keys_free */
  if (k->oom) {
    keys_free(k);
    return NULL;
  }
  if (k->nissues > 1) qsort(k->issues, k->nissues, sizeof *k->issues, cmp_str);
  size_t m = k->nissues ? 1 : 0;
  for (size_t i = 1; i < k->nissues; i++) {
    if (strcmp(k->issues[i], k->issues[m - 1]) != 0) {
      const char *tmp = k->issues[m];
      k->issues[m++] = k->issues[i];
      k->issues[i] = tmp;
    }
  }
  k->nissues = m;
  return k;
}

/* A group whose transaction the store says may succeed if run again (a
 * deadlock or serialization failure between writers on a shared store): its
 * jobs are reset to where apply found them. Attempts at most. */
#define RETRIES_MAX 8

static void reset_for_retry(pt__job *jobs) {
  for (pt__job *j = jobs; j; j = j->next) {
    if (KINDS[j->kind].reset) KINDS[j->kind].reset(j);
    j->result = PT_OK;
    pt_error_clear(&j->err);
    j->needs_scrub = 0;
  }
}

/* Runs the jobs (a linked list) in one transaction. On a storage failure the
 * whole transaction is rolled back and every job in it fails: nothing of it
 * is stored, and nothing was acknowledged. */
static void run_jobs(pt_tracker *t, pt__job *jobs) {
  uint64_t t0 = pt_mono_ns();
  pt_error err;
  size_t want = 0;
  for (pt__job *j = jobs; j; j = j->next) want += j->nsessions ? j->nsessions : 1;
  pt__keys kbuf;
  pt__keys *keys = keys_of(t, jobs, &kbuf);
  pt_status rc;
  size_t events;
  for (int attempt = 0;; attempt++) {
    pt_error_clear(&err);
    t->store->retryable = 0;
    pt__tx x;
    rc = pt__tx_begin(&x, t, want, keys, &err);
    for (pt__job *j = jobs; rc == PT_OK && j; j = j->next)
      if ((rc = KINDS[j->kind].apply(&x, j))) err = j->err;
    events = x.events;
    rc = pt__tx_end(&x, rc, &err);
    if (rc == PT_OK || !t->store->retryable || attempt + 1 >= RETRIES_MAX) break;
    __atomic_add_fetch(&t->stats.commit_retries, 1, __ATOMIC_RELAXED);
    reset_for_retry(jobs);
  }
  if (keys) keys_free(keys);
  if (rc != PT_OK) {
    if (rc != PT_ENOMEM) rc = PT_ESTORAGE;
    for (pt__job *j = jobs; j; j = j->next) {
      if (KINDS[j->kind].rolled_back)
        KINDS[j->kind].rolled_back(j, rc, &err);
      else
        pt__job_fail(j, rc, &err);
    }
    __atomic_add_fetch(&t->stats.commit_failures, 1, __ATOMIC_RELAXED);
    pt__note_commit(t, rc, &err);
  } else {
    pt__note_commit(t, PT_OK, NULL);
    __atomic_add_fetch(&t->stats.commits, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&t->stats.events_committed, events, __ATOMIC_RELAXED);
    pt__scrub_after_redactions(t, jobs);
    /* committed (and scrubbed): subscribers hear of it before the callers
     * get their answers, in commit order */
    for (pt__job *j = jobs; j; j = j->next)
      if (KINDS[j->kind].publish && j->result == PT_OK) KINDS[j->kind].publish(t, j);
  }
  __atomic_add_fetch(&t->stats.commit_ns, pt_mono_ns() - t0, __ATOMIC_RELAXED);
}

static void *committer(void *arg) {
  pt_tracker *t = arg;
  pthread_mutex_lock(&t->q_lock);
  for (;;) {
    while (!t->head && !t->stopping) pthread_cond_wait(&t->q_cond, &t->q_lock);
    if (!t->head) break; /* stopping, and the queue is drained */
    /* The callers of the last group are usually busy rendering their results
     * and are about to queue again: waiting a moment for as many of them
     * (never longer than GROUP_WAIT_NS, far less than a sync) turns
     * alternating groups of 1 and N-1 into groups of N. */
    if (t->queued < t->last_group && !t->stopping) {
      struct timespec until;
      clock_gettime(CLOCK_MONOTONIC, &until);
      until.tv_nsec += GROUP_WAIT_NS;
      if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
      }
      while (t->queued < t->last_group && !t->stopping)
        if (pthread_cond_timedwait(&t->q_cond, &t->q_lock, &until) == ETIMEDOUT) break;
    }
    pt__job *jobs = t->head;
    t->last_group = t->queued;
    t->head = t->tail = NULL;
    t->queued = 0;
    pthread_mutex_unlock(&t->q_lock);
    /* jobs that run alone (imports) run in transactions of their own, after
     * the group: a refused import rolls back nothing but itself */
    pt__job *normal = NULL, **nt = &normal, *alone = NULL, **at = &alone;
    for (pt__job *j = jobs; j;) {
      pt__job *next = j->next;
      j->next = NULL;
      if (KINDS[j->kind].alone) {
        *at = j;
        at = &j->next;
      } else {
        *nt = j;
        nt = &j->next;
      }
      j = next;
    }
    if (normal) run_jobs(t, normal);
    for (pt__job *j = alone; j; j = j->next) {
      pt__job *next = j->next;
      j->next = NULL;
      run_jobs(t, j);
      j->next = next;
    }
    *nt = alone;
    jobs = normal;
    pt__job *async = NULL;
    pthread_mutex_lock(&t->q_lock);
    for (pt__job *j = jobs; j;) {
      pt__job *next = j->next; /* j may be freed by its waiter once done is set */
      if (j->on_done) {
        j->next = async;
        async = j;
      } else {
        j->done = 1;
      }
      j = next;
    }
    pthread_cond_broadcast(&t->done_cond);
    pthread_mutex_unlock(&t->q_lock);
    /* outside the lock: a callback may hand the job straight back to
     * pt__track_finish in another thread */
    while (async) {
      pt__job *next = async->next;
      async->done = 1;
      async->on_done(async->on_done_ctx);
      async = next;
    }
    pthread_mutex_lock(&t->q_lock);
  }
  pthread_mutex_unlock(&t->q_lock);
  return NULL;
}

void pt__job_init(pt__job *h, pt__job_kind kind, pt_tracker *t) {
  h->kind = kind;
  h->defs = pt__defs(t);
  h->now = pt__now(t);
}

void pt__submit(pt_tracker *t, pt__job *j) {
  j->next = NULL;
  if (t->inline_commit) {
    run_jobs(t, j);
    j->done = 1;
    if (j->on_done) j->on_done(j->on_done_ctx);
    return;
  }
  pthread_mutex_lock(&t->q_lock);
  if (t->tail)
    t->tail->next = j;
  else
    t->head = j;
  t->tail = j;
  t->queued++;
  pthread_cond_signal(&t->q_cond);
  while (!j->on_done && !j->done) pthread_cond_wait(&t->done_cond, &t->q_lock);
  pthread_mutex_unlock(&t->q_lock);
}

pt_status pt__job_run(pt_tracker *t, pt__job *j, pt_error *err) {
  pt__submit(t, j);
  if (j->result != PT_OK && err) *err = j->err;
  return j->result;
}

/* ---- the committer's life ----------------------------------------------------- */

void pt__committer_init(pt_tracker *t) {
  pthread_mutex_init(&t->q_lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the group wait's deadline */
  pthread_cond_init(&t->q_cond, &ca);
  pthread_condattr_destroy(&ca);
  pthread_cond_init(&t->done_cond, NULL);
}

pt_status pt__committer_start(pt_tracker *t, pt_error *err) {
  t->inline_commit = (t->store->m->flags & PT_STORE_F_INLINE) != 0;
  if (t->inline_commit) return PT_OK;
  if (pthread_create(&t->thread, NULL, committer, t) != 0)
    return pt_fail(err, PT_ENOMEM, NULL, "cannot start the committer thread");
  t->thread_started = 1;
  return PT_OK;
}

void pt__committer_cleanup(pt_tracker *t) {
  if (t->thread_started) {
    pthread_mutex_lock(&t->q_lock);
    t->stopping = 1;
    pthread_cond_signal(&t->q_cond);
    pthread_mutex_unlock(&t->q_lock);
    pthread_join(t->thread, NULL);
  }
  pthread_mutex_destroy(&t->q_lock);
  pthread_cond_destroy(&t->q_cond);
  pthread_cond_destroy(&t->done_cond);
}

/* ---- flushing ------------------------------------------------------------------- */

pt_status pt__flush(pt_tracker *t, pt_error *err) {
  if (!t->store->m->flush) return PT_OK;
  pt__job j = {.kind = PT__JOB_FLUSH};
  return pt__job_run(t, &j, err);
}
