/* test_buf.c - the small building blocks: the capped buffer, JSON string
 * escaping, digits, SHA-256 hex, the error table. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/sha.h"
#include "testutil.h"

static void test_growth_and_take(void **state) {
  (void)state;
  pt_buf b;
  pt_buf_init(&b, 0);
  for (int i = 0; i < 1000; i++) pt_buf_puts(&b, "abc");
  assert_int_equal(b.len, 3000);
  assert_int_equal(strlen(pt_buf_cstr(&b)), 3000);
  char *s = pt_buf_take(&b);
  assert_non_null(s);
  assert_int_equal(b.len, 0);
  free(s);
  pt_buf_cleanup(&b);
}

static void test_limit_fails_once(void **state) {
  (void)state;
  pt_buf b;
  pt_buf_init(&b, 8);
  pt_buf_puts(&b, "12345678");
  assert_int_equal(b.failed, 0);
  pt_buf_putc(&b, '9');
  assert_int_equal(b.failed, 2); /* over the limit */
  pt_buf_puts(&b, "more");       /* ignored once failed */
  assert_int_equal(b.len, 8);
  assert_null(pt_buf_take(&b));
}

static void test_borrowed_spills_to_heap(void **state) {
  (void)state;
  char stack[8];
  pt_buf b;
  pt_buf_init_on(&b, stack, sizeof stack);
  pt_buf_puts(&b, "1234567");
  assert_ptr_equal(b.data, stack);
  pt_buf_puts(&b, "89abcdef");
  assert_true(b.data != stack);
  assert_string_equal(pt_buf_cstr(&b), "123456789abcdef");
  char *s = pt_buf_take(&b);
  assert_string_equal(s, "123456789abcdef");
  free(s);
  pt_buf_init_on(&b, stack, sizeof stack);
  pt_buf_puts(&b, "ab");
  s = pt_buf_take(&b); /* a copy: the stack storage is never handed out */
  assert_true(s != stack);
  assert_string_equal(s, "ab");
  free(s);
}

static void test_json_escaping(void **state) {
  (void)state;
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_buf_json_str(&b, "a\"b\\c\b\f\n\r\t\x01\x1f\x7f/\xc3\xa9", 16);
  assert_string_equal(pt_buf_cstr(&b), "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001f\x7f/\xc3\xa9\"");
  pt_buf_reset(&b);
  pt_buf_json_str(&b, "a\0b", 3);
  assert_memory_equal(b.data, "\"a\\u0000b\"", 10);
  pt_buf_reset(&b);
  pt_buf_json_cstr(&b, NULL);
  assert_string_equal(pt_buf_cstr(&b), "null");
  /* the exact size is reserved, so a limit of exactly that size holds */
  pt_buf c;
  pt_buf_init(&c, 8);
  pt_buf_json_str(&c, "a\nb", 3);
  assert_int_equal(c.failed, 0);
  assert_string_equal(pt_buf_cstr(&c), "\"a\\nb\"");
  pt_buf_cleanup(&c);
  pt_buf_cleanup(&b);
}

static void test_digits(void **state) {
  (void)state;
  char d[24];
  assert_int_equal(pt_u64_digits(0, d), 1);
  assert_memory_equal(d, "0", 1);
  assert_int_equal(pt_u64_digits(1764350000123ULL, d), 13);
  assert_memory_equal(d, "1764350000123", 13);
  assert_int_equal(pt_u64_digits(18446744073709551615ULL, d), 20);
  assert_memory_equal(d, "18446744073709551615", 20);
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_buf_i64(&b, -9223372036854775807LL - 1);
  assert_string_equal(pt_buf_cstr(&b), "-9223372036854775808");
  pt_buf_cleanup(&b);
}

static void test_sha256(void **state) {
  (void)state;
  char h[65];
  pt_sha256_hex("", 0, h);
  assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  pt_sha256_hex("abc", 3, h);
  assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_errors(void **state) {
  (void)state;
  pt_error e;
  assert_int_equal(pt_fail(&e, PT_EINVALID, "event.ts", "event.ts: bad\nvalue %d", 7), PT_EINVALID);
  assert_string_equal(e.message, "event.ts: bad value 7"); /* one line */
  assert_string_equal(e.field, "event.ts");
  assert_int_equal(pt_fail(NULL, PT_ENOMEM, NULL, "x"), PT_ENOMEM);
  assert_string_equal(pt_err_name(PT_OK), "ok");
  assert_string_equal(pt_err_name(PT_EEVENT_ID_CONFLICT), "event_id_conflict");
  assert_string_equal(pt_strerror(PT_STATUS_COUNT), "unknown error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_growth_and_take),
      cmocka_unit_test(test_limit_fails_once),
      cmocka_unit_test(test_borrowed_spills_to_heap),
      cmocka_unit_test(test_json_escaping),
      cmocka_unit_test(test_digits),
      cmocka_unit_test(test_sha256),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
