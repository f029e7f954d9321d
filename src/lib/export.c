/* export.c - everything in a store as JSON Lines, read in bounded memory:
 * sessions a page at a time (in an order new sessions do not disturb), each
 * session's events and registry entries a chunk at a time, every chunk
 * through a short read transaction. Events are immutable and appended, so a
 * session read in several chunks is still a prefix of its chain; what is
 * tracked during an export may or may not be in it.
 *
 * Lines:
 *   {"type":"pipetrack_export","version":1}
 *   {"type":"event","event":{...the stored event...}}
 *   {"type":"snapshot","snapshot":{...the entry without event_ids, with n...}}
 * then the issues, each followed by the sessions it affected:
 *   {"type":"issue","issue":{...as the API shows it...}}
 *   {"type":"issue_session","issue_id","session_id","first_seen","last_seen"}
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "internal.h"

#define SESSIONS_PAGE 256
#define ROWS_CHUNK 512
/* A chunk stops growing past this many bytes (after the row that crossed
 * it): what a client that does not read holds is one chunk, not 512 rows of
 * up to 64 KiB each. */
#define CHUNK_BYTES (256 * 1024)
/* Events asked of the store for a session's first chunk (64 of the largest
 * are 8 MiB), doubling up to ROWS_CHUNK while they fit. */
#define SPAN_FIRST 64

enum { X_HEADER, X_SESSION, X_EVENTS, X_SNAPSHOTS, X_ISSUES, X_ISSUE_SESSIONS, X_DONE };

#define ISSUES_PAGE 64

struct pt_export {
  pt_tracker *t;
  int phase;
  int one;                   /* a single session was asked for */
  char sid[PT_ID_MAX + 1];   /* the session being written */
  char after[PT_ID_MAX + 1]; /* listing position */
  int have_after;
  char (*page)[PT_ID_MAX + 1]; /* session ids of the current page */
  size_t npage, ipage, listed_last;
  int64_t next_seq, next_n, rows;
  int full;     /* the chunk reached CHUNK_BYTES: the read stopped early */
  int64_t span; /* events asked of the store at once: fewer while they are large */
  pt_buf out;
  pt_export_counts counts;
  /* issues: a page of ids, the listing position, the sessions position */
  char iids[ISSUES_PAGE][32];
  size_t niids, iiid;
  int issues_listed_last, have_icursor;
  int64_t icursor_ms;
  char icursor_id[32];
  char iid[32], isess_after[PT_ID_MAX + 1];
  int have_isess_after;
};

static int take_sid(void *ctx, const char *sid) {
  pt_export *x = ctx;
  snprintf(x->page[x->npage++], PT_ID_MAX + 1, "%s", sid);
  return 0;
}

static int put_event(void *ctx, const pt_event *e) {
  pt_export *x = ctx;
  pt_buf_puts(&x->out, "{\"type\":\"event\",\"event\":");
  pt_event_write_json(&x->out, e);
  pt_buf_puts(&x->out, "}\n");
  x->next_seq = e->seq + 1;
  x->rows++;
  x->counts.events++;
  return x->full = x->out.len >= CHUNK_BYTES;
}

static int put_snap(void *ctx, const pt_snap *s) {
  pt_export *x = ctx;
  pt_buf *b = &x->out;
  pt_buf_json_member(b, "{\"type\":\"snapshot\",\"snapshot\":{\"id\":", s->id);
  pt_buf_json_member(b, ",\"session_id\":", s->session_id);
  pt_buf_json_member(b, ",\"pipeline_type\":", s->pipeline_type);
  pt_buf_printf(b, ",\"n\":%" PRId64 ",\"chain_hash\":\"%s\",\"event_count\":%" PRId64, s->n,
                s->chain_hash, s->event_count);
  pt_buf_json_member(b, ",\"last_event_id\":", s->last_event_id[0] ? s->last_event_id : NULL);
  pt_buf_printf(b,
                ",\"progress\":{\"completed\":%d,\"total\":%d,\"percent\":%d},\"state\":\"%s\","
                "\"is_valid\":%s,\"created_at\":%" PRId64,
                s->completed, s->total, s->percent, s->state, s->is_valid ? "true" : "false",
                s->created_at);
  pt_buf_json_member(b, ",\"notes\":", s->notes);
  pt_buf_json_member(b, ",\"signature\":", s->signature);
  pt_buf_puts(b, "}}\n");
  x->next_n = s->n + 1;
  x->rows++;
  x->counts.snapshots++;
  return x->full = b->len >= CHUNK_BYTES;
}

