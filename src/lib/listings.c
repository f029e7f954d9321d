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
  pt_buf_json_member(b, "{\"session_id\":", s->session_id);
  pt_buf_json_member(b, ",\"pipeline_type\":", s->pipeline_type);
  pt_buf_printf(b, ",\"state\":\"%s\",\"event_count\":%" PRId64, state, s->event_count);
  if (p) {
    pt_buf_printf(b,
                  ",\"is_complete\":%s,\"progress\":{\"completed\":%d,\"total\":%d,"
                  "\"percent\":%d},\"chain_hash\":\"%s\"",
                  c.is_complete ? "true" : "false", c.completed, c.total, c.percent, c.chain_hash);
  }
  pt_buf_json_member(b, ",\"last_event_id\":", s->event_count ? s->last_event_id : NULL);
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
  int64_t before_ms = 0;
  const char *before_id = NULL;
  if (pt__page(&limit, cursor, &before_ms, &before_id, err)) return PT_EINVALID;
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
  if (rc == PT_OK) rc = pt__end_page(&b, l.more, l.last_ms, l.last_id, out, err);
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
  int64_t before_ms = 0;
  const char *before_id = NULL;
  if (pt__page(&limit, cursor, &before_ms, &before_id, err)) return PT_EINVALID;
  pt_store *st = pt__store(t);
  pt_buf b;
  pt_buf_init(&b, 0);
  issue_page p = {&b, limit, 0, 0, 0, ""};
  pt_reader *r;
  pt_status rc = st->m->reader_open(st, &r, err);
  if (rc == PT_OK) {
    pt_buf_puts(&b, "{\"items\":[");
    rc = st->m->issues->read_issues(r, open, pipeline_type && *pipeline_type ? pipeline_type : NULL,
                                    before_ms, before_id, limit + 1, page_issue, &p, err);
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
    rc = st->m->issues->read_issue_sessions(r, issue_id, 100, put_issue_session, &b, err);
    pt_buf_puts(&b, "]}");
    if (rc == PT_OK) rc = pt__take(&b, out, err);
  }
  pt_issue_cleanup(&x);
  pt_buf_cleanup(&b);
  st->m->reader_close(r);
  return rc;
}
