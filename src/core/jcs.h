/* jcs.h - RFC 8785 JSON Canonicalization Scheme: ECMAScript number text,
 * UTF-16 key order, minimal string escaping. Pure functions, no I/O. */
#ifndef PT_JCS_H
#define PT_JCS_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"

/* Writes the ECMAScript Number::toString text of a finite double into out
 * (at least 32 bytes) and returns its length. -0 is "0". */
size_t pt_jcs_number(double v, char *out);

/* Appends the canonical form of v to b. Returns 0, or -1 when v nests deeper
 * than max_depth (0: no limit) or holds a non-finite number; b may then hold
 * a partial text. */
int pt_jcs_write(pt_buf *b, const json_t *v, int max_depth);

/* Compares two UTF-8 strings by their UTF-16 code units, as JCS orders
 * object members. */
int pt_jcs_keycmp(const char *a, size_t an, const char *b, size_t bn);

/* The flags every JSON text from outside is parsed with: I-JSON needs
 * duplicate names refused, every number as a double. */
#define PT_JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL)

#endif
