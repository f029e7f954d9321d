/* pg_write.c - the PostgreSQL backend's write transaction.
 *
 * A group's transaction costs two round trips and one WAL flush however
 * many events it holds: prepare() sends BEGIN, the advisory locks of every
 * session and issue of the group and the reads of their rows (sessions,
 * event ids) in one pipeline; the appends are kept here and commit() sends
 * them as one multi-row statement a table (arrays, one per column), the
 * notifications and COMMIT in a second pipeline. Reads that must see the
 * transaction's own writes (a range of events, a redaction) send what is
 * kept first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "pg_store.h"

#define EVENT_KEY_SIZE (2 * PT_ID_MAX + 2)

void pg_tx_clear(pgstore *s) {
  for (size_t i = 0; i < s->nev; i++) pt_event_free(s->ev[i]);
  s->nev = s->evsent = 0;
  for (size_t i = 0; i < s->nsnaps; i++) pt_snap_cleanup(&s->snaps[i]);
  s->nsnaps = s->snapsent = 0;
  s->nrolls = 0;
  pgset_clear(&s->evpend);
  pgset_clear(&s->sesspend);
  pgset_clear(&s->notify);
  pgset_clear(&s->locked);
  pgset_clear(&s->presess);
  pgset_clear(&s->preev);
  s->in_tx = s->tx_sent = s->optimistic = 0;
}

static pt_status oom(pt_error *err) {
  return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
}

/* The writer's connection (its key-list reads are planned afresh each
 * time: pg_pipeline). */
pt_status pg_writer_connect(pgstore *s, pt_error *err) {
  return pg_connect(s->conninfo, &s->w, err);
}

/* Runs q on the writer inside the transaction; its first statements go
 * with the BEGIN. A connection found lost at that first contact (the
 * database restarted since the last transaction) is made again and the
 * statements sent once more: nothing of the transaction had reached the
 * server. Never for statements that end with COMMIT (resend 0): the commit
 * may have happened before the connection was lost. */
static pt_status wpipe_on(pgstore *s, pgq *all, pgq *q, int n, const char *what, int resend,
                          pt_error *err);

static pt_status wpipe(pgstore *s, pgq *q, int n, const char *what, int resend, pt_error *err) {
  pgq *all = malloc(((size_t)n + 1) * sizeof *all);
  if (!all) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  pt_status rc = wpipe_on(s, all, q, n, what, resend, err);
  free(all);
  return rc;
}

static pt_status wpipe_on(pgstore *s, pgq *all, pgq *q, int n, const char *what, int resend,
                          pt_error *err) {
  for (int attempt = 0;; attempt++) {
    int first = !s->tx_sent, m = 0;
    if (first) all[m++] = (pgq){.stmt = -1, .sql = "BEGIN"};
    memcpy(all + m, q, (size_t)n * sizeof *q);
    pt_status rc = pg_pipeline(&s->w, all, m + n, what, err);
    if (rc == PT_OK) {
      s->tx_sent = 1;
      if (first) PQclear(all[0].res);
      memcpy(q, all + m, (size_t)n * sizeof *q);
      return PT_OK;
    }
    if (s->w.retryable) s->base.retryable = 1;
    if (!s->w.broken) {
      s->tx_sent = 1; /* the transaction is open (and failed): rollback ends it */
      return rc;
    }
    if (!first || !resend || attempt > 0) return rc;
    pg_disconnect(&s->w);
    if ((rc = pg_writer_connect(s, err))) return rc;
  }
}

static pt_status wexec(pgstore *s, int stmt, int n, const char *const *v, PGresult **res,
                       const char *what, pt_error *err) {
  pgq q = {.stmt = stmt, .n = n, .v = v};
  pt_status rc = wpipe(s, &q, 1, what, 1, err);
  *res = q.res;
  return rc;
}

static pt_status run_writer(void *on, int stmt, int n, const char *const *v, PGresult **res,
                            const char *what, pt_error *err) {
  return wexec(on, stmt, n, v, res, what, err);
}

pt_status pg_begin(pt_store *st, pt_error *err) {
  pgstore *s = (pgstore *)st;
  pg_tx_clear(s);
  if (!s->w.c || s->w.broken || PQstatus(s->w.c) != CONNECTION_OK) {
    pg_disconnect(&s->w);
    pt_status rc = pg_writer_connect(s, err);
    if (rc) return rc;
  }
  s->in_tx = 1;
  return PT_OK;
}

/* ---- locks and what prepare reads ------------------------------------------ */

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* The sorted, unique lock keys of names (each prefixed) not held yet,
 * marked held, as an array literal in b. How many are new. */
