/* report.h - the issue report of one session (docs/concepts.md#reports), as JSON and as
 * Markdown. Pure: the caller gathers the events, snapshots and verification. */
#ifndef PT_REPORT_H
#define PT_REPORT_H

#include "buf.h"
#include "defs.h"
#include "event.h"
#include "session.h"

typedef struct pt_report_in {
  const pt_session *session;
  const pt_pipeline *pipeline;
  const pt_cksum *checksum;
  const pt_event *first_failure; /* NULL: none */
  int64_t nevents;
  size_t nsnapshots;
  const char *verification_json; /* pt_verifier_finish output */
  int verified_ok;
  int64_t generated_at;
} pt_report_in;

/* The report is written in parts, so that a long one can be produced as it
 * is read: the head, each event in seq order (i: its index, from 0), the
 * middle, each registry entry newest first (JSON: pt_snap_write_json with
 * "," between them; Markdown: pt_report_md_entry), the tail. */
void pt_report_json_head(pt_buf *b, const pt_report_in *r);
void pt_report_json_event(pt_buf *b, const pt_event *e, int64_t i);
void pt_report_json_mid(pt_buf *b);
void pt_report_json_tail(pt_buf *b, const pt_report_in *r);
void pt_report_md_head(pt_buf *b, const pt_report_in *r);
void pt_report_md_event(pt_buf *b, const pt_event *e, int64_t i);
void pt_report_md_mid(pt_buf *b, const pt_report_in *r);
void pt_report_md_entry(pt_buf *b, const pt_snap *s, int64_t i);
void pt_report_md_tail(pt_buf *b, const pt_report_in *r);

#endif
