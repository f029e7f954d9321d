/* test_issues.c - issues beyond counting them (src/lib/issues.c), on every
 * backend: the webhook outbox through the public calls (pt_outbox_due,
 * _claim, _mark, pt_delivery_body): what a change queues, an "updated"
 * carried by a waiting delivery, claims as leases (one claimer wins), a
 * failed attempt due again, a success gone, the next delivery of the issue
 * behind its head; issues paged by cursor; an export of more issues and
 * more sessions of one issue than a page, imported whole. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

static int64_t now_ms;

static int64_t clock_now(void *ctx) {
  (void)ctx;
  return now_ms;
}

static pt_tracker *open_outbox(const char *url) {
  pt_options o = {
      .db_url = url, .clock = clock_now, .issue_outbox = 1, .issue_outbox_window_ms = 500};
  pt_tracker *t;
  pt_error err;
  TU_ASSERT_OK(pt_open(&o, &t, &err), &err);
  return t;
}

static void fail_at(pt_tracker *t, const char *sid, const char *step, const char *code,
                    char issue_id[32]) {
  pt_event_in ev = {.session_id = sid,
                    .pipeline_type = "checkout_digital",
                    .step = step,
                    .status = PT_FAILURE,
                    .ts = -1,
                    .error_code = code,
                    .error_message = "refused"};
  pt_track_result *r;
  pt_error err;
  TU_ASSERT_OK(pt_track(t, &ev, 0, &r, &err), &err);
  assert_true(r->issue_id[0]);
  if (issue_id) snprintf(issue_id, 32, "%s", r->issue_id);
  pt_track_result_free(r);
}

/* The due deliveries at `at`: their count is returned, the first in *d. */
static size_t due(pt_tracker *t, int64_t at, pt_delivery *d, int64_t *waiting) {
  pt_delivery out[8];
  size_t n = 99;
  pt_error err;
  TU_ASSERT_OK(pt_outbox_due(t, at, out, 8, &n, waiting, &err), &err);
  if (n && d) *d = out[0];
  return n;
}

