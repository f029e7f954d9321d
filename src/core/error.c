/* error.c - the error table's strings and pt_error helpers. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const names[] = {
#define PT_X_NAME(name, code, desc) code,
    PT_ERRNO_MAP(PT_X_NAME)
#undef PT_X_NAME
};

static const char *const descs[] = {
#define PT_X_DESC(name, code, desc) desc,
    PT_ERRNO_MAP(PT_X_DESC)
#undef PT_X_DESC
};

const char *pt_strerror(pt_status s) {
  if ((unsigned)s >= PT_STATUS_COUNT) return "unknown error";
  return descs[s];
}

const char *pt_err_name(pt_status s) {
  if ((unsigned)s >= PT_STATUS_COUNT) return "unknown";
  return names[s];
}

void pt_error_clear(pt_error *err) {
  if (!err) return;
  err->code = PT_OK;
  err->message[0] = '\0';
  err->field[0] = '\0';
}

pt_status pt_fail(pt_error *err, pt_status code, const char *field, const char *fmt, ...) {
  if (!err) return code;
  err->code = code;
  snprintf(err->field, sizeof err->field, "%s", field ? field : "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  /* Messages are one line: a newline from a payload must not split a log. */
  for (char *p = err->message; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
  return code;
}
