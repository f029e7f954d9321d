/* memory_store.h - what the files of the "memory:" backend share, for
 * src/store only: the store's struct, the issues' structures, and the
 * functions one file calls in the other.
 *
 * The backend: everything in hash maps and arrays under one read-write lock.
 * Not durable; for tests, demos and benchmarks. A transaction writes in place
 * and keeps an undo log, so rollback after a failed write restores exactly
 * what was there.
 *
 *   memory_store.c   open and close, the transaction, sessions, events and
 *                    snapshots, the readers, the table of methods
 *   memory_issues.c  issues, the sessions they affected, the webhook outbox
 *   memory_rollups.c rollups, a sorted array */
#ifndef PT_MEMORY_STORE_H
#define PT_MEMORY_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/map.h"
#include "store.h"

/* Defined in memory_store.c, the only file that looks inside them. */
typedef struct msess msess;
typedef struct undo undo;

/* An issue and the sessions it affected (in the order first affected). */
typedef struct msi {
  char sid[PT_ID_MAX + 1];
  int64_t first, last;
  size_t pos; /* index in missue.s: the export's order */
} msi;

typedef struct missue {
  pt_issue x;
  int exists;
  pt_map sess; /* sid -> msi */
  msi **s;
  size_t ns, caps;
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

/* ---- memory_store.c ---- */

/* Fills err for an allocation that failed; returns PT_ENOMEM. */
pt_status mem_oom(pt_error *err);

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