static size_t lock_keys(pgstore *s, const char *const *sids, size_t ns, const char *const *iids,
                        size_t ni, pt_buf *b, int *fail) {
  int64_t *k = malloc((ns + ni + 1) * sizeof *k);
  if (!k) {
    *fail = 1;
    return 0;
  }
  size_t n = 0;
  char key[PT_ID_MAX + 8];
  for (size_t i = 0; i < ns + ni; i++) {
    snprintf(key, sizeof key, "%s%s", i < ns ? "s:" : "i:", i < ns ? sids[i] : iids[i - ns]);
    if (pgset_has(&s->locked, key)) continue;
    if (pgset_put(&s->locked, key, NULL)) *fail = 1;
    k[n++] = pg_lock_key(key);
  }
  qsort(k, n, sizeof *k, cmp_i64);
  pg_arr_open(b);
  for (size_t i = 0; i < n; i++)
    if (i == 0 || k[i] != k[i - 1]) pg_arr_i64(b, k[i]);
  pg_arr_close(b);
  free(k);
  return n;
}

/* A sessions row (session_id, PG_SESSION_COLS) read under its lock: what
 * the transaction builds on, with the version its write will expect. */
static pt_status presess_row(pgstore *s, const PGresult *r, int i, pt_error *err) {
  pgsess *x = malloc(sizeof *x);
  if (!x) return oom(err);
  const char *sid = pg_text(r, i, 0);
  pt_status rc = pg_row_session(r, i, 1, sid, &x->s, err);
  x->version = pg_i64(r, i, 14);
  if (rc) {
    pg_free_session(x);
    return rc;
  }
  return pgset_put(&s->presess, sid, x) ? oom(err) : PT_OK;
}

/* The group's sessions are all remembered and it names no issue: take them
 * from the cache, assume its event ids new, and lock nothing (see
 * pgstore.cache). 1 when it went that way. */
static int prepare_optimistic(pgstore *s, const pt_store_keys *keys, pt_status *rc, pt_error *err) {
  if (keys->nissues || !keys->nsessions || (keys->nevents && !keys->ids_insert)) return 0;
  for (size_t i = 0; i < keys->nsessions; i++)
    if (!pgset_get(&s->cache, keys->sessions[i])) return 0;
  s->optimistic = 1;
  *rc = PT_OK;
  for (size_t i = 0; *rc == PT_OK && i < keys->nsessions; i++) {
    const pgsess *c = pgset_get(&s->cache, keys->sessions[i]);
    pgsess *x = pg_sess_dup(&c->s, c->version);
    if (!x || pgset_put(&s->presess, keys->sessions[i], x)) *rc = oom(err);
  }
  char key[EVENT_KEY_SIZE];
  for (size_t i = 0; *rc == PT_OK && i < keys->nevents; i++) {
    pg_event_key(key, keys->event_sessions[i], keys->event_ids[i]);
    if (pgset_put(&s->preev, key, pg_absent)) *rc = oom(err);
  }
  return 1;
}

