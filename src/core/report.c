/* report.c - the issue report (see report.h). */
#include "report.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "jparse.h"

static void step_list(pt_buf *b, const char *name, const int *idx, int n, const pt_pipeline *p) {
  pt_buf_printf(b, ",\"%s\":[", name);
  for (int i = 0; i < n; i++) {
    if (i) pt_buf_putc(b, ',');
    pt_buf_json_cstr(b, p->steps[idx[i]]);
  }
  pt_buf_putc(b, ']');
}

void pt_report_json_head(pt_buf *b, const pt_report_in *r) {
  const pt_cksum *c = r->checksum;
  pt_buf_json_member(b, "{\"session_id\":", r->session->session_id);
  pt_buf_json_member(b, ",\"pipeline_type\":", r->session->pipeline_type);
  pt_buf_puts(b, ",\"generated_at\":");
  pt_buf_i64(b, r->generated_at);
  pt_buf_printf(b,
                ",\"state\":\"%s\",\"is_valid\":%s,\"progress\":{\"completed\":%d,\"total\":%d,"
                "\"percent\":%d}",
                c->state, c->is_valid ? "true" : "false", c->completed, c->total, c->percent);
  step_list(b, "failed_steps", c->failed_steps, c->nfailed, r->pipeline);
  step_list(b, "missing_steps", c->missing_steps, c->nmissing, r->pipeline);
  step_list(b, "out_of_order_steps", c->out_of_order_steps, c->nooo, r->pipeline);
  pt_buf_puts(b, ",\"first_failure\":");
  if (r->first_failure)
    pt_event_write_json(b, r->first_failure);
  else
    pt_buf_puts(b, "null");
  pt_buf_puts(b, ",\"events\":[");
}

void pt_report_json_event(pt_buf *b, const pt_event *e, int64_t i) {
  if (i) pt_buf_putc(b, ',');
  pt_event_write_json(b, e);
}

void pt_report_json_mid(pt_buf *b) {
  pt_buf_puts(b, "],\"checksum_history\":[");
}

void pt_report_json_tail(pt_buf *b, const pt_report_in *r) {
  const pt_cksum *c = r->checksum;
  pt_buf_puts(b, "],\"chain_hash\":\"");
  pt_buf_put(b, c->chain_hash, 64);
  pt_buf_puts(b, "\",\"verification\":");
  pt_buf_puts(b, r->verification_json);
  pt_buf_puts(b, ",\"duration_ms\":");
  if (c->started_at < 0)
    pt_buf_puts(b, "null");
  else
    pt_buf_i64(b, c->last_event_at - c->started_at);
  pt_buf_putc(b, '}');
}

/* Markdown-safe inline text: event values are untrusted, so characters that
 * Markdown or HTML would interpret are escaped and newlines folded. */
static void md_text(pt_buf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '\n' || c == '\r') {
      pt_buf_putc(b, ' ');
    } else if (c == '<') {
      pt_buf_puts(b, "&lt;");
    } else if (c == '>') {
      pt_buf_puts(b, "&gt;");
    } else if (c == '&') {
      pt_buf_puts(b, "&amp;");
    } else if (strchr("\\`*_[]|#", c)) {
      pt_buf_putc(b, '\\');
      pt_buf_putc(b, c);
    } else {
      pt_buf_putc(b, c);
    }
  }
}

static void md_cs(pt_buf *b, const char *s) {
  md_text(b, s, strlen(s));
}

/* An event's error as "code: message", escaped. */
static void md_error(pt_buf *b, const pt_event *e) {
  json_t *v = NULL;
  if (pt_jparse_tree(e->error, e->error_len, 4, &v, NULL) != 0) v = NULL;
  json_t *code = json_object_get(v, "code"), *msg = json_object_get(v, "message");
  if (json_is_string(code) && json_is_string(msg)) {
    md_text(b, json_string_value(code), json_string_length(code));
    pt_buf_puts(b, ": ");
    md_text(b, json_string_value(msg), json_string_length(msg));
  }
  json_decref(v);
}

static void md_steps(pt_buf *b, const char *title, const int *idx, int n, const pt_pipeline *p) {
  pt_buf_printf(b, "- **%s:** ", title);
  if (!n) pt_buf_puts(b, "none");
  for (int i = 0; i < n; i++) {
    if (i) pt_buf_puts(b, ", ");
    md_cs(b, p->steps[idx[i]]);
  }
  pt_buf_putc(b, '\n');
}