static void test_outbox_deliveries(void **state) {
  (void)state;
  char urls[TU_STORES_MAX][TU_URL_SIZE];
  size_t nurl = tu_store_urls("issues_outbox", urls, TU_STORES_MAX);
  TU_EACH_URL(urls, nurl, url) {
    const int64_t T = 1764400000000LL;
    now_ms = T;
    pt_tracker *t = open_outbox(url);
    pt_error err;
    pt_delivery d;
    int64_t waiting = -1;
    assert_int_equal(due(t, T, &d, &waiting), 0);
    assert_int_equal(waiting, 0);

    char iss[32];
    fail_at(t, "o1", "payment_initiated", "card_declined", iss);
    assert_int_equal(due(t, T, &d, &waiting), 1);
    assert_int_equal(waiting, 1);
    assert_string_equal(d.action, "opened");
    assert_string_equal(d.issue_id, iss);
    assert_int_equal(d.attempts, 0);
    assert_int_equal(d.created_at, T);
    assert_int_equal(d.next_at, T);
    const int64_t first = d.id;

    /* an update while the opening waits unattempted: carried by it */
    now_ms = T + 10;
    fail_at(t, "o2", "payment_initiated", "card_declined", NULL);
    assert_int_equal(due(t, now_ms, &d, &waiting), 1);
    assert_int_equal(waiting, 1);
    assert_int_equal(d.id, first);

    /* claimed: leased, one attempt; a second claimer loses */
    int claimed = -1;
    TU_ASSERT_OK(pt_outbox_claim(t, first, T + 20, T + 5000, &claimed, &err), &err);
    assert_int_equal(claimed, 1);
    TU_ASSERT_OK(pt_outbox_claim(t, first, T + 20, T + 5000, &claimed, &err), &err);
    assert_int_equal(claimed, 0);
    assert_int_equal(due(t, T + 20, &d, &waiting), 0);
    assert_int_equal(waiting, 1);
    /* an id that is not there: not claimed, nothing marked */
    TU_ASSERT_OK(pt_outbox_claim(t, first + 1000, T + 20, T + 5000, &claimed, &err), &err);
    assert_int_equal(claimed, 0);
    TU_ASSERT_OK(pt_outbox_mark(t, first + 1000, 1, 0, &err), &err);
    assert_int_equal(due(t, T + 5000, &d, &waiting), 1);
    assert_int_equal(waiting, 1);

    /* an update once the head was attempted: a delivery of its own, due
     * after the window, behind the head */
    now_ms = T + 30;
    fail_at(t, "o3", "payment_initiated", "card_declined", NULL);
    assert_int_equal(due(t, T + 30, &d, &waiting), 0);
    assert_int_equal(waiting, 2);

    /* the attempt failed: due again at the time given */
    TU_ASSERT_OK(pt_outbox_mark(t, first, 0, T + 100, &err), &err);
    assert_int_equal(due(t, T + 99, &d, &waiting), 0);
    assert_int_equal(due(t, T + 100, &d, &waiting), 1);
    assert_int_equal(d.id, first);
    assert_int_equal(d.attempts, 1);
    assert_int_equal(d.next_at, T + 100);
    TU_ASSERT_OK(pt_outbox_claim(t, first, T + 100, T + 200, &claimed, &err), &err);
    assert_int_equal(claimed, 1);

    /* its body: the issue now (three failures, three sessions) */
    char *body;
    TU_ASSERT_OK(pt_delivery_body(t, &d, &body, &err), &err);
    json_t *b = tu_json(body);
    assert_string_equal(json_string_value(json_object_get(b, "action")), "opened");
    json_t *issue = json_object_get(b, "issue");
    assert_string_equal(json_string_value(json_object_get(issue, "id")), iss);
    assert_int_equal(json_integer_value(json_object_get(issue, "count")), 3);
    assert_int_equal(json_integer_value(json_object_get(issue, "sessions_affected")), 3);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(b, "report"), "session_id")), "o3");
    json_decref(b);
    pt_free(body);

    /* delivered: gone; the update is the head now */
    TU_ASSERT_OK(pt_outbox_mark(t, first, 1, 0, &err), &err);
    assert_int_equal(due(t, T + 529, &d, &waiting), 0);
    assert_int_equal(waiting, 1);
    assert_int_equal(due(t, T + 530, &d, &waiting), 1);
    assert_string_equal(d.action, "updated");
    assert_true(d.id > first);
    assert_int_equal(d.created_at, T + 30);
    assert_int_equal(d.next_at, T + 530);
    assert_int_equal(d.attempts, 0);
    const int64_t second = d.id;

    /* resolved: queued behind, due at once once the head is done */
    char *doc;
    TU_ASSERT_OK(pt_issue_resolve(t, iss, &doc, &err), &err);
    pt_free(doc);
    assert_int_equal(due(t, T + 530, &d, &waiting), 1);
    assert_int_equal(waiting, 2);
    assert_int_equal(d.id, second);
    TU_ASSERT_OK(pt_outbox_mark(t, second, 1, 0, &err), &err);
    assert_int_equal(due(t, T + 530, &d, &waiting), 1);
    assert_string_equal(d.action, "resolved");
    assert_int_equal(waiting, 1);
    TU_ASSERT_OK(pt_outbox_mark(t, d.id, 1, 0, &err), &err);
    assert_int_equal(due(t, T + 10000, &d, &waiting), 0);
    assert_int_equal(waiting, 0);
    pt_close(t);
  }
}

/* Issues newest failure first, a page at a time by next_cursor, filtered by
 * status; two issues failing in the same millisecond ordered by id. */
static void test_issue_pages(void **state) {
  (void)state;
  char urls[TU_STORES_MAX][TU_URL_SIZE];
  size_t nurl = tu_store_urls("issue_pages", urls, TU_STORES_MAX);
  TU_EACH_URL(urls, nurl, url) {
    now_ms = 1764500000000LL;
    pt_tracker *t = open_outbox(url);
    char ids[4][32];
    fail_at(t, "p1", "checkout_started", "a", ids[0]);
    now_ms += 1000;
    fail_at(t, "p2", "payment_initiated", "b", ids[1]);
    fail_at(t, "p3", "payment_confirmed", "c", ids[2]); /* the same ms */
    now_ms += 1000;
    fail_at(t, "p4", "checkout_completed", "d", ids[3]);
    pt_error err;
    char *doc;
    TU_ASSERT_OK(pt_issue_resolve(t, ids[0], &doc, &err), &err);
    pt_free(doc);
    /* expected order: ids[3], then ids[1]/ids[2] by id descending, ids[0] */
    const char *mid_hi = strcmp(ids[1], ids[2]) > 0 ? ids[1] : ids[2];
    const char *mid_lo = mid_hi == ids[1] ? ids[2] : ids[1];
    const char *want[4] = {ids[3], mid_hi, mid_lo, ids[0]};
    char cursor[256] = "";
    int got = 0;
    for (int page = 0; page < 6; page++) {
      TU_ASSERT_OK(pt_issues(t, NULL, NULL, 1, cursor[0] ? cursor : NULL, &doc, &err), &err);
      json_t *v = tu_json(doc);
      json_t *items = json_object_get(v, "items");
      if (json_array_size(items) == 1) {
        assert_true(got < 4);
        assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "id")),
                            want[got]);
        got++;
      } else {
        assert_int_equal(json_array_size(items), 0);
      }
      json_t *next = json_object_get(v, "next_cursor");
      int more = json_is_string(next);
      if (more) snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
      json_decref(v);
      pt_free(doc);
      if (!more) break;
    }
    assert_int_equal(got, 4);
    /* open ones only, two a page */
    TU_ASSERT_OK(pt_issues(t, "open", NULL, 2, NULL, &doc, &err), &err);
    json_t *v = tu_json(doc);
    json_t *items = json_object_get(v, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "id")),
                        want[0]);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "id")),
                        want[1]);
    assert_true(json_is_string(json_object_get(v, "next_cursor")));
    char *c2 = strdup(json_string_value(json_object_get(v, "next_cursor")));
    json_decref(v);
    pt_free(doc);
    TU_ASSERT_OK(pt_issues(t, "open", NULL, 2, c2, &doc, &err), &err);
    v = tu_json(doc);
    items = json_object_get(v, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "id")),
                        want[2]);
    json_decref(v);
    pt_free(doc);
    free(c2);
    pt_close(t);
  }
}

