/* rollup.h - what rollups count (docs/architecture.md#rollups): per pipeline
 * type, time bucket of the sessions' creation, step and metric, changed by
 * deltas in the transaction of the events that change them, so they are
 * exact and survive crashes. Durations go into log-bucketed histograms
 * (mergeable: a range's histogram is the sum of its buckets'). */
#ifndef PT_ROLLUP_H
#define PT_ROLLUP_H

#include <stdint.h>

#include "../core/defs.h"
#include "../core/session.h"
#include "../store/store.h"

/* Metrics. Session-level ones have the step "". */
enum {
  PT_M_STARTED = 1,     /* sessions created */
  PT_M_COMPLETED = 2,   /* sessions whose state is completed */
  PT_M_FAILED = 3,      /* sessions whose state is failed */
  PT_M_STALLED = 4,     /* sessions the stall sweep found stalled (once each) */
  PT_M_REACHED = 5,     /* per step: a started event or an outcome seen */
  PT_M_SUCCEEDED = 6,   /* per step: latest outcome success */
  PT_M_STEP_FAILED = 7, /* per step: latest outcome failure */
  /* PT_M_HIST + bin: a duration in that histogram bin; step "": a completed
   * session's first to last event, a step: its started event to its
   * success */
  PT_M_HIST = 1000,
};

/* The resolutions, widest last: minutes, hours, days. */
#define PT_ROLLUP_NRES 3
extern const int64_t pt_rollup_res[PT_ROLLUP_NRES];

/* Histogram bins: 0 for 0 ms, then PT_HIST_SUB bins an octave, so a
 * percentile read from a bin is within 2^(1/(2*PT_HIST_SUB)) - 1 (2.2 %) of
 * the value it stands for. */
#define PT_HIST_SUB 16
#define PT_HIST_BINS (1 + PT_HIST_SUB * 48)
int pt_hist_bin(int64_t ms);
/* The value a bin stands for: the geometric middle of its range. */
int64_t pt_hist_value(int bin);

/* The rows a session contributes (sign +1) or withdraws (-1), at the
 * minute of its creation, appended to *rows (growing *cap); p NULL: a
 * pipeline no longer defined (counted as started, per step). -1 when out
 * of memory. */
int pt_rollup_rows(const pt_session *s, const pt_pipeline *p, int sign, pt_rollup_row **rows,
                   size_t *n, size_t *cap);
/* Sorts rows by key and merges equal keys, dropping those that sum to 0. */
void pt_rollup_merge(pt_rollup_row *rows, size_t *n);
/* Minute rows as the store takes them: merged, with their hours and days
 * added (and merged). -1 when out of memory. */
int pt_rollup_finish(pt_rollup_row **rows, size_t *n, size_t *cap);

#endif
