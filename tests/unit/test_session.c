/* test_session.c - the checksum (docs/concepts.md#checksum) from the session aggregate: every
 * field and every state, registry entries (docs/concepts.md#registry-entries-snapshots), and what a
 * copy leaves behind when memory runs out. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/defs.h"
#include "core/jparse.h"
#include "core/session.h"
#include "testutil.h"

/* session.c is compiled into this test with its allocations counted, so a
 * test can make the k-th one fail and see what is left allocated. */
static long live;         /* session.c's blocks not freed yet */
static long fail_in = -1; /* allocations until one fails; -1: none fails */

static int fails(void) {
  return fail_in >= 0 && fail_in-- == 0;
}
static void *counted_malloc(size_t n) {
  void *p = fails() ? NULL : malloc(n);
  live += p != NULL;
  return p;
}
static void *counted_realloc(void *p, size_t n) {
  void *q = fails() ? NULL : realloc(p, n);
  live += q && !p;
  return q;
}
static char *counted_strdup(const char *s) {
  char *p = counted_malloc(strlen(s) + 1);
  if (p) memcpy(p, s, strlen(s) + 1);
  return p;
}
static void counted_free(void *p) {
  live -= p != NULL;
  free(p);
}
#define malloc counted_malloc
#define realloc counted_realloc
#define strdup counted_strdup
#define free counted_free
#include "core/session.c"
#undef malloc
#undef realloc
#undef strdup
#undef free

static const char DEFS[] =
    "{\"pipelines\":[{\"type\":\"p\",\"steps\":[\"a\",\"b\",\"c\",\"d\"],"
    "\"optional\":[\"c\"],\"stall_after_s\":60}]}";

typedef struct fx {
  pt_defs *defs;
  const pt_pipeline *p;
  pt_session s;
} fx;

static int setup(void **state) {
  static fx f;
  pt_error err;
  if (pt_defs_parse(DEFS, strlen(DEFS), &f.defs, &err)) return -1;
  f.p = pt_defs_find(f.defs, "p");
  pt_session_init(&f.s, "sess", "p");
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  pt_session_cleanup(&f->s);
  pt_defs_unref(f->defs);
  return 0;
}

static void add(fx *f, const char *step, int status, int64_t ts) {
  pt_event *e = pt_event_new("id", "sess", "p", step, NULL, 0, NULL, 0, NULL, 0);
  e->status = status;
  e->ts = ts;
  e->seq = f->s.event_count;
  e->received_at = ts;
  memset(e->link, 'a' + (int)(e->seq % 6), 64);
  e->link[64] = '\0';
  assert_int_equal(pt_session_apply(&f->s, e), 0);
  pt_event_free(e);
}

/* The checksum's JSON text (the caller frees it). */
static char *cksum_json(const pt_cksum *c, const pt_pipeline *p) {
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_cksum_write_json(&b, c, p);
  return pt_buf_take(&b);
}

static void test_pending(void **state) {
  fx *f = *state;
  pt_cksum c;
  pt_cksum_compute(&f->s, f->p, 0, &c);
  assert_string_equal(c.state, "pending");
  assert_int_equal(c.event_count, 0);
  assert_null(c.last_event_id);
  assert_int_equal(c.total, 3);
  assert_int_equal(c.percent, 0);
  assert_int_equal(c.nmissing, 3);
  assert_int_equal(c.started_at, -1);
  char *j = cksum_json(&c, f->p);
  assert_non_null(strstr(j, "\"duration_ms\":null"));
  assert_non_null(strstr(j, "\"missing_steps\":[\"a\",\"b\",\"d\"]"));
  free(j);
}

static void test_in_progress_then_completed(void **state) {
  fx *f = *state;
  add(f, "a", PT_STARTED, 1000);
  add(f, "a", PT_SUCCESS, 1500);
  pt_cksum c;
  pt_cksum_compute(&f->s, f->p, 2000, &c);
  assert_string_equal(c.state, "in_progress");
  assert_int_equal(c.completed, 1);
  assert_int_equal(c.percent, 33); /* 1/3 rounded down */
  add(f, "b", PT_SUCCESS, 2000);
  add(f, "d", PT_SUCCESS, 4000);
  pt_cksum_compute(&f->s, f->p, 5000, &c);
  assert_string_equal(c.state, "completed");
  assert_true(c.is_complete);
  assert_true(c.is_valid);
  assert_int_equal(c.percent, 100);
  assert_int_equal(c.ncompleted, 3);
  assert_int_equal(c.nmissing, 0); /* c is optional */
  assert_int_equal(c.started_at, 1000);
  assert_int_equal(c.last_event_at, 4000);
  assert_int_equal(c.event_count, 4);
  char *j = cksum_json(&c, f->p);
  assert_non_null(strstr(j, "\"completed_steps\":[\"a\",\"b\",\"d\"]"));
  assert_non_null(strstr(j, "\"duration_ms\":3000"));
  assert_non_null(strstr(j, "\"progress\":{\"completed\":3,\"total\":3,\"percent\":100}"));
  free(j);
}

