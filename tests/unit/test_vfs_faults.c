/* test_vfs_faults.c - storage faults under SQLite itself (faultvfs.c): for
 * a track, a batch, a snapshot, a redaction and an import, the I/O calls of
 * a clean run are counted, then the call is run again on a copy of the same
 * store failing the Nth read, write, sync or allocation (an I/O error, and
 * a full disk), for every N (allocations sampled). Each time the call
 * either succeeds and is there after a reopen without the shim, or fails
 * and left nothing; every chain verifies. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "faultvfs.h"
#include "testutil.h"

static int alloc_ok;
static char base_path[512], work_path[512], fault_url[600], plain_url[600];
static char *import_text;

/* What a reopened store holds, as far as the calls change it. */
typedef struct print {
  pt_export_counts c;
  long redacted;
} print;

static const char *const SESSIONS[] = {"base", "bat", "imp"};

static void copy_file(const char *from, const char *to) {
  char side[600];
  unlink(to);
  snprintf(side, sizeof side, "%s-wal", to);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", to);
  unlink(side);
  int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in < 0 || out < 0) fail_msg("cannot copy %s to %s", from, to);
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0)
    if (write(out, buf, (size_t)n) != n) fail_msg("cannot write %s", to);
  close(in);
  close(out);
}

/* Reopens the work store without the shim: its print, every chain checked. */
static print reopen_check(void) {
  pt_tracker *t = tu_open(plain_url, 0);
  print p = {0};
  char *all = tu_export(t, NULL, &p.c);
  for (const char *q = all; (q = strstr(q, "\"redacted\":true")); q++) p.redacted++;
  free(all);
  for (size_t i = 0; i < sizeof SESSIONS / sizeof *SESSIONS; i++) {
    int ok = 0;
    char *doc = NULL;
    pt_error err;
    pt_status rc = pt_verify(t, SESSIONS[i], &ok, &doc, &err);
    if (rc == PT_ENOTFOUND) continue;
    TU_ASSERT_OK(rc, &err);
    if (!ok) fail_msg("session %s does not verify: %s", SESSIONS[i], doc);
    pt_free(doc);
  }
  pt_close(t);
  return p;
}

static int same(print a, print b) {
  return a.c.sessions == b.c.sessions && a.c.events == b.c.events &&
         a.c.snapshots == b.c.snapshots && a.c.issues == b.c.issues && a.redacted == b.redacted;
}

/* ---- the calls ---- */

typedef enum op { OP_TRACK, OP_BATCH, OP_SNAPSHOT, OP_REDACT, OP_IMPORT, OP_COUNT } op;
static const char *const OP_NAMES[] = {"track", "batch", "snapshot", "redaction", "import"};

static pt_event_in event(const char *id, const char *sid, const char *step, pt_event_status st) {
  return (pt_event_in){.id = id,
                       .session_id = sid,
                       .pipeline_type = "checkout_digital",
                       .step = step,
                       .status = st,
                       .ts = 1000,
                       .input_json = "{\"card\":\"4111\",\"amount\":12.5}",
                       .output_json = st == PT_FAILURE ? "{\"reason\":\"declined\"}" : NULL,
                       .error_code = st == PT_FAILURE ? "card_declined" : NULL,
                       .error_message = st == PT_FAILURE ? "declined" : NULL};
}

