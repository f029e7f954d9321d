/* bench_numbers.c - the cost of spelling doubles the RFC 8785 way
 * (pt_jcs_number: shortest round-trip digits, ECMAScript form) beside two
 * baselines run in the same process: printf("%.17g") (fixed 17 digits, not
 * canonical) and pipetrack's own spelling before 2026-11-29 (a digit fast
 * path, else a printf/strtod search over 1..17 digits). Also canonicalising a payload full of
 * numbers, in MB/s. Bounded counts; best of 5 runs each. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jcs.h"
#include "pipetrack.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* ---- pt_jcs_number as it was before 2026-11-29 (git history), the baseline:
 * a digit fast path for short decimals, else the first precision whose
 * correctly rounded printf text reads back (which missed the shorter text
 * at some powers of two). ---- */
/* Formats digits d[0..k) with decimal exponent n (value = 0.d * 10^n) the way
 * ECMAScript Number::toString does (ECMA-262 §6.1.6.1.20). */
static size_t old_es_format(const char *d, int k, int n, int neg, char *out) {
  char *o = out;
  if (neg) *o++ = '-';
  if (k <= n && n <= 21) {
    memcpy(o, d, (size_t)k);
    o += k;
    for (int i = 0; i < n - k; i++) *o++ = '0';
  } else if (0 < n && n <= 21) {
    memcpy(o, d, (size_t)n);
    o += n;
    *o++ = '.';
    memcpy(o, d + n, (size_t)(k - n));
    o += k - n;
  } else if (-6 < n && n <= 0) {
    *o++ = '0';
    *o++ = '.';
    for (int i = 0; i < -n; i++) *o++ = '0';
    memcpy(o, d, (size_t)k);
    o += k;
  } else {
    *o++ = d[0];
    if (k > 1) {
      *o++ = '.';
      memcpy(o, d + 1, (size_t)(k - 1));
      o += k - 1;
    }
    *o++ = 'e';
    int e = n - 1;
    *o++ = e < 0 ? '-' : '+';
    if (e < 0) e = -e;
    char t[8];
    int tn = 0;
    do {
      t[tn++] = (char)('0' + e % 10);
      e /= 10;
    } while (e);
    while (tn) *o++ = t[--tn];
  }
  *o = '\0';
  return (size_t)(o - out);
}

/* Shortest round-trip: the fewest significant digits whose correctly
 * rounded decimal reads back as the same double. printf rounds correctly,
 * so the first precision that round-trips is also the closest such value,
 * which is what ECMAScript asks for. a > 0 and finite. */
static size_t slow_number(double a, int neg, char *out) {
  char e[40];
  for (int p = 1; p <= 17; p++) {
    snprintf(e, sizeof e, "%.*e", p - 1, a);
    if (p == 17 || strtod(e, NULL) == a) break;
  }
  /* e is "d.ddde[+-]XX" or "de[+-]XX" */
  char d[24];
  int k = 0;
  const char *s = e;
  for (; *s && *s != 'e'; s++)
    if (*s != '.') d[k++] = *s;
  int exp10 = (int)strtol(s + 1, NULL, 10);
  while (k > 1 && d[k - 1] == '0') k--;
  return old_es_format(d, k, exp10 + 1, neg, out);
}

static const double P10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Shortest digits for the common case of a decimal with few digits (prices,
 * ratios), without printf: the first k for which a*10^k is a whole number S
 * below 2^50 with S/10^k == a (division of exact operands rounds correctly,
 * so that decimal reads back as a). It is the shortest if no decimal with
 * k-1 fractional digits reads back as a; below 2^50 the neighbours at k-1
 * are floor or ceil of a*10^(k-1), so checking those two settles it, and
 * S is the only k-digit candidate. Anything else takes the general path. */