static void test_failed_and_retry(void **state) {
  fx *f = *state;
  add(f, "a", PT_SUCCESS, 1);
  add(f, "b", PT_FAILURE, 2);
  pt_cksum c;
  pt_cksum_compute(&f->s, f->p, 3, &c);
  assert_string_equal(c.state, "failed");
  assert_int_equal(c.nfailed, 1);
  assert_int_equal(c.failed_steps[0], 1);
  assert_false(c.is_valid);
  /* a later success is the step's outcome now */
  add(f, "b", PT_SUCCESS, 3);
  pt_cksum_compute(&f->s, f->p, 4, &c);
  assert_string_equal(c.state, "in_progress");
  assert_int_equal(c.nfailed, 0);
}

static void test_stalled(void **state) {
  fx *f = *state;
  add(f, "a", PT_SUCCESS, 10000);
  pt_cksum c;
  pt_cksum_compute(&f->s, f->p, 10000 + 59999, &c);
  assert_string_equal(c.state, "in_progress");
  pt_cksum_compute(&f->s, f->p, 10000 + 60000, &c);
  assert_string_equal(c.state, "stalled");
}

static void test_out_of_order(void **state) {
  fx *f = *state;
  add(f, "b", PT_SUCCESS, 1); /* before a */
  add(f, "a", PT_SUCCESS, 2);
  add(f, "c", PT_SUCCESS, 3); /* optional c after a, b: in order */
  add(f, "d", PT_SUCCESS, 4);
  pt_cksum c;
  pt_cksum_compute(&f->s, f->p, 5, &c);
  assert_string_equal(c.state, "completed");
  assert_true(c.is_complete);
  assert_false(c.is_valid);
  assert_int_equal(c.nooo, 1);
  assert_int_equal(c.out_of_order_steps[0], 1);
}

static void test_steps_roundtrip(void **state) {
  fx *f = *state;
  add(f, "a", PT_STARTED, 5);
  add(f, "a", PT_SUCCESS, 6);
  add(f, "b", PT_FAILURE, 7);
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_session_steps_encode(&b, &f->s);
  assert_string_equal(pt_buf_cstr(&b), "a,1,1,1,5,6;b,2,-1,0,-1,7");
  pt_session s2;
  pt_session_init(&s2, "x", "p");
  assert_int_equal(pt_session_steps_decode(&s2, pt_buf_cstr(&b)), 0);
  assert_int_equal(s2.nsteps, 2);
  assert_int_equal(s2.steps[1].outcome, PT_OUTCOME_FAILURE);
  assert_int_equal(pt_session_steps_decode(&s2, "a,1"), -1);
  pt_session_cleanup(&s2);
  pt_buf_cleanup(&b);
}

static void add_id(pt_session *s, const char *id) {
  pt_event *e = pt_event_new(id, s->session_id, "p", "a", NULL, 0, NULL, 0, NULL, 0);
  e->status = PT_SUCCESS;
  e->seq = s->event_count;
  e->ts = e->received_at = 1;
  memset(e->link, 'a', 64);
  e->link[64] = '\0';
  assert_int_equal(pt_session_apply(s, e), 0);
  pt_event_free(e);
}

/* The ids of ids[first..n-1] as the recent list gives them, joined by ','. */
static void recent_joined(const pt_session *s, int64_t first, char *out, size_t cap) {
  const char *p = pt_session_recent_ids(s, first);
  assert_non_null(p);
  out[0] = '\0';
  for (int64_t i = first; i < s->event_count; i++, p += strlen(p) + 1) {
    if (i > first) strncat(out, ",", cap - strlen(out) - 1);
    strncat(out, p, cap - strlen(out) - 1);
  }
}

/* The recent list: the latest PT_RECENT_IDS ids, consecutive, copied with
 * the aggregate, and only where kept. */
