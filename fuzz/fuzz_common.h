/* fuzz_common.h - what the fuzz targets that need a tracker share: a
 * memory: tracker on a fixed clock, reopened every few hundred runs so the
 * store stays small, and the checks every API answer must pass. Included by
 * the targets (each one program), so its functions are static inline (not every target uses each).
 */
#ifndef PT_FUZZ_COMMON_H
#define PT_FUZZ_COMMON_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipetrack.h"

/* Runs between reopenings: bounds what the memory store holds. */
#define FUZZ_RESET_EVERY 500

static inline void fuzz_die(const char *what, const char *detail) {
  fprintf(stderr, "%s: %s\n", what, detail ? detail : "");
  abort();
}

static inline int64_t fuzz_clock(void *ctx) {
  (void)ctx;
  return 1795896449859; /* fixed: the same input gives the same answer */
}

/* A pipeline with an optional step besides the built-in ones. */
static const char FUZZ_DEFS[] =
    "{\"pipelines\":[{\"type\":\"checkout_digital\",\"steps\":[\"checkout_started\","
    "\"payment_initiated\",\"payment_confirmed\",\"checkout_completed\"],\"optional\":[],"
    "\"stall_after_s\":900},{\"type\":\"ingest\",\"steps\":[\"fetch\",\"parse\",\"store\"],"
    "\"optional\":[\"parse\"],\"stall_after_s\":60}]}";

static inline pt_tracker *fuzz_tracker_open(void) {
  pt_options o;
  memset(&o, 0, sizeof o);
  o.db_url = "memory:";
  o.pipelines_json = FUZZ_DEFS;
  o.clock = fuzz_clock;
  pt_tracker *t = NULL;
  pt_error err;
  if (pt_open(&o, &t, &err) != PT_OK) fuzz_die("pt_open", err.message);
  return t;
}

/* Events a seeded tracker holds, so that reads find a session, its
 * registry and an issue (the shapes of docs/api.md). */
static const char *const FUZZ_SEED_EVENTS[] = {
    ("{\"event\":{\"id\":\"evt_seed_1\",\"session_id\":\"chk_abc123\",\"pipeline_type\":"
     "\"checkout_digital\",\"step\":\"checkout_started\",\"status\":\"success\","
     "\"input\":{\"cart_total\":42.5}},\"auto_snapshot\":true}"),
    ("{\"event\":{\"id\":\"evt_seed_2\",\"session_id\":\"chk_abc123\",\"pipeline_type\":"
     "\"checkout_digital\",\"step\":\"payment_initiated\",\"status\":\"failure\","
     "\"error\":{\"code\":\"card_declined\",\"message\":\"declined\"}}}"),
    ("{\"event\":{\"session_id\":\"ing_1\",\"pipeline_type\":\"ingest\",\"step\":\"fetch\","
     "\"status\":\"started\",\"ts\":1795896440000}}"),
};

/* The tracker for this run: reopened (emptied, then seeded when asked)
 * every FUZZ_RESET_EVERY runs. */
static inline pt_tracker *fuzz_tracker(int seeded) {
  static pt_tracker *t;
  static unsigned runs;
  if (t && ++runs % FUZZ_RESET_EVERY == 0) {
    pt_close(t);
    t = NULL;
  }
  if (t) return t;
  t = fuzz_tracker_open();
  for (size_t i = 0; seeded && i < sizeof FUZZ_SEED_EVENTS / sizeof *FUZZ_SEED_EVENTS; i++) {
    const char *ev = FUZZ_SEED_EVENTS[i];
    pt_answer *a = pt_api_call_url(t, "POST", "/api/pipeline/track", ev, strlen(ev), "fuzz");
    if (!a || a->status != 201) fuzz_die("seeding the tracker", a ? a->body : NULL);
    pt_answer_free(a);
  }
  return t;
}

/* An error message is one line a person can act on (docs/api.md). */
static inline void fuzz_check_message(const char *msg) {
  if (strchr(msg, '\n') || strchr(msg, '\r')) fuzz_die("an error message spans lines", msg);
}

/* Every answer: a status an HTTP server may send, a JSON body that is
 * I-JSON when it says so, a streamed export read to its end. */
static inline void fuzz_check_answer(pt_answer *a) {
  if (!a) fuzz_die("no answer", "NULL without running out of memory");
  if (a->status < 200 || a->status > 599) fuzz_die("answer status out of range", a->body);
  if (a->body && a->len != strlen(a->body)) fuzz_die("answer length differs", a->body);
  if (a->body && a->content_type && strcmp(a->content_type, "application/json") == 0) {
    json_t *doc = NULL;
    pt_error err;
    if (pt_json_read(a->body, a->len, &doc, &err) != PT_OK)
      fuzz_die("an answer is not I-JSON", a->body);
    json_decref(doc);
  }
  if (a->stream) {
    /* read to its end; a streamed JSON document (a long status or report)
     * must be as whole and as valid as one built at once */
    const char *text;
    size_t len = 1, total = 0;
    char *all = NULL;
    pt_error err;
    int failed = 0;
    while (len > 0) {
      if (pt_body_next(a->stream, &text, &len, &err) != PT_OK) {
        failed = 1;
        break;
      }
      char *grown = realloc(all, total + len + 1);
      if (!grown) fuzz_die("out of memory", "a streamed answer");
      all = grown;
      memcpy(all + total, text, len);
      total += len;
      all[total] = '\0';
    }
    if (!failed && all && a->content_type && strcmp(a->content_type, "application/json") == 0) {
      json_t *doc = NULL;
      if (pt_json_read(all, total, &doc, &err) != PT_OK)
        fuzz_die("a streamed answer is not I-JSON", all);
      json_decref(doc);
    }
    free(all);
  }
}

#endif