pt_status pg_prepare(pt_store *st, const pt_store_keys *keys, pt_error *err) {
  pgstore *s = (pgstore *)st;
  pt_status orc;
  if (prepare_optimistic(s, keys, &orc, err)) return orc;
  pt_buf locks, sids, esids, eids;
  pt_buf_init(&locks, 0);
  pt_buf_init(&sids, 0);
  pt_buf_init(&esids, 0);
  pt_buf_init(&eids, 0);
  int fail = 0;
  size_t nlocks =
      lock_keys(s, keys->sessions, keys->nsessions, keys->issues, keys->nissues, &locks, &fail);
  pg_arr_open(&sids);
  for (size_t i = 0; i < keys->nsessions; i++) pg_arr_text(&sids, keys->sessions[i]);
  pg_arr_close(&sids);
  pg_arr_open(&esids);
  pg_arr_open(&eids);
  for (size_t i = 0; i < keys->nevents; i++) {
    pg_arr_text(&esids, keys->event_sessions[i]);
    pg_arr_text(&eids, keys->event_ids[i]);
  }
  pg_arr_close(&esids);
  pg_arr_close(&eids);
  pt_status rc = PT_OK;
  if (fail || locks.failed || sids.failed || esids.failed || eids.failed) rc = oom(err);
  const char *lv[1] = {pt_buf_cstr(&locks)}, *sv[1] = {pt_buf_cstr(&sids)},
             *ev[2] = {pt_buf_cstr(&esids), pt_buf_cstr(&eids)};
  pgq q[3];
  int n = 0, qs = -1, qe = -1;
  /* the locks first: the reads after them see what the last holder committed */
  if (nlocks) q[n++] = (pgq){.stmt = Q_LOCKS, .n = 1, .v = lv};
  if (keys->nsessions) qs = n, q[n++] = (pgq){.stmt = Q_SESSIONS_GET, .n = 1, .v = sv};
  if (keys->nevents) qe = n, q[n++] = (pgq){.stmt = Q_EVENTS_FIND, .n = 2, .v = ev};
  if (rc == PT_OK && n) rc = wpipe(s, q, n, "prepare", 1, err);
  if (rc == PT_OK && qs >= 0) {
    PGresult *r = q[qs].res;
    for (int i = 0; rc == PT_OK && i < PQntuples(r); i++) rc = presess_row(s, r, i, err);
    for (size_t i = 0; rc == PT_OK && i < keys->nsessions; i++)
      if (!pgset_has(&s->presess, keys->sessions[i]) &&
          pgset_put(&s->presess, keys->sessions[i], pg_absent))
        rc = oom(err);
  }
  if (rc == PT_OK && qe >= 0) {
    PGresult *r = q[qe].res;
    char key[EVENT_KEY_SIZE];
    for (int i = 0; rc == PT_OK && i < PQntuples(r); i++) {
      pt_event *e = pg_row_event(r, i);
      if (!e) {
        rc = oom(err);
        break;
      }
      pg_event_key(key, e->session_id, e->id);
      if (pgset_put(&s->preev, key, e)) rc = oom(err);
    }
    for (size_t i = 0; rc == PT_OK && i < keys->nevents; i++) {
      pg_event_key(key, keys->event_sessions[i], keys->event_ids[i]);
      if (!pgset_has(&s->preev, key) && pgset_put(&s->preev, key, pg_absent)) rc = oom(err);
    }
  }
  for (int i = 0; i < n; i++) PQclear(q[i].res);
  pt_buf_cleanup(&locks);
  pt_buf_cleanup(&sids);
  pt_buf_cleanup(&esids);
  pt_buf_cleanup(&eids);
  return rc;
}

pt_status pg_lock(pgstore *s, const char *key, pt_error *err) {
  if (pgset_has(&s->locked, key)) return PT_OK;
  char arr[32];
  snprintf(arr, sizeof arr, "{%lld}", (long long)pg_lock_key(key));
  const char *v[1] = {arr};
  PGresult *r;
  pt_status rc = wexec(s, Q_LOCKS, 1, v, &r, "lock", err);
  PQclear(r);
  if (rc == PT_OK && pgset_put(&s->locked, key, NULL)) rc = oom(err);
  return rc;
}

/* ---- what the transaction writes ------------------------------------------- */

/* The kept writes as statements: events and session rows as VALUES chunks
 * (their parameters in one text, NUL-separated), registry entries and
 * notifications as arrays (few a group). */
#define COLS_EVENTS 16
#define COLS_SNAPS 15
#define COLS_SESSIONS 16
#define COLS_ROLLUPS 7
#define COLS (COLS_SNAPS + 1 + COLS_ROLLUPS)
typedef struct batch {
  pt_buf col[COLS];
  const char *v[COLS];
  int used;
  pt_buf text; /* the VALUES parameters */
  size_t *off; /* where each starts in text */
  size_t noff, capoff;
  const char **vals;
  pgq *q;        /* events, entries, sessions, notifications, COMMIT */
  size_t *first; /* a VALUES statement's first parameter (an off index) */
  int nq, capq, oom;
} batch;

static void add_q(batch *b, pgq q, size_t first) {
  if (b->nq == b->capq) {
    int nc = b->capq ? b->capq * 2 : 16;
    pgq *nq = realloc(b->q, (size_t)nc * sizeof *nq);
    if (nq) b->q = nq;
    size_t *nf = nq ? realloc(b->first, (size_t)nc * sizeof *nf) : NULL;
    if (!nf) {
      b->oom = 1;
      return;
    }
    b->first = nf;
    b->capq = nc;
  }
  b->first[b->nq] = first;
  b->q[b->nq++] = q;
}

static pt_buf *columns(batch *b, int n, int stmt) {
  pt_buf *c = b->col + b->used;
  for (int i = 0; i < n; i++) {
    pt_buf_init(&c[i], 0);
    pg_arr_open(&c[i]);
  }
  add_q(b, (pgq){.stmt = stmt, .n = n, .v = b->v + b->used}, (size_t)-1);
  b->used += n;
  return c;
}