static void test_recent_ids(void **state) {
  fx *f = *state;
  add_id(&f->s, "x0"); /* not kept: no list */
  assert_null(pt_session_recent_ids(&f->s, 0));
  assert_null(pt_session_recent_ids(&f->s, 1));
  pt_session s;
  pt_session_init(&s, "r", "p");
  pt_session_keep_recent(&s);
  char got[512];
  assert_non_null(pt_session_recent_ids(&s, 0)); /* empty, and whole */
  add_id(&s, "e0");
  add_id(&s, "e1");
  add_id(&s, "e2");
  recent_joined(&s, 0, got, sizeof got);
  assert_string_equal(got, "e0,e1,e2");
  recent_joined(&s, 2, got, sizeof got);
  assert_string_equal(got, "e2");
  char id[16];
  for (int i = 3; i < PT_RECENT_IDS + 4; i++) {
    snprintf(id, sizeof id, "e%d", i);
    add_id(&s, id);
  }
  /* 20 events, the last 16 kept: e4..e19 */
  assert_int_equal(s.event_count, PT_RECENT_IDS + 4);
  assert_null(pt_session_recent_ids(&s, 0));
  assert_null(pt_session_recent_ids(&s, 3));
  recent_joined(&s, 17, got, sizeof got);
  assert_string_equal(got, "e17,e18,e19");
  recent_joined(&s, 4, got, sizeof got);
  assert_true(strncmp(got, "e4,e5,", 6) == 0);
  assert_null(pt_session_recent_ids(&s, 21)); /* past the end */
  /* copies carry it; an assignment reuses the destination's buffer */
  pt_session c, a;
  assert_int_equal(pt_session_copy(&c, &s), 0);
  recent_joined(&c, 18, got, sizeof got);
  assert_string_equal(got, "e18,e19");
  pt_session_init(&a, "r", "p");
  pt_session_keep_recent(&a);
  add_id(&a, "other");
  assert_int_equal(pt_session_assign(&a, &c), 0);
  add_id(&c, "e20"); /* the copies are independent */
  recent_joined(&a, 19, got, sizeof got);
  assert_string_equal(got, "e19");
  recent_joined(&c, 19, got, sizeof got);
  assert_string_equal(got, "e19,e20");
  /* kept from the middle of a session (an aggregate read from a store): only
   * events appended since are known */
  pt_session m;
  assert_int_equal(pt_session_copy(&m, &f->s), 0);
  pt_session_keep_recent(&m);
  assert_null(pt_session_recent_ids(&m, 0));
  add_id(&m, "y1");
  assert_null(pt_session_recent_ids(&m, 0));
  recent_joined(&m, 1, got, sizeof got);
  assert_string_equal(got, "y1");
  pt_session_cleanup(&m);
  pt_session_cleanup(&a);
  pt_session_cleanup(&c);
  pt_session_cleanup(&s);
}

/* The recent list as a store keeps it with the row (PostgreSQL), and back. */
static void test_recent_roundtrip(void **state) {
  (void)state;
  pt_session s, r;
  pt_buf b;
  pt_buf_init(&b, 0);
  char got[1024], id[16];
  pt_session_init(&s, "r", "p");
  pt_session_keep_recent(&s);
  pt_session_recent_encode(&b, &s);
  assert_string_equal(pt_buf_cstr(&b), ""); /* empty list: nothing */
  for (int i = 0; i < PT_RECENT_IDS + 2; i++) {
    snprintf(id, sizeof id, "e%d", i);
    add_id(&s, id);
  }
  pt_session_recent_encode(&b, &s);
  assert_string_equal(pt_buf_cstr(&b), "e2 e3 e4 e5 e6 e7 e8 e9 e10 e11 e12 e13 e14 e15 e16 e17");
  /* read back into a row's aggregate: the same ids, and the list goes on */
  pt_session_init(&r, "r", "p");
  r.event_count = s.event_count;
  pt_session_recent_decode(&r, pt_buf_cstr(&b));
  recent_joined(&r, 2, got, sizeof got);
  assert_string_equal(got, "e2,e3,e4,e5,e6,e7,e8,e9,e10,e11,e12,e13,e14,e15,e16,e17");
  add_id(&r, "e18");
  recent_joined(&r, 16, got, sizeof got);
  assert_string_equal(got, "e16,e17,e18");
  /* texts that cannot be the list keep none (the ids are read later) */
  const char *bad[] = {"a  b", " a", "a ", "a b c"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    pt_session x;
    pt_session_init(&x, "r", "p");
    x.event_count = 2; /* "a b c": more ids than events */
    pt_session_recent_decode(&x, bad[i]);
    assert_int_equal(x.keep_recent, 1);
    assert_null(pt_session_recent_ids(&x, 0));
    assert_non_null(pt_session_recent_ids(&x, 2)); /* whole from here on */
    pt_session_cleanup(&x);
  }
  /* a list not reaching the last event is not written */
  pt_session m;
  pt_session_init(&m, "r", "p");
  add_id(&m, "n0");
  pt_buf_reset(&b);
  pt_session_recent_encode(&b, &m);
  assert_string_equal(pt_buf_cstr(&b), "");
  pt_session_cleanup(&m);
  pt_session_cleanup(&r);
  pt_session_cleanup(&s);
  pt_buf_cleanup(&b);
}

