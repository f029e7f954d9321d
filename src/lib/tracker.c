/* tracker.c - the tracker: opening and closing it, its definitions and
 * accessors, and what its calls do: traced steps, tracking. The committer
 * and its transaction are committer.c and tx.c. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "../core/jparse.h"
#include "../core/validate.h"
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

/* ---- tracking -------------------------------------------------------------- */

/* The tracking calls: events validated in the caller's thread,
 * queued as one job for the committer's next group commit (committer.c,
 * append.c), and the results rendered back in the caller's thread. */

/* ---- the job ------------------------------------------------------------------- */

static void job_free(pt__track_job *j) {
  pt__track_reset(&j->h);
  for (size_t i = 0; i < j->n; i++)
    if (!j->adopted || !j->adopted[i]) pt_event_free(j->evs[i]);
  free(j->evs);
  free(j->st);
  free(j->errs);
  free(j->replayed);
  free(j->snaps);
  free(j->snap_ids);
  free(j->has_snap);
  free(j->adopted);
  pt_defs_unref(j->h.defs);
}

static pt_status job_init_track(pt_tracker *t, pt__track_job *j, size_t n, int auto_snapshot,
                                pt_error *err) {
  memset(j, 0, sizeof *j);
  pt__job_init(&j->h, PT__JOB_TRACK, t);
  j->h.nsessions = n;
  j->n = n;
  j->auto_snapshot = auto_snapshot == PT_SNAPSHOT_DEFAULT ? t->auto_snapshot : auto_snapshot != 0;
  size_t k = n ? n : 1;
  j->evs = calloc(k, sizeof *j->evs);
  j->st = calloc(k, sizeof *j->st);
  j->errs = calloc(k, sizeof *j->errs);
  j->replayed = calloc(k, sizeof *j->replayed);
  j->snaps = calloc(k, sizeof *j->snaps);
  j->snap_ids = calloc(k, sizeof *j->snap_ids);
  j->has_snap = calloc(k, sizeof *j->has_snap);
  j->adopted = calloc(k, sizeof *j->adopted);
  if (!j->evs || !j->st || !j->errs || !j->replayed || !j->snaps || !j->snap_ids || !j->has_snap ||
      !j->adopted) {
    j->n = 0;
    job_free(j);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  return PT_OK;
}

static int job_has_work(const pt__track_job *j) {
  for (size_t i = 0; i < j->n; i++)
    if (j->evs[i]) return 1;
  return 0;
}

/* ---- results ------------------------------------------------------------------- */

/* Fills r for event i of a finished job. The event's JSON goes to *text
 * (a slice of the batch's text block) when given, else to its own
 * allocation. */
static pt_status fill_result(pt_tracker *t, pt__track_job *j, size_t i, pt_track_result *r,
                             char **text, pt_error *err) {
  const pt_event *e = j->replayed[i] ? j->replayed[i] : j->evs[i];
  r->replayed = j->replayed[i] != NULL;
  r->seq = e->seq;
  memcpy(r->link, e->link, 65);
  pt_chain_hash(e->session_id, e->link, r->chain_hash);
  r->issue_id[0] = '\0';
  r->receipt[0] = '\0';
  if (t->signer) {
    /* RFC 8785 as written: keys in order, an integer, ids that need no
     * escaping (pt_is_id) */
    char msg[PT_ID_MAX + 220];
    int n = snprintf(msg, sizeof msg,
                     "{\"chain_hash\":\"%s\",\"link\":\"%s\",\"seq\":%" PRId64
                     ",\"session_id\":\"%s\"}",
                     r->chain_hash, r->link, r->seq, e->session_id);
    if (n < 0 || (size_t)n >= sizeof msg || pt_signer_sign(t->signer, msg, (size_t)n, r->receipt))
      return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  if (e->status == PT_FAILURE && !r->replayed) {
    pt_issue key;
    pt_issue_key(&key, e, NULL);
    memcpy(r->issue_id, key.id, sizeof r->issue_id);
  }
  pt_buf b;
  if (text) {
    pt_buf_init_on(&b, *text, pt_event_json_size(e));
    pt_event_write_json(&b, e);
    assert(b.borrowed); /* pt_event_json_size is an upper bound: never spills */
    r->event_json = b.data;
    *text += b.len + 1;
  } else {
    pt_buf_init(&b, 0);
    pt_buf_reserve(&b, pt_event_json_size(e));
    pt_event_write_json(&b, e);
    r->event_json = pt_buf_take(&b);
    if (!r->event_json) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  if (j->has_snap[i]) {
    r->snapshot_json = j->snap_ids[i] ? pt__snapshot_json_ids(&j->snaps[i], j->snap_ids[i])
                                      : pt__snapshot_json(t, &j->snaps[i], err);
    if (!r->snapshot_json)
      return err && err->code != PT_OK ? err->code : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  return PT_OK;
}

void pt_track_result_free(pt_track_result *r) {
  if (!r) return;
  free(r->event_json);
  free(r->snapshot_json);
  free(r);
}

/* A batch's own storage: every result struct in one array and every event's
 * JSON in one text block, instead of two allocations per event. */
typedef struct batch_store {
  pt_track_result *results;
  char *text;
} batch_store;

void pt_batch_result_free(pt_batch_result *r) {
  if (!r) return;
  batch_store *bs = r->priv_;
  for (size_t i = 0; i < r->count; i++) {
    if (!bs) {
      pt_track_result_free(r->items[i].result);
    } else if (r->items[i].result) {
      free(r->items[i].result->snapshot_json);
    }
  }
  if (bs) {
    free(bs->results);
    free(bs->text);
    free(bs);
  }
  free(r->items);
  free(r);
}

/* The result of a job that has run; frees the job's contents. */
static pt_status render_batch(pt_tracker *t, pt__track_job *j, pt_batch_result **out,
                              pt_error *err) {
  pt_batch_result *br = calloc(1, sizeof *br);
  if (br) br->items = calloc(j->n ? j->n : 1, sizeof *br->items);
  batch_store *bs = NULL;
  int failed = !br || !br->items;
  if (!failed && j->n > 1) {
    size_t text = 0;
    for (size_t i = 0; i < j->n; i++)
      if (j->st[i] == PT_OK)
        text += pt_event_json_size(j->replayed[i] ? j->replayed[i] : j->evs[i]) + 1;
    bs = calloc(1, sizeof *bs);
    if (bs) {
      bs->results = calloc(j->n, sizeof *bs->results);
      bs->text = malloc(text ? text : 1);
    }
    failed = !bs || !bs->results || !bs->text;
    if (bs) br->priv_ = bs;
  }
  if (failed) {
    if (br) {
      br->count = 0;
      pt_batch_result_free(br);
    }
    job_free(j);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  br->count = j->n;
  char *text = bs ? bs->text : NULL;
  pt_status whole = PT_OK;
  for (size_t i = 0; i < j->n; i++) {
    pt_batch_item *it = &br->items[i];
    it->status = j->st[i];
    it->error = j->errs[i];
    if (it->status == PT_OK) {
      it->result = bs ? &bs->results[i] : calloc(1, sizeof *it->result);
      it->status = it->result ? fill_result(t, j, i, it->result, bs ? &text : NULL, &it->error)
                              : pt_fail(&it->error, PT_ENOMEM, NULL, "out of memory");
      if (it->status != PT_OK) it->error.code = it->status;
    }
    if (it->status == PT_ESTORAGE) whole = PT_ESTORAGE;
  }
  job_free(j);
  if (whole != PT_OK) {
    /* The commit failed: nothing in the batch is stored. */
    pt_fail(err, whole, NULL, "%s", br->items[0].error.message);
    pt_batch_result_free(br);
    return whole;
  }
  *out = br;
  return PT_OK;
}

/* Runs a validated job and turns it into a batch result. */
static pt_status finish_batch(pt_tracker *t, pt__track_job *j, pt_batch_result **out,
                              pt_error *err) {
  if (job_has_work(j)) pt__submit(t, &j->h);
  return render_batch(t, j, out, err);
}

/* ---- the calls ----------------------------------------------------------------- */

static pt_status batch_too_big(size_t n, pt_error *err) {
  return pt_fail(err, PT_ETOOBIG, "events", "events: at most %d events a batch, got %zu",
                 PT_BATCH_MAX, n);
}

/* "events[i]": the name of a batch item in error fields. Built by hand: it
 * is made for every event and printf would cost more than the SHA-256. */
static const char *item_name(char p[32], size_t i) {
  memcpy(p, "events[", 7);
  size_t n = 7 + pt_u64_digits(i, p + 7);
  p[n] = ']';
  p[n + 1] = '\0';
  return p;
}

pt_status pt__track_values(pt_tracker *t, const json_t *const *events, size_t n, int auto_snapshot,
                           const char *prefix, pt_batch_result **out, pt_error *err) {
  *out = NULL;
  if (n > PT_BATCH_MAX) return batch_too_big(n, err);
  pt__track_job j;
  pt_status rc = job_init_track(t, &j, n, auto_snapshot, err);
  if (rc) return rc;
  j.prefix = prefix;
  for (size_t i = 0; i < n; i++) {
    char p[32];
    j.st[i] = pt_validate_event(events[i], j.h.defs, &t->lim, j.h.now,
                                prefix ? prefix : item_name(p, i), &j.evs[i], &j.errs[i]);
  }
  return finish_batch(t, &j, out, err);
}

struct pt__pending {
  pt__track_job j;
};

pt_status pt__track_start(pt_tracker *t, const json_t *const *events, size_t n, int auto_snapshot,
                          const char *prefix, void (*on_done)(void *ctx), void *ctx,
                          pt__pending **out, pt_error *err) {
  *out = NULL;
  if (n > PT_BATCH_MAX) return batch_too_big(n, err);
  pt__pending *p = malloc(sizeof *p);
  if (!p) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  pt_status rc = job_init_track(t, &p->j, n, auto_snapshot, err);
  if (rc) {
    free(p);
    return rc;
  }
  for (size_t i = 0; i < n; i++) {
    char name[32];
    p->j.st[i] =
        pt_validate_event(events[i], p->j.h.defs, &t->lim, p->j.h.now,
                          prefix ? prefix : item_name(name, i), &p->j.evs[i], &p->j.errs[i]);
  }
  p->j.prefix = prefix;
  p->j.h.on_done = on_done;
  p->j.h.on_done_ctx = ctx;
  *out = p;
  if (job_has_work(&p->j)) {
    pt__submit(t, &p->j.h);
  } else {
    p->j.h.done = 1;
    on_done(ctx);
  }
  return PT_OK;
}

pt_status pt__track_finish(pt_tracker *t, pt__pending *p, pt_batch_result **out, pt_error *err) {
  *out = NULL;
  pt_status rc = render_batch(t, &p->j, out, err);
  free(p);
  return rc;
}

pt_status pt_track_batch(pt_tracker *t, const pt_event_in *evs, size_t n, int auto_snapshot,
                         pt_batch_result **out, pt_error *err) {
  *out = NULL;
  if (n > PT_BATCH_MAX) return batch_too_big(n, err);
  pt__track_job j;
  pt_status rc = job_init_track(t, &j, n, auto_snapshot, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    char p[32];
    j.st[i] = pt_validate_struct(&evs[i], j.h.defs, &t->lim, j.h.now, item_name(p, i), &j.evs[i],
                                 &j.errs[i]);
  }
  return finish_batch(t, &j, out, err);
}

/* One event: the batch machinery with the error lifted to the call. */
static pt_status single(pt_batch_result *br, pt_status rc, pt_track_result **out, pt_error *err) {
  if (rc != PT_OK) return rc;
  pt_batch_item *it = &br->items[0];
  rc = it->status;
  if (rc == PT_OK) {
    *out = it->result;
    it->result = NULL;
  } else if (err) {
    *err = it->error;
  }
  pt_batch_result_free(br);
  return rc;
}

pt_status pt_track(pt_tracker *t, const pt_event_in *ev, int auto_snapshot, pt_track_result **out,
                   pt_error *err) {
  *out = NULL;
  pt_batch_result *br = NULL;
  pt__track_job j;
  pt_status rc = job_init_track(t, &j, 1, auto_snapshot, err);
  if (rc) return rc;
  j.prefix = "event";
  j.st[0] = pt_validate_struct(ev, j.h.defs, &t->lim, j.h.now, "event", &j.evs[0], &j.errs[0]);
  rc = finish_batch(t, &j, &br, err);
  return single(br, rc, out, err);
}

pt_status pt__track_value(pt_tracker *t, const json_t *event, int auto_snapshot,
                          pt_track_result **out, pt_error *err) {
  *out = NULL;
  pt_batch_result *br = NULL;
  pt_status rc = pt__track_values(t, &event, 1, auto_snapshot, "event", &br, err);
  return single(br, rc, out, err);
}

/* The largest event text worth parsing: two payloads at their limit, an
 * error message of the same size, and room for the rest. Larger texts are
 * refused before any parsing. */
static size_t event_text_max(const pt_tracker *t) {
  return 3 * t->lim.max_payload + 16384;
}

pt_status pt_track_json(pt_tracker *t, const char *json, size_t len, int auto_snapshot,
                        pt_track_result **out, pt_error *err) {
  *out = NULL;
  if (len > event_text_max(t))
    return pt_fail(err, PT_ETOOBIG, "event", "event: must be at most %zu bytes of JSON",
                   event_text_max(t));
  json_t *v;
  pt_status rc = pt_parse_ijson(json, len, "event", &v, err);
  if (rc) return rc;
  rc = pt__track_value(t, v, auto_snapshot, out, err);
  json_decref(v);
  return rc;
}

pt_status pt_track_batch_json(pt_tracker *t, const char *json, size_t len, int auto_snapshot,
                              pt_batch_result **out, pt_error *err) {
  *out = NULL;
  if (len > PT_BATCH_MAX * event_text_max(t))
    return pt_fail(err, PT_ETOOBIG, "events", "events: must be at most %zu bytes of JSON",
                   PT_BATCH_MAX * event_text_max(t));
  json_t *v;
  pt_status rc = pt_parse_ijson(json, len, "events", &v, err);
  if (rc) return rc;
  if (!json_is_array(v)) {
    json_decref(v);
    return pt_fail(err, PT_EINVALID, "events", "events: must be an array of event objects");
  }
  size_t n = json_array_size(v);
  const json_t **items = malloc((n ? n : 1) * sizeof *items);
  if (!items) {
    json_decref(v);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  for (size_t i = 0; i < n; i++) items[i] = json_array_get(v, i);
  rc = pt__track_values(t, items, n, auto_snapshot, NULL, out, err);
  free(items);
  json_decref(v);
  return rc;
}
