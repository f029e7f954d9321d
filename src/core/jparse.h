/* jparse.h - JSON text straight to its RFC 8785 canonical form, validating
 * I-JSON on the way, with no tree and no allocation per value; and the same
 * grammar into a jansson tree, for the texts read whole (events, requests,
 * import lines, definitions), so both readers accept exactly the same texts
 * (jansson's own reader refuses U+0000 in member names, which I-JSON
 * allows). */
#ifndef PT_JPARSE_H
#define PT_JPARSE_H

#include <jansson.h>
#include <stddef.h>
#include <string.h>

#include "buf.h"

/* The reasons of numbers a double cannot hold (err.reason holds one) */
#define PT_JPARSE_TOO_LARGE "number beyond the range of a double"
#define PT_JPARSE_TOO_SMALL "non-zero number too small for a double"

typedef struct pt_jparse_error {
  const char *reason; /* static text: "duplicate member name", ... */
  size_t offset;      /* byte offset in the text */
  int too_large;      /* out hit its limit */
  int too_deep;       /* nesting beyond max_depth */
  int line, column;   /* 1-based position of offset (column in characters) */
  /* A number a double cannot hold: 1 beyond its range (1e400), 2 not zero but
   * rounding to 0 (1e-400); 0 for every other error. Then path names the
   * number's place ("event.input.a", "[3].ts", "" at the top) and text holds
   * the number as written (cut with "..."). */
  int number;
  char path[112];
  char text[40];
} pt_jparse_error;

/* jansson's own nesting bound, kept for the texts read whole */
#define PT_JPARSE_TREE_MAX_DEPTH 2048

/* Length (1-4) of the valid UTF-8 sequence at s, or 0 when it is invalid
 * (truncated, overlong, a surrogate, or beyond U+10FFFF). s < end. */
int pt_utf8_seq_len(const unsigned char *s, const unsigned char *end);

/* Appends the canonical form of the JSON text to out (whose limit bounds the
 * size). max_depth bounds nesting of arrays and objects (<= 0: 512).
 * Returns 0, or -1 with err filled (out may then hold a partial text). */
int pt_jparse_canonical(const char *text, size_t len, int max_depth, pt_buf *out,
                        pt_jparse_error *err);

/* Parses the JSON text (any value at the top) into a new jansson tree in
 * *out, every number a real, member names of any bytes (U+0000 included:
 * iterate them with json_object_keylen_foreach). max_depth <= 0: 2048.
 * Returns 0 (the caller owns *out: json_decref), or -1 with *out NULL and
 * err filled. */
int pt_jparse_tree(const char *text, size_t len, int max_depth, json_t **out /* out */,
                   pt_jparse_error *err);

/* Writes what is wrong with the number of je (je->number != 0), for a
 * person: "1e400 is beyond the range of a double (...)". */
void pt_jparse_number_why(const pt_jparse_error *je, char *buf, size_t n);

/* Whether the member name k (kl bytes, NUL bytes possible) is exactly the C
 * string name: the test for known names, which strcmp would pass for
 * "id\u0000x" as "id". */
static inline int pt_json_name_is(const char *k, size_t kl, const char *name) {
  size_t n = strlen(name);
  return kl == n && memcmp(k, name, n) == 0;
}

/* Whether every member name of the object o is one of allowed (a
 * NULL-terminated list). Returns 1, or 0 with the first other name written
 * to bad (badsz >= 8) printably: cut to fit, control characters as \u00XX. */
int pt_json_only_members(const json_t *o, const char *const *allowed, char *bad, size_t badsz);

#endif
