/* bench_numbers.c - the cost of spelling doubles the RFC 8785 way
 * (pt_jcs_number: shortest round-trip digits, ECMAScript form) beside
 * printf("%.17g") in the same process (fixed 17 digits: not canonical, but
 * the cost of any printf-based spelling). Also canonicalising a payload
 * full of numbers, in MB/s. Bounded counts; best of 5 runs each. (The
 * figures against the spelling this replaced, measured side by side when
 * it was replaced, are in docs/performance.md.) */
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
  double ours = run(pt_jcs_number, v, n), p17 = run(g17, v, n);
  printf("%-34s pt_jcs_number %6.1f ns, printf %%.17g %6.1f ns (%.1fx)\n", name, ours, p17,
         p17 / ours);
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
