/* shortest.c - the shortest decimal that reads back as a given double, and of
 * those the closest (ties to an even last digit): the digits ECMAScript's
 * Number::toString prints. Written from Ulf Adams, "Ryu: fast float-to-string
 * conversion" (PLDI 2018): the bounds of the interval of decimals that round
 * to the double are scaled by one 128-bit power of five (pow5_table.h), then
 * digits are dropped while the interval still holds a shorter decimal. */
#include "shortest.h"

#include <assert.h>
#include <string.h>

#include "pow5_table.h"

/* floor(log10(2^e)) for 0 <= e <= 1650; checked by scripts/gen_pow5.py */
static int log10_pow2(int e) {
  return (int)(((uint32_t)e * 78913u) >> 18);
}

/* floor(log10(5^e)) for 0 <= e <= 2620 */
static int log10_pow5(int e) {
  return (int)(((uint32_t)e * 732923u) >> 20);
}

/* bit length of 5^e for 0 <= e <= 3528 */
static int pow5_bits(int e) {
  return (int)(((uint32_t)e * 1217359u) >> 19) + 1;
}

/* floor(m * mul / 2^j) for m < 2^55, a 128-bit mul and j >= 64. The low 64
 * bits of m * mul.lo only reach below bit 64, so dropping them first gives
 * the same floor. */
static uint64_t mul_shift(uint64_t m, const uint64_t mul[2], int j) {
  assert(j >= 64 && j < 192);
  unsigned __int128 lo = (unsigned __int128)m * mul[0];
  unsigned __int128 hi = (unsigned __int128)m * mul[1];
  return (uint64_t)(((lo >> 64) + hi) >> (j - 64));
}

static int multiple_of_pow5(uint64_t v, int p) {
  int n = 0;
  while (v && v % 5 == 0) {
    v /= 5;
    n++;
  }
  return n >= p;
}

static int multiple_of_pow2(uint64_t v, int p) {
  return p < 64 && (v & ((1ULL << p) - 1)) == 0;
}

int pt_shortest_digits(double a, char *digits, int *exp10) {
  uint64_t bits;
  memcpy(&bits, &a, sizeof bits);
  uint64_t frac = bits & ((1ULL << 52) - 1);
  int be = (int)((bits >> 52) & 0x7FF);
  assert(be != 0x7FF && (bits & ~(1ULL << 63)) != 0 && !(bits >> 63));

  /* a = m2 * 2^(e2 + 2); the interval of reals that round to a is
   * [mm, mp] * 2^e2 around mv * 2^e2. Its lower half is half as wide when a
   * is a power of two above the smallest normal: the gap below is half the
   * gap above (the case a symmetric search gets wrong). */
  uint64_t m2 = be ? frac | (1ULL << 52) : frac;
  int e2 = (be ? be : 1) - 1023 - 52 - 2;
  int even = (m2 & 1) == 0; /* round-half-even: the ends belong to a */
  uint64_t mv = 4 * m2, mp = mv + 2;
  uint64_t mm = mv - ((frac != 0 || be <= 1) ? 2 : 1);

  /* vr, vp, vm = floor(mv, mp, mm * 2^e2 / 10^e10), and whether each
   * division is exact (then vm may be the answer itself, and vp, when the
   * ends are excluded, is not). q is one less than the digits to drop so
   * that at least one dropped digit remains to round with. */
  uint64_t vr, vp, vm;
  int e10;
  int vr_exact = 0, vm_exact = 0, vp_exact = 0;
  if (e2 >= 0) {
    int q = log10_pow2(e2) - (e2 > 3);
    e10 = q;
    int k = PT_POW5_BITS + pow5_bits(q) - 1;
    int j = -e2 + q + k;
    assert(q < PT_POW5_INV_N);
    vr = mul_shift(mv, PT_POW5_INV[q], j);
    vp = mul_shift(mp, PT_POW5_INV[q], j);
    vm = mul_shift(mm, PT_POW5_INV[q], j);
    /* mv * 2^e2 / 10^q = mv * 2^(e2-q) / 5^q with e2 >= q: exact iff 5^q
     * divides it; none below 2^55 has a factor 5^24 */
    if (q < 24) {
      vr_exact = multiple_of_pow5(mv, q);
      vm_exact = multiple_of_pow5(mm, q);
      vp_exact = multiple_of_pow5(mp, q);
    }
  } else {
    int q = log10_pow5(-e2) - (-e2 > 1);
    e10 = q + e2;
    int i = -e2 - q;
    int k = pow5_bits(i) - PT_POW5_BITS;
    int j = q - k;
    assert(i < PT_POW5_N);
    vr = mul_shift(mv, PT_POW5[i], j);
    vp = mul_shift(mp, PT_POW5[i], j);
    vm = mul_shift(mm, PT_POW5[i], j);
    /* mv * 2^e2 / 10^(q+e2) = mv * 5^i / 2^q: exact iff 2^q divides mv */
    vr_exact = multiple_of_pow2(mv, q);
    vm_exact = multiple_of_pow2(mm, q);
    vp_exact = multiple_of_pow2(mp, q);
  }
  vm_exact = vm_exact && even; /* vm is a candidate only when included */
  if (vp_exact && !even) vp--; /* the upper end is excluded */

  int removed = 0;
  int last = 0; /* the most recently dropped digit */
  uint64_t out;
  if (vm_exact || vr_exact) {
    /* Rare: exact quotients need the dropped digits' exactness tracked
     * for ties (round half to even) and for vm as a candidate. */
    int dropped_zero = vr_exact; /* every digit dropped before `last` is 0 */
    /* drop digits while a shorter decimal stays inside; then, when vm itself
     * is a candidate, its trailing zeros too */
    for (int pass = 0; pass < 2; pass++)
      while (pass == 0 ? vp / 10 > vm / 10 : vm_exact && vm % 10 == 0) {
        if (pass == 0) vm_exact = vm_exact && vm % 10 == 0;
        dropped_zero = dropped_zero && last == 0;
        last = (int)(vr % 10);
        vr /= 10;
        vp /= 10;
        vm /= 10;
        removed++;
      }
    if (dropped_zero && last == 5 && vr % 2 == 0) last = 4; /* a tie: keep even */
    out = vr + ((vr == vm && !vm_exact) || last >= 5);
  } else {
    /* Common: only whether to round up matters. */
    int up = 0;
    if (vp / 100 > vm / 100) {
      up = vr % 100 >= 50;
      vr /= 100;
      vp /= 100;
      vm /= 100;
      removed += 2;
    }
    while (vp / 10 > vm / 10) {
      up = vr % 10 >= 5;
      vr /= 10;
      vp /= 10;
      vm /= 10;
      removed++;
    }
    out = vr + (vr == vm || up);
  }

  char t[20];
  int k = 0;
  do {
    t[k++] = (char)('0' + out % 10);
    out /= 10;
  } while (out);
  for (int i = 0; i < k; i++) digits[i] = t[k - 1 - i];
  /* out has no trailing zero: it would have been dropped, the interval
   * holding the shorter decimal too */
  assert(k == 1 || digits[k - 1] != '0');
  *exp10 = e10 + removed + k;
  return k;
}
