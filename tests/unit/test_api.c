/* test_api.c - the request layer (pt_api_*): every route of the table
 * answered in-process on every backend, with the statuses, bodies and
 * refusals a server sends; the table itself; and a track started
 * asynchronously, answered through its done callback. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "testutil.h"

static char urls[TU_STORES_MAX][TU_URL_SIZE];
static size_t nurls;

/* Empty stores of every backend (tu_store_urls) for each test. */
static int setup(void **state) {
  (void)state;
  nurls = tu_store_urls("api", urls, TU_STORES_MAX);
  return 0;
}

/* Calls target and checks the status; returns the body parsed (NULL for an
 * empty or non-JSON body), the answer in *out when asked. */
static json_t *call(pt_tracker *t, const char *method, const char *target, const char *body,
                    int want_status, pt_answer **out) {
  pt_answer *a = pt_api_call_url(t, method, target, body, body ? strlen(body) : 0, "the test");
  assert_non_null(a);
  if (a->status != want_status)
    fail_msg("%s %s: status %d, want %d: %.*s", method, target, a->status, want_status, (int)a->len,
             a->body ? a->body : "");
  json_t *doc = NULL;
  if (a->body && a->content_type && strcmp(a->content_type, "application/json") == 0) {
    pt_error err;
    TU_ASSERT_OK(pt_json_read(a->body, a->len, &doc, &err), &err);
  }
  if (out)
    *out = a;
  else
    pt_answer_free(a);
  return doc;
}

static void refused(pt_tracker *t, const char *method, const char *target, const char *body,
                    int status, const char *code, const char *field) {
  json_t *d = call(t, method, target, body, status, NULL);
  json_t *e = json_object_get(d, "error");
  assert_string_equal(json_string_value(json_object_get(e, "code")), code);
  const char *f = json_string_value(json_object_get(e, "field"));
  if (field ? !f || strcmp(f, field) != 0 : !json_is_null(json_object_get(e, "field")))
    fail_msg("%s %s: field %s, want %s (%s)", method, target, f ? f : "null",
             field ? field : "null", json_string_value(json_object_get(e, "message")));
  json_decref(d);
}

