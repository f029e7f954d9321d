/* step.c - traced steps for instrumenting C code: a step's begin tracks
 * `started`, its end the outcome with how long it took, both through
 * pt_track. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "../core/jparse.h"
#include "internal.h"

struct pt_step {
  pt_tracker *t;
  char session_id[PT_ID_MAX + 1];
  char pipeline_type[PT_NAME_MAX + 1];
  char step[PT_NAME_MAX + 1];
  int64_t started_ms;
};

pt_status pt_step_begin(pt_tracker *t, const char *session_id, const char *pipeline_type,
                        const char *step, const char *input_json, pt_step **out, pt_error *err) {
  *out = NULL;
  pt_event_in in = {.session_id = session_id,
                    .pipeline_type = pipeline_type,
                    .step = step,
                    .status = PT_STARTED,
                    .ts = -1,
                    .input_json = input_json};
  pt_track_result *r;
  pt_status rc = pt_track(t, &in, PT_SNAPSHOT_DEFAULT, &r, err);
  if (rc) return rc;
  pt_step *s = calloc(1, sizeof *s);
  if (!s) {
    pt_track_result_free(r);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  s->t = t;
  snprintf(s->session_id, sizeof s->session_id, "%s", session_id);
  snprintf(s->pipeline_type, sizeof s->pipeline_type, "%s", pipeline_type);
  snprintf(s->step, sizeof s->step, "%s", step);
  /* The stored ts is the server's receive time of the started event. */
  json_t *ev = NULL;
  if (pt_jparse_tree(r->event_json, strlen(r->event_json), 0, &ev, NULL) != 0) ev = NULL;
  s->started_ms = ev ? (int64_t)json_number_value(json_object_get(ev, "ts")) : pt__now(t);
  json_decref(ev);
  pt_track_result_free(r);
  *out = s;
  return PT_OK;
}

pt_status pt_step_end(pt_step *s, pt_event_status outcome, const char *output_json,
                      const char *error_code, const char *error_message, pt_error *err) {
  if (!s) return pt_fail(err, PT_EINVALID, NULL, "step: is NULL");
  pt_status rc = PT_OK;
  if (outcome != PT_SUCCESS && outcome != PT_FAILURE)
    rc = pt_fail(err, PT_EINVALID, "status", "status: a step ends with success or failure");
  int64_t now = pt__now(s->t);
  pt_buf out;
  pt_buf_init(&out, 0);
  if (rc == PT_OK) {
    pt_buf_puts(&out, "{\"duration_ms\":");
    pt_buf_i64(&out, now > s->started_ms ? now - s->started_ms : 0);
    pt_buf_puts(&out, ",\"result\":");
    pt_buf_puts(&out, output_json ? output_json : "null");
    pt_buf_putc(&out, '}');
    pt_event_in in = {.session_id = s->session_id,
                      .pipeline_type = s->pipeline_type,
                      .step = s->step,
                      .status = outcome,
                      .ts = now,
                      .output_json = pt_buf_cstr(&out)};
    if (outcome == PT_FAILURE) {
      in.error_code = error_code ? error_code : "unknown";
      in.error_message = error_message ? error_message : "";
    }
    pt_track_result *r = NULL;
    rc = pt_track(s->t, &in, PT_SNAPSHOT_DEFAULT, &r, err);
    pt_track_result_free(r);
  }
  pt_buf_cleanup(&out);
  free(s);
  return rc;
}