/* Runs the call; PT_OK when it wholly succeeded, else its failure (err). */
static pt_status run(pt_tracker *t, op o, pt_error *err) {
  pt_error_clear(err);
  switch (o) {
    case OP_TRACK: {
      pt_event_in ev = event("t1", "base", "payment_confirmed", PT_SUCCESS);
      pt_track_result *r = NULL;
      pt_status rc = pt_track(t, &ev, 0, &r, err);
      pt_track_result_free(r);
      return rc;
    }
    case OP_BATCH: {
      pt_event_in evs[6] = {
          event("b1", "base", "payment_confirmed", PT_FAILURE),
          event("b2", "bat", "checkout_started", PT_SUCCESS),
          event("b3", "bat", "payment_initiated", PT_SUCCESS),
          event("b4", "bat", "payment_confirmed", PT_FAILURE),
          event("b5", "base", "payment_confirmed", PT_SUCCESS),
          event("b6", "bat", "payment_confirmed", PT_SUCCESS),
      };
      pt_batch_result *r = NULL;
      pt_status rc = pt_track_batch(t, evs, 6, 1, &r, err);
      for (size_t i = 0; rc == PT_OK && i < r->count; i++)
        if (r->items[i].status != PT_OK) {
          /* a batch fails as a whole or not at all here: no event is invalid */
          if (i) fail_msg("batch: item %zu failed alone: %s", i, r->items[i].error.message);
          *err = r->items[i].error;
          rc = r->items[i].status;
        }
      pt_batch_result_free(r);
      return rc;
    }
    case OP_SNAPSHOT: {
      char *doc = NULL;
      pt_status rc = pt_snapshot(t, "base", NULL, "fault campaign", &doc, err);
      pt_free(doc);
      return rc;
    }
    case OP_REDACT: {
      const char *ids[] = {"e1", "e2"};
      char *doc = NULL;
      pt_status rc = pt_redact(t, "base", ids, 2, "test", &doc, err);
      pt_free(doc);
      return rc;
    }
    case OP_IMPORT: {
      pt_import_result res;
      return pt_import(t, import_text, strlen(import_text), 1, &res, err);
    }
    default: return PT_EINVALID;
  }
}

/* ---- the campaign ---- */

static const char *const KIND_NAMES[] = {"read", "write", "sync", "alloc"};

typedef struct tally {
  long runs, failed, fired;
  long stored_failed; /* redactions stored whose scrub failed (said so) */
  long violations;
} tally;

/* One run of o on a fresh copy of the base store, failing the nth call of
 * kind (n 0: none). Returns the calls counted; checks the outcome against
 * before (nothing) and after (the clean run's result). */
static long one(op o, fv_kind kind, long n, int full, int sticky, const print *before,
                const print *after, tally *ty, long counts[FV_KINDS]) {
  copy_file(base_path, work_path);
  pt_tracker *t = tu_open(fault_url, 0);
  pt_error err;
  fv_start(kind, n, full, sticky);
  pt_status rc = run(t, o, &err);
  fv_stop();
  long fired = fv_fired();
  if (counts)
    for (int k = 0; k < FV_KINDS; k++) counts[k] = fv_count(k);
  pt_close(t);
  print p = reopen_check();
  if (ty) {
    ty->runs++;
    ty->failed += rc != PT_OK;
    ty->fired += fired > 0;
  }
  if (!after) return fv_count(kind);
  if (rc == PT_OK && !same(p, *after))
    fail_msg("%s, %s %ld%s: succeeded but is not all there after a reopen", OP_NAMES[o],
             KIND_NAMES[kind], n, full ? " (full)" : "");
  if (rc != PT_OK) {
    if (!fired) fail_msg("%s: failed with no fault injected: %s", OP_NAMES[o], err.message);
    if (rc != PT_ESTORAGE && rc != PT_ENOMEM)
      fail_msg("%s, %s %ld: failed as %s: %s", OP_NAMES[o], KIND_NAMES[kind], n, pt_err_name(rc),
               err.message);
    /* a redaction is committed, then its older copies are scrubbed from the
     * WAL (a checkpoint): when that fails, the answer is an error that says
     * the redaction is stored and asks for it again (redact.c) */
    if (o == OP_REDACT && strstr(err.message, "redaction is stored") && same(p, *after)) {
      if (ty) ty->stored_failed++;
      return fv_count(kind);
    }
    /* An error answers a call that stored nothing: the registry entries'
     * event ids are read in the transaction (snapshot.c), not after the
     * commit, where a failing read once answered an error for what was
     * stored whole. Half of a call is never allowed either. */
    if (!same(p, *before)) {
      if (ty) ty->violations++;
      print_message(
          "%s, %s %ld%s: failed (%s) but left something: events %lld -> %lld, "
          "snapshots %lld -> %lld, redacted %ld -> %ld\n",
          OP_NAMES[o], KIND_NAMES[kind], n, full ? " (full)" : "", err.message,
          (long long)before->c.events, (long long)p.c.events, (long long)before->c.snapshots,
          (long long)p.c.snapshots, before->redacted, p.redacted);
      fail();
    }
  }
  return fv_count(kind);
}

