/* bench_pg.c - in-process throughput of libpipetrack on PostgreSQL: batches
 * of 100 events (pt_track_batch) from 1 and 4 threads, against raw libpq
 * writing the same rows with the same durability in the same run, and what
 * the server itself costs a round trip and a commit on this machine.
 *
 * Every measurement gets a database of its own (made here, dropped after);
 * the measurements alternate within each of RUNS rounds and the figures are
 * medians. Bounded in count (PT_BENCH_SCALE) and in time (PT_BENCH_MAX_S a
 * measurement).
 *
 * Usage: bench_pg URL   (postgresql://USER@HOST:PORT/DB, a server where USER
 *                        may CREATE DATABASE; ptbench_* databases are made
 *                        and dropped beside DB) */
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/internal.h"
#include "pipetrack.h"

#define BATCH 100
#define THREADS_MAX 8
#define RUNS_MAX 15

static const char *STEPS[] = {"checkout_started", "payment_initiated", "payment_confirmed",
                              "checkout_completed"};
/* bench_track's INPUT, and the canonical form pipetrack stores of it */
static const char *INPUT = "{\"cart_id\":\"c_123\",\"amount\":42.5,\"currency\":\"EUR\"}";
static const char *INPUT_CANON = "{\"amount\":42.5,\"cart_id\":\"c_123\",\"currency\":\"EUR\"}";

static const char *base_url;
static double max_s = 60; /* a measurement stops here whatever its count */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what, const char *why) {
  fprintf(stderr, "bench_pg: %s: %s\n", what, why);
  exit(2);
}

/* ---- databases ------------------------------------------------------------ */

/* base_url with its database replaced by name. */
static void url_of(const char *name, char *out, size_t n) {
  const char *p = strstr(base_url, "://");
  p = p ? strchr(p + 3, '/') : NULL;
  if (!p) die("URL", "expected postgresql://USER@HOST:PORT/DB");
  const char *q = strchr(p, '?');
  snprintf(out, n, "%.*s/%s%s", (int)(p - base_url), base_url, name, q ? q : "");
}

/* Notices ("database ... does not exist, skipping") are not results. */
static void quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static PGconn *connect_to(const char *url) {
  PGconn *c = PQconnectdb(url);
  if (PQstatus(c) != CONNECTION_OK) die(url, PQerrorMessage(c));
  PQsetNoticeProcessor(c, quiet, NULL);
  return c;
}

static void exec_ok(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) die(sql, PQresultErrorMessage(r));
  PQclear(r);
}

/* A new empty database ptbench_<what>_<pid>_<k>; its URL in out. */
static void fresh_db(const char *what, char *name, size_t nn, char *url, size_t nu) {
  static int k;
  snprintf(name, nn, "ptbench_%s_%d_%d", what, (int)getpid(), k++);
  PGconn *c = connect_to(base_url);
  char sql[256];
  snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
  exec_ok(c, sql);
  snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
  exec_ok(c, sql);
  PQfinish(c);
  url_of(name, url, nu);
}

static void drop_db(const char *name) {
  PGconn *c = connect_to(base_url);
  char sql[256];
  snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
  exec_ok(c, sql);
  PQfinish(c);
}

/* Sequential scans of pipetrack's tables in the database at url since it
 * was made, as "table N scans M rows, ..." in out ("" when none beyond the
 * few of opening): a statement whose plan reads a whole table. */
