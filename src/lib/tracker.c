/* tracker.c - the tracker itself: opening (definitions, signing key, store,
 * committer) and closing it, the definitions in force, and the accessors
 * the other files and the programs use. What a tracker does is elsewhere:
 * track.c, committer.c, reads.c, export.c, import.c, redact.c, issues.c. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/buf.h"
#include "../core/clock.h"
#include "../core/error.h"
#include "tracker_int.h"

void pt_free(void *doc) {
  free(doc);
}

static int64_t system_ms(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pt__now(pt_tracker *t) {
  return t->clock(t->clock_ctx);
}

pt_defs *pt__defs(pt_tracker *t) {
  pthread_mutex_lock(&t->defs_lock);
  pt_defs *d = pt_defs_ref(t->defs);
  pthread_mutex_unlock(&t->defs_lock);
  return d;
}

const pt_limits *pt__limits(pt_tracker *t) {
  return &t->lim;
}
pt_store *pt__store(pt_tracker *t) {
  return t->store;
}
const pt_signer *pt__signer(pt_tracker *t) {
  return t->signer;
}

/* ---- opening and closing -------------------------------------------------- */

static pt_status read_file(const char *path, char **out, size_t *len, pt_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return pt_fail(err, PT_EIO, "pipelines", "pipelines: cannot open %s: %s", path,
                   strerror(errno));
  pt_buf b;
  pt_buf_init(&b, 16u << 20);
  char chunk[8192];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) pt_buf_put(&b, chunk, n);
  int bad = ferror(f);
  fclose(f);
  if (bad || b.failed) {
    pt_buf_cleanup(&b);
    return pt_fail(err, PT_EIO, "pipelines", "pipelines: cannot read %s", path);
  }
  *len = b.len;
  *out = pt_buf_take(&b);
  return *out ? PT_OK : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}

pt_status pt_open(const pt_options *opts, pt_tracker **out, pt_error *err) {
  *out = NULL;
  pt_error_clear(err);
  pt_options none;
  memset(&none, 0, sizeof none);
  if (!opts) opts = &none;
  pt_tracker *t = calloc(1, sizeof *t);
  if (!t) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  pthread_mutex_init(&t->defs_lock, NULL);
  pthread_mutex_init(&t->ready_lock, NULL);
  pt__sweep_init(t);
  pt__changes_init(t);
  pt__committer_init(t);
  pt__cache_init(t);
  t->clock = opts->clock ? opts->clock : system_ms;
  t->clock_ctx = opts->clock_ctx;
  t->auto_snapshot = opts->auto_snapshot != 0;
  t->outbox = opts->issue_outbox != 0;
  t->outbox_window_ms = opts->issue_outbox_window_ms > 0 ? opts->issue_outbox_window_ms : 1000;
  t->lim.max_payload = opts->max_payload ? opts->max_payload : PT_DEFAULT_MAX_PAYLOAD;
  t->lim.max_depth = opts->max_depth > 0 ? opts->max_depth : PT_DEFAULT_MAX_DEPTH;
  pt_status rc;
  if (opts->pipelines_file) {
    char *text = NULL;
    size_t len = 0;
    rc = read_file(opts->pipelines_file, &text, &len, err);
    if (rc == PT_OK) {
      rc = pt_defs_parse(text, len, &t->defs, err);
      if (rc != PT_OK && err) {
        char msg[sizeof err->message + 512];
        snprintf(msg, sizeof msg, "%s: %s", opts->pipelines_file, err->message);
        size_t n = strlen(msg);
        if (n >= sizeof err->message) n = sizeof err->message - 1;
        memcpy(err->message, msg, n);
        err->message[n] = '\0';
      }
    }
    free(text);
  } else if (opts->pipelines_json) {
    rc = pt_defs_parse(opts->pipelines_json, strlen(opts->pipelines_json), &t->defs, err);
  } else {
    rc = pt_defs_default(&t->defs, err);
  }
  if (rc == PT_OK && opts->signing_key_pem) {
    char why[160];
    t->signer =
        pt_signer_from_pem(opts->signing_key_pem, strlen(opts->signing_key_pem), why, sizeof why);
    if (!t->signer) rc = pt_fail(err, PT_EINVALID, "signing_key", "signing_key: %s", why);
  }
  pt_store_config sc = {.row_lag_ms = opts->sqlite_row_lag_ms,
                        .fail_after = opts->store_fault_after};
  if (rc == PT_OK)
    rc = pt_store_open(opts->db_url ? opts->db_url : "sqlite:./pipetrack.db", &sc, &t->store, err);
  if (rc == PT_OK) rc = pt__rollups_catch_up(t, err);
  if (rc == PT_OK) rc = pt__committer_start(t, err);
  /* rows stored before the state codes, or under other definitions; an
   * injected fault (store_fault_after) counts the writes after the open */
  if (rc == PT_OK) {
    int fault = t->store->fail_after;
    t->store->fail_after = -1;
    rc = pt__recode(t, err);
    t->store->fail_after = fault;
  }
  if (rc != PT_OK) {
    pt_close(t);
    return rc;
  }
  *out = t;
  return PT_OK;
}

