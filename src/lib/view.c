/* view.c - what the read calls share: a reader with the session loaded
 * and its pipeline resolved, lists of stored entries and events read
 * through it, entries written with the ids they list, and list pages. */
#include "view.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"

/* See view.h. */
pt_status pt__view_open(pt_tracker *t, const char *sid, const char *ptype, pt__view *v,
                        pt_error *err) {
  memset(v, 0, sizeof *v);
  v->t = t;
  pt_session_init(&v->s, sid ? sid : "", "");
  pt_status rc = pt__check_session(sid, ptype, err);
  if (rc) return rc;
  v->defs = pt__defs(t);
  pt_store *st = pt__store(t);
  rc = st->m->reader_open(st, &v->r, err);
  if (rc) return rc;
  pt_session_cleanup(&v->s);
  rc = st->m->read_session(v->r, sid, &v->s, err);
  if (rc == PT_OK) {
    v->found = 1;
  } else if (rc == PT_ENOTFOUND) {
    pt_session_cleanup(&v->s);
    pt_session_init(&v->s, sid, ptype ? ptype : "");
  } else {
    return rc;
  }
  if (v->found && ptype && strcmp(ptype, v->s.pipeline_type) != 0)
    return pt_fail(err, PT_ESESSION_CONFLICT, "pipeline_type",
                   "pipeline_type: session \"%s\" is a \"%s\" session, not \"%s\"", sid,
                   v->s.pipeline_type, ptype);
  const char *type = v->found ? v->s.pipeline_type : ptype;
  if (type) {
    v->p = pt_defs_find(v->defs, type);
    if (!v->p) {
      char h[160];
      pt_defs_hint(v->defs, type, h, sizeof h);
      return pt_fail(err, PT_EUNKNOWN_PIPELINE, "pipeline_type",
                     "pipeline_type: no pipeline \"%s\" is defined%s", type, h);
    }
  }
  return PT_OK;
}

void pt__view_close(pt__view *v) {
  if (v->r) v->r->store->m->reader_close(v->r);
  pt_session_cleanup(&v->s);
  pt_defs_unref(v->defs);
}

pt_status pt__need_session(pt__view *v, pt_error *err) {
  if (v->found) return PT_OK;
  return pt_fail(err, PT_ENOTFOUND, "session_id", "session_id: no session \"%s\" is stored",
                 v->s.session_id);
}

pt_status pt__take(pt_buf *b, char **out, pt_error *err) {
  *out = pt_buf_take(b);
  return *out ? PT_OK : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}

/* ---- snapshots and events as lists ------------------------------------------ */

/* Room for one more of n items of elem bytes in *items (capacity *cap,
 * doubling). 0, or -1 when out of memory (nothing changed). */
static int room(void **items, size_t *cap, size_t n, size_t elem) {
  if (n < *cap) return 0;
  size_t nc = *cap ? *cap * 2 : 16;
  void *ni = realloc(*items, nc * elem);
  if (!ni) return -1;
  *items = ni;
  *cap = nc;
  return 0;
}

static int collect_snap(void *ctx, const pt_snap *s) {
  pt__snaplist *l = ctx;
  if (room((void **)&l->items, &l->cap, l->n, sizeof *l->items)) return l->oom = 1;
  pt_snap *c = &l->items[l->n];
  *c = *s;
  c->notes = s->notes ? strdup(s->notes) : NULL;
  c->signature = s->signature ? strdup(s->signature) : NULL;
  l->n++;
  if ((s->notes && !c->notes) || (s->signature && !c->signature)) return l->oom = 1;
  return 0;
}

void pt__snaplist_free(pt__snaplist *l) {
  for (size_t i = 0; i < l->n; i++) pt_snap_cleanup(&l->items[i]);
  free(l->items);
  memset(l, 0, sizeof *l);
}

pt_status pt__read_snaps(pt__view *v, int64_t before_n, int64_t limit, pt__snaplist *l,
                         pt_error *err) {
  memset(l, 0, sizeof *l);
  if (!v->found) return PT_OK;
  pt_status rc =
      v->r->store->m->read_snapshots(v->r, v->s.session_id, before_n, limit, collect_snap, l, err);
  if (rc == PT_OK && l->oom) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return rc;
}

static int collect_event(void *ctx, const pt_event *e) {
  pt__evlist *l = ctx;
  if (room((void **)&l->items, &l->cap, l->n, sizeof *l->items) ||
      !(l->items[l->n] = pt_event_clone(e)))
    return l->oom = 1;
  l->n++;
  return 0;
}

void pt__evlist_free(pt__evlist *l) {
  for (size_t i = 0; i < l->n; i++) pt_event_free(l->items[i]);
  free(l->items);
  memset(l, 0, sizeof *l);
}

pt_status pt__read_evs(pt__view *v, int64_t from, int64_t to, pt__evlist *l, pt_error *err) {
  memset(l, 0, sizeof *l);
  if (!v->found) return PT_OK;
  pt_status rc =
      v->r->store->m->read_events(v->r, v->s.session_id, from, to, collect_event, l, err);
  if (rc == PT_OK && l->oom) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return rc;
}

