/* reads.c - the read side of the public API: checksum, status summary,
 * registry history, report and verification. Each call reads through one
 * store reader, so it sees one consistent committed state. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "../core/jcs.h"
#include "../core/report.h"
#include "../core/sha.h"
#include "../core/verify.h"
#include "tracker_int.h"

#define DEFAULT_EVENTS_LIMIT 100
#define DEFAULT_HISTORY_LIMIT 20
#define MAX_LIST_LIMIT 1000

/* A reader with the session loaded and its pipeline resolved. */
typedef struct view {
  pt_tracker *t;
  pt_reader *r;
  pt_defs *defs;
  const pt_pipeline *p;
  pt_session s;
  int found;
} view;

static pt_status view_open(pt_tracker *t, const char *sid, const char *ptype, view *v,
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
    if (!v->p)
      return pt_fail(err, PT_EUNKNOWN_PIPELINE, "pipeline_type",
                     "pipeline_type: no pipeline \"%s\" is defined", type);
  }
  return PT_OK;
}

static void view_close(view *v) {
  if (v->r) v->r->store->m->reader_close(v->r);
  pt_session_cleanup(&v->s);
  pt_defs_unref(v->defs);
}

static pt_status need_session(view *v, pt_error *err) {
  if (v->found) return PT_OK;
  return pt_fail(err, PT_ENOTFOUND, "session_id", "session_id: no session \"%s\" is stored",
                 v->s.session_id);
}

static pt_status take(pt_buf *b, char **out, pt_error *err) {
  *out = pt_buf_take(b);
  return *out ? PT_OK : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}

pt_status pt_checksum(pt_tracker *t, const char *session_id, char **out, pt_error *err) {
  *out = NULL;
  view v;
  pt_status rc = view_open(t, session_id, NULL, &v, err);
  if (rc == PT_OK) rc = need_session(&v, err);
  if (rc == PT_OK) {
    pt_cksum c;
    pt_cksum_compute(&v.s, v.p, pt__now(t), &c);
    pt_buf b;
    pt_buf_init(&b, 0);
    pt_cksum_write_json(&b, &c, v.p);
    rc = take(&b, out, err);
  }
  view_close(&v);
  return rc;
}

/* ---- snapshots as lists --------------------------------------------------- */

typedef struct snaplist {
  pt_snap *items;
  size_t n, cap;
  int oom;
} snaplist;

static int collect_snap(void *ctx, const pt_snap *s) {
  snaplist *l = ctx;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 8;
    pt_snap *ni = realloc(l->items, nc * sizeof *ni);
    if (!ni) return l->oom = 1;
    l->items = ni;
    l->cap = nc;
  }
  pt_snap *c = &l->items[l->n];
  *c = *s;
  c->notes = s->notes ? strdup(s->notes) : NULL;
  c->signature = s->signature ? strdup(s->signature) : NULL;
  l->n++;
  if ((s->notes && !c->notes) || (s->signature && !c->signature)) return l->oom = 1;
  return 0;
}

static void snaplist_free(snaplist *l) {
  for (size_t i = 0; i < l->n; i++) pt_snap_cleanup(&l->items[i]);
  free(l->items);
  memset(l, 0, sizeof *l);
}

static pt_status read_snaps(view *v, int64_t before_n, int64_t limit, snaplist *l, pt_error *err) {
  memset(l, 0, sizeof *l);
  if (!v->found) return PT_OK;
  pt_status rc =
      v->r->store->m->read_snapshots(v->r, v->s.session_id, before_n, limit, collect_snap, l, err);
  if (rc == PT_OK && l->oom) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return rc;
}

/* Stored events, owned, in seq order. */
typedef struct evlist {
  pt_event **items;
  size_t n, cap;
  int oom;
} evlist;

static int collect_event(void *ctx, const pt_event *e) {
  evlist *l = ctx;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    pt_event **ni = realloc(l->items, nc * sizeof *ni);
    if (!ni) return l->oom = 1;
    l->items = ni;
    l->cap = nc;
  }
  if (!(l->items[l->n] = pt_event_clone(e))) return l->oom = 1;
  l->n++;
  return 0;
}

static void evlist_free(evlist *l) {
  for (size_t i = 0; i < l->n; i++) pt_event_free(l->items[i]);
  free(l->items);
  memset(l, 0, sizeof *l);
}

