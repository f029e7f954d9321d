/* longdoc.c - bodies read a chunk at a time (pt_body): the export's, and a
 * long document of one session (longdoc.h), whole while it fits its budget,
 * else produced as it is taken. */
#include "longdoc.h"

#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "internal.h"

/* A chunk stops growing past this many bytes (after the event or the page
 * of entries that crossed it). */
#define CHUNK_BYTES (256 * 1024)
/* Events asked of the store for a chunk at first (64 of the largest are
 * 8 MiB), doubling up to SPAN_MAX while they fit: a store that reads a range
 * whole (PostgreSQL) reads little more than a chunk. */
#define SPAN_FIRST 64
#define SPAN_MAX 512
/* Entries rendered at once: each lists up to ids_cap (1,000) ids, ~40 KB. */
#define ENTRIES_PAGE 8

/* ---- pt_body ------------------------------------------------------------------- */

pt_status pt_body_next(pt_body *b, const char **text, size_t *len, pt_error *err) {
  return b->next(b, text, len, err);
}

size_t pt_body_held(const pt_body *b) {
  return b->held;
}

void pt_body_free(pt_body *b) {
  if (b) b->free(b);
}

typedef struct xbody {
  pt_body base;
  pt_export *x;
} xbody;

static pt_status x_next(pt_body *b, const char **text, size_t *len, pt_error *err) {
  return pt_export_next(((xbody *)b)->x, text, len, err);
}

static void x_free(pt_body *b) {
  pt_export_close(((xbody *)b)->x);
  free(b);
}

pt_body *pt__export_body(pt_export *x) {
  xbody *b = calloc(1, sizeof *b);
  if (!b) {
    pt_export_close(x);
    return NULL;
  }
  b->base = (pt_body){x_next, x_free, 0};
  b->x = x;
  return &b->base;
}

/* ---- the long document --------------------------------------------------------- */

enum { P_HEAD, P_EVENTS, P_MID, P_ENTRIES, P_TAIL, P_DONE };

struct pt__longdoc {
  pt_body base; /* first: the body is the document */
  pt_tracker *t;
  char sid[PT_ID_MAX + 1];
  pt__render_event ev;
  pt__render_entry entry;
  int64_t ids_cap;
  size_t budget;
  /* events: ev_next is the first not rendered yet; ev_i counts those rendered */
  int64_t ev_next, ev_to, ev_i, span;
  int ev_spilled; /* the budget was reached: the rest is read when taken */
  int full;       /* the chunk being read reached CHUNK_BYTES */
  pt__snaplist snaps;
  size_t snap_i;  /* the first entry not rendered yet */
  pt__idlist win; /* ids the next entries list: a window moving down the session */
  int phase;
  pt_buf head, events, mid, entries, tail, out;
};

pt__longdoc *pt__longdoc_new(pt_tracker *t, const char *sid, int64_t ev_from, int64_t ev_to,
                             pt__render_event ev, pt__render_entry entry, int64_t ids_cap,
                             size_t budget) {
  pt__longdoc *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->t = t;
  snprintf(d->sid, sizeof d->sid, "%s", sid);
  d->ev = ev;
  d->entry = entry;
  d->ids_cap = ids_cap;
  d->budget = budget;
  d->ev_next = ev_from < 0 ? 0 : ev_from;
  d->ev_to = ev_to;
  d->span = SPAN_FIRST;
  pt_buf *bufs[] = {&d->head, &d->events, &d->mid, &d->entries, &d->tail, &d->out};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pt_buf_init(bufs[i], 0);
  return d;
}

pt_buf *pt__longdoc_head(pt__longdoc *d) {
  return &d->head;
}
pt_buf *pt__longdoc_mid(pt__longdoc *d) {
  return &d->mid;
}
pt_buf *pt__longdoc_tail(pt__longdoc *d) {
  return &d->tail;
}

void pt__longdoc_event(pt__longdoc *d, const pt_event *e) {
  if (d->ev_spilled) return;
  if (d->budget && d->events.len >= d->budget) {
    d->ev_spilled = 1; /* this one and those after it: read again when taken */
    d->ev_next = e->seq;
    return;
  }
  d->ev(&d->events, e, d->ev_i++);
  d->ev_next = e->seq + 1;
}

void pt__longdoc_entries(pt__longdoc *d, pt__snaplist *l) {
  pt__snaplist_free(&d->snaps);
  d->snaps = *l;
  memset(l, 0, sizeof *l);
}

