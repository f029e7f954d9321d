/* test_store.c - the storage conformance suite: the same assertions against
 * every backend (memory:, sqlite:, and PostgreSQL when PT_PG_URL is set),
 * through the vtable, including rollback and injected faults. */
#include <stdio.h>
#include <string.h>

#include "core/map.h"
#include "store/store.h"
#include "testutil.h"

static pt_event *mk(const char *sid, const char *id, int64_t seq, const char *prev) {
  pt_event *e = pt_event_new(id, sid, "checkout_digital", "checkout_started", "{\"n\":1}", 7, NULL,
                             0, "{\"code\":\"c\",\"message\":\"m\"}", 27);
  e->status = PT_FAILURE;
  e->ts = 1000 + seq;
  e->ts_given = 1;
  e->id_given = 1;
  e->seq = seq;
  e->received_at = 2000 + seq;
  pt_event_digest(e);
  pt_chain_link(prev, e, e->link);
  return e;
}

static int count_cb(void *ctx, const pt_event *e) {
  pt_event **last = ctx;
  pt_event_free(*last);
  *last = pt_event_clone(e);
  return 0;
}

typedef struct snapseen {
  char ids[16][200];
  int n;
} snapseen;

static int snap_cb(void *ctx, const pt_snap *s) {
  snapseen *x = ctx;
  snprintf(x->ids[x->n++], 200, "%s", s->id);
  return 0;
}

