/* test_changes.c - subscribers to a tracker's changes (src/lib/changes.c):
 * at most 8, each hears every committed change until it unsubscribes, a
 * pair unsubscribed makes room for another, unknown pairs are ignored. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

typedef struct heard {
  int events, sessions;
  char last_sid[32];
} heard;

static void on_change(void *ctx, const pt_change *c) {
  heard *h = ctx;
  if (c->kind == PT_CHANGE_EVENT) {
    h->events++;
    snprintf(h->last_sid, sizeof h->last_sid, "%s", c->session_id);
  } else if (c->kind == PT_CHANGE_SESSION) {
    h->sessions++;
  }
}

static void other_fn(void *ctx, const pt_change *c) {
  (void)c;
  ((heard *)ctx)->events += 1000;
}

static void test_subscribers(void **state) {
  (void)state;
  char urls[TU_STORES_MAX][TU_URL_SIZE];
  size_t n = tu_store_urls("changes", urls, TU_STORES_MAX);
  TU_EACH_URL(urls, n, url) {
    pt_tracker *t = tu_open(url, 0);
    heard h[9];
    memset(h, 0, sizeof h);
    pt_error err;
    assert_int_equal(pt_subscribe(t, NULL, &h[0], &err), PT_EINVALID);
    for (int i = 0; i < 8; i++) TU_ASSERT_OK(pt_subscribe(t, on_change, &h[i], &err), &err);
    /* the ninth is refused and hears nothing */
    assert_int_equal(pt_subscribe(t, on_change, &h[8], &err), PT_ETOOBIG);
    assert_non_null(strstr(err.message, "at most 8 subscribers"));
    tu_track(t, "a1", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    for (int i = 0; i < 8; i++) {
      assert_int_equal(h[i].events, 1);
      assert_string_equal(h[i].last_sid, "a1");
    }
    assert_int_equal(h[8].events, 0);
    /* unknown pairs change nothing: the same fn with another ctx, another fn */
    pt_unsubscribe(t, on_change, &h[8]);
    pt_unsubscribe(t, other_fn, &h[0]);
    assert_int_equal(pt_subscribe(t, on_change, &h[8], &err), PT_ETOOBIG);
    /* one out (from the middle), room for another */
    pt_unsubscribe(t, on_change, &h[3]);
    TU_ASSERT_OK(pt_subscribe(t, other_fn, &h[8], &err), &err);
    tu_track(t, "a2", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    char *doc;
    TU_ASSERT_OK(pt_snapshot(t, "a2", NULL, NULL, &doc, &err), &err);
    pt_free(doc);
    for (int i = 0; i < 8; i++) {
      assert_int_equal(h[i].events, i == 3 ? 1 : 2);
      assert_string_equal(h[i].last_sid, i == 3 ? "a1" : "a2");
      assert_int_equal(h[i].sessions, i == 3 ? 0 : 1);
    }
    assert_int_equal(h[8].events, 2000); /* an event and the snapshot's change */
    /* everyone out: changes go nowhere */
    for (int i = 0; i < 8; i++) pt_unsubscribe(t, on_change, &h[i]);
    pt_unsubscribe(t, other_fn, &h[8]);
    tu_track(t, "a3", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    for (int i = 0; i < 8; i++) assert_int_equal(h[i].events, i == 3 ? 1 : 2);
    assert_int_equal(h[8].events, 2000);
    pt_close(t);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_subscribers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
