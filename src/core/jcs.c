/* jcs.c - RFC 8785 canonical JSON (see jcs.h). */
#include "jcs.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shortest.h"

/* Formats digits d[0..k) with decimal exponent n (value = 0.d * 10^n) the way
 * ECMAScript Number::toString does (ECMA-262 §6.1.6.1.20). */
static size_t es_format(const char *d, int k, int n, int neg, char *out) {
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

size_t pt_jcs_number(double v, char *out) {
  if (v == 0 || !isfinite(v)) { /* non-finite never reaches here (I-JSON) */
    out[0] = '0';
    out[1] = '\0';
    return 1;
  }
  int neg = v < 0;
  double a = neg ? -v : v;
  char d[24];
  int k, n;
  if (a < 9007199254740992.0 && a == floor(a)) {
    /* integers below 2^53 are exact: their digits are the answer */
    n = (int)pt_u64_digits((uint64_t)a, d);
    k = n;
    while (k > 1 && d[k - 1] == '0') k--;
  } else {
    k = pt_shortest_digits(a, d, &n);
  }
  return es_format(d, k, n, neg, out);
}

/* Next UTF-16 code unit of a UTF-8 string; *pending carries the low
 * surrogate of a supplementary character between calls. Input is valid UTF-8
 * (jansson checks it). Returns -1 at the end. */
static int next_unit(const unsigned char **p, const unsigned char *end, int *pending) {
  if (*pending >= 0) {
    int u = *pending;
    *pending = -1;
    return u;
  }
  if (*p >= end) return -1;
  const unsigned char *s = *p;
  uint32_t cp;
  if (s[0] < 0x80) {
    cp = s[0];
    *p += 1;
  } else if ((s[0] & 0xE0) == 0xC0 && end - s >= 2) {
    cp = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    *p += 2;
  } else if ((s[0] & 0xF0) == 0xE0 && end - s >= 3) {
    cp = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    *p += 3;
  } else if (end - s >= 4) {
    cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
         ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    *p += 4;
  } else {
    cp = s[0];
    *p += 1;
  }
  if (cp >= 0x10000) {
    cp -= 0x10000;
    *pending = (int)(0xDC00 + (cp & 0x3FF));
    return (int)(0xD800 + (cp >> 10));
  }
  return (int)cp;
}

int pt_jcs_keycmp(const char *a, size_t an, const char *b, size_t bn) {
  const unsigned char *pa = (const unsigned char *)a, *ea = pa + an;
  const unsigned char *pb = (const unsigned char *)b, *eb = pb + bn;
  /* Shared prefix bytes decode to shared units; skip them cheaply, backing up
   * to a character boundary. */
  size_t n = an < bn ? an : bn, i = 0;
  while (i < n && pa[i] == pb[i]) i++;
  while (i > 0 && (pa[i] & 0xC0) == 0x80) i--;
  pa += i;
  pb += i;
  int qa = -1, qb = -1;
  for (;;) {
    int ua = next_unit(&pa, ea, &qa), ub = next_unit(&pb, eb, &qb);
    if (ua != ub) return ua < ub ? -1 : 1;
    if (ua < 0) return 0;
  }
}

typedef struct member {
  const char *key;
  size_t len;
  json_t *value;
} member;

static int member_cmp(const void *x, const void *y) {
  const member *a = x, *b = y;
  return pt_jcs_keycmp(a->key, a->len, b->key, b->len);
}

static int write_value(pt_buf *b, const json_t *v, int depth, int max_depth) {
  switch (json_typeof(v)) {
    case JSON_NULL: pt_buf_put(b, "null", 4); return 0;
    case JSON_TRUE: pt_buf_put(b, "true", 4); return 0;
    case JSON_FALSE: pt_buf_put(b, "false", 5); return 0;
    case JSON_STRING: pt_buf_json_str(b, json_string_value(v), json_string_length(v)); return 0;
    case JSON_INTEGER:
    case JSON_REAL: {
      double d = json_number_value(v);
      if (!isfinite(d)) return -1;
      char t[40];
      size_t n = pt_jcs_number(d, t);
      pt_buf_put(b, t, n);
      return 0;
    }
    case JSON_ARRAY: {
      if (max_depth && depth >= max_depth) return -1;
      pt_buf_putc(b, '[');
      size_t n = json_array_size(v);
      for (size_t i = 0; i < n; i++) {
        if (i) pt_buf_putc(b, ',');
        if (write_value(b, json_array_get(v, i), depth + 1, max_depth)) return -1;
      }
      pt_buf_putc(b, ']');
      return 0;
    }
    case JSON_OBJECT: {
      if (max_depth && depth >= max_depth) return -1;
      size_t n = json_object_size(v);
      member stackm[16];
      member *m = n <= 16 ? stackm : malloc(n * sizeof *m);
      if (!m) {
        b->failed = 1;
        return -1;
      }
      size_t i = 0;
      const char *key;
      size_t klen;
      json_t *val;
      json_object_keylen_foreach((json_t *)v, key, klen, val) {
        m[i].key = key;
        m[i].len = klen;
        m[i].value = val;
        i++;
      }
      if (n > 1) qsort(m, n, sizeof *m, member_cmp);
      int rc = 0;
      pt_buf_putc(b, '{');
      for (i = 0; i < n && rc == 0; i++) {
        if (i) pt_buf_putc(b, ',');
        pt_buf_json_str(b, m[i].key, m[i].len);
        pt_buf_putc(b, ':');
        rc = write_value(b, m[i].value, depth + 1, max_depth);
      }
      pt_buf_putc(b, '}');
      if (m != stackm) free(m);
      return rc;
    }
  }
  return -1;
}

int pt_jcs_write(pt_buf *b, const json_t *v, int max_depth) {
  return write_value(b, v, 0, max_depth);
}