int pt__idlist_add(pt__idlist *l, const pt_event *e) {
  if (l->oom || room((void **)&l->ids, &l->cap, l->n, sizeof *l->ids) ||
      !(l->ids[l->n] = strdup(e->id)))
    return l->oom = 1;
  if (l->n++ == 0) l->first = e->seq;
  return 0;
}

static int collect_id(void *ctx, const pt_event *e) {
  return pt__idlist_add(ctx, e);
}

void pt__idlist_free(pt__idlist *l) {
  for (size_t i = 0; i < l->n; i++) free(l->ids[i]);
  free(l->ids);
  memset(l, 0, sizeof *l);
}

pt_status pt__read_ids(pt__view *v, int64_t from, int64_t to, pt__idlist *l, pt_error *err) {
  if (!v->found || from >= to) return PT_OK;
  pt_status rc = v->r->store->m->read_events(v->r, v->s.session_id, from, to, collect_id, l, err);
  if (rc == PT_OK && l->oom) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return rc;
}

int pt__idlist_prepend(pt__idlist *l, pt__idlist *lower) {
  if (!lower->n) return 0;
  if (l->n) {
    size_t cap = lower->cap;
    while (cap < lower->n + l->n) cap = cap ? cap * 2 : 16;
    char **ids = realloc(lower->ids, cap * sizeof *ids);
    if (!ids) return -1;
    memcpy(ids + lower->n, l->ids, l->n * sizeof *ids);
    lower->ids = ids;
    lower->cap = cap;
    lower->n += l->n;
    free(l->ids); /* the strings are lower's now */
  }
  *l = *lower;
  memset(lower, 0, sizeof *lower);
  return 0;
}

/* Writes the entries, reading only the event ids they list: at most the
 * last `cap` of each, so the cost does not grow with the session, and ids
 * only (an event's payloads are not kept). `have` (may be NULL) holds the
 * ids of events already read, in seq order up to the session's last: only
 * the ids before them are read again. */
pt_status pt__write_snaps(pt__view *v, pt_buf *b, const pt__snaplist *l, int64_t cap,
                          const pt__idlist *have, pt_error *err) {
  int64_t hi = 0, lo = INT64_MAX;
  for (size_t i = 0; i < l->n; i++) {
    int64_t ec = l->items[i].event_count;
    int64_t from = ec > cap ? ec - cap : 0;
    if (ec > hi) hi = ec;
    if (from < lo) lo = from;
  }
  if (lo > hi) lo = hi;
  int64_t have_from = have && have->n ? have->first : INT64_MAX;
  pt__idlist more = {0};
  pt_status rc = PT_OK;
  if (v->found && lo < (hi < have_from ? hi : have_from)) {
    rc = v->r->store->m->read_events(v->r, v->s.session_id, lo, hi < have_from ? hi : have_from,
                                     collect_id, &more, err);
    if (rc == PT_OK && more.oom) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  size_t nh = have && have_from < INT64_MAX ? have->n : 0, n = more.n + nh;
  const char **ids = rc == PT_OK ? malloc((n ? n : 1) * sizeof *ids) : NULL;
  if (rc == PT_OK && !ids) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  size_t k = 0;
  for (size_t i = 0; ids && i < more.n; i++) ids[k++] = more.ids[i];
  for (size_t i = 0; ids && i < nh; i++) ids[k++] = have->ids[i];
  /* ids[0] is event `first`; a gap (missing events: damage) only shifts
   * which ids are shown, and verification reports it */
  int64_t first = more.n ? more.first : have_from < INT64_MAX ? have_from : lo;
  for (size_t i = 0; rc == PT_OK && i < l->n; i++) {
    if (i) pt_buf_putc(b, ',');
    pt_snap_write_json(b, &l->items[i], ids, first, (int64_t)k, cap);
  }
  free(ids);
  pt__idlist_free(&more);
  return rc;
}

/* Sessions cursors are "<updated_at>.<session_id>" of the last session of
 * the previous page. */
int pt__parse_cursor(const char *cursor, int64_t *ms, const char **id) {
  char *end;
  errno = 0;
  long long v = strtoll(cursor, &end, 10);
  if (end == cursor || *end != '.' || v < 0 || errno == ERANGE || !end[1]) return -1;
  *ms = v;
  *id = end + 1;
  return 0;
}

/* Closes a page: `],"next_cursor":"<ms>.<id>"|null}` and takes the text. */
pt_status pt__end_page(pt_buf *b, int more, int64_t ms, const char *id, char **out, pt_error *err) {
  pt_buf_puts(b, "],\"next_cursor\":");
  if (more) {
    char c[PT_ID_MAX + 32];
    snprintf(c, sizeof c, "%" PRId64 ".%s", ms, id);
    pt_buf_json_cstr(b, c);
  } else {
    pt_buf_puts(b, "null");
  }
  pt_buf_putc(b, '}');
  return pt__take(b, out, err);
}

int pt__page(int *limit, const char *cursor, int64_t *ms, const char **id, pt_error *err) {
  if (*limit <= 0) *limit = 50;
  if (*limit > PT_PAGE_MAX) *limit = PT_PAGE_MAX;
  if (cursor && *cursor && pt__parse_cursor(cursor, ms, id)) {
    pt_fail(err, PT_EINVALID, "cursor", "cursor: must be a next_cursor value from an earlier page");
    return -1;
  }
  return 0;
}
