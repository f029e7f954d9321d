/* tracker.c - the tracker: opening and closing it, its definitions and
 * accessors, and what its calls do: traced steps. The committer and its
 * transaction are committer.c and tx.c. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "../core/jparse.h"
#include "tracker_int.h"

void pt_free(void *doc) {
  free(doc);
}

static int64_t system_ms(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pt__now(pt_tracker *t) {
  return t->clock(t->clock_ctx);
}

pt_defs *pt__defs(pt_tracker *t) {
  pthread_mutex_lock(&t->defs_lock);
  pt_defs *d = pt_defs_ref(t->defs);
  pthread_mutex_unlock(&t->defs_lock);
  return d;
}

const pt_limits *pt__limits(pt_tracker *t) {
  return &t->lim;
}
pt_store *pt__store(pt_tracker *t) {
  return t->store;
}
const pt_signer *pt__signer(pt_tracker *t) {
  return t->signer;
}

/* ---- opening and closing -------------------------------------------------- */

static pt_status read_file(const char *path, char **out, size_t *len, pt_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return pt_fail(err, PT_EIO, "pipelines", "pipelines: cannot open %s: %s", path,
                   strerror(errno));
  pt_buf b;
  pt_buf_init(&b, 16u << 20);
  char chunk[8192];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) pt_buf_put(&b, chunk, n);
  int bad = ferror(f);
  fclose(f);
  if (bad || b.failed) {
    pt_buf_cleanup(&b);
    return pt_fail(err, PT_EIO, "pipelines", "pipelines: cannot read %s", path);
  }
  *len = b.len;
  *out = pt_buf_take(&b);
  return *out ? PT_OK : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}

pt_status pt_open(const pt_options *opts, pt_tracker **out, pt_error *err) {
  *out = NULL;
  pt_error_clear(err);
  pt_options none;
  memset(&none, 0, sizeof none);
  if (!opts) opts = &none;
  pt_tracker *t = calloc(1, sizeof *t);
  if (!t) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  pthread_mutex_init(&t->defs_lock, NULL);
  pt__sweep_init(t);
  pt__committer_init(t);
  pt__cache_init(t);
  t->clock = opts->clock ? opts->clock : system_ms;
  t->clock_ctx = opts->clock_ctx;
  t->auto_snapshot = opts->auto_snapshot != 0;
  t->outbox = opts->issue_outbox != 0;
  t->outbox_window_ms = opts->issue_outbox_window_ms > 0 ? opts->issue_outbox_window_ms : 1000;
  t->lim.max_payload = opts->max_payload ? opts->max_payload : PT_DEFAULT_MAX_PAYLOAD;
  t->lim.max_depth = opts->max_depth > 0 ? opts->max_depth : PT_DEFAULT_MAX_DEPTH;
  pt_status rc;
  if (opts->pipelines_file) {
    char *text = NULL;
    size_t len = 0;
    rc = read_file(opts->pipelines_file, &text, &len, err);
    if (rc == PT_OK) {
      rc = pt_defs_parse(text, len, &t->defs, err);
      if (rc != PT_OK && err) {
        char msg[sizeof err->message + 512];
        snprintf(msg, sizeof msg, "%s: %s", opts->pipelines_file, err->message);
        size_t n = strlen(msg);
        if (n >= sizeof err->message) n = sizeof err->message - 1;
        memcpy(err->message, msg, n);
        err->message[n] = '\0';
      }
    }
    free(text);
  } else if (opts->pipelines_json) {
    rc = pt_defs_parse(opts->pipelines_json, strlen(opts->pipelines_json), &t->defs, err);
  } else {
    rc = pt_defs_default(&t->defs, err);
  }
  if (rc == PT_OK && opts->signing_key_pem) {
    char why[160];
    t->signer =
        pt_signer_from_pem(opts->signing_key_pem, strlen(opts->signing_key_pem), why, sizeof why);
    if (!t->signer) rc = pt_fail(err, PT_EINVALID, "signing_key", "signing_key: %s", why);
  }
  if (rc == PT_OK)
    rc = pt_store_open(opts->db_url ? opts->db_url : "sqlite:./pipetrack.db", &t->store, err);
  if (rc == PT_OK) rc = pt__committer_start(t, err);
  if (rc != PT_OK) {
    pt_close(t);
    return rc;
  }
  *out = t;
  return PT_OK;
}

void pt_close(pt_tracker *t) {
  if (!t) return;
  pt__committer_cleanup(t); /* commits what is queued first */
  pt_store_close(t->store);
  pt_signer_free(t->signer);
  pt__cache_cleanup(t);
  pt_defs_unref(t->defs);
  pthread_mutex_destroy(&t->defs_lock);
  pt__sweep_cleanup(t);
  free(t);
}

pt_status pt_definitions_load(pt_tracker *t, const char *json, size_t len, pt_error *err) {
  pt_defs *d;
  pt_status rc = pt_defs_parse(json, len, &d, err);
  if (rc) return rc;
  pthread_mutex_lock(&t->defs_lock);
  pt_defs *old = t->defs;
  t->defs = d;
  pthread_mutex_unlock(&t->defs_lock);
  pt_defs_unref(old);
  return PT_OK;
}

pt_status pt_definitions_json(pt_tracker *t, char **out, pt_error *err) {
  pt_defs *d = pt__defs(t);
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_defs_write_json(&b, d);
  pt_defs_unref(d);
  *out = pt_buf_take(&b);
  return *out ? PT_OK : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}

void pt__stats(pt_tracker *t, pt_tracker_stats *out) {
  out->commits = __atomic_load_n(&t->stats.commits, __ATOMIC_RELAXED);
  out->commit_failures = __atomic_load_n(&t->stats.commit_failures, __ATOMIC_RELAXED);
  out->events_committed = __atomic_load_n(&t->stats.events_committed, __ATOMIC_RELAXED);
  out->commit_ns = __atomic_load_n(&t->stats.commit_ns, __ATOMIC_RELAXED);
}

void pt__inject_store_fault(pt_tracker *t, int after) {
  t->store->fail_after = after;
}

pt_status pt_pubkey(pt_tracker *t, char **out, pt_error *err) {
  *out = NULL;
  if (!t->signer)
    return pt_fail(err, PT_ENOTFOUND, NULL,
                   "no signing key: entries and receipts are not signed (--signing-key)");
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_buf_puts(&b, "{\"algorithm\":\"ed25519\",\"public_key\":\"");
  pt_buf_puts(&b, pt_signer_pubkey(t->signer));
  pt_buf_puts(&b, "\"}");
  if (!(*out = pt_buf_take(&b))) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return PT_OK;
}

/* ---- traced steps ---------------------------------------------------------- */

/* Traced steps for instrumenting C code: a step's begin tracks
 * `started`, its end the outcome with how long it took, both through
 * pt_track. */

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
