/* snapshot.c - registry entries (docs/concepts.md#registry-entries-snapshots): made in the
 * committer's transaction (after a tracked event, on request, after a redaction), signed before
 * they are stored, and rendered with the event ids they list. */
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "../core/validate.h"
#include "tracker_int.h"

/* The first event an entry lists the id of (it lists the latest
 * PT_SNAP_IDS_MAX). */
static int64_t snap_ids_first(const pt_snap *s) {
  return s->event_count > PT_SNAP_IDS_MAX ? s->event_count - PT_SNAP_IDS_MAX : 0;
}

/* ---- making entries ------------------------------------------------------------ */

static int collect_id_text(void *ctx, const char *id) {
  pt_buf *b = ctx;
  pt_buf_put(b, id, strlen(id) + 1);
  return b->failed != 0;
}

/* Signs the entry (docs/concepts.md#registry-entries-snapshots) before it is stored: over its
 * listed form, whose ids come from the session's recent list (have, NUL-separated) or, past it,
 * from this transaction's view of the store. */
static pt_status sign_snapshot(pt__tx *x, pt_snap *out, const char *have, pt_error *err) {
  int64_t first = snap_ids_first(out), n = out->event_count - first;
  pt_buf idtext;
  pt_buf_init(&idtext, 0);
  if (!have) {
    pt_store *st = x->t->store;
    pt_status rc = st->m->tx_event_ids(st, out->session_id, first, out->event_count,
                                       collect_id_text, &idtext, err);
    if (rc) {
      pt_buf_cleanup(&idtext);
      return rc;
    }
    have = idtext.data ? idtext.data : "";
  }
  const char **list = n ? malloc((size_t)n * sizeof *list) : NULL;
  pt_buf text;
  pt_buf_init(&text, 0);
  char sig[PT_SIG_B64];
  int ok = !idtext.failed && (list || !n);
  for (int64_t k = 0; ok && k < n; k++, have += strlen(have) + 1) list[k] = have;
  ok = ok && pt_snap_signed_text(&text, out, list, first, n) == 0 &&
       pt_signer_sign(x->t->signer, text.data, text.len, sig) == 0 &&
       (out->signature = strdup(sig)) != NULL;
  free(list);
  pt_buf_cleanup(&text);
  pt_buf_cleanup(&idtext);
  return ok ? PT_OK : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}

pt_status pt__take_snapshot(pt__tx *x, pt__txsess *ts, const pt_defs *defs, int64_t now,
                            const char *notes, pt_snap *out, char **ids, pt_error *err) {
  const pt_pipeline *p = pt_defs_find(defs, ts->s.pipeline_type);
  if (!p)
    return pt_fail(err, PT_EUNKNOWN_PIPELINE, "pipeline_type",
                   "pipeline_type: \"%s\" is no longer defined", ts->s.pipeline_type);
  pt_cksum c;
  pt_cksum_compute(&ts->s, p, now, &c);
  if (pt_snap_make(&ts->s, &c, now, notes, out))
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  const char *have = pt_session_recent_ids(&ts->s, snap_ids_first(out));
  if (have && ids) {
    size_t len = (size_t)(ts->s.recent + ts->s.recent_len - have);
    if ((*ids = malloc(len ? len : 1))) memcpy(*ids, have, len);
  } else if (ids) {
    /* read here, in the transaction: read after the commit, a failing read
     * would answer an error for an entry that is stored (and a retry would
     * make a second one) */
    pt_buf idtext;
    pt_buf_init(&idtext, 0);
    pt_store *st = x->t->store;
    pt_status rc = st->m->tx_event_ids(st, out->session_id, snap_ids_first(out), out->event_count,
                                       collect_id_text, &idtext, err);
    if (rc == PT_OK && idtext.failed) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    if (rc) {
      pt_buf_cleanup(&idtext);
      return rc;
    }
    pt_buf_putc(&idtext, '\0'); /* an empty list is still a string */
    *ids = pt_buf_take(&idtext);
    if (!*ids) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    have = *ids;
  }
  ts->dirty = 1;
  if (x->t->signer) {
    pt_status rc = sign_snapshot(x, out, have, err);
    if (rc) return rc;
  }
  return pt_store_snapshot_put(x->t->store, out, err);
}

void pt__entry_free(pt_snap **entry) {
  if (!*entry) return;
  pt_snap_cleanup(*entry);
  free(*entry);
  *entry = NULL;
}

/* ---- an entry on request ----------------------------------------------------- */

typedef struct snapshot_job {
  pt__job h;
  const char *sid, *ptype, *notes;
  pt_snap *entry; /* the entry made */
  char *ids;      /* its event ids, read in the transaction */
} snapshot_job;