static int put_issue(void *ctx, const pt_issue *i) {
  pt_export *x = ctx;
  pt_buf_puts(&x->out, "{\"type\":\"issue\",\"issue\":");
  pt_issue_write_json(&x->out, i);
  pt_buf_puts(&x->out, "}\n");
  snprintf(x->iids[x->niids++], 32, "%s", i->id);
  x->icursor_ms = i->last_seen;
  snprintf(x->icursor_id, sizeof x->icursor_id, "%s", i->id);
  x->rows++;
  return 0;
}

static int put_issue_session(void *ctx, const char *sid, int64_t first, int64_t last) {
  pt_export *x = ctx;
  pt_buf_json_member(&x->out, "{\"type\":\"issue_session\",\"issue_id\":", x->iid);
  pt_buf_json_member(&x->out, ",\"session_id\":", sid);
  pt_buf_printf(&x->out, ",\"first_seen\":%" PRId64 ",\"last_seen\":%" PRId64 "}\n", first, last);
  snprintf(x->isess_after, sizeof x->isess_after, "%s", sid);
  x->have_isess_after = 1;
  x->rows++;
  return 0;
}

pt_status pt_export_open(pt_tracker *t, const char *session_id, pt_export **out, pt_error *err) {
  *out = NULL;
  if (session_id && !pt_is_id(session_id))
    return pt_fail(err, PT_EINVALID, "session_id",
                   "session_id: must be 1-128 characters of A-Z a-z 0-9 _ . : -");
  pt_store *st = pt__store(t);
  if (!st->m->list_session_ids || !st->m->read_snapshots_from)
    return pt_fail(err, PT_ESTORAGE, NULL, "this store cannot export");
  pt_export *x = calloc(1, sizeof *x);
  if (x) x->page = malloc(SESSIONS_PAGE * sizeof *x->page);
  if (!x || !x->page) {
    free(x);
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  x->t = t;
  pt_buf_init(&x->out, 0);
  if (session_id) {
    /* one session: it must exist */
    pt_reader *r;
    pt_status rc = st->m->reader_open(st, &r, err);
    if (rc == PT_OK) {
      pt_session s;
      rc = st->m->read_session(r, session_id, &s, err);
      pt_session_cleanup(&s);
      st->m->reader_close(r);
      if (rc == PT_ENOTFOUND)
        rc = pt_fail(err, PT_ENOTFOUND, "session_id", "session_id: no session \"%s\" is stored",
                     session_id);
    }
    if (rc) {
      pt_export_close(x);
      return rc;
    }
    x->one = 1;
    snprintf(x->page[0], PT_ID_MAX + 1, "%s", session_id);
    x->npage = 1;
    x->listed_last = 1;
  }
  *out = x;
  return PT_OK;
}

/* Fills x->out with the next chunk (possibly empty while moving between
 * phases). */
static pt_status step(pt_export *x, pt_error *err) {
  pt_store *st = pt__store(x->t);
  pt_reader *r;
  pt_status rc;
  switch (x->phase) {
    case X_HEADER:
      pt_buf_puts(&x->out, "{\"type\":\"pipetrack_export\",\"version\":1}\n");
      x->phase = X_SESSION;
      return PT_OK;
    case X_SESSION:
      if (x->ipage == x->npage) {
        if (x->one || x->listed_last) {
          /* one session's export has no issues: they span sessions */
          x->phase = x->one || !st->m->issues ? X_DONE : X_ISSUES;
          return PT_OK;
        }
        x->npage = x->ipage = 0;
        if ((rc = st->m->reader_open(st, &r, err))) return rc;
        rc = st->m->list_session_ids(r, x->have_after ? x->after : NULL, SESSIONS_PAGE, take_sid, x,
                                     err);
        st->m->reader_close(r);
        if (rc) return rc;
        if (x->npage < SESSIONS_PAGE) x->listed_last = 1;
        if (x->npage) {
          snprintf(x->after, sizeof x->after, "%s", x->page[x->npage - 1]);
          x->have_after = 1;
        }
        return PT_OK;
      }
      snprintf(x->sid, sizeof x->sid, "%s", x->page[x->ipage++]);
      x->next_seq = x->next_n = 0;
      x->counts.sessions++;
      x->phase = X_EVENTS;
      return PT_OK;
    case X_EVENTS:
    case X_SNAPSHOTS:
      if ((rc = st->m->reader_open(st, &r, err))) return rc;
      x->rows = 0;
      x->full = 0;
      if (x->span < 1) x->span = SPAN_FIRST;
      if (x->phase == X_EVENTS)
        rc = st->m->read_events(r, x->sid, x->next_seq, x->next_seq + x->span, put_event, x, err);
      else
        rc = st->m->read_snapshots_from(r, x->sid, x->next_n, ROWS_CHUNK, put_snap, x, err);
      st->m->reader_close(r);
      if (rc) return rc;
      int64_t asked = x->phase == X_EVENTS ? x->span : ROWS_CHUNK;
      if (!x->full && x->rows < asked) {
        x->phase = x->phase == X_EVENTS ? X_SNAPSHOTS : X_SESSION;
        x->span = SPAN_FIRST;
      } else if (x->phase == X_EVENTS) {
        /* a store that reads a range whole (PostgreSQL) reads no more than
         * fits a chunk: as many as the last chunk took, more once they fit */
        x->span = x->full ? x->rows : x->span * 2 > ROWS_CHUNK ? ROWS_CHUNK : x->span * 2;
      }
      return PT_OK;
    case X_ISSUES:
      /* the issue lines of the page are written as it is read; each issue's
       * sessions follow it (X_ISSUE_SESSIONS) */
      if (x->iiid < x->niids) {
        snprintf(x->iid, sizeof x->iid, "%s", x->iids[x->iiid++]);
        x->have_isess_after = 0;
        x->phase = X_ISSUE_SESSIONS;
        return PT_OK;
      }
      if (x->issues_listed_last) {
        x->phase = X_DONE;
        return PT_OK;
      }
      x->niids = x->iiid = 0;
      x->rows = 0;
      if ((rc = st->m->reader_open(st, &r, err))) return rc;
      rc = st->m->issues->read_issues(r, -1, NULL, x->icursor_ms,
                                      x->have_icursor ? x->icursor_id : NULL, ISSUES_PAGE,
                                      put_issue, x, err);
      st->m->reader_close(r);
      if (rc) return rc;
      x->have_icursor = 1;
      x->counts.issues += x->rows;
      if (x->rows < ISSUES_PAGE) x->issues_listed_last = 1;
      return PT_OK;
    case X_ISSUE_SESSIONS:
      if ((rc = st->m->reader_open(st, &r, err))) return rc;
      x->rows = 0;
      rc = st->m->issues->read_issue_sessions_from(r, x->iid,
                                                   x->have_isess_after ? x->isess_after : NULL,
                                                   ROWS_CHUNK, put_issue_session, x, err);
      st->m->reader_close(r);
      if (rc) return rc;
      if (x->rows < ROWS_CHUNK) x->phase = X_ISSUES;
      return PT_OK;
    default: return PT_OK;
  }
}

pt_status pt_export_next(pt_export *x, const char **text, size_t *len, pt_error *err) {
  *text = "";
  *len = 0;
  pt_buf_reset(&x->out);
  while (x->out.len == 0 && x->phase != X_DONE) {
    pt_status rc = step(x, err);
    if (rc) return rc;
  }
  if (x->out.failed) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  *text = x->out.data ? x->out.data : "";
  *len = x->out.len;
  return PT_OK;
}

void pt_export_get_counts(const pt_export *x, pt_export_counts *out) {
  *out = x->counts;
}

void pt_export_close(pt_export *x) {
  if (!x) return;
  pt_buf_cleanup(&x->out);
  free(x->page);
  free(x);
}
