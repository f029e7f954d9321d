/* jparse.h - JSON text straight to its RFC 8785 canonical form, validating
 * I-JSON on the way, with no tree and no allocation per value. */
#ifndef PT_JPARSE_H
#define PT_JPARSE_H

#include <stddef.h>

#include "buf.h"

typedef struct pt_jparse_error {
  const char *reason; /* static text: "duplicate member name", ... */
  size_t offset;      /* byte offset in the text */
  int too_large;      /* out hit its limit */
  int too_deep;       /* nesting beyond max_depth */
} pt_jparse_error;

/* Appends the canonical form of the JSON text to out (whose limit bounds the
 * size). max_depth bounds nesting of arrays and objects (<= 0: 512).
 * Returns 0, or -1 with err filled (out may then hold a partial text). */
/* Length (1-4) of the valid UTF-8 sequence at s, or 0 when it is invalid
 * (truncated, overlong, a surrogate, or beyond U+10FFFF). s < end. */
int pt_utf8_seq_len(const unsigned char *s, const unsigned char *end);

int pt_jparse_canonical(const char *text, size_t len, int max_depth, pt_buf *out,
                        pt_jparse_error *err);

#endif
