/* fuzz_number.c - the canonicaliser's number spelling (pt_jcs_number)
 * against an oracle that shares no code with it: glibc's correctly rounded
 * printf and strtod. For each precision p = 1..17 the oracle takes printf's
 * p-digit text (the closest p-digit decimal) and, when that does not read
 * back, the p-digit decimal on the other side of the double (the only other
 * candidate: the interval of decimals that read back is convex and holds
 * the double); the first p with a candidate that reads back gives the
 * shortest, and printf's text wins when both do (it is the closer, ties to
 * even as ECMAScript asks). Then it spells ECMAScript's form by its own
 * code. The input's first 8 bytes are the double's bits; any difference
 * aborts. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jcs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Adds delta (+1 or -1) to the last digit of the digit string d (length k),
 * carrying; returns the new length and adjusts *exp10 when a carry adds a
 * digit (9.99 -> 10.0). d has room for one more digit. */
static int bump(char *d, int k, int delta, int *exp10) {
  int i = k - 1;
  if (delta > 0) {
    while (i >= 0 && d[i] == '9') d[i--] = '0';
    if (i < 0) {
      memmove(d + 1, d, (size_t)k);
      d[0] = '1';
      (*exp10)++;
      return k; /* the trailing digit fell off: same precision */
    }
    d[i]++;
  } else {
    while (i >= 0 && d[i] == '0') d[i--] = '9';
    if (i < 0) return -1;
    d[i]--;
    if (d[0] == '0') { /* 1.00 -> 0.99: one digit shorter at the front */
      memmove(d, d + 1, (size_t)k - 1);
      d[k - 1] = '9';
      (*exp10)--;
    }
  }
  return k;
}

/* reads digits d (k of them, d1.d2..dk) times 10^e */
static double read_back(const char *d, int k, int e) {
  char t[64];
  int n = 0;
  t[n++] = d[0];
  t[n++] = '.';
  memcpy(t + n, d + 1, (size_t)k - 1);
  n += k - 1;
  snprintf(t + n, sizeof t - (size_t)n, "e%d", e);
  return strtod(t, NULL);
}

static void oracle(double v, char *out) {
  if (v == 0) {
    memcpy(out, "0", 2);
    return;
  }
  int neg = v < 0;
  double a = fabs(v);
  char d[24];
  int k = 0, e = 0;
  for (int p = 1; p <= 17; p++) {
    char t[40];
    snprintf(t, sizeof t, "%.*e", p - 1, a);
    k = 0;
    const char *s = t;
    for (; *s != 'e'; s++)
      if (*s != '.') d[k++] = *s;
    e = (int)strtol(s + 1, NULL, 10);
    double r = read_back(d, k, e);
    if (r == a) break;
    /* the other side: up when printf rounded down, else down */
    int e2 = e;
    char d2[24];
    memcpy(d2, d, (size_t)k);
    int k2 = bump(d2, k, r < a ? 1 : -1, &e2);
    if (k2 > 0 && read_back(d2, k2, e2) == a) {
      memcpy(d, d2, (size_t)k2);
      k = k2;
      e = e2;
      break;
    }
  }
  while (k > 1 && d[k - 1] == '0') k--;
  /* ECMAScript Number::toString from the digits and the point's place
   * n = e + 1, each form one snprintf (unlike jcs.c's loop: an oracle that
   * is written another way) */
  static const char Z[] = "000000000000000000000";
  const char *sign = neg ? "-" : "";
  int n = e + 1;
  if (k <= n && n <= 21)
    snprintf(out, 64, "%s%.*s%.*s", sign, k, d, n - k, Z);
  else if (0 < n && n <= 21)
    snprintf(out, 64, "%s%.*s.%.*s", sign, n, d, k - n, d + n);
  else if (-6 < n && n <= 0)
    snprintf(out, 64, "%s0.%.*s%.*s", sign, -n, Z, k, d);
  else
    snprintf(out, 64, "%s%c%s%.*se%+d", sign, d[0], k > 1 ? "." : "", k - 1, d + 1, n - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 8) return 0;
  uint64_t u;
  memcpy(&u, data, sizeof u);
  double v;
  memcpy(&v, &u, sizeof v);
  if (!isfinite(v)) return 0;
  char got[40], want[64];
  pt_jcs_number(v, got);
  oracle(v, want);
  if (strcmp(got, want) != 0) {
    fprintf(stderr, "bits %016llx: pt_jcs_number %s, oracle %s\n", (unsigned long long)u, got,
            want);
    abort();
  }
  return 0;
}