void pt__longdoc_free(pt__longdoc *d) {
  if (!d) return;
  pt_buf *bufs[] = {&d->head, &d->events, &d->mid, &d->entries, &d->tail, &d->out};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) pt_buf_cleanup(bufs[i]);
  pt__snaplist_free(&d->snaps);
  pt__idlist_free(&d->win);
  free(d);
}

/* Appends part to b (an empty part may have no storage). */
static void put_part(pt_buf *b, const pt_buf *part) {
  if (part->len) pt_buf_put(b, part->data, part->len);
}

/* Makes the window hold the ids of [lo, hi): entries come newest first, so
 * each page lists ids at or below the last one's; only the ids below the
 * window are read, and those at hi and past are dropped. Each event's id is
 * so read once for all the entries, however many list it. */
static pt_status slide(pt__longdoc *d, pt__view *v, int64_t lo, int64_t hi, pt_error *err) {
  pt__idlist *w = &d->win;
  if (w->n && w->first + (int64_t)w->n < hi) pt__idlist_free(w); /* not these: start again */
  int64_t top = w->n ? w->first : hi;
  if (lo < top) {
    pt__idlist more = {0};
    pt_status rc = pt__read_ids(v, lo, top, &more, err);
    if (rc == PT_OK && pt__idlist_prepend(w, &more))
      rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    pt__idlist_free(&more);
    if (rc) return rc;
  }
  while (w->n && w->first + (int64_t)w->n > hi) free(w->ids[--w->n]);
  return PT_OK;
}

/* Renders the next page of entries into b through v. */
static pt_status entries_page(pt__longdoc *d, pt__view *v, pt_buf *b, pt_error *err) {
  size_t n = d->snaps.n - d->snap_i;
  if (n > ENTRIES_PAGE) n = ENTRIES_PAGE;
  pt_status rc = PT_OK;
  pt_snap *page = d->snaps.items + d->snap_i;
  if (d->entry) {
    for (size_t k = 0; k < n; k++) d->entry(b, &page[k], (int64_t)(d->snap_i + k));
  } else {
    int64_t hi = 0, lo = INT64_MAX;
    for (size_t k = 0; k < n; k++) {
      int64_t ec = page[k].event_count, from = ec > d->ids_cap ? ec - d->ids_cap : 0;
      if (ec > hi) hi = ec;
      if (from < lo) lo = from;
    }
    if (lo > hi) lo = hi;
    rc = slide(d, v, lo, hi, err);
    if (d->snap_i) pt_buf_putc(b, ',');
    pt__snaplist l = {page, n, n, 0};
    if (rc == PT_OK) rc = pt__write_snaps(v, b, &l, d->ids_cap, &d->win, err);
  }
  d->snap_i += n;
  return rc;
}

static int put_event(void *ctx, const pt_event *e) {
  pt__longdoc *d = ctx;
  d->ev(&d->out, e, d->ev_i++);
  d->ev_next = e->seq + 1;
  return d->full = d->out.len >= CHUNK_BYTES;
}

/* Fills d->out with the next part (possibly nothing while moving on). */
static pt_status step(pt__longdoc *d, pt_error *err) {
  pt_store *st = pt__store(d->t);
  pt_status rc = PT_OK;
  switch (d->phase) {
    case P_HEAD:
      put_part(&d->out, &d->head);
      put_part(&d->out, &d->events);
      pt_buf_cleanup(&d->head);
      pt_buf_cleanup(&d->events);
      d->phase = d->ev_spilled ? P_EVENTS : P_MID;
      return PT_OK;
    case P_EVENTS: {
      if (d->ev_next >= d->ev_to) {
        d->phase = P_MID;
        return PT_OK;
      }
      int64_t end = d->ev_to - d->ev_next > d->span ? d->ev_next + d->span : d->ev_to;
      int64_t start = d->ev_next;
      pt_reader *r;
      if ((rc = st->m->reader_open(st, &r, err))) return rc;
      d->full = 0;
      rc = st->m->read_events(r, d->sid, d->ev_next, end, put_event, d, err);
      st->m->reader_close(r);
      if (rc) return rc;
      /* the range was read through (a gap, from damage, is passed over) or
       * the chunk is full: ask for as many as fit, more once they do */
      if (!d->full) {
        d->ev_next = end;
        if (d->span * 2 <= SPAN_MAX) d->span *= 2;
      } else {
        int64_t took = d->ev_next - start;
        d->span = took > 0 ? took : 1;
      }
      return PT_OK;
    }
    case P_MID:
      put_part(&d->out, &d->mid);
      put_part(&d->out, &d->entries);
      pt_buf_cleanup(&d->mid);
      pt_buf_cleanup(&d->entries);
      d->phase = d->snap_i < d->snaps.n ? P_ENTRIES : P_TAIL;
      return PT_OK;
    case P_ENTRIES: {
      /* a reader without the session read: entries only need their ids */
      pt__view v;
      memset(&v, 0, sizeof v);
      v.t = d->t;
      v.found = 1;
      pt_session_init(&v.s, d->sid, "");
      rc = st->m->reader_open(st, &v.r, err);
      int opened = rc == PT_OK;
      while (rc == PT_OK && d->snap_i < d->snaps.n && d->out.len < CHUNK_BYTES)
        rc = entries_page(d, &v, &d->out, err);
      if (opened) st->m->reader_close(v.r);
      pt_session_cleanup(&v.s);
      if (rc == PT_OK && d->snap_i == d->snaps.n) d->phase = P_TAIL;
      return rc;
    }
    case P_TAIL:
      put_part(&d->out, &d->tail);
      d->phase = P_DONE;
      return PT_OK;
    default: return PT_OK;
  }
}

