/* memory_store.h - what the files of the "memory:" backend share, for
 * src/store only: the store's struct, the issues' structures, and the
 * functions one file calls in the other.
 *
 * The backend: everything in hash maps, arrays and sorted sets under one
 * read-write lock.
 * Not durable; for tests, demos and benchmarks. A transaction writes in place
 * and keeps an undo log, so rollback after a failed write restores exactly
 * what was there.
 *
 *   memory_store.c   open and close, the transaction, sessions, events and
 *                    snapshots, the readers, the table of methods
 *   memory_issues.c  issues, the sessions they affected, the webhook outbox
 *   memory_rollups.c rollups, a sorted array
 *   memory_index.c   the listings' sorted sets (oset.h) and the marks */
#ifndef PT_MEMORY_STORE_H
#define PT_MEMORY_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/map.h"
#include "oset.h"
#include "store.h"

/* Defined in memory_store.c, the only file that looks inside them. */
typedef struct msess msess;
typedef struct undo undo;

/* An issue and the sessions it affected (in the order first affected). */
typedef struct msi {
  char sid[PT_ID_MAX + 1];
  int64_t first, last;
  size_t pos;    /* index in missue.s: the export's order */
  pt_onode node; /* in missue.recent, keyed (last, sid) */
} msi;

typedef struct missue {
  pt_issue x;
  int exists;
  pt_map sess; /* sid -> msi */
  msi **s;
  size_t ns, caps;
  pt_oset recent; /* the sessions by last_seen: read newest first */
} missue;

typedef struct iundo {
  missue *m;
  int existed;
  pt_issue old;
  size_t ns;
} iundo;

typedef struct mstore {
  pt_store base;
  pt_map issues; /* id -> missue */
  missue **iall;
  size_t niall, capiall;
  iundo *ilog; /* issues touched by the open transaction */
  size_t nilog, capilog;
  /* the webhook outbox in id order; a rollback drops what the transaction
   * added (claims and deliveries are never rolled back: they happen in
   * transactions of their own that cannot fail here) */
  pt_outbox *ob;
  size_t nob, capob, ob_mark;
  int64_t ob_next;
  pthread_rwlock_t lock;
  struct mroll *roll; /* memory_rollups.c's, NULL until the first rollup */
  pt_map sessions;
  msess **all;
  size_t nall, capall;
  /* the listings' indexes, kept as the sessions change (memory_index.c) */
  pt_oset by_activity;
  pt_oset by_state[PT_SCODE_COUNT];
  pt_map types; /* pipeline type -> mtype */
  struct mtype **tall;
  size_t ntall, captall;
  /* the tracker's marks (key -> struct mmark) and the old values of those
   * the open transaction set */
  pt_map marks;
  struct mundo {
    struct mmark *mk;
    char *old; /* NULL: the transaction made the mark */
  } * mlog;
  size_t nmlog, capmlog;
  /* Undo entries keep their step buffers between transactions (entries
   * below maxlog own one), so a steady stream of appends allocates none. */
  undo *log;
  size_t nlog, caplog, maxlog;
  /* redactions of the open transaction, applied by its commit (a rollback
   * must find the payloads still there) */
  struct mredact {
    msess *s;
    int64_t seq;
  } * red;
  size_t nred, capred;
  /* events adopted in the open transaction: a rollback hands them back to
   * the caller instead of freeing them (a retried group needs them) */
  pt_event **adopted;
  size_t nadopted, capadopted;
} mstore;

/* The indexes of one pipeline type. */
typedef struct mtype {
  pt_oset all;
  pt_oset by_state[PT_SCODE_COUNT];
  char name[PT_NAME_MAX + 1];
} mtype;

/* A session's places in the indexes (in msess). */
typedef struct mplaces {
  pt_onode all, type, state, both;
  mtype *t;   /* the type's indexes it is in */
  int in;     /* in the indexes */
  int64_t ms; /* the key it is in them with */
  int scode;
} mplaces;

/* ---- memory_store.c ---- */

/* Fills err for an allocation that failed; returns PT_ENOMEM. */
pt_status mem_oom(pt_error *err);

/* ---- memory_index.c: the listings' indexes and the marks ---- */

/* Puts the session in the indexes under (updated_at, session_id) of agg,
 * or takes it out (exists 0). -1: no memory (it is then in none). */
int mem_index(mstore *m, mplaces *p, const pt_session *agg, int exists, void *owner);
void mem_index_cleanup(mstore *m);
pt_status mem_list_sessions_by(pt_reader *r, const char *ptype, int scode, int64_t after_ms,
                               int64_t before_ms, const char *before_id, int64_t limit,
                               pt_session_cb cb, void *ctx, pt_error *err);
pt_status mem_read_mark(pt_reader *r, const char *key, char *out, size_t cap, pt_error *err);
pt_status mem_mark_put(pt_store *s, const char *key, const char *value, pt_error *err);
/* The open transaction's marks: kept (commit) or set back (rollback). */
void mem_marks_end(mstore *m, int commit);

/* ---- memory_issues.c: issues and the webhook outbox (store.h states each method) ---- */

extern const pt_store_issue_methods pt__memory_issue_methods;

/* ---- memory_rollups.c ---- */

extern const pt_store_rollup_methods pt__memory_rollup_methods;
/* At commit, under the write lock: applies the transaction's deltas; -1
 * (out of memory) changes nothing. */
int mem_rollups_commit(mstore *m);
void mem_rollups_rollback(mstore *m);
void mem_rollups_free(mstore *m);
/* memory_store.c: the sessions of ptype created in from .. to - 1. */
pt_status mem_list_sessions_created(pt_reader *r, const char *ptype, int64_t from, int64_t to,
                                    pt_session_cb cb, void *ctx, pt_error *err);

#endif
