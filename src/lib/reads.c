/* reads.c - reading one session: its checksum, the status summary a UI
 * polls (with its entity tag), registry history and the newest entry; and
 * the canonical form of a text. Each call reads through one store reader,
 * so it sees one consistent committed state. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/jcs.h"
#include "../core/sha.h"
#include "../core/validate.h"
#include "longdoc.h"

pt_status pt_checksum(pt_tracker *t, const char *session_id, char **out, pt_error *err) {
  *out = NULL;
  pt__view v;
  pt_status rc = pt__view_open(t, session_id, NULL, &v, err);
  if (rc == PT_OK) rc = pt__need_session(&v, err);
  if (rc == PT_OK) {
    pt_cksum c;
    pt_cksum_compute(&v.s, v.p, pt__now(t), &c);
    pt_buf b;
    pt_buf_init(&b, 0);
    pt_cksum_write_json(&b, &c, v.p);
    rc = pt__take(&b, out, err);
  }
  pt__view_close(&v);
  return rc;
}

/* What a status answer is made of, hashed: the events (the chain hash), the
 * registry (count and newest entry), the state (it moves to `stalled` with
 * time alone), the pipeline's definition and the limits. Cheap: the session
 * aggregate only, no events or snapshots read. */
static void status_etag(const pt__view *v, const pt_cksum *c, int events_limit, int history_limit,
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
  return pt__status_doc(t, session_id, pipeline_type, events_limit, history_limit, etag, 0, out,
                        NULL, err);
}

static void status_event_json(pt_buf *b, const pt_event *e, int64_t i) {
  if (i) pt_buf_putc(b, ',');
  pt_event_write_json(b, e);
}

/* The read pass of a status: each event rendered (while under budget) and
 * its id kept for the entries that list it. */
typedef struct status_pass {
  pt__longdoc *d;
  pt__idlist ids;
} status_pass;

static int status_event(void *ctx, const pt_event *e) {
  status_pass *p = ctx;
  pt__longdoc_event(p->d, e);
  return pt__idlist_add(&p->ids, e);
}

