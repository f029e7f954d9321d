/* verify.c - recompute every link and compare (see verify.h).
 *
 * An event is flagged when its stored link is not what its stored members and
 * the previous stored link hash to, or its payload no longer hashes to its
 * stored digest. Chaining from the previous *stored* link names exactly the
 * altered events instead of everything after the first one. Snapshots are
 * checked against the chain recomputed from GENESIS, so a consistent rewrite
 * of the events (every link recomputed) still breaks every older snapshot. */
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha.h"
#include "sign.h"

void pt_verifier_init(pt_verifier *v, const char *session_id) {
  memset(v, 0, sizeof *v);
  snprintf(v->session_id, sizeof v->session_id, "%s", session_id);
  memcpy(v->prev_stored, PT_GENESIS, sizeof PT_GENESIS);
  memcpy(v->prev_computed, PT_GENESIS, sizeof PT_GENESIS);
  pt_buf_init(&v->mismatches, 0);
}

void pt_verifier_cleanup(pt_verifier *v) {
  free(v->snaps);
  v->snaps = NULL;
  free(v->ring);
  v->ring = NULL;
  pt_buf_cleanup(&v->mismatches);
}

int pt_verifier_add_snapshot(pt_verifier *v, const pt_snap *s) {
  pt_vsnap *n = realloc(v->snaps, (v->nsnaps + 1) * sizeof *n);
  if (!n) return -1;
  v->snaps = n;
  pt_vsnap *x = &n[v->nsnaps++];
  snprintf(x->id, sizeof x->id, "%s", s->id);
  snprintf(x->chain_hash, sizeof x->chain_hash, "%s", s->chain_hash);
  snprintf(x->last_event_id, sizeof x->last_event_id, "%s", s->last_event_id);
  x->event_count = s->event_count;
  x->snap = s;
  if (v->signer && s->signature && !v->ring &&
      !(v->ring = malloc(PT_SNAP_IDS_MAX * sizeof *v->ring)))
    return -1;
  return 0;
}

void pt_verifier_set_signer(pt_verifier *v, const struct pt_signer *signer) {
  v->signer = signer;
}

/* Does the entry's signature sign what the stored events and the entry say
 * now? Its ids are the last ones fed (n events so far). 1 yes, 0 no, -1 no
 * memory. */
static int signature_holds(pt_verifier *v, const pt_snap *s, int64_t n) {
  int64_t first = n > PT_SNAP_IDS_MAX ? n - PT_SNAP_IDS_MAX : 0, k = n - first;
  const char **ids = k ? malloc((size_t)k * sizeof *ids) : NULL;
  if (k && !ids) return -1;
  for (int64_t i = 0; i < k; i++) ids[i] = v->ring[(first + i) % PT_SNAP_IDS_MAX];
  pt_buf text;
  pt_buf_init(&text, 0);
  int rc = pt_snap_signed_text(&text, s, ids, first, k)
               ? -1
               : pt_signer_check(v->signer, text.data, text.len, s->signature);
  pt_buf_cleanup(&text);
  free(ids);
  return rc;
}

static int by_count(const void *a, const void *b) {
  const pt_vsnap *x = a, *y = b;
  if (x->event_count != y->event_count) return x->event_count < y->event_count ? -1 : 1;
  return strcmp(x->id, y->id);
}

void pt_verifier_start(pt_verifier *v) {
  if (v->nsnaps > 1) qsort(v->snaps, v->nsnaps, sizeof *v->snaps, by_count);
}

static void add_event_mismatch(pt_verifier *v, int64_t seq, const char *id, const char *reason) {
  pt_buf *b = &v->mismatches;
  if (v->count++) pt_buf_putc(b, ',');
  pt_buf_puts(b, "{\"kind\":\"event\",\"seq\":");
  pt_buf_i64(b, seq);
  pt_buf_json_member(b, ",\"event_id\":", id);
  pt_buf_json_member(b, ",\"reason\":", reason);
  pt_buf_putc(b, '}');
}