static void seq_scans(const char *url, char *out, size_t n) {
  PGconn *c = connect_to(url);
  /* a closed connection's backend sends its statistics as it exits, after
   * the client has gone: wait (a bounded while) for the others to end */
  for (int i = 0; i < 100; i++) {
    PGresult *w = PQexec(c,
                         "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                         " AND pid <> pg_backend_pid()");
    int others = PQresultStatus(w) == PGRES_TUPLES_OK ? atoi(PQgetvalue(w, 0, 0)) : 0;
    PQclear(w);
    if (!others) break;
    usleep(20000);
  }
  PGresult *r = PQexec(c,
                       "SELECT relname, seq_scan, seq_tup_read FROM pg_stat_user_tables"
                       " WHERE seq_scan > 10 ORDER BY relname");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) die("pg_stat_user_tables", PQresultErrorMessage(r));
  size_t off = 0;
  out[0] = 0;
  for (int i = 0; i < PQntuples(r) && off < n; i++)
    off += (size_t)snprintf(out + off, n - off, "%s%s %s scans %s rows", i ? ", " : "",
                            PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
  PQclear(r);
  PQfinish(c);
}

/* pipetrack's schema in a database: a tracker opened once and closed. */
static void make_schema(const char *url) {
  pt_options o = {.db_url = url};
  pt_tracker *t;
  pt_error err;
  if (pt_open(&o, &t, &err)) die("pt_open", err.message);
  pt_close(t);
}

/* ---- pipetrack ------------------------------------------------------------ */

typedef struct ptargs {
  pt_tracker *t;
  int id, batches, snap, done;
  double deadline;
} ptargs;

/* bench_track's batch_worker: 100 sessions a batch, each its next step. */
static void *pt_worker(void *p) {
  ptargs *a = p;
  pt_event_in evs[BATCH];
  char sids[BATCH][48];
  for (int b = 0; b < a->batches && now_s() < a->deadline; b++) {
    for (int i = 0; i < BATCH; i++) {
      snprintf(sids[i], sizeof sids[i], "w%d_b%d_s%d", a->id, b / 4, i);
      evs[i] = (pt_event_in){.session_id = sids[i],
                             .pipeline_type = "checkout_digital",
                             .step = STEPS[b % 4],
                             .status = PT_SUCCESS,
                             .ts = -1,
                             .input_json = INPUT};
    }
    pt_batch_result *r;
    pt_error err;
    if (pt_track_batch(a->t, evs, BATCH, a->snap, &r, &err)) die("pt_track_batch", err.message);
    for (size_t i = 0; i < r->count; i++)
      if (r->items[i].status != PT_OK) die("pt_track_batch item", r->items[i].error.message);
    pt_batch_result_free(r);
    a->done++;
  }
  return NULL;
}

/* events/s of pipetrack on a fresh database; *epc, *upc: events and
 * microseconds a commit (the committer's own accounting). */
static double run_pt(int threads, int batches, int snap, double *epc, double *upc) {
  char name[96], url[512];
  fresh_db("pt", name, sizeof name, url, sizeof url);
  pt_options o = {.db_url = url, .auto_snapshot = snap};
  pt_tracker *t;
  pt_error err;
  if (pt_open(&o, &t, &err)) die("pt_open", err.message);
  pthread_t th[THREADS_MAX];
  ptargs a[THREADS_MAX];
  double t0 = now_s();
  for (int i = 0; i < threads; i++) {
    a[i] = (ptargs){t, i, batches, snap, 0, t0 + max_s};
    pthread_create(&th[i], NULL, pt_worker, &a[i]);
  }
  int done = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    done += a[i].done;
  }
  double secs = now_s() - t0;
  pt_tracker_stats st;
  pt__stats(t, &st);
  *epc = st.commits ? (double)st.events_committed / (double)st.commits : 0;
  *upc = st.commits ? (double)st.commit_ns / (double)st.commits / 1000 : 0;
  pt_close(t);
  /* the server's statistics are sent when a transaction ends, at most once
   * a second while its connection lives: after pt_close they are all in */
  char scans[512];
  seq_scans(url, scans, sizeof scans);
  if (scans[0]) printf("    sequential scans: %s\n", scans);
  drop_db(name);
  return (double)done * BATCH / secs;
}

/* ---- raw libpq: the same rows, no pipetrack -------------------------------- */

