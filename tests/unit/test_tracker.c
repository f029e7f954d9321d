/* test_tracker.c - the public API end to end on every backend (tu_store_urls):
 * idempotency, conflicts, batches, auto-snapshots, history paging, status
 * summary, report, verification, traced steps and storage faults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sha.h"
#include "lib/internal.h"
#include "testutil.h"

static char urls[TU_STORES_MAX][TU_URL_SIZE];
static size_t nurls;

/* Empty stores of every backend for each test. */
static int setup(void **state) {
  (void)state;
  nurls = tu_store_urls("tracker", urls, TU_STORES_MAX);
  return 0;
}

#define EACH_BACKEND TU_EACH_URL(urls, nurls, url)

static json_t *doc_json(char *doc) {
  json_t *v = tu_json(doc);
  pt_free(doc);
  return v;
}

static int64_t jint(json_t *o, const char *path) {
  /* "a.b.c" */
  char buf[128];
  snprintf(buf, sizeof buf, "%s", path);
  json_t *v = o;
  for (char *tok = strtok(buf, "."); tok; tok = strtok(NULL, ".")) v = json_object_get(v, tok);
  if (!json_is_number(v)) fail_msg("%s is not a number", path);
  return (int64_t)json_number_value(v);
}

static const char *jstr(json_t *o, const char *key) {
  return json_string_value(json_object_get(o, key));
}

static void test_idempotency(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    pt_error err;
    pt_track_result *r;
    const char *ev =
        "{\"id\":\"e1\",\"session_id\":\"idem\",\"pipeline_type\":\"checkout_digital\","
        "\"step\":\"checkout_started\",\"status\":\"success\",\"ts\":5,"
        "\"input\":{\"b\":1,\"a\":2}}";
    TU_ASSERT_OK(pt_track_json(t, ev, strlen(ev), 0, &r, &err), &err);
    assert_int_equal(r->replayed, 0);
    assert_int_equal(r->seq, 0);
    char link[65];
    memcpy(link, r->link, 65);
    pt_track_result_free(r);
    /* same content, members in another order, ts left out: a replay */
    const char *again =
        "{\"input\":{\"a\":2,\"b\":1},\"status\":\"success\",\"id\":\"e1\","
        "\"session_id\":\"idem\",\"pipeline_type\":\"checkout_digital\","
        "\"step\":\"checkout_started\"}";
    TU_ASSERT_OK(pt_track_json(t, again, strlen(again), 0, &r, &err), &err);
    assert_int_equal(r->replayed, 1);
    assert_int_equal(r->seq, 0);
    assert_string_equal(r->link, link);
    json_t *stored = tu_json(r->event_json);
    assert_int_equal(jint(stored, "ts"), 5);
    json_decref(stored);
    pt_track_result_free(r);
    /* different content: conflict, nothing stored */
    const char *other =
        "{\"id\":\"e1\",\"session_id\":\"idem\",\"pipeline_type\":\"checkout_digital\","
        "\"step\":\"checkout_started\",\"status\":\"failure\"}";
    assert_int_equal(pt_track_json(t, other, strlen(other), 0, &r, &err), PT_EEVENT_ID_CONFLICT);
    assert_null(r);
    assert_string_equal(err.field, "event.id");
    const char *ts_differs =
        "{\"id\":\"e1\",\"session_id\":\"idem\",\"pipeline_type\":\"checkout_digital\","
        "\"step\":\"checkout_started\",\"status\":\"success\",\"ts\":6,"
        "\"input\":{\"b\":1,\"a\":2}}";
    assert_int_equal(pt_track_json(t, ts_differs, strlen(ts_differs), 0, &r, &err),
                     PT_EEVENT_ID_CONFLICT);
    char *doc;
    TU_ASSERT_OK(pt_checksum(t, "idem", &doc, &err), &err);
    json_t *c = doc_json(doc);
    assert_int_equal(jint(c, "event_count"), 1);
    json_decref(c);
    pt_close(t);
  }
}

static void test_session_conflict(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    tu_track(t, "conf", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    pt_event_in ev = {.session_id = "conf",
                      .pipeline_type = "signup",
                      .step = "account_created",
                      .status = PT_SUCCESS,
                      .ts = -1};
    pt_track_result *r;
    pt_error err;
    assert_int_equal(pt_track(t, &ev, 0, &r, &err), PT_ESESSION_CONFLICT);
    assert_string_equal(err.field, "event.pipeline_type");
    assert_non_null(strstr(err.message, "\"checkout_digital\""));
    pt_close(t);
  }
}

static void test_batch(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    const char *batch =
        "[{\"session_id\":\"b1\",\"pipeline_type\":\"checkout_digital\",\"step\":\"checkout_"
        "started\",\"status\":\"success\"},"
        " {\"session_id\":\"b1\",\"pipeline_type\":\"checkout_digital\",\"step\":\"bogus\","
        "\"status\":\"success\"},"
        " {\"session_id\":\"b1\",\"pipeline_type\":\"checkout_digital\",\"step\":\"payment_"
        "initiated\",\"status\":\"started\",\"x\":1},"
        " {\"session_id\":\"b1\",\"pipeline_type\":\"checkout_digital\",\"step\":\"payment_"
        "initiated\",\"status\":\"success\"}]";
    pt_batch_result *br;
    pt_error err;
    TU_ASSERT_OK(pt_track_batch_json(t, batch, strlen(batch), 0, &br, &err), &err);
    assert_int_equal(br->count, 4);
    assert_int_equal(br->items[0].status, PT_OK);
    assert_int_equal(br->items[0].result->seq, 0);
    assert_int_equal(br->items[1].status, PT_EUNKNOWN_STEP);
    assert_string_equal(br->items[1].error.field, "events[1].step");
    assert_int_equal(br->items[2].status, PT_EINVALID);
    assert_string_equal(br->items[2].error.field, "events[2].x");
    assert_int_equal(br->items[3].status, PT_OK);
    assert_int_equal(br->items[3].result->seq, 1);
    pt_batch_result_free(br);
    /* over the limit: refused whole */
    pt_event_in many[PT_BATCH_MAX + 1];
    for (int i = 0; i <= PT_BATCH_MAX; i++)
      many[i] = (pt_event_in){.session_id = "b2",
                              .pipeline_type = "checkout_digital",
                              .step = "checkout_started",
                              .status = PT_STARTED,
                              .ts = -1};
    assert_int_equal(pt_track_batch(t, many, PT_BATCH_MAX + 1, 0, &br, &err), PT_ETOOBIG);
    assert_null(br);
    TU_ASSERT_OK(pt_track_batch(t, many, PT_BATCH_MAX, 0, &br, &err), &err);
    assert_int_equal(br->items[PT_BATCH_MAX - 1].result->seq, PT_BATCH_MAX - 1);
    pt_batch_result_free(br);
    pt_close(t);
  }
}

