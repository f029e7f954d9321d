/* issue.h - failures grouped as they arrive (docs/concepts.md#issues): the issue record,
 * its fingerprint and id, its title, and its JSON. Pure: the store keeps
 * issues, the tracker updates them in the transaction of the event. */
#ifndef PT_ISSUE_H
#define PT_ISSUE_H

#include <stdint.h>

#include "buf.h"
#include "event.h"

/* error.code is cut to this many bytes in a fingerprint (at a character
 * boundary): codes are names, not messages. */
#define PT_ISSUE_CODE_MAX 128
#define PT_ISSUE_FP_MAX (2 * 64 + PT_ISSUE_CODE_MAX + 3)

typedef struct pt_issue {
  char id[32]; /* "iss_" + 24 hex of SHA-256(fingerprint) */
  char fingerprint[PT_ISSUE_FP_MAX + 1];
  char pipeline_type[65], step[65], code[PT_ISSUE_CODE_MAX + 1];
  int open;                                   /* 1 open, 0 resolved */
  int64_t count;                              /* failures (and stalls) counted */
  int64_t sessions_affected;                  /* distinct sessions */
  int64_t first_seen, last_seen, resolved_at; /* ms; resolved_at -1 if never */
  int64_t reopened;                           /* times it reopened */
  char last_session_id[129];
  char *sample_event; /* JSON text of the latest event (owned), NULL for stalls */
} pt_issue;

/* Fills fingerprint, id, pipeline_type, step and code for a failure event
 * (code "unknown" without an error.code), or for a stall (e NULL). */
void pt_issue_key(pt_issue *x, const pt_event *e, const char *stall_pipeline);
void pt_issue_cleanup(pt_issue *x);
/* Copies src into dst (dst's old sample freed); -1 out of memory. */
int pt_issue_copy(pt_issue *dst, const pt_issue *src);
/* The issue as docs/concepts.md#issues shows it. */
void pt_issue_write_json(pt_buf *b, const pt_issue *x);

#endif
