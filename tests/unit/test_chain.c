/* test_chain.c - the SHA-256 chain (docs/concepts.md#the-chain) against every session of the
 * contract's vectors (tests/vectors/chain-v1.json): digests, input_n,
 * output_n, links and chain hashes, both computed directly and as tracked
 * through the memory and SQLite stores. */
#include <stdlib.h>
#include <string.h>

#include "core/defs.h"
#include "core/event.h"
#include "core/validate.h"
#include "lib/internal.h"
#include "testutil.h"

static json_t *sessions(void) {
  json_t *v = tu_vectors();
  json_t *s = json_incref(json_object_get(v, "sessions"));
  json_decref(v);
  assert_true(json_array_size(s) >= 8);
  return s;
}

static const char *str(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static void test_vectors_direct(void **state) {
  (void)state;
  json_t *ss = sessions();
  pt_defs *defs;
  pt_error err;
  TU_ASSERT_OK(pt_defs_default(&defs, &err), &err);
  pt_limits lim = {PT_DEFAULT_MAX_PAYLOAD, PT_DEFAULT_MAX_DEPTH};
  size_t i, k;
  json_t *s, *ve;
  int checked = 0;
  json_array_foreach(ss, i, s) {
    const char *sid = str(s, "session_id");
    char link[65] = PT_GENESIS;
    json_array_foreach(json_object_get(s, "events"), k, ve) {
      pt_event *e;
      TU_ASSERT_OK(
          pt_validate_event(json_object_get(ve, "event"), defs, &lim, 0, "event", &e, &err), &err);
      assert_string_equal(e->input_sha256, str(ve, "input_sha256"));
      assert_string_equal(e->output_sha256, str(ve, "output_sha256"));
      pt_buf b;
      pt_buf_init(&b, 0);
      pt_chain_input_n(&b, e);
      assert_string_equal(pt_buf_cstr(&b), str(ve, "input_n"));
      pt_buf_reset(&b);
      pt_chain_output_n(&b, e);
      assert_string_equal(pt_buf_cstr(&b), str(ve, "output_n"));
      pt_buf_cleanup(&b);
      pt_chain_link(link, e, link);
      assert_string_equal(link, str(ve, "link"));
      pt_event_free(e);
      checked++;
    }
    char hash[65];
    pt_chain_hash(sid, link, hash);
    assert_string_equal(hash, str(s, "chain_hash"));
  }
  assert_true(checked >= 20);
  pt_defs_unref(defs);
  json_decref(ss);
}

static void tracked(const char *url) {
  json_t *ss = sessions();
  pt_tracker *t = tu_open(url, 1);
  size_t i, k;
  json_t *s, *ve;
  json_array_foreach(ss, i, s) {
    const char *sid = str(s, "session_id");
    json_array_foreach(json_object_get(s, "events"), k, ve) {
      pt_track_result *r;
      pt_error err;
      TU_ASSERT_OK(pt__track_value(t, json_object_get(ve, "event"), PT_SNAPSHOT_DEFAULT, &r, &err),
                   &err);
      assert_int_equal(r->seq, (int64_t)k);
      assert_string_equal(r->link, str(ve, "link"));
      pt_track_result_free(r);
    }
    if (json_array_size(json_object_get(s, "events")) == 0) continue;
    char *doc;
    pt_error err;
    TU_ASSERT_OK(pt_checksum(t, sid, &doc, &err), &err);
    json_t *c = tu_json(doc);
    assert_string_equal(str(c, "chain_hash"), str(s, "chain_hash"));
    json_decref(c);
    pt_free(doc);
    int ok;
    TU_ASSERT_OK(pt_verify(t, sid, &ok, &doc, &err), &err);
    assert_int_equal(ok, 1);
    pt_free(doc);
  }
  pt_close(t);
  json_decref(ss);
}

static void test_vectors_tracked_memory(void **state) {
  (void)state;
  tracked("memory:");
}

static void test_vectors_tracked_sqlite(void **state) {
  (void)state;
  char url[600];
  snprintf(url, sizeof url, "sqlite:%s", tu_tmp_db("chain"));
  tracked(url);
}

static void test_any_change_changes_link(void **state) {
  (void)state;
  pt_event *e = pt_event_new("evt_1", "s1", "checkout_digital", "checkout_started", "{\"a\":1}", 7,
                             NULL, 0, NULL, 0);
  e->status = 1;
  e->ts = 5;
  pt_event_digest(e);
  char base[65], other[65];
  pt_chain_link(PT_GENESIS, e, base);
  e->ts = 6;
  pt_chain_link(PT_GENESIS, e, other);
  assert_string_not_equal(base, other);
  e->ts = 5;
  e->status = 2;
  pt_chain_link(PT_GENESIS, e, other);
  assert_string_not_equal(base, other);
  e->status = 1;
  pt_chain_link("x", e, other);
  assert_string_not_equal(base, other);
  pt_chain_link(PT_GENESIS, e, other);
  assert_string_equal(base, other);
  pt_event_free(e);
  /* An empty session hashes GENESIS. */
  char h[65];
  pt_chain_hash("chk_1_0.x:y-z", PT_GENESIS, h);
  assert_string_equal(h, "e052eae8a50fe684f54663e864a002e79e9be1c43d35cf5f64edfae438f93fe2");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors_direct),
      cmocka_unit_test(test_vectors_tracked_memory),
      cmocka_unit_test(test_vectors_tracked_sqlite),
      cmocka_unit_test(test_any_change_changes_link),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