static int fast_digits(double a, char *d, int *k_out, int *n_out) {
  for (int k = 1; k <= 22; k++) {
    double s = a * P10[k];
    if (s >= 1125899906842624.0) return 0;
    if (s != floor(s) || s / P10[k] != a) continue;
    double t = a * P10[k - 1];
    if (floor(t) / P10[k - 1] == a || ceil(t) / P10[k - 1] == a) return 0;
    int tn = (int)pt_u64_digits((uint64_t)s, d);
    int len = tn;
    while (len > 1 && d[len - 1] == '0') len--;
    *k_out = len;
    *n_out = tn - k;
    return 1;
  }
  return 0;
}

static size_t earlier(double v, char *out) {
  if (v == 0 || !isfinite(v)) { /* non-finite never reaches here (I-JSON) */
    out[0] = '0';
    out[1] = '\0';
    return 1;
  }
  int neg = v < 0;
  double a = neg ? -v : v;
  /* Integers below 2^53 are exact and need no search. */
  if (a < 9007199254740992.0 && a == floor(a)) {
    char d[24];
    int tn = (int)pt_u64_digits((uint64_t)a, d);
    int k = tn;
    while (k > 1 && d[k - 1] == '0') k--;
    return old_es_format(d, k, tn, neg, out);
  }
  char fd[24];
  int fk, fn;
  if (fast_digits(a, fd, &fk, &fn)) return old_es_format(fd, fk, fn, neg, out);
  return slow_number(a, neg, out);
}
/* ---- end of the earlier code ---- */

typedef size_t (*fmt_fn)(double, char *);

static size_t g17(double a, char *out) {
  return (size_t)snprintf(out, 40, "%.17g", a);
}

static double run(fmt_fn f, const double *v, int n) {
  double best = 1e9;
  size_t sink = 0;
  char out[48];
  for (int rep = 0; rep < 5; rep++) {
    double t0 = now_s();
    for (int i = 0; i < n; i++) sink += f(v[i], out);
    double t = now_s() - t0;
    if (t < best) best = t;
  }
  if (sink == 0) puts("");
  return best / n * 1e9;
}

static void row(const char *name, const double *v, int n) {
  double ours = run(pt_jcs_number, v, n), p17 = run(g17, v, n), old = run(earlier, v, n);
  printf("%-34s pt_jcs_number %6.1f ns, printf %%.17g %6.1f ns (%.1fx), earlier code %7.1f ns "
         "(%.1fx)\n",
         name, ours, p17, p17 / ours, old, old / ours);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 200000;
  if (n < 1) n = 200000;
  double *v = calloc((size_t)n, sizeof *v);
  if (!v) return 2;
  for (int i = 0; i < n;) {
    uint64_t u = next();
    memcpy(&v[i], &u, sizeof v[i]);
    if (isfinite(v[i]) && v[i] != 0) i++;
  }
  row("random bit patterns", v, n);
  static const double P[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
  for (int i = 0; i < n; i++) v[i] = (double)(next() % 10000000) / P[next() % 7] + 0.5 / P[6];
  row("short decimals (prices, ratios)", v, n);

  /* a payload of 2,000 numbers of both kinds, canonicalised */
  char *doc = malloc(2000 * 32 + 16);
  size_t len = 0;
  doc[len++] = '[';
  for (int i = 0; i < 2000; i++) {
    uint64_t u = next();
    double d;
    memcpy(&d, &u, sizeof d);
    if (!isfinite(d)) d = 1.5;
    if (i % 2) d = (double)(next() % 1000000) / 100;
    len += (size_t)snprintf(doc + len, 32, "%s%.17g", i ? "," : "", d);
  }
  doc[len++] = ']';
  double best = 1e9;
  for (int rep = 0; rep < 5; rep++) {
    double t0 = now_s();
    for (int k = 0; k < 50; k++) {
      char *c = NULL;
      if (pt_canonicalize(doc, len, &c, NULL) != PT_OK) return 2;
      pt_free(c);
    }
    double t = now_s() - t0;
    if (t < best) best = t;
  }
  printf("%-34s %.0f MB/s of input (%zu bytes, 2,000 numbers)\n",
         "canonicalising a numbers payload", (double)len * 50 / best / 1e6, len);
  free(doc);
  free(v);
  return 0;
}
