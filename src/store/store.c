/* store.c - choosing a backend by URL scheme, and the thin wrappers through
 * which the tracker calls it (assertions and fault injection live here, not
 * in every backend). */
#include "store.h"

#include <assert.h>
#include <string.h>

#include "../core/error.h"

static const pt_store_methods *const BACKENDS[] = {
    &pt_store_memory_methods,
    &pt_store_sqlite_methods,
    &pt_store_pg_methods,
};

/* The name of a required method the backend leaves NULL, or NULL: a
 * missing method is a broken build, not a feature turned off. */
static const char *missing(const pt_store_methods *m) {
#define REQ(f) \
  if (!m->f) return #f
  REQ(open);
  REQ(close);
  REQ(begin);
  REQ(commit);
  REQ(rollback);
  REQ(session_get);
  REQ(session_put);
  REQ(event_find);
  REQ(event_append);
  REQ(snapshot_put);
  REQ(tx_event_ids);
  REQ(tx_read_events);
  REQ(event_redact);
  REQ(reader_open);
  REQ(reader_close);
  REQ(read_session);
  REQ(read_events);
  REQ(read_snapshots);
  REQ(list_sessions);
  REQ(list_sessions_by);
  REQ(read_mark);
  REQ(mark_put);
  REQ(list_session_ids);
  REQ(read_snapshots_from);
  REQ(issues);
  REQ(issues->issue_get);
  REQ(issues->issue_put);
  REQ(issues->issue_session_add);
  REQ(issues->read_issue);
  REQ(issues->read_issues);
  REQ(issues->read_issue_sessions);
  REQ(issues->read_issue_sessions_from);
  REQ(issues->outbox_add);
  REQ(issues->outbox_claim);
  REQ(issues->outbox_done);
  REQ(issues->read_outbox_due);
  REQ(issues->read_outbox_count);
  REQ(rollups);
  REQ(rollups->rollup_add);
  REQ(rollups->read_rollups);
  REQ(rollups->list_sessions_created);
  REQ(rollups->rollup_todo);
  REQ(rollups->rollup_todo_set);
#undef REQ
  return NULL;
}

pt_status pt_store_open(const char *url, const pt_store_config *cfg, pt_store **out,
                        pt_error *err) {
  static const pt_store_config defaults = {0, 0};
  if (!cfg) cfg = &defaults;
  *out = NULL;
  const char *colon = url ? strchr(url, ':') : NULL;
  if (!colon)
    return pt_fail(err, PT_EINVALID, "db",
                   "db: \"%s\" is not a store URL (sqlite:PATH, postgres://URL or memory:)",
                   url ? url : "");
  size_t n = (size_t)(colon - url);
  for (size_t i = 0; i < sizeof BACKENDS / sizeof *BACKENDS; i++) {
    const pt_store_methods *m = BACKENDS[i];
    int match = strlen(m->scheme) == n && strncmp(url, m->scheme, n) == 0;
    /* "postgresql://" names the same backend as "postgres://" */
    if (!match && m->alias) match = strlen(m->alias) == n && strncmp(url, m->alias, n) == 0;
    if (!match) continue;
    const char *gap = missing(m);
    if (gap)
      return pt_fail(err, PT_ESTORAGE, "db", "db: the %s store misses its %s method", m->scheme,
                     gap);
    /* a conninfo URL is handed on whole; others get what follows "scheme:" */
    pt_status rc = m->open(m->flags & PT_STORE_F_WHOLE_URL ? url : colon + 1, cfg, out, err);
    if (rc == PT_OK) {
      (*out)->fail_after = cfg->fail_after > 0 ? cfg->fail_after : -1;
      (*out)->retryable = 0;
      (*out)->fail_retryable = 0;
    }
    return rc;
  }
  return pt_fail(err, PT_EINVALID, "db",
                 "db: unknown store \"%.*s\" (this build has sqlite:, memory: and postgres://)",
                 (int)n, url);
}

void pt_store_close(pt_store *s) {
  if (s) s->m->close(s);
}

static int faulted(pt_store *s, pt_error *err) {
  if (s->fail_after < 0) return 0;
  if (--s->fail_after > 0) return 0;
  s->fail_after = -1;
  if (s->fail_retryable) s->retryable = 1;
  s->fail_retryable = 0;
  pt_fail(err, PT_ESTORAGE, NULL, "injected storage fault");
  return 1;
}