static const char *str(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static double num(json_t *o, const char *k) {
  return json_number_value(json_object_get(o, k));
}

/* A body read to its end as one text (free it); *chunks counts its chunks
 * when not NULL, each checked to be a chunk, never a whole large text. */
static char *body_text(pt_body *body, size_t *chunks) {
  pt_buf b;
  pt_buf_init(&b, 0);
  for (size_t k = 0;; k++) {
    const char *chunk;
    size_t n;
    pt_error err;
    TU_ASSERT_OK(pt_body_next(body, &chunk, &n, &err), &err);
    if (!n) {
      if (chunks) *chunks = k;
      break;
    }
    assert_true(n <= 600 * 1024);
    pt_buf_put(&b, chunk, n);
  }
  return pt_buf_take(&b);
}

#define EV(sid, step, status)                                                           \
  "{\"session_id\":\"" sid "\",\"pipeline_type\":\"checkout_digital\",\"step\":\"" step \
  "\",\"status\":\"" status "\"}"

static void test_every_route(void **state) {
  (void)state;
  TU_EACH_URL(urls, nurls, url) {
    pt_tracker *t = tu_open(url, 0);
    /* tracking */
    json_t *d = call(t, "POST", "/api/pipeline/track",
                     "{\"event\":{\"id\":\"e1\",\"session_id\":\"s1\",\"pipeline_type\":"
                     "\"checkout_digital\",\"step\":\"checkout_started\",\"status\":\"success\"}}",
                     201, NULL);
    assert_int_equal(num(json_object_get(d, "event"), "seq"), 0);
    assert_true(json_is_null(json_object_get(d, "receipt")));
    assert_true(json_is_false(json_object_get(d, "replayed")));
    json_decref(d);
    d = call(t, "POST", "/api/pipeline/track",
             "{\"event\":{\"id\":\"e1\",\"session_id\":\"s1\",\"pipeline_type\":"
             "\"checkout_digital\",\"step\":\"checkout_started\",\"status\":\"success\"}}",
             200, NULL);
    assert_true(json_is_true(json_object_get(d, "replayed")));
    json_decref(d);
    d = call(t, "POST", "/api/pipeline/track/batch",
             "{\"events\":[" EV("s1", "payment_initiated", "failure") "," EV("s1", "nope",
                                                                             "success") "]}",
             200, NULL);
    json_t *res = json_object_get(d, "results");
    assert_int_equal(json_array_size(res), 2);
    assert_int_equal(num(json_array_get(res, 0), "status"), 201);
    assert_int_equal(num(json_array_get(res, 1), "status"), 422);
    assert_string_equal(str(json_object_get(json_array_get(res, 1), "error"), "code"),
                        "unknown_step");
    json_decref(d);

    /* reads */
    pt_answer *a;
    d = call(t, "GET", "/api/pipeline/status?session_id=s1", NULL, 200, &a);
    assert_int_equal(num(d, "event_count"), 2);
    assert_int_equal(a->etag[0], '"');
    char etag[PT_ETAG_SIZE];
    memcpy(etag, a->etag, sizeof etag);
    assert_string_equal(a->session_id, "s1");
    pt_answer_free(a);
    json_decref(d);
    pt_request rq = {.route = pt_api_route_find("GET", "/api/pipeline/status", (char[64]){0}, NULL),
                     .if_none_match = etag};
    /* without a session_id the conditional read is refused like any other */
    a = pt_api_call(t, &rq);
    assert_int_equal(a->status, 400);
    pt_answer_free(a);
    d = call(t, "POST", "/api/pipeline/snapshot", "{\"session_id\":\"s1\",\"notes\":\"n\"}", 201,
             NULL);
    assert_string_equal(str(d, "notes"), "n");
    json_decref(d);
    d = call(t, "GET", "/api/pipeline/registry?session_id=s1&limit=5", NULL, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(d, "items")), 1);
    json_decref(d);
    d = call(t, "GET", "/api/pipeline/checksum?session_id=s1", NULL, 200, NULL);
    assert_string_equal(str(d, "state"), "failed");
    json_decref(d);
    call(t, "GET", "/api/pipeline/report?session_id=s1&format=markdown", NULL, 200, &a);
    assert_string_equal(a->content_type, "text/markdown; charset=utf-8");
    assert_non_null(strstr(a->body, "s1"));
    /* the JSON report has the Markdown one's progress */
    d = call(t, "GET", "/api/pipeline/report?session_id=s1", NULL, 200, NULL);
    json_t *pg = json_object_get(d, "progress");
    assert_int_equal(num(pg, "total"), 4);
    assert_int_equal(num(pg, "completed") * 100 / 4, num(pg, "percent"));
    json_decref(d);
    /* is_valid named for what it means, beside the integrity check */
    assert_non_null(strstr(a->body, "- **Complete and in order:** no\n"));
    assert_non_null(strstr(a->body, "- **Verification:** ok, every link and snapshot matches"));
    pt_answer_free(a);
    d = call(t, "GET", "/api/pipeline/verify?session_id=s1", NULL, 200, NULL);
    assert_true(json_is_true(json_object_get(d, "ok")));
    json_decref(d);
    d = call(t, "GET", "/api/pipeline/sessions?pipeline_type=checkout_digital", NULL, 200, NULL);
    assert_int_equal(json_array_size(json_object_get(d, "items")), 1);
    json_decref(d);
    d = call(t, "GET", "/api/pipeline/definitions", NULL, 200, NULL);
    assert_true(json_array_size(json_object_get(d, "pipelines")) >= 1);
    json_decref(d);
    d = call(t, "GET", "/api/pipeline/stats?pipeline_type=checkout_digital", NULL, 200, NULL);
    assert_int_equal(num(d, "sessions"), 1);
    json_decref(d);
    refused(t, "GET", "/api/pipeline/pubkey", NULL, 404, "not_found", NULL);

    /* issues */
    d = call(t, "GET", "/api/pipeline/issues?status=open", NULL, 200, NULL);
    json_t *items = json_object_get(d, "items");
    assert_int_equal(json_array_size(items), 1);
    char target[160];
    snprintf(target, sizeof target, "/api/pipeline/issues/%s", str(json_array_get(items, 0), "id"));
    json_decref(d);
    d = call(t, "GET", target, NULL, 200, NULL);
    assert_int_equal(num(d, "count"), 1);
    json_decref(d);
    strcat(target, "/resolve");
    d = call(t, "POST", target, NULL, 200, NULL);
    assert_string_equal(str(d, "status"), "resolved");
    json_decref(d);
    refused(t, "GET", "/api/pipeline/issues/iss_nope", NULL, 404, "not_found", "id");

    /* export streams; import takes it back (everything is there already) */
    call(t, "GET", "/api/pipeline/export?session_id=s1", NULL, 200, &a);
    assert_null(a->body);
    assert_non_null(a->stream);
    char *all = body_text(a->stream, NULL);
    pt_answer_free(a);
    assert_non_null(strstr(all, "\"type\":\"pipetrack_export\""));
    d = call(t, "POST", "/api/pipeline/import?first_line=1", all, 200, NULL);
    assert_int_equal(num(d, "events_added"), 0);
    assert_int_equal(num(d, "events_skipped"), 2);
    json_decref(d);
    free(all);

    /* redaction, recorded with who asked */
    d = call(t, "POST", "/api/pipeline/redact", "{\"session_id\":\"s1\",\"actor\":\"ops\"}", 200,
             NULL);
    assert_int_equal(json_array_size(json_object_get(d, "redacted")), 2);
    assert_non_null(strstr(str(json_object_get(d, "snapshot"), "notes"), "the test as \"ops\""));
    json_decref(d);
    pt_close(t);
  }
}