static void test_snapshots_and_history(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 1); /* auto-snapshot on by default */
    pt_error err;
    pt_event_in ev = {.session_id = "snap",
                      .pipeline_type = "checkout_digital",
                      .step = "checkout_started",
                      .status = PT_SUCCESS,
                      .ts = -1};
    pt_track_result *r;
    TU_ASSERT_OK(pt_track(t, &ev, PT_SNAPSHOT_DEFAULT, &r, &err), &err);
    assert_non_null(r->snapshot_json);
    json_t *s = tu_json(r->snapshot_json);
    assert_string_equal(jstr(s, "id"), "reg_snap_1764350000000");
    assert_int_equal(jint(s, "event_count"), 1);
    assert_string_equal(jstr(s, "chain_hash"), r->chain_hash);
    assert_int_equal(json_array_size(json_object_get(s, "event_ids")), 1);
    json_decref(s);
    pt_track_result_free(r);
    ev.step = "payment_initiated";
    TU_ASSERT_OK(pt_track(t, &ev, 0, &r, &err), &err); /* the call says no */
    assert_null(r->snapshot_json);
    pt_track_result_free(r);
    char *doc;
    TU_ASSERT_OK(pt_snapshot(t, "snap", "checkout_digital", "Manual checkpoint", &doc, &err), &err);
    s = doc_json(doc);
    assert_string_equal(jstr(s, "id"), "reg_snap_1764350000000_1");
    assert_string_equal(jstr(s, "notes"), "Manual checkpoint");
    assert_int_equal(jint(s, "event_count"), 2);
    assert_int_equal(jint(s, "progress.completed"), 2);
    json_decref(s);
    for (int i = 0; i < 3; i++) {
      TU_ASSERT_OK(pt_snapshot(t, "snap", NULL, NULL, &doc, &err), &err);
      pt_free(doc);
    }
    assert_int_equal(pt_snapshot(t, "snap", "signup", NULL, &doc, &err), PT_ESESSION_CONFLICT);
    assert_int_equal(pt_snapshot(t, "nosuch", NULL, NULL, &doc, &err), PT_ENOTFOUND);
    assert_int_equal(pt_snapshot(t, "bad id!", NULL, NULL, &doc, &err), PT_EINVALID);
    /* 5 entries, pages of 2, newest first */
    const char *want[] = {"reg_snap_1764350000000_4", "reg_snap_1764350000000_3",
                          "reg_snap_1764350000000_2", "reg_snap_1764350000000_1",
                          "reg_snap_1764350000000"};
    char cursor[256] = "";
    int seen = 0;
    for (int page = 0; page < 3; page++) {
      TU_ASSERT_OK(pt_history(t, "snap", 2, page ? cursor : NULL, &doc, &err), &err);
      json_t *h = doc_json(doc);
      json_t *items = json_object_get(h, "items");
      for (size_t i = 0; i < json_array_size(items); i++)
        assert_string_equal(jstr(json_array_get(items, i), "id"), want[seen++]);
      json_t *nc = json_object_get(h, "next_cursor");
      if (page < 2) {
        assert_true(json_is_string(nc));
        snprintf(cursor, sizeof cursor, "%s", json_string_value(nc));
      } else {
        assert_true(json_is_null(nc));
      }
      json_decref(h);
    }
    assert_int_equal(seen, 5);
    assert_int_equal(pt_history(t, "snap", 2, "garbage", &doc, &err), PT_EINVALID);
    assert_string_equal(err.field, "cursor");
    TU_ASSERT_OK(pt_latest_snapshot(t, "snap", &doc, &err), &err);
    s = doc_json(doc);
    assert_string_equal(jstr(s, "id"), want[0]);
    json_decref(s);
    pt_close(t);
  }
}

/* Tracks event `id` into session "ids" with an auto-snapshot and checks the
 * entry lists exactly ids e0..e<n-1>: taken from the session's recent list
 * while it holds them all, read back from the store after that. */
static void track_and_check_ids(pt_tracker *t, int n, int batch) {
  char id[16];
  snprintf(id, sizeof id, "e%d", n - 1);
  pt_event_in ev = {.id = id,
                    .session_id = "ids",
                    .pipeline_type = "checkout_digital",
                    .step = "checkout_started",
                    .status = PT_STARTED,
                    .ts = -1};
  pt_error err;
  pt_track_result *r = NULL;
  pt_batch_result *br = NULL;
  if (batch) {
    TU_ASSERT_OK(pt_track_batch(t, &ev, 1, 1, &br, &err), &err);
    assert_int_equal(br->items[0].status, PT_OK);
  } else {
    TU_ASSERT_OK(pt_track(t, &ev, 1, &r, &err), &err);
  }
  json_t *s = tu_json((batch ? br->items[0].result : r)->snapshot_json);
  json_t *ids = json_object_get(s, "event_ids");
  assert_int_equal(json_array_size(ids), n);
  for (int i = 0; i < n; i++) {
    snprintf(id, sizeof id, "e%d", i);
    assert_string_equal(json_string_value(json_array_get(ids, (size_t)i)), id);
  }
  json_decref(s);
  pt_track_result_free(r);
  pt_batch_result_free(br);
}

static void test_auto_snapshot_ids(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    int n = 0;
    while (n < PT_RECENT_IDS + 4) {
      n++;
      track_and_check_ids(t, n, n % 2);
    }
    pt_close(t);
    if (!tu_store_persists(url)) continue;
    /* a new tracker knows no recent ids: they are read back */
    t = tu_open(url, 0);
    track_and_check_ids(t, ++n, 0);
    track_and_check_ids(t, ++n, 1);
    pt_close(t);
  }
}

static void test_status_summary(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 1);
    pt_error err;
    char *doc;
    /* unknown session: pending with a type, not found without */
    TU_ASSERT_OK(pt_status_summary(t, "st", "checkout_digital", 0, 0, &doc, &err), &err);
    json_t *s = doc_json(doc);
    assert_string_equal(jstr(json_object_get(s, "checksum"), "state"), "pending");
    assert_int_equal(jint(s, "event_count"), 0);
    assert_true(json_is_null(json_object_get(s, "latest_snapshot")));
    assert_true(json_is_false(json_object_get(s, "terminal")));
    assert_int_equal(jint(s, "poll_after_ms"), 2000);
    json_decref(s);
    assert_int_equal(pt_status_summary(t, "st", NULL, 0, 0, &doc, &err), PT_ENOTFOUND);
    assert_int_equal(pt_status_summary(t, "st", "nope", 0, 0, &doc, &err), PT_EUNKNOWN_PIPELINE);
    const char *steps[] = {"checkout_started", "payment_initiated", "payment_confirmed"};
    for (int i = 0; i < 3; i++) tu_track(t, "st", "checkout_digital", steps[i], PT_SUCCESS, NULL);
    TU_ASSERT_OK(pt_status_summary(t, "st", NULL, 2, 2, &doc, &err), &err);
    s = doc_json(doc);
    assert_int_equal(jint(s, "event_count"), 3);
    json_t *evs = json_object_get(s, "events");
    assert_int_equal(json_array_size(evs), 2); /* the latest two */
    assert_int_equal(jint(json_array_get(evs, 0), "seq"), 1);
    assert_int_equal(json_array_size(json_object_get(s, "history")), 2);
    assert_int_equal(jint(json_object_get(s, "latest_snapshot"), "event_count"), 3);
    {
      /* entry ids: at most events_limit (2) each, the right ones */
      char *rep;
      TU_ASSERT_OK(pt_report(t, "st", PT_FORMAT_JSON, &rep, &err), &err);
      json_t *rj = tu_json(rep);
      json_t *all = json_object_get(rj, "events");
      json_t *h = json_object_get(s, "history");
      json_t *h0 = json_object_get(json_array_get(h, 0), "event_ids");
      json_t *h1 = json_object_get(json_array_get(h, 1), "event_ids");
      assert_int_equal(json_array_size(h0), 2); /* events 1, 2 of 3 */
      assert_true(json_is_true(json_object_get(json_array_get(h, 0), "event_ids_truncated")));
      assert_string_equal(json_string_value(json_array_get(h0, 0)),
                          json_string_value(json_object_get(json_array_get(all, 1), "id")));
      assert_int_equal(json_array_size(h1), 2); /* events 0, 1: all of them */
      assert_null(json_object_get(json_array_get(h, 1), "event_ids_truncated"));
      assert_string_equal(json_string_value(json_array_get(h1, 0)),
                          json_string_value(json_object_get(json_array_get(all, 0), "id")));
      json_decref(rj);
      pt_free(rep);
    }
    assert_int_equal(jint(s, "checksum.progress.percent"), 75);
    assert_true(json_is_false(json_object_get(s, "terminal")));
    json_decref(s);
    tu_track(t, "st", "checkout_digital", "checkout_completed", PT_FAILURE, NULL);
    TU_ASSERT_OK(pt_status_summary(t, "st", "checkout_digital", 0, 0, &doc, &err), &err);
    s = doc_json(doc);
    assert_string_equal(jstr(json_object_get(s, "checksum"), "state"), "failed");
    assert_true(json_is_true(json_object_get(s, "terminal")));
    assert_int_equal(jint(s, "poll_after_ms"), 60000);
    json_decref(s);
    assert_int_equal(pt_status_summary(t, "st", "signup", 0, 0, &doc, &err), PT_ESESSION_CONFLICT);
    /* stalled after stall_after_s of silence (injectable clock) */
    tu_track(t, "quiet", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    tu_clock_ms += 900 * 1000;
    TU_ASSERT_OK(pt_status_summary(t, "quiet", NULL, 0, 0, &doc, &err), &err);
    s = doc_json(doc);
    assert_string_equal(jstr(json_object_get(s, "checksum"), "state"), "stalled");
    assert_int_equal(jint(s, "poll_after_ms"), 10000);
    json_decref(s);
    tu_clock_ms -= 900 * 1000;
    pt_close(t);
  }
}