/* Allocations are many: at most this many N an operation (spread evenly). */
#define ALLOC_SAMPLES 150

static void campaign(op o) {
  copy_file(base_path, work_path);
  print before = reopen_check();
  long counts[FV_KINDS];
  tally clean = {0};
  one(o, FV_READ, 0, 0, 0, NULL, NULL, &clean, counts);
  if (clean.failed) fail_msg("%s: the clean run failed", OP_NAMES[o]);
  print after = reopen_check();
  /* the call did change something: a check of "left nothing" means something */
  assert_false(same(before, after));
  for (int k = 0; k < FV_KINDS; k++) {
    if (k == FV_ALLOC && !alloc_ok) continue;
    long total = counts[k], step = 1;
    if (k == FV_ALLOC && total > ALLOC_SAMPLES) step = (total + ALLOC_SAMPLES - 1) / ALLOC_SAMPLES;
    /* an I/O error at N; a full disk from N on (writes and syncs) */
    for (int full = 0; full < (k == FV_WRITE || k == FV_SYNC ? 2 : 1); full++) {
      tally ty = {0};
      for (long n = 1; n <= total; n += step)
        one(o, (fv_kind)k, n, full, full, &before, &after, &ty, NULL);
      print_message("fault %-9s %-5s %-5s calls %5ld  runs %4ld  failed %4ld  hit %4ld",
                    OP_NAMES[o], KIND_NAMES[k], full ? "full" : "ioerr", total, ty.runs, ty.failed,
                    ty.fired);
      if (ty.stored_failed) print_message("  (stored, scrub failed: %ld)", ty.stored_failed);
      print_message("\n");
    }
  }
}

static void test_track(void **state) {
  (void)state;
  campaign(OP_TRACK);
}
static void test_batch(void **state) {
  (void)state;
  campaign(OP_BATCH);
}
static void test_snapshot(void **state) {
  (void)state;
  campaign(OP_SNAPSHOT);
}
static void test_redact(void **state) {
  (void)state;
  campaign(OP_REDACT);
}
static void test_import(void **state) {
  (void)state;
  campaign(OP_IMPORT);
}

/* pt_ready (pipetrackd's /readyz): not ready while writes fail for lack of
 * space, naming why; ready again once a write commits, or once the probe
 * write it tries (at most once a second) does. */
