/* test_defs.c - pipeline definitions: the default, valid files, and every
 * refusal naming its position and reason. */
#include <stdio.h>
#include <string.h>

#include "core/defs.h"
#include "testutil.h"

static void test_default(void **state) {
  (void)state;
  pt_defs *d;
  pt_error err;
  TU_ASSERT_OK(pt_defs_default(&d, &err), &err);
  const pt_pipeline *p = pt_defs_find(d, "checkout_digital");
  assert_non_null(p);
  assert_int_equal(p->nsteps, 4);
  assert_int_equal(p->nrequired, 4);
  assert_int_equal(p->stall_after_s, 900);
  assert_string_equal(p->steps[0], "checkout_started");
  assert_int_equal(pt_pipeline_step(p, "checkout_completed"), 3);
  assert_int_equal(pt_pipeline_step(p, "nope"), -1);
  assert_null(pt_defs_find(d, "nope"));
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_defs_write_json(&b, d);
  assert_non_null(strstr(pt_buf_cstr(&b),
                         "{\"type\":\"checkout_digital\",\"steps\":[\"checkout_started\","
                         "\"payment_initiated\",\"payment_confirmed\",\"checkout_completed\"],"
                         "\"optional\":[],\"stall_after_s\":900}"));
  pt_buf_cleanup(&b);
  pt_defs_unref(d);
}

static void test_optional(void **state) {
  (void)state;
  const char *j =
      "{\"pipelines\":[{\"type\":\"a\",\"steps\":[\"x\",\"y\",\"z\"],"
      "\"optional\":[\"y\"],\"stall_after_s\":5}]}";
  pt_defs *d;
  pt_error err;
  TU_ASSERT_OK(pt_defs_parse(j, strlen(j), &d, &err), &err);
  const pt_pipeline *p = pt_defs_find(d, "a");
  assert_int_equal(p->nrequired, 2);
  assert_int_equal(p->optional[1], 1);
  assert_int_equal(p->stall_after_s, 5);
  pt_defs_unref(d);
}

static void refused(const char *json, const char *want_in_message) {
  pt_defs *d = (pt_defs *)0x1;
  pt_error err;
  pt_status rc = pt_defs_parse(json, strlen(json), &d, &err);
  assert_int_equal(rc, PT_EDEFINITIONS);
  assert_null(d);
  if (!strstr(err.message, want_in_message))
    fail_msg("message \"%s\" lacks \"%s\"", err.message, want_in_message);
}

static void test_refusals(void **state) {
  (void)state;
  refused("{\"pipelines\": [\n  {\"type\": \"a\",\n   \"steps\": [\"x\",]}]}", "line 3, column");
  refused("[]", "top level");
  refused("{\"pipelines\":[]}", "pipelines: must hold");
  refused("{\"pipelines\":[{\"type\":\"A\",\"steps\":[\"x\"]}]}", "pipelines[0].type");
  refused("{\"pipelines\":[{\"type\":\"a\",\"steps\":[]}]}", "pipelines[0].steps");
  refused("{\"pipelines\":[{\"type\":\"a\",\"steps\":[\"x\",\"Bad\"]}]}", "pipelines[0].steps[1]");
  refused("{\"pipelines\":[{\"type\":\"a\",\"steps\":[\"x\",\"x\"]}]}", "listed twice");
  refused("{\"pipelines\":[{\"type\":\"a\",\"steps\":[\"x\"],\"optional\":[\"y\"]}]}",
          "pipelines[0].optional[0]: must name a step of this pipeline");
  refused("{\"pipelines\":[{\"type\":\"a\",\"steps\":[\"x\"],\"stall_after_s\":0}]}",
          "pipelines[0].stall_after_s");
  refused("{\"pipelines\":[{\"type\":\"a\",\"steps\":[\"x\"],\"colour\":1}]}",
          "pipelines[0].colour: unknown member");
  refused("{\"pipelines\":[{\"type\":\"a\",\"steps\":[\"x\"]},{\"type\":\"a\",\"steps\":[\"y\"]}]}",
          "pipelines[1].type: \"a\" is defined twice");
  refused("{\"pipelines\":[{\"type\":\"a\",\"type\":\"b\",\"steps\":[\"x\"]}]}", "duplicate");
  /* U+0000 is read (I-JSON allows it) and then refused by the rules: a
   * member name holding it is not "type", a name holding it is no name */
  refused("{\"pipelines\":[{\"type\":\"a\",\"type\\u0000\":\"b\",\"steps\":[\"x\"]}]}",
          "pipelines[0].type\\u0000: unknown member");
  refused("{\"pipelines\":[{\"type\":\"a\\u0000b\",\"steps\":[\"x\"]}]}", "pipelines[0].type");
  refused("{\"pipelines\":[{\"type\":\"a\",\"steps\":[\"x\\u0000\"]}]}", "pipelines[0].steps[0]");
}