static void test_report_and_verify(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 1);
    pt_error err;
    tu_track(t, "rep", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    pt_event_in ev = {.session_id = "rep",
                      .pipeline_type = "checkout_digital",
                      .step = "payment_initiated",
                      .status = PT_FAILURE,
                      .ts = -1,
                      .error_code = "card_declined",
                      .error_message = "<b>declined</b>\nretry"};
    pt_track_result *r;
    TU_ASSERT_OK(pt_track(t, &ev, PT_SNAPSHOT_DEFAULT, &r, &err), &err);
    pt_track_result_free(r);
    char *doc;
    TU_ASSERT_OK(pt_report(t, "rep", PT_FORMAT_JSON, &doc, &err), &err);
    json_t *rep = doc_json(doc);
    assert_string_equal(jstr(rep, "state"), "failed");
    assert_int_equal(json_array_size(json_object_get(rep, "events")), 2);
    assert_int_equal(json_array_size(json_object_get(rep, "checksum_history")), 2);
    assert_string_equal(jstr(json_object_get(rep, "first_failure"), "step"), "payment_initiated");
    assert_string_equal(json_string_value(json_array_get(json_object_get(rep, "failed_steps"), 0)),
                        "payment_initiated");
    assert_true(json_is_true(json_object_get(json_object_get(rep, "verification"), "ok")));
    assert_int_equal(jint(rep, "duration_ms"), 0);
    json_decref(rep);
    TU_ASSERT_OK(pt_report(t, "rep", PT_FORMAT_MARKDOWN, &doc, &err), &err);
    assert_non_null(strstr(doc, "# Pipeline report: rep"));
    assert_non_null(strstr(doc, "&lt;b&gt;declined&lt;/b&gt; retry")); /* escaped, one line */
    assert_null(strstr(doc, "<b>"));
    pt_free(doc);
    int ok = 0;
    TU_ASSERT_OK(pt_verify(t, "rep", &ok, &doc, &err), &err);
    assert_int_equal(ok, 1);
    json_t *v = doc_json(doc);
    assert_int_equal(jint(v, "checked_events"), 2);
    assert_int_equal(jint(v, "checked_snapshots"), 2);
    json_decref(v);
    assert_int_equal(pt_verify(t, "missing", &ok, &doc, &err), PT_ENOTFOUND);
    pt_close(t);
  }
}

static void test_traced_step(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    pt_error err;
    pt_step *s;
    TU_ASSERT_OK(
        pt_step_begin(t, "trace", "checkout_digital", "checkout_started", "{\"k\":1}", &s, &err),
        &err);
    tu_clock_ms += 250;
    TU_ASSERT_OK(pt_step_end(s, PT_SUCCESS, "[1,2]", NULL, NULL, &err), &err);
    TU_ASSERT_OK(pt_step_begin(t, "trace", "checkout_digital", "payment_initiated", NULL, &s, &err),
                 &err);
    tu_clock_ms += 40;
    TU_ASSERT_OK(pt_step_end(s, PT_FAILURE, NULL, "gateway_timeout", "no answer", &err), &err);
    char *doc;
    TU_ASSERT_OK(pt_report(t, "trace", PT_FORMAT_JSON, &doc, &err), &err);
    json_t *rep = doc_json(doc);
    json_t *evs = json_object_get(rep, "events");
    assert_int_equal(json_array_size(evs), 4);
    assert_string_equal(jstr(json_array_get(evs, 0), "status"), "started");
    json_t *end = json_array_get(evs, 1);
    assert_string_equal(jstr(end, "status"), "success");
    assert_int_equal(jint(json_object_get(end, "output"), "duration_ms"), 250);
    assert_int_equal(json_array_size(json_object_get(json_object_get(end, "output"), "result")), 2);
    json_t *fail = json_array_get(evs, 3);
    assert_int_equal(jint(json_object_get(fail, "output"), "duration_ms"), 40);
    assert_string_equal(jstr(json_object_get(fail, "error"), "code"), "gateway_timeout");
    json_decref(rep);
    /* a bad output is refused, and the step is still freed */
    TU_ASSERT_OK(pt_step_begin(t, "trace", "checkout_digital", "payment_confirmed", NULL, &s, &err),
                 &err);
    assert_int_equal(pt_step_end(s, PT_SUCCESS, "{bad", NULL, NULL, &err), PT_EINVALID_JSON);
    pt_close(t);
  }
}

static void test_storage_fault_stores_nothing(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 1);
    pt_error err;
    tu_track(t, "fault", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    for (int after = 1; after <= 5; after++) {
      pt__inject_store_fault(t, after);
      pt_event_in ev = {.session_id = "fault",
                        .pipeline_type = "checkout_digital",
                        .step = "payment_initiated",
                        .status = PT_SUCCESS,
                        .ts = -1};
      pt_track_result *r;
      assert_int_equal(pt_track(t, &ev, PT_SNAPSHOT_DEFAULT, &r, &err), PT_ESTORAGE);
      assert_null(r);
      char *doc;
      TU_ASSERT_OK(pt_status_summary(t, "fault", NULL, 0, 0, &doc, &err), &err);
      json_t *s = doc_json(doc);
      assert_int_equal(jint(s, "event_count"), 1);
      assert_int_equal(json_array_size(json_object_get(s, "history")), 1);
      json_decref(s);
    }
    pt__inject_store_fault(t, -1);
    assert_int_equal(
        tu_track(t, "fault", "checkout_digital", "payment_initiated", PT_SUCCESS, NULL), 1);
    int ok;
    char *doc;
    TU_ASSERT_OK(pt_verify(t, "fault", &ok, &doc, &err), &err);
    assert_int_equal(ok, 1);
    pt_free(doc);
    pt_close(t);
  }
}

static char *export_all(pt_tracker *t, const char *sid, pt_export_counts *counts);

/* A group whose transaction fails in a way a retry may cure (a deadlock
 * between servers on PostgreSQL) is run again from where its jobs were:
 * the callers get their answers as if nothing happened, nothing is stored
 * twice, counts stay exact. The fault is injected at each write call in
 * turn (begin, appends, entries, issue writes, session rows, commit). */
static void test_retry_after_conflict(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 1);
    pt_error err;
    uint64_t retried = 0;
    for (int k = 1; k <= 14; k++) {
      char s1[32], s2[32], id0[32], code[32];
      snprintf(s1, sizeof s1, "rt%d_a", k);
      snprintf(s2, sizeof s2, "rt%d_b", k);
      snprintf(id0, sizeof id0, "rt%d_e0", k);
      snprintf(code, sizeof code, "declined_%d", k);
      pt_event_in first = {.session_id = s1,
                           .pipeline_type = "checkout_digital",
                           .step = "checkout_started",
                           .status = PT_SUCCESS,
                           .id = id0,
                           .ts = -1};
      pt_track_result *r;
      TU_ASSERT_OK(pt_track(t, &first, PT_SNAPSHOT_DEFAULT, &r, &err), &err);
      pt_track_result_free(r);
      pt_tracker_stats before, after;
      pt__stats(t, &before);
      /* a replay, a new event of s1, a new session, and a failure (an issue) */
      pt_event_in evs[4] = {
          first,
          {.session_id = s1,
           .pipeline_type = "checkout_digital",
           .step = "payment_initiated",
           .status = PT_SUCCESS,
           .ts = -1},
          {.session_id = s2,
           .pipeline_type = "checkout_digital",
           .step = "checkout_started",
           .status = PT_SUCCESS,
           .ts = -1},
          {.session_id = s2,
           .pipeline_type = "checkout_digital",
           .step = "payment_initiated",
           .status = PT_FAILURE,
           .error_code = code,
           .error_message = "no",
           .ts = -1},
      };
      pt__inject_retryable_fault(t, k);
      pt_batch_result *b;
      TU_ASSERT_OK(pt_track_batch(t, evs, 4, PT_SNAPSHOT_DEFAULT, &b, &err), &err);
      pt__inject_store_fault(t, -1);
      pt__stats(t, &after);
      retried += after.commit_retries - before.commit_retries;
      assert_int_equal(after.commit_failures, before.commit_failures);
      for (int i = 0; i < 4; i++) TU_ASSERT_OK(b->items[i].status, &b->items[i].error);
      assert_int_equal(b->items[0].result->replayed, 1);
      assert_int_equal(b->items[0].result->seq, 0);
      assert_int_equal(b->items[1].result->seq, 1);
      assert_int_equal(b->items[2].result->seq, 0);
      assert_int_equal(b->items[3].result->seq, 1);
      assert_non_null(b->items[1].result->snapshot_json);
      pt_batch_result_free(b);
      const char *sids[2] = {s1, s2};
      for (int i = 0; i < 2; i++) {
        char *doc;
        TU_ASSERT_OK(pt_status_summary(t, sids[i], NULL, 0, 0, &doc, &err), &err);
        json_t *s = doc_json(doc);
        assert_int_equal(jint(s, "event_count"), 2);
        /* one entry an event (auto-snapshot), none twice */
        assert_int_equal(json_array_size(json_object_get(s, "history")), 2);
        json_decref(s);
        int ok;
        TU_ASSERT_OK(pt_verify(t, sids[i], &ok, &doc, &err), &err);
        assert_int_equal(ok, 1);
        pt_free(doc);
      }
      /* the failure counted once in its issue, one session */
      char *doc;
      TU_ASSERT_OK(pt_issues(t, "open", "checkout_digital", 100, NULL, &doc, &err), &err);
      json_t *list = doc_json(doc);
      json_t *items = json_object_get(list, "items"), *x;
      size_t i;
      int found = 0;
      json_array_foreach(items, i, x) {
        if (strcmp(jstr(x, "code"), code) != 0) continue;
        found = 1;
        assert_int_equal(jint(x, "count"), 1);
        assert_int_equal(jint(x, "sessions_affected"), 1);
      }
      assert_int_equal(found, 1);
      json_decref(list);
      /* a redaction run again lists its event once */
      const char *ids[1] = {id0};
      pt__inject_retryable_fault(t, k);
      TU_ASSERT_OK(pt_redact(t, s1, ids, 1, "test", &doc, &err), &err);
      pt__inject_store_fault(t, -1);
      json_t *red = doc_json(doc);
      json_t *rl = json_object_get(red, "redacted");
      assert_int_equal(json_array_size(rl), 1);
      assert_string_equal(json_string_value(json_array_get(rl, 0)), id0);
      assert_true(json_is_object(json_object_get(red, "snapshot")));
      json_decref(red);
      /* an import run again counts each line once */
      char *text = export_all(t, s2, NULL);
      pt_import_result res;
      pt__inject_retryable_fault(t, k);
      TU_ASSERT_OK(pt_import(t, text, strlen(text), 1, &res, &err), &err);
      pt__inject_store_fault(t, -1);
      free(text);
      assert_int_equal(res.events_added, 0);
      assert_int_equal(res.events_skipped, 2);
      assert_int_equal(res.snapshots_added, 0);
      assert_int_equal(res.snapshots_skipped, 2);
    }
    /* the fault hit inside the group for most k (past its last write call
     * it hit nothing, and was cleared) */
    assert_true(retried >= 6);
    pt_close(t);
  }
}