static void test_snapshot_ids(void **state) {
  fx *f = *state;
  add(f, "a", PT_SUCCESS, 1);
  pt_cksum c;
  pt_cksum_compute(&f->s, f->p, 100, &c);
  pt_snap s1, s2, s3, s4;
  assert_int_equal(pt_snap_make(&f->s, &c, 100, "first", &s1), 0);
  assert_int_equal(pt_snap_make(&f->s, &c, 100, NULL, &s2), 0);
  assert_int_equal(pt_snap_make(&f->s, &c, 100, NULL, &s3), 0);
  assert_int_equal(pt_snap_make(&f->s, &c, 99, NULL, &s4), 0); /* clock stepped back */
  assert_string_equal(s1.id, "reg_sess_100");
  assert_string_equal(s2.id, "reg_sess_100_1");
  assert_string_equal(s3.id, "reg_sess_100_2");
  assert_string_equal(s4.id, "reg_sess_100_3");
  assert_int_equal(s4.created_at, 100);
  assert_int_equal(f->s.snapshot_count, 4);
  const char *ids[] = {"id"};
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_snap_write_json(&b, &s1, ids, 0, 1, 0);
  assert_non_null(strstr(pt_buf_cstr(&b), "\"event_ids\":[\"id\"]"));
  assert_non_null(strstr(pt_buf_cstr(&b), "\"notes\":\"first\",\"signature\":null}"));
  assert_non_null(
      strstr(pt_buf_cstr(&b), "\"state\":\"in_progress\",\"is_valid\":false,\"created_at\":100"));
  assert_null(strstr(pt_buf_cstr(&b), "event_ids_truncated"));
  /* capped: only the last `cap` ids, and the entry says so */
  const char *five[] = {"e0", "e1", "e2", "e3", "e4"};
  s1.event_count = 5;
  pt_buf_reset(&b);
  pt_snap_write_json(&b, &s1, five + 2, 2, 3, 2);
  assert_non_null(
      strstr(pt_buf_cstr(&b), "\"event_ids_truncated\":true,\"event_ids\":[\"e3\",\"e4\"]"));
  pt_buf_reset(&b);
  pt_snap_write_json(&b, &s1, five, 0, 5, 5);
  assert_non_null(strstr(pt_buf_cstr(&b), "\"event_ids\":[\"e0\",\"e1\",\"e2\",\"e3\",\"e4\"]"));
  assert_null(strstr(pt_buf_cstr(&b), "event_ids_truncated"));
  pt_buf_cleanup(&b);
  pt_snap_cleanup(&s1);
  pt_snap_cleanup(&s2);
  pt_snap_cleanup(&s3);
  pt_snap_cleanup(&s4);
}

/* A copy that runs out of memory leaves nothing allocated (its callers
 * free the struct without a cleanup), whichever allocation fails. */
static void test_copy_out_of_memory(void **state) {
  (void)state;
  pt_session s;
  pt_session_init(&s, "oom", "p");
  pt_session_keep_recent(&s); /* a recent list and steps: two buffers to copy */
  add_id(&s, "e0");
  add_id(&s, "e1");
  int refused = 0;
  for (long k = 0;; k++) {
    long before = live;
    pt_session c;
    fail_in = k;
    int rc = pt_session_copy(&c, &s);
    int injected = fail_in < 0;
    fail_in = -1;
    if (rc == 0) {
      pt_session_cleanup(&c);
    } else {
      refused++;
      assert_null(c.steps);
      assert_null(c.recent);
    }
    assert_int_equal(live, before);
    if (!injected) break; /* every allocation of the copy has failed once */
  }
  assert_true(refused > 0);
  pt_session_cleanup(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_pending, setup, teardown),
      cmocka_unit_test_setup_teardown(test_in_progress_then_completed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_and_retry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stalled, setup, teardown),
      cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_steps_roundtrip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_ids, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recent_ids, setup, teardown),
      cmocka_unit_test(test_recent_roundtrip),
      cmocka_unit_test(test_copy_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
