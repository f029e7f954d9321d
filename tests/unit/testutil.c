/* testutil.c - shared helpers for the cmocka tests. */
#include "testutil.h"

#include <ctype.h>
#include <libpq-fe.h>
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

/* libpq's message as one line: its newlines become spaces. */
static const char *one_line(const char *msg, char out[300]) {
  snprintf(out, 300, "%s", msg);
  for (char *p = out; *p; p++)
    if (*p == '\n') *p = ' ';
  return out;
}

/* Makes database db on the server at server_url empty (dropped, then
 * created), over one bounded connection; fails the test when it cannot. */
static void pg_recreate(const char *server_url, const char *db) {
  const char *keys[] = {"dbname", "connect_timeout", "options", NULL};
  const char *vals[] = {server_url, "10",
                        "-c statement_timeout=60000 -c client_min_messages=warning", NULL};
  char why[300];
  PGconn *c = PQconnectdbParams(keys, vals, 1);
  if (PQstatus(c) != CONNECTION_OK) {
    one_line(PQerrorMessage(c), why);
    PQfinish(c);
    fail_msg("PT_PG_URL %s: cannot connect: %s", server_url, why);
  }
  char sql[2][200];
  /* FORCE: a tracker a failed test left open may still be connected */
  snprintf(sql[0], sizeof sql[0], "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", db);
  snprintf(sql[1], sizeof sql[1], "CREATE DATABASE \"%s\"", db);
  for (int i = 0; i < 2; i++) {
    PGresult *r = PQexec(c, sql[i]);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      one_line(PQresultErrorMessage(r), why);
      PQclear(r);
      PQfinish(c);
      fail_msg("PT_PG_URL %s: %s: %s", server_url, sql[i], why);
    }
    PQclear(r);
  }
  PQfinish(c);
}

/* server_url with its path (the database) replaced by "/db", query kept. */
static void pg_url_with_db(const char *server_url, const char *db, char out[TU_URL_SIZE]) {
  const char *auth = strstr(server_url, "://");
  if (!auth) fail_msg("PT_PG_URL %s: not a URL (postgresql://user@host:port/db)", server_url);
  auth += 3;
  const char *path = auth + strcspn(auth, "/?");
  const char *query = path + strcspn(path, "?");
  int n = snprintf(out, TU_URL_SIZE, "%.*s/%s%s", (int)(path - server_url), server_url, db, query);
  if (n < 0 || n >= TU_URL_SIZE) fail_msg("PT_PG_URL %s: too long", server_url);
}

size_t tu_store_urls(const char *name, char urls[][TU_URL_SIZE], size_t max) {
  size_t n = 0;
  if (n < max) snprintf(urls[n++], TU_URL_SIZE, "memory:");
  if (n < max) snprintf(urls[n++], TU_URL_SIZE, "sqlite:%s", tu_tmp_db(name));
  const char *pg = getenv("PT_PG_URL");
  if (pg && *pg && n < max) {
    char db[64];
    int len = snprintf(db, sizeof db, "pt_%s_%d", name, (int)getpid());
    if (len < 0 || len >= (int)sizeof db) fail_msg("database name for %s too long", name);
    for (char *p = db; *p; p++) {
      unsigned char c = (unsigned char)*p;
      *p = isalnum(c) ? (char)tolower(c) : '_';
    }
    pg_recreate(pg, db);
    pg_url_with_db(pg, db, urls[n++]);
  }
  return n;
}

int tu_store_persists(const char *url) {
  return strncmp(url, "memory:", 7) != 0;
}

const char *tu_sqlite_path(const char *url) {
  return strncmp(url, "sqlite:", 7) == 0 ? url + 7 : NULL;
}

const char *tu_backend(const char *url) {
  print_message("backend %s\n", url);
  return url;
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

char *tu_export(pt_tracker *t, const char *sid, pt_export_counts *counts) {
  pt_export *x;
  pt_error err;
  TU_ASSERT_OK(pt_export_open(t, sid, &x, &err), &err);
  size_t cap = 1 << 16, len = 0;
  char *all = malloc(cap);
  const char *chunk;
  size_t n;
  for (;;) {
    TU_ASSERT_OK(pt_export_next(x, &chunk, &n, &err), &err);
    if (!n) break;
    while (len + n + 1 > cap) all = realloc(all, cap *= 2);
    memcpy(all + len, chunk, n);
    len += n;
  }
  all[len] = '\0';
  if (counts) pt_export_get_counts(x, counts);
  pt_export_close(x);
  return all;
}
