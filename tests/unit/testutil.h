/* testutil.h - shared helpers for the cmocka tests. */
#ifndef PT_TESTUTIL_H
#define PT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the includes above first */
#include <cmocka.h>
#include <jansson.h>

#include "pipetrack.h"

/* Reads a whole file (NUL-terminated; caller frees), or fails the test. */
char *tu_read_file(const char *path, size_t *len);
/* A fresh path under $PT_TMP (or /tmp) unique to this process and name; any
 * old file and its -wal/-shm are removed. */
const char *tu_tmp_db(const char *name);

/* Room for one store URL, and for the URLs of every backend. */
#define TU_URL_SIZE 600
#define TU_STORES_MAX 3
/* The URLs of an empty store of each backend for `name`, into urls (at most
 * max): "memory:", "sqlite:" on a fresh tu_tmp_db(name), and, when
 * $PT_PG_URL names a PostgreSQL server (a libpq URL), a database
 * pt_<name>_<pid> made again on it (dropped and created: empty). Returns
 * how many; fails the test when the database cannot be made. Each call
 * empties the stores of its name again. */
size_t tu_store_urls(const char *name, char urls[][TU_URL_SIZE], size_t max);
/* Does a store at url outlive its tracker (all but "memory:")? */
int tu_store_persists(const char *url);
/* The file of a "sqlite:" URL, NULL for another backend. */
const char *tu_sqlite_path(const char *url);
/* Prints "backend <url>" (which backend a failure belongs to); returns url. */
const char *tu_backend(const char *url);
/* Runs the statement that follows once for each of urls[0..n-1], as url. */
#define TU_EACH_URL(urls, n, url)              \
  for (size_t tu_b_ = 0; tu_b_ < (n); tu_b_++) \
    for (const char *url = tu_backend((urls)[tu_b_]); url; url = NULL)
/* tests/vectors/chain-v1.json (or $PT_VECTORS), parsed with every
 * number as a double; fails the test when it cannot be read. */
json_t *tu_vectors(void);
/* Parses JSON text or fails the test. */
json_t *tu_json(const char *text);
/* Opens a tracker on url with a settable clock (tu_clock_ms). */
pt_tracker *tu_open(const char *url, int auto_snapshot);
/* The same with pt_options.sqlite_row_lag_ms. */
pt_tracker *tu_open_lag(const char *url, int auto_snapshot, int64_t row_lag_ms);
extern int64_t tu_clock_ms;
/* Tracks a simple event, asserting success; returns the seq. */
int64_t tu_track(pt_tracker *t, const char *sid, const char *type, const char *step,
                 pt_event_status st, const char *id);

/* The export of one session (sid) or all (NULL) as one text (free it);
 * its counts into *counts when not NULL. */
char *tu_export(pt_tracker *t, const char *sid, pt_export_counts *counts);

#define TU_ASSERT_OK(expr, errp)                                                                 \
  do {                                                                                           \
    pt_status tu_rc_ = (expr);                                                                   \
    if (tu_rc_ != PT_OK)                                                                         \
      fail_msg("%s -> %s: %s (%s)", #expr, pt_err_name(tu_rc_), (errp)->message, (errp)->field); \
  } while (0)

#endif
