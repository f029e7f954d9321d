/* test_redact.c - redaction (docs/concepts.md#redaction) on every backend
 * (tu_store_urls): payloads gone (and, on SQLite, gone from the file and its
 * WAL byte for byte), digests and links kept so the chain verifies, replays
 * still recognised, issue samples redacted, the registry note, refusals that
 * change nothing, and export / import of redacted events. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/internal.h"
#include "testutil.h"

#define MARK "MARKER-4111-1111-1111-1111"

static const char *const IDS[] = {"r0", "r1", "r2"};

static void track_three(pt_tracker *t) {
  const char *steps[] = {"checkout_started", "payment_initiated", "payment_confirmed"};
  for (int i = 0; i < 3; i++) {
    char input[128];
    snprintf(input, sizeof input, "{\"card\":\"" MARK "-%d\"}", i);
    pt_event_in ev = {.id = IDS[i],
                      .session_id = "red",
                      .pipeline_type = "checkout_digital",
                      .step = steps[i],
                      .status = i == 1 ? PT_FAILURE : PT_SUCCESS,
                      .ts = 1000 + i,
                      .input_json = input,
                      .output_json = i == 1 ? "{\"reason\":\"" MARK "\"}" : NULL,
                      .error_code = i == 1 ? "card_declined" : NULL,
                      .error_message = i == 1 ? "declined" : NULL};
    pt_track_result *r;
    pt_error err;
    TU_ASSERT_OK(pt_track(t, &ev, 1, &r, &err), &err);
    pt_track_result_free(r);
  }
}

static json_t *events_of(pt_tracker *t) {
  char *doc;
  pt_error err;
  TU_ASSERT_OK(pt_status_summary(t, "red", NULL, 0, 0, &doc, &err), &err);
  json_t *v = tu_json(doc);
  pt_free(doc);
  json_t *evs = json_incref(json_object_get(v, "events"));
  json_decref(v);
  return evs;
}

/* Does any of the store's files hold the marker? */
static int file_has(const char *path, const char *needle) {
  char p[700];
  int found = 0;
  for (int k = 0; k < 2 && !found; k++) {
    snprintf(p, sizeof p, "%s%s", path, k ? "-wal" : "");
    FILE *f = fopen(p, "rb");
    if (!f) continue;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    for (size_t i = 0; i + strlen(needle) <= got && !found; i++)
      found = memcmp(buf + i, needle, strlen(needle)) == 0;
    free(buf);
  }
  return found;
}

static void export_all(pt_tracker *t, pt_buf *out) {
  pt_export *x;
  pt_error err;
  TU_ASSERT_OK(pt_export_open(t, "red", &x, &err), &err);
  const char *chunk;
  size_t len;
  while (pt_export_next(x, &chunk, &len, &err) == PT_OK && len) pt_buf_put(out, chunk, len);
  pt_export_close(x);
}

