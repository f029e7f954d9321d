/* bench_scale.c - do reads stay flat as the store grows? Builds (or reuses)
 * two SQLite stores with the library's batch call, a small one (10,000
 * sessions) and a large one (N, default 1,000,000; PT_SCALE_SESSIONS), each
 * of about 4.8 events a session over 30 days, mostly checkout_digital with
 * 1 % signup sessions (a rare type) and some failures; then times every
 * read below on both in the same run and prints the ratios (target: within
 * 1.5x) and the bytes an event takes on disk.
 *
 * Usage: bench_scale DIR   (the stores are kept there as scale-N.db and
 * reused by later runs; delete them to build afresh) */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pipetrack.h"

#define DAY_MS 86400000LL
#define START_MS 1767225600000LL /* 2026-01-01 UTC */
#define SPAN_MS (30 * DAY_MS)
#define BATCH_SESSIONS 200

static const char *const CHECKOUT[] = {"checkout_started", "payment_initiated", "payment_confirmed",
                                       "checkout_completed"};
static const char *const SIGNUP[] = {"account_created", "email_verified", "profile_completed"};

static int64_t clock_ms = START_MS;
static int64_t bench_clock(void *ctx) {
  (void)ctx;
  return clock_ms;
}

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const pt_error *err) {
  fprintf(stderr, "bench_scale: %s: %s\n", what, err->message);
  exit(2);
}