static void val_str(batch *b, const char *s) {
  if (b->noff == b->capoff) {
    size_t nc = b->capoff ? b->capoff * 2 : 1024;
    size_t *n = realloc(b->off, nc * sizeof *n);
    if (!n) {
      b->oom = 1;
      return;
    }
    b->off = n;
    b->capoff = nc;
  }
  b->off[b->noff++] = b->text.len;
  pt_buf_put(&b->text, s, strlen(s) + 1);
}

static void val_i64(batch *b, int64_t v) {
  char d[24];
  snprintf(d, sizeof d, "%lld", (long long)v);
  val_str(b, d);
}

/* rows rows of ncols values each, added from parameter first on: a
 * statement a binary digit of rows, the largest chunks first. */
static void values_chunks(batch *b, int table, size_t first, size_t rows, int ncols) {
  for (int k = PG_CHUNKS - 1; k >= 0; k--) {
    size_t size = (size_t)1 << k;
    for (; rows >= size; rows -= size, first += size * (size_t)ncols)
      add_q(b, (pgq){.stmt = Q_VALUES(table, k), .n = (int)size * ncols}, first);
  }
}

static int batch_close(batch *b) {
  int failed = b->oom || b->text.failed;
  for (int i = 0; i < b->used; i++) {
    pg_arr_close(&b->col[i]);
    failed |= b->col[i].failed;
    b->v[i] = pt_buf_cstr(&b->col[i]);
  }
  if (failed) return 1;
  if (b->noff) {
    if (!(b->vals = malloc(b->noff * sizeof *b->vals))) return 1;
    for (size_t i = 0; i < b->noff; i++) b->vals[i] = b->text.data + b->off[i];
  }
  for (int i = 0; i < b->nq; i++)
    if (b->first[i] != (size_t)-1) b->q[i].v = b->vals + b->first[i];
  return 0;
}

static void batch_free(batch *b) {
  for (int i = 0; i < b->nq; i++) PQclear(b->q[i].res);
  for (int i = 0; i < b->used; i++) pt_buf_cleanup(&b->col[i]);
  pt_buf_cleanup(&b->text);
  free(b->off);
  free(b->vals);
  free(b->q);
  free(b->first);
}

static void add_events(pgstore *s, batch *b) {
  if (s->evsent == s->nev) return;
  size_t first = b->noff;
  for (size_t i = s->evsent; i < s->nev; i++) {
    const pt_event *e = s->ev[i];
    val_str(b, e->session_id);
    val_i64(b, e->seq);
    val_str(b, e->id);
    val_str(b, e->pipeline_type);
    val_str(b, e->step);
    val_i64(b, e->status);
    val_i64(b, e->ts);
    val_i64(b, e->ts_given);
    val_i64(b, e->received_at);
    val_str(b, e->input);
    val_str(b, e->output);
    val_str(b, e->error);
    val_str(b, e->input_sha256);
    val_str(b, e->output_sha256);
    val_str(b, e->link);
    val_i64(b, e->redacted);
  }
  values_chunks(b, PG_V_EVENTS, first, s->nev - s->evsent, COLS_EVENTS);
}

static void add_snaps(pgstore *s, batch *b) {
  if (s->snapsent == s->nsnaps) return;
  pt_buf *c = columns(b, COLS_SNAPS, Q_SNAPS_INSERT);
  for (size_t i = s->snapsent; i < s->nsnaps; i++) {
    const pt_snap *x = &s->snaps[i];
    pg_arr_text(&c[0], x->id);
    pg_arr_text(&c[1], x->session_id);
    pg_arr_text(&c[2], x->pipeline_type);
    pg_arr_text(&c[3], x->chain_hash);
    pg_arr_i64(&c[4], x->event_count);
    pg_arr_text(&c[5], x->last_event_id);
    pg_arr_i64(&c[6], x->completed);
    pg_arr_i64(&c[7], x->total);
    pg_arr_i64(&c[8], x->percent);
    pg_arr_text(&c[9], x->state);
    pg_arr_i64(&c[10], x->is_valid);
    pg_arr_i64(&c[11], x->created_at);
    pg_arr_text(&c[12], x->notes);
    pg_arr_text(&c[13], x->signature);
    pg_arr_i64(&c[14], x->n);
  }
}