static pt_status read_evs(view *v, int64_t from, int64_t to, evlist *l, pt_error *err) {
  memset(l, 0, sizeof *l);
  if (!v->found) return PT_OK;
  pt_status rc =
      v->r->store->m->read_events(v->r, v->s.session_id, from, to, collect_event, l, err);
  if (rc == PT_OK && l->oom) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return rc;
}

/* Writes the entries, reading only the event ids they list: at most the
 * last `cap` of each, so the cost does not grow with the session. `have`
 * (may be NULL) holds events already read, in seq order up to the session's
 * last: only the ids before them are read again. */
static pt_status write_snaps(view *v, pt_buf *b, const snaplist *l, int64_t cap, const evlist *have,
                             pt_error *err) {
  int64_t hi = 0, lo = INT64_MAX;
  for (size_t i = 0; i < l->n; i++) {
    int64_t ec = l->items[i].event_count;
    int64_t from = ec > cap ? ec - cap : 0;
    if (ec > hi) hi = ec;
    if (from < lo) lo = from;
  }
  if (lo > hi) lo = hi;
  int64_t have_from = have && have->n ? have->items[0]->seq : INT64_MAX;
  evlist more;
  pt_status rc = read_evs(v, lo, hi < have_from ? hi : have_from, &more, err);
  size_t n = more.n + (have && have_from < INT64_MAX ? have->n : 0);
  const char **ids = rc == PT_OK ? malloc((n ? n : 1) * sizeof *ids) : NULL;
  if (rc == PT_OK && !ids) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  size_t k = 0;
  for (size_t i = 0; ids && i < more.n; i++) ids[k++] = more.items[i]->id;
  for (size_t i = 0; ids && have && have_from < INT64_MAX && i < have->n; i++)
    ids[k++] = have->items[i]->id;
  /* ids[0] is event `first`; a gap (missing events: damage) only shifts
   * which ids are shown, and verification reports it */
  int64_t first = more.n ? more.items[0]->seq : have_from < INT64_MAX ? have_from : lo;
  for (size_t i = 0; rc == PT_OK && i < l->n; i++) {
    if (i) pt_buf_putc(b, ',');
    pt_snap_write_json(b, &l->items[i], ids, first, (int64_t)k, cap);
  }
  free(ids);
  evlist_free(&more);
  return rc;
}

/* What a status answer is made of, hashed: the events (the chain hash), the
 * registry (count and newest entry), the state (it moves to `stalled` with
 * time alone), the pipeline's definition and the limits. Cheap: the session
 * aggregate only, no events or snapshots read. */
static void status_etag(const view *v, const pt_cksum *c, int events_limit, int history_limit,
                        char etag[PT_ETAG_SIZE]) {
  char text[512], hex[65];
  int n =
      snprintf(text, sizeof text, "s1|%s|%s|%" PRId64 "|%" PRId64 "|%d|%s|%s|%d|%d",
               v->s.pipeline_type, c->chain_hash, v->s.snapshot_count, v->s.snap_ms,
               v->s.snap_suffix, c->state, v->p ? v->p->digest : "", events_limit, history_limit);
  pt_sha256_hex(text, (size_t)n < sizeof text ? (size_t)n : sizeof text - 1, hex);
  etag[0] = '"';
  memcpy(etag + 1, hex, 32);
  etag[33] = '"';
  etag[34] = '\0';
}

pt_status pt_status_summary(pt_tracker *t, const char *session_id, const char *pipeline_type,
                            int events_limit, int history_limit, char **out, pt_error *err) {
  char etag[PT_ETAG_SIZE];
  return pt_status_summary_etag(t, session_id, pipeline_type, events_limit, history_limit, etag,
                                out, err);
}

