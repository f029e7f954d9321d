/* test_concurrency.c - 8 threads x 10,000 events over 100 shared sessions
 * into each backend (tu_store_urls), one event per call (group commit).
 * Afterwards every chain verifies, every session's seqs are exactly 0..N-1,
 * and every acknowledged event is stored once with the seq it was
 * acknowledged with. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/testutil.h"

#define THREADS 8
#define PER_THREAD 10000
#define SESSIONS 100
#define PER_SESSION (THREADS * PER_THREAD / SESSIONS)

typedef struct worker {
  pt_tracker *t;
  int id;
  int64_t seqs[PER_THREAD];
  int failures;
} worker;

/* Event k of a thread: session k % SESSIONS, id t<thread>_e<k>. */
static pt_event_in event_of(int thread, int k, char sid[32], char id[48], const char *input) {
  static const char *const steps[] = {"checkout_started", "payment_initiated", "payment_confirmed",
                                      "checkout_completed"};
  snprintf(sid, 32, "conc_%d", k % SESSIONS);
  snprintf(id, 48, "t%d_e%d", thread, k);
  return (pt_event_in){.id = id,
                       .session_id = sid,
                       .pipeline_type = "checkout_digital",
                       .step = steps[k % 4],
                       .status = PT_SUCCESS,
                       .ts = -1,
                       .input_json = input};
}

static void *run(void *arg) {
  worker *w = arg;
  for (int k = 0; k < PER_THREAD; k++) {
    char sid[32], id[48];
    pt_event_in ev = event_of(w->id, k, sid, id, "{\"amount\": 12.5}");
    pt_track_result *r = NULL;
    pt_error err;
    if (pt_track(w->t, &ev, 0, &r, &err) != PT_OK) {
      w->failures++;
      w->seqs[k] = -1;
      continue;
    }
    w->seqs[k] = r->seq;
    pt_track_result_free(r);
  }
  return NULL;
}

static void eight_writers(const char *url) {
  pt_tracker *t = tu_open(url, 0);
  static worker w[THREADS];
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i].t = t;
    w[i].id = i;
    w[i].failures = 0;
    pthread_create(&th[i], NULL, run, &w[i]);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < THREADS; i++) assert_int_equal(w[i].failures, 0);

  /* acknowledged seqs cover 0..PER_SESSION-1 exactly once per session */
  static unsigned char seen[SESSIONS][PER_SESSION];
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < THREADS; i++)
    for (int k = 0; k < PER_THREAD; k++) {
      int64_t s = w[i].seqs[k];
      assert_true(s >= 0 && s < PER_SESSION);
      assert_int_equal(seen[k % SESSIONS][s], 0);
      seen[k % SESSIONS][s] = 1;
    }
  /* reopened (where the store outlives its tracker): everything
   * acknowledged is there, and every chain verifies */
  if (tu_store_persists(url)) {
    pt_close(t);
    t = tu_open(url, 0);
  }
  for (int s = 0; s < SESSIONS; s++) {
    char sid[32];
    snprintf(sid, sizeof sid, "conc_%d", s);
    char *doc;
    int ok;
    pt_error err;
    TU_ASSERT_OK(pt_verify(t, sid, &ok, &doc, &err), &err);
    if (!ok) fail_msg("%s: %s", sid, doc);
    json_t *v = tu_json(doc);
    assert_int_equal(json_integer_value(json_object_get(v, "checked_events")), PER_SESSION);
    json_decref(v);
    pt_free(doc);
  }
  /* a sample of events is stored with the seq it was acknowledged with */
  for (int i = 0; i < THREADS; i++) {
    for (int k = 0; k < PER_THREAD; k += 997) {
      char sid[32], id[48];
      /* the same payload written differently: equal in canonical form */
      pt_event_in ev = event_of(i, k, sid, id, "{\"amount\":12.5}");
      pt_track_result *r;
      pt_error err;
      TU_ASSERT_OK(pt_track(t, &ev, 0, &r, &err), &err);
      assert_int_equal(r->replayed, 1);
      assert_int_equal(r->seq, w[i].seqs[k]);
      pt_track_result_free(r);
    }
  }
  pt_close(t);
}

static void test_eight_writers(void **state) {
  (void)state;
  char urls[TU_STORES_MAX][TU_URL_SIZE];
  size_t n = tu_store_urls("concurrency", urls, TU_STORES_MAX);
  TU_EACH_URL(urls, n, url) eight_writers(url);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_eight_writers)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