/* Two trackers on one database (two servers, or a server and the tool):
 * each builds on what the other committed, whatever it remembers of the
 * session. On PostgreSQL the one whose memory of the row is stale finds
 * out at its write (a version check, a taken seq) and runs the group again. */
static void test_two_trackers(void **state) {
  (void)state;
  EACH_BACKEND {
    if (strncmp(url, "memory:", 7) == 0) continue; /* one process's memory */
    pt_tracker *a = tu_open(url, 1), *b = tu_open(url, 1);
    pt_error err;
    pt_tracker_stats before, after;
    assert_int_equal(tu_track(a, "two", "checkout_digital", "checkout_started", PT_SUCCESS, "t0"),
                     0);
    pt__stats(a, &before);
    assert_int_equal(tu_track(b, "two", "checkout_digital", "payment_initiated", PT_SUCCESS, "t1"),
                     1);
    /* a remembers the session at one event: its next one is still seq 2 */
    assert_int_equal(tu_track(a, "two", "checkout_digital", "payment_confirmed", PT_SUCCESS, "t2"),
                     2);
    /* an entry made by b alone (no event) moves the row too */
    char *doc;
    TU_ASSERT_OK(pt_snapshot(b, "two", NULL, "by b", &doc, &err), &err);
    pt_free(doc);
    assert_int_equal(tu_track(a, "two", "checkout_digital", "checkout_completed", PT_SUCCESS, "t3"),
                     3);
    /* a replay of b's event through a, which never saw it */
    assert_int_equal(tu_track(a, "two", "checkout_digital", "payment_initiated", PT_SUCCESS, "t1"),
                     1);
    pt__stats(a, &after);
    if (strncmp(url, "postgres", 8) == 0) /* found out three times, once each */
      assert_int_equal(after.commit_retries - before.commit_retries, 3);
    assert_int_equal(after.commit_failures, before.commit_failures);
    TU_ASSERT_OK(pt_status_summary(b, "two", NULL, 0, 0, &doc, &err), &err);
    json_t *s = doc_json(doc);
    assert_int_equal(jint(s, "event_count"), 4);
    assert_string_equal(jstr(json_object_get(s, "checksum"), "state"), "completed");
    /* entries: one an event (auto-snapshot) and b's, each at its place */
    assert_int_equal(json_array_size(json_object_get(s, "history")), 5);
    json_decref(s);
    int ok;
    TU_ASSERT_OK(pt_verify(b, "two", &ok, &doc, &err), &err);
    assert_int_equal(ok, 1);
    pt_free(doc);
    pt_close(a);
    pt_close(b);
  }
}

static void test_long_session_entries_are_capped(void **state) {
  (void)state;
  pt_tracker *t = tu_open("memory:", 0);
  pt_event_in evs[PT_BATCH_MAX];
  for (int i = 0; i < PT_BATCH_MAX; i++)
    evs[i] = (pt_event_in){.session_id = "long",
                           .pipeline_type = "checkout_digital",
                           .step = "checkout_started",
                           .status = PT_STARTED,
                           .ts = -1};
  pt_batch_result *br;
  pt_error err;
  TU_ASSERT_OK(pt_track_batch(t, evs, PT_BATCH_MAX, 0, &br, &err), &err);
  pt_batch_result_free(br);
  tu_track(t, "long", "checkout_digital", "checkout_started", PT_SUCCESS, "last");
  char *doc;
  TU_ASSERT_OK(pt_snapshot(t, "long", NULL, NULL, &doc, &err), &err);
  json_t *s = doc_json(doc);
  assert_int_equal(jint(s, "event_count"), PT_BATCH_MAX + 1);
  assert_true(json_is_true(json_object_get(s, "event_ids_truncated")));
  json_t *ids = json_object_get(s, "event_ids");
  assert_int_equal(json_array_size(ids), PT_SNAP_IDS_MAX);
  assert_string_equal(json_string_value(json_array_get(ids, PT_SNAP_IDS_MAX - 1)), "last");
  json_decref(s);
  TU_ASSERT_OK(pt_status_summary(t, "long", NULL, 0, 0, &doc, &err), &err);
  s = doc_json(doc);
  json_t *latest = json_object_get(s, "latest_snapshot");
  /* the status lists as many ids as events: events_limit (100 by default) */
  assert_int_equal(json_array_size(json_object_get(latest, "event_ids")), 100);
  assert_true(json_is_true(json_object_get(latest, "event_ids_truncated")));
  json_t *lids = json_object_get(latest, "event_ids");
  assert_string_equal(json_string_value(json_array_get(lids, 99)), "last");
  /* ids come from the events the summary read: the same ids, in order */
  json_t *sevs = json_object_get(s, "events");
  for (size_t i = 0; i < 100; i++)
    assert_string_equal(json_string_value(json_array_get(lids, i)),
                        json_string_value(json_object_get(json_array_get(sevs, i), "id")));
  assert_int_equal(json_array_size(json_object_get(s, "events")), 100);
  json_decref(s);
  pt_close(t);
}

static void test_invalid_json(void **state) {
  (void)state;
  pt_tracker *t = tu_open("memory:", 0);
  pt_track_result *r;
  pt_error err;
  const char *dup = "{\"session_id\":\"a\",\"session_id\":\"b\"}";
  assert_int_equal(pt_track_json(t, dup, strlen(dup), 0, &r, &err), PT_EINVALID_JSON);
  assert_non_null(strstr(err.message, "duplicate"));
  assert_int_equal(pt_track_json(t, "{", 1, 0, &r, &err), PT_EINVALID_JSON);
  /* a text beyond any valid event is refused before parsing */
  size_t big = 4 * 65536 + 16384;
  char *huge = malloc(big);
  memset(huge, ' ', big);
  assert_int_equal(pt_track_json(t, huge, big, 0, &r, &err), PT_ETOOBIG);
  assert_string_equal(err.field, "event");
  free(huge);
  const char *raw_nul = "{\"session_id\":\"a\"}\0junk";
  assert_int_equal(pt_track_json(t, raw_nul, 21, 0, &r, &err), PT_EINVALID_JSON);
  assert_int_equal(pt_strerror(PT_ESTORAGE)[0] != '\0', 1);
  assert_string_equal(pt_err_name(PT_ESESSION_CONFLICT), "session_conflict");
  assert_string_equal(pt_err_name((pt_status)999), "unknown");
  pt_close(t);
}

