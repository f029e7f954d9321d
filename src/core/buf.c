/* buf.c - growable, capped byte buffer (see buf.h). */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pt_buf_init(pt_buf *b, size_t limit) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->limit = limit;
  b->failed = 0;
  b->borrowed = 0;
}

void pt_buf_init_on(pt_buf *b, char *storage, size_t cap) {
  pt_buf_init(b, 0);
  b->data = storage;
  b->cap = cap;
  b->borrowed = 1;
  storage[0] = '\0';
}

void pt_buf_cleanup(pt_buf *b) {
  if (!b->borrowed) free(b->data);
  pt_buf_init(b, b->limit);
}

void pt_buf_reset(pt_buf *b) {
  b->len = 0;
  b->failed = 0;
  if (b->data) b->data[0] = '\0';
}

int pt_buf_reserve(pt_buf *b, size_t extra) {
  if (b->failed) return -1;
  if (b->limit && b->len + extra > b->limit) {
    b->failed = 2;
    return -1;
  }
  size_t need = b->len + extra + 1; /* room for the terminating NUL */
  if (need <= b->cap) return 0;
  size_t ncap = b->cap ? b->cap : 256;
  while (ncap < need) ncap *= 2;
  char *p = b->borrowed ? malloc(ncap) : realloc(b->data, ncap);
  if (!p) {
    b->failed = 1;
    return -1;
  }
  if (b->borrowed) {
    memcpy(p, b->data, b->len);
    b->borrowed = 0;
  }
  b->data = p;
  b->cap = ncap;
  return 0;
}

void pt_buf_put(pt_buf *b, const void *p, size_t n) {
  if (pt_buf_reserve(b, n)) return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void pt_buf_puts(pt_buf *b, const char *s) {
  pt_buf_put(b, s, strlen(s));
}

void pt_buf_putc(pt_buf *b, char c) {
  if (pt_buf_reserve(b, 1)) return;
  b->data[b->len++] = c;
  b->data[b->len] = '\0';
}

static const char DIGITS2[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

size_t pt_u64_digits(uint64_t u, char *out) {
  char t[20];
  int n = 20;
  /* two digits at a time: timestamps have 13 */
  while (u >= 100) {
    unsigned r = (unsigned)(u % 100);
    u /= 100;
    t[--n] = DIGITS2[2 * r + 1];
    t[--n] = DIGITS2[2 * r];
  }
  if (u >= 10) {
    t[--n] = DIGITS2[2 * u + 1];
    t[--n] = DIGITS2[2 * u];
  } else {
    t[--n] = (char)('0' + u);
  }
  memcpy(out, t + n, (size_t)(20 - n));
  return (size_t)(20 - n);
}

void pt_buf_i64(pt_buf *b, int64_t v) {
  char tmp[21];
  size_t n = 0;
  if (v < 0) tmp[n++] = '-';
  n += pt_u64_digits(v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, tmp + n);
  pt_buf_put(b, tmp, n);
}

void pt_buf_printf(pt_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->failed = 1;
    return;
  }
  if ((size_t)n < sizeof small) {
    pt_buf_put(b, small, (size_t)n);
    return;
  }
  if (pt_buf_reserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void pt_buf_json_str(pt_buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  /* Size the output exactly first: reserving up front keeps the loop free of
   * per-byte checks, and an exact size keeps the buffer's limit exact. */
  size_t out = n + 2;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20)
      out += (c == '\b' || c == '\t' || c == '\n' || c == '\f' || c == '\r') ? 1 : 5;
    else if (c == '"' || c == '\\')
      out += 1;
  }
  if (pt_buf_reserve(b, out)) return;
  char *o = b->data + b->len;
  *o++ = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') {
      *o++ = (char)c;
      continue;
    }
    *o++ = '\\';
    switch (c) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '\b': *o++ = 'b'; break;
      case '\t': *o++ = 't'; break;
      case '\n': *o++ = 'n'; break;
      case '\f': *o++ = 'f'; break;
      case '\r': *o++ = 'r'; break;
      default:
        *o++ = 'u';
        *o++ = '0';
        *o++ = '0';
        *o++ = hex[c >> 4];
        *o++ = hex[c & 15];
    }
  }
  *o++ = '"';
  b->len = (size_t)(o - b->data);
  b->data[b->len] = '\0';
}

void pt_buf_json_cstr(pt_buf *b, const char *s) {
  if (!s)
    pt_buf_put(b, "null", 4);
  else
    pt_buf_json_str(b, s, strlen(s));
}

char *pt_buf_take(pt_buf *b) {
  if (b->failed) {
    pt_buf_cleanup(b);
    return NULL;
  }
  if (b->borrowed) {
    char *c = malloc(b->len + 1);
    if (c) {
      memcpy(c, b->data, b->len);
      c[b->len] = '\0';
    }
    pt_buf_init(b, b->limit);
    return c;
  }
  if (!b->data) {
    char *e = malloc(1);
    if (e) e[0] = '\0';
    return e;
  }
  char *d = b->data;
  pt_buf_init(b, b->limit);
  return d;
}

const char *pt_buf_cstr(pt_buf *b) {
  if (!b->data && pt_buf_reserve(b, 0)) return "";
  b->data[b->len] = '\0';
  return b->data;
}

void pt_buf_json_member(pt_buf *b, const char *head, const char *s) {
  pt_buf_puts(b, head);
  pt_buf_json_cstr(b, s);
}
