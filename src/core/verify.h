/* verify.h - verification of a session's stored chain (docs/concepts.md#verification), fed one
 * event at a time so a session of any length is checked in bounded memory.
 * Pure: the caller reads the store and passes what it read. */
#ifndef PT_VERIFY_H
#define PT_VERIFY_H

#include "buf.h"
#include "event.h"
#include "session.h"

typedef struct pt_vsnap {
  char id[PT_ID_MAX + 40];
  char chain_hash[65];
  char last_event_id[PT_ID_MAX + 1];
  int64_t event_count;
  const pt_snap *snap; /* borrowed from pt_verifier_add_snapshot's caller */
} pt_vsnap;

struct pt_signer;

typedef struct pt_verifier {
  char session_id[PT_ID_MAX + 1];
  char prev_stored[65];   /* stored link of the previous event */
  char prev_computed[65]; /* link recomputed from GENESIS */
  char last_id[PT_ID_MAX + 1];
  int64_t next_seq;
  pt_vsnap *snaps; /* sorted by event_count ascending; owned */
  size_t nsnaps, next_snap;
  pt_buf mismatches; /* JSON array members, comma-separated */
  int count;
  /* signature checks: the key, and the ids of the last PT_SNAP_IDS_MAX
   * events (what an entry signs), kept only while some entry is signed */
  const struct pt_signer *signer;
  char (*ring)[PT_ID_MAX + 1];
} pt_verifier;

void pt_verifier_init(pt_verifier *v, const char *session_id);
/* Checks entries' signatures with this key (set before adding snapshots);
 * without one they are not checked. */
void pt_verifier_set_signer(pt_verifier *v, const struct pt_signer *signer);
/* Adds a snapshot to check (any order); it must stay valid until
 * pt_verifier_finish. -1 on OOM. */
int pt_verifier_add_snapshot(pt_verifier *v, const pt_snap *s);
/* Call once all snapshots are added and before the first event. */
void pt_verifier_start(pt_verifier *v);
/* Feeds the next stored event, in seq order. */
void pt_verifier_event(pt_verifier *v, const pt_event *e);
/* Checks the session aggregate and the snapshots not yet reached, then writes
 * {"ok": bool, "checked_events": N, "chain_hash": "...", "mismatches": [...]}
 * into out. Returns 1 when everything matched. */
int pt_verifier_finish(pt_verifier *v, const pt_session *s, pt_buf *out);
void pt_verifier_cleanup(pt_verifier *v);

#endif
