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
};

pt_status pt_store_open(const char *url, const pt_store_config *cfg, pt_store **out,
                        pt_error *err) {
  static const pt_store_config defaults = {0, 0};
  if (!cfg) cfg = &defaults;
  *out = NULL;
  const char *colon = url ? strchr(url, ':') : NULL;
  if (!colon)
    return pt_fail(err, PT_EINVALID, "db", "db: \"%s\" is not a store URL (sqlite:PATH or memory:)",
                   url ? url : "");
  size_t n = (size_t)(colon - url);
  for (size_t i = 0; i < sizeof BACKENDS / sizeof *BACKENDS; i++) {
    const pt_store_methods *m = BACKENDS[i];
    if (strlen(m->scheme) == n && strncmp(url, m->scheme, n) == 0) {
      pt_status rc = m->open(colon + 1, cfg, out, err);
      if (rc == PT_OK) (*out)->fail_after = cfg->fail_after > 0 ? cfg->fail_after : -1;
      return rc;
    }
  }
  return pt_fail(err, PT_EINVALID, "db",
                 "db: unknown store \"%.*s\" (this build has sqlite: and memory:)", (int)n, url);
}

void pt_store_close(pt_store *s) {
  if (s) s->m->close(s);
}

static int faulted(pt_store *s, pt_error *err) {
  if (s->fail_after < 0) return 0;
  if (--s->fail_after > 0) return 0;
  s->fail_after = -1;
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
