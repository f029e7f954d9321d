/* issue.c - see issue.h. */
#include "issue.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "jparse.h"
#include "sha.h"

static void copy_cut(char *dst, size_t cap, const char *src, size_t max) {
  size_t n = strlen(src);
  if (n > max) {
    n = max;
    while (n && ((unsigned char)src[n] & 0xC0) == 0x80) n--; /* not mid-character */
  }
  if (n >= cap) n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

void pt_issue_key(pt_issue *x, const pt_event *e, const char *stall_pipeline) {
  memset(x, 0, sizeof *x);
  x->open = 1;
  x->first_seen = x->last_seen = x->resolved_at = -1;
  if (e) {
    copy_cut(x->pipeline_type, sizeof x->pipeline_type, e->pipeline_type, 64);
    copy_cut(x->step, sizeof x->step, e->step, 64);
    const char *code = NULL;
    json_t *err = NULL;
    if (e->error_len > 4) {
      /* a code holding U+0000 groups by its text before it */
      if (pt_jparse_tree(e->error, e->error_len, 4, &err, NULL) != 0) err = NULL;
      code = json_string_value(json_object_get(err, "code"));
    }
    copy_cut(x->code, sizeof x->code, code && *code ? code : "unknown", PT_ISSUE_CODE_MAX);
    json_decref(err);
  } else {
    copy_cut(x->pipeline_type, sizeof x->pipeline_type, stall_pipeline, 64);
    /* a stall has no single step: the issue is the pipeline's */
    memcpy(x->step, "*", 2);
    memcpy(x->code, "stalled", 8);
  }
  snprintf(x->fingerprint, sizeof x->fingerprint, "%s/%s/%s", x->pipeline_type, x->step, x->code);
  char hex[65];
  pt_sha256_hex(x->fingerprint, strlen(x->fingerprint), hex);
  snprintf(x->id, sizeof x->id, "iss_%.24s", hex);
}

void pt_issue_cleanup(pt_issue *x) {
  free(x->sample_event);
  x->sample_event = NULL;
}

int pt_issue_copy(pt_issue *dst, const pt_issue *src) {
  char *sample = src->sample_event ? strdup(src->sample_event) : NULL;
  if (src->sample_event && !sample) return -1;
  free(dst->sample_event);
  *dst = *src;
  dst->sample_event = sample;
  return 0;
}

void pt_issue_write_json(pt_buf *b, const pt_issue *x) {
  pt_buf_json_member(b, "{\"id\":", x->id);
  pt_buf_json_member(b, ",\"fingerprint\":", x->fingerprint);
  pt_buf_puts(b, ",\"title\":");
  char title[400];
  if (strcmp(x->code, "stalled") == 0 && strcmp(x->step, "*") == 0)
    snprintf(title, sizeof title, "%s sessions stalled", x->pipeline_type);
  else if (strcmp(x->code, "unknown") == 0)
    snprintf(title, sizeof title, "%s failed in %s", x->step, x->pipeline_type);
  else
    snprintf(title, sizeof title, "%s failed in %s: %s", x->step, x->pipeline_type, x->code);
  pt_buf_json_cstr(b, title);
  pt_buf_json_member(b, ",\"pipeline_type\":", x->pipeline_type);
  pt_buf_json_member(b, ",\"step\":", x->step);
  pt_buf_json_member(b, ",\"code\":", x->code);
  pt_buf_printf(b,
                ",\"status\":\"%s\",\"count\":%" PRId64 ",\"sessions_affected\":%" PRId64
                ",\"first_seen\":%" PRId64 ",\"last_seen\":%" PRId64 ",\"reopened\":%" PRId64,
                x->open ? "open" : "resolved", x->count, x->sessions_affected, x->first_seen,
                x->last_seen, x->reopened);
  pt_buf_puts(b, ",\"resolved_at\":");
  if (x->resolved_at >= 0)
    pt_buf_i64(b, x->resolved_at);
  else
    pt_buf_puts(b, "null");
  pt_buf_json_member(b, ",\"last_session_id\":", x->last_session_id[0] ? x->last_session_id : NULL);
  pt_buf_puts(b, ",\"sample_event\":");
  pt_buf_puts(b, x->sample_event ? x->sample_event : "null");
  pt_buf_putc(b, '}');
}
