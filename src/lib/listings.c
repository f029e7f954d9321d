/* listings.c - reading across sessions: the sessions listing and issues
 * (a page, and one with the sessions it affected). The funnel is stats.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "view.h"

/* ---- sessions listing ------------------------------------------------------ */

/* Sessions looked at per call at most when filtering by state: a page may
 * come back short (with a next_cursor) rather than scan a whole store. The
 * stored state codes make each state an index range, so only rows whose
 * state the clock decides (in_progress against stalled) are ever passed
 * over. */
#define SESSIONS_SCAN_MAX 10000

/* One index range of a listing: the sessions of one stored state code
 * (0: any), newest first, of which those in the wanted state are rendered
 * until the page is full (one more tells there are more). */
typedef struct item {
  int64_t ms;
  size_t off, len; /* the rendered object in the range's buffer */
  char id[PT_ID_MAX + 1];
} item;

typedef struct range {
  int scode;
  int64_t after_ms;
  pt_defs *defs;
  const char *state; /* filter or NULL */
  int64_t now;
  int want; /* items to gather: the page and one */
  int n;
  item *items;
  int64_t scanned;
  int capped;      /* stopped at SESSIONS_SCAN_MAX, before the range's end */
  int64_t last_ms; /* position of the last session scanned */
  char last_id[PT_ID_MAX + 1];
  pt_buf b;
} range;

static void render(pt_buf *b, const pt_session *s, const pt_pipeline *p, const pt_cksum *c,
                   const char *state) {
  pt_buf_json_member(b, "{\"session_id\":", s->session_id);
  pt_buf_json_member(b, ",\"pipeline_type\":", s->pipeline_type);
  pt_buf_printf(b, ",\"state\":\"%s\",\"event_count\":%" PRId64, state, s->event_count);
  if (p) {
    pt_buf_printf(b,
                  ",\"is_complete\":%s,\"progress\":{\"completed\":%d,\"total\":%d,"
                  "\"percent\":%d},\"chain_hash\":\"%s\"",
                  c->is_complete ? "true" : "false", c->completed, c->total, c->percent,
                  c->chain_hash);
  }
  pt_buf_json_member(b, ",\"last_event_id\":", s->event_count ? s->last_event_id : NULL);
  pt_buf_printf(b,
                ",\"started_at\":%" PRId64 ",\"last_event_at\":%" PRId64 ",\"created_at\":%" PRId64
                ",\"updated_at\":%" PRId64 "}",
                s->first_ts, s->last_ts, s->created_at, s->updated_at);
}

static int list_one(void *ctx, const pt_session *s, int64_t sort_ms) {
  range *g = ctx;
  if (++g->scanned > SESSIONS_SCAN_MAX) {
    g->capped = 1;
    return 1;
  }
  g->last_ms = sort_ms;
  snprintf(g->last_id, sizeof g->last_id, "%s", s->session_id);
  const pt_pipeline *p = pt_defs_find(g->defs, s->pipeline_type);
  pt_cksum c;
  /* the stored code chose the range; the state shown is computed now */
  if (p) pt_cksum_compute(s, p, g->now, &c);
  const char *state = p ? c.state : "unknown_pipeline";
  if (g->state && strcmp(g->state, state) != 0) return 0;
  item *it = &g->items[g->n++];
  it->ms = sort_ms;
  snprintf(it->id, sizeof it->id, "%s", s->session_id);
  it->off = g->b.len;
  render(&g->b, s, p, &c, state);
  it->len = g->b.len - it->off;
  return g->n == g->want;
}

static int item_after(const item *a, int64_t ms, const char *id) {
  return a->ms != ms ? a->ms > ms : strcmp(a->id, id) > 0;
}

/* The ranges a state filter reads: each an index range on (type, state
 * code, activity). in_progress and stalled are decided by the clock: an
 * in-progress ACTIVE session was received after the oldest stall cutoff
 * less PT_SCODE_AHEAD_MS (pt_session_scode), which bounds its range. */
