/* monitor.c - what a program watching a tracker reads: its counters, and
 * the webhook outbox a deliverer drains (the rows, their marks, and the
 * body each delivery POSTs). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "internal.h"

void pt_counters_get(pt_tracker *t, pt_counters *out) {
  pt_tracker_stats st;
  pt__stats(t, &st);
  out->commits = st.commits;
  out->commit_failures = st.commit_failures;
  out->events_committed = st.events_committed;
  out->commit_ns = st.commit_ns;
  out->commit_retries = st.commit_retries;
}

pt_status pt_outbox_due(pt_tracker *t, int64_t now, pt_delivery *out, size_t max, size_t *n,
                        int64_t *waiting, pt_error *err) {
  *n = 0;
  pt_outbox rows[64];
  if (max > sizeof rows / sizeof *rows) max = sizeof rows / sizeof *rows;
  pt_status rc = pt__outbox_due(t, now, rows, max, n, waiting, err);
  for (size_t i = 0; rc == PT_OK && i < *n; i++) {
    out[i].id = rows[i].id;
    memcpy(out[i].issue_id, rows[i].issue_id, sizeof out[i].issue_id);
    memcpy(out[i].action, rows[i].action, sizeof out[i].action);
    out[i].created_at = rows[i].created_at;
    out[i].next_at = rows[i].next_at;
    out[i].attempts = rows[i].attempts;
  }
  return rc;
}

/* {"action", "issue", "report"}: the issue and its last session's report as
 * they are when sent, not as they were when queued. */
pt_status pt_delivery_body(pt_tracker *t, const pt_delivery *d, char **out, pt_error *err) {
  *out = NULL;
  char *issue = NULL, *report = NULL;
  pt_status rc = pt_issue_get(t, d->issue_id, &issue, err);
  if (rc != PT_OK) return rc;
  json_t *iv = NULL;
  if (pt_parse_ijson(issue, strlen(issue), "issue", &iv, NULL) != PT_OK) iv = NULL;
  const char *sid = json_string_value(json_object_get(iv, "last_session_id"));
  if (sid && pt_report(t, sid, PT_FORMAT_JSON, &report, NULL) != PT_OK) report = NULL;
  json_decref(iv);
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_buf_json_member(&b, "{\"action\":", d->action);
  pt_buf_puts(&b, ",\"issue\":");
  pt_buf_puts(&b, issue);
  pt_buf_puts(&b, ",\"report\":");
  pt_buf_puts(&b, report ? report : "null");
  pt_buf_putc(&b, '}');
  pt_free(issue);
  pt_free(report);
  *out = pt_buf_take(&b);
  return *out ? PT_OK : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}