/* Sessions newest activity first, filtered by type and state, paged. */
static void test_sessions_listing(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    pt_error err;
    tu_clock_ms = 1000000;
    tu_track(t, "ls_a", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    tu_clock_ms += 10;
    tu_track(t, "ls_b", "signup", "account_created", PT_SUCCESS, NULL);
    tu_clock_ms += 10;
    tu_track(t, "ls_c", "checkout_digital", "checkout_started", PT_FAILURE, NULL);
    tu_clock_ms += 10;
    tu_track(t, "ls_a", "checkout_digital", "payment_initiated", PT_SUCCESS, NULL);
    char *doc;
    TU_ASSERT_OK(pt_sessions(t, NULL, NULL, 0, NULL, &doc, &err), &err);
    json_t *v = doc_json(doc);
    json_t *items = json_object_get(v, "items");
    assert_int_equal(json_array_size(items), 3);
    assert_string_equal(jstr(json_array_get(items, 0), "session_id"), "ls_a");
    assert_int_equal(jint(json_array_get(items, 0), "event_count"), 2);
    assert_string_equal(jstr(json_array_get(items, 1), "session_id"), "ls_c");
    assert_string_equal(jstr(json_array_get(items, 1), "state"), "failed");
    assert_string_equal(jstr(json_array_get(items, 2), "session_id"), "ls_b");
    assert_true(json_is_null(json_object_get(v, "next_cursor")));
    json_decref(v);
    /* by type, two pages of one */
    TU_ASSERT_OK(pt_sessions(t, "checkout_digital", NULL, 1, NULL, &doc, &err), &err);
    v = doc_json(doc);
    assert_int_equal(json_array_size(json_object_get(v, "items")), 1);
    assert_string_equal(jstr(json_array_get(json_object_get(v, "items"), 0), "session_id"), "ls_a");
    char cursor[200];
    snprintf(cursor, sizeof cursor, "%s", jstr(v, "next_cursor"));
    json_decref(v);
    TU_ASSERT_OK(pt_sessions(t, "checkout_digital", NULL, 1, cursor, &doc, &err), &err);
    v = doc_json(doc);
    assert_int_equal(json_array_size(json_object_get(v, "items")), 1);
    assert_string_equal(jstr(json_array_get(json_object_get(v, "items"), 0), "session_id"), "ls_c");
    assert_true(json_is_null(json_object_get(v, "next_cursor")));
    json_decref(v);
    /* by state */
    TU_ASSERT_OK(pt_sessions(t, NULL, "failed", 10, NULL, &doc, &err), &err);
    v = doc_json(doc);
    assert_int_equal(json_array_size(json_object_get(v, "items")), 1);
    assert_string_equal(jstr(json_array_get(json_object_get(v, "items"), 0), "session_id"), "ls_c");
    json_decref(v);
    /* refusals name the field */
    assert_int_equal(pt_sessions(t, NULL, "done", 10, NULL, &doc, &err), PT_EINVALID);
    assert_string_equal(err.field, "state");
    assert_int_equal(pt_sessions(t, NULL, NULL, 10, "nonsense", &doc, &err), PT_EINVALID);
    assert_string_equal(err.field, "cursor");
    assert_int_equal(pt_sessions(t, "Bad-Type", NULL, 10, NULL, &doc, &err), PT_EINVALID);
    assert_string_equal(err.field, "pipeline_type");
    pt_close(t);
  }
}

/* The status ETag: the same without the body as with it, stable while
 * nothing changes, new after an event, a snapshot or other limits. */
static void test_status_etag(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    pt_error err;
    char e1[PT_ETAG_SIZE], e2[PT_ETAG_SIZE], *doc;
    tu_track(t, "et", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    TU_ASSERT_OK(pt_status_summary_etag(t, "et", NULL, 0, 0, e1, &doc, &err), &err);
    pt_free(doc);
    assert_int_equal(strlen(e1), 34);
    assert_int_equal(e1[0], '"');
    TU_ASSERT_OK(pt_status_summary_etag(t, "et", NULL, 0, 0, e2, NULL, &err), &err);
    assert_string_equal(e1, e2);
    TU_ASSERT_OK(pt_status_summary_etag(t, "et", NULL, 5, 0, e2, NULL, &err), &err);
    assert_string_not_equal(e1, e2);
    tu_track(t, "et", "checkout_digital", "payment_initiated", PT_SUCCESS, NULL);
    TU_ASSERT_OK(pt_status_summary_etag(t, "et", NULL, 0, 0, e2, NULL, &err), &err);
    assert_string_not_equal(e1, e2);
    memcpy(e1, e2, sizeof e1);
    TU_ASSERT_OK(pt_snapshot(t, "et", NULL, NULL, &doc, &err), &err);
    pt_free(doc);
    TU_ASSERT_OK(pt_status_summary_etag(t, "et", NULL, 0, 0, e2, NULL, &err), &err);
    assert_string_not_equal(e1, e2);
    assert_int_equal(pt_status_summary_etag(t, "nope", NULL, 0, 0, e2, NULL, &err), PT_ENOTFOUND);
    pt_close(t);
  }
}

static json_t *issue_doc(pt_tracker *t, const char *id) {
  char *doc;
  pt_error err;
  TU_ASSERT_OK(pt_issue_get(t, id, &doc, &err), &err);
  return doc_json(doc);
}

static char *export_all(pt_tracker *t, const char *sid, pt_export_counts *counts) {
  return tu_export(t, sid, counts);
}

static void chain_of(pt_tracker *t, const char *sid, char out[65]) {
  char *doc;
  pt_error err;
  TU_ASSERT_OK(pt_checksum(t, sid, &doc, &err), &err);
  json_t *v = doc_json(doc);
  snprintf(out, 65, "%s", jstr(v, "chain_hash"));
  json_decref(v);
}

/* Export from each backend, import into the next one (memory, SQLite,
 * PostgreSQL, and round): chains equal, verified; a second import changes
 * nothing; an altered line is refused by number and nothing of that call is
 * stored. */