pt_status pt_store_begin(pt_store *s, pt_error *err) {
  if (faulted(s, err)) return PT_ESTORAGE;
  return s->m->begin(s, err);
}

pt_status pt_store_commit(pt_store *s, pt_error *err) {
  if (faulted(s, err)) {
    s->m->rollback(s);
    return PT_ESTORAGE;
  }
  return s->m->commit(s, err);
}

void pt_store_rollback(pt_store *s) {
  s->m->rollback(s);
}

pt_status pt_store_session_get(pt_store *s, const char *sid, pt_session *out, pt_error *err) {
  return s->m->session_get(s, sid, out, err);
}

pt_status pt_store_session_put(pt_store *s, const pt_session *x, int is_new, pt_error *err) {
  if (faulted(s, err)) return PT_ESTORAGE;
  return s->m->session_put(s, x, is_new, err);
}

pt_status pt_store_event_find(pt_store *s, const char *sid, const char *eid, pt_event **out,
                              pt_error *err) {
  return s->m->event_find(s, sid, eid, out, err);
}

pt_status pt_store_event_append(pt_store *s, const pt_event *e, pt_error *err) {
  assert(e->seq >= 0 && strlen(e->link) == 64);
  if (faulted(s, err)) return PT_ESTORAGE;
  return s->m->event_append(s, e, err);
}

pt_status pt_store_event_put(pt_store *s, pt_event *e, int *adopted, pt_error *err) {
  assert(e->seq >= 0 && strlen(e->link) == 64);
  *adopted = 0;
  if (faulted(s, err)) return PT_ESTORAGE;
  if (!s->m->event_adopt) return s->m->event_append(s, e, err);
  pt_status rc = s->m->event_adopt(s, e, err);
  *adopted = rc == PT_OK;
  return rc;
}

pt_status pt_store_snapshot_put(pt_store *s, const pt_snap *x, pt_error *err) {
  if (faulted(s, err)) return PT_ESTORAGE;
  return s->m->snapshot_put(s, x, err);
}

pt_status pt_store_event_redact(pt_store *s, const char *sid, int64_t seq, pt_error *err) {
  if (faulted(s, err)) return PT_ESTORAGE;
  return s->m->event_redact(s, sid, seq, err);
}

pt_status pt_store_issue_get(pt_store *s, const char *id, pt_issue *out, pt_error *err) {
  return s->m->issues->issue_get(s, id, out, err);
}

pt_status pt_store_issue_put(pt_store *s, const pt_issue *x, int is_new, pt_error *err) {
  if (faulted(s, err)) return PT_ESTORAGE;
  return s->m->issues->issue_put(s, x, is_new, err);
}

pt_status pt_store_issue_session_add(pt_store *s, const char *issue_id, const char *sid, int64_t at,
                                     int *is_new, pt_error *err) {
  if (faulted(s, err)) return PT_ESTORAGE;
  return s->m->issues->issue_session_add(s, issue_id, sid, at, is_new, err);
}

pt_status pt_store_outbox_add(pt_store *s, const char *issue_id, const char *action, int64_t at,
                              int64_t due_at, pt_error *err) {
  if (faulted(s, err)) return PT_ESTORAGE;
  return s->m->issues->outbox_add(s, issue_id, action, at, due_at, err);
}

pt_status pt_store_outbox_claim(pt_store *s, int64_t id, int64_t now, int64_t until, int *claimed,
                                pt_error *err) {
  *claimed = 0;
  if (faulted(s, err)) return PT_ESTORAGE;
  return s->m->issues->outbox_claim(s, id, now, until, claimed, err);
}

pt_status pt_store_outbox_done(pt_store *s, int64_t id, int ok, int64_t next_at, pt_error *err) {
  if (faulted(s, err)) return PT_ESTORAGE;
  return s->m->issues->outbox_done(s, id, ok, next_at, err);
}

pt_status pt_store_rollup_add(pt_store *s, const pt_rollup_row *rows, size_t n, pt_error *err) {
  if (faulted(s, err)) return PT_ESTORAGE;
  return s->m->rollups->rollup_add(s, rows, n, err);
}

pt_status pt_store_mark_put(pt_store *s, const char *key, const char *value, pt_error *err) {
  if (faulted(s, err)) return PT_ESTORAGE;
  return s->m->mark_put(s, key, value, err);
}
