/* test_validate.c - every rule of docs/concepts.md#sessions-and-events, table-driven: for each rule
 * an event that passes it and one that breaks it, with the code and the field path the refusal must
 * name. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/defs.h"
#include "core/jparse.h"
#include "core/validate.h"
#include "testutil.h"

#define BASE \
  "\"session_id\":\"chk_1\",\"pipeline_type\":\"checkout_digital\",\"step\":\"checkout_started\""

typedef struct row {
  const char *json;
  pt_status want;
  const char *field; /* expected field on refusal */
} row;

static const row ROWS[] = {
    /* the minimal valid event */
    {"{" BASE ",\"status\":\"success\"}", PT_OK, NULL},
    /* shape */
    {"[]", PT_EINVALID, "event"},
    {"{" BASE ",\"status\":\"success\",\"extra\":1}", PT_EINVALID, "event.extra"},
    /* id */
    {"{\"id\":\"evt_A-1.b:c\"," BASE ",\"status\":\"success\"}", PT_OK, NULL},
    {"{\"id\":\"\"," BASE ",\"status\":\"success\"}", PT_EINVALID, "event.id"},
    {"{\"id\":\"has space\"," BASE ",\"status\":\"success\"}", PT_EINVALID, "event.id"},
    {"{\"id\":12," BASE ",\"status\":\"success\"}", PT_EINVALID, "event.id"},
    {"{\"id\":\""
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"," BASE
     ",\"status\":\"success\"}",
     PT_OK, NULL}, /* 128 chars */
    {"{\"id\":\""
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"," BASE
     ",\"status\":\"success\"}",
     PT_EINVALID, "event.id"}, /* 129 chars */
    /* session_id */
    {"{\"pipeline_type\":\"checkout_digital\",\"step\":\"checkout_started\",\"status\":"
     "\"success\"}",
     PT_EINVALID, "event.session_id"},
    {"{\"session_id\":\"a/b\",\"pipeline_type\":\"checkout_digital\",\"step\":\"checkout_started\","
     "\"status\":\"success\"}",
     PT_EINVALID, "event.session_id"},
    {"{\"session_id\":\"a\\u0000b\",\"pipeline_type\":\"checkout_digital\",\"step\":\"checkout_"
     "started\","
     "\"status\":\"success\"}",
     PT_EINVALID, "event.session_id"},
    /* pipeline_type */
    {"{\"session_id\":\"s\",\"step\":\"checkout_started\",\"status\":\"success\"}", PT_EINVALID,
     "event.pipeline_type"},
    {"{\"session_id\":\"s\",\"pipeline_type\":\"Checkout\",\"step\":\"checkout_started\","
     "\"status\":\"success\"}",
     PT_EINVALID, "event.pipeline_type"},
    {"{\"session_id\":\"s\",\"pipeline_type\":\"nope\",\"step\":\"checkout_started\","
     "\"status\":\"success\"}",
     PT_EUNKNOWN_PIPELINE, "event.pipeline_type"},
    /* step */
    {"{\"session_id\":\"s\",\"pipeline_type\":\"checkout_digital\",\"status\":\"success\"}",
     PT_EINVALID, "event.step"},
    {"{\"session_id\":\"s\",\"pipeline_type\":\"checkout_digital\",\"step\":\"1st\","
     "\"status\":\"success\"}",
     PT_EINVALID, "event.step"},
    {"{\"session_id\":\"s\",\"pipeline_type\":\"checkout_digital\",\"step\":\"shipped\","
     "\"status\":\"success\"}",
     PT_EUNKNOWN_STEP, "event.step"},
    /* status */
    {"{" BASE "}", PT_EINVALID, "event.status"},
    {"{" BASE ",\"status\":\"done\"}", PT_EINVALID, "event.status"},
    {"{" BASE ",\"status\":\"started\"}", PT_OK, NULL},
    {"{" BASE ",\"status\":\"failure\"}", PT_OK, NULL},
    /* ts */
    {"{" BASE ",\"status\":\"success\",\"ts\":0}", PT_OK, NULL},
    {"{" BASE ",\"status\":\"success\",\"ts\":9007199254740991}", PT_OK, NULL},
    {"{" BASE ",\"status\":\"success\",\"ts\":9007199254740992}", PT_EINVALID, "event.ts"},
    {"{" BASE ",\"status\":\"success\",\"ts\":-1}", PT_EINVALID, "event.ts"},
    {"{" BASE ",\"status\":\"success\",\"ts\":1.5}", PT_EINVALID, "event.ts"},
    {"{" BASE ",\"status\":\"success\",\"ts\":\"1\"}", PT_EINVALID, "event.ts"},
    /* input / output */
    {"{" BASE ",\"status\":\"success\",\"input\":{\"b\":[1,2],\"a\":null},\"output\":\"x\"}", PT_OK,
     NULL},
    {"{" BASE ",\"status\":\"success\",\"input\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]"
     "]]]]]]]]]]]]]]]]]]]}",
     PT_EINVALID, "event.input"},
    /* error */
    {"{" BASE ",\"status\":\"failure\",\"error\":{\"code\":\"card_declined\",\"message\":\"no\"}}",
     PT_OK, NULL},
    {"{" BASE ",\"status\":\"failure\",\"error\":null}", PT_OK, NULL},
    {"{" BASE ",\"status\":\"failure\",\"error\":\"declined\"}", PT_EINVALID, "event.error"},
    {"{" BASE ",\"status\":\"failure\",\"error\":{\"code\":\"x\"}}", PT_EINVALID,
     "event.error.message"},
    {"{" BASE ",\"status\":\"failure\",\"error\":{\"message\":\"x\"}}", PT_EINVALID,
     "event.error.code"},
    {"{" BASE ",\"status\":\"failure\",\"error\":{\"code\":1,\"message\":\"x\"}}", PT_EINVALID,
     "event.error.code"},
    {"{" BASE
     ",\"status\":\"failure\",\"error\":{\"code\":\"x\",\"message\":\"y\",\"stack\":\"z\"}}",
     PT_EINVALID, "event.error.stack"},
};