static void test_export_import(void **state) {
  (void)state;
  for (size_t b = 0; b < nurls; b++) {
    pt_tracker *src = tu_open(tu_backend(urls[b]), 1);
    pt_error err;
    for (int s = 0; s < 3; s++) {
      char sid[16];
      snprintf(sid, sizeof sid, "x%d", s);
      tu_track(src, sid, "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
      tu_track(src, sid, "checkout_digital", "payment_initiated", PT_FAILURE, NULL);
    }
    char *note;
    TU_ASSERT_OK(pt_snapshot(src, "x1", NULL, "manual", &note, &err), &err);
    pt_free(note);
    /* the three failures made one issue: resolved, it travels as it is */
    TU_ASSERT_OK(pt_issues(src, NULL, NULL, 0, NULL, &note, &err), &err);
    json_t *iv = doc_json(note);
    char iid[40];
    snprintf(iid, sizeof iid, "%s", jstr(json_array_get(json_object_get(iv, "items"), 0), "id"));
    json_decref(iv);
    TU_ASSERT_OK(pt_issue_resolve(src, iid, &note, &err), &err);
    pt_free(note);
    pt_export_counts counts;
    char *text = export_all(src, NULL, &counts);
    assert_int_equal(counts.issues, 1);
    assert_non_null(strstr(text, "{\"type\":\"issue_session\",\"issue_id\":"));
    assert_int_equal(counts.sessions, 3);
    assert_int_equal(counts.events, 6);
    assert_int_equal(counts.snapshots, 7);
    assert_non_null(strstr(text, "{\"type\":\"pipetrack_export\",\"version\":1}\n"));
    char *one = export_all(src, "x1", &counts);
    assert_int_equal(counts.events, 2);
    assert_int_equal(counts.snapshots, 3);
    free(one);
    pt_export *x;
    assert_int_equal(pt_export_open(src, "nope", &x, &err), PT_ENOTFOUND);

    char dst_urls[TU_STORES_MAX][TU_URL_SIZE];
    size_t ndst = tu_store_urls("tracker_import", dst_urls, TU_STORES_MAX);
    pt_tracker *dst = tu_open(dst_urls[(b + 1) % ndst], 0);
    /* an altered export: the status of the second event of x0 */
    char *bad = strdup(text);
    char *at = strstr(bad, "\"status\":\"failure\"");
    assert_non_null(at);
    memcpy(at, "\"status\":\"success\"", 18);
    pt_import_result res;
    assert_int_equal(pt_import(dst, bad, strlen(bad), 1, &res, &err), PT_EINVALID);
    assert_non_null(strstr(err.message, "does not follow the chain"));
    assert_true(strncmp(err.message, "line ", 5) == 0);
    char *doc;
    assert_int_equal(pt_checksum(dst, "x0", &doc, &err), PT_ENOTFOUND);
    free(bad);
    /* an altered registry entry (the manual one): its chain_hash, its
     * last_event_id, its id, and a member an exported entry has not (the
     * events before it are intact) */
    static const char *const WHY[] = {"chain_hash is not the chain's at its 2 events",
                                      "last_event_id is not event 1 of its session",
                                      "the id is not reg_<session_id>_<created_at>",
                                      "snapshot.event_ids: is not a member of an exported"};
    for (int k = 0; k < 4; k++) {
      bad = strdup(text);
      char *line = strstr(bad, "\"notes\":\"manual\"");
      assert_non_null(line);
      while (line > bad && line[-1] != '\n') line--;
      static const char *const AT[] = {"\"chain_hash\":\"", "\"last_event_id\":\"", "\"id\":\"r",
                                       "\"snapshot\":{"};
      char *h = strstr(line, AT[k]);
      assert_non_null(h);
      h += strlen(AT[k]);
      if (k < 3) {
        *h = *h == '0' ? '1' : '0';
      } else { /* "event_ids":[] put in first */
        static const char ins[] = "\"event_ids\":[],";
        size_t pos = (size_t)(h - bad), len = strlen(bad);
        char *grown = malloc(len + sizeof ins);
        assert_non_null(grown);
        memcpy(grown, bad, pos);
        memcpy(grown + pos, ins, sizeof ins - 1);
        memcpy(grown + pos + sizeof ins - 1, bad + pos, len - pos + 1);
        free(bad);
        bad = grown;
      }
      assert_int_equal(pt_import(dst, bad, strlen(bad), 1, &res, &err), PT_EINVALID);
      assert_true(strncmp(err.message, "line ", 5) == 0);
      if (!strstr(err.message, WHY[k])) fail_msg("case %d: %s", k, err.message);
      assert_int_equal(pt_checksum(dst, "x0", &doc, &err), PT_ENOTFOUND);
      free(bad);
    }
    /* the real one */
    TU_ASSERT_OK(pt_import(dst, text, strlen(text), 1, &res, &err), &err);
    assert_int_equal(res.events_added, 6);
    assert_int_equal(res.snapshots_added, 7);
    assert_int_equal(res.issues_imported, 1);
    json_t *di = issue_doc(dst, iid);
    assert_string_equal(jstr(di, "status"), "resolved");
    assert_int_equal(jint(di, "count"), 3);
    assert_int_equal(jint(di, "sessions_affected"), 3);
    assert_int_equal(json_array_size(json_object_get(di, "sessions")), 3);
    json_decref(di);
    for (int s = 0; s < 3; s++) {
      char sid[16], a[65], c[65];
      snprintf(sid, sizeof sid, "x%d", s);
      chain_of(src, sid, a);
      chain_of(dst, sid, c);
      assert_string_equal(a, c);
      int ok;
      TU_ASSERT_OK(pt_verify(dst, sid, &ok, &doc, &err), &err);
      pt_free(doc);
      assert_int_equal(ok, 1);
    }
    char *again = export_all(dst, NULL, NULL);
    assert_string_equal(again, text); /* the same bytes out again */
    free(again);
    TU_ASSERT_OK(pt_import(dst, text, strlen(text), 1, &res, &err), &err);
    assert_int_equal(res.events_added, 0);
    assert_int_equal(res.events_skipped, 6);
    assert_int_equal(res.snapshots_skipped, 7);
    /* a gap is refused */
    const char *gap = strstr(text, "{\"type\":\"event\"");
    gap = strstr(gap + 1, "{\"type\":\"event\""); /* x0 seq 1 alone, into a fresh store */
    pt_tracker *fresh = tu_open("memory:", 0);
    const char *eol = strchr(gap, '\n');
    assert_int_equal(pt_import(fresh, gap, (size_t)(eol - gap), 7, &res, &err), PT_EINVALID);
    assert_non_null(strstr(err.message, "line 7: event seq 1"));
    pt_close(fresh);
    free(text);
    pt_close(dst);
    pt_close(src);
  }
}

/* U+0000 in member names and strings (I-JSON allows both) and a power of
 * two whose shortest spelling has 16 digits: the payload is stored
 * byte-exact in canonical form, digested, chained and verified, shown in the
 * issue it opens, exported and imported with the same bytes; an event member
 * or id holding U+0000 is refused by its field. */
static void test_nul_names_and_canonical_numbers(void **state) {
  (void)state;
  const char *ev =
      "{\"id\":\"n1\",\"session_id\":\"nul\",\"pipeline_type\":\"checkout_digital\","
      "\"step\":\"checkout_started\",\"status\":\"failure\",\"ts\":1,"
      "\"input\":{\"x\":5.966672584960166e-154,\"a\\u0000b\":\"x\\u0000y\"},"
      "\"error\":{\"code\":\"c\",\"message\":\"m\\u0000n\"}}";
  const char *canon = "{\"a\\u0000b\":\"x\\u0000y\",\"x\":5.966672584960166e-154}";
  char digest[65], want[160];
  pt_sha256_hex(canon, strlen(canon), digest);
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    pt_track_result *r;
    pt_error err;
    TU_ASSERT_OK(pt_track_json(t, ev, strlen(ev), 0, &r, &err), &err);
    snprintf(want, sizeof want, "\"input\":%s", canon);
    if (!strstr(r->event_json, want)) fail_msg("stored: %s", r->event_json);
    snprintf(want, sizeof want, "\"input_sha256\":\"%s\"", digest);
    if (!strstr(r->event_json, want)) fail_msg("digest: %s", r->event_json);
    assert_non_null(strstr(r->event_json, "\"message\":\"m\\u0000n\""));
    pt_track_result_free(r);
    int ok = 0;
    char *doc;
    TU_ASSERT_OK(pt_verify(t, "nul", &ok, &doc, &err), &err);
    pt_free(doc);
    assert_int_equal(ok, 1);
    TU_ASSERT_OK(pt_issues(t, "open", NULL, 0, NULL, &doc, &err), &err);
    if (!strstr(doc, canon)) fail_msg("issue sample: %s", doc);
    pt_free(doc);
    TU_ASSERT_OK(pt_report(t, "nul", PT_FORMAT_JSON, &doc, &err), &err);
    if (!strstr(doc, canon)) fail_msg("report: %s", doc);
    pt_free(doc);

    char *text = export_all(t, NULL, NULL);
    assert_non_null(strstr(text, canon));
    pt_tracker *dst = tu_open("memory:", 0);
    pt_import_result res;
    TU_ASSERT_OK(pt_import(dst, text, strlen(text), 1, &res, &err), &err);
    assert_int_equal(res.events_added, 1);
    TU_ASSERT_OK(pt_verify(dst, "nul", &ok, &doc, &err), &err);
    pt_free(doc);
    assert_int_equal(ok, 1);
    char *again = export_all(dst, NULL, NULL);
    assert_string_equal(again, text);
    free(again);
    free(text);
    pt_close(dst);

    const char *bad_member =
        "{\"session_id\":\"nul\",\"pipeline_type\":\"checkout_digital\",\"step\":"
        "\"checkout_started\",\"status\":\"success\",\"id\\u0000x\":\"n2\"}";
    assert_int_equal(pt_track_json(t, bad_member, strlen(bad_member), 0, &r, &err), PT_EINVALID);
    assert_string_equal(err.field, "event.id\\u0000x");
    const char *bad_sid =
        "{\"session_id\":\"n\\u0000ul\",\"pipeline_type\":\"checkout_digital\",\"step\":"
        "\"checkout_started\",\"status\":\"success\"}";
    assert_int_equal(pt_track_json(t, bad_sid, strlen(bad_sid), 0, &r, &err), PT_EINVALID);
    assert_string_equal(err.field, "event.session_id");
    pt_close(t);
  }
}

/* Failures grouped by pipeline/step/code as they are stored, counted once,
 * resolved and reopened; a rolled-back failure counts nothing. */