pt_status pt_status_summary_etag(pt_tracker *t, const char *session_id, const char *pipeline_type,
                                 int events_limit, int history_limit, char etag[PT_ETAG_SIZE],
                                 char **out, pt_error *err) {
  if (out) *out = NULL;
  etag[0] = '\0';
  if (events_limit <= 0) events_limit = DEFAULT_EVENTS_LIMIT;
  if (history_limit <= 0) history_limit = DEFAULT_HISTORY_LIMIT;
  if (events_limit > MAX_LIST_LIMIT) events_limit = MAX_LIST_LIMIT;
  if (history_limit > MAX_LIST_LIMIT) history_limit = MAX_LIST_LIMIT;
  view v;
  pt_status rc = view_open(t, session_id, pipeline_type, &v, err);
  if (rc == PT_OK && !v.found && !pipeline_type) rc = need_session(&v, err);
  evlist evs = {0};
  snaplist snaps = {0};
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_cksum c;
  if (rc == PT_OK) {
    pt_cksum_compute(&v.s, v.p, pt__now(t), &c);
    status_etag(&v, &c, events_limit, history_limit, etag);
    if (!out) {
      view_close(&v);
      return PT_OK;
    }
  }
  if (rc == PT_OK) rc = read_evs(&v, v.s.event_count - events_limit, v.s.event_count, &evs, err);
  if (rc == PT_OK) rc = read_snaps(&v, -1, history_limit, &snaps, err);
  if (rc == PT_OK) {
    pt_buf_puts(&b, "{\"session_id\":");
    pt_buf_json_cstr(&b, v.s.session_id);
    pt_buf_puts(&b, ",\"pipeline_type\":");
    pt_buf_json_cstr(&b, v.s.pipeline_type);
    pt_buf_puts(&b, ",\"events\":[");
    for (size_t i = 0; i < evs.n; i++) {
      if (i) pt_buf_putc(&b, ',');
      pt_event_write_json(&b, evs.items[i]);
    }
    pt_buf_puts(&b, "],\"event_count\":");
    pt_buf_i64(&b, v.s.event_count);
    pt_buf_puts(&b, ",\"checksum\":");
    pt_cksum_write_json(&b, &c, v.p);
    pt_buf_puts(&b, ",\"latest_snapshot\":");
    if (snaps.n) {
      snaplist first = {snaps.items, 1, 1, 0};
      rc = write_snaps(&v, &b, &first, events_limit, &evs, err);
    } else {
      pt_buf_puts(&b, "null");
    }
    pt_buf_puts(&b, ",\"history\":[");
    if (rc == PT_OK) rc = write_snaps(&v, &b, &snaps, events_limit, &evs, err);
    int terminal = pt_cksum_terminal(&c);
    /* How soon another poll can show something new: rarely once terminal (a
     * late event is possible but unusual), a stalled session seldom changes;
     * otherwise the UI's usual 2 s. */
    int poll = terminal ? 60000 : strcmp(c.state, "stalled") == 0 ? 10000 : 2000;
    pt_buf_printf(&b, "],\"terminal\":%s,\"poll_after_ms\":%d}", terminal ? "true" : "false", poll);
  }
  if (rc == PT_OK) rc = take(&b, out, err);
  pt_buf_cleanup(&b);
  evlist_free(&evs);
  snaplist_free(&snaps);
  view_close(&v);
  return rc;
}

/* Sessions cursors are "<updated_at>.<session_id>" of the last session of
 * the previous page. */
static int parse_cursor(const char *cursor, int64_t *ms, const char **id) {
  char *end;
  long long v = strtoll(cursor, &end, 10);
  if (end == cursor || *end != '.' || v < 0 || !end[1]) return -1;
  *ms = v;
  *id = end + 1;
  return 0;
}