static void test_ready(void **state) {
  (void)state;
  copy_file(base_path, work_path);
  pt_tracker *t = tu_open(fault_url, 0);
  pt_error err;
  TU_ASSERT_OK(pt_ready(t, &err), &err);
  pt_event_in ev = event("f1", "base", "payment_confirmed", PT_SUCCESS);
  pt_track_result *r = NULL;
  /* the disk is full from the first write on */
  fv_start(FV_WRITE, 1, 1, 1);
  assert_int_equal(pt_track(t, &ev, 0, &r, &err), PT_ESTORAGE);
  print_message("a write on a full disk: %s\n", err.message);
  assert_non_null(strstr(err.message, "disk is full"));
  assert_int_equal(pt_ready(t, &err), PT_ESTORAGE);
  print_message("pt_ready: %s\n", err.message);
  assert_non_null(strstr(err.message, "lack of space"));
  assert_non_null(strstr(err.message, "disk is full"));
  /* the probe ran once (and failed); not again within the second */
  long writes = fv_count(FV_WRITE);
  assert_true(writes > 0);
  assert_int_equal(pt_ready(t, &err), PT_ESTORAGE);
  assert_int_equal(fv_count(FV_WRITE), writes);
  /* an I/O error says nothing of the space: still not ready */
  fv_start(FV_SYNC, 1, 0, 0);
  assert_int_equal(pt_track(t, &ev, 0, &r, &err), PT_ESTORAGE);
  assert_int_equal(pt_ready(t, &err), PT_ESTORAGE);
  /* room again: a write commits, ready at once */
  fv_stop();
  TU_ASSERT_OK(pt_track(t, &ev, 0, &r, &err), &err);
  pt_track_result_free(r);
  TU_ASSERT_OK(pt_ready(t, &err), &err);
  /* full again; room again, and no write comes: the probe finds it */
  fv_start(FV_WRITE, 1, 1, 1);
  pt_event_in ev2 = event("f2", "base", "payment_confirmed", PT_SUCCESS);
  assert_int_equal(pt_track(t, &ev2, 0, &r, &err), PT_ESTORAGE);
  assert_int_equal(pt_ready(t, &err), PT_ESTORAGE);
  fv_stop();
  assert_int_equal(pt_ready(t, &err), PT_ESTORAGE); /* no probe yet */
  usleep(1100 * 1000);
  TU_ASSERT_OK(pt_ready(t, &err), &err);
  TU_ASSERT_OK(pt_ready(t, &err), &err);
  pt_close(t);
  reopen_check();
}

/* The base store: a session of three events and an entry; the import's
 * text: another session, from a memory store. */
static int setup(void **state) {
  (void)state;
  snprintf(base_path, sizeof base_path, "%s", tu_tmp_db("vfs_base"));
  snprintf(work_path, sizeof work_path, "%s", tu_tmp_db("vfs_work"));
  snprintf(fault_url, sizeof fault_url, "sqlite:file:%s?vfs=faultvfs", work_path);
  snprintf(plain_url, sizeof plain_url, "sqlite:%s", work_path);
  char url[600];
  snprintf(url, sizeof url, "sqlite:%s", base_path);
  pt_tracker *t = tu_open(url, 0);
  tu_track(t, "base", "checkout_digital", "checkout_started", PT_SUCCESS, "e1");
  tu_track(t, "base", "checkout_digital", "payment_initiated", PT_FAILURE, "e2");
  tu_track(t, "base", "checkout_digital", "payment_initiated", PT_SUCCESS, "e3");
  char *doc;
  pt_error err;
  TU_ASSERT_OK(pt_snapshot(t, "base", NULL, NULL, &doc, &err), &err);
  pt_free(doc);
  pt_close(t);
  t = tu_open("memory:", 0);
  tu_track(t, "imp", "checkout_digital", "checkout_started", PT_SUCCESS, "i1");
  tu_track(t, "imp", "checkout_digital", "payment_initiated", PT_SUCCESS, "i2");
  TU_ASSERT_OK(pt_snapshot(t, "imp", NULL, NULL, &doc, &err), &err);
  pt_free(doc);
  import_text = tu_export(t, "imp", NULL);
  pt_close(t);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  free(import_text);
  return 0;
}

int main(void) {
  /* before anything else touches SQLite: its allocator is wrapped at init */
  if (fv_register(&alloc_ok) != 0) {
    fprintf(stderr, "faultvfs: cannot register the VFS\n");
    return 1;
  }
  if (!alloc_ok)
    fprintf(stderr, "faultvfs: SQLite's allocator cannot be wrapped: no alloc faults\n");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_track),  cmocka_unit_test(test_batch),  cmocka_unit_test(test_snapshot),
      cmocka_unit_test(test_redact), cmocka_unit_test(test_import), cmocka_unit_test(test_ready),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
