/* track.c - the tracking calls: events validated in the caller's thread,
 * queued as one job for the committer's next group commit (committer.c,
 * append.c), and the results rendered back in the caller's thread. */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "../core/validate.h"
#include "tracker_int.h"

/* ---- the job ------------------------------------------------------------------- */

static void job_free(pt__track_job *j) {
  pt__track_clear(&j->h);
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