pt_status pt_history(pt_tracker *t, const char *session_id, int limit, const char *cursor,
                     char **out, pt_error *err) {
  *out = NULL;
  if (limit <= 0) limit = 50;
  if (limit > MAX_LIST_LIMIT) limit = MAX_LIST_LIMIT;
  /* the cursor is "r<n>": the position of the last entry of the page */
  int64_t before_n = -1;
  if (cursor) {
    char *end;
    long long v = cursor[0] == 'r' ? strtoll(cursor + 1, &end, 10) : -1;
    if (v < 0 || *end || !cursor[1])
      return pt_fail(err, PT_EINVALID, "cursor",
                     "cursor: must be a next_cursor value from an earlier page");
    before_n = v;
  }
  view v;
  pt_status rc = view_open(t, session_id, NULL, &v, err);
  if (rc == PT_OK) rc = need_session(&v, err);
  snaplist snaps = {0};
  pt_buf b;
  pt_buf_init(&b, 0);
  /* One more than asked tells whether a next page exists. */
  if (rc == PT_OK) rc = read_snaps(&v, before_n, limit + 1, &snaps, err);
  if (rc == PT_OK) {
    int more = snaps.n > (size_t)limit;
    if (more) {
      pt_snap_cleanup(&snaps.items[limit]);
      snaps.n = (size_t)limit;
    }
    pt_buf_puts(&b, "{\"items\":[");
    rc = write_snaps(&v, &b, &snaps, PT_SNAP_IDS_MAX, NULL, err);
    pt_buf_puts(&b, "],\"next_cursor\":");
    if (more) {
      const pt_snap *last = &snaps.items[snaps.n - 1];
      char c[32];
      snprintf(c, sizeof c, "r%" PRId64, last->n);
      pt_buf_json_cstr(&b, c);
    } else {
      pt_buf_puts(&b, "null");
    }
    pt_buf_putc(&b, '}');
  }
  if (rc == PT_OK) rc = take(&b, out, err);
  pt_buf_cleanup(&b);
  snaplist_free(&snaps);
  view_close(&v);
  return rc;
}

/* Closes a page: `],"next_cursor":"<ms>.<id>"|null}` and takes the text. */
static pt_status end_page(pt_buf *b, int more, int64_t ms, const char *id, char **out,
                          pt_error *err) {
  pt_buf_puts(b, "],\"next_cursor\":");
  if (more) {
    char c[PT_ID_MAX + 32];
    snprintf(c, sizeof c, "%" PRId64 ".%s", ms, id);
    pt_buf_json_cstr(b, c);
  } else {
    pt_buf_puts(b, "null");
  }
  pt_buf_putc(b, '}');
  return take(b, out, err);
}

/* ---- sessions listing ------------------------------------------------------ */

/* Sessions looked at per call at most when filtering by state: a page may
 * come back short (with a next_cursor) rather than scan a whole store. */
#define SESSIONS_SCAN_MAX 10000

typedef struct listing {
  pt_defs *defs;
  const char *state; /* filter or NULL */
  int64_t now;
  int limit, n, more;
  int64_t scanned;
  int64_t last_ms; /* position of the last session taken or scanned */
  char last_id[PT_ID_MAX + 1];
  pt_buf *b;
} listing;

static int list_one(void *ctx, const pt_session *s, int64_t sort_ms) {
  listing *l = ctx;
  if (l->n == l->limit || ++l->scanned > SESSIONS_SCAN_MAX) {
    l->more = 1; /* one more exists (or the scan stops here): next page */
    return 1;
  }
  const pt_pipeline *p = pt_defs_find(l->defs, s->pipeline_type);
  pt_cksum c;
  if (p) pt_cksum_compute(s, p, l->now, &c);
  const char *state = p ? c.state : "unknown_pipeline";
  l->last_ms = sort_ms;
  snprintf(l->last_id, sizeof l->last_id, "%s", s->session_id);
  if (l->state && strcmp(l->state, state) != 0) return 0;
  pt_buf *b = l->b;
  if (l->n++) pt_buf_putc(b, ',');
  pt_buf_puts(b, "{\"session_id\":");
  pt_buf_json_cstr(b, s->session_id);
  pt_buf_puts(b, ",\"pipeline_type\":");
  pt_buf_json_cstr(b, s->pipeline_type);
  pt_buf_printf(b, ",\"state\":\"%s\",\"event_count\":%" PRId64, state, s->event_count);
  if (p) {
    pt_buf_printf(b,
                  ",\"is_complete\":%s,\"progress\":{\"completed\":%d,\"total\":%d,"
                  "\"percent\":%d},\"chain_hash\":\"%s\"",
                  c.is_complete ? "true" : "false", c.completed, c.total, c.percent, c.chain_hash);
  }
  pt_buf_puts(b, ",\"last_event_id\":");
  pt_buf_json_cstr(b, s->event_count ? s->last_event_id : NULL);
  pt_buf_printf(b,
                ",\"started_at\":%" PRId64 ",\"last_event_at\":%" PRId64 ",\"created_at\":%" PRId64
                ",\"updated_at\":%" PRId64 "}",
                s->first_ts, s->last_ts, s->created_at, s->updated_at);
  return 0;
}

