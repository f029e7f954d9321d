/* jparse.c - a validating JSON parser that writes the RFC 8785 canonical
 * form as it reads, without building a tree: the hot path of every tracked
 * payload. It enforces I-JSON (RFC 7493) as jansson does with our flags:
 * UTF-8 only, no lone surrogates, no duplicate member names, numbers a double
 * can hold. Objects are canonicalised by writing each member's canonical text
 * to a per-depth scratch buffer, sorting, and copying out. */
#include "jparse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jcs.h"

#define HARD_MAX_DEPTH 512

typedef struct member {
  size_t key, key_len;   /* raw (unescaped) key in the level's key buffer */
  size_t body, body_len; /* canonical "key":value in the level's body buffer */
} member;

typedef struct level {
  pt_buf keys, body;
  member *m;
  size_t cap;
  int m_inline; /* m points at the jp's inline array */
} level;

typedef struct jp {
  const char *start, *p, *end;
  int max_depth;
  const char *why;
  size_t where;
  level **levels; /* one per object depth, reused by siblings; each level
                   * has its own allocation so deeper growth never moves a
                   * buffer a caller is writing into */
  int nlevels;
  pt_buf str; /* scratch for one unescaped string */
  /* The outermost object level and the string scratch start on the stack:
   * a typical payload parses without a single allocation. */
  level l0;
  level *l0p;
  member m0[16];
  char s_str[256], s_keys[256], s_body[1024];
} jp;

static int fail(jp *x, const char *why) {
  if (!x->why) {
    x->why = why;
    x->where = (size_t)(x->p - x->start);
  }
  return -1;
}

