/* audit.c - checking a session: verification (every link, entry and
 * signature recomputed from the store) and the issue report built on it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/report.h"
#include "../core/verify.h"
#include "view.h"

/* ---- verification and the report --------------------------------------------- */

static int verify_event(void *ctx, const pt_event *e) {
  pt_verifier_event(ctx, e);
  return 0;
}

/* Runs verification over the view; events are streamed, not held. */
static pt_status run_verify(pt__view *v, const pt__snaplist *snaps, pt_buf *out, int *ok,
                            pt_error *err) {
  pt_verifier ver;
  pt_verifier_init(&ver, v->s.session_id);
  pt_verifier_set_signer(&ver, pt__signer(v->t));
  pt_status rc = PT_OK;
  for (size_t i = 0; i < snaps->n && rc == PT_OK; i++)
    if (pt_verifier_add_snapshot(&ver, &snaps->items[i]))
      rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  pt_verifier_start(&ver);
  if (rc == PT_OK)
    rc = v->r->store->m->read_events(v->r, v->s.session_id, 0, INT64_MAX, verify_event, &ver, err);
  if (rc == PT_OK) *ok = pt_verifier_finish(&ver, &v->s, out);
  pt_verifier_cleanup(&ver);
  return rc;
}

pt_status pt_verify(pt_tracker *t, const char *session_id, int *ok, char **out, pt_error *err) {
  *out = NULL;
  *ok = 0;
  pt__view v;
  pt_status rc = pt__view_open(t, session_id, NULL, &v, err);
  if (rc == PT_ENOTFOUND || rc == PT_EUNKNOWN_PIPELINE) rc = PT_OK; /* verify needs no defs */
  if (rc == PT_OK) rc = pt__need_session(&v, err);
  pt__snaplist snaps = {0};
  pt_buf b;
  pt_buf_init(&b, 0);
  if (rc == PT_OK) rc = pt__read_snaps(&v, -1, 0, &snaps, err);
  if (rc == PT_OK) rc = run_verify(&v, &snaps, &b, ok, err);
  if (rc == PT_OK) rc = pt__take(&b, out, err);
  pt_buf_cleanup(&b);
  pt__snaplist_free(&snaps);
  pt__view_close(&v);
  return rc;
}

pt_status pt_report(pt_tracker *t, const char *session_id, pt_format format, char **out,
                    pt_error *err) {
  *out = NULL;
  pt__view v;
  pt_status rc = pt__view_open(t, session_id, NULL, &v, err);
  if (rc == PT_OK) rc = pt__need_session(&v, err);
  pt__snaplist snaps = {0};
  pt__evlist evs = {0};
  pt_buf vb, b;
  pt_buf_init(&vb, 0);
  pt_buf_init(&b, 0);
  int ok = 0;
  if (rc == PT_OK) rc = pt__read_snaps(&v, -1, 0, &snaps, err);
  if (rc == PT_OK) rc = run_verify(&v, &snaps, &vb, &ok, err);
  if (rc == PT_OK) rc = pt__read_evs(&v, 0, INT64_MAX, &evs, err);
  if (rc == PT_OK) {
    pt_cksum c;
    int64_t now = pt__now(t);
    pt_cksum_compute(&v.s, v.p, now, &c);
    pt_report_in in = {&v.s, v.p, &c, evs.items, evs.n, snaps.items, snaps.n, pt_buf_cstr(&vb),
                       ok,   now};
    if (format == PT_FORMAT_MARKDOWN)
      pt_report_markdown(&b, &in);
    else
      pt_report_json(&b, &in);
    rc = pt__take(&b, out, err);
  }
  pt_buf_cleanup(&vb);
  pt_buf_cleanup(&b);
  pt__evlist_free(&evs);
  pt__snaplist_free(&snaps);
  pt__view_close(&v);
  return rc;
}
