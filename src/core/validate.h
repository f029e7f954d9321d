/* validate.h - turns a client's event (docs/concepts.md#sessions-and-events) into an owned
 * pt_event, or refuses it naming the member path and the rule it breaks. */
#ifndef PT_VALIDATE_H
#define PT_VALIDATE_H

#include <jansson.h>
#include <stdint.h>

#include "defs.h"
#include "event.h"
#include "pipetrack.h"

typedef struct pt_limits {
  size_t max_payload; /* bytes of canonical input / output */
  int max_depth;      /* nesting of input / output / the event itself */
} pt_limits;

#define PT_DEFAULT_MAX_PAYLOAD (64 * 1024)
#define PT_DEFAULT_MAX_DEPTH 32

/* Validates the event object v. prefix names it in error fields ("event",
 * "events[3]"). An absent id is generated from now_ms; an absent ts stays -1
 * for the tracker to fill with the receive time. */
pt_status pt_validate_event(const json_t *v, const pt_defs *defs, const pt_limits *lim,
                            int64_t now_ms, const char *prefix, pt_event **out, pt_error *err);

/* Parses JSON text as I-JSON (refusing duplicate names, lone surrogates,
 * invalid UTF-8, numbers out of double range). */
pt_status pt_parse_ijson(const char *text, size_t len, const char *what, json_t **out,
                         pt_error *err);

/* The canonical text of a JSON text, bounded by the limits. */
pt_status pt_canonical_payload(const char *text, size_t len, const pt_limits *lim,
                               const char *field, char **out, size_t *out_len, pt_error *err);

/* The same rules for an event built by a C caller (pt_event_in). */
pt_status pt_validate_struct(const pt_event_in *in, const pt_defs *defs, const pt_limits *lim,
                             int64_t now_ms, const char *prefix, pt_event **out, pt_error *err);

/* 1 when s[0..n) is valid UTF-8 without surrogates or overlong forms. */
int pt_utf8_valid(const char *s, size_t n);
#endif