static void test_table(void **state) {
  (void)state;
  pt_defs *defs;
  pt_error err;
  TU_ASSERT_OK(pt_defs_default(&defs, &err), &err);
  pt_limits lim = {PT_DEFAULT_MAX_PAYLOAD, PT_DEFAULT_MAX_DEPTH};
  for (size_t i = 0; i < sizeof ROWS / sizeof *ROWS; i++) {
    const row *r = &ROWS[i];
    json_t *v;
    TU_ASSERT_OK(pt_parse_ijson(r->json, strlen(r->json), "event", &v, &err), &err);
    pt_event *e = NULL;
    memset(&err, 0, sizeof err);
    pt_status rc = pt_validate_event(v, defs, &lim, 1764350000000LL, "event", &e, &err);
    json_decref(v);
    if (rc != r->want)
      fail_msg("row %zu (%s): got %s (%s), want %s", i, r->json, pt_err_name(rc), err.message,
               pt_err_name(r->want));
    if (rc == PT_OK) {
      assert_non_null(e);
      pt_event_free(e);
      continue;
    }
    assert_null(e);
    if (strcmp(err.field, r->field) != 0)
      fail_msg("row %zu: field %s, want %s", i, err.field, r->field);
    /* The message starts with the field it names and is one line. */
    assert_int_equal(strncmp(err.message, r->field, strlen(r->field)), 0);
    assert_null(strchr(err.message, '\n'));
  }
  pt_defs_unref(defs);
}