static pt_tracker *open_at(const char *path) {
  char url[600];
  if (snprintf(url, sizeof url, "sqlite:%s", path) >= (int)sizeof url) {
    fprintf(stderr, "bench_scale: path too long: %s\n", path);
    exit(2);
  }
  pt_options o = {.db_url = url, .clock = bench_clock};
  pt_tracker *t;
  pt_error err;
  if (pt_open(&o, &t, &err)) die("open", &err);
  return t;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(uint64_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng % n;
}

/* Session i: its type and how far it got (its events in one batch). */
static size_t session_events(int64_t i, char ids[][24], pt_event_in *ev) {
  int signup = i % 100 == 37;
  const char *const *steps = signup ? SIGNUP : CHECKOUT;
  int nsteps = signup ? 3 : 4;
  /* 5 events: started+success of the first, then successes; some stop
   * early, some fail */
  int upto = 1 + (int)rnd((uint64_t)nsteps + 2);
  if (upto > nsteps) upto = nsteps;
  int fail = rnd(10) == 0;
  size_t n = 0;
  snprintf(ids[0], 24, "%s%09" PRId64, signup ? "su" : "ck", i);
  ev[n++] = (pt_event_in){.session_id = ids[0],
                          .pipeline_type = signup ? "signup" : "checkout_digital",
                          .step = steps[0],
                          .status = PT_STARTED,
                          .ts = -1};
  for (int k = 0; k < upto; k++) {
    ev[n] = ev[0];
    ev[n].step = steps[k];
    ev[n].status = fail && k == upto - 1 ? PT_FAILURE : PT_SUCCESS;
    if (fail && k == upto - 1) {
      ev[n].error_code = "card_declined";
      ev[n].error_message = "declined";
    }
    n++;
  }
  return n;
}

static int64_t build(const char *path, int64_t nsess) {
  pt_tracker *t = open_at(path);
  pt_event_in *ev = calloc(BATCH_SESSIONS * 6, sizeof *ev);
  char(*ids)[24] = calloc(BATCH_SESSIONS, sizeof *ids);
  int64_t events = 0;
  double t0 = mono_s();
  for (int64_t i = 0; i < nsess; i += BATCH_SESSIONS) {
    size_t n = 0;
    for (int64_t k = i; k < i + BATCH_SESSIONS && k < nsess; k++)
      n += session_events(k, &ids[k - i], ev + n);
    clock_ms = START_MS + SPAN_MS * i / nsess;
    pt_batch_result *r;
    pt_error err;
    if (pt_track_batch(t, ev, n, 0, &r, &err)) die("track", &err);
    pt_batch_result_free(r);
    events += (int64_t)n;
    if ((i / BATCH_SESSIONS) % 500 == 0 && i)
      fprintf(stderr, "  %s: %" PRId64 " sessions, %.0f events/s\n", path, i,
              (double)events / (mono_s() - t0));
  }
  free(ev);
  free(ids);
  pt_close(t);
  return events;
}

typedef pt_status (*read_fn)(pt_tracker *t, char **out, pt_error *err);

static int64_t now_ms; /* the end of the stores' 30 days */
static char one_sid[24];

static pt_status r_status(pt_tracker *t, char **out, pt_error *err) {
  return pt_status_summary(t, one_sid, NULL, 0, 0, out, err);
}
static pt_status r_verify(pt_tracker *t, char **out, pt_error *err) {
  int ok;
  return pt_verify(t, one_sid, &ok, out, err);
}
static pt_status r_issues(pt_tracker *t, char **out, pt_error *err) {
  return pt_issues(t, "open", NULL, 50, NULL, out, err);
}
static pt_status r_sessions(pt_tracker *t, char **out, pt_error *err) {
  return pt_sessions(t, NULL, NULL, 50, NULL, out, err);
}
static pt_status r_sessions_signup(pt_tracker *t, char **out, pt_error *err) {
  return pt_sessions(t, "signup", NULL, 50, NULL, out, err);
}
static pt_status r_sessions_failed(pt_tracker *t, char **out, pt_error *err) {
  return pt_sessions(t, NULL, "failed", 50, NULL, out, err);
}
static pt_status r_stats(pt_tracker *t, char **out, pt_error *err) {
  return pt_stats(t, "checkout_digital", 0, -1, out, err);
}
static pt_status r_stats_now(pt_tracker *t, char **out, pt_error *err) {
  return pt_stats(t, "checkout_digital", now_ms, -1, out, err);
}
static pt_status r_stats_signup(pt_tracker *t, char **out, pt_error *err) {
  return pt_stats(t, "signup", 0, -1, out, err);
}
static pt_status r_stats_day(pt_tracker *t, char **out, pt_error *err) {
  /* a day that starts and ends at odd milliseconds */
  return pt_stats(t, "checkout_digital", START_MS + 10 * DAY_MS + 12345,
                  START_MS + 11 * DAY_MS + 54321, out, err);
}
static pt_status r_series(pt_tracker *t, char **out, pt_error *err) {
  return pt_timeseries(t, "checkout_digital", START_MS + 5 * DAY_MS, START_MS + 7 * DAY_MS, "hour",
                       out, err);
}

static int64_t track_n;
static pt_status r_track(pt_tracker *t, char **out, pt_error *err) {
  char sid[32];
  snprintf(sid, sizeof sid, "bench_new_%" PRId64, track_n++);
  pt_event_in ev = {.session_id = sid,
                    .pipeline_type = "checkout_digital",
                    .step = "checkout_started",
                    .status = PT_SUCCESS,
                    .ts = -1};
  pt_track_result *r;
  pt_status rc = pt_track(t, &ev, 0, &r, err);
  pt_track_result_free(r);
  *out = NULL;
  return rc;
}

static const struct {
  const char *name;
  read_fn fn;
} READS[] = {
    {"track (a new session)", r_track},
    {"status of one session", r_status},
    {"verify one session", r_verify},
    {"issues, first page", r_issues},
    {"sessions, first page", r_sessions},
    {"sessions?pipeline_type=signup", r_sessions_signup},
    {"sessions?state=failed", r_sessions_failed},
    {"stats checkout_digital", r_stats},
    {"stats checkout_digital since=now", r_stats_now},
    {"stats signup", r_stats_signup},
    {"stats checkout_digital, one day", r_stats_day},
    {"timeseries hour, two days", r_series},
};
#define NREADS (sizeof READS / sizeof *READS)

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median ms of `runs` calls (after one not counted). */
static double time_read(pt_tracker *t, read_fn fn, int runs) {
  double v[64];
  for (int i = -1; i < runs; i++) {
    char *out = NULL;
    pt_error err;
    double t0 = mono_s();
    if (fn(t, &out, &err)) die("read", &err);
    double dt = (mono_s() - t0) * 1000;
    pt_free(out);
    if (i >= 0) v[i] = dt;
  }
  qsort(v, (size_t)runs, sizeof *v, cmp_d);
  return v[runs / 2];
}

/* CPU seconds of the first stall sweep after a restart, with nothing new
 * stalled since the sweep before it (the clock a day past the stores' end:
 * every unfinished session is stalled, and a sweep in an earlier process
 * counted them). *recorded: what that earlier sweep recorded. */
static double first_sweep(const char *path, int64_t *recorded) {
  int64_t saved = clock_ms;
  clock_ms = now_ms + DAY_MS;
  pt_error err;
  pt_tracker *t = open_at(path);
  if (pt_sweep_stalls(t, recorded, &err)) die("sweep", &err);
  pt_close(t);
  t = open_at(path);
  int64_t again;
  double c0 = cpu_s();
  if (pt_sweep_stalls(t, &again, &err)) die("sweep", &err);
  double dt = cpu_s() - c0;
  pt_close(t);
  clock_ms = saved;
  return dt;
}

static int64_t file_bytes(const char *path) {
  struct stat st;
  int64_t n = 0;
  char p[600];
  const char *const SUFFIXES[] = {"", "-wal"};
  for (int k = 0; k < 2; k++) {
    if (snprintf(p, sizeof p, "%s%s", path, SUFFIXES[k]) >= (int)sizeof p) continue;
    if (stat(p, &st) == 0) n += st.st_size;
  }
  return n;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "/tmp";
  const char *env = getenv("PT_SCALE_SESSIONS");
  int64_t big = env ? strtoll(env, NULL, 10) : 1000000;
  int64_t sizes[2] = {10000, big};
  char paths[2][512];
  int64_t events[2];
  now_ms = START_MS + SPAN_MS;
  for (int k = 0; k < 2; k++) {
    snprintf(paths[k], sizeof paths[k], "%s/scale-%" PRId64 ".db", dir, sizes[k]);
    char done[sizeof paths[k] + 16];
    snprintf(done, sizeof done, "%.500s.events", paths[k]);
    FILE *f = fopen(done, "r");
    if (f && fscanf(f, "%" SCNd64, &events[k]) == 1) {
      fclose(f);
      printf("reusing %s (%" PRId64 " sessions, %" PRId64 " events)\n", paths[k], sizes[k],
             events[k]);
      continue;
    }
    if (f) fclose(f);
    unlink(paths[k]);
    double t0 = mono_s();
    events[k] = build(paths[k], sizes[k]);
    printf("built %s: %" PRId64 " sessions, %" PRId64 " events in %.0f s (%.0f events/s)\n",
           paths[k], sizes[k], events[k], mono_s() - t0, (double)events[k] / (mono_s() - t0));
    f = fopen(done, "w");
    if (f) {
      fprintf(f, "%" PRId64 "\n", events[k]);
      fclose(f);
    }
  }
  for (int k = 0; k < 2; k++)
    printf("%s: %.1f MB, %.0f bytes an event\n", paths[k], (double)file_bytes(paths[k]) / 1e6,
           (double)file_bytes(paths[k]) / (double)events[k]);

  double ms[2][NREADS + 1];
  int64_t swept[2];
  int runs = getenv("PT_SCALE_RUNS") ? atoi(getenv("PT_SCALE_RUNS")) : 7;
  if (runs < 1 || runs > 64) runs = 7;
  /* the stores alternate, one read at a time: the machine's drift falls
   * on both */
  pt_tracker *t[2];
  for (int k = 0; k < 2; k++) t[k] = open_at(paths[k]);
  clock_ms = now_ms;
  for (size_t r = 0; r < NREADS; r++)
    for (int k = 0; k < 2; k++) {
      snprintf(one_sid, sizeof one_sid, "ck%09" PRId64, sizes[k] / 2);
      ms[k][r] = time_read(t[k], READS[r].fn, runs);
    }
  for (int k = 0; k < 2; k++) pt_close(t[k]);
  for (int k = 0; k < 2; k++) ms[k][NREADS] = first_sweep(paths[k], &swept[k]) * 1000;

  printf("\n%-36s %12s %12s %8s\n", "read (median ms)", "10k sessions", "N sessions", "ratio");
  int over = 0;
  for (size_t r = 0; r <= NREADS; r++) {
    const char *name = r < NREADS ? READS[r].name : "stall sweep after a restart (CPU)";
    double ratio = ms[1][r] / (ms[0][r] > 0.001 ? ms[0][r] : 0.001);
    int bad = ratio > 1.5;
    over += bad;
    printf("%-36s %12.3f %12.3f %7.2fx%s\n", name, ms[0][r], ms[1][r], ratio,
           bad ? "  (target <= 1.5x)" : "");
  }
  printf("(N = %" PRId64 "; the sweeps recorded %" PRId64 " and %" PRId64
         " stalled sessions; %d of %zu reads over 1.5x)\n",
         big, swept[0], swept[1], over, NREADS + 1);
  return 0;
}