pt_status pt_sessions(pt_tracker *t, const char *pipeline_type, const char *state, int limit,
                      const char *cursor, char **out, pt_error *err) {
  *out = NULL;
  static const char *const STATES[] = {"pending", "in_progress", "completed",
                                       "failed",  "stalled",     "unknown_pipeline"};
  if (limit <= 0) limit = 50;
  if (limit > MAX_LIST_LIMIT) limit = MAX_LIST_LIMIT;
  int64_t before_ms = 0;
  const char *before_id = NULL;
  if (cursor && *cursor && parse_cursor(cursor, &before_ms, &before_id))
    return pt_fail(err, PT_EINVALID, "cursor",
                   "cursor: must be a next_cursor value from an earlier page");
  if (pipeline_type && *pipeline_type && !pt_is_name(pipeline_type))
    return pt_fail(err, PT_EINVALID, "pipeline_type",
                   "pipeline_type: must be a string matching ^[a-z][a-z0-9_]{0,63}$");
  if (state && *state) {
    size_t i = 0;
    while (i < sizeof STATES / sizeof *STATES && strcmp(STATES[i], state) != 0) i++;
    if (i == sizeof STATES / sizeof *STATES)
      return pt_fail(err, PT_EINVALID, "state",
                     "state: must be one of pending, in_progress, completed, failed, stalled");
  }
  pt_store *st = pt__store(t);
  /* the listing follows the rows' activity times: bring lagging rows up */
  pt_status frc = pt__flush(t, err);
  if (frc) return frc;
  if (!st->m->list_sessions)
    return pt_fail(err, PT_ESTORAGE, NULL, "this store cannot list sessions");
  pt_buf b;
  pt_buf_init(&b, 0);
  listing l = {pt__defs(t), state && *state ? state : NULL, pt__now(t), limit, 0, 0, 0, 0, "", &b};
  pt_reader *r;
  pt_status rc = st->m->reader_open(st, &r, err);
  if (rc == PT_OK) {
    pt_buf_puts(&b, "{\"items\":[");
    rc = st->m->list_sessions(r, pipeline_type && *pipeline_type ? pipeline_type : NULL, before_ms,
                              before_id, -1, list_one, &l, err);
    st->m->reader_close(r);
  }
  if (rc == PT_OK) rc = end_page(&b, l.more, l.last_ms, l.last_id, out, err);
  pt_buf_cleanup(&b);
  pt_defs_unref(l.defs);
  return rc;
}

/* ---- issues --------------------------------------------------------------------- */

typedef struct issue_page {
  pt_buf *b;
  int limit, n, more;
  int64_t last_ms;
  char last_id[32];
} issue_page;

static int page_issue(void *ctx, const pt_issue *x) {
  issue_page *p = ctx;
  if (p->n == p->limit) {
    p->more = 1;
    return 1;
  }
  if (p->n++) pt_buf_putc(p->b, ',');
  pt_issue_write_json(p->b, x);
  p->last_ms = x->last_seen;
  snprintf(p->last_id, sizeof p->last_id, "%s", x->id);
  return 0;
}

pt_status pt_issues(pt_tracker *t, const char *status, const char *pipeline_type, int limit,
                    const char *cursor, char **out, pt_error *err) {
  *out = NULL;
  int open = -1;
  if (status && *status) {
    if (strcmp(status, "open") == 0)
      open = 1;
    else if (strcmp(status, "resolved") == 0)
      open = 0;
    else
      return pt_fail(err, PT_EINVALID, "status", "status: must be open or resolved");
  }
  if (pipeline_type && *pipeline_type && !pt_is_name(pipeline_type))
    return pt_fail(err, PT_EINVALID, "pipeline_type",
                   "pipeline_type: must be a string matching ^[a-z][a-z0-9_]{0,63}$");
  if (limit <= 0) limit = 50;
  if (limit > MAX_LIST_LIMIT) limit = MAX_LIST_LIMIT;
  int64_t before_ms = 0;
  const char *before_id = NULL;
  if (cursor && *cursor && parse_cursor(cursor, &before_ms, &before_id))
    return pt_fail(err, PT_EINVALID, "cursor",
                   "cursor: must be a next_cursor value from an earlier page");
  pt_store *st = pt__store(t);
  if (!st->m->read_issues) return pt_fail(err, PT_ESTORAGE, NULL, "this store keeps no issues");
  pt_buf b;
  pt_buf_init(&b, 0);
  issue_page p = {&b, limit, 0, 0, 0, ""};
  pt_reader *r;
  pt_status rc = st->m->reader_open(st, &r, err);
  if (rc == PT_OK) {
    pt_buf_puts(&b, "{\"items\":[");
    rc = st->m->read_issues(r, open, pipeline_type && *pipeline_type ? pipeline_type : NULL,
                            before_ms, before_id, limit + 1, page_issue, &p, err);
    st->m->reader_close(r);
  }
  if (rc == PT_OK) rc = end_page(&b, p.more, p.last_ms, p.last_id, out, err);
  pt_buf_cleanup(&b);
  return rc;
}