static void test_issues(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    pt_error err;
    pt_track_result *r;
    const char *fail1 =
        "{\"id\":\"f1\",\"session_id\":\"i1\",\"pipeline_type\":\"checkout_digital\","
        "\"step\":\"payment_initiated\",\"status\":\"failure\","
        "\"error\":{\"code\":\"card_declined\",\"message\":\"Declined\"}}";
    tu_clock_ms = 2000000;
    TU_ASSERT_OK(pt_track_json(t, fail1, strlen(fail1), 0, &r, &err), &err);
    pt_track_result_free(r);
    TU_ASSERT_OK(pt_track_json(t, fail1, strlen(fail1), 0, &r, &err), &err); /* a replay */
    assert_int_equal(r->replayed, 1);
    pt_track_result_free(r);
    tu_clock_ms += 10;
    const char *fail2 =
        "{\"session_id\":\"i2\",\"pipeline_type\":\"checkout_digital\","
        "\"step\":\"payment_initiated\",\"status\":\"failure\","
        "\"error\":{\"code\":\"card_declined\",\"message\":\"Declined again\"}}";
    TU_ASSERT_OK(pt_track_json(t, fail2, strlen(fail2), 0, &r, &err), &err);
    pt_track_result_free(r);
    tu_clock_ms += 10;
    tu_track(t, "i3", "checkout_digital", "checkout_started", PT_FAILURE, NULL); /* no code */
    tu_track(t, "i4", "checkout_digital", "checkout_started", PT_SUCCESS, NULL); /* not a failure */
    char *doc;
    TU_ASSERT_OK(pt_issues(t, NULL, NULL, 0, NULL, &doc, &err), &err);
    json_t *v = doc_json(doc);
    json_t *items = json_object_get(v, "items");
    assert_int_equal(json_array_size(items), 2);
    json_t *newest = json_array_get(items, 0), *declined = json_array_get(items, 1);
    assert_string_equal(jstr(newest, "fingerprint"), "checkout_digital/checkout_started/unknown");
    assert_string_equal(jstr(declined, "fingerprint"),
                        "checkout_digital/payment_initiated/card_declined");
    assert_int_equal(jint(declined, "count"), 2);
    assert_int_equal(jint(declined, "sessions_affected"), 2);
    assert_string_equal(jstr(declined, "last_session_id"), "i2");
    assert_string_equal(jstr(declined, "status"), "open");
    assert_int_equal(jint(declined, "first_seen"), 2000000);
    assert_string_equal(jstr(json_object_get(declined, "sample_event"), "session_id"), "i2");
    char id[40];
    snprintf(id, sizeof id, "%s", jstr(declined, "id"));
    json_decref(v);
    json_t *one = issue_doc(t, id);
    json_t *sess = json_object_get(one, "sessions");
    assert_int_equal(json_array_size(sess), 2);
    assert_string_equal(jstr(json_array_get(sess, 0), "session_id"), "i2");
    json_decref(one);
    /* resolved, then it fails again: reopened */
    TU_ASSERT_OK(pt_issue_resolve(t, id, &doc, &err), &err);
    v = doc_json(doc);
    assert_string_equal(jstr(v, "status"), "resolved");
    json_decref(v);
    TU_ASSERT_OK(pt_issues(t, "open", NULL, 0, NULL, &doc, &err), &err);
    v = doc_json(doc);
    assert_int_equal(json_array_size(json_object_get(v, "items")), 1);
    json_decref(v);
    tu_clock_ms += 10;
    const char *fail3 =
        "{\"session_id\":\"i1\",\"pipeline_type\":\"checkout_digital\","
        "\"step\":\"payment_initiated\",\"status\":\"failure\","
        "\"error\":{\"code\":\"card_declined\",\"message\":\"Still\"}}";
    TU_ASSERT_OK(pt_track_json(t, fail3, strlen(fail3), 0, &r, &err), &err);
    pt_track_result_free(r);
    one = issue_doc(t, id);
    assert_string_equal(jstr(one, "status"), "open");
    assert_int_equal(jint(one, "reopened"), 1);
    assert_int_equal(jint(one, "count"), 3);
    assert_int_equal(jint(one, "sessions_affected"), 2);
    json_decref(one);
    /* a failure whose transaction fails (at each write call in turn, the
     * commit included) is not counted; one that is stored is */
    int64_t want = 3;
    for (int at = 1; at <= 8; at++) {
      pt__inject_store_fault(t, at);
      pt_status rc = pt_track_json(t, fail3, strlen(fail3), 0, &r, &err);
      if (rc == PT_OK) {
        pt_track_result_free(r);
        want++;
      } else {
        assert_int_equal(rc, PT_ESTORAGE);
      }
      pt__inject_store_fault(t, -1);
      one = issue_doc(t, id);
      assert_int_equal(jint(one, "count"), want);
      json_decref(one);
    }
    assert_true(want < 3 + 8); /* some attempts did fail */
    /* refusals */
    assert_int_equal(pt_issue_get(t, "iss_nope", &doc, &err), PT_ENOTFOUND);
    assert_int_equal(pt_issue_resolve(t, "nope", &doc, &err), PT_EINVALID);
    assert_int_equal(pt_issues(t, "closed", NULL, 0, NULL, &doc, &err), PT_EINVALID);
    assert_string_equal(err.field, "status");
    pt_close(t);
  }
}

/* The stall sweep: a quiet session counts once in its pipeline's stall
 * issue; busy, finished and already-counted sessions do not. */
static void test_stall_sweep(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    pt_error err;
    int64_t n;
    tu_clock_ms = 10000000;
    tu_track(t, "quiet", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    for (int k = 0; k < 4; k++) {
      static const char *steps[] = {"checkout_started", "payment_initiated", "payment_confirmed",
                                    "checkout_completed"};
      tu_track(t, "done", "checkout_digital", steps[k], PT_SUCCESS, NULL);
    }
    TU_ASSERT_OK(pt_sweep_stalls(t, &n, &err), &err);
    assert_int_equal(n, 0);    /* nothing is quiet yet */
    tu_clock_ms += 901 * 1000; /* checkout_digital stalls after 900 s */
    tu_track(t, "busy", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    TU_ASSERT_OK(pt_sweep_stalls(t, &n, &err), &err);
    assert_int_equal(n, 1);
    TU_ASSERT_OK(pt_sweep_stalls(t, &n, &err), &err);
    assert_int_equal(n, 0); /* counted once */
    char *doc;
    TU_ASSERT_OK(pt_issues(t, "open", NULL, 0, NULL, &doc, &err), &err);
    json_t *v = doc_json(doc);
    json_t *it = json_array_get(json_object_get(v, "items"), 0);
    assert_int_equal(json_array_size(json_object_get(v, "items")), 1);
    assert_string_equal(jstr(it, "fingerprint"), "checkout_digital/*/stalled");
    assert_int_equal(jint(it, "count"), 1);
    assert_string_equal(jstr(it, "last_session_id"), "quiet");
    assert_string_equal(jstr(it, "title"), "checkout_digital sessions stalled");
    json_decref(v);
    /* later, "busy" goes quiet too: counted by the next sweep */
    tu_clock_ms += 901 * 1000;
    TU_ASSERT_OK(pt_sweep_stalls(t, &n, &err), &err);
    assert_int_equal(n, 1);
    pt_close(t);
  }
}

/* Numbers a double cannot hold, through every entry point of the library:
 * refused naming the field, nothing stored. */
static void test_numbers_beyond_a_double(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    pt_error err;
    pt_track_result *r = NULL;
    const char *ev =
        "{\"session_id\":\"nb\",\"pipeline_type\":\"checkout_digital\","
        "\"step\":\"checkout_started\",\"status\":\"success\",\"input\":{\"a\":1e400}}";
    assert_int_equal(pt_track_json(t, ev, strlen(ev), 0, &r, &err), PT_EINVALID_JSON);
    assert_null(r);
    assert_string_equal(err.field, "event.input.a");
    const char *batch = "[{\"ts\":-1e-400}]";
    pt_batch_result *br = NULL;
    assert_int_equal(pt_track_batch_json(t, batch, strlen(batch), 0, &br, &err), PT_EINVALID_JSON);
    assert_null(br);
    assert_string_equal(err.field, "events[0].ts");
    pt_event_in in = {.session_id = "nb",
                      .pipeline_type = "checkout_digital",
                      .step = "checkout_started",
                      .status = PT_SUCCESS,
                      .ts = -1,
                      .output_json = "{\"x\":[0e-400,1e-400]}"};
    assert_int_equal(pt_track(t, &in, 0, &r, &err), PT_EINVALID_JSON);
    assert_string_equal(err.field, "event.output.x[1]");
    const char *lines = "{\"type\":\"pipetrack_export\",\"version\":1}\n{\"x\":2e-324}\n";
    pt_import_result res;
    assert_int_equal(pt_import(t, lines, strlen(lines), 7, &res, &err), PT_EINVALID_JSON);
    assert_string_equal(err.field, "x");
    assert_true(strncmp(err.message, "line 8: x: 2e-324 is not zero", 29) == 0);
    char *doc;
    assert_int_equal(pt_checksum(t, "nb", &doc, &err), PT_ENOTFOUND);
    /* zeros however written are 0 */
    in.output_json = "{\"x\":[0e-400,-0.0e999,5e-324]}";
    TU_ASSERT_OK(pt_track(t, &in, 0, &r, &err), &err);
    pt_track_result_free(r);
    TU_ASSERT_OK(pt_checksum(t, "nb", &doc, &err), &err);
    pt_free(doc);
    pt_close(t);
  }
}

