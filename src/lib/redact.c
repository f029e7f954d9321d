/* redact.c - redaction (docs/concepts.md#redaction): events' payloads deleted for good in the
 * committer's transaction, issue samples redacted with them, a registry
 * entry saying who and how many, and the scrub of the store's files after
 * the commit, without which a redaction is not acknowledged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "../core/validate.h"
#include "tracker_int.h"

typedef struct evvec {
  pt_event **v;
  size_t n, cap;
  int oom;
} evvec;

static int evvec_add(evvec *l, pt_event *e) {
  if (!e) return l->oom = 1;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    pt_event **nv = realloc(l->v, nc * sizeof *nv);
    if (!nv) {
      pt_event_free(e);
      return l->oom = 1;
    }
    l->v = nv;
    l->cap = nc;
  }
  l->v[l->n++] = e;
  return 0;
}

static int evvec_clone(void *ctx, const pt_event *e) {
  return evvec_add(ctx, pt_event_clone(e));
}

static void evvec_free(evvec *l) {
  for (size_t i = 0; i < l->n; i++) pt_event_free(l->v[i]);
  free(l->v);
}

/* An issue whose sample is one of the redacted events gets the redacted
 * copy as its sample: an issue's sample is its latest failure, so only
 * issues whose last session is this one can hold one. */
static pt_status redact_samples(pt__tx *x, const evvec *l, pt_error *err) {
  pt_store *st = x->t->store;
  for (size_t i = 0; i < l->n; i++) {
    const pt_event *e = l->v[i];
    if (e->status != PT_FAILURE) continue;
    pt_issue key, got;
    pt_issue_key(&key, e, NULL);
    pt_status rc = pt_store_issue_get(st, key.id, &got, err);
    if (rc == PT_ENOTFOUND) continue;
    if (rc) return rc;
    /* the sample is the event's JSON, which starts with its id */
    char head[PT_ID_MAX + 16];
    snprintf(head, sizeof head, "{\"id\":\"%s\",", e->id);
    if (strcmp(got.last_session_id, e->session_id) == 0 && got.sample_event &&
        strncmp(got.sample_event, head, strlen(head)) == 0) {
      pt_event *r = pt_event_redacted(e);
      pt_buf b;
      pt_buf_init(&b, 0);
      if (r) pt_event_write_json(&b, r);
      pt_event_free(r);
      char *text = pt_buf_take(&b);
      if (!text) {
        pt_issue_cleanup(&got);
        return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
      }
      free(got.sample_event);
      got.sample_event = text;
      rc = pt_store_issue_put(st, &got, 0, err);
    }
    pt_issue_cleanup(&got);
    if (rc) return rc;
  }
  return PT_OK;
}

typedef struct redact_job {
  pt__job h;
  const char *sid;
  const char *actor; /* who asked */
  /* the ids asked for (none: all) */
  const char *const *rids;
  size_t nrids;
  pt_buf *redacted; /* the answer's list of redacted ids (a JSON array) */
  pt_snap *entry;   /* the entry made, or NULL */
  char *ids;        /* its event ids, read in the transaction */
} redact_job;

/* Every event asked for is checked first (an unknown id refuses the request
 * with nothing changed), then each one not redacted yet loses its payloads,
 * issue samples are redacted too, and a registry entry records who and how
 * many. */
pt_status pt__redact_apply(pt__tx *x, pt__job *h) {
  redact_job *j = PT__JOB_AS(redact_job, h);
  pt_store *st = x->t->store;
  pt__txsess *ts;
  pt_status rc = pt__tx_stored(x, h, j->sid, &ts);
  if (rc || !ts) return rc;
  evvec l = {0};
  if (j->nrids) {
    for (size_t i = 0; i < j->nrids; i++) {
      pt_event *e = NULL;
      rc = pt_store_event_find(st, j->sid, j->rids[i], &e, &h->err);
      if (rc == PT_ENOTFOUND) {
        h->result =
            pt_fail(&h->err, PT_ENOTFOUND, NULL,
                    "event_ids[%zu]: no event \"%s\" in session \"%s\"", i, j->rids[i], j->sid);
        snprintf(h->err.field, sizeof h->err.field, "event_ids[%zu]", i);
        evvec_free(&l);
        return PT_OK;
      }
      if (rc) {
        evvec_free(&l);
        return rc;
      }
      int dup = 0;
      for (size_t k = 0; k < l.n && !dup; k++) dup = l.v[k]->seq == e->seq;
      if (dup)
        pt_event_free(e);
      else
        evvec_add(&l, e);
    }
  } else {
    rc = st->m->tx_read_events(st, j->sid, 0, ts->s.event_count, evvec_clone, &l, &h->err);
  }
  if (rc == PT_OK && l.oom) rc = pt_fail(&h->err, PT_ENOMEM, NULL, "out of memory");
  size_t fresh = 0;
  pt_buf_puts(j->redacted, "[");
  for (size_t i = 0; rc == PT_OK && i < l.n; i++) {
    if (i) pt_buf_putc(j->redacted, ',');
    pt_buf_json_cstr(j->redacted, l.v[i]->id);
    if (l.v[i]->redacted) continue;
    rc = pt_store_event_redact(st, j->sid, l.v[i]->seq, &h->err);
    fresh++;
  }
  pt_buf_puts(j->redacted, "]");
  if (rc == PT_OK) rc = redact_samples(x, &l, &h->err);
  if (rc == PT_OK && fresh) {
    /* who, when (the entry's created_at) and how many; ids in the list */
    pt_buf note;
    pt_buf_init(&note, 0);
    pt_buf_printf(&note, "redacted %zu event%s by %s:", fresh, fresh == 1 ? "" : "s", j->actor);
    size_t shown = 0;
    for (size_t i = 0; i < l.n && shown < 10; i++)
      if (!l.v[i]->redacted) pt_buf_printf(&note, "%s %s", shown++ ? "," : "", l.v[i]->id);
    if (fresh > shown) pt_buf_printf(&note, " and %zu more", fresh - shown);
    j->entry = calloc(1, sizeof *j->entry);
    if (!j->entry || note.failed)
      rc = pt_fail(&h->err, PT_ENOMEM, NULL, "out of memory");
    else
      rc =
          pt__take_snapshot(x, ts, h->defs, h->now, pt_buf_cstr(&note), j->entry, &j->ids, &h->err);
    pt_buf_cleanup(&note);
    if (rc == PT_EUNKNOWN_PIPELINE) { /* definitions reloaded away: no entry */
      pt__entry_free(&j->entry);
      rc = PT_OK;
    }
  }
  evvec_free(&l);
  if (rc == PT_OK && j->redacted->failed) rc = pt_fail(&h->err, PT_ENOMEM, NULL, "out of memory");
  if (rc) return rc;
  /* a repeat scrubs too: it is how a redaction whose scrub failed (readers
   * held old pages) is completed */
  h->needs_scrub = 1;
  h->result = PT_OK;
  return PT_OK;
}