static void add_sessions(pgstore *s, batch *b) {
  if (!s->sesspend.n) return;
  size_t first = b->noff;
  pt_buf text;
  pt_buf_init(&text, 0);
  for (size_t i = 0; i < s->sesspend.n; i++) {
    const pt_session *x = s->sesspend.e[i]->v;
    val_str(b, x->session_id);
    val_str(b, x->pipeline_type);
    val_i64(b, x->event_count);
    val_str(b, x->last_link);
    val_str(b, x->last_event_id);
    val_i64(b, x->first_ts);
    val_i64(b, x->last_ts);
    val_i64(b, x->created_at);
    val_i64(b, x->updated_at);
    val_i64(b, x->snap_ms);
    val_i64(b, x->snap_suffix);
    val_i64(b, x->snapshot_count);
    pt_buf_reset(&text);
    pt_session_steps_encode(&text, x);
    val_str(b, pt_buf_cstr(&text));
    pt_buf_reset(&text);
    pt_session_recent_encode(&text, x);
    val_str(b, pt_buf_cstr(&text));
    if (text.failed) b->oom = 1;
    val_i64(b, ((const pgsess *)x)->version); /* the version the write expects */
    val_i64(b, x->scode);
  }
  pt_buf_cleanup(&text);
  values_chunks(b, PG_V_SESSIONS, first, s->sesspend.n, COLS_SESSIONS);
}

static int cmp_roll(const void *pa, const void *pb) {
  const pgroll *a = pa, *b = pb;
  int c = strcmp(a->ptype, b->ptype);
  if (c) return c;
  if (a->res != b->res) return a->res < b->res ? -1 : 1;
  if (a->bucket != b->bucket) return a->bucket < b->bucket ? -1 : 1;
  if ((c = strcmp(a->step, b->step))) return c;
  return a->metric < b->metric ? -1 : a->metric > b->metric;
}

/* Rollup deltas go with the commit (they are added last in a transaction,
 * after every read). One upsert may not touch a row twice, and rows locked
 * in one order cannot deadlock: the deltas of every rollup_add call of the
 * transaction are sorted and merged first. */
static void add_rolls(pgstore *s, batch *b) {
  if (!s->nrolls) return;
  qsort(s->rolls, s->nrolls, sizeof *s->rolls, cmp_roll);
  size_t w = 0;
  for (size_t i = 0; i < s->nrolls;) {
    pgroll r = s->rolls[i++];
    while (i < s->nrolls && cmp_roll(&r, &s->rolls[i]) == 0) r.delta += s->rolls[i++].delta;
    if (r.delta) s->rolls[w++] = r;
  }
  s->nrolls = w;
  if (!s->nrolls) return;
  pt_buf *c = columns(b, COLS_ROLLUPS, Q_ROLLUPS_ADD);
  for (size_t i = 0; i < s->nrolls; i++) {
    const pgroll *r = &s->rolls[i];
    pg_arr_text(&c[0], r->ptype);
    pg_arr_i64(&c[1], r->res);
    pg_arr_i64(&c[2], r->bucket);
    pg_arr_text(&c[3], r->step);
    pg_arr_i64(&c[4], r->metric);
    pg_arr_i64(&c[5], s->shard);
    pg_arr_i64(&c[6], r->delta);
  }
}

/* Marks what the batch sent as sent: the sessions' rows are now what the
 * transaction reads back (they move to presess). */
static pt_status batch_sent(pgstore *s, pt_error *err) {
  s->evsent = s->nev;
  s->snapsent = s->nsnaps;
  pt_status rc = PT_OK;
  for (size_t i = 0; i < s->sesspend.n; i++) {
    pgent *e = s->sesspend.e[i];
    ((pgsess *)e->v)->version++; /* as the write left the row */
    if (pgset_put(&s->presess, e->key, e->v)) rc = oom(err);
    e->v = NULL; /* handed over (or freed by the failed put) */
  }
  pgset_clear(&s->sesspend);
  return rc;
}

/* Sends what the transaction kept, so that its own reads see it. */
static pt_status send_kept(pgstore *s, pt_error *err) {
  if (s->evsent == s->nev && s->snapsent == s->nsnaps && !s->sesspend.n) return PT_OK;
  batch b;
  memset(&b, 0, sizeof b);
  add_events(s, &b);
  add_snaps(s, &b);
  add_sessions(s, &b);
  pt_status rc = batch_close(&b) ? oom(err) : wpipe(s, b.q, b.nq, "write", 1, err);
  batch_free(&b);
  return rc == PT_OK ? batch_sent(s, err) : rc;
}

/* After a commit: the rows it wrote (or read under their locks) are what
 * the next groups of these sessions may start from. Best effort: a copy
 * that cannot be made is forgotten. */