static void test_generated_id_and_defaults(void **state) {
  (void)state;
  pt_defs *defs;
  pt_error err;
  TU_ASSERT_OK(pt_defs_default(&defs, &err), &err);
  pt_limits lim = {PT_DEFAULT_MAX_PAYLOAD, PT_DEFAULT_MAX_DEPTH};
  json_t *v = tu_json("{" BASE ",\"status\":\"success\"}");
  pt_event *a, *b;
  TU_ASSERT_OK(pt_validate_event(v, defs, &lim, 1764350000000LL, "event", &a, &err), &err);
  TU_ASSERT_OK(pt_validate_event(v, defs, &lim, 1764350000001LL, "event", &b, &err), &err);
  assert_int_equal(strlen(a->id), 30);
  assert_memory_equal(a->id, "evt_", 4);
  assert_true(strcmp(a->id, b->id) < 0); /* time-ordered */
  assert_int_equal(a->id_given, 0);
  assert_int_equal(a->ts, -1);
  assert_string_equal(a->input, "null");
  assert_string_equal(a->error, "null");
  pt_event_free(a);
  pt_event_free(b);
  json_decref(v);
  pt_defs_unref(defs);
}

static void test_payload_limit(void **state) {
  (void)state;
  pt_defs *defs;
  pt_error err;
  TU_ASSERT_OK(pt_defs_default(&defs, &err), &err);
  pt_limits lim = {64 * 1024, PT_DEFAULT_MAX_DEPTH};
  /* A string of 65,534 bytes is 65,536 bytes canonical: exactly the limit. */
  size_t n = 65534;
  char *s = malloc(n + 1);
  memset(s, 'x', n);
  s[n] = '\0';
  json_t *v = tu_json("{" BASE ",\"status\":\"success\"}");
  json_object_set_new(v, "input", json_string(s));
  pt_event *e = NULL;
  TU_ASSERT_OK(pt_validate_event(v, defs, &lim, 0, "event", &e, &err), &err);
  assert_int_equal(e->input_len, 65536);
  pt_event_free(e);
  json_object_set_new(v, "input", json_string("small"));
  char *big = malloc(n + 2);
  memset(big, 'y', n + 1);
  big[n + 1] = '\0';
  json_object_set_new(v, "output", json_string(big));
  pt_status rc = pt_validate_event(v, defs, &lim, 0, "event", &e, &err);
  assert_int_equal(rc, PT_ETOOBIG);
  assert_string_equal(err.field, "event.output");
  assert_null(e);
  free(s);
  free(big);
  json_decref(v);
  pt_defs_unref(defs);
}

static void test_struct_rules(void **state) {
  (void)state;
  pt_defs *defs;
  pt_error err;
  TU_ASSERT_OK(pt_defs_default(&defs, &err), &err);
  pt_limits lim = {PT_DEFAULT_MAX_PAYLOAD, PT_DEFAULT_MAX_DEPTH};
  pt_event_in ok = {.session_id = "s",
                    .pipeline_type = "checkout_digital",
                    .step = "checkout_started",
                    .status = PT_FAILURE,
                    .ts = 7,
                    .input_json = "{\"b\":1,\"a\":2}",
                    .error_code = "E",
                    .error_message = "m"};
  pt_event *e;
  TU_ASSERT_OK(pt_validate_struct(&ok, defs, &lim, 0, "event", &e, &err), &err);
  assert_string_equal(e->input, "{\"a\":2,\"b\":1}");
  assert_string_equal(e->error, "{\"code\":\"E\",\"message\":\"m\"}");
  assert_int_equal(e->ts, 7);
  pt_event_free(e);
  pt_event_in bad = ok;
  bad.input_json = "{\"a\":1,\"a\":2}";
  assert_int_equal(pt_validate_struct(&bad, defs, &lim, 0, "event", &e, &err), PT_EINVALID_JSON);
  bad = ok;
  bad.error_message = NULL;
  assert_int_equal(pt_validate_struct(&bad, defs, &lim, 0, "event", &e, &err), PT_EINVALID);
  assert_string_equal(err.field, "event.error");
  bad = ok;
  bad.error_code = "\xc3\x28";
  assert_int_equal(pt_validate_struct(&bad, defs, &lim, 0, "event", &e, &err), PT_EINVALID);
  assert_string_equal(err.field, "event.error.code");
  bad = ok;
  bad.status = (pt_event_status)7;
  assert_int_equal(pt_validate_struct(&bad, defs, &lim, 0, "event", &e, &err), PT_EINVALID);
  assert_string_equal(err.field, "event.status");
  bad = ok;
  bad.step = "nope";
  assert_int_equal(pt_validate_struct(&bad, defs, &lim, 0, "event", &e, &err), PT_EUNKNOWN_STEP);
  pt_defs_unref(defs);
}

