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
  pt_event **events; /* all, seq order */
  size_t nevents;
  const pt_snap *snapshots; /* newest first */
  size_t nsnapshots;
  const char *verification_json; /* pt_verifier_finish output */
  int verified_ok;
  int64_t generated_at;
} pt_report_in;

void pt_report_json(pt_buf *b, const pt_report_in *r);
void pt_report_markdown(pt_buf *b, const pt_report_in *r);

#endif
