/* bench_track.c - in-process throughput of libpipetrack: events/s for the
 * memory and SQLite stores (one event per call from 1 and 8 threads, batches
 * of 100), the cost of appending to a long session, and the chain's hashing
 * throughput against raw SHA-256 over the same bytes. Bounded in count and
 * time; prints one line per measurement (and JSON lines with --json).
 *
 * Usage: bench_track [DIR]   (DIR holds the SQLite files; default /tmp) */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/event.h"
#include "core/sha.h"
#include "lib/internal.h"
#include "pipetrack.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *dir = "/tmp";
static const char *STEPS[] = {"checkout_started", "payment_initiated", "payment_confirmed",
                              "checkout_completed"};
static const char *INPUT = "{\"cart_id\":\"c_123\",\"amount\":42.5,\"currency\":\"EUR\"}";
static const char *NO_INPUT = NULL; /* PT_BENCH_NO_PAYLOAD: events without input */

static pt_tracker *open_store(const char *kind, const char *name) {
  char url[512];
  if (strcmp(kind, "memory") == 0) {
    snprintf(url, sizeof url, "memory:");
  } else {
    /* a fresh file: the database and its -wal and -shm gone */
    static const char *const SUFFIXES[] = {"", "-wal", "-shm"};
    char path[420];
    for (int k = 0; k < 3; k++) {
      snprintf(path, sizeof path, "%s/bench-%s-%d.db%s", dir, name, (int)getpid(), SUFFIXES[k]);
      unlink(path);
    }
    snprintf(url, sizeof url, "sqlite:%s/bench-%s-%d.db", dir, name, (int)getpid());
  }
  pt_options o = {.db_url = url};
  pt_tracker *t;
  pt_error err;
  if (pt_open(&o, &t, &err)) {
    fprintf(stderr, "open %s: %s\n", url, err.message);
    exit(2);
  }
  return t;
}

static void close_store(pt_tracker *t, const char *kind, const char *name) {
  pt_close(t);
  if (strcmp(kind, "sqlite") == 0) {
    char path[400], side[420];
    snprintf(path, sizeof path, "%s/bench-%s-%d.db", dir, name, (int)getpid());
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
  }
}

static void report(const char *name, double rate) {
  printf("%-44s %12.0f events/s\n", name, rate);
  fflush(stdout);
}

/* ---- one event per call, N threads ---- */

typedef struct wargs {
  pt_tracker *t;
  int id;
  int n;
  int sessions;
} wargs;

static void *single_worker(void *p) {
  wargs *a = p;
  for (int k = 0; k < a->n; k++) {
    char sid[48];
    snprintf(sid, sizeof sid, "w%d_s%d", a->id, k % a->sessions);
    pt_event_in ev = {.session_id = sid,
                      .pipeline_type = "checkout_digital",
                      .step = STEPS[(k / a->sessions) % 4],
                      .status = PT_SUCCESS,
                      .ts = -1,
                      .input_json = INPUT};
    pt_track_result *r;
    pt_error err;
    if (pt_track(a->t, &ev, 0, &r, &err)) {
      fprintf(stderr, "track: %s\n", err.message);
      exit(2);
    }
    pt_track_result_free(r);
  }
  return NULL;
}

static double run_single(const char *kind, int threads, int per_thread) {
  pt_tracker *t = open_store(kind, "single");
  pthread_t th[16];
  wargs a[16];
  double t0 = now_s();
  for (int i = 0; i < threads; i++) {
    a[i] = (wargs){t, i, per_thread, 100};
    pthread_create(&th[i], NULL, single_worker, &a[i]);
  }
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  double secs = now_s() - t0;
  pt_tracker_stats st;
  pt__stats(t, &st);
  if (st.commits)
    printf("  (%s, %d threads: %.1f events/commit, %.0f us/commit)\n", kind, threads,
           (double)st.events_committed / (double)st.commits,
           (double)st.commit_ns / (double)st.commits / 1000);
  close_store(t, kind, "single");
  return (double)threads * per_thread / secs;
}