static void conformance(const char *url) {
  pt_store *s;
  pt_error err;
  TU_ASSERT_OK(pt_store_open(url, NULL, &s, &err), &err);

  /* an append, committed */
  TU_ASSERT_OK(pt_store_begin(s, &err), &err);
  pt_session sess;
  assert_int_equal(pt_store_session_get(s, "s1", &sess, &err), PT_ENOTFOUND);
  pt_session_cleanup(&sess);
  pt_session_init(&sess, "s1", "checkout_digital");
  pt_event *e0 = mk("s1", "e0", 0, PT_GENESIS);
  TU_ASSERT_OK(pt_store_event_append(s, e0, &err), &err);
  pt_event *found = NULL;
  TU_ASSERT_OK(pt_store_event_find(s, "s1", "e0", &found, &err), &err);
  assert_string_equal(found->link, e0->link);
  assert_string_equal(found->input, "{\"n\":1}");
  pt_event_free(found);
  assert_int_equal(pt_store_event_find(s, "s1", "nope", &found, &err), PT_ENOTFOUND);
  assert_null(found);
  assert_int_equal(pt_session_apply(&sess, e0), 0);
  TU_ASSERT_OK(pt_store_session_put(s, &sess, 1, &err), &err);
  TU_ASSERT_OK(pt_store_commit(s, &err), &err);
  pt_session_cleanup(&sess);

  pt_reader *r;
  TU_ASSERT_OK(s->m->reader_open(s, &r, &err), &err);
  pt_session got;
  TU_ASSERT_OK(s->m->read_session(r, "s1", &got, &err), &err);
  assert_int_equal(got.event_count, 1);
  assert_string_equal(got.last_link, e0->link);
  assert_string_equal(got.pipeline_type, "checkout_digital");
  assert_int_equal(got.nsteps, 1);
  assert_int_equal(got.steps[0].outcome, PT_OUTCOME_FAILURE);
  pt_session_cleanup(&got);
  pt_event *last = NULL;
  TU_ASSERT_OK(s->m->read_events(r, "s1", 0, 100, count_cb, &last, &err), &err);
  assert_non_null(last);
  assert_int_equal(last->seq, 0);
  assert_int_equal(last->status, PT_FAILURE);
  assert_int_equal(last->ts, 1000);
  assert_int_equal(last->received_at, 2000);
  assert_string_equal(last->error, "{\"code\":\"c\",\"message\":\"m\"}");
  assert_string_equal(last->input_sha256, e0->input_sha256);
  pt_event_free(last);
  s->m->reader_close(r);

  /* a transaction rolled back leaves nothing */
  TU_ASSERT_OK(pt_store_begin(s, &err), &err);
  TU_ASSERT_OK(pt_store_session_get(s, "s1", &sess, &err), &err);
  pt_event *e1 = mk("s1", "e1", 1, e0->link);
  TU_ASSERT_OK(pt_store_event_append(s, e1, &err), &err);
  assert_int_equal(pt_session_apply(&sess, e1), 0);
  pt_cksum c;
  memset(&c, 0, sizeof c);
  c.state = "in_progress";
  pt_snap snap;
  assert_int_equal(pt_snap_make(&sess, &c, 5000, "rolled back", &snap), 0);
  TU_ASSERT_OK(pt_store_snapshot_put(s, &snap, &err), &err);
  pt_snap_cleanup(&snap);
  TU_ASSERT_OK(pt_store_session_put(s, &sess, 0, &err), &err);
  pt_event *n1 = mk("s2", "x", 0, PT_GENESIS); /* a new session too */
  TU_ASSERT_OK(pt_store_event_append(s, n1, &err), &err);
  pt_store_rollback(s);
  pt_session_cleanup(&sess);
  TU_ASSERT_OK(s->m->reader_open(s, &r, &err), &err);
  TU_ASSERT_OK(s->m->read_session(r, "s1", &got, &err), &err);
  assert_int_equal(got.event_count, 1);
  assert_int_equal(got.snapshot_count, 0);
  pt_session_cleanup(&got);
  assert_int_equal(s->m->read_session(r, "s2", &got, &err), PT_ENOTFOUND);
  pt_session_cleanup(&got);
  snapseen seen = {0};
  TU_ASSERT_OK(s->m->read_snapshots(r, "s1", -1, 0, snap_cb, &seen, &err), &err);
  assert_int_equal(seen.n, 0);
  s->m->reader_close(r);
  TU_ASSERT_OK(pt_store_begin(s, &err), &err);
  assert_int_equal(pt_store_event_find(s, "s1", "e1", &found, &err), PT_ENOTFOUND);
  pt_store_rollback(s);

  /* snapshots: newest first by position, "_10" after "_9" within one
   * millisecond, paged by position */
  TU_ASSERT_OK(pt_store_begin(s, &err), &err);
  TU_ASSERT_OK(pt_store_session_get(s, "s1", &sess, &err), &err);
  int64_t at[] = {10, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 30};
  for (int i = 0; i < 13; i++) {
    assert_int_equal(pt_snap_make(&sess, &c, at[i], NULL, &snap), 0);
    TU_ASSERT_OK(pt_store_snapshot_put(s, &snap, &err), &err);
    pt_snap_cleanup(&snap);
  }
  TU_ASSERT_OK(pt_store_session_put(s, &sess, 0, &err), &err);
  pt_session_cleanup(&sess);
  TU_ASSERT_OK(pt_store_commit(s, &err), &err);
  TU_ASSERT_OK(s->m->reader_open(s, &r, &err), &err);
  memset(&seen, 0, sizeof seen);
  TU_ASSERT_OK(s->m->read_snapshots(r, "s1", -1, 0, snap_cb, &seen, &err), &err);
  assert_int_equal(seen.n, 13);
  assert_string_equal(seen.ids[0], "reg_s1_30");
  assert_string_equal(seen.ids[1], "reg_s1_20_10");
  assert_string_equal(seen.ids[2], "reg_s1_20_9");
  assert_string_equal(seen.ids[10], "reg_s1_20_1");
  assert_string_equal(seen.ids[11], "reg_s1_20");
  assert_string_equal(seen.ids[12], "reg_s1_10");
  memset(&seen, 0, sizeof seen);
  /* entries before position 3 (reg_s1_20_2) */
  TU_ASSERT_OK(s->m->read_snapshots(r, "s1", 3, 2, snap_cb, &seen, &err), &err);
  assert_int_equal(seen.n, 2);
  assert_string_equal(seen.ids[0], "reg_s1_20_1");
  assert_string_equal(seen.ids[1], "reg_s1_20");
  s->m->reader_close(r);

  /* an injected fault fails the write and the transaction stores nothing */
  s->fail_after = 2; /* begin passes, the append fails */
  TU_ASSERT_OK(pt_store_begin(s, &err), &err);
  assert_int_equal(pt_store_event_append(s, e1, &err), PT_ESTORAGE);
  assert_string_equal(err.message, "injected storage fault");
  pt_store_rollback(s);
  TU_ASSERT_OK(pt_store_begin(s, &err), &err);
  s->fail_after = 2; /* the append passes, the commit fails */
  TU_ASSERT_OK(pt_store_event_append(s, e1, &err), &err);
  assert_int_equal(pt_store_commit(s, &err), PT_ESTORAGE);
  TU_ASSERT_OK(pt_store_begin(s, &err), &err);
  assert_int_equal(pt_store_event_find(s, "s1", "e1", &found, &err), PT_ENOTFOUND);
  pt_store_rollback(s);

  pt_event_free(e0);
  pt_event_free(e1);
  pt_event_free(n1);
  pt_store_close(s);
}

