/* append.c - tracked events applied in the committer's transaction: the
 * session's pipeline checked, a replay told from a conflict by its id, the
 * event linked to the chain and stored, a failure counted in its issue, and
 * the automatic registry entry made.
 *
 * Appends for a session are decided inside the store's write transaction
 * (session aggregate read, idempotency lookup, link computed from the last
 * link), so order is total and gap-free however many threads track. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "tracker_int.h"

/* Same content as docs/concepts.md#sessions-and-events defines it for a replay: the members the
 * client sent, canonical; a ts left out of the replay counts as equal. */
static int same_content(const pt_event *stored, const pt_event *e) {
  if (strcmp(stored->pipeline_type, e->pipeline_type) || strcmp(stored->step, e->step) ||
      stored->status != e->status)
    return 0;
  if (e->ts_given && stored->ts != e->ts) return 0;
  if (strcmp(stored->error, e->error)) return 0;
  if (stored->redacted) /* payloads are gone; their digests remain */
    return strcmp(stored->input_sha256, e->input_sha256) == 0 &&
           strcmp(stored->output_sha256, e->output_sha256) == 0;
  return stored->input_len == e->input_len && stored->output_len == e->output_len &&
         memcmp(stored->input, e->input, e->input_len) == 0 &&
         memcmp(stored->output, e->output, e->output_len) == 0;
}

/* Decides and appends one event. A refusal (conflict) sets st[i] and returns
 * PT_OK; only a storage failure, which aborts the transaction, is returned. */
static pt_status apply_event(pt__tx *x, pt__track_job *j, size_t i) {
  pt_event *e = j->evs[i];
  pt_error *err = &j->errs[i];
  pt__txsess *ts;
  pt_status rc = pt__tx_session(x, e->session_id, e->pipeline_type, &ts, err);
  if (rc) return rc;
  char name[48];
  if (j->prefix)
    snprintf(name, sizeof name, "%s", j->prefix);
  else
    snprintf(name, sizeof name, "events[%zu]", i);
  if (ts->exists && strcmp(ts->s.pipeline_type, e->pipeline_type) != 0) {
    j->st[i] = pt_fail(err, PT_ESESSION_CONFLICT, NULL,
                       "%s.pipeline_type: session \"%s\" is a \"%s\" session, not \"%s\"", name,
                       e->session_id, ts->s.pipeline_type, e->pipeline_type);
    snprintf(err->field, sizeof err->field, "%s.pipeline_type", name);
    return PT_OK;
  }
  if (e->id_given && ts->exists) {
    pt_event *found = NULL;
    rc = pt_store_event_find(x->t->store, e->session_id, e->id, &found, err);
    if (rc == PT_OK) {
      if (same_content(found, e)) {
        j->replayed[i] = found;
        j->st[i] = PT_OK;
      } else {
        pt_event_free(found);
        j->st[i] = pt_fail(err, PT_EEVENT_ID_CONFLICT, NULL,
                           "%s.id: event \"%s\" is already stored in session \"%s\" with other "
                           "content",
                           name, e->id, e->session_id);
        snprintf(err->field, sizeof err->field, "%s.id", name);
      }
      return PT_OK;
    }
    if (rc != PT_ENOTFOUND) return rc;
  }
  e->seq = ts->s.event_count;
  e->received_at = j->h.now;
  if (e->ts < 0) e->ts = j->h.now;
  pt_chain_link(ts->s.event_count ? ts->s.last_link : PT_GENESIS, e, e->link);
  rc = pt_store_event_put(x->t->store, e, &j->adopted[i], err);
  if (rc) return rc;
  if ((rc = pt__tx_apply(x, ts, e, err))) return rc;
  ts->exists = 1;
  ts->dirty = 1;
  j->st[i] = PT_OK;
  if (e->status == PT_FAILURE && (rc = pt__record_failure(x, e, 1, err))) return rc;
  if (j->auto_snapshot) {
    rc = pt__take_snapshot(x, ts, j->h.defs, j->h.now, NULL, &j->snaps[i], &j->snap_ids[i], err);
    if (rc == PT_EUNKNOWN_PIPELINE) return PT_OK; /* defs reloaded away: no snapshot */
    if (rc) return rc;
    j->has_snap[i] = 1;
  }
  return PT_OK;
}

pt_status pt__track_apply(pt__tx *x, pt__job *h) {
  pt__track_job *j = PT__JOB_AS(pt__track_job, h);
  pt_status rc = PT_OK;
  for (size_t i = 0; rc == PT_OK && i < j->n; i++) {
    if (!j->evs[i]) continue;
    rc = apply_event(x, j, i);
    if (rc) h->err = j->errs[i];
    /* written: not a replay, not refused (the counter says "written") */
    if (rc == PT_OK && j->st[i] == PT_OK && !j->replayed[i]) x->events++;
  }
  return rc;
}

void pt__track_keys(pt__job *h, pt__keys *k) {
  pt__track_job *j = PT__JOB_AS(pt__track_job, h);
  for (size_t i = 0; i < j->n; i++) {
    const pt_event *e = j->evs[i];
    if (!e) continue;
    pt__keys_session(k, e->session_id);
    if (e->id_given) pt__keys_event(k, e->session_id, e->id);
    if (e->status == PT_FAILURE) {
      pt_issue key;
      pt_issue_key(&key, e, NULL);
      pt__keys_issue(k, key.id);
    }
  }
}

void pt__track_reset(pt__job *h) {
  pt__track_job *j = PT__JOB_AS(pt__track_job, h);
  for (size_t i = 0; i < j->n; i++)
    if (j->evs[i]) { /* valid: as validation left it; after the rollback the job's again */
      j->st[i] = PT_OK;
      pt_error_clear(&j->errs[i]);
      j->adopted[i] = 0;
    }
  pt__track_clear(h);
}

void pt__track_clear(pt__job *h) {
  pt__track_job *j = PT__JOB_AS(pt__track_job, h);
  for (size_t i = 0; i < j->n; i++) {
    pt_event_free(j->replayed[i]);
    j->replayed[i] = NULL;
    if (j->has_snap[i]) pt_snap_cleanup(&j->snaps[i]);
    j->has_snap[i] = 0;
    free(j->snap_ids[i]);
    j->snap_ids[i] = NULL;
  }
}

/* Every valid event fails with the transaction (those the store had
 * adopted are the job's again after the rollback: reset). */
void pt__track_rolled_back(pt__job *h, pt_status rc, const pt_error *err) {
  pt__track_job *j = PT__JOB_AS(pt__track_job, h);
  pt__job_fail(h, rc, err);
  for (size_t i = 0; i < j->n; i++)
    if (j->evs[i]) {
      j->st[i] = rc;
      j->errs[i] = h->err;
    }
}

void pt__track_publish(pt_tracker *t, pt__job *h) {
  pt__track_job *j = PT__JOB_AS(pt__track_job, h);
  for (size_t i = 0; i < j->n; i++) {
    const pt_event *e = j->evs[i];
    if (!e || j->st[i] != PT_OK || j->replayed[i]) continue; /* a replay changes nothing */
    pt_change c = {.kind = PT_CHANGE_EVENT,
                   .session_id = e->session_id,
                   .pipeline_type = e->pipeline_type,
                   .step = e->step,
                   .status = e->status};
    pt__publish(t, &c);
    if (e->status == PT_FAILURE) {
      pt_issue key;
      pt_issue_key(&key, e, NULL);
      pt_change ic = {.kind = PT_CHANGE_ISSUE, .issue_id = key.id};
      pt__publish(t, &ic);
    }
  }
}