/* How the raw writer sends a transaction's rows. */
enum {
  RAW_VALUES,  /* multi-row INSERT ... VALUES, 16 (13) parameters a row */
  RAW_UNNEST,  /* one array parameter a column, unnest() */
  RAW_PROTOCOL /* unnest, plus pipetrack's locked protocol (its way for
                  sessions it does not remember, and for retries): a first
                  round trip of advisory locks and a read of the sessions'
                  rows, then the writes with a pg_notify a session and
                  COMMIT */
};

/* The parts of pipetrack's locked protocol RAW_PROTOCOL sends: all by default;
 * PT_BENCH_PROTOCOL=trip,locks,read,notify (any of them) to see what each
 * costs ("trip" alone: the second round trip with nothing in the first but
 * BEGIN). */
enum { P_TRIP = 1, P_LOCKS = 2, P_READ = 4, P_NOTIFY = 8 };
static int proto_parts = P_TRIP | P_LOCKS | P_READ | P_NOTIFY;

#define EV_COLS 16
#define SE_COLS 15
static const char *EV_LIST =
    "session_id, seq, id, pipeline_type, step, status, ts, ts_given, received_at, input, output,"
    " error, input_sha256, output_sha256, link, redacted";
static const char *SE_LIST =
    "session_id, pipeline_type, event_count, last_link, last_event_id, first_ts, last_ts,"
    " created_at, updated_at, snap_ms, snap_suffix, snapshot_count, steps, recent, version";
static const char *SE_UPDATE =
    " ON CONFLICT (session_id) DO UPDATE SET pipeline_type = excluded.pipeline_type,"
    " event_count = excluded.event_count, last_link = excluded.last_link,"
    " last_event_id = excluded.last_event_id, first_ts = excluded.first_ts,"
    " last_ts = excluded.last_ts, created_at = excluded.created_at,"
    " updated_at = excluded.updated_at, snap_ms = excluded.snap_ms,"
    " snap_suffix = excluded.snap_suffix, snapshot_count = excluded.snapshot_count,"
    " steps = excluded.steps, recent = excluded.recent, version = excluded.version";