static int ranges_for(const char *state, const pt_defs *defs, const char *ptype, int64_t now,
                      range *g) {
  if (!state || strcmp(state, "unknown_pipeline") == 0) {
    g[0].scode = 0; /* every row (unknown: the type's definition is gone) */
    return 1;
  }
  if (strcmp(state, "pending") == 0) return g[0].scode = PT_SCODE_PENDING, 1;
  if (strcmp(state, "completed") == 0) return g[0].scode = PT_SCODE_COMPLETED, 1;
  if (strcmp(state, "failed") == 0) return g[0].scode = PT_SCODE_FAILED, 1;
  g[0].scode = PT_SCODE_ACTIVE;
  g[1].scode = PT_SCODE_AHEAD;
  if (strcmp(state, "in_progress") == 0) {
    int64_t stall_s = 0;
    const pt_pipeline *p = ptype ? pt_defs_find(defs, ptype) : NULL;
    for (int i = 0; i < defs->n; i++)
      if ((!p || &defs->p[i] == p) && defs->p[i].stall_after_s > stall_s)
        stall_s = defs->p[i].stall_after_s;
    g[0].after_ms = now - stall_s * 1000 - PT_SCODE_AHEAD_MS;
  }
  return 2;
}

/* A [since_ms, until_ms) window's arguments (< 0: unbounded). */
static pt_status check_window(int64_t since_ms, int64_t until_ms, pt_error *err) {
  if (since_ms >= 0 && until_ms >= 0 && until_ms <= since_ms)
    return pt_fail(err, PT_EINVALID, "until", "until: must be later than since");
  return PT_OK;
}

pt_status pt_sessions(pt_tracker *t, const char *pipeline_type, const char *state, int limit,
                      const char *cursor, char **out, pt_error *err) {
  return pt_sessions_range(t, pipeline_type, state, -1, -1, limit, cursor, out, err);
}

