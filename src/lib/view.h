/* view.h - what the read calls of the library share (src/lib only): a store
 * reader with one session loaded, lists read through it, pages. */
#ifndef PT_VIEW_H
#define PT_VIEW_H

#include "../core/buf.h"
#include "tracker_int.h"

#define PT__DEFAULT_EVENTS_LIMIT 100
#define PT__DEFAULT_HISTORY_LIMIT 20

/* A reader with the session loaded and its pipeline resolved. */
typedef struct pt__view {
  pt_tracker *t;
  pt_reader *r;
  pt_defs *defs;
  const pt_pipeline *p;
  pt_session s;
  int found;
} pt__view;

/* Opens a reader on session sid (its pipeline_type checked against ptype
 * when given). A session not stored is not an error here (v->found). */
pt_status pt__view_open(pt_tracker *t, const char *sid, const char *ptype, pt__view *v,
                        pt_error *err);
void pt__view_close(pt__view *v);
/* PT_ENOTFOUND unless the session is stored. */
pt_status pt__need_session(pt__view *v, pt_error *err);
/* Takes b's text into *out. */
pt_status pt__take(pt_buf *b, char **out, pt_error *err);

/* Registry entries, owned copies. */
typedef struct pt__snaplist {
  pt_snap *items;
  size_t n, cap;
  int oom;
} pt__snaplist;
/* Stored events, owned, in seq order. */
typedef struct pt__evlist {
  pt_event **items;
  size_t n, cap;
  int oom;
} pt__evlist;

/* The entries before position before_n (-1: the newest), at most limit (0:
 * all), newest first. */
pt_status pt__read_snaps(pt__view *v, int64_t before_n, int64_t limit, pt__snaplist *l,
                         pt_error *err);
void pt__snaplist_free(pt__snaplist *l);
/* Events from .. to - 1. */
pt_status pt__read_evs(pt__view *v, int64_t from, int64_t to, pt__evlist *l, pt_error *err);
void pt__evlist_free(pt__evlist *l);
/* Event ids (owned copies) of consecutive stored events from seq first. */
typedef struct pt__idlist {
  char **ids;
  size_t n, cap;
  int64_t first;
  int oom;
} pt__idlist;
/* Appends e's id (the list's first sets `first`); 0, or 1 once out of
 * memory (a read callback's "stop"). */
int pt__idlist_add(pt__idlist *l, const pt_event *e);
void pt__idlist_free(pt__idlist *l);
/* The ids of the stored events from .. to - 1 appended to l. */
pt_status pt__read_ids(pt__view *v, int64_t from, int64_t to, pt__idlist *l, pt_error *err);
/* Puts the ids of lower (events before l's first) before l's, taking them;
 * lower is emptied. 0, or -1 when out of memory (nothing changed). */
int pt__idlist_prepend(pt__idlist *l, pt__idlist *lower);
/* Writes the entries, reading only the event ids they list (at most the
 * last cap of each); have (may be NULL) holds the ids of the session's last
 * events, already read. */
pt_status pt__write_snaps(pt__view *v, pt_buf *b, const pt__snaplist *l, int64_t cap,
                          const pt__idlist *have, pt_error *err);
/* "<ms>.<id>" cursors: 0, or -1 when cursor is not one. */
int pt__parse_cursor(const char *cursor, int64_t *ms, const char **id);
/* A page's arguments: limit <= 0 becomes 50, past PT_PAGE_MAX
 * PT_PAGE_MAX; a cursor parsed into *ms and *id. 0, or -1 with err filled
 * (PT_EINVALID) for a cursor that is not one. */
int pt__page(int *limit, const char *cursor, int64_t *ms, const char **id, pt_error *err);
/* Closes a page: `],"next_cursor":"<ms>.<id>"|null}` and takes the text. */
pt_status pt__end_page(pt_buf *b, int more, int64_t ms, const char *id, char **out, pt_error *err);

/* A time series' buckets: `res` ms each ("minute", "hour" or "day"), whole
 * ones from `from` to `to`. */
typedef struct pt__window {
  int64_t res, from, to;
  const char *name;
} pt__window;
/* Reads interval (NULL: hour) and fills in a missing since (the interval's
 * default span before until) or until (now); PT_EINVALID when until is not
 * later than since or the range holds more than 1,440 buckets. */
pt_status pt__series_window(pt_tracker *t, const char *interval, int64_t *since_ms,
                            int64_t *until_ms, pt__window *w, pt_error *err);

#endif