static int put_issue_session(void *ctx, const char *sid, int64_t first, int64_t last) {
  pt_buf *b = ctx;
  if (b->len && b->data[b->len - 1] != '[') pt_buf_putc(b, ',');
  pt_buf_puts(b, "{\"session_id\":");
  pt_buf_json_cstr(b, sid);
  pt_buf_printf(b, ",\"first_seen\":%" PRId64 ",\"last_seen\":%" PRId64 "}", first, last);
  return 0;
}

pt_status pt_issue_get(pt_tracker *t, const char *issue_id, char **out, pt_error *err) {
  *out = NULL;
  if (!issue_id || strncmp(issue_id, "iss_", 4) != 0 || strlen(issue_id) > 31)
    return pt_fail(err, PT_EINVALID, "id", "id: must be an issue id (iss_...)");
  pt_store *st = pt__store(t);
  if (!st->m->read_issue) return pt_fail(err, PT_ENOTFOUND, "id", "this store keeps no issues");
  pt_reader *r;
  pt_status rc = st->m->reader_open(st, &r, err);
  if (rc) return rc;
  pt_issue x;
  rc = st->m->read_issue(r, issue_id, &x, err);
  pt_buf b;
  pt_buf_init(&b, 0);
  if (rc == PT_ENOTFOUND) {
    rc = pt_fail(err, PT_ENOTFOUND, "id", "id: no issue \"%s\"", issue_id);
  } else if (rc == PT_OK) {
    pt_issue_write_json(&b, &x);
    b.len--; /* reopen the object for "sessions" */
    pt_buf_puts(&b, ",\"sessions\":[");
    rc = st->m->read_issue_sessions(r, issue_id, 100, put_issue_session, &b, err);
    pt_buf_puts(&b, "]}");
    if (rc == PT_OK) rc = take(&b, out, err);
  }
  pt_issue_cleanup(&x);
  pt_buf_cleanup(&b);
  st->m->reader_close(r);
  return rc;
}

/* ---- the funnel ------------------------------------------------------------------ */

#define STATS_SESSIONS_MAX 100000

typedef struct funnel {
  const pt_pipeline *p;
  int64_t since, now;
  int64_t sessions, completed, failed, seen;
  int64_t reached[PT_MAX_STEPS], succeeded[PT_MAX_STEPS], failed_at[PT_MAX_STEPS];
  int64_t *dur;
  size_t ndur, capdur;
  int truncated, oom;
} funnel;

