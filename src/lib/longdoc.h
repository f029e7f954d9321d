/* longdoc.h - a document of one session that may be long (a status with
 * 1,000 events of 60 KB, a report of a session with thousands of events and
 * entries), answered whole while it is small and as a stream past a
 * budget (src/lib only).
 *
 * Its shape: head, events [ev_from, ev_to) each rendered by a function,
 * middle, registry entries (a list read once, each rendered with the event
 * ids it lists), tail. The caller renders the head, middle and tail (small)
 * and feeds the events of its own read pass; the events and entries are
 * rendered until `budget` bytes, and what remains is read again, a chunk
 * at a time through short read transactions, as the body is taken. Events
 * are immutable and appended, so a chunk read later is the same event (a
 * redaction in between shows in the chunks read after it). */
#ifndef PT_LONGDOC_H
#define PT_LONGDOC_H

#include "view.h"

/* A pt_body: the chunk source behind pt_body_next. */
struct pt_body {
  pt_status (*next)(pt_body *b, const char **text, size_t *len, pt_error *err);
  void (*free)(pt_body *b);
  size_t held;
};

/* An export as a body (takes x). NULL when out of memory (x closed). */
pt_body *pt__export_body(pt_export *x);

/* Renders event e, the i-th of the list (0 first: no separator). */
typedef void (*pt__render_event)(pt_buf *b, const pt_event *e, int64_t i);
/* Renders entry s, the i-th of the list, in Markdown (entries in JSON are
 * rendered by pt__write_snaps). */
typedef void (*pt__render_entry)(pt_buf *b, const pt_snap *s, int64_t i);

typedef struct pt__longdoc pt__longdoc;

/* A document of session sid whose events are [ev_from, ev_to), rendered by
 * ev; entries by entry (NULL: as JSON, at most ids_cap event ids each).
 * budget 0: never a stream. NULL when out of memory. */
pt__longdoc *pt__longdoc_new(pt_tracker *t, const char *sid, int64_t ev_from, int64_t ev_to,
                             pt__render_event ev, pt__render_entry entry, int64_t ids_cap,
                             size_t budget);
/* What the caller writes: the text before the events, between the events
 * and the entries, and after the entries. */
pt_buf *pt__longdoc_head(pt__longdoc *d);
pt_buf *pt__longdoc_mid(pt__longdoc *d);
pt_buf *pt__longdoc_tail(pt__longdoc *d);
/* The caller's read pass gives each event of [ev_from, ev_to) in order. */
void pt__longdoc_event(pt__longdoc *d, const pt_event *e);
/* The entries to list, newest first (taken: *l is emptied). */
void pt__longdoc_entries(pt__longdoc *d, pt__snaplist *l);
/* Renders what fits the budget through the open view v (have: the ids of
 * the session's last events when the caller read them, taken; or NULL) and
 * ends the document: the whole text in *out when it fits, else a body in
 * *body. Frees d either way. */
pt_status pt__longdoc_finish(pt__longdoc *d, pt__view *v, pt__idlist *have, char **out,
                             pt_body **body, pt_error *err);
void pt__longdoc_free(pt__longdoc *d);

#endif
