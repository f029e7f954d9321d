/* error.c - the error table's strings and pt_error helpers. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "jparse.h"
#include "validate.h"

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

/* Error texts are UTF-8 wherever they are written (an answer, a batch's
 * results, a log): a text cut to fit a buffer mid-character (here, or a
 * long member name cut by pt_json_only_members) gets '?' for each byte that
 * starts no whole UTF-8 sequence, in place (found by fuzz_request). */
static void whole_utf8(char *s) {
  const unsigned char *e = (const unsigned char *)s + strlen(s);
  for (unsigned char *p = (unsigned char *)s; p < e;) {
    int len = *p < 0x80 ? 1 : pt_utf8_seq_len(p, e);
    if (len) {
      p += len;
    } else {
      *p++ = '?';
    }
  }
}

pt_status pt_fail(pt_error *err, pt_status code, const char *field, const char *fmt, ...) {
  if (!err) return code;
  err->code = code;
  snprintf(err->field, sizeof err->field, "%s", field ? field : "");
  whole_utf8(err->field);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  whole_utf8(err->message);
  /* Messages are one line: a newline from a payload must not split a log. */
  for (char *p = err->message; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
  return code;
}

unsigned pt_http_status(pt_status code) {
  switch (code) {
    case PT_OK: return 200;
    case PT_EINVALID_JSON:
    case PT_EINVALID:
    case PT_EDEFINITIONS: return 400;
    case PT_EUNKNOWN_PIPELINE:
    case PT_EUNKNOWN_STEP: return 422;
    case PT_ESESSION_CONFLICT:
    case PT_EEVENT_ID_CONFLICT: return 409;
    case PT_ENOTFOUND: return 404;
    case PT_ETOOBIG: return 413;
    case PT_ESTORAGE:
    case PT_ENOMEM: return 503;
    default: return 500;
  }
}

/* Appends head and s as a JSON string. A message may quote what a client
 * sent (a path, a query value) and be cut at its buffer's end mid-character,
 * so each byte that starts no whole UTF-8 sequence is written as U+FFFD:
 * the answer stays I-JSON (found by fuzz_query). */
static void text_member(pt_buf *b, const char *head, const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (!s || pt_utf8_valid(s, n)) {
    pt_buf_json_member(b, head, s);
    return;
  }
  pt_buf t;
  pt_buf_init(&t, 0);
  const unsigned char *p = (const unsigned char *)s, *e = p + n;
  while (p < e) {
    int len = pt_utf8_seq_len(p, e);
    if (len) {
      pt_buf_put(&t, (const char *)p, (size_t)len);
      p += len;
    } else {
      pt_buf_puts(&t, "\xef\xbf\xbd");
      p++;
    }
  }
  pt_buf_puts(b, head);
  if (t.failed)
    b->failed = 1;
  else
    pt_buf_json_str(b, t.data, t.len);
  pt_buf_cleanup(&t);
}

char *pt_error_json(const char *code, const char *message, const char *field) {
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_buf_json_member(&b, "{\"error\":{\"code\":", code);
  text_member(&b, ",\"message\":", message);
  text_member(&b, ",\"field\":", field && *field ? field : NULL);
  pt_buf_puts(&b, "}}");
  return pt_buf_take(&b);
}