static void add_other_mismatch(pt_verifier *v, const char *kind, const char *id,
                               const char *reason) {
  pt_buf *b = &v->mismatches;
  if (v->count++) pt_buf_putc(b, ',');
  pt_buf_json_member(b, "{\"kind\":", kind);
  if (id) {
    pt_buf_json_member(b, ",\"id\":", id);
  }
  pt_buf_json_member(b, ",\"reason\":", reason);
  pt_buf_putc(b, '}');
}

/* Checks every snapshot taken at event_count == n against the chain so far. */
static void check_snaps_at(pt_verifier *v, int64_t n) {
  char hash[65];
  int have = 0;
  while (v->next_snap < v->nsnaps && v->snaps[v->next_snap].event_count == n) {
    pt_vsnap *s = &v->snaps[v->next_snap++];
    if (!have) {
      pt_chain_hash(v->session_id, v->prev_computed, hash);
      have = 1;
    }
    if (strcmp(s->chain_hash, hash) != 0)
      add_other_mismatch(v, "snapshot", s->id, "chain_hash differs from the recomputed chain");
    else if (strcmp(s->last_event_id, n ? v->last_id : "") != 0)
      add_other_mismatch(v, "snapshot", s->id, "last_event_id differs from the stored events");
    else if (v->ring && s->snap->signature && signature_holds(v, s->snap, n) != 1)
      add_other_mismatch(v, "snapshot", s->id, "signature does not verify with the signing key");
  }
}

void pt_verifier_event(pt_verifier *v, const pt_event *e) {
  if (v->next_seq == 0) check_snaps_at(v, 0);
  const char *reason = NULL;
  char d[65], link[65];
  if (e->seq != v->next_seq) reason = "seq is not the next in the chain";
  if (!reason && !e->redacted) {
    pt_sha256_hex(e->input, e->input_len, d);
    if (strcmp(d, e->input_sha256) != 0) reason = "input no longer matches input_sha256";
    pt_sha256_hex(e->output, e->output_len, d);
    if (!reason && strcmp(d, e->output_sha256) != 0)
      reason = "output no longer matches output_sha256";
  }
  pt_chain_link(v->prev_stored, e, link);
  if (!reason && strcmp(link, e->link) != 0) reason = "link differs from the recomputed link";
  if (reason) add_event_mismatch(v, e->seq, e->id, reason);
  pt_chain_link(v->prev_computed, e, v->prev_computed);
  memcpy(v->prev_stored, e->link, 65);
  snprintf(v->last_id, sizeof v->last_id, "%s", e->id);
  if (v->ring) snprintf(v->ring[v->next_seq % PT_SNAP_IDS_MAX], sizeof *v->ring, "%s", e->id);
  v->next_seq++;
  check_snaps_at(v, v->next_seq);
}

int pt_verifier_finish(pt_verifier *v, const pt_session *s, pt_buf *out) {
  if (v->next_seq == 0) check_snaps_at(v, 0);
  if (s->event_count != v->next_seq)
    add_other_mismatch(v, "session", s->session_id,
                       "event_count differs from the number of stored events");
  else if (strcmp(s->event_count ? s->last_link : PT_GENESIS, v->prev_stored) != 0)
    add_other_mismatch(v, "session", s->session_id,
                       "the session's last link differs from the last event's link");
  /* Snapshots beyond the stored events: events were removed. */
  while (v->next_snap < v->nsnaps)
    add_other_mismatch(v, "snapshot", v->snaps[v->next_snap++].id,
                       "covers more events than are stored");
  char hash[65];
  pt_chain_hash(v->session_id, v->prev_computed, hash);
  int ok = v->count == 0;
  pt_buf_puts(out, ok ? "{\"ok\":true" : "{\"ok\":false");
  pt_buf_json_member(out, ",\"session_id\":", v->session_id);
  pt_buf_puts(out, ",\"checked_events\":");
  pt_buf_i64(out, v->next_seq);
  pt_buf_puts(out, ",\"checked_snapshots\":");
  pt_buf_i64(out, (int64_t)v->nsnaps);
  pt_buf_puts(out, ",\"chain_hash\":\"");
  pt_buf_puts(out, hash);
  pt_buf_puts(out, "\",\"mismatches\":[");
  if (v->mismatches.len) pt_buf_put(out, v->mismatches.data, v->mismatches.len);
  pt_buf_puts(out, "]}");
  return ok;
}