void pt_close(pt_tracker *t) {
  if (!t) return;
  pt__committer_cleanup(t); /* commits what is queued first */
  pt_store_close(t->store);
  pt_signer_free(t->signer);
  pt__cache_cleanup(t);
  pt_defs_unref(t->defs);
  pthread_mutex_destroy(&t->defs_lock);
  pthread_mutex_destroy(&t->ready_lock);
  pt__sweep_cleanup(t);
  pt__changes_cleanup(t);
  free(t);
}

pt_status pt_definitions_load(pt_tracker *t, const char *json, size_t len, pt_error *err) {
  pt_defs *d;
  pt_status rc = pt_defs_parse(json, len, &d, err);
  if (rc) return rc;
  pthread_mutex_lock(&t->defs_lock);
  pt_defs *old = t->defs;
  t->defs = d;
  pthread_mutex_unlock(&t->defs_lock);
  pt_defs_unref(old);
  /* the stored state codes follow the definitions now in force */
  return pt__recode(t, err);
}

pt_status pt_definitions_json(pt_tracker *t, char **out, pt_error *err) {
  pt_defs *d = pt__defs(t);
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_defs_write_json(&b, d);
  pt_defs_unref(d);
  *out = pt_buf_take(&b);
  return *out ? PT_OK : pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}

pt_status pt__check_session(const char *sid, const char *ptype, pt_error *err) {
  if (!pt_is_id(sid))
    return pt_fail(err, PT_EINVALID, "session_id",
                   "session_id: must be 1-128 characters of A-Z a-z 0-9 _ . : -");
  if (ptype && !pt_is_name(ptype))
    return pt_fail(err, PT_EINVALID, "pipeline_type",
                   "pipeline_type: must be a string matching ^[a-z][a-z0-9_]{0,63}$");
  return PT_OK;
}

void pt__stats(pt_tracker *t, pt_tracker_stats *out) {
  out->commits = __atomic_load_n(&t->stats.commits, __ATOMIC_RELAXED);
  out->commit_failures = __atomic_load_n(&t->stats.commit_failures, __ATOMIC_RELAXED);
  out->events_committed = __atomic_load_n(&t->stats.events_committed, __ATOMIC_RELAXED);
  out->commit_ns = __atomic_load_n(&t->stats.commit_ns, __ATOMIC_RELAXED);
  out->commit_retries = __atomic_load_n(&t->stats.commit_retries, __ATOMIC_RELAXED);
  out->sweep_rows = __atomic_load_n(&t->stats.sweep_rows, __ATOMIC_RELAXED);
}

void pt__inject_store_fault(pt_tracker *t, int after) {
  t->store->fail_after = after;
  t->store->fail_retryable = 0;
}

void pt__inject_retryable_fault(pt_tracker *t, int after) {
  t->store->fail_after = after;
  t->store->fail_retryable = 1;
}

/* ---- readiness -------------------------------------------------------------- */

/* A failure for lack of space, as the backends word it: SQLite's text for
 * SQLITE_FULL, and the ENOSPC PostgreSQL names (SQLSTATE 53100, disk_full). */
static int lack_of_space(const pt_error *err) {
  return err && (strstr(err->message, "database or disk is full") ||
                 strstr(err->message, "No space left on device"));
}