/* When the next session turns stalled: the oldest activity not yet swept,
 * plus its pipeline's stall time, at most 100 ms late; -1 past the horizon. */
static int64_t next_stall(pt_tracker *t, int64_t within) {
  int64_t in;
  pt_error err;
  TU_ASSERT_OK(pt_next_stall_ms(t, within, &in, &err), &err);
  return in;
}

static void test_next_stall(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    pt_error err;
    int64_t n;
    tu_clock_ms = 20000000;
    assert_int_equal(next_stall(t, 1000000000), -1); /* no session */
    tu_track(t, "n1", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
    for (int k = 0; k < 4; k++) {
      static const char *steps[] = {"checkout_started", "payment_initiated", "payment_confirmed",
                                    "checkout_completed"};
      tu_track(t, "done", "checkout_digital", steps[k], PT_SUCCESS, NULL); /* never stalls */
    }
    assert_int_equal(next_stall(t, 30000), -1); /* 900 s away */
    n = next_stall(t, 1000000);
    if (n < 900000 || n > 900100) fail_msg("n1 stalls in %lld ms, want 900000", (long long)n);
    tu_clock_ms += 899950;
    n = next_stall(t, 30000);
    if (n < 50 || n > 150) fail_msg("n1 stalls in %lld ms, want 50", (long long)n);
    tu_clock_ms += 50;
    assert_int_equal(next_stall(t, 30000), 0); /* due: not swept yet */
    TU_ASSERT_OK(pt_sweep_stalls(t, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_int_equal(next_stall(t, 1000000000), -1); /* counted: nothing left */
    /* two pipelines: the sooner deadline wins, whichever was active first */
    tu_track(t, "n2", "data_job", "job_queued", PT_SUCCESS, NULL); /* 3600 s */
    tu_clock_ms += 10000;
    tu_track(t, "n3", "checkout_digital", "checkout_started", PT_SUCCESS, NULL); /* 900 s */
    n = next_stall(t, 10000000);
    if (n < 900000 || n > 900100) fail_msg("n3 stalls in %lld ms, want 900000", (long long)n);
    /* new activity moves a session's time later */
    tu_clock_ms += 1000;
    tu_track(t, "n3", "checkout_digital", "payment_initiated", PT_SUCCESS, NULL);
    n = next_stall(t, 10000000);
    if (n < 900000 || n > 900100) fail_msg("n3 stalls in %lld ms, want 900000", (long long)n);
    tu_clock_ms += 900000;
    TU_ASSERT_OK(pt_sweep_stalls(t, &n, &err), &err);
    assert_int_equal(n, 1);
    n = next_stall(t, 10000000);
    if (n < 2689000 || n > 2689100) fail_msg("n2 stalls in %lld ms, want 2689000", (long long)n);
    pt_close(t);
  }
}

/* The funnel: per step reached / succeeded / failed, completion rate and
 * durations of completed sessions. */
static void test_stats(void **state) {
  (void)state;
  EACH_BACKEND {
    pt_tracker *t = tu_open(url, 0);
    pt_error err;
    static const char *steps[] = {"checkout_started", "payment_initiated", "payment_confirmed",
                                  "checkout_completed"};
    tu_clock_ms = 50000000;
    for (int k = 0; k < 4; k++) {
      tu_track(t, "f_ok", "checkout_digital", steps[k], PT_SUCCESS, NULL);
      tu_clock_ms += 1000;
    }
    tu_track(t, "f_bad", "checkout_digital", steps[0], PT_SUCCESS, NULL);
    tu_track(t, "f_bad", "checkout_digital", steps[1], PT_FAILURE, NULL);
    tu_track(t, "f_run", "checkout_digital", steps[0], PT_STARTED, NULL);
    char *doc;
    TU_ASSERT_OK(pt_stats(t, "checkout_digital", 0, -1, &doc, &err), &err);
    json_t *v = doc_json(doc);
    assert_int_equal(jint(v, "sessions"), 3);
    assert_int_equal(jint(v, "completed"), 1);
    assert_int_equal(jint(v, "failed"), 1);
    /* from the histogram: 3000 ms reads back within 2.2 % */
    assert_int_equal(jint(v, "duration_ms.p50"), 2960);
    json_t *st = json_object_get(v, "steps");
    assert_int_equal(jint(json_array_get(st, 0), "reached"), 3);
    assert_int_equal(jint(json_array_get(st, 0), "succeeded"), 2);
    assert_int_equal(jint(json_array_get(st, 1), "reached"), 2);
    assert_int_equal(jint(json_array_get(st, 1), "failed"), 1);
    assert_int_equal(jint(json_array_get(st, 3), "succeeded"), 1);
    json_decref(v);
    TU_ASSERT_OK(pt_stats(t, "checkout_digital", tu_clock_ms + 1, -1, &doc, &err), &err);
    v = doc_json(doc);
    assert_int_equal(jint(v, "sessions"), 0);
    json_decref(v);
    assert_int_equal(pt_stats(t, "nope", 0, -1, &doc, &err), PT_EUNKNOWN_PIPELINE);
    pt_close(t);
  }
}

/* Issue changes are queued for webhooks when tracked, not when imported
 * (an import replays history). */
static void test_outbox_not_on_import(void **state) {
  (void)state;
  pt_options o = {.db_url = "memory:", .issue_outbox = 1};
  pt_tracker *src, *dst;
  pt_error err;
  TU_ASSERT_OK(pt_open(&o, &src, &err), &err);
  TU_ASSERT_OK(pt_open(&o, &dst, &err), &err);
  tu_track(src, "ob", "checkout_digital", "checkout_started", PT_FAILURE, NULL);
  pt_outbox due[4];
  size_t n;
  int64_t waiting;
  TU_ASSERT_OK(pt__outbox_due(src, INT64_MAX, due, 4, &n, &waiting, &err), &err);
  assert_int_equal(n, 1);
  assert_string_equal(due[0].action, "opened");
  char *text = export_all(src, NULL, NULL);
  pt_import_result res;
  TU_ASSERT_OK(pt_import(dst, text, strlen(text), 1, &res, &err), &err);
  assert_int_equal(res.events_added, 1);
  TU_ASSERT_OK(pt__outbox_due(dst, INT64_MAX, due, 4, &n, &waiting, &err), &err);
  assert_int_equal(waiting, 0); /* counted in its issue, not announced */
  char *doc;
  TU_ASSERT_OK(pt_issues(dst, "open", NULL, 0, NULL, &doc, &err), &err);
  json_t *v = doc_json(doc);
  assert_int_equal(jint(json_array_get(json_object_get(v, "items"), 0), "count"), 1);
  json_decref(v);
  free(text);
  pt_close(dst);
  pt_close(src);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_idempotency, setup),
      cmocka_unit_test_setup(test_session_conflict, setup),
      cmocka_unit_test_setup(test_batch, setup),
      cmocka_unit_test_setup(test_snapshots_and_history, setup),
      cmocka_unit_test_setup(test_status_summary, setup),
      cmocka_unit_test_setup(test_auto_snapshot_ids, setup),
      cmocka_unit_test_setup(test_report_and_verify, setup),
      cmocka_unit_test_setup(test_traced_step, setup),
      cmocka_unit_test_setup(test_storage_fault_stores_nothing, setup),
      cmocka_unit_test_setup(test_retry_after_conflict, setup),
      cmocka_unit_test_setup(test_two_trackers, setup),
      cmocka_unit_test(test_long_session_entries_are_capped),
      cmocka_unit_test(test_invalid_json),
      cmocka_unit_test_setup(test_sessions_listing, setup),
      cmocka_unit_test_setup(test_status_etag, setup),
      cmocka_unit_test_setup(test_export_import, setup),
      cmocka_unit_test_setup(test_issues, setup),
      cmocka_unit_test_setup(test_stall_sweep, setup),
      cmocka_unit_test_setup(test_next_stall, setup),
      cmocka_unit_test_setup(test_numbers_beyond_a_double, setup),
      cmocka_unit_test_setup(test_stats, setup),
      cmocka_unit_test(test_outbox_not_on_import),
      cmocka_unit_test_setup(test_nul_names_and_canonical_numbers, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