pt_status pt_sessions_range(pt_tracker *t, const char *pipeline_type, const char *state,
                            int64_t since_ms, int64_t until_ms, int limit, const char *cursor,
                            char **out, pt_error *err) {
  *out = NULL;
  static const char *const STATES[] = {"pending", "in_progress", "completed",
                                       "failed",  "stalled",     "unknown_pipeline"};
  int64_t before_ms = 0;
  const char *before_id = NULL;
  if (pt__page(&limit, cursor, &before_ms, &before_id, err)) return PT_EINVALID;
  if (check_window(since_ms, until_ms, err)) return PT_EINVALID;
  /* until is where the first page starts: (until, "") is above every
   * session active before it and below every one active at it or after */
  if (!before_id && until_ms >= 0) {
    before_ms = until_ms;
    before_id = "";
  } else if (before_id && until_ms >= 0 && before_ms > until_ms) {
    before_ms = until_ms; /* a cursor from another window: this one's end */
    before_id = "";
  }
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
  const char *ptype = pipeline_type && *pipeline_type ? pipeline_type : NULL;
  const char *want = state && *state ? state : NULL;
  pt_store *st = pt__store(t);
  /* the listing follows the rows' activity times: bring lagging rows up */
  pt_status rc = pt__flush(t, err);
  if (rc) return rc;
  pt_defs *defs = pt__defs(t);
  int64_t now = pt__now(t);
  range g[2];
  memset(g, 0, sizeof g);
  g[0].after_ms = g[1].after_ms = INT64_MIN;
  int ng = ranges_for(want, defs, ptype, now, g);
  for (int k = 0; k < ng; k++) {
    if (since_ms >= 0 && g[k].after_ms < since_ms - 1) g[k].after_ms = since_ms - 1;
    g[k].defs = defs;
    g[k].state = want;
    g[k].now = now;
    g[k].want = limit + 1;
    pt_buf_init(&g[k].b, 0);
    g[k].items = malloc((size_t)g[k].want * sizeof *g[k].items);
    if (!g[k].items) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  pt_reader *r = NULL;
  if (rc == PT_OK) rc = st->m->reader_open(st, &r, err);
  for (int k = 0; rc == PT_OK && k < ng; k++)
    rc = st->m->list_sessions_by(r, ptype, g[k].scode, g[k].after_ms, before_ms, before_id, -1,
                                 list_one, &g[k], err);
  if (r) st->m->reader_close(r);
  pt_buf b;
  pt_buf_init(&b, 0);
  if (rc == PT_OK) {
    /* a range stopped by the scan cap may hold unseen sessions below where
     * it stopped: the page ends there */
    const range *cap = NULL;
    for (int k = 0; k < ng; k++)
      if (g[k].capped && (!cap || g[k].last_ms > cap->last_ms ||
                          (g[k].last_ms == cap->last_ms && strcmp(g[k].last_id, cap->last_id) > 0)))
        cap = &g[k];
    pt_buf_puts(&b, "{\"items\":[");
    int taken = 0, at[2] = {0, 0}, more = cap != NULL;
    int64_t last_ms = cap ? cap->last_ms : 0;
    const char *last_id = cap ? cap->last_id : "";
    for (;;) {
      int best = -1;
      for (int k = 0; k < ng; k++)
        if (at[k] < g[k].n &&
            (best < 0 || item_after(&g[k].items[at[k]], g[best].items[at[best]].ms,
                                    g[best].items[at[best]].id)))
          best = k;
      if (best < 0) break;
      const item *it = &g[best].items[at[best]];
      if (cap && !item_after(it, cap->last_ms, cap->last_id)) break;
      if (taken == limit) {
        more = 1; /* one more exists */
        break;
      }
      if (taken++) pt_buf_putc(&b, ',');
      pt_buf_put(&b, g[best].b.data + it->off, it->len);
      last_ms = it->ms;
      last_id = it->id;
      at[best]++;
    }
    if (cap && taken < limit) { /* every item above the cap's stop was taken */
      last_ms = cap->last_ms;
      last_id = cap->last_id;
    }
    char id[PT_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", last_id);
    rc = pt__end_page(&b, more, last_ms, id, out, err);
  }
  pt_buf_cleanup(&b);
  for (int k = 0; k < ng; k++) {
    pt_buf_cleanup(&g[k].b);
    free(g[k].items);
  }
  pt_defs_unref(defs);
  return rc;
}

/* ---- sessions by id prefix ----------------------------------------------------- */

typedef struct id_page {
  char (*ids)[PT_ID_MAX + 1];
  int n, want;
} id_page;

static int take_id(void *ctx, const char *id) {
  id_page *p = ctx;
  snprintf(p->ids[p->n++], PT_ID_MAX + 1, "%s", id);
  return p->n == p->want;
}

pt_status pt_sessions_prefix(pt_tracker *t, const char *id_prefix, int limit, const char *cursor,
                             char **out, pt_error *err) {
  *out = NULL;
  if (limit <= 0) limit = 50;
  if (limit > PT_PAGE_MAX) limit = PT_PAGE_MAX;
  if (!id_prefix || !pt_is_id(id_prefix))
    return pt_fail(err, PT_EINVALID, "id_prefix",
                   "id_prefix: must be 1-128 characters of A-Z a-z 0-9 _ . : -");
  if (cursor && !pt_is_id(cursor))
    return pt_fail(err, PT_EINVALID, "cursor",
                   "cursor: must be a next_cursor value from an earlier page");
  pt_store *st = pt__store(t);
  if (!st->m->list_session_ids_prefix)
    return pt_fail(err, PT_ESTORAGE, NULL, "this store cannot search session ids");
  /* rows written behind their events are brought up first, as pt_sessions does */
  pt_status rc = pt__flush(t, err);
  if (rc) return rc;
  id_page p = {malloc((size_t)(limit + 1) * sizeof *p.ids), 0, limit + 1};
  if (!p.ids) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  pt_defs *defs = pt__defs(t);
  int64_t now = pt__now(t);
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_reader *r = NULL;
  rc = st->m->reader_open(st, &r, err);
  if (rc == PT_OK)
    rc = st->m->list_session_ids_prefix(r, id_prefix, cursor, limit + 1, take_id, &p, err);
  int shown = p.n > limit ? limit : p.n;
  pt_buf_puts(&b, "{\"items\":[");
  for (int i = 0; rc == PT_OK && i < shown; i++) {
    pt_session s;
    rc = st->m->read_session(r, p.ids[i], &s, err);
    if (rc == PT_OK) {
      const pt_pipeline *pl = pt_defs_find(defs, s.pipeline_type);
      pt_cksum c;
      if (pl) pt_cksum_compute(&s, pl, now, &c);
      if (i) pt_buf_putc(&b, ',');
      render(&b, &s, pl, &c, pl ? c.state : "unknown_pipeline");
    }
    pt_session_cleanup(&s);
  }
  if (r) st->m->reader_close(r);
  if (rc == PT_OK) {
    pt_buf_puts(&b, "],\"next_cursor\":");
    if (p.n > limit)
      pt_buf_json_cstr(&b, p.ids[shown - 1]);
    else
      pt_buf_puts(&b, "null");
    pt_buf_putc(&b, '}');
    rc = pt__take(&b, out, err);
  }
  pt_buf_cleanup(&b);
  free(p.ids);
  pt_defs_unref(defs);
  return rc;
}

/* ---- issues --------------------------------------------------------------------- */

/* Issues looked at per page at most when a window's end filters them (an
 * issue first seen after it is passed over): a page may come back short,
 * with a next_cursor, rather than read every issue. */
#define ISSUES_SCAN_MAX 10000

typedef struct issue_page {
  pt_buf *b;
  int limit, n, more;
  int64_t since, until; /* the window, < 0: unbounded */
  int64_t scanned;
  int64_t last_ms; /* the last issue looked at: where the next page starts */
  char last_id[32];
} issue_page;

static int page_issue(void *ctx, const pt_issue *x) {
  issue_page *p = ctx;
  /* newest first: the first one last seen before the window ends it */
  if (p->since >= 0 && x->last_seen < p->since) return 1;
  if (p->n == p->limit || p->scanned == ISSUES_SCAN_MAX) {
    p->more = 1;
    return 1;
  }
  p->scanned++;
  if (p->until >= 0 && x->first_seen >= p->until) { /* not yet seen in the window */
    p->last_ms = x->last_seen;
    snprintf(p->last_id, sizeof p->last_id, "%s", x->id);
    return 0;
  }
  if (p->n++) pt_buf_putc(p->b, ',');
  pt_issue_write_json(p->b, x);
  p->last_ms = x->last_seen;
  snprintf(p->last_id, sizeof p->last_id, "%s", x->id);
  return 0;
}

pt_status pt_issues(pt_tracker *t, const char *status, const char *pipeline_type, int limit,
                    const char *cursor, char **out, pt_error *err) {
  return pt_issues_range(t, status, pipeline_type, -1, -1, limit, cursor, out, err);
}

pt_status pt_issues_range(pt_tracker *t, const char *status, const char *pipeline_type,
                          int64_t since_ms, int64_t until_ms, int limit, const char *cursor,
                          char **out, pt_error *err) {
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
  int64_t before_ms = 0;
  const char *before_id = NULL;
  if (pt__page(&limit, cursor, &before_ms, &before_id, err)) return PT_EINVALID;
  if (check_window(since_ms, until_ms, err)) return PT_EINVALID;
  pt_store *st = pt__store(t);
  pt_buf b;
  pt_buf_init(&b, 0);
  issue_page p = {&b, limit, 0, 0, since_ms, until_ms, 0, 0, ""};
  pt_reader *r;
  pt_status rc = st->m->reader_open(st, &r, err);
  if (rc == PT_OK) {
    pt_buf_puts(&b, "{\"items\":[");
    rc = st->m->issues->read_issues(
        r, open, pipeline_type && *pipeline_type ? pipeline_type : NULL, before_ms, before_id,
        until_ms >= 0 ? ISSUES_SCAN_MAX + 1 : limit + 1, page_issue, &p, err);
    st->m->reader_close(r);
  }
  if (rc == PT_OK) rc = pt__end_page(&b, p.more, p.last_ms, p.last_id, out, err);
  pt_buf_cleanup(&b);
  return rc;
}

static int put_issue_session(void *ctx, const char *sid, int64_t first, int64_t last) {
  pt_buf *b = ctx;
  if (b->len && b->data[b->len - 1] != '[') pt_buf_putc(b, ',');
  pt_buf_json_member(b, "{\"session_id\":", sid);
  pt_buf_printf(b, ",\"first_seen\":%" PRId64 ",\"last_seen\":%" PRId64 "}", first, last);
  return 0;
}

pt_status pt_issue_get(pt_tracker *t, const char *issue_id, char **out, pt_error *err) {
  *out = NULL;
  if (!issue_id || strncmp(issue_id, "iss_", 4) != 0 || strlen(issue_id) > 31)
    return pt_fail(err, PT_EINVALID, "id", "id: must be an issue id (iss_...)");
  pt_store *st = pt__store(t);
  pt_reader *r;
  pt_status rc = st->m->reader_open(st, &r, err);
  if (rc) return rc;
  pt_issue x;
  rc = st->m->issues->read_issue(r, issue_id, &x, err);
  pt_buf b;
  pt_buf_init(&b, 0);
  if (rc == PT_ENOTFOUND) {
    rc = pt_fail(err, PT_ENOTFOUND, "id", "id: no issue \"%s\"", issue_id);
  } else if (rc == PT_OK) {
    pt_issue_write_json(&b, &x);
    b.len--; /* reopen the object for "sessions" */
    pt_buf_puts(&b, ",\"sessions\":[");
    rc =
        st->m->issues->read_issue_sessions(r, issue_id, INT64_MAX, 100, put_issue_session, &b, err);
    pt_buf_puts(&b, "]}");
    if (rc == PT_OK) rc = pt__take(&b, out, err);
  }
  pt_issue_cleanup(&x);
  pt_buf_cleanup(&b);
  st->m->reader_close(r);
  return rc;
}

/* ---- an issue's series ----------------------------------------------------------- */

typedef struct issue_series {
  pt__window w;
  int64_t *counts; /* one a bucket */
  int64_t total;
} issue_series;

static int count_issue_session(void *ctx, const char *sid, int64_t first, int64_t last) {
  (void)sid;
  (void)first;
  issue_series *s = ctx;
  if (last < s->w.from) return 1; /* newest first: the rest are older */
  s->counts[(last - s->w.from) / s->w.res]++;
  s->total++;
  return 0;
}

pt_status pt_issue_timeseries(pt_tracker *t, const char *issue_id, int64_t since_ms,
                              int64_t until_ms, const char *interval, char **out, pt_error *err) {
  *out = NULL;
  if (!issue_id || strncmp(issue_id, "iss_", 4) != 0 || strlen(issue_id) > 31)
    return pt_fail(err, PT_EINVALID, "id", "id: must be an issue id (iss_...)");
  issue_series s = {.total = 0};
  pt_status rc = pt__series_window(t, interval, &since_ms, &until_ms, &s.w, err);
  if (rc) return rc;
  size_t n = (size_t)((s.w.to - s.w.from) / s.w.res);
  s.counts = calloc(n ? n : 1, sizeof *s.counts);
  if (!s.counts) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  pt_store *st = pt__store(t);
  pt_reader *r;
  rc = st->m->reader_open(st, &r, err);
  if (rc) {
    free(s.counts);
    return rc;
  }
  pt_issue x;
  rc = st->m->issues->read_issue(r, issue_id, &x, err);
  if (rc == PT_ENOTFOUND) {
    rc = pt_fail(err, PT_ENOTFOUND, "id", "id: no issue \"%s\"", issue_id);
  } else if (rc == PT_OK) {
    pt_issue_cleanup(&x);
    /* the buckets are whole: from the rounded-down start to the rounded-up end */
    rc = st->m->issues->read_issue_sessions(r, issue_id, s.w.to, -1, count_issue_session, &s, err);
  }
  st->m->reader_close(r);
  pt_buf b;
  pt_buf_init(&b, 0);
  if (rc == PT_OK) {
    pt_buf_json_member(&b, "{\"issue_id\":", issue_id);
    pt_buf_printf(&b,
                  ",\"interval\":\"%s\",\"since\":%" PRId64 ",\"until\":%" PRId64
                  ",\"total\":%" PRId64 ",\"buckets\":[",
                  s.w.name, s.w.from, s.w.to, s.total);
    for (size_t i = 0; i < n; i++)
      pt_buf_printf(&b, "%s{\"start\":%" PRId64 ",\"sessions\":%" PRId64 "}", i ? "," : "",
                    s.w.from + (int64_t)i * s.w.res, s.counts[i]);
    pt_buf_puts(&b, "]}");
    rc = pt__take(&b, out, err);
  }
  pt_buf_cleanup(&b);
  free(s.counts);
  return rc;
}