static pt_status ld_next(pt_body *b, const char **text, size_t *len, pt_error *err) {
  pt__longdoc *d = (pt__longdoc *)b;
  *text = "";
  *len = 0;
  pt_buf_reset(&d->out);
  while (d->out.len == 0 && d->phase != P_DONE) {
    pt_status rc = step(d, err);
    if (rc) return rc;
  }
  if (d->out.failed) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  *text = d->out.data ? d->out.data : "";
  *len = d->out.len;
  return PT_OK;
}

static void ld_free(pt_body *b) {
  pt__longdoc_free((pt__longdoc *)b);
}

pt_status pt__longdoc_finish(pt__longdoc *d, pt__view *v, pt__idlist *have, char **out,
                             pt_body **body, pt_error *err) {
  *out = NULL;
  *body = NULL;
  pt_status rc = PT_OK;
  if (have) {
    pt__idlist_free(&d->win);
    d->win = *have;
    memset(have, 0, sizeof *have);
  }
  /* entries while they fit (none once the events are past the budget) */
  while (rc == PT_OK && !d->ev_spilled && d->snap_i < d->snaps.n &&
         (!d->budget || d->events.len + d->entries.len < d->budget))
    rc = entries_page(d, v, &d->entries, err);
  pt_buf *parts[] = {&d->head, &d->events, &d->mid, &d->entries, &d->tail};
  for (size_t i = 0; rc == PT_OK && i < sizeof parts / sizeof *parts; i++)
    if (parts[i]->failed) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  if (rc == PT_OK && !d->ev_spilled && d->snap_i == d->snaps.n) {
    /* it fits: one text, joined in the largest part's own buffer, grown
     * where it lies (a fresh buffer of the whole size, written once, cost a
     * page fault a page: a 3.8 MB status took 5.4 ms whole against 3.0 so,
     * bench/long_answers.py) */
    size_t n = sizeof parts / sizeof *parts, big = 0, before = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
      total += parts[i]->len;
      if (parts[i]->len > parts[big]->len) big = i;
    }
    for (size_t i = 0; i < big; i++) before += parts[i]->len;
    pt_buf *b = parts[big];
    if (pt_buf_reserve(b, total - b->len + 1) == 0) {
      memmove(b->data + before, b->data, b->len);
      for (size_t i = 0, at = 0; i < big; at += parts[i]->len, i++)
        if (parts[i]->len) memcpy(b->data + at, parts[i]->data, parts[i]->len);
      b->len += before;
      for (size_t i = big + 1; i < n; i++) put_part(b, parts[i]);
      rc = b->failed ? pt_fail(err, PT_ENOMEM, NULL, "out of memory") : pt__take(b, out, err);
    } else {
      rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    }
    pt__longdoc_free(d);
    return rc;
  }
  if (rc) {
    pt__longdoc_free(d);
    return rc;
  }
  d->base = (pt_body){ld_next, ld_free, 0};
  for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) d->base.held += parts[i]->len;
  d->base.held += d->snaps.n * sizeof *d->snaps.items;
  /* the window: the ids of an entry (ids_cap) and a page's spread */
  d->base.held += (size_t)(d->ids_cap + ENTRIES_PAGE) * 48;
  *body = &d->base;
  return PT_OK;
}