/* ---- batches of 100, from N threads ---- */

typedef struct bargs {
  pt_tracker *t;
  int id, batches;
} bargs;

static void *batch_worker(void *p) {
  bargs *a = p;
  pt_event_in evs[100];
  char sids[100][48];
  for (int b = 0; b < a->batches; b++) {
    for (int i = 0; i < 100; i++) {
      /* 100 sessions per batch, each gets its next step */
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
    if (pt_track_batch(a->t, evs, 100, 0, &r, &err)) {
      fprintf(stderr, "batch: %s\n", err.message);
      exit(2);
    }
    pt_batch_result_free(r);
  }
  return NULL;
}

static double run_batched_threads(const char *kind, int threads, int batches) {
  pt_tracker *t = open_store(kind, "batch");
  pthread_t th[16];
  bargs a[16];
  double t0 = now_s();
  for (int i = 0; i < threads; i++) {
    a[i] = (bargs){t, i, batches};
    pthread_create(&th[i], NULL, batch_worker, &a[i]);
  }
  for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
  double secs = now_s() - t0;
  pt_tracker_stats st;
  pt__stats(t, &st);
  if (st.commits && strcmp(kind, "sqlite") == 0)
    printf("  (%s, %d threads: %.0f events/commit, %.0f us/commit)\n", kind, threads,
           (double)st.events_committed / (double)st.commits,
           (double)st.commit_ns / (double)st.commits / 1000);
  close_store(t, kind, "batch");
  return (double)threads * batches * 100 / secs;
}

static double run_batched(const char *kind, int batches) {
  return run_batched_threads(kind, 1, batches);
}

/* ---- baselines: raw SQLite with the same durability, no pipetrack ---- */

/* Inserts rows of the size pipetrack stores (a 350-byte event row) with
 * prepared statements, `per_commit` rows per durable commit (WAL,
 * synchronous=FULL), into a table with or without pipetrack's two indexes.
 * This is what SQLite itself can do on this machine: the floor under any
 * SQLite-backed design that keeps a row per event. */
static double raw_sqlite(int rows, int per_commit, int indexed) {
  char path[400];
  snprintf(path, sizeof path, "%s/bench-raw-%d.db", dir, (int)getpid());
  unlink(path);
  sqlite3 *db;
  if (sqlite3_open(path, &db) != SQLITE_OK) exit(2);
  sqlite3_exec(
      db,
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
      "CREATE TABLE ev (rowid INTEGER PRIMARY KEY, sid TEXT, seq INTEGER, id TEXT, body TEXT);",
      NULL, NULL, NULL);
  if (indexed)
    sqlite3_exec(db,
                 "CREATE UNIQUE INDEX ev1 ON ev(sid, seq); CREATE UNIQUE INDEX ev2 ON ev(sid, id);",
                 NULL, NULL, NULL);
  sqlite3_stmt *q;
  sqlite3_prepare_v2(db, "INSERT INTO ev (sid, seq, id, body) VALUES (?1, ?2, ?3, ?4)", -1, &q,
                     NULL);
  char body[300];
  memset(body, 'x', sizeof body);
  double t0 = now_s();
  for (int i = 0; i < rows;) {
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (int k = 0; k < per_commit && i < rows; k++, i++) {
      char sid[32], id[32];
      snprintf(sid, sizeof sid, "b%d_s%d", i / (per_commit * 4), i % per_commit);
      snprintf(id, sizeof id, "evt_%d", i);
      sqlite3_bind_text(q, 1, sid, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int(q, 2, (i / per_commit) % 4);
      sqlite3_bind_text(q, 3, id, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(q, 4, body, sizeof body, SQLITE_STATIC);
      if (sqlite3_step(q) != SQLITE_DONE) exit(2);
      sqlite3_reset(q);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  }
  double secs = now_s() - t0;
  sqlite3_finalize(q);
  sqlite3_close(db);
  unlink(path);
  char side[420];
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
  return rows / secs;
}

/* The floor of a different design, for the decision issues 2 and 3 ask for:
 * an append-only log of our own as the commit point (rows of the size
 * pipetrack stores, per_commit of them per write() + fdatasync, in a file
 * written once beforehand so commits overwrite and never grow it). No
 * indexes, no SQLite: what durability alone costs on this disk. */
static double raw_log(int rows, int per_commit) {
  char path[400];
  snprintf(path, sizeof path, "%s/bench-log-%d.bin", dir, (int)getpid());
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) exit(2);
  size_t row = 350, size = (size_t)rows * row;
  char *buf = calloc(1, (size_t)per_commit * row);
  for (size_t off = 0; off < size; off += (size_t)per_commit * row)
    if (write(fd, buf, (size_t)per_commit * row) < 0) exit(2);
  fsync(fd);
  lseek(fd, 0, SEEK_SET);
  memset(buf, 'x', (size_t)per_commit * row);
  double t0 = now_s();
  for (int i = 0; i < rows; i += per_commit) {
    if (write(fd, buf, (size_t)per_commit * row) < 0 || fdatasync(fd) != 0) exit(2);
  }
  double secs = now_s() - t0;
  close(fd);
  unlink(path);
  free(buf);
  return rows / secs;
}

/* ---- appending to one long session: cost at the 10th vs the 100,000th ---- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median of n batch times: a WAL checkpoint (tens of ms, whatever the
 * session length) landing in one window must not pass for a trend. */
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void run_long(const char *kind, int total) {
  pt_tracker *t = open_store(kind, "long");
  pt_event_in evs[100];
  int nb = total / 100, win = 20;
  double early[20], late[20];
  for (int b = 0; b < nb; b++) {
    for (int i = 0; i < 100; i++)
      evs[i] = (pt_event_in){.session_id = "long",
                             .pipeline_type = "checkout_digital",
                             .step = STEPS[i % 4],
                             .status = PT_SUCCESS,
                             .ts = -1,
                             .input_json = INPUT};
    pt_batch_result *r;
    pt_error err;
    double t0 = now_s();
    if (pt_track_batch(t, evs, 100, 0, &r, &err)) {
      fprintf(stderr, "long: %s\n", err.message);
      exit(2);
    }
    double dt = now_s() - t0;
    pt_batch_result_free(r);
    /* the first batches (events 0..1999) and the last ones */
    if (b < win) early[b] = dt;
    if (b >= nb - win) late[b - (nb - win)] = dt;
  }
  double e = median(early, win) / 100 * 1e6, l = median(late, win) / 100 * 1e6;
  /* the status summary of that long session against a 4-event one */
  for (int i = 0; i < 4; i++) {
    pt_event_in ev = {.session_id = "short",
                      .pipeline_type = "checkout_digital",
                      .step = STEPS[i],
                      .status = PT_SUCCESS,
                      .ts = -1,
                      .input_json = INPUT};
    pt_track_result *r;
    pt_error err;
    if (pt_track(t, &ev, 1, &r, &err) == PT_OK) pt_track_result_free(r);
  }
  pt_error err;
  char *doc;
  pt_snapshot(t, "long", NULL, NULL, &doc, &err);
  pt_free(doc);
  double st[2];
  const char *who[2] = {"short", "long"};
  for (int k = 0; k < 2; k++) {
    double t0 = now_s();
    for (int i = 0; i < 500; i++) {
      if (pt_status_summary(t, who[k], NULL, 0, 0, &doc, &err) == PT_OK) pt_free(doc);
    }
    st[k] = (now_s() - t0) / 500 * 1e6;
  }
  printf("%s: status summary, 4-event session %.0f us, 100k-event session %.0f us (%.2fx)\n", kind,
         st[0], st[1], st[1] / st[0]);
  printf(
      "%-44s first 2k %.2f us/event, last 2k of %dk %.2f us/event (late/early %.2f, "
      "medians of 100-event batches)\n",
      kind[0] == 'm' ? "memory: append cost, one 100k-event session"
                     : "sqlite: append cost, one 100k-event session",
      e, total / 1000, l, l / e);
  fflush(stdout);
  close_store(t, kind, "long");
}

/* ---- chain hashing vs raw SHA-256 ---- */

static void run_hash(int n) {
  pt_event **evs = malloc((size_t)n * sizeof *evs);
  char **texts = malloc((size_t)n * sizeof *texts);
  size_t *lens = malloc((size_t)n * sizeof *lens);
  char link[65] = PT_GENESIS;
  for (int i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "evt_%08d", i);
    evs[i] = pt_event_new(id, "chk_bench", "checkout_digital", STEPS[i % 4], INPUT, strlen(INPUT),
                          NULL, 0, NULL, 0);
    evs[i]->status = PT_SUCCESS;
    evs[i]->ts = 1764350000000LL + i;
    pt_event_digest(evs[i]);
    /* the exact bytes the link hashes */
    pt_buf b;
    pt_buf_init(&b, 0);
    pt_buf_puts(&b, link);
    pt_buf_putc(&b, ':');
    pt_chain_input_n(&b, evs[i]);
    pt_buf_putc(&b, ':');
    pt_chain_output_n(&b, evs[i]);
    lens[i] = b.len;
    texts[i] = pt_buf_take(&b);
    pt_chain_link(link, evs[i], link);
  }
  size_t bytes = 0;
  for (int i = 0; i < n; i++) bytes += lens[i];
  char out[65];
  double best_raw = 1e9, best_chain = 1e9;
  /* A working set that stays in cache, as the event being linked does in
   * the tracker (it was just built); rounds x n links per measurement. */
  int rounds = 100;
  for (int rep = 0; rep < 7; rep++) {
    double t0 = now_s();
    for (int round = 0; round < rounds; round++)
      for (int i = 0; i < n; i++) {
        /* raw: OpenSSL's SHA-256 context over the prepared bytes, plus hex */
        pt_sha256 ctx;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, texts[i], lens[i]);
        pt_sha256_final_hex(&ctx, out);
      }
    double raw = now_s() - t0;
    char l[65];
    t0 = now_s();
    for (int round = 0; round < rounds; round++) {
      memcpy(l, PT_GENESIS, sizeof PT_GENESIS);
      for (int i = 0; i < n; i++) pt_chain_link(l, evs[i], l);
    }
    double chain = now_s() - t0;
    if (raw < best_raw) best_raw = raw;
    if (chain < best_chain) best_chain = chain;
    if (strcmp(l, link) != 0) {
      fprintf(stderr, "chain mismatch\n");
      exit(2);
    }
  }
  bytes *= (size_t)rounds;
  double raw_mbs = (double)bytes / best_raw / 1e6, chain_mbs = (double)bytes / best_chain / 1e6;
  printf("%-44s raw SHA-256 %.0f MB/s, chain %.0f MB/s over the same bytes (%.0f%% of raw)\n",
         "chain hashing (build input_n/output_n + link)", raw_mbs, chain_mbs,
         100.0 * chain_mbs / raw_mbs);
  for (int i = 0; i < n; i++) {
    pt_event_free(evs[i]);
    free(texts[i]);
  }
  free(evs);
  free(texts);
  free(lens);
}

int main(int argc, char **argv) {
  if (argc > 1) dir = argv[1];
  if (getenv("PT_BENCH_NO_PAYLOAD")) INPUT = NO_INPUT;
  const char *only = getenv("PT_BENCH_ONLY"); /* for profiling one measurement */
  if (only && strcmp(only, "memory_batched") == 0) {
    report("memory: batched (100/call), 1 thread", run_batched("memory", 20000));
    return 0;
  }
  if (only && strcmp(only, "long") == 0) {
    run_long("memory", 100000);
    run_long("sqlite", 100000);
    return 0;
  }
  if (only && strcmp(only, "log") == 0) {
    report("baseline: append-only log, 100 rows/fdatasync", raw_log(300000, 100));
    report("baseline: append-only log, 8 rows/fdatasync", raw_log(40000, 8));
    report("baseline: append-only log, 1 row/fdatasync", raw_log(5000, 1));
    return 0;
  }
  if (only && strcmp(only, "hash") == 0) {
    for (int i = 0; i < 5; i++) run_hash(2000);
    return 0;
  }
  if (only && strcmp(only, "sqlite_single") == 0) {
    report("sqlite (durable): 1 event/call, 1 thread", run_single("sqlite", 1, 3000));
    report("sqlite (durable): 1 event/call, 8 threads", run_single("sqlite", 8, 5000));
    return 0;
  }
  if (only && strcmp(only, "sqlite_batched") == 0) {
    report("sqlite (durable): batched (100/call)", run_batched("sqlite", 2000));
    return 0;
  }
  /* the in-process side of bench/ingest.sh, one measurement a call so that
   * a script can alternate them with the HTTP runs */
  if (only && strcmp(only, "sqlite_batched_4") == 0) {
    report("sqlite (durable): batched (100/call), 4 threads",
           run_batched_threads("sqlite", 4, 500));
    return 0;
  }
  if (only && strcmp(only, "raw_sqlite") == 0) {
    report("baseline: raw SQLite, 100 rows/commit, 2 indexes", raw_sqlite(300000, 100, 1));
    report("baseline: raw SQLite, 100 rows/commit, no index", raw_sqlite(300000, 100, 0));
    return 0;
  }
  double scale = getenv("PT_BENCH_SCALE") ? strtod(getenv("PT_BENCH_SCALE"), NULL) : 1.0;
#define N(x) ((int)((x)*scale) > 0 ? (int)((x)*scale) : 1)
  run_hash(N(2000));
  report("memory: batched (100/call), 1 thread", run_batched("memory", N(20000)));
  report("memory: batched (100/call), 2 threads", run_batched_threads("memory", 2, N(10000)));
  report("memory: 1 event/call, 1 thread", run_single("memory", 1, N(400000)));
  report("memory: 1 event/call, 8 threads", run_single("memory", 8, N(100000)));
  double raw100 = raw_sqlite(N(300000), 100, 1), raw100bare = raw_sqlite(N(300000), 100, 0);
  double raw1 = raw_sqlite(N(3000), 1, 1);
  report("baseline: raw SQLite, 100 rows/commit, 2 indexes", raw100);
  report("baseline: raw SQLite, 100 rows/commit, no index", raw100bare);
  report("baseline: raw SQLite, 1 row/commit", raw1);
  report("baseline: append-only log, 100 rows/fdatasync", raw_log(N(300000), 100));
  report("baseline: append-only log, 8 rows/fdatasync", raw_log(N(40000), 8));
  report("baseline: append-only log, 1 row/fdatasync", raw_log(N(5000), 1));
  double b = run_batched("sqlite", N(5000));
  report("sqlite (durable): batched (100/call)", b);
  printf("  = %.2fx raw SQLite with the same indexes, %.2fx without\n", b / raw100, b / raw100bare);
  double b4 = run_batched_threads("sqlite", 4, N(1500));
  report("sqlite (durable): batched (100/call), 4 threads", b4);
  printf("  = %.2fx raw SQLite at 100 rows/commit with the same indexes\n", b4 / raw100);
  double s1 = run_single("sqlite", 1, N(3000));
  report("sqlite (durable): 1 event/call, 1 thread", s1);
  printf("  = %.2fx raw SQLite at 1 row/commit\n", s1 / raw1);
  double s8 = run_single("sqlite", 8, N(5000));
  report("sqlite (durable): 1 event/call, 8 threads", s8);
  printf("  = %.2fx raw SQLite at 1 row/commit (group commit)\n", s8 / raw1);
  run_long("memory", 100000);
  run_long("sqlite", 100000);
  return 0;
}