/* More issues than an export lists a page (64) and more sessions of one
 * issue than it reads a chunk (512): every one exported, imported into an
 * empty store, exported again the same. */
static void test_export_issue_pages(void **state) {
  (void)state;
  enum { SESS = 600, ISSUES = 70 };
  static pt_event_in evs[SESS + ISSUES];
  static char sids[SESS + ISSUES][16], codes[ISSUES][16];
  for (int i = 0; i < SESS + ISSUES; i++) {
    snprintf(sids[i], sizeof sids[i], "x%04d", i);
    int own = i >= SESS; /* an issue of its own: code k */
    if (own) snprintf(codes[i - SESS], sizeof codes[0], "code%02d", i - SESS);
    evs[i] = (pt_event_in){.session_id = sids[i],
                           .pipeline_type = "checkout_digital",
                           .step = "payment_initiated",
                           .status = PT_FAILURE,
                           .ts = -1,
                           .error_code = own ? codes[i - SESS] : "card_declined",
                           .error_message = "refused"};
  }
  char urls[TU_STORES_MAX][TU_URL_SIZE];
  size_t nurl = tu_store_urls("issues_export", urls, TU_STORES_MAX);
  TU_EACH_URL(urls, nurl, url) {
    now_ms = 1764600000000LL;
    pt_tracker *t = open_outbox(url);
    pt_batch_result *br;
    pt_error err;
    TU_ASSERT_OK(pt_track_batch(t, evs, SESS, 0, &br, &err), &err);
    pt_batch_result_free(br);
    for (int i = SESS; i < SESS + ISSUES; i++) {
      now_ms++; /* distinct last_seen: the listing's order is the time's */
      TU_ASSERT_OK(pt_track_batch(t, &evs[i], 1, 0, &br, &err), &err);
      assert_int_equal(br->items[0].status, PT_OK);
      pt_batch_result_free(br);
    }
    pt_export_counts c;
    char *a = tu_export(t, NULL, &c);
    assert_int_equal(c.sessions, SESS + ISSUES);
    assert_int_equal(c.events, SESS + ISSUES);
    assert_int_equal(c.issues, ISSUES + 1);
    size_t issue_lines = 0, session_lines = 0;
    for (const char *p = a; (p = strstr(p, "\"type\":\"issue")); p++)
      if (strncmp(p, "\"type\":\"issue_session\"", strlen("\"type\":\"issue_session\"")) == 0)
        session_lines++;
      else
        issue_lines++;
    assert_int_equal(issue_lines, ISSUES + 1);
    assert_int_equal(session_lines, SESS + ISSUES);
    pt_tracker *u = open_outbox("memory:");
    pt_import_result ir;
    TU_ASSERT_OK(pt_import(u, a, strlen(a), 1, &ir, &err), &err);
    assert_int_equal(ir.events_added, SESS + ISSUES);
    assert_int_equal(ir.issues_imported, ISSUES + 1);
    char *b = tu_export(u, NULL, NULL);
    assert_string_equal(a, b);
    char *doc;
    TU_ASSERT_OK(pt_issues(u, NULL, NULL, 1, NULL, &doc, &err), &err);
    json_t *v = tu_json(doc);
    json_t *first = json_array_get(json_object_get(v, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "title")),
                        "payment_initiated failed in checkout_digital: code69");
    json_decref(v);
    pt_free(doc);
    free(a);
    free(b);
    pt_close(u);
    pt_close(t);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_outbox_deliveries),
      cmocka_unit_test(test_issue_pages),
      cmocka_unit_test(test_export_issue_pages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