static void test_tracker_reload_keeps_old_on_error(void **state) {
  (void)state;
  pt_tracker *t = tu_open("memory:", 0);
  pt_error err;
  const char *bad = "{\"pipelines\":[{\"type\":\"a\",\"steps\":[]}]}";
  assert_int_equal(pt_definitions_load(t, bad, strlen(bad), &err), PT_EDEFINITIONS);
  tu_track(t, "s1", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
  const char *good = "{\"pipelines\":[{\"type\":\"job\",\"steps\":[\"run\"]}]}";
  TU_ASSERT_OK(pt_definitions_load(t, good, strlen(good), &err), &err);
  tu_track(t, "s2", "job", "run", PT_SUCCESS, NULL);
  char *doc;
  TU_ASSERT_OK(pt_definitions_json(t, &doc, &err), &err);
  assert_string_equal(doc,
                      "{\"pipelines\":[{\"type\":\"job\",\"steps\":[\"run\"],\"optional\":[],"
                      "\"stall_after_s\":900}]}");
  pt_free(doc);
  pt_close(t);
}

/* Refusals of unknown names list the defined ones and guess a typo. */
static void test_hints(void **state) {
  (void)state;
  const char *j =
      "{\"pipelines\":[{\"type\":\"checkout_digital\",\"steps\":[\"checkout_started\","
      "\"payment_initiated\",\"payment_confirmed\"]},{\"type\":\"signup\",\"steps\":[\"a\"]}]}";
  pt_defs *d;
  pt_error err;
  TU_ASSERT_OK(pt_defs_parse(j, strlen(j), &d, &err), &err);
  char h[160];
  pt_defs_hint(d, "chekout_digital", h, sizeof h);
  assert_string_equal(h,
                      "; did you mean \"checkout_digital\"? (defined: checkout_digital, signup)");
  pt_defs_hint(d, "signin", h, sizeof h); /* two edits from signup: close enough */
  assert_string_equal(h, "; did you mean \"signup\"? (defined: checkout_digital, signup)");
  pt_defs_hint(d, "orders", h, sizeof h);
  assert_string_equal(h, " (defined: checkout_digital, signup)");
  const pt_pipeline *p = pt_defs_find(d, "checkout_digital");
  pt_pipeline_step_hint(p, "Payment_Confirmed", h, sizeof h);
  assert_string_equal(h,
                      "; did you mean \"payment_confirmed\"? (steps: checkout_started, "
                      "payment_initiated, payment_confirmed)");
  pt_defs_unref(d);
  /* many names: as many as fit, then an ellipsis, within the room given */
  char big[8192] = "{\"pipelines\":[";
  for (int i = 0; i < 40; i++)
    snprintf(big + strlen(big), sizeof big - strlen(big),
             "%s{\"type\":\"pipeline_%02d\",\"steps\":[\"s\"]}", i ? "," : "", i);
  strcat(big, "]}");
  TU_ASSERT_OK(pt_defs_parse(big, strlen(big), &d, &err), &err);
  pt_defs_hint(d, "pipeline_7", h, sizeof h);
  assert_true(strlen(h) < sizeof h);
  assert_non_null(strstr(h, "; did you mean \"pipeline_07\"? (defined: pipeline_00, pipeline_01"));
  assert_string_equal(h + strlen(h) - strlen(", …)"), ", …)");
  pt_defs_unref(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default),
      cmocka_unit_test(test_optional),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_hints),
      cmocka_unit_test(test_tracker_reload_keeps_old_on_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