void pt__redact_reset(pt__job *h) {
  redact_job *j = PT__JOB_AS(redact_job, h);
  pt__entry_free(&j->entry);
  free(j->ids);
  j->ids = NULL;
  pt_buf_reset(j->redacted); /* the list is written again */
}

/* A redaction is acknowledged only once the store's files hold no older copy
 * of the payloads (docs/concepts.md#redaction). */
void pt__scrub_after_redactions(pt_tracker *t, pt__job *jobs) {
  int any = 0;
  for (pt__job *j = jobs; j; j = j->next) any |= j->needs_scrub && j->result == PT_OK;
  if (!any || !t->store->m->scrub) return;
  pt_error err;
  memset(&err, 0, sizeof err);
  if (t->store->m->scrub(t->store, &err) == PT_OK) return;
  for (pt__job *j = jobs; j; j = j->next)
    if (j->needs_scrub && j->result == PT_OK) pt__job_fail(j, PT_ESTORAGE, &err);
}

pt_status pt_redact(pt_tracker *t, const char *session_id, const char *const *event_ids, size_t n,
                    const char *actor, char **out, pt_error *err) {
  *out = NULL;
  if (!session_id || !pt_is_id(session_id))
    return pt_fail(err, PT_EINVALID, "session_id",
                   "session_id: must be 1-128 characters of A-Z a-z 0-9 _ . : -");
  if (n > PT_BATCH_MAX)
    return pt_fail(err, PT_EINVALID, "event_ids", "event_ids: at most %d ids a request",
                   PT_BATCH_MAX);
  for (size_t i = 0; i < n; i++)
    if (!event_ids[i] || !pt_is_id(event_ids[i])) {
      pt_fail(err, PT_EINVALID, NULL,
              "event_ids[%zu]: must be 1-128 characters of A-Z a-z 0-9 _ . : -", i);
      if (err) snprintf(err->field, sizeof err->field, "event_ids[%zu]", i);
      return PT_EINVALID;
    }
  if (!actor || !*actor) actor = "unknown";
  if (strlen(actor) > 256 || !pt_utf8_valid(actor, strlen(actor)))
    return pt_fail(err, PT_EINVALID, "actor", "actor: must be valid UTF-8, at most 256 bytes");
  pt_buf ids;
  pt_buf_init(&ids, 0);
  redact_job j = {
      .sid = session_id, .actor = actor, .rids = event_ids, .nrids = n, .redacted = &ids};
  pt__job_init(&j.h, PT__JOB_REDACT, t);
  pt_status rc = pt__job_run(t, &j.h, err);
  if (rc == PT_OK) {
    char *entry = !j.entry ? NULL
                  : j.ids  ? pt__snapshot_json_ids(j.entry, j.ids)
                           : pt__snapshot_json(t, j.entry, err);
    pt_buf b;
    pt_buf_init(&b, 0);
    pt_buf_json_member(&b, "{\"session_id\":", session_id);
    pt_buf_puts(&b, ",\"redacted\":");
    pt_buf_puts(&b, pt_buf_cstr(&ids));
    pt_buf_puts(&b, ",\"snapshot\":");
    pt_buf_puts(&b, entry ? entry : "null");
    pt_buf_putc(&b, '}');
    free(entry);
    if ((j.entry && !entry) || !(*out = pt_buf_take(&b))) {
      pt_buf_cleanup(&b);
      rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    }
  }
  pt__redact_reset(&j.h);
  pt_buf_cleanup(&ids);
  pt_defs_unref(j.h.defs);
  return rc;
}

void pt__redact_publish(pt_tracker *t, pt__job *h) {
  redact_job *j = PT__JOB_AS(redact_job, h);
  pt_change c = {.kind = PT_CHANGE_SESSION, .session_id = j->sid};
  pt__publish(t, &c);
}

void pt__redact_keys(pt__job *h, pt__keys *k) {
  pt__keys_session(k, PT__JOB_AS(redact_job, h)->sid);
}