static void remember(pgstore *s) {
  pt_error ignored;
  if (batch_sent(s, &ignored)) pgset_clear(&s->cache);
  if (s->cache.n + s->presess.n > PG_CACHE_MAX) pgset_clear(&s->cache);
  for (size_t i = 0; i < s->presess.n; i++) {
    const pgsess *x = s->presess.e[i]->v;
    if (x == (const pgsess *)pg_absent) continue;
    pgsess *c = pg_sess_dup(&x->s, x->version);
    if (!c || pgset_put(&s->cache, s->presess.e[i]->key, c)) {
      pgset_clear(&s->cache);
      return;
    }
  }
}

/* After a failure: the transaction's sessions may have changed elsewhere. */
static void forget(pgstore *s) {
  const pgset *sets[2] = {&s->presess, &s->sesspend};
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < sets[k]->n; i++) {
      const char *sid = sets[k]->e[i]->key;
      pgent *e = pt_map_get(&s->cache.map, sid);
      if (!e) continue;
      /* a cached entry cannot be removed from a pgset alone: drop all */
      pgset_clear(&s->cache);
      return;
    }
}

pt_status pg_commit(pt_store *st, pt_error *err) {
  pgstore *s = (pgstore *)st;
  if (!s->tx_sent && s->nev == 0 && s->nsnaps == 0 && !s->sesspend.n && !s->nrolls) {
    pg_tx_clear(s); /* nothing reached the server: nothing to commit */
    return PT_OK;
  }
  batch b;
  memset(&b, 0, sizeof b);
  add_events(s, &b);
  add_snaps(s, &b);
  add_sessions(s, &b);
  add_rolls(s, &b);
  if (s->notify.n) {
    /* other servers' streams hear of each session and issue once */
    pt_buf *c = columns(&b, 1, Q_NOTIFY);
    char payload[PT_ID_MAX + 32];
    for (size_t i = 0; i < s->notify.n; i++) {
      snprintf(payload, sizeof payload, "%s|%s", s->instance, s->notify.e[i]->key);
      pg_arr_text(c, payload);
    }
  }
  add_q(&b, (pgq){.stmt = -1, .sql = "COMMIT"}, (size_t)-1);
  pt_status rc = batch_close(&b) ? oom(err) : wpipe(s, b.q, b.nq, "commit", 0, err);
  /* COMMIT of a transaction that failed earlier answers ROLLBACK */
  if (rc == PT_OK && strcmp(PQcmdStatus(b.q[b.nq - 1].res), "COMMIT") != 0)
    rc = pt_fail(err, PT_ESTORAGE, NULL, "postgres: commit: the transaction was rolled back");
  batch_free(&b);
  if (rc == PT_OK) {
    remember(s);
    pg_tx_clear(s);
    return PT_OK;
  }
  pg_rollback(st);
  return rc;
}

void pg_rollback(pt_store *st) {
  pgstore *s = (pgstore *)st;
  forget(s);
  if (s->tx_sent && s->w.c && !s->w.broken && PQstatus(s->w.c) == CONNECTION_OK) {
    PGresult *r = PQexec(s->w.c, "ROLLBACK");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) s->w.broken = 1;
    PQclear(r);
  }
  pg_tx_clear(s);
}

/* ---- sessions and events ------------------------------------------------------ */

static pt_status session_copy(const pt_session *src, pt_session *out, pt_error *err) {
  pt_session_init(out, src->session_id, src->pipeline_type);
  pt_session tmp;
  if (pt_session_copy(&tmp, src)) return oom(err);
  pt_session_cleanup(out);
  *out = tmp;
  return PT_OK;
}

pt_status pg_session_get(pt_store *st, const char *sid, pt_session *out, pt_error *err) {
  pgstore *s = (pgstore *)st;
  const pt_session *x = pgset_get(&s->sesspend, sid);
  if (!x) x = pgset_get(&s->presess, sid);
  if (x == (const pt_session *)pg_absent) {
    pt_session_init(out, sid, "");
    return PT_ENOTFOUND;
  }
  if (x) return session_copy(x, out, err);
  /* not named at prepare: lock it, then read it */
  char key[PT_ID_MAX + 3];
  snprintf(key, sizeof key, "s:%s", sid);
  pt_status rc = pg_lock(s, key, err);
  const char *v[1] = {sid};
  PGresult *r = NULL;
  if (rc == PT_OK) rc = wexec(s, Q_SESSION_GET, 1, v, &r, "read session", err);
  if (rc == PT_OK)
    rc = PQntuples(r) ? presess_row(s, r, 0, err)
                      : (pgset_put(&s->presess, sid, pg_absent) ? oom(err) : PT_OK);
  PQclear(r);
  if (rc) {
    pt_session_init(out, sid, "");
    return rc;
  }
  return pg_session_get(st, sid, out, err); /* from presess now */
}