pt_status pt__snapshot_apply(pt__tx *x, pt__job *h) {
  snapshot_job *j = PT__JOB_AS(snapshot_job, h);
  pt__txsess *ts;
  pt_status rc = pt__tx_stored(x, h, j->sid, &ts);
  if (rc || !ts) return rc;
  if (j->ptype && strcmp(j->ptype, ts->s.pipeline_type) != 0) {
    h->result = pt_fail(&h->err, PT_ESESSION_CONFLICT, "pipeline_type",
                        "pipeline_type: session \"%s\" is a \"%s\" session, not \"%s\"", j->sid,
                        ts->s.pipeline_type, j->ptype);
    return PT_OK;
  }
  j->entry = calloc(1, sizeof *j->entry);
  if (!j->entry) return pt_fail(&h->err, PT_ENOMEM, NULL, "out of memory");
  rc = pt__take_snapshot(x, ts, h->defs, h->now, j->notes, j->entry, &j->ids, &h->err);
  if (rc == PT_EUNKNOWN_PIPELINE) {
    h->result = rc;
    return PT_OK;
  }
  if (rc) return rc;
  h->result = PT_OK;
  return PT_OK;
}

void pt__snapshot_reset(pt__job *h) {
  snapshot_job *j = PT__JOB_AS(snapshot_job, h);
  pt__entry_free(&j->entry);
  free(j->ids);
  j->ids = NULL;
}

pt_status pt_snapshot(pt_tracker *t, const char *session_id, const char *pipeline_type,
                      const char *notes, char **out, pt_error *err) {
  *out = NULL;
  pt_status rc = pt__check_session(session_id, pipeline_type, err);
  if (rc) return rc;
  if (notes && (strlen(notes) > 4096 || !pt_utf8_valid(notes, strlen(notes))))
    return pt_fail(err, PT_EINVALID, "notes", "notes: must be valid UTF-8, at most 4096 bytes");
  snapshot_job j = {.sid = session_id, .ptype = pipeline_type, .notes = notes};
  pt__job_init(&j.h, PT__JOB_SNAPSHOT, t);
  rc = pt__job_run(t, &j.h, err);
  if (rc == PT_OK) {
    *out = j.ids ? pt__snapshot_json_ids(j.entry, j.ids) : pt__snapshot_json(t, j.entry, err);
    if (!*out) rc = err && err->code ? err->code : PT_ENOMEM;
  }
  pt__snapshot_reset(&j.h);
  pt_defs_unref(j.h.defs);
  return rc;
}

/* ---- rendering ------------------------------------------------------------------ */

/* Event ids 0..count-1 of a session, for rendering snapshot entries. */
typedef struct idlist {
  char **ids;
  int64_t n, cap;
} idlist;

static int collect_id(void *ctx, const pt_event *e) {
  idlist *l = ctx;
  if (l->n == l->cap) {
    int64_t nc = l->cap ? l->cap * 2 : 16;
    char **ni = realloc(l->ids, (size_t)nc * sizeof *ni);
    if (!ni) return 1;
    l->ids = ni;
    l->cap = nc;
  }
  if (!(l->ids[l->n] = strdup(e->id))) return 1;
  l->n++;
  return 0;
}

static void idlist_free(idlist *l) {
  for (int64_t i = 0; i < l->n; i++) free(l->ids[i]);
  free(l->ids);
  l->ids = NULL;
  l->n = l->cap = 0;
}

char *pt__snapshot_json_ids(const pt_snap *s, const char *ids) {
  int64_t first = snap_ids_first(s), n = s->event_count - first;
  /* the recent list (16) on the stack; a list read in the transaction (up
   * to PT_SNAP_IDS_MAX) on the heap */
  const char *stack[PT_RECENT_IDS];
  const char **list = n > PT_RECENT_IDS ? malloc((size_t)n * sizeof *list) : stack;
  if (!list) return NULL;
  for (int64_t k = 0; k < n; k++, ids += strlen(ids) + 1) list[k] = ids;
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_snap_write_json(&b, s, list, first, n, PT_SNAP_IDS_MAX);
  if (list != stack) free((void *)list);
  return pt_buf_take(&b);
}

char *pt__snapshot_json(pt_tracker *t, const pt_snap *s, pt_error *err) {
  pt_reader *r;
  if (t->store->m->reader_open(t->store, &r, err)) return NULL;
  idlist l;
  memset(&l, 0, sizeof l);
  int64_t first = snap_ids_first(s);
  pt_status rc =
      r->store->m->read_events(r, s->session_id, first, s->event_count, collect_id, &l, err);
  t->store->m->reader_close(r);
  if (rc) {
    idlist_free(&l);
    return NULL;
  }
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_snap_write_json(&b, s, (const char *const *)l.ids, first, l.n, PT_SNAP_IDS_MAX);
  idlist_free(&l);
  return pt_buf_take(&b);
}

void pt__snapshot_publish(pt_tracker *t, pt__job *h) {
  snapshot_job *j = PT__JOB_AS(snapshot_job, h);
  pt_change c = {.kind = PT_CHANGE_SESSION, .session_id = j->sid};
  pt__publish(t, &c);
}

void pt__snapshot_keys(pt__job *h, pt__keys *k) {
  pt__keys_session(k, PT__JOB_AS(snapshot_job, h)->sid);
}