static void test_redact(void **state) {
  (void)state;
  char urls[TU_STORES_MAX][TU_URL_SIZE];
  size_t n = tu_store_urls("redact", urls, TU_STORES_MAX);
  TU_EACH_URL(urls, n, url) {
    /* on SQLite the payloads are looked for in the file and its WAL too */
    const char *path = tu_sqlite_path(url);
    pt_tracker *t = tu_open(url, 0);
    track_three(t);
    if (path) assert_true(file_has(path, MARK));
    pt_buf before;
    pt_buf_init(&before, 0);
    export_all(t, &before);
    char *doc;
    pt_error err;
    /* refusals change nothing */
    const char *unknown[] = {"r1", "nope"};
    assert_int_equal(pt_redact(t, "red", unknown, 2, "tester", &doc, &err), PT_ENOTFOUND);
    assert_string_equal(err.field, "event_ids[1]");
    assert_int_equal(pt_redact(t, "nobody", NULL, 0, "tester", &doc, &err), PT_ENOTFOUND);
    assert_string_equal(err.field, "session_id");
    const char *bad[] = {"has space"};
    assert_int_equal(pt_redact(t, "red", bad, 1, NULL, &doc, &err), PT_EINVALID);
    json_t *evs = events_of(t);
    assert_false(json_is_true(json_object_get(json_array_get(evs, 1), "redacted")));
    json_decref(evs);
    /* the failure event */
    const char *one[] = {"r1"};
    TU_ASSERT_OK(pt_redact(t, "red", one, 1, "tester", &doc, &err), &err);
    json_t *v = tu_json(doc);
    pt_free(doc);
    assert_int_equal(json_array_size(json_object_get(v, "redacted")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "redacted"), 0)), "r1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "snapshot"), "notes")),
                        "redacted 1 event by tester: r1");
    json_decref(v);
    evs = events_of(t);
    json_t *e1 = json_array_get(evs, 1);
    assert_true(json_is_true(json_object_get(e1, "redacted")));
    assert_true(json_is_null(json_object_get(e1, "input")));
    assert_true(json_is_null(json_object_get(e1, "output")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(e1, "error"), "code")),
                        "card_declined");
    json_t *e0 = json_array_get(evs, 0);
    assert_false(json_is_true(json_object_get(e0, "redacted")));
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(e0, "input"), "card")),
                           MARK));
    json_decref(evs);
    int ok;
    TU_ASSERT_OK(pt_verify(t, "red", &ok, &doc, &err), &err);
    assert_int_equal(ok, 1);
    pt_free(doc);
    /* the issue's sample was that event: redacted too */
    TU_ASSERT_OK(pt_issues(t, NULL, NULL, 0, NULL, &doc, &err), &err);
    assert_null(strstr(doc, MARK));
    assert_non_null(strstr(doc, "\"redacted\":true"));
    pt_free(doc);
    /* a replay of the original is still recognised (by its digests) */
    pt_event_in again = {.id = "r1",
                         .session_id = "red",
                         .pipeline_type = "checkout_digital",
                         .step = "payment_initiated",
                         .status = PT_FAILURE,
                         .ts = 1001,
                         .input_json = "{\"card\":\"" MARK "-1\"}",
                         .output_json = "{\"reason\":\"" MARK "\"}",
                         .error_code = "card_declined",
                         .error_message = "declined"};
    pt_track_result *r;
    TU_ASSERT_OK(pt_track(t, &again, 0, &r, &err), &err);
    assert_int_equal(r->replayed, 1);
    pt_track_result_free(r);
    again.input_json = "{\"card\":\"other\"}";
    assert_int_equal(pt_track(t, &again, 0, &r, &err), PT_EEVENT_ID_CONFLICT);
    /* everything, then again: nothing new, no entry */
    TU_ASSERT_OK(pt_redact(t, "red", NULL, 0, NULL, &doc, &err), &err);
    v = tu_json(doc);
    pt_free(doc);
    assert_int_equal(json_array_size(json_object_get(v, "redacted")), 3);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "snapshot"), "notes")),
                        "redacted 2 events by unknown: r0, r2");
    json_decref(v);
    /* acknowledged: no copy in the file or its WAL, while the store is open */
    if (path) assert_false(file_has(path, MARK));
    TU_ASSERT_OK(pt_redact(t, "red", NULL, 0, NULL, &doc, &err), &err);
    v = tu_json(doc);
    pt_free(doc);
    assert_true(json_is_null(json_object_get(v, "snapshot")));
    json_decref(v);
    TU_ASSERT_OK(pt_report(t, "red", PT_FORMAT_JSON, &doc, &err), &err);
    assert_null(strstr(doc, MARK));
    pt_free(doc);
    TU_ASSERT_OK(pt_verify(t, "red", &ok, &doc, &err), &err);
    assert_int_equal(ok, 1);
    pt_free(doc);
    /* the copy moves with the rest and still verifies */
    pt_buf all;
    pt_buf_init(&all, 0);
    export_all(t, &all);
    assert_null(strstr(pt_buf_cstr(&all), MARK));
    pt_tracker *t2 = tu_open("memory:", 0);
    pt_import_result ir;
    TU_ASSERT_OK(pt_import(t2, all.data, all.len, 1, &ir, &err), &err);
    assert_int_equal(ir.events_added, 3);
    TU_ASSERT_OK(pt_verify(t2, "red", &ok, &doc, &err), &err);
    assert_int_equal(ok, 1);
    pt_free(doc);
    pt_close(t2);
    /* a copy made before the redaction is redacted by importing one made
     * after it */
    t2 = tu_open("memory:", 0);
    TU_ASSERT_OK(pt_import(t2, before.data, before.len, 1, &ir, &err), &err);
    json_t *copy = events_of(t2);
    assert_false(json_is_true(json_object_get(json_array_get(copy, 0), "redacted")));
    json_decref(copy);
    TU_ASSERT_OK(pt_import(t2, all.data, all.len, 1, &ir, &err), &err);
    assert_int_equal(ir.events_skipped, 3);
    copy = events_of(t2);
    for (size_t k = 0; k < 3; k++)
      assert_true(json_is_true(json_object_get(json_array_get(copy, k), "redacted")));
    json_decref(copy);
    TU_ASSERT_OK(pt_verify(t2, "red", &ok, &doc, &err), &err);
    assert_int_equal(ok, 1);
    pt_free(doc);
    pt_close(t2);
    pt_buf_cleanup(&all);
    pt_buf_cleanup(&before);
    pt_close(t);
    if (path) assert_false(file_has(path, MARK));
  }
}