static void ws(jp *x) {
  while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r')) x->p++;
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

static void put_utf8(pt_buf *b, unsigned cp) {
  char t[4];
  size_t n;
  if (cp < 0x80) {
    t[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    t[0] = (char)(0xC0 | (cp >> 6));
    t[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    t[0] = (char)(0xE0 | (cp >> 12));
    t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    t[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    t[0] = (char)(0xF0 | (cp >> 18));
    t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    t[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  pt_buf_put(b, t, n);
}

int pt_utf8_seq_len(const unsigned char *s, const unsigned char *end) {
  unsigned c = s[0];
  int len;
  unsigned cp, min;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0)
    len = 2, cp = c & 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0)
    len = 3, cp = c & 0x0F, min = 0x800;
  else if ((c & 0xF8) == 0xF0)
    len = 4, cp = c & 0x07, min = 0x10000;
  else
    return 0;
  if (end - s < len) return 0;
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

/* Reads a string (at the opening quote) into x->str, unescaped. */
static int string(jp *x) {
  pt_buf *b = &x->str;
  pt_buf_reset(b);
  x->p++; /* the quote */
  for (;;) {
    /* copy the run of plain bytes at once */
    const char *run = x->p;
    while (x->p < x->end) {
      unsigned char c = (unsigned char)*x->p;
      if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
      x->p++;
    }
    if (x->p > run) pt_buf_put(b, run, (size_t)(x->p - run));
    if (x->p >= x->end) return fail(x, "unterminated string");
    unsigned char c = (unsigned char)*x->p;
    if (c == '"') {
      x->p++;
      return b->failed ? fail(x, "out of memory") : 0;
    }
    if (c < 0x20) return fail(x, "control character in string");
    if (c >= 0x80) {
      int n = pt_utf8_seq_len((const unsigned char *)x->p, (const unsigned char *)x->end);
      if (!n) return fail(x, "invalid UTF-8");
      pt_buf_put(b, x->p, (size_t)n);
      x->p += n;
      continue;
    }
    /* an escape */
    if (x->end - x->p < 2) return fail(x, "unterminated string");
    char e = x->p[1];
    x->p += 2;
    switch (e) {
      case '"': pt_buf_putc(b, '"'); break;
      case '\\': pt_buf_putc(b, '\\'); break;
      case '/': pt_buf_putc(b, '/'); break;
      case 'b': pt_buf_putc(b, '\b'); break;
      case 'f': pt_buf_putc(b, '\f'); break;
      case 'n': pt_buf_putc(b, '\n'); break;
      case 'r': pt_buf_putc(b, '\r'); break;
      case 't': pt_buf_putc(b, '\t'); break;
      case 'u': {
        unsigned cp;
        if (x->end - x->p < 4 || hex4(x->p, &cp)) return fail(x, "invalid \\u escape");
        x->p += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(x, "lone low surrogate");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned lo;
          if (x->end - x->p < 6 || x->p[0] != '\\' || x->p[1] != 'u' || hex4(x->p + 2, &lo) ||
              lo < 0xDC00 || lo > 0xDFFF)
            return fail(x, "lone high surrogate");
          x->p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        put_utf8(b, cp);
        break;
      }
      default: return fail(x, "invalid escape");
    }
  }
}

/* Reads a number into *v: JSON grammar, and within a double's range. A
 * number within it is rounded to the nearest double (RFC 8785 section 3.2.2.3);
 * one beyond it, or a non-zero one that would round to 0, is refused. */
static int lex_number(jp *x, double *v) {
  const char *s = x->p;
  const char *q = s;
  if (q < x->end && *q == '-') q++;
  if (q >= x->end) return fail(x, "invalid number");
  if (*q == '0') {
    q++;
  } else if (*q >= '1' && *q <= '9') {
    while (q < x->end && *q >= '0' && *q <= '9') q++;
  } else {
    return fail(x, "invalid number");
  }
  int simple = 1;
  if (q < x->end && *q == '.') {
    simple = 0;
    q++;
    if (q >= x->end || !(*q >= '0' && *q <= '9')) return fail(x, "invalid number");
    while (q < x->end && *q >= '0' && *q <= '9') q++;
  }
  if (q < x->end && (*q == 'e' || *q == 'E')) {
    simple = 0;
    q++;
    if (q < x->end && (*q == '+' || *q == '-')) q++;
    if (q >= x->end || !(*q >= '0' && *q <= '9')) return fail(x, "invalid number");
    while (q < x->end && *q >= '0' && *q <= '9') q++;
  }
  size_t n = (size_t)(q - s);
  x->p = q;
  if (simple && n <= 16) {
    /* at most 15 digits (and a sign): exact in a double, no strtod needed */
    int neg = *s == '-';
    uint64_t u = 0;
    for (const char *d = s + neg; d < q; d++) u = u * 10 + (uint64_t)(*d - '0');
    if (u < (1ULL << 53)) {
      *v = neg ? -(double)u : (double)u;
      return 0;
    }
  }
  {
    char small[64];
    char *t = n < sizeof small ? small : malloc(n + 1);
    if (!t) return fail(x, "out of memory");
    memcpy(t, s, n);
    t[n] = '\0';
    *v = strtod(t, NULL);
    if (t != small) free(t);
    if (!isfinite(*v)) {
      x->p = s;
      return fail(x, PT_JPARSE_TOO_LARGE);
    }
    if (*v == 0) {
      /* a zero read from non-zero digits underflowed: refused rather than
       * stored as a 0 nobody sent (subnormals down to 5e-324 are kept) */
      for (const char *d = s; d < q && *d != 'e' && *d != 'E'; d++)
        if (*d >= '1' && *d <= '9') {
          x->p = s;
          return fail(x, PT_JPARSE_TOO_SMALL);
        }
    }
  }
  return 0;
}

static int number(jp *x, pt_buf *out) {
  double v;
  if (lex_number(x, &v)) return -1;
  char txt[40];
  pt_buf_put(out, txt, pt_jcs_number(v, txt));
  return 0;
}

static int value(jp *x, pt_buf *out, int depth);

static int keycmp_at(const level *l, const member *a, const member *b) {
  return pt_jcs_keycmp(l->keys.data + a->key, a->key_len, l->keys.data + b->key, b->key_len);
}

/* qsort has no context argument in C11; objects are small, so an insertion
 * sort over member structs (stable, no allocation) is the right tool. */
static void sort_members(const level *l, member *m, size_t n) {
  for (size_t i = 1; i < n; i++) {
    member t = m[i];
    size_t j = i;
    while (j > 0 && keycmp_at(l, &m[j - 1], &t) > 0) {
      m[j] = m[j - 1];
      j--;
    }
    m[j] = t;
  }
}

static int object(jp *x, pt_buf *out, int depth) {
  while (depth >= x->nlevels) {
    level **nl = x->levels == &x->l0p ? malloc((size_t)(x->nlevels + 1) * sizeof *nl)
                                      : realloc(x->levels, (size_t)(x->nlevels + 1) * sizeof *nl);
    if (!nl) return fail(x, "out of memory");
    if (x->levels == &x->l0p) nl[0] = x->l0p;
    x->levels = nl;
    level *lv = calloc(1, sizeof *lv);
    if (!lv) return fail(x, "out of memory");
    pt_buf_init(&lv->keys, 0);
    pt_buf_init(&lv->body, 0);
    x->levels[x->nlevels++] = lv;
  }
  level *l = x->levels[depth];
  pt_buf_reset(&l->keys);
  pt_buf_reset(&l->body);
  size_t n = 0;
  x->p++; /* { */
  ws(x);
  if (x->p < x->end && *x->p == '}') {
    x->p++;
    pt_buf_put(out, "{}", 2);
    return 0;
  }
  for (;;) {
    ws(x);
    if (x->p >= x->end || *x->p != '"') return fail(x, "expected a member name");
    if (string(x)) return -1;
    if (n == l->cap) {
      size_t nc = l->cap ? l->cap * 2 : 8;
      member *nm = l->m_inline ? malloc(nc * sizeof *nm) : realloc(l->m, nc * sizeof *nm);
      if (!nm) return fail(x, "out of memory");
      if (l->m_inline) memcpy(nm, l->m, n * sizeof *nm);
      l->m_inline = 0;
      l->m = nm;
      l->cap = nc;
    }
    member *m = &l->m[n];
    m->key = l->keys.len;
    m->key_len = x->str.len;
    pt_buf_put(&l->keys, x->str.data ? x->str.data : "", x->str.len);
    m->body = l->body.len;
    pt_buf_json_str(&l->body, x->str.data ? x->str.data : "", x->str.len);
    pt_buf_putc(&l->body, ':');
    ws(x);
    if (x->p >= x->end || *x->p != ':') return fail(x, "expected ':'");
    x->p++;
    if (value(x, &l->body, depth + 1)) return -1;
    l->m[n].body_len = l->body.len - l->m[n].body;
    n++;
    ws(x);
    if (x->p < x->end && *x->p == ',') {
      x->p++;
      continue;
    }
    if (x->p < x->end && *x->p == '}') {
      x->p++;
      break;
    }
    return fail(x, "expected ',' or '}'");
  }
  if (l->keys.failed || l->body.failed) return fail(x, "out of memory");
  sort_members(l, l->m, n);
  for (size_t i = 1; i < n; i++)
    if (keycmp_at(l, &l->m[i - 1], &l->m[i]) == 0) return fail(x, "duplicate member name");
  pt_buf_putc(out, '{');
  for (size_t i = 0; i < n; i++) {
    if (i) pt_buf_putc(out, ',');
    pt_buf_put(out, l->body.data + l->m[i].body, l->m[i].body_len);
  }
  pt_buf_putc(out, '}');
  return 0;
}

static int array(jp *x, pt_buf *out, int depth) {
  x->p++; /* [ */
  pt_buf_putc(out, '[');
  ws(x);
  if (x->p < x->end && *x->p == ']') {
    x->p++;
    pt_buf_putc(out, ']');
    return 0;
  }
  for (int first = 1;; first = 0) {
    if (!first) pt_buf_putc(out, ',');
    if (value(x, out, depth + 1)) return -1;
    ws(x);
    if (x->p < x->end && *x->p == ',') {
      x->p++;
      continue;
    }
    if (x->p < x->end && *x->p == ']') {
      x->p++;
      pt_buf_putc(out, ']');
      return 0;
    }
    return fail(x, "expected ',' or ']'");
  }
}

static int literal(jp *x, pt_buf *out, const char *word, size_t n) {
  if ((size_t)(x->end - x->p) < n || memcmp(x->p, word, n) != 0) return fail(x, "invalid literal");
  x->p += n;
  pt_buf_put(out, word, n);
  return 0;
}

static int value(jp *x, pt_buf *out, int depth) {
  ws(x);
  if (x->p >= x->end) return fail(x, "unexpected end of text");
  char c = *x->p;
  if (c == '{' || c == '[') {
    if (depth >= x->max_depth) return fail(x, "nested too deeply");
    return c == '{' ? object(x, out, depth) : array(x, out, depth);
  }
  if (c == '"') {
    if (string(x)) return -1;
    pt_buf_json_str(out, x->str.data ? x->str.data : "", x->str.len);
    return 0;
  }
  if (c == '-' || (c >= '0' && c <= '9')) return number(x, out);
  if (c == 't') return literal(x, out, "true", 4);
  if (c == 'f') return literal(x, out, "false", 5);
  if (c == 'n') return literal(x, out, "null", 4);
  return fail(x, "unexpected character");
}

static void jp_init(jp *x, const char *text, size_t len, int max_depth, int hard_max) {
  memset(x, 0, sizeof *x);
  x->start = x->p = text;
  x->end = text + len;
  x->max_depth = max_depth > 0 && max_depth < hard_max ? max_depth : hard_max;
  pt_buf_init_on(&x->str, x->s_str, sizeof x->s_str);
  pt_buf_init_on(&x->l0.keys, x->s_keys, sizeof x->s_keys);
  pt_buf_init_on(&x->l0.body, x->s_body, sizeof x->s_body);
  x->l0.m = x->m0;
  x->l0.cap = sizeof x->m0 / sizeof *x->m0;
  x->l0.m_inline = 1;
  x->l0p = &x->l0;
  x->levels = &x->l0p;
  x->nlevels = 1;
}

static void jp_cleanup(jp *x) {
  for (int i = 0; i < x->nlevels; i++) {
    pt_buf_cleanup(&x->levels[i]->keys);
    pt_buf_cleanup(&x->levels[i]->body);
    if (!x->levels[i]->m_inline) free(x->levels[i]->m);
    if (i) free(x->levels[i]);
  }
  if (x->levels != &x->l0p) free(x->levels);
  pt_buf_cleanup(&x->str);
}

/* Appends the member name (the string at s, already read once) printably. */
static void put_name(const char *s, const char *end, pt_buf *b) {
  jp y;
  jp_init(&y, s, (size_t)(end - s), 0, HARD_MAX_DEPTH);
  if (string(&y) == 0)
    for (size_t i = 0; i < y.str.len; i++) {
      unsigned char c = (unsigned char)y.str.data[i];
      if (c < 0x20) {
        char t[8];
        pt_buf_put(b, t, (size_t)snprintf(t, sizeof t, "\\u%04x", c));
      } else {
        pt_buf_putc(b, (char)c);
      }
    }
  jp_cleanup(&y);
}

typedef struct frame {
  const char *key; /* the member name being read (objects), or NULL */
  size_t idx;      /* the element being read (arrays) */
  int obj, want_key;
} frame;

/* The path ("a.b[2].c") of the value starting at text + at, in a text whose
 * bytes before it the parser accepted. Only errors need a path, so it is
 * found by reading again rather than kept on the hot path. */
static void path_at(const char *text, size_t at, char *out, size_t outsz) {
  frame *f = NULL;
  size_t n = 0, cap = 0;
  jp y;
  jp_init(&y, text, at, 0, HARD_MAX_DEPTH);
  out[0] = '\0';
  while (y.p < y.end) {
    char c = *y.p;
    if (c == '{' || c == '[') {
      if (n == cap) {
        size_t nc = cap ? 2 * cap : 16;
        frame *nf = realloc(f, nc * sizeof *nf);
        if (!nf) goto done;
        f = nf;
        cap = nc;
      }
      f[n++] = (frame){NULL, 0, c == '{', c == '{'};
      y.p++;
    } else if (c == '}' || c == ']') {
      if (n) n--;
      y.p++;
    } else if (c == ',') {
      if (n && f[n - 1].obj)
        f[n - 1].want_key = 1;
      else if (n)
        f[n - 1].idx++;
      y.p++;
    } else if (c == '"') {
      const char *s = y.p;
      if (string(&y)) goto done;
      if (n && f[n - 1].obj && f[n - 1].want_key) {
        f[n - 1].key = s;
        f[n - 1].want_key = 0;
      }
    } else {
      y.p++; /* white space, ':', a number's or a literal's characters */
    }
  }
  pt_buf b;
  pt_buf_init(&b, outsz - 1);
  for (size_t i = 0; i < n; i++) {
    if (f[i].obj && f[i].key) {
      if (i) pt_buf_putc(&b, '.');
      put_name(f[i].key, text + at, &b);
    } else if (!f[i].obj) {
      char t[24];
      pt_buf_put(&b, t, (size_t)snprintf(t, sizeof t, "[%zu]", f[i].idx));
    }
  }
  if (b.data) {
    size_t k = b.len < outsz - 1 ? b.len : outsz - 1;
    memcpy(out, b.data, k);
    out[k] = '\0';
  }
  pt_buf_cleanup(&b);
done:
  jp_cleanup(&y);
  free(f);
}

static void jp_error(const jp *x, int too_large, pt_jparse_error *err) {
  if (!err) return;
  err->number = 0;
  err->path[0] = err->text[0] = '\0';
  int big = x->why && strcmp(x->why, PT_JPARSE_TOO_LARGE) == 0;
  if (big || (x->why && strcmp(x->why, PT_JPARSE_TOO_SMALL) == 0)) {
    err->number = big ? 1 : 2;
    const char *s = x->start + x->where;
    size_t k = 0, cut = sizeof err->text - 4;
    while (s + k < x->end && s[k] && strchr("0123456789+-.eE", s[k])) k++;
    if (k <= cut) {
      memcpy(err->text, s, k);
      err->text[k] = '\0';
    } else {
      memcpy(err->text, s, cut);
      memcpy(err->text + cut, "...", 4);
    }
    path_at(x->start, x->where, err->path, sizeof err->path);
  }
  err->reason = x->why;
  err->offset = x->where;
  err->too_large = too_large;
  err->too_deep = x->why && strcmp(x->why, "nested too deeply") == 0;
  err->line = 1;
  err->column = 1;
  for (size_t i = 0; i < x->where && x->start + i < x->end; i++) {
    if (x->start[i] == '\n') {
      err->line++;
      err->column = 1;
    } else if (((unsigned char)x->start[i] & 0xC0) != 0x80) {
      err->column++; /* a character, not a continuation byte */
    }
  }
}

int pt_jparse_canonical(const char *text, size_t len, int max_depth, pt_buf *out,
                        pt_jparse_error *err) {
  jp x;
  jp_init(&x, text, len, max_depth, HARD_MAX_DEPTH);
  int rc = value(&x, out, 0);
  if (rc == 0) {
    ws(&x);
    if (x.p != x.end) rc = fail(&x, "text after the value");
  }
  if (rc == 0 && out->failed) rc = fail(&x, out->failed == 2 ? "too large" : "out of memory");
  jp_cleanup(&x);
  if (rc) jp_error(&x, out->failed == 2, err);
  return rc;
}

/* ---- the same grammar into a jansson tree ---- */

static int tvalue(jp *x, int depth, json_t **out);

static int tobject(jp *x, int depth, json_t **out) {
  json_t *o = json_object();
  if (!o) return fail(x, "out of memory");
  x->p++; /* { */
  ws(x);
  if (x->p < x->end && *x->p == '}') {
    x->p++;
    *out = o;
    return 0;
  }
  char small[64];
  for (;;) {
    ws(x);
    if (x->p >= x->end || *x->p != '"') goto bad_name;
    const char *at = x->p;
    if (string(x)) goto fail_out;
    /* the value's strings reuse x->str: keep the name aside */
    size_t klen = x->str.len;
    char *key = klen < sizeof small ? small : malloc(klen + 1);
    if (!key) {
      fail(x, "out of memory");
      goto fail_out;
    }
    if (klen) memcpy(key, x->str.data, klen);
    key[klen] = '\0';
    if (json_object_getn(o, key, klen)) {
      if (key != small) free(key);
      x->p = at;
      fail(x, "duplicate member name");
      goto fail_out;
    }
    ws(x);
    json_t *v = NULL;
    if (x->p >= x->end || *x->p != ':') {
      fail(x, "expected ':'");
    } else {
      x->p++;
      if (tvalue(x, depth + 1, &v) == 0 && json_object_setn_new_nocheck(o, key, klen, v) != 0)
        fail(x, "out of memory");
    }
    if (key != small) free(key);
    if (x->why) goto fail_out;
    ws(x);
    if (x->p < x->end && *x->p == ',') {
      x->p++;
      continue;
    }
    if (x->p < x->end && *x->p == '}') {
      x->p++;
      *out = o;
      return 0;
    }
    fail(x, "expected ',' or '}'");
    goto fail_out;
  }
bad_name:
  fail(x, "expected a member name");
fail_out:
  json_decref(o);
  return -1;
}

static int tarray(jp *x, int depth, json_t **out) {
  json_t *a = json_array();
  if (!a) return fail(x, "out of memory");
  x->p++; /* [ */
  ws(x);
  if (x->p < x->end && *x->p == ']') {
    x->p++;
    *out = a;
    return 0;
  }
  for (;;) {
    json_t *v = NULL;
    if (tvalue(x, depth + 1, &v)) break;
    if (json_array_append_new(a, v) != 0) {
      fail(x, "out of memory");
      break;
    }
    ws(x);
    if (x->p < x->end && *x->p == ',') {
      x->p++;
      continue;
    }
    if (x->p < x->end && *x->p == ']') {
      x->p++;
      *out = a;
      return 0;
    }
    fail(x, "expected ',' or ']'");
    break;
  }
  json_decref(a);
  return -1;
}

static int tliteral(jp *x, const char *word, size_t n, json_t *v, json_t **out) {
  if ((size_t)(x->end - x->p) < n || memcmp(x->p, word, n) != 0) return fail(x, "invalid literal");
  x->p += n;
  *out = v;
  return 0;
}

static int tvalue(jp *x, int depth, json_t **out) {
  ws(x);
  if (x->p >= x->end) return fail(x, "unexpected end of text");
  char c = *x->p;
  if (c == '{' || c == '[') {
    if (depth >= x->max_depth) return fail(x, "nested too deeply");
    return c == '{' ? tobject(x, depth, out) : tarray(x, depth, out);
  }
  if (c == '"') {
    if (string(x)) return -1;
    *out = json_stringn_nocheck(x->str.data ? x->str.data : "", x->str.len);
    return *out ? 0 : fail(x, "out of memory");
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    double d;
    if (lex_number(x, &d)) return -1;
    *out = json_real(d);
    return *out ? 0 : fail(x, "out of memory");
  }
  if (c == 't') return tliteral(x, "true", 4, json_true(), out);
  if (c == 'f') return tliteral(x, "false", 5, json_false(), out);
  if (c == 'n') return tliteral(x, "null", 4, json_null(), out);
  return fail(x, "unexpected character");
}

int pt_jparse_tree(const char *text, size_t len, int max_depth, json_t **out,
                   pt_jparse_error *err) {
  *out = NULL;
  jp x;
  jp_init(&x, text, len, max_depth, PT_JPARSE_TREE_MAX_DEPTH);
  json_t *v = NULL;
  int rc = tvalue(&x, 0, &v);
  if (rc == 0) {
    ws(&x);
    if (x.p != x.end) rc = fail(&x, "text after the value");
  }
  jp_cleanup(&x);
  if (rc) {
    json_decref(v);
    jp_error(&x, 0, err);
    return -1;
  }
  *out = v;
  return 0;
}

void pt_jparse_number_why(const pt_jparse_error *je, char *buf, size_t n) {
  if (je->number == 1)
    snprintf(buf, n,
             "%s is beyond the range of a double (magnitude at most 1.7976931348623157e308)",
             je->text);
  else
    snprintf(buf, n,
             "%s is not zero but too small for a double, which would read it as 0 (smallest "
             "magnitude 5e-324)",
             je->text);
}

int pt_json_only_members(const json_t *o, const char *const *allowed, char *bad, size_t badsz) {
  const char *k;
  size_t kl;
  json_t *v;
  json_object_keylen_foreach((json_t *)o, k, kl, v) {
    int ok = 0;
    for (const char *const *a = allowed; *a && !ok; a++) ok = pt_json_name_is(k, kl, *a);
    if (ok) continue;
    size_t n = 0;
    for (size_t i = 0; i < kl && n + 7 < badsz;) {
      unsigned char c = (unsigned char)k[i];
      if (c < 0x20) {
        n += (size_t)snprintf(bad + n, badsz - n, "\\u%04x", c);
        i++;
        continue;
      }
      /* a whole character or none: a name cut inside one would make the
       * error text invalid UTF-8 (names are I-JSON: their sequences are
       * whole) */
      size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      if (i + len > kl || n + len + 7 > badsz) break;
      memcpy(bad + n, k + i, len);
      n += len;
      i += len;
    }
    bad[n] = '\0';
    (void)v;
    return 0;
  }
  return 1;
}
