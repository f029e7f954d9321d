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

#define TU_ASSERT_OK(expr, errp)                                                                 \
  do {                                                                                           \
    pt_status tu_rc_ = (expr);                                                                   \
    if (tu_rc_ != PT_OK)                                                                         \
      fail_msg("%s -> %s: %s (%s)", #expr, pt_err_name(tu_rc_), (errp)->message, (errp)->field); \
  } while (0)

#endif