void pt__note_commit(pt_tracker *t, pt_status rc, const pt_error *err) {
  if (rc == PT_OK) {
    if (__atomic_load_n(&t->write_full, __ATOMIC_ACQUIRE))
      __atomic_store_n(&t->write_full, 0, __ATOMIC_RELEASE);
    return;
  }
  /* another failure (an I/O error) says nothing of the space: the state stays */
  if (!lack_of_space(err)) return;
  pthread_mutex_lock(&t->ready_lock);
  snprintf(t->full_msg, sizeof t->full_msg, "%s", err->message);
  pthread_mutex_unlock(&t->ready_lock);
  __atomic_store_n(&t->write_full, 1, __ATOMIC_RELEASE);
}

pt_status pt__probe_apply(pt__tx *x, pt__job *j) {
  char v[32];
  snprintf(v, sizeof v, "%" PRId64, j->now);
  pt_status rc = pt_store_mark_put(x->t->store, "ready/probe", v, &j->err);
  if (rc == PT_OK) j->result = PT_OK;
  return rc;
}

/* A probe write at most this often while writes fail for lack of space. */
#define PROBE_EVERY_NS 1000000000ull

pt_status pt_ready(pt_tracker *t, pt_error *err) {
  if (!__atomic_load_n(&t->write_full, __ATOMIC_ACQUIRE)) return PT_OK;
  uint64_t now = pt_mono_ns();
  pthread_mutex_lock(&t->ready_lock);
  int due = t->probe_ns == 0 || now - t->probe_ns >= PROBE_EVERY_NS;
  if (due) t->probe_ns = now;
  pthread_mutex_unlock(&t->ready_lock);
  if (due) {
    /* nothing else may be writing (a load balancer sends no more): a small
     * write of our own says when there is room again */
    pt__job j = {.kind = PT__JOB_PROBE, .now = pt__now(t)};
    if (pt__job_run(t, &j, NULL) == PT_OK) return PT_OK;
  }
  char msg[sizeof t->full_msg];
  pthread_mutex_lock(&t->ready_lock);
  snprintf(msg, sizeof msg, "%s", t->full_msg);
  pthread_mutex_unlock(&t->ready_lock);
  if (!__atomic_load_n(&t->write_full, __ATOMIC_ACQUIRE)) return PT_OK;
  return pt_fail(err, PT_ESTORAGE, NULL, "not ready: writes fail for lack of space (%s)", msg);
}

pt_status pt_pubkey(pt_tracker *t, char **out, pt_error *err) {
  *out = NULL;
  if (!t->signer)
    return pt_fail(err, PT_ENOTFOUND, NULL,
                   "no signing key: entries and receipts are not signed (--signing-key)");
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_buf_puts(&b, "{\"algorithm\":\"ed25519\",\"public_key\":\"");
  pt_buf_puts(&b, pt_signer_pubkey(t->signer));
  pt_buf_puts(&b, "\"}");
  if (!(*out = pt_buf_take(&b))) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  return PT_OK;
}

void pt_db_url_display(const char *url, char *out, size_t size) {
  if (!size) return;
  if (!url) url = "";
  pt_buf b;
  pt_buf_init(&b, 0);
  const char *p = url, *auth = strstr(url, "://");
  if (auth) {
    auth += 3;
    /* the authority ends at the path, the parameters or the end */
    size_t alen = strcspn(auth, "/?");
    const char *at = memchr(auth, '@', alen);
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) {
      pt_buf_put(&b, url, (size_t)(colon + 1 - url));
      pt_buf_puts(&b, "***");
      p = at;
    }
  }
  /* password=VALUE among the parameters (conninfo URL) */
  for (;;) {
    const char *k = strstr(p, "password=");
    if (!k || (k > url && k[-1] != '?' && k[-1] != '&')) {
      if (!k) break;
      pt_buf_put(&b, p, (size_t)(k + 9 - p));
      p = k + 9;
      continue;
    }
    pt_buf_put(&b, p, (size_t)(k + 9 - p));
    pt_buf_puts(&b, "***");
    p = k + 9 + strcspn(k + 9, "&");
  }
  pt_buf_puts(&b, p);
  snprintf(out, size, "%s", b.failed ? "(a store URL)" : pt_buf_cstr(&b));
  pt_buf_cleanup(&b);
}