void pt_report_md_head(pt_buf *b, const pt_report_in *r) {
  const pt_cksum *c = r->checksum;
  pt_buf_puts(b, "# Pipeline report: ");
  md_cs(b, r->session->session_id);
  pt_buf_puts(b, "\n\n- **Pipeline:** ");
  md_cs(b, r->session->pipeline_type);
  /* is_valid is how the pipeline ran, not the data's integrity (that is
   * the Verification line): named for what it means */
  pt_buf_printf(b,
                "\n- **State:** %s\n- **Complete and in order:** %s\n- **Progress:** %d/%d "
                "(%d%%)\n",
                c->state, c->is_valid ? "yes" : "no", c->completed, c->total, c->percent);
  pt_buf_puts(b, "- **Duration:** ");
  if (c->started_at < 0)
    pt_buf_puts(b, "n/a\n");
  else
    pt_buf_printf(b, "%" PRId64 " ms\n", c->last_event_at - c->started_at);
  { /* ISO 8601 in UTC; the civil date of a day number as in H. Hinnant's civil_from_days */
    int64_t ms = r->generated_at < 0 ? 0 : r->generated_at, z = ms / 86400000 + 719468;
    int64_t era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2), t = ms % 86400000;
    pt_buf_printf(b,
                  "- **Generated at:** %04" PRId64 "-%02" PRId64 "-%02" PRId64 "T%02" PRId64
                  ":%02" PRId64 ":%02" PRId64 ".%03" PRId64 "Z\n",
                  y, m, d, t / 3600000, t / 60000 % 60, t / 1000 % 60, t % 1000);
  }
  md_steps(b, "Failed steps", c->failed_steps, c->nfailed, r->pipeline);
  md_steps(b, "Missing steps", c->missing_steps, c->nmissing, r->pipeline);
  md_steps(b, "Out-of-order steps", c->out_of_order_steps, c->nooo, r->pipeline);
  const pt_event *ff = r->first_failure;
  pt_buf_puts(b, "\n## First failure\n\n");
  if (ff) {
    pt_buf_printf(b, "Step `%s` (seq %" PRId64 ", ts %" PRId64 "): ", ff->step, ff->seq, ff->ts);
    if (strcmp(ff->error, "null") != 0)
      md_error(b, ff);
    else
      pt_buf_puts(b, "no error given");
    pt_buf_puts(b, "\n");
  } else {
    pt_buf_puts(b, "None.\n");
  }
  pt_buf_printf(b,
                "\n## Events (%" PRId64
                ")\n\n| seq | ts | step | status | error |\n|---|---|---|---|---|\n",
                r->nevents);
}

void pt_report_md_event(pt_buf *b, const pt_event *e, int64_t i) {
  (void)i;
  pt_buf_printf(b, "| %" PRId64 " | %" PRId64 " | ", e->seq, e->ts);
  md_cs(b, e->step);
  pt_buf_printf(b, " | %s | ", pt_status_names[e->status]);
  if (strcmp(e->error, "null") != 0) md_error(b, e);
  pt_buf_puts(b, " |\n");
}

void pt_report_md_mid(pt_buf *b, const pt_report_in *r) {
  pt_buf_printf(b, "\n## Checksum history (%zu)\n\n", r->nsnapshots);
}

void pt_report_md_entry(pt_buf *b, const pt_snap *s, int64_t i) {
  (void)i;
  pt_buf_printf(b, "- `%s` at %" PRId64 ": %s, %" PRId64 " events, chain `%.16s…`", s->id,
                s->created_at, s->state, s->event_count, s->chain_hash);
  if (s->notes) {
    pt_buf_puts(b, " — ");
    md_cs(b, s->notes);
  }
  pt_buf_putc(b, '\n');
}

void pt_report_md_tail(pt_buf *b, const pt_report_in *r) {
  const pt_cksum *c = r->checksum;
  pt_buf_puts(b, "\n## Chain\n\n- **Chain hash:** `");
  pt_buf_put(b, c->chain_hash, 64);
  pt_buf_printf(b, "`\n- **Verification:** %s\n",
                r->verified_ok ? "ok, every link and snapshot matches"
                               : "FAILED (see JSON report for mismatches)");
}