static void test_conformance(void **state) {
  (void)state;
  char urls[TU_STORES_MAX][TU_URL_SIZE];
  size_t n = tu_store_urls("store", urls, TU_STORES_MAX);
  TU_EACH_URL(urls, n, url) conformance(url);
}

static void test_bad_urls(void **state) {
  (void)state;
  pt_store *s;
  pt_error err;
  assert_int_equal(pt_store_open("mysql://x", NULL, &s, &err), PT_EINVALID);
  assert_null(s);
  assert_string_equal(err.field, "db");
  assert_int_equal(pt_store_open("nothing", NULL, &s, &err), PT_EINVALID);
  assert_int_equal(pt_store_open("sqlite:", NULL, &s, &err), PT_EINVALID);
  assert_int_equal(pt_store_open("sqlite:/nonexistent/dir/x.db", NULL, &s, &err), PT_ESTORAGE);
  assert_null(s);
}

/* Store URLs as logs and errors show them: no password. */
static void test_url_display(void **state) {
  (void)state;
  char out[256];
  const char *cases[][2] = {
      {"postgres://u:s3cret@db:5432/x", "postgres://u:***@db:5432/x"},
      {"postgresql://u@db/x", "postgresql://u@db/x"},
      {"postgres://db/x?user=u&password=p w&sslmode=require",
       "postgres://db/x?user=u&password=***&sslmode=require"},
      {"postgres://u:a@b@db/x?password=z", "postgres://u:***@b@db/x?password=***"},
      {"postgres://db/x?xpassword=keep", "postgres://db/x?xpassword=keep"},
      {"sqlite:/srv/password=x.db", "sqlite:/srv/password=x.db"},
      {"memory:", "memory:"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    pt_db_url_display(cases[i][0], out, sizeof out);
    assert_string_equal(out, cases[i][1]);
  }
  pt_db_url_display("postgres://u:secret@h/d", out, 12); /* cut, never past the size */
  assert_string_equal(out, "postgres://");
}

static void test_map_delete(void **state) {
  (void)state;
  static char keys[2000][16];
  pt_map m;
  pt_map_init(&m);
  assert_int_equal(pt_map_reserve(&m, 2000), 0);
  size_t cap = m.cap;
  assert_true(cap * 3 >= 2000 * 4);
  for (int i = 0; i < 2000; i++) {
    snprintf(keys[i], sizeof keys[i], "k%d", i);
    assert_int_equal(pt_map_put(&m, keys[i], (void *)(intptr_t)(i + 1)), 0);
  }
  assert_int_equal(m.cap, cap); /* reserved: no rehash while filling */
  for (int i = 1; i < 2000; i += 2) pt_map_del(&m, keys[i]);
  pt_map_del(&m, "absent");
  assert_int_equal(m.count, 1000);
  for (int i = 0; i < 2000; i++) {
    void *v = pt_map_get(&m, keys[i]);
    if (i % 2)
      assert_null(v);
    else
      assert_int_equal((intptr_t)v, i + 1);
  }
  pt_map_cleanup(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_map_delete),
      cmocka_unit_test(test_conformance),
      cmocka_unit_test(test_bad_urls),
      cmocka_unit_test(test_url_display),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