static void test_refusals(void **state) {
  (void)state;
  pt_tracker *t = tu_open(urls[0], 0);
  refused(t, "GET", "/api/pipeline/nope", NULL, 404, "not_found", NULL);
  refused(t, "GET", "/api/pipeline/track", NULL, 405, "method_not_allowed", NULL);
  refused(t, "GET", "/api/pipeline/status", NULL, 400, "invalid_request", "session_id");
  refused(t, "GET", "/api/pipeline/status?session_id=s&events_limit=0", NULL, 400,
          "invalid_request", "events_limit");
  refused(t, "GET", "/api/pipeline/status?session_id=nope", NULL, 404, "not_found", "session_id");
  refused(t, "GET", "/api/pipeline/report?session_id=s&format=pdf", NULL, 400, "invalid_request",
          "format");
  refused(t, "GET", "/api/pipeline/stats?since=x", NULL, 400, "invalid_request", "since");
  refused(t, "POST", "/api/pipeline/track", "{\"event\":", 400, "invalid_json", "body");
  /* a bare event, or the other route's wrapper: said as such */
  const char *bare =
      "{\"session_id\":\"s\",\"pipeline_type\":\"checkout_digital\","
      "\"step\":\"checkout_started\",\"status\":\"success\"}";
  refused(t, "POST", "/api/pipeline/track", bare, 400, "invalid_request", "event");
  pt_answer *w = pt_api_call_url(t, "POST", "/api/pipeline/track", bare, strlen(bare), NULL);
  assert_non_null(strstr(w->body, "the event goes inside {\\\"event\\\""));
  assert_non_null(strstr(w->body, "(this body has session_id at its top)"));
  pt_answer_free(w);
  refused(t, "POST", "/api/pipeline/track/batch", bare, 400, "invalid_request", "events");
  w = pt_api_call_url(t, "POST", "/api/pipeline/track/batch", "{\"event\":{}}", 12, NULL);
  assert_non_null(strstr(w->body, "is for /track)"));
  pt_answer_free(w);
  w = pt_api_call_url(t, "POST", "/api/pipeline/track", "{\"events\":[]}", 13, NULL);
  assert_non_null(strstr(w->body, "is for /track/batch)"));
  pt_answer_free(w);
  refused(t, "POST", "/api/pipeline/track", "[]", 400, "invalid_request", "body");
  refused(t, "POST", "/api/pipeline/track", "{\"event\":{},\"extra\":1}", 400, "invalid_request",
          "extra");
  refused(t, "POST", "/api/pipeline/track", "{}", 400, "invalid_request", "event");
  refused(t, "POST", "/api/pipeline/track", "{\"event\":{},\"auto_snapshot\":1}", 400,
          "invalid_request", "auto_snapshot");
  refused(t, "POST", "/api/pipeline/track", "{\"event\":" EV("s", "nope", "success") "}", 422,
          "unknown_step", "event.step");
  refused(t, "POST", "/api/pipeline/track/batch", "{\"events\":{}}", 400, "invalid_request",
          "events");
  refused(t, "POST", "/api/pipeline/snapshot", "{\"session_id\":\"a\\u0000b\"}", 400,
          "invalid_request", "session_id");
  refused(t, "POST", "/api/pipeline/redact", "{\"session_id\":\"s\",\"event_ids\":[]}", 400,
          "invalid_request", "event_ids");
  refused(t, "POST", "/api/pipeline/redact", "{\"session_id\":\"s\",\"event_ids\":[1]}", 400,
          "invalid_request", "event_ids[0]");
  refused(t, "POST", "/api/pipeline/import?first_line=0", "", 400, "invalid_request", "first_line");
  /* nothing of it was stored */
  json_t *d = call(t, "GET", "/api/pipeline/sessions", NULL, 200, NULL);
  assert_int_equal(json_array_size(json_object_get(d, "items")), 0);
  json_decref(d);
  pt_close(t);
}

