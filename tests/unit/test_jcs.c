/* test_jcs.c - RFC 8785 canonical JSON against the contract's vectors
 * (tests/vectors/chain-v1.json: numbers and documents) and edge cases. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/jcs.h"
#include "core/validate.h"
#include "testutil.h"

/* The vector file (owned: *root) and its list `key`, of at least min items. */
static json_t *vectors(const char *key, size_t min, json_t **root) {
  *root = tu_vectors();
  json_t *list = json_object_get(*root, key);
  assert_true(json_array_size(list) >= min);
  return list;
}

static void test_number_vectors(void **state) {
  (void)state;
  json_t *v;
  json_t *nums = vectors("numbers", 600, &v);
  size_t i;
  json_t *n;
  json_array_foreach(nums, i, n) {
    const char *bits = json_string_value(json_object_get(n, "bits"));
    const char *want = json_string_value(json_object_get(n, "text"));
    uint64_t u = strtoull(bits, NULL, 16);
    double d;
    memcpy(&d, &u, sizeof d);
    char got[40];
    pt_jcs_number(d, got);
    if (strcmp(got, want) != 0) fail_msg("bits %s: got %s, want %s", bits, got, want);
  }
  json_decref(v);
}

static void test_document_vectors(void **state) {
  (void)state;
  json_t *v;
  json_t *docs = vectors("documents", 30, &v);
  size_t i;
  json_t *d;
  json_array_foreach(docs, i, d) {
    const char *in = json_string_value(json_object_get(d, "json"));
    const char *want = json_string_value(json_object_get(d, "canonical"));
    char *got = NULL;
    pt_error err;
    TU_ASSERT_OK(pt_canonicalize(in, strlen(in), &got, &err), &err);
    if (strcmp(got, want) != 0) fail_msg("document %zu:\n got %s\nwant %s", i, got, want);
    pt_free(got);
    /* the tree path (jansson + pt_jcs_write) gives the same text */
    json_t *tree = json_loads(in, PT_JSON_FLAGS | JSON_DECODE_ANY, NULL);
    assert_non_null(tree);
    pt_buf b;
    pt_buf_init(&b, 0);
    assert_int_equal(pt_jcs_write(&b, tree, 0), 0);
    if (strcmp(pt_buf_cstr(&b), want) != 0) fail_msg("tree path, document %zu: %s", i, b.data);
    pt_buf_cleanup(&b);
    json_decref(tree);
  }
  json_decref(v);
}

static void check(const char *in, const char *want) {
  char *got = NULL;
  pt_error err;
  TU_ASSERT_OK(pt_canonicalize(in, strlen(in), &got, &err), &err);
  assert_string_equal(got, want);
  pt_free(got);
}

static void test_rfc8785_examples(void **state) {
  (void)state;
  /* RFC 8785 §3.2.3 sorting example, with UTF-16 order: U+E000 sorts after
   * a supplementary character (surrogates D800-DFFF come first). */
  check("{\"\\ue000\":1,\"\\ud83d\\ude00\":2,\"a\":3}",
        "{\"a\":3,\"\xf0\x9f\x98\x80\":2,\"\xee\x80\x80\":1}");
  check("{\"b\":[1,2,{\"z\":null,\"a\":true}],\"a\":\"\\u000f\\u007f\"}",
        "{\"a\":\"\\u000f\x7f\",\"b\":[1,2,{\"a\":true,\"z\":null}]}");
  check("[-0, 1e21, 1e-7, 0.1, 100, 1E2, 123456789012345678901234]",
        "[0,1e+21,1e-7,0.1,100,100,1.2345678901234569e+23]");
  check("\"\\b\\f\\n\\r\\t\\\"\\\\/\"", "\"\\b\\f\\n\\r\\t\\\"\\\\/\"");
  check("\"a\\u0000b\"", "\"a\\u0000b\"");
}

