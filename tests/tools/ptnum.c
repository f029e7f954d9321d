/* ptnum.c - prints the canonical (RFC 8785 / ECMAScript) spelling of each
 * double given on standard input as 16 hex digits of its IEEE-754 bits, one
 * a line; used by tests/integration/test_numbers.py and bench/numbers.sh to
 * compare the canonicaliser with an independent oracle. Non-finite bit
 * patterns print "nonfinite". */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jcs.h"

int main(void) {
  char line[128];
  static char obuf[1 << 16];
  setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
  while (fgets(line, sizeof line, stdin)) {
    char *end;
    uint64_t u = strtoull(line, &end, 16);
    if (end == line) {
      fprintf(stderr, "ptnum: not hex: %s", line);
      return 2;
    }
    double d;
    memcpy(&d, &u, sizeof d);
    if (!isfinite(d)) {
      fputs("nonfinite\n", stdout);
      continue;
    }
    char t[40];
    pt_jcs_number(d, t);
    fputs(t, stdout);
    fputc('\n', stdout);
  }
  return ferror(stdout) ? 2 : 0;
}