pt_status pg_session_put(pt_store *st, const pt_session *x, int is_new, pt_error *err) {
  (void)is_new; /* the upsert serves both, under the session's lock */
  pgstore *s = (pgstore *)st;
  /* the version the row has now: the one read (or remembered), 0 for none */
  const pgsess *was = pgset_get(&s->sesspend, x->session_id);
  if (!was) was = pgset_get(&s->presess, x->session_id);
  int64_t version = was && was != (const pgsess *)pg_absent ? was->version : 0;
  pgsess *c = pg_sess_dup(x, version);
  if (!c) return oom(err);
  char key[PT_ID_MAX + 3];
  snprintf(key, sizeof key, "s|%s", x->session_id);
  if (pgset_put(&s->sesspend, x->session_id, c) || pgset_put(&s->notify, key, NULL))
    return oom(err);
  return PT_OK;
}

pt_status pg_event_find(pt_store *st, const char *sid, const char *eid, pt_event **out,
                        pt_error *err) {
  pgstore *s = (pgstore *)st;
  *out = NULL;
  char key[EVENT_KEY_SIZE];
  pg_event_key(key, sid, eid);
  const pt_event *e = pgset_get(&s->evpend, key);
  if (!e) e = pgset_get(&s->preev, key);
  if (e == (const pt_event *)pg_absent) return PT_ENOTFOUND;
  if (e) return (*out = pt_event_clone(e)) ? PT_OK : oom(err);
  const char *v[2] = {sid, eid};
  PGresult *r;
  pt_status rc = wexec(s, Q_EVENT_FIND, 2, v, &r, "find event", err);
  if (rc == PT_OK) {
    if (PQntuples(r) == 0)
      rc = PT_ENOTFOUND;
    else if (!(*out = pg_row_event(r, 0)))
      rc = oom(err);
  }
  PQclear(r);
  return rc;
}

pt_status pg_event_append(pt_store *st, const pt_event *e, pt_error *err) {
  pgstore *s = (pgstore *)st;
  if (s->nev == s->capev) {
    size_t nc = s->capev ? s->capev * 2 : 256;
    pt_event **n = realloc(s->ev, nc * sizeof *n);
    if (!n) return oom(err);
    s->ev = n;
    s->capev = nc;
  }
  pt_event *c = pt_event_clone(e);
  if (!c) return oom(err);
  s->ev[s->nev++] = c;
  char key[EVENT_KEY_SIZE];
  pg_event_key(key, e->session_id, e->id);
  if (pgset_put(&s->evpend, key, c)) return oom(err);
  snprintf(key, sizeof key, "s|%s", e->session_id);
  if (pgset_put(&s->notify, key, NULL)) return oom(err);
  return PT_OK;
}

pt_status pg_snapshot_put(pt_store *st, const pt_snap *x, pt_error *err) {
  pgstore *s = (pgstore *)st;
  if (s->nsnaps == s->capsnaps) {
    size_t nc = s->capsnaps ? s->capsnaps * 2 : 16;
    pt_snap *n = realloc(s->snaps, nc * sizeof *n);
    if (!n) return oom(err);
    s->snaps = n;
    s->capsnaps = nc;
  }
  pt_snap *c = &s->snaps[s->nsnaps];
  *c = *x;
  c->notes = x->notes ? strdup(x->notes) : NULL;
  c->signature = x->signature ? strdup(x->signature) : NULL;
  if ((x->notes && !c->notes) || (x->signature && !c->signature)) {
    pt_snap_cleanup(c);
    return oom(err);
  }
  s->nsnaps++;
  char key[PT_ID_MAX + 3];
  snprintf(key, sizeof key, "s|%s", x->session_id);
  return pgset_put(&s->notify, key, NULL) ? oom(err) : PT_OK;
}

/* ---- reads inside the transaction ----------------------------------------------- */

/* Reads that must see the transaction's own writes send them first. */
static pt_status tx_range(pgstore *s, const char *sid, int64_t from, int64_t to, pt_event_cb ecb,
                          pt_sid_cb icb, void *ctx, pt_error *err) {
  pt_status rc = send_kept(s, err);
  return rc ? rc : pg_events_paged(run_writer, s, sid, from, to, ecb, icb, ctx, err);
}