static void test_route_table(void **state) {
  (void)state;
  size_t n;
  const pt_route *r = pt_api_routes(&n);
  assert_int_equal(n, 20);
  for (size_t i = 0; i < n; i++) {
    char param[64];
    /* each row is found by its own method and path ({id} filled in) */
    char path[128];
    const char *hole = strstr(r[i].path, "{id}");
    if (hole)
      snprintf(path, sizeof path, "%.*sx1%s", (int)(hole - r[i].path), r[i].path, hole + 4);
    else
      snprintf(path, sizeof path, "%s", r[i].path);
    assert_int_equal(pt_api_route_find(r[i].method, path, param, NULL), (int)i);
    for (size_t j = 0; j < i; j++) assert_string_not_equal(r[i].name, r[j].name);
    assert_true(strncmp(r[i].path, "/api/pipeline/", 14) == 0);
  }
  char param[64];
  assert_true(pt_route_match("/a/{id}/b", "/a/xyz/b", param));
  assert_string_equal(param, "xyz");
  assert_false(pt_route_match("/a/{id}/b", "/a//b", param));
  assert_false(pt_route_match("/a/{id}", "/a/x/y", param));
}

/* A track started asynchronously: the answer comes through done, which
 * only raises a flag here (the committer calls it; the test polls). */
static void done(void *ctx) {
  __atomic_store_n((int *)ctx, 1, __ATOMIC_RELEASE);
}

static void test_async_track(void **state) {
  (void)state;
  TU_EACH_URL(urls, nurls, url) {
    pt_tracker *t = tu_open(url, 0);
    const char *body = "{\"event\":" EV("as1", "checkout_started", "success") "}";
    pt_request rq = {.route = pt_api_route_find("POST", "/api/pipeline/track", (char[64]){0}, NULL),
                     .body = body,
                     .body_len = strlen(body)};
    int ready = 0;
    pt_call *c = NULL;
    pt_answer *a = NULL;
    assert_int_equal(pt_api_start(t, &rq, done, &ready, &c, &a), PT_OK);
    assert_non_null(c); /* a track always finishes through its call */
    assert_null(a);
    for (int i = 0; i < 10000 && !__atomic_load_n(&ready, __ATOMIC_ACQUIRE); i++) usleep(1000);
    assert_int_equal(__atomic_load_n(&ready, __ATOMIC_ACQUIRE), 1);
    a = pt_call_finish(c);
    assert_int_equal(a->status, 201);
    assert_string_equal(a->session_id, "as1");
    pt_answer_free(a);
    pt_close(t);
  }
}

/* ---- long documents: a status or report past inline_max is a stream ---------- */

typedef struct kv_args {
  const char *const *kv; /* name, value, ..., NULL */
} kv_args;

static const char *kv_arg(void *ctx, const char *name) {
  for (const char *const *p = ((kv_args *)ctx)->kv; *p; p += 2)
    if (strcmp(*p, name) == 0) return p[1];
  return NULL;
}

/* GET path with the arguments kv, answered with inline_max; its body as one
 * text (read a chunk at a time when it is a stream: *streamed says so). */
static char *get_doc(pt_tracker *t, const char *path, const char *const *kv, size_t inline_max,
                     int *streamed, pt_body **keep) {
  kv_args args = {kv};
  pt_request rq = {.route = pt_api_route_find("GET", path, (char[64]){0}, NULL),
                   .arg = kv_arg,
                   .arg_ctx = &args,
                   .inline_max = inline_max};
  pt_answer *a = pt_api_call(t, &rq);
  assert_non_null(a);
  assert_int_equal(a->status, 200);
  *streamed = a->stream != NULL;
  char *text;
  if (!a->stream) {
    assert_non_null(a->body);
    text = strdup(a->body);
  } else {
    assert_null(a->body);
    if (keep) { /* the caller reads it */
      *keep = a->stream;
      a->stream = NULL;
      pt_answer_free(a);
      return NULL;
    }
    size_t chunks;
    text = body_text(a->stream, &chunks);
    assert_true(chunks > 2);
  }
  pt_answer_free(a);
  return text;
}

