/* testutil.c - shared helpers for the cmocka tests. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int64_t tu_clock_ms = 1764350000000LL;

static int64_t clock_fn(void *ctx) {
  (void)ctx;
  return tu_clock_ms;
}

char *tu_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) fail_msg("cannot read %s", path);
  buf[n] = '\0';
  fclose(f);
  if (len) *len = (size_t)n;
  return buf;
}

const char *tu_tmp_db(const char *name) {
  static char path[512];
  const char *dir = getenv("PT_TMP");
  if (!dir || !*dir) dir = "/tmp";
  mkdir(dir, 0755);
  snprintf(path, sizeof path, "%s/%s-%d.db", dir, name, (int)getpid());
  char side[600];
  unlink(path);
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
  return path;
}

json_t *tu_vectors(void) {
  const char *path = getenv("PT_VECTORS");
  if (!path) path = "tests/vectors/chain-v1.json";
  char *text = tu_read_file(path, NULL);
  json_t *v = json_loads(text, JSON_DECODE_INT_AS_REAL, NULL);
  free(text);
  if (!v) fail_msg("cannot parse %s", path);
  return v;
}

json_t *tu_json(const char *text) {
  json_error_t je;
  json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
  if (!v) fail_msg("bad JSON in test (%s): %s", je.text, text);
  return v;
}

pt_tracker *tu_open(const char *url, int auto_snapshot) {
  return tu_open_lag(url, auto_snapshot, 0);
}

pt_tracker *tu_open_lag(const char *url, int auto_snapshot, int64_t row_lag_ms) {
  pt_options o = {.db_url = url,
                  .auto_snapshot = auto_snapshot,
                  .clock = clock_fn,
                  .sqlite_row_lag_ms = row_lag_ms};
  pt_tracker *t = NULL;
  pt_error err;
  TU_ASSERT_OK(pt_open(&o, &t, &err), &err);
  return t;
}

int64_t tu_track(pt_tracker *t, const char *sid, const char *type, const char *step,
                 pt_event_status st, const char *id) {
  pt_event_in ev = {
      .id = id, .session_id = sid, .pipeline_type = type, .step = step, .status = st, .ts = -1};
  pt_track_result *r = NULL;
  pt_error err;
  TU_ASSERT_OK(pt_track(t, &ev, PT_SNAPSHOT_DEFAULT, &r, &err), &err);
  int64_t seq = r->seq;
  pt_track_result_free(r);
  return seq;
}