pt_status pg_tx_event_ids(pt_store *st, const char *sid, int64_t from, int64_t to, pt_sid_cb cb,
                          void *ctx, pt_error *err) {
  return tx_range((pgstore *)st, sid, from, to, NULL, cb, ctx, err);
}

pt_status pg_tx_read_events(pt_store *st, const char *sid, int64_t from, int64_t to, pt_event_cb cb,
                            void *ctx, pt_error *err) {
  return tx_range((pgstore *)st, sid, from, to, cb, NULL, ctx, err);
}

/* ---- redaction ---------------------------------------------------------------------- */

/* Copies this transaction holds of the event lose their payloads too. */
static pt_status redact_kept(pgstore *s, const char *sid, int64_t seq, pt_error *err) {
  for (size_t i = 0; i < s->nev; i++) {
    pt_event *e = s->ev[i];
    if (e->seq != seq || strcmp(e->session_id, sid) != 0) continue;
    pt_event *r = pt_event_redacted(e);
    if (!r) return oom(err);
    char key[EVENT_KEY_SIZE];
    pg_event_key(key, sid, e->id);
    if (pgset_put(&s->evpend, key, r)) return oom(err); /* borrowed: nothing freed */
    s->ev[i] = r;
    pt_event_free(e);
  }
  for (size_t i = 0; i < s->preev.n; i++) {
    pt_event *e = s->preev.e[i]->v;
    if (e == (pt_event *)pg_absent || e->seq != seq || strcmp(e->session_id, sid) != 0) continue;
    pt_event *r = pt_event_redacted(e);
    if (!r) return oom(err);
    s->preev.e[i]->v = r;
    pt_event_free(e);
  }
  return PT_OK;
}

pt_status pg_mark_put(pt_store *st, const char *key, const char *value, pt_error *err) {
  pgstore *s = (pgstore *)st;
  pt_status rc = send_kept(s, err);
  if (rc) return rc;
  const char *v[2] = {key, value};
  PGresult *r;
  if ((rc = wexec(s, Q_MARK_PUT, 2, v, &r, "write mark", err))) return rc;
  PQclear(r);
  return PT_OK;
}

pt_status pg_event_redact(pt_store *st, const char *sid, int64_t seq, pt_error *err) {
  pgstore *s = (pgstore *)st;
  pt_status rc = send_kept(s, err);
  if (rc) return rc;
  char q[24];
  snprintf(q, sizeof q, "%lld", (long long)seq);
  const char *v[2] = {sid, q};
  PGresult *r;
  if ((rc = wexec(s, Q_EVENT_REDACT, 2, v, &r, "redact", err))) return rc;
  int changed = strcmp(PQcmdTuples(r), "1") == 0;
  PQclear(r);
  if (!changed)
    return pt_fail(err, PT_ENOTFOUND, NULL, "no event %lld in session \"%s\"", (long long)seq, sid);
  char key[PT_ID_MAX + 3];
  snprintf(key, sizeof key, "s|%s", sid);
  if (pgset_put(&s->notify, key, NULL)) return oom(err);
  return redact_kept(s, sid, seq, err);
}

/* After a redaction's commit. An UPDATE leaves the old row version (with
 * the payloads) in the table's pages until VACUUM removes it; VACUUM of the
 * tables redaction touches (events, and issues for their samples) does that
 * now instead of whenever autovacuum comes. It cannot remove versions that a
 * transaction still open elsewhere may see, and it cannot reach the WAL,
 * replicas or backups: docs/api.md says what that means. */
pt_status pg_scrub(pt_store *st, pt_error *err) {
  pgstore *s = (pgstore *)st;
  if (!s->w.c || s->w.broken || PQstatus(s->w.c) != CONNECTION_OK) {
    pg_disconnect(&s->w);
    pt_status rc = pg_writer_connect(s, err);
    if (rc) return rc;
  }
  static const char *const steps[] = {"SET lock_timeout = '5s'", "VACUUM events", "VACUUM issues",
                                      "RESET lock_timeout"};
  pt_status rc = PT_OK;
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
    PGresult *r = PQexec(s->w.c, steps[i]);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == PT_OK) {
      pt_error why;
      pg_fail(&s->w, r, steps[i], &why);
      rc = pt_fail(err, PT_ESTORAGE, NULL,
                   "postgres: the redaction is stored but old row versions may remain until "
                   "VACUUM (%s); repeat the request",
                   why.message);
    }
    PQclear(r);
  }
  return rc;
}

pt_status pg_exec_tx(pgstore *s, pgq *q, const char *what, pt_error *err) {
  return wpipe(s, q, 1, what, 1, err);
}