/* A forked child must not repeat its parent's event ids. */
static void test_ids_differ_across_fork(void **state) {
  (void)state;
  char before[31], mine[31], theirs[31] = "";
  pt_event_id_make(42, before); /* seeds this thread's generator */
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    char id[31];
    pt_event_id_make(42, id);
    ssize_t w = write(fds[1], id, sizeof id);
    _exit(w == (ssize_t)sizeof id ? 0 : 1);
  }
  pt_event_id_make(42, mine);
  assert_int_equal(read(fds[0], theirs, sizeof theirs), (ssize_t)sizeof theirs);
  waitpid(pid, NULL, 0);
  close(fds[0]);
  close(fds[1]);
  assert_memory_equal(mine, "evt_000000001A", 14); /* time part: 42 ms */
  assert_string_not_equal(mine, theirs);
  assert_string_not_equal(before, mine);
}

/* Refused with code, field and message as a client reads them. */
static void refused(pt_status rc, const pt_error *err, pt_status code, const char *field,
                    const char *message) {
  if (rc != code) fail_msg("%s: got %s (%s)", field, pt_err_name(rc), err->message);
  assert_string_equal(err->field, field);
  assert_string_equal(err->message, message);
}

#define BIG " is beyond the range of a double (magnitude at most 1.7976931348623157e308)"
#define SMALL                                                                    \
  " is not zero but too small for a double, which would read it as 0 (smallest " \
  "magnitude 5e-324)"

/* Numbers a double cannot hold are refused naming their field, on every
 * reader; those it can are rounded to the nearest double (RFC 8785). */