/* A growable text buffer; out of memory ends the benchmark. */
typedef struct sbuf {
  char *p;
  size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t nc = b->cap ? b->cap * 2 : 4096;
    while (nc < b->len + n + 1) nc *= 2;
    if (!(b->p = realloc(b->p, nc))) die("realloc", "out of memory");
    b->cap = nc;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void sb_puts(sbuf *b, const char *s) {
  sb_add(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) die("sb_printf", "too long");
  sb_add(b, tmp, (size_t)n);
}

/* An element of an array literal: quoted, '"' and '\' escaped. */
static void arr_text(sbuf *b, const char *s) {
  sb_add(b, b->p[b->len - 1] == '{' ? "\"" : ",\"", b->p[b->len - 1] == '{' ? 1 : 2);
  for (const char *q = s; *q; q++) {
    if (*q == '"' || *q == '\\') sb_add(b, "\\", 1);
    sb_add(b, q, 1);
  }
  sb_add(b, "\"", 1);
}

static uint64_t mix(uint64_t x) { /* splitmix64 */
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* An advisory lock's key for a session (FNV-1a of "s:" and its id). */
static int64_t lock_key(const char *sid) {
  uint64_t h = 14695981039346656037ull;
  for (const char *p = "s:"; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  for (const char *p = sid; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return (int64_t)h;
}

/* 64 hex digits, different for every x. */
static void hex64(uint64_t x, char out[65]) {
  snprintf(out, 65, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, mix(x), mix(x + 1),
           mix(x + 2), mix(x + 3));
}

/* One row of each table, as text: what the raw writer sends of an event and
 * of its session's row after it (the sizes pipetrack stores). */
typedef struct rawrow {
  char ev[EV_COLS][160];
  char se[SE_COLS][400];
} rawrow;

/* Event i (0..99) of batch b of worker id, as bench_track's batch_worker
 * makes it: session w<id>_b<b/4>_s<i>, step b % 4. */
static void raw_row(int id, int b, int i, int bytea_hex, int64_t ms, rawrow *r) {
  int seq = b % 4;
  uint64_t n = ((uint64_t)id << 40) ^ ((uint64_t)b << 12) ^ (uint64_t)i;
  char link[65], in_sha[65], out_sha[65];
  hex64(n, link);
  hex64(1, in_sha);
  hex64(2, out_sha);
  const char *x = bytea_hex ? "\\x" : "";
  snprintf(r->ev[0], 160, "w%d_b%d_s%d", id, b / 4, i);
  snprintf(r->ev[1], 160, "%d", seq);
  /* a ULID's 26 characters, as pipetrack's generated ids */
  snprintf(r->ev[2], 160, "evt_%02d%024" PRIx64, id, (uint64_t)b * BATCH + (uint64_t)i);
  snprintf(r->ev[3], 160, "checkout_digital");
  snprintf(r->ev[4], 160, "%s", STEPS[seq]);
  snprintf(r->ev[5], 160, "1");
  snprintf(r->ev[6], 160, "%" PRId64, ms);
  snprintf(r->ev[7], 160, "0");
  snprintf(r->ev[8], 160, "%" PRId64, ms);
  snprintf(r->ev[9], 160, "%s", INPUT_CANON);
  snprintf(r->ev[10], 160, "null");
  snprintf(r->ev[11], 160, "null");
  snprintf(r->ev[12], 160, "%s%s", x, in_sha);
  snprintf(r->ev[13], 160, "%s%s", x, out_sha);
  snprintf(r->ev[14], 160, "%s%s", x, link);
  snprintf(r->ev[15], 160, "0");
  snprintf(r->se[0], 400, "%s", r->ev[0]);
  snprintf(r->se[1], 400, "checkout_digital");
  snprintf(r->se[2], 400, "%d", seq + 1);
  snprintf(r->se[3], 400, "%s", link);
  snprintf(r->se[4], 400, "%s", r->ev[2]);
  snprintf(r->se[5], 400, "%" PRId64, ms);
  snprintf(r->se[6], 400, "%" PRId64, ms);
  snprintf(r->se[7], 400, "%" PRId64, ms);
  snprintf(r->se[8], 400, "%" PRId64, ms);
  snprintf(r->se[9], 400, "-1");
  snprintf(r->se[10], 400, "0");
  snprintf(r->se[11], 400, "0");
  /* the per-step state pipetrack keeps on the row, one entry a step so far */
  size_t off = 0;
  for (int k = 0; k <= seq; k++)
    off += (size_t)snprintf(r->se[12] + off, 400 - off, "%s%s,1,%d,0,-1,%" PRId64, k ? ";" : "",
                            STEPS[k], k, ms);
  /* the ids of the session's events so far (pipetrack keeps the last 16) */
  off = 0;
  for (int k = 0; k <= seq; k++)
    off += (size_t)snprintf(r->se[13] + off, 400 - off, "%sevt_%02d%024" PRIx64, k ? " " : "", id,
                            (uint64_t)(b - (seq - k)) * BATCH + (uint64_t)i);
  snprintf(r->se[14], 400, "%d", seq + 1); /* the row's version: one a write */
}

typedef struct rawargs {
  const char *url;
  int id, batches, how, done;
  double deadline;
} rawargs;

/* Sends the prepared queries of one transaction and the sync, then reads
 * every result; n statements (BEGIN and COMMIT included). */
typedef struct rq {
  const char *name; /* prepared statement, or NULL: sql with no parameters */
  const char *sql;
  int n;
  const char *const *v;
} rq;

static void pipeline(PGconn *c, rq *q, int n) {
  for (int i = 0; i < n; i++) {
    int ok = q[i].name ? PQsendQueryPrepared(c, q[i].name, q[i].n, q[i].v, NULL, NULL, 0)
                       : PQsendQueryParams(c, q[i].sql, 0, NULL, NULL, NULL, NULL, 0);
    if (!ok) die("send", PQerrorMessage(c));
  }
  if (!PQpipelineSync(c)) die("sync", PQerrorMessage(c));
  for (int i = 0; i < n; i++) {
    PGresult *r = PQgetResult(c);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      die(q[i].name ? q[i].name : q[i].sql, PQresultErrorMessage(r));
    PQclear(r);
    if ((r = PQgetResult(c))) die("pipeline", "more results than expected");
  }
  PGresult *r = PQgetResult(c);
  if (PQresultStatus(r) != PGRES_PIPELINE_SYNC) die("pipeline", "no sync");
  PQclear(r);
}

static void prepare(PGconn *c, const char *name, const char *sql) {
  PGresult *r = PQprepare(c, name, sql, 0, NULL);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) die(name, PQresultErrorMessage(r));
  PQclear(r);
}

static void *raw_worker(void *p) {
  rawargs *a = p;
  PGconn *c = connect_to(a->url);
  /* with a read of the sessions, as pipetrack's writer: planned for the
   * arguments (a plan cached on the empty table would scan all of sessions
   * at every read); the plain inserts keep PostgreSQL's default */
  if (a->how == RAW_PROTOCOL) exec_ok(c, "SET plan_cache_mode = force_custom_plan");
  sbuf sql = {0};
  if (a->how == RAW_VALUES) {
    sb_printf(&sql, "INSERT INTO events (%s) VALUES ", EV_LIST);
    for (int i = 0; i < BATCH; i++) {
      sb_puts(&sql, i ? ",(" : "(");
      for (int k = 0; k < EV_COLS; k++) sb_printf(&sql, "%s$%d", k ? "," : "", i * EV_COLS + k + 1);
      sb_puts(&sql, ")");
    }
    prepare(c, "ev", sql.p);
    sql.len = 0;
    sb_printf(&sql, "INSERT INTO sessions (%s) VALUES ", SE_LIST);
    for (int i = 0; i < BATCH; i++) {
      sb_puts(&sql, i ? ",(" : "(");
      for (int k = 0; k < SE_COLS; k++) sb_printf(&sql, "%s$%d", k ? "," : "", i * SE_COLS + k + 1);
      sb_puts(&sql, ")");
    }
    sb_puts(&sql, SE_UPDATE);
    prepare(c, "se", sql.p);
  } else {
    sb_printf(&sql,
              "INSERT INTO events (%s) SELECT a, b, c, d, e, f, g, h, i, j, k, l,"
              " decode(m, 'hex'), decode(n, 'hex'), decode(o, 'hex'), p"
              " FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],"
              " $6::smallint[], $7::bigint[], $8::smallint[], $9::bigint[], $10::text[],"
              " $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::smallint[])"
              " AS u(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p)",
              EV_LIST);
    prepare(c, "ev", sql.p);
    sql.len = 0;
    sb_printf(&sql,
              "INSERT INTO sessions (%s) SELECT * FROM unnest($1::text[], $2::text[],"
              " $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[],"
              " $9::bigint[], $10::bigint[], $11::int[], $12::bigint[], $13::text[],"
              " $14::text[], $15::bigint[])%s",
              SE_LIST, SE_UPDATE);
    prepare(c, "se", sql.p);
    prepare(c, "locks", "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k");
    prepare(c, "read",
            "SELECT session_id, pipeline_type, event_count, last_link, last_event_id, first_ts,"
            " last_ts, created_at, updated_at, snap_ms, snap_suffix, snapshot_count, steps,"
            " recent, version FROM sessions WHERE session_id = ANY ($1::text[])");
    prepare(c, "notify", "SELECT pg_notify('ptbench', p) FROM unnest($1::text[]) AS p");
  }
  free(sql.p);
  if (!PQenterPipelineMode(c)) die("pipeline mode", PQerrorMessage(c));

  rawrow *rows = malloc(BATCH * sizeof *rows);
  const char **ev = malloc(BATCH * EV_COLS * sizeof *ev),
             **se = malloc(BATCH * SE_COLS * sizeof *se);
  sbuf col[EV_COLS + SE_COLS + 3] = {{0}};
  const char *cv[EV_COLS + SE_COLS + 3];
  if (!rows || !ev || !se) die("malloc", "out of memory");
  for (int b = 0; b < a->batches && now_s() < a->deadline; b++) {
    int64_t ms = wall_ms();
    for (int i = 0; i < BATCH; i++) raw_row(a->id, b, i, a->how == RAW_VALUES, ms, &rows[i]);
    rq q[8];
    int n = 0;
    q[n++] = (rq){NULL, "BEGIN", 0, NULL};
    if (a->how == RAW_VALUES) {
      for (int i = 0; i < BATCH; i++) {
        for (int k = 0; k < EV_COLS; k++) ev[i * EV_COLS + k] = rows[i].ev[k];
        for (int k = 0; k < SE_COLS; k++) se[i * SE_COLS + k] = rows[i].se[k];
      }
      q[n++] = (rq){"ev", NULL, BATCH * EV_COLS, ev};
      q[n++] = (rq){"se", NULL, BATCH * SE_COLS, se};
    } else {
      for (int k = 0; k < EV_COLS + SE_COLS + 3; k++) {
        col[k].len = 0;
        sb_puts(&col[k], "{");
      }
      for (int i = 0; i < BATCH; i++) {
        for (int k = 0; k < EV_COLS; k++) arr_text(&col[k], rows[i].ev[k]);
        for (int k = 0; k < SE_COLS; k++) arr_text(&col[EV_COLS + k], rows[i].se[k]);
        char key[32], note[200];
        snprintf(key, sizeof key, "%" PRId64, lock_key(rows[i].se[0]));
        arr_text(&col[EV_COLS + SE_COLS], key);
        arr_text(&col[EV_COLS + SE_COLS + 1], rows[i].se[0]);
        if (snprintf(note, sizeof note, "0123456789abcdef|s|%s", rows[i].se[0]) >= (int)sizeof note)
          note[sizeof note - 1] = '\0'; /* ids are at most 128 bytes: never */
        arr_text(&col[EV_COLS + SE_COLS + 2], note);
      }
      for (int k = 0; k < EV_COLS + SE_COLS + 3; k++) {
        sb_puts(&col[k], "}");
        cv[k] = col[k].p;
      }
      if (a->how == RAW_PROTOCOL && (proto_parts & (P_LOCKS | P_READ | P_TRIP))) {
        /* the first round trip: BEGIN, locks, the rows they guard */
        if (proto_parts & P_LOCKS) q[n++] = (rq){"locks", NULL, 1, cv + EV_COLS + SE_COLS};
        if (proto_parts & P_READ) q[n++] = (rq){"read", NULL, 1, cv + EV_COLS + SE_COLS + 1};
        pipeline(c, q, n);
        n = 0;
      }
      q[n++] = (rq){"ev", NULL, EV_COLS, cv};
      q[n++] = (rq){"se", NULL, SE_COLS, cv + EV_COLS};
      if (a->how == RAW_PROTOCOL && (proto_parts & P_NOTIFY))
        q[n++] = (rq){"notify", NULL, 1, cv + EV_COLS + SE_COLS + 2};
    }
    q[n++] = (rq){NULL, "COMMIT", 0, NULL};
    pipeline(c, q, n);
    a->done++;
  }
  for (int k = 0; k < EV_COLS + SE_COLS + 3; k++) free(col[k].p);
  free(rows);
  free(ev);
  free(se);
  PQexitPipelineMode(c);
  PQfinish(c);
  return NULL;
}

/* events/s of raw libpq on a fresh database with pipetrack's schema. */
static double run_raw(int threads, int batches, int how) {
  char name[96], url[512];
  fresh_db("raw", name, sizeof name, url, sizeof url);
  make_schema(url);
  pthread_t th[THREADS_MAX];
  rawargs a[THREADS_MAX];
  double t0 = now_s();
  for (int i = 0; i < threads; i++) {
    a[i] = (rawargs){url, i, batches, how, 0, t0 + max_s};
    pthread_create(&th[i], NULL, raw_worker, &a[i]);
  }
  int done = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    done += a[i].done;
  }
  double secs = now_s() - t0;
  drop_db(name);
  return (double)done * BATCH / secs;
}

/* ---- what the server costs: a round trip, a commit ------------------------- */

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median microseconds of n runs of one prepared statement (autocommit). */
static double timed_stmt(PGconn *c, const char *name, int n) {
  double *v = malloc((size_t)n * sizeof *v);
  if (!v) die("malloc", "out of memory");
  double deadline = now_s() + max_s;
  int k = 0;
  for (; k < n && now_s() < deadline; k++) {
    double t0 = now_s();
    PGresult *r = PQexecPrepared(c, name, 0, NULL, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) die(name, PQresultErrorMessage(r));
    PQclear(r);
    v[k] = (now_s() - t0) * 1e6;
  }
  double m = median(v, k);
  free(v);
  return m;
}

static void run_floors(int n) {
  char name[96], url[512];
  fresh_db("floor", name, sizeof name, url, sizeof url);
  PGconn *c = connect_to(url);
  exec_ok(c, "CREATE TABLE t (k bigserial PRIMARY KEY, v text)");
  prepare(c, "rtt", "SELECT 1");
  prepare(c, "one", "INSERT INTO t (v) VALUES ('x')");
  double rtt = timed_stmt(c, "rtt", n * 4);
  double one = timed_stmt(c, "one", n);
  exec_ok(c, "SET synchronous_commit = off");
  double nosync = timed_stmt(c, "one", n);
  PQfinish(c);
  drop_db(name);
  printf("%-52s %8.0f us\n", "postgres: round trip (prepared SELECT 1)", rtt);
  printf("%-52s %8.0f us\n", "postgres: one-row INSERT commit, synchronous_commit on", one);
  printf("%-52s %8.0f us  (the WAL flush: ~%.0f us)\n",
         "postgres: one-row INSERT commit, synchronous_commit off", nosync, one - nosync);
  fflush(stdout);
}

/* ---- the measurements, alternated ------------------------------------------ */

typedef struct meas {
  const char *label;
  int kind;         /* 0 pipetrack, 1 raw */
  int threads, arg; /* pipetrack: auto_snapshot; raw: RAW_* */
  double rate[RUNS_MAX], epc[RUNS_MAX], upc[RUNS_MAX];
} meas;

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_pg postgresql://USER@HOST:PORT/DB\n");
    return 2;
  }
  base_url = argv[1];
  double scale = getenv("PT_BENCH_SCALE") ? strtod(getenv("PT_BENCH_SCALE"), NULL) : 1.0;
  int runs = getenv("RUNS") ? atoi(getenv("RUNS")) : 3;
  if (runs < 1) runs = 1;
  if (runs > RUNS_MAX) runs = RUNS_MAX;
  if (getenv("PT_BENCH_MAX_S")) max_s = strtod(getenv("PT_BENCH_MAX_S"), NULL);
  const char *parts = getenv("PT_BENCH_PROTOCOL");
  if (parts) {
    proto_parts = (strstr(parts, "trip") ? P_TRIP : 0) | (strstr(parts, "locks") ? P_LOCKS : 0) |
                  (strstr(parts, "read") ? P_READ : 0) | (strstr(parts, "notify") ? P_NOTIFY : 0);
    printf("(raw libpq with pipetrack's locked protocol: only %s)\n", parts);
  }
#define N(x) ((int)((x)*scale) > 0 ? (int)((x)*scale) : 1)
  int b1 = N(500), b4 = N(200); /* batches a thread: 50,000 and 4 x 20,000 events */

  meas m[] = {
      {"pipetrack, 1 thread", 0, 1, 0, {0}, {0}, {0}},
      {"raw libpq, VALUES, 1 connection", 1, 1, RAW_VALUES, {0}, {0}, {0}},
      {"raw libpq, unnest, 1 connection", 1, 1, RAW_UNNEST, {0}, {0}, {0}},
      {"raw libpq, unnest + locks/read/notify, 1 conn.", 1, 1, RAW_PROTOCOL, {0}, {0}, {0}},
      {"pipetrack, 4 threads", 0, 4, 0, {0}, {0}, {0}},
      {"raw libpq, VALUES, 4 connections", 1, 4, RAW_VALUES, {0}, {0}, {0}},
      {"raw libpq, unnest, 4 connections", 1, 4, RAW_UNNEST, {0}, {0}, {0}},
      {"raw libpq, unnest + locks/read/notify, 4 conn.", 1, 4, RAW_PROTOCOL, {0}, {0}, {0}},
      {"pipetrack, 1 thread, auto_snapshot 1", 0, 1, 1, {0}, {0}, {0}},
      {"pipetrack, 4 threads, auto_snapshot 1", 0, 4, 1, {0}, {0}, {0}},
  };
  int nm = (int)(sizeof m / sizeof *m);
  const char *only = getenv("PT_BENCH_ONLY"); /* a substring of the labels to run */
  for (int r = 0; r < runs; r++) {
    for (int i = 0; i < nm; i++) {
      meas *x = &m[i];
      if (only && !strstr(x->label, only)) continue;
      int batches = x->threads == 1 ? b1 : b4;
      x->rate[r] = x->kind == 0 ? run_pt(x->threads, batches, x->arg, &x->epc[r], &x->upc[r])
                                : run_raw(x->threads, batches, x->arg);
      printf("  run %d: %-48s %8.0f events/s", r + 1, x->label, x->rate[r]);
      if (x->kind == 0) printf("  (%.0f events/commit, %.0f us/commit)", x->epc[r], x->upc[r]);
      printf("\n");
      fflush(stdout);
    }
  }
  /* after the runs: the same warm state of the server they saw */
  run_floors(N(500));
  printf("== medians of %d runs (events/s; batches of %d, one transaction each for raw libpq)\n",
         runs, BATCH);
  double med[16];
  for (int i = 0; i < nm; i++) {
    if (only && !strstr(m[i].label, only)) continue;
    double v[RUNS_MAX];
    memcpy(v, m[i].rate, sizeof v);
    med[i] = median(v, runs);
    printf("%-52s %10.0f events/s", m[i].label, med[i]);
    if (m[i].kind == 0) {
      memcpy(v, m[i].epc, sizeof v);
      double e = median(v, runs);
      memcpy(v, m[i].upc, sizeof v);
      printf("  (%.0f events/commit, %.0f us/commit)", e, median(v, runs));
    }
    printf("\n");
  }
  if (only) return 0;
  /* the baseline: the faster plain technique at that thread count */
  for (int k = 0; k < 2; k++) {
    int pt = k ? 4 : 0, vals = pt + 1, unn = pt + 2, proto = pt + 3;
    double raw = med[vals] > med[unn] ? med[vals] : med[unn];
    const char *how = med[vals] > med[unn] ? "VALUES" : "unnest";
    printf(
        "pg in-process batched (%d/call, %d thread%s): %.0f events/s, raw libpq %.0f events/s"
        " (%s), ratio %.2f (target >= 0.6)\n",
        BATCH, m[pt].threads, k ? "s" : "", med[pt], raw, how, med[pt] / raw);
    printf(
        "  against raw libpq with pipetrack's locked protocol (locks, read, notify; 2 round trips):"
        " ratio %.2f; that protocol costs %.2fx the plain insert\n",
        med[pt] / med[proto], med[proto] / raw);
    printf("  with auto_snapshot 1: %.0f events/s, %.2fx raw libpq without snapshot rows\n",
           med[8 + k], med[8 + k] / raw);
  }
  return 0;
}