static int funnel_one(void *ctx, const pt_session *s, int64_t sort_ms) {
  funnel *f = ctx;
  (void)sort_ms;
  if (++f->seen > STATS_SESSIONS_MAX) {
    f->truncated = 1;
    return 1;
  }
  if (s->created_at < f->since) return 0;
  f->sessions++;
  pt_cksum c;
  pt_cksum_compute(s, f->p, f->now, &c);
  if (strcmp(c.state, "completed") == 0) {
    f->completed++;
    if (f->ndur == f->capdur) {
      size_t nc = f->capdur ? f->capdur * 2 : 256;
      int64_t *n = realloc(f->dur, nc * sizeof *n);
      if (!n) {
        f->oom = 1;
        return 1;
      }
      f->dur = n;
      f->capdur = nc;
    }
    f->dur[f->ndur++] = s->last_ts - s->first_ts;
  } else if (strcmp(c.state, "failed") == 0) {
    f->failed++;
  }
  for (int i = 0; i < f->p->nsteps; i++) {
    const pt_step_state *st = pt_session_step(s, f->p->steps[i]);
    if (!st) continue;
    if (st->started || st->outcome != PT_OUTCOME_NONE) f->reached[i]++;
    if (st->outcome == PT_OUTCOME_SUCCESS) f->succeeded[i]++;
    if (st->outcome == PT_OUTCOME_FAILURE) f->failed_at[i]++;
  }
  return 0;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

pt_status pt_stats(pt_tracker *t, const char *pipeline_type, int64_t since_ms, char **out,
                   pt_error *err) {
  *out = NULL;
  if (!pipeline_type || !pt_is_name(pipeline_type))
    return pt_fail(err, PT_EINVALID, "pipeline_type",
                   "pipeline_type: is required, a string matching ^[a-z][a-z0-9_]{0,63}$");
  pt_defs *defs = pt__defs(t);
  const pt_pipeline *p = pt_defs_find(defs, pipeline_type);
  if (!p) {
    pt_defs_unref(defs);
    return pt_fail(err, PT_EUNKNOWN_PIPELINE, "pipeline_type",
                   "pipeline_type: no pipeline \"%s\" is defined", pipeline_type);
  }
  funnel *f = calloc(1, sizeof *f);
  if (!f) {
    pt_defs_unref(defs);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  f->p = p;
  f->since = since_ms;
  f->now = pt__now(t);
  pt_store *st = pt__store(t);
  pt_status rc = pt__flush(t, err);
  pt_reader *r = NULL;
  if (rc == PT_OK) rc = st->m->reader_open(st, &r, err);
  if (rc == PT_OK) {
    rc = st->m->list_sessions(r, pipeline_type, 0, NULL, -1, funnel_one, f, err);
    st->m->reader_close(r);
  }
  if (rc == PT_OK && f->oom) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  if (rc == PT_OK) {
    if (f->ndur) qsort(f->dur, f->ndur, sizeof *f->dur, cmp_i64);
    pt_buf b;
    pt_buf_init(&b, 0);
    pt_buf_puts(&b, "{\"pipeline_type\":");
    pt_buf_json_cstr(&b, pipeline_type);
    double rate = f->sessions ? (double)f->completed / (double)f->sessions : 0;
    pt_buf_printf(&b,
                  ",\"sessions\":%" PRId64 ",\"completed\":%" PRId64 ",\"failed\":%" PRId64
                  ",\"completion_rate\":%.4f,\"duration_ms\":",
                  f->sessions, f->completed, f->failed, rate);
    if (f->ndur)
      pt_buf_printf(&b, "{\"p50\":%" PRId64 ",\"p95\":%" PRId64 "}", f->dur[(f->ndur - 1) / 2],
                    f->dur[(f->ndur * 95 + 99) / 100 - 1]);
    else
      pt_buf_puts(&b, "{\"p50\":null,\"p95\":null}");
    pt_buf_puts(&b, ",\"steps\":[");
    for (int i = 0; i < p->nsteps; i++) {
      if (i) pt_buf_putc(&b, ',');
      pt_buf_puts(&b, "{\"step\":");
      pt_buf_json_cstr(&b, p->steps[i]);
      pt_buf_printf(&b,
                    ",\"optional\":%s,\"reached\":%" PRId64 ",\"succeeded\":%" PRId64
                    ",\"failed\":%" PRId64 "}",
                    p->optional[i] ? "true" : "false", f->reached[i], f->succeeded[i],
                    f->failed_at[i]);
    }
    pt_buf_printf(&b, "],\"truncated\":%s}", f->truncated ? "true" : "false");
    rc = take(&b, out, err);
    pt_buf_cleanup(&b);
  }
  free(f->dur);
  free(f);
  pt_defs_unref(defs);
  return rc;
}

pt_status pt_latest_snapshot(pt_tracker *t, const char *session_id, char **out, pt_error *err) {
  *out = NULL;
  view v;
  pt_status rc = view_open(t, session_id, NULL, &v, err);
  if (rc == PT_OK) rc = need_session(&v, err);
  snaplist snaps = {0};
  pt_buf b;
  pt_buf_init(&b, 0);
  if (rc == PT_OK) rc = read_snaps(&v, -1, 1, &snaps, err);
  if (rc == PT_OK && snaps.n == 0)
    rc = pt_fail(err, PT_ENOTFOUND, "session_id", "session_id: session \"%s\" has no snapshots",
                 session_id);
  if (rc == PT_OK) rc = write_snaps(&v, &b, &snaps, PT_SNAP_IDS_MAX, NULL, err);
  if (rc == PT_OK) rc = take(&b, out, err);
  pt_buf_cleanup(&b);
  snaplist_free(&snaps);
  view_close(&v);
  return rc;
}

/* ---- verification and the report --------------------------------------------- */

static int verify_event(void *ctx, const pt_event *e) {
  pt_verifier_event(ctx, e);
  return 0;
}

/* Runs verification over the view; events are streamed, not held. */
static pt_status run_verify(view *v, const snaplist *snaps, pt_buf *out, int *ok, pt_error *err) {
  pt_verifier ver;
  pt_verifier_init(&ver, v->s.session_id);
  pt_verifier_set_signer(&ver, pt__signer(v->t));
  pt_status rc = PT_OK;
  for (size_t i = 0; i < snaps->n && rc == PT_OK; i++)
    if (pt_verifier_add_snapshot(&ver, &snaps->items[i]))
      rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  pt_verifier_start(&ver);
  if (rc == PT_OK)
    rc = v->r->store->m->read_events(v->r, v->s.session_id, 0, INT64_MAX, verify_event, &ver, err);
  if (rc == PT_OK) *ok = pt_verifier_finish(&ver, &v->s, out);
  pt_verifier_cleanup(&ver);
  return rc;
}

pt_status pt_verify(pt_tracker *t, const char *session_id, int *ok, char **out, pt_error *err) {
  *out = NULL;
  *ok = 0;
  view v;
  pt_status rc = view_open(t, session_id, NULL, &v, err);
  if (rc == PT_ENOTFOUND || rc == PT_EUNKNOWN_PIPELINE) rc = PT_OK; /* verify needs no defs */
  if (rc == PT_OK) rc = need_session(&v, err);
  snaplist snaps = {0};
  pt_buf b;
  pt_buf_init(&b, 0);
  if (rc == PT_OK) rc = read_snaps(&v, -1, 0, &snaps, err);
  if (rc == PT_OK) rc = run_verify(&v, &snaps, &b, ok, err);
  if (rc == PT_OK) rc = take(&b, out, err);
  pt_buf_cleanup(&b);
  snaplist_free(&snaps);
  view_close(&v);
  return rc;
}

pt_status pt_report(pt_tracker *t, const char *session_id, pt_format format, char **out,
                    pt_error *err) {
  *out = NULL;
  view v;
  pt_status rc = view_open(t, session_id, NULL, &v, err);
  if (rc == PT_OK) rc = need_session(&v, err);
  snaplist snaps = {0};
  evlist evs = {0};
  pt_buf vb, b;
  pt_buf_init(&vb, 0);
  pt_buf_init(&b, 0);
  int ok = 0;
  if (rc == PT_OK) rc = read_snaps(&v, -1, 0, &snaps, err);
  if (rc == PT_OK) rc = run_verify(&v, &snaps, &vb, &ok, err);
  if (rc == PT_OK) rc = read_evs(&v, 0, INT64_MAX, &evs, err);
  if (rc == PT_OK) {
    pt_cksum c;
    int64_t now = pt__now(t);
    pt_cksum_compute(&v.s, v.p, now, &c);
    pt_report_in in = {&v.s, v.p, &c, evs.items, evs.n, snaps.items, snaps.n, pt_buf_cstr(&vb),
                       ok,   now};
    if (format == PT_FORMAT_MARKDOWN)
      pt_report_markdown(&b, &in);
    else
      pt_report_json(&b, &in);
    rc = take(&b, out, err);
  }
  pt_buf_cleanup(&vb);
  pt_buf_cleanup(&b);
  evlist_free(&evs);
  snaplist_free(&snaps);
  view_close(&v);
  return rc;
}

pt_status pt_canonicalize(const char *json, size_t len, char **out, pt_error *err) {
  pt_limits lim = {SIZE_MAX / 8, 0};
  size_t n;
  return pt_canonical_payload(json, len, &lim, "json", out, &n, err);
}