static void test_long_documents(void **state) {
  (void)state;
  TU_EACH_URL(urls, nurls, url) {
    pt_tracker *t = tu_open(url, 1); /* an entry after every event */
    /* 400 events with inputs of 1-3 KB, every 7th a failure with an error */
    for (int i = 0; i < 400; i += 50) {
      pt_buf b;
      pt_buf_init(&b, 0);
      pt_buf_puts(&b, "{\"events\":[");
      for (int k = i; k < i + 50; k++) {
        pt_buf_printf(&b,
                      "%s{\"session_id\":\"long\",\"pipeline_type\":\"checkout_digital\","
                      "\"step\":\"checkout_started\",\"status\":\"%s\",\"input\":{\"i\":%d,"
                      "\"pad\":\"",
                      k > i ? "," : "", k % 7 == 3 ? "failure" : "success", k);
        for (int j = 0; j < 1000 + (k * 37) % 2000; j++)
          pt_buf_putc(&b, (char)('a' + (j + k) % 26));
        pt_buf_puts(&b, "\"}");
        if (k % 7 == 3)
          pt_buf_puts(&b, ",\"error\":{\"code\":\"E_PAY\",\"message\":\"declined *x*\"}");
        pt_buf_puts(&b, "}");
      }
      pt_buf_puts(&b, "]}");
      json_decref(call(t, "POST", "/api/pipeline/track/batch", pt_buf_cstr(&b), 200, NULL));
      pt_buf_cleanup(&b);
    }
    struct {
      const char *path;
      const char *kv[9];
    } docs[] = {
        {"/api/pipeline/status",
         {"session_id", "long", "events_limit", "1000", "history_limit", "1000", NULL}},
        {"/api/pipeline/status",
         {"session_id", "long", "events_limit", "250", "history_limit", "300", NULL}},
        {"/api/pipeline/status", {"session_id", "long", NULL}},
        {"/api/pipeline/report", {"session_id", "long", NULL}},
        {"/api/pipeline/report", {"session_id", "long", "format", "markdown", NULL}},
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
      int streamed;
      /* whole, as in-process callers get it; then through a 4 KiB budget:
       * the same bytes, a chunk at a time */
      char *whole = get_doc(t, docs[i].path, docs[i].kv, 0, &streamed, NULL);
      assert_false(streamed);
      char *parts = get_doc(t, docs[i].path, docs[i].kv, 4096, &streamed, NULL);
      assert_true(streamed);
      if (strcmp(whole, parts) != 0)
        fail_msg("%s #%zu: the streamed text differs", docs[i].path, i);
      /* and under a budget larger than the document: whole */
      char *big = get_doc(t, docs[i].path, docs[i].kv, 64u << 20, &streamed, NULL);
      assert_false(streamed);
      assert_string_equal(big, whole);
      if (i == 0) {
        json_t *d = tu_json(whole);
        assert_int_equal(json_array_size(json_object_get(d, "events")), 400);
        assert_int_equal(json_array_size(json_object_get(d, "history")), 400);
        json_decref(d);
      }
      free(whole);
      free(parts);
      free(big);
    }
    /* a stream started before more events are tracked still shows the
     * session as it was when asked: the same text */
    int streamed;
    const char *const *kv = docs[0].kv;
    char *before = get_doc(t, docs[0].path, kv, 0, &streamed, NULL);
    pt_body *body = NULL;
    get_doc(t, docs[0].path, kv, 4096, &streamed, &body);
    assert_non_null(body);
    pt_buf b;
    pt_buf_init(&b, 0);
    const char *chunk;
    size_t n;
    pt_error err;
    TU_ASSERT_OK(pt_body_next(body, &chunk, &n, &err), &err);
    pt_buf_put(&b, chunk, n);
    tu_track(t, "long", "checkout_digital", "payment_initiated", PT_SUCCESS, NULL);
    tu_track(t, "long", "checkout_digital", "payment_initiated", PT_SUCCESS, NULL);
    do {
      TU_ASSERT_OK(pt_body_next(body, &chunk, &n, &err), &err);
      pt_buf_put(&b, chunk, n);
    } while (n);
    pt_body_free(body);
    assert_string_equal(pt_buf_cstr(&b), before);
    pt_buf_cleanup(&b);
    free(before);
    /* a body dropped half-read frees what it holds (the sanitizer build
     * checks) */
    get_doc(t, "/api/pipeline/report", docs[3].kv, 4096, &streamed, &body);
    TU_ASSERT_OK(pt_body_next(body, &chunk, &n, &err), &err);
    assert_true(n > 0);
    pt_body_free(body);
    pt_close(t);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_every_route, setup),
      cmocka_unit_test_setup(test_refusals, setup),
      cmocka_unit_test(test_route_table),
      cmocka_unit_test_setup(test_async_track, setup),
      cmocka_unit_test_setup(test_long_documents, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