/* A payload past one page lives in overflow pages, which the redaction frees:
 * freed pages must not keep it either. */
static void test_redact_large_payload(void **state) {
  (void)state;
  const char *path = tu_tmp_db("redact_big");
  char url[700];
  snprintf(url, sizeof url, "sqlite:%s", path);
  pt_tracker *t = tu_open(url, 0);
  size_t n = 30000;
  char *input = malloc(n + 64);
  memcpy(input, "{\"blob\":\"", 9);
  memset(input + 9, 'x', n);
  snprintf(input + 9 + n, 64, "%s\"}", MARK);
  pt_event_in ev = {.id = "big",
                    .session_id = "bigred",
                    .pipeline_type = "checkout_digital",
                    .step = "checkout_started",
                    .status = PT_SUCCESS,
                    .ts = 5,
                    .input_json = input};
  pt_track_result *r;
  pt_error err;
  TU_ASSERT_OK(pt_track(t, &ev, 0, &r, &err), &err);
  pt_track_result_free(r);
  free(input);
  /* through a checkpoint into the database file first */
  tu_track(t, "other", "checkout_digital", "checkout_started", PT_SUCCESS, "o1");
  pt_close(t);
  assert_true(file_has(path, MARK));
  t = tu_open(url, 0);
  char *doc;
  TU_ASSERT_OK(pt_redact(t, "bigred", NULL, 0, "tester", &doc, &err), &err);
  pt_free(doc);
  assert_false(file_has(path, MARK));
  int ok;
  TU_ASSERT_OK(pt_verify(t, "bigred", &ok, &doc, &err), &err);
  assert_int_equal(ok, 1);
  pt_free(doc);
  pt_close(t);
  assert_false(file_has(path, MARK));
}

/* A reader holding an old snapshot keeps the WAL's old pages: the redaction
 * is then not acknowledged (storage_unavailable after a bounded wait), and a
 * repeat once the reader is gone succeeds and leaves no copy. */
static void test_redact_waits_for_readers(void **state) {
  (void)state;
  const char *path = tu_tmp_db("redact_reader");
  char url[700];
  snprintf(url, sizeof url, "sqlite:%s", path);
  pt_tracker *t = tu_open(url, 0);
  track_three(t);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "BEGIN; SELECT count(*) FROM events;", NULL, NULL, NULL),
                   SQLITE_OK);
  char *doc;
  pt_error err;
  assert_int_equal(pt_redact(t, "red", NULL, 0, "tester", &doc, &err), PT_ESTORAGE);
  assert_non_null(strstr(err.message, "repeat the request"));
  assert_true(file_has(path, MARK));
  sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  sqlite3_close(db);
  TU_ASSERT_OK(pt_redact(t, "red", NULL, 0, "tester", &doc, &err), &err);
  json_t *v = tu_json(doc);
  pt_free(doc);
  /* the payloads were deleted the first time; the repeat only scrubbed */
  assert_true(json_is_null(json_object_get(v, "snapshot")));
  assert_int_equal(json_array_size(json_object_get(v, "redacted")), 3);
  json_decref(v);
  assert_false(file_has(path, MARK));
  pt_close(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_redact),
      cmocka_unit_test(test_redact_large_payload),
      cmocka_unit_test(test_redact_waits_for_readers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
