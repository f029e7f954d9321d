/* error.h - filling a pt_error (from the public header) in one call. */
#ifndef PT_ERROR_H
#define PT_ERROR_H

#include "pipetrack.h"

/* Sets err (when not NULL) and returns code, so `return pt_fail(...)` reads
 * naturally. field may be NULL. */
pt_status pt_fail(pt_error *err, pt_status code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void pt_error_clear(pt_error *err);

/* The HTTP status docs/api.md gives an error code (the server answers it; the
 * tool's --db mode reports the same). */
unsigned pt_http_status(pt_status code);
/* {"error": {"code", "message", "field"}} (docs/api.md), field null when empty;
 * malloc'd, NULL when out of memory. */
char *pt_error_json(const char *code, const char *message, const char *field);

#endif