pt_status pt__status_doc(pt_tracker *t, const char *session_id, const char *pipeline_type,
                         int events_limit, int history_limit, char etag[PT_ETAG_SIZE],
                         size_t budget, char **out, pt_body **body, pt_error *err) {
  if (out) *out = NULL;
  if (body) *body = NULL;
  etag[0] = '\0';
  if (events_limit <= 0) events_limit = PT__DEFAULT_EVENTS_LIMIT;
  if (history_limit <= 0) history_limit = PT__DEFAULT_HISTORY_LIMIT;
  if (events_limit > PT_PAGE_MAX) events_limit = PT_PAGE_MAX;
  if (history_limit > PT_PAGE_MAX) history_limit = PT_PAGE_MAX;
  pt__view v;
  pt_status rc = pt__view_open(t, session_id, pipeline_type, &v, err);
  if (rc == PT_OK && !v.found && !pipeline_type) rc = pt__need_session(&v, err);
  pt_cksum c;
  if (rc == PT_OK) {
    pt_cksum_compute(&v.s, v.p, pt__now(t), &c);
    status_etag(&v, &c, events_limit, history_limit, etag);
  }
  if (rc || !out) {
    pt__view_close(&v);
    return rc;
  }
  int64_t from = v.s.event_count > events_limit ? v.s.event_count - events_limit : 0;
  status_pass p = {0};
  pt__snaplist snaps = {0};
  p.d = pt__longdoc_new(t, v.s.session_id, from, v.s.event_count, status_event_json, NULL,
                        events_limit, body ? budget : 0);
  if (!p.d) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  if (rc == PT_OK && v.found) {
    rc = v.r->store->m->read_events(v.r, v.s.session_id, from, v.s.event_count, status_event, &p,
                                    err);
    if (rc == PT_OK && p.ids.oom) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  if (rc == PT_OK) rc = pt__read_snaps(&v, -1, history_limit, &snaps, err);
  if (rc == PT_OK) {
    pt_buf *b = pt__longdoc_head(p.d);
    pt_buf_json_member(b, "{\"session_id\":", v.s.session_id);
    pt_buf_json_member(b, ",\"pipeline_type\":", v.s.pipeline_type);
    pt_buf_puts(b, ",\"events\":[");
    b = pt__longdoc_mid(p.d);
    pt_buf_puts(b, "],\"event_count\":");
    pt_buf_i64(b, v.s.event_count);
    pt_buf_puts(b, ",\"checksum\":");
    pt_cksum_write_json(b, &c, v.p);
    pt_buf_puts(b, ",\"latest_snapshot\":");
    if (snaps.n) {
      pt__snaplist first = {snaps.items, 1, 1, 0};
      rc = pt__write_snaps(&v, b, &first, events_limit, &p.ids, err);
    } else {
      pt_buf_puts(b, "null");
    }
    pt_buf_puts(b, ",\"history\":[");
    int terminal = pt_cksum_terminal(&c);
    /* How soon another poll can show something new: rarely once terminal (a
     * late event is possible but unusual), a stalled session seldom changes;
     * otherwise the UI's usual 2 s. */
    int poll = terminal ? 60000 : strcmp(c.state, "stalled") == 0 ? 10000 : 2000;
    pt_buf_printf(pt__longdoc_tail(p.d), "],\"terminal\":%s,\"poll_after_ms\":%d}",
                  terminal ? "true" : "false", poll);
    pt__longdoc_entries(p.d, &snaps);
  }
  if (rc == PT_OK) {
    pt_body *dummy;
    rc = pt__longdoc_finish(p.d, &v, &p.ids, out, body ? body : &dummy, err);
  } else {
    pt__longdoc_free(p.d);
  }
  pt__idlist_free(&p.ids);
  pt__snaplist_free(&snaps);
  pt__view_close(&v);
  return rc;
}

/* Registry entries of a session rendered into *out: at most limit before
 * position before_n (-1: from the newest), as a page (paged: {"items",
 * "next_cursor"}) or as the one entry (the newest; PT_ENOTFOUND without). */
static pt_status entries(pt_tracker *t, const char *sid, int64_t before_n, int limit, int paged,
                         char **out, pt_error *err) {
  *out = NULL;
  pt__view v;
  pt_status rc = pt__view_open(t, sid, NULL, &v, err);
  if (rc == PT_OK) rc = pt__need_session(&v, err);
  pt__snaplist snaps = {0};
  pt_buf b;
  pt_buf_init(&b, 0);
  /* One more than asked tells whether a next page exists. */
  if (rc == PT_OK) rc = pt__read_snaps(&v, before_n, limit + paged, &snaps, err);
  if (rc == PT_OK && !paged && snaps.n == 0)
    rc = pt_fail(err, PT_ENOTFOUND, "session_id", "session_id: session \"%s\" has no snapshots",
                 sid);
  int more = rc == PT_OK && snaps.n > (size_t)limit;
  if (more) {
    pt_snap_cleanup(&snaps.items[limit]);
    snaps.n = (size_t)limit;
  }
  if (rc == PT_OK && paged) pt_buf_puts(&b, "{\"items\":[");
  if (rc == PT_OK) rc = pt__write_snaps(&v, &b, &snaps, PT_SNAP_IDS_MAX, NULL, err);
  if (rc == PT_OK && paged) {
    pt_buf_puts(&b, "],\"next_cursor\":");
    if (more) {
      char c[32];
      snprintf(c, sizeof c, "r%" PRId64, snaps.items[snaps.n - 1].n);
      pt_buf_json_cstr(&b, c);
    } else {
      pt_buf_puts(&b, "null");
    }
    pt_buf_putc(&b, '}');
  }
  if (rc == PT_OK) rc = pt__take(&b, out, err);
  pt_buf_cleanup(&b);
  pt__snaplist_free(&snaps);
  pt__view_close(&v);
  return rc;
}

pt_status pt_history(pt_tracker *t, const char *session_id, int limit, const char *cursor,
                     char **out, pt_error *err) {
  *out = NULL;
  if (limit <= 0) limit = 50;
  if (limit > PT_PAGE_MAX) limit = PT_PAGE_MAX;
  /* the cursor is "r<n>": the position of the last entry of the page */
  int64_t before_n = -1;
  if (cursor) {
    char *end = NULL;
    errno = 0;
    long long v = cursor[0] == 'r' ? strtoll(cursor + 1, &end, 10) : -1;
    if (v < 0 || *end || !cursor[1] || errno == ERANGE)
      return pt_fail(err, PT_EINVALID, "cursor",
                     "cursor: must be a next_cursor value from an earlier page");
    before_n = v;
  }
  return entries(t, session_id, before_n, limit, 1, out, err);
}

pt_status pt_latest_snapshot(pt_tracker *t, const char *session_id, char **out, pt_error *err) {
  return entries(t, session_id, -1, 1, 0, out, err);
}

pt_status pt_canonicalize(const char *json, size_t len, char **out, pt_error *err) {
  pt_limits lim = {SIZE_MAX / 8, 0};
  size_t n;
  return pt_canonical_payload(json, len, &lim, "json", out, &n, err);
}
