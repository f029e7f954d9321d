/* checkout.c - tracks one digital checkout with libpipetrack and prints its
 * status, report and verification. Run: ./build/example_checkout [DB_URL]
 * (default memory:). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pipetrack.h"

static int die(const char *what, const pt_error *err) {
  fprintf(stderr, "%s: %s (%s) %s\n", what, err->message, pt_err_name(err->code), err->field);
  return 1;
}

int main(int argc, char **argv) {
  pt_options opts = {.db_url = argc > 1 ? argv[1] : "memory:", .auto_snapshot = 1};
  pt_tracker *t;
  pt_error err;
  if (pt_open(&opts, &t, &err)) return die("open", &err);

  /* A new session each run, so a persistent store keeps one per run. */
  char sid[64];
  snprintf(sid, sizeof sid, "chk_example_%lld", (long long)time(NULL));
  const char *steps[] = {"checkout_started", "payment_initiated", "payment_confirmed"};
  for (int i = 0; i < 3; i++) {
    pt_event_in ev = {.session_id = sid,
                      .pipeline_type = "checkout_digital",
                      .step = steps[i],
                      .status = PT_SUCCESS,
                      .ts = -1,
                      .input_json = "{\"cart_total\": 42.5}"};
    pt_track_result *r;
    if (pt_track(t, &ev, PT_SNAPSHOT_DEFAULT, &r, &err)) return die("track", &err);
    printf("tracked %s: seq %lld link %.16s...\n", steps[i], (long long)r->seq, r->link);
    pt_track_result_free(r);
  }

  /* The last step, traced: begin emits `started`, end emits the outcome
   * with the measured duration in its output. */
  pt_step *step;
  if (pt_step_begin(t, sid, "checkout_digital", "checkout_completed", NULL, &step, &err))
    return die("step_begin", &err);
  if (pt_step_end(step, PT_SUCCESS, "{\"order_id\": \"ord_77\"}", NULL, NULL, &err))
    return die("step_end", &err);

  char *doc;
  if (pt_checksum(t, sid, &doc, &err)) return die("checksum", &err);
  printf("checksum: %s\n", doc);
  pt_free(doc);
  if (pt_report(t, sid, PT_FORMAT_MARKDOWN, &doc, &err)) return die("report", &err);
  printf("%s\n", doc);
  pt_free(doc);
  int ok;
  if (pt_verify(t, sid, &ok, &doc, &err)) return die("verify", &err);
  printf("verify: %s\n", doc);
  pt_free(doc);
  pt_close(t);
  return ok ? 0 : 1;
}
