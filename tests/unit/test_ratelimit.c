/* test_ratelimit.c - the server's per-address token buckets, on a clock the
 * test drives: burst, refill, separate clients, a full table. */
#include "server/ratelimit.h"
#include "testutil.h"

#define SEC 1000000000ull

static void test_bucket(void **state) {
  (void)state;
  assert_null(ptd_limiter_new(0, 5)); /* no limit */
  assert_int_equal(ptd_limiter_take(NULL, 1, 0), 0);
  ptd_limiter *l = ptd_limiter_new(2, 4);
  uint64_t t = 100 * SEC;
  for (int i = 0; i < 4; i++) assert_int_equal(ptd_limiter_take(l, 7, t), 0);
  /* empty: half a second (at 2 a second) until the next token */
  uint64_t wait = ptd_limiter_take(l, 7, t);
  assert_true(wait >= 500 && wait <= 501);
  assert_int_equal(ptd_limiter_take(l, 8, t), 0); /* another client has its own */
  assert_int_equal(ptd_limiter_take(l, 7, t + SEC / 2), 0);
  assert_true(ptd_limiter_take(l, 7, t + SEC / 2) > 0);
  /* a long pause refills to the burst, not beyond */
  t += 100 * SEC;
  for (int i = 0; i < 4; i++) assert_int_equal(ptd_limiter_take(l, 7, t), 0);
  assert_true(ptd_limiter_take(l, 7, t) > 0);
  /* far more clients than slots: memory stays fixed, each new one starts
   * full, and a recent client is not the one forgotten */
  for (uint32_t a = 1000; a < 100000; a++) assert_int_equal(ptd_limiter_take(l, a, t + a), 0);
  ptd_limiter_free(l);
  l = ptd_limiter_new(1, 0); /* burst defaults to the rate */
  assert_int_equal(ptd_limiter_take(l, 9, t), 0);
  assert_true(ptd_limiter_take(l, 9, t) > 0);
  ptd_limiter_free(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_bucket)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