static void test_numbers_edge(void **state) {
  (void)state;
  char out[40];
  pt_jcs_number(-0.0, out);
  assert_string_equal(out, "0");
  pt_jcs_number(1e21, out);
  assert_string_equal(out, "1e+21");
  pt_jcs_number(1e20, out);
  assert_string_equal(out, "100000000000000000000");
  pt_jcs_number(0.000001, out);
  assert_string_equal(out, "0.000001");
  pt_jcs_number(-1.5, out);
  assert_string_equal(out, "-1.5");
  pt_jcs_number(9007199254740991.0, out);
  assert_string_equal(out, "9007199254740991");
  pt_jcs_number(5e-324, out);
  assert_string_equal(out, "5e-324");
}

static void test_refuses_non_ijson(void **state) {
  (void)state;
  const char *bad[] = {
      "{\"a\":1,\"a\":2}", /* duplicate names */
      "\"\\ud800\"",       /* lone high surrogate */
      "\"\\udc00x\"",      /* lone low surrogate */
      "\"\xff\"",          /* invalid UTF-8 */
      "1e400",             /* beyond a double */
      "{\"a\":1",          /* truncated */
      "[1,]",              /* trailing comma */
      "NaN",
      "{\"a\":1,\"\\u0061\":2}", /* duplicate after unescaping */
      "\"tab\there\"",           /* raw control character */
      "01",                      /* leading zero */
      "1.",                      /* no fraction digits */
      "-",
      "\"\\x\"",            /* unknown escape */
      "\"\\ud83d\\u0041\"", /* high surrogate + non-low */
      "\"\xed\xa0\x80\"",   /* surrogate encoded in UTF-8 */
      "\"\xc0\xaf\"",       /* overlong */
      "[] []",
      "tru",
      "",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *got = NULL;
    pt_error err;
    pt_status rc = pt_canonicalize(bad[i], strlen(bad[i]), &got, &err);
    if (rc != PT_EINVALID_JSON) fail_msg("accepted %s", bad[i]);
    assert_null(got);
    /* jansson, with the flags the event path uses, refuses it too */
    json_t *tree = json_loadb(bad[i], strlen(bad[i]), PT_JSON_FLAGS | JSON_DECODE_ANY, NULL);
    if (tree) fail_msg("jansson accepted %s", bad[i]);
  }
}

static void test_keycmp(void **state) {
  (void)state;
  assert_true(pt_jcs_keycmp("a", 1, "b", 1) < 0);
  assert_true(pt_jcs_keycmp("ab", 2, "a", 1) > 0);
  assert_int_equal(pt_jcs_keycmp("abc", 3, "abc", 3), 0);
  /* U+20AC (euro, one unit 0x20AC) vs U+1F600 (units D83D DE00) */
  assert_true(pt_jcs_keycmp("\xe2\x82\xac", 3, "\xf0\x9f\x98\x80", 4) < 0);
  /* U+FFFD (0xFFFD) sorts after U+1F600 (0xD83D...) in UTF-16 */
  assert_true(pt_jcs_keycmp("\xef\xbf\xbd", 3, "\xf0\x9f\x98\x80", 4) > 0);
}

/* Random bit patterns and short decimals (prices, ratios, tiny and huge
 * magnitudes) read back as the same double, and dropping the last digit
 * does not: a cheap in-process property check. Exact agreement with
 * ECMAScript is checked against independent oracles by test_numbers.py. */
static void test_numbers_read_back(void **state) {
  (void)state;
  uint64_t x = 88172645463325252ULL;
  int checked = 0;
  for (int i = 0; i < 300000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double v;
    if (i % 3 == 0) {
      memcpy(&v, &x, sizeof v);
      if (!isfinite(v) || v == 0) continue;
    } else {
      static const double P[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e12, 1e17, 1e20};
      v = (double)(x % 100000000000ULL) / P[(x >> 40) % 12];
      if (i % 2) v = -v;
      if (v == 0) continue;
    }
    char got[40];
    pt_jcs_number(v, got);
    if (strtod(got, NULL) != v) fail_msg("%s does not read back as %.17g", got, v);
    checked++;
  }
  assert_true(checked > 250000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_number_vectors),    cmocka_unit_test(test_document_vectors),
      cmocka_unit_test(test_rfc8785_examples),  cmocka_unit_test(test_numbers_edge),
      cmocka_unit_test(test_refuses_non_ijson), cmocka_unit_test(test_keycmp),
      cmocka_unit_test(test_numbers_read_back),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