static void test_numbers_beyond_a_double(void **state) {
  (void)state;
  pt_error err;
  json_t *v = NULL;
  const char *t;
#define PARSE(what) (t = (what), pt_parse_ijson(t, strlen(t), WHAT, &v, &err))
#define WHAT "event"
  refused(PARSE("{" BASE ",\"status\":\"success\",\"input\":{\"a\":1e400}}"), &err,
          PT_EINVALID_JSON, "event.input.a", "event.input.a: 1e400" BIG);
  refused(PARSE("{\"input\":{\"a\":[0,{\"b\":1e-400}]}}"), &err, PT_EINVALID_JSON,
          "event.input.a[1].b", "event.input.a[1].b: 1e-400" SMALL);
  refused(PARSE("{\"ts\":-1e-400}"), &err, PT_EINVALID_JSON, "event.ts", "event.ts: -1e-400" SMALL);
  refused(PARSE("{\"a\\u0000\\\"b\":2e-324}"), &err, PT_EINVALID_JSON, "event.a\\u0000\"b",
          "event.a\\u0000\"b: 2e-324" SMALL);
  refused(PARSE("-1e400"), &err, PT_EINVALID_JSON, "event", "event: -1e400" BIG);
#undef WHAT
#define WHAT "events"
  refused(PARSE("[{},{\"output\":{\"x\":1e999}}]"), &err, PT_EINVALID_JSON, "events[1].output.x",
          "events[1].output.x: 1e999" BIG);
#undef WHAT
#define WHAT "body"
  refused(PARSE("{\"event\":{\"input\":{\"a\":1e400}}}"), &err, PT_EINVALID_JSON, "event.input.a",
          "event.input.a: 1e400" BIG);
  refused(PARSE("[1e-400]"), &err, PT_EINVALID_JSON, "body[0]", "body[0]: 1e-400" SMALL);
#undef WHAT
#define WHAT "line 3"
  refused(PARSE("{\"type\":\"event\",\"event\":{\"input\":1e-400}}"), &err, PT_EINVALID_JSON,
          "event.input", "line 3: event.input: 1e-400" SMALL);
#undef WHAT
  /* a long number is cut in the message */
#define WHAT "event"
  refused(PARSE("{\"a\":1000000000000000000000000000000000000000e-500}"), &err, PT_EINVALID_JSON,
          "event.a", "event.a: 100000000000000000000000000000000000..." SMALL);
#undef WHAT
  /* the canonical reader of payloads given as text (pt_event_in) */
  pt_limits lim = {PT_DEFAULT_MAX_PAYLOAD, PT_DEFAULT_MAX_DEPTH};
  char *out = NULL;
  size_t n;
  t = "{\"k\":[1,2,1e400]}";
  refused(pt_canonical_payload(t, strlen(t), &lim, "event.input", &out, &n, &err), &err,
          PT_EINVALID_JSON, "event.input.k[2]", "event.input.k[2]: 1e400" BIG);
  t = "-1e-400";
  refused(pt_canonical_payload(t, strlen(t), &lim, "event.output", &out, &n, &err), &err,
          PT_EINVALID_JSON, "event.output", "event.output: -1e-400" SMALL);
  assert_null(out);
  /* definitions */
  pt_defs *defs;
  t = "{\"pipelines\":[{\"type\":\"job\",\"steps\":[\"a\"],\n\"stall_after_s\":1e400}]}";
  refused(pt_defs_parse(t, strlen(t), &defs, &err), &err, PT_EDEFINITIONS, "",
          "line 2, column 17: pipelines[0].stall_after_s: 1e400" BIG);
  assert_null(defs);
  /* what a double holds: zeros however written, subnormals, the largest,
   * and rounding to the nearest double */
  static const struct {
    const char *in, *canon;
  } ok[] = {
      {"[0e-400,0.0e999,-0.000e-99999,0E+400]", "[0,0,0,0]"},
      {"[5e-324,-5e-324,3e-324,2.4703282292062328e-324]", "[5e-324,-5e-324,5e-324,5e-324]"},
      {"[2.2250738585072014e-308,4.9406564584124654e-324]", "[2.2250738585072014e-308,5e-324]"},
      {"[1.7976931348623157e308,-1.7976931348623158e308]",
       "[1.7976931348623157e+308,-1.7976931348623157e+308]"},
      {"[0.1000000000000000055511151231257827,9007199254740993,1e23]",
       "[0.1,9007199254740992,1e+23]"},
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    TU_ASSERT_OK(pt_canonical_payload(ok[i].in, strlen(ok[i].in), &lim, "x", &out, &n, &err), &err);
    assert_string_equal(out, ok[i].canon);
    free(out);
    TU_ASSERT_OK(pt_parse_ijson(ok[i].in, strlen(ok[i].in), "x", &v, &err), &err);
    json_decref(v);
  }
#undef PARSE
}

/* An unknown member's name is quoted in its error cut to the buffer, at a
 * whole character: never inside a UTF-8 sequence (found by fuzz_request,
 * where a cut name made a batch's answer invalid UTF-8). */
static void test_unknown_member_cut_whole(void **state) {
  (void)state;
  static const char *const allowed[] = {"a", NULL};
  /* 2-, 3- and 4-byte characters, each at every offset against the cut */
  static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
  for (int c = 0; c < 3; c++)
    for (int shift = 0; shift < 4; shift++) {
      char name[600];
      size_t n = 0;
      for (int i = 0; i < shift; i++) name[n++] = 'x';
      while (n + 4 < sizeof name - 1) {
        size_t l = strlen(chars[c]);
        memcpy(name + n, chars[c], l);
        n += l;
      }
      json_t *o = json_object();
      json_object_setn_new(o, name, n, json_true());
      char bad[64];
      assert_int_equal(pt_json_only_members(o, allowed, bad, sizeof bad), 0);
      size_t got = strlen(bad);
      assert_true(got > 40 && got < sizeof bad);
      assert_true(pt_utf8_valid(bad, got));
      assert_memory_equal(bad, name, got); /* a prefix of the name, whole */
      json_decref(o);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unknown_member_cut_whole),
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_generated_id_and_defaults),
      cmocka_unit_test(test_payload_limit),
      cmocka_unit_test(test_struct_rules),
      cmocka_unit_test(test_ids_differ_across_fork),
      cmocka_unit_test(test_numbers_beyond_a_double),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
