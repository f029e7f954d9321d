/* audit.c - checking a session: verification (every link, entry and
 * signature recomputed from the store) and the issue report built on it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/report.h"
#include "../core/verify.h"
#include "longdoc.h"

/* ---- verification and the report --------------------------------------------- */

/* What a verification pass feeds besides the verifier: a report's events
 * (rendered while under its budget) and its first failure. */
typedef struct vpass {
  pt_verifier ver;
  pt__longdoc *doc;     /* NULL: verification only */
  pt_event *first_fail; /* owned copy */
  int oom;
} vpass;

static int verify_event(void *ctx, const pt_event *e) {
  vpass *p = ctx;
  pt_verifier_event(&p->ver, e);
  if (p->doc) {
    pt__longdoc_event(p->doc, e);
    if (e->status == PT_FAILURE && !p->first_fail && !(p->first_fail = pt_event_clone(e)))
      return p->oom = 1;
  }
  return 0;
}

/* Runs verification over the view; events are streamed, not held. */
static pt_status run_verify(pt__view *v, const pt__snaplist *snaps, vpass *p, pt_buf *out, int *ok,
                            pt_error *err) {
  pt_verifier_init(&p->ver, v->s.session_id);
  pt_verifier_set_signer(&p->ver, pt__signer(v->t));
  pt_status rc = PT_OK;
  for (size_t i = 0; i < snaps->n && rc == PT_OK; i++)
    if (pt_verifier_add_snapshot(&p->ver, &snaps->items[i]))
      rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  pt_verifier_start(&p->ver);
  if (rc == PT_OK)
    rc = v->r->store->m->read_events(v->r, v->s.session_id, 0, INT64_MAX, verify_event, p, err);
  if (rc == PT_OK && p->oom) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  if (rc == PT_OK) *ok = pt_verifier_finish(&p->ver, &v->s, out);
  pt_verifier_cleanup(&p->ver);
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
  vpass p = {0};
  if (rc == PT_OK) rc = pt__read_snaps(&v, -1, 0, &snaps, err);
  if (rc == PT_OK) rc = run_verify(&v, &snaps, &p, &b, ok, err);
  if (rc == PT_OK) rc = pt__take(&b, out, err);
  pt_buf_cleanup(&b);
  pt__snaplist_free(&snaps);
  pt__view_close(&v);
  return rc;
}

pt_status pt_report(pt_tracker *t, const char *session_id, pt_format format, char **out,
                    pt_error *err) {
  return pt__report_doc(t, session_id, format, 0, out, NULL, err);
}

pt_status pt__report_doc(pt_tracker *t, const char *session_id, pt_format format, size_t budget,
                         char **out, pt_body **body, pt_error *err) {
  *out = NULL;
  if (body) *body = NULL;
  pt__view v;
  pt_status rc = pt__view_open(t, session_id, NULL, &v, err);
  if (rc == PT_OK) rc = pt__need_session(&v, err);
  pt__snaplist snaps = {0};
  pt_buf vb;
  pt_buf_init(&vb, 0);
  int ok = 0, md = format == PT_FORMAT_MARKDOWN;
  vpass p = {0};
  if (rc == PT_OK) {
    /* entries list their last PT_SNAP_IDS_MAX ids, as the registry does:
     * all of them would make a report grow with the square of the session */
    p.doc = pt__longdoc_new(t, v.s.session_id, 0, v.s.event_count,
                            md ? pt_report_md_event : pt_report_json_event,
                            md ? pt_report_md_entry : NULL, PT_SNAP_IDS_MAX, body ? budget : 0);
    if (!p.doc) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  if (rc == PT_OK) rc = pt__read_snaps(&v, -1, 0, &snaps, err);
  if (rc == PT_OK) rc = run_verify(&v, &snaps, &p, &vb, &ok, err);
  if (rc == PT_OK) {
    pt_cksum c;
    int64_t now = pt__now(t);
    pt_cksum_compute(&v.s, v.p, now, &c);
    pt_report_in in = {&v.s, v.p, &c, p.first_fail, v.s.event_count, snaps.n, pt_buf_cstr(&vb),
                       ok,   now};
    if (md) {
      pt_report_md_head(pt__longdoc_head(p.doc), &in);
      pt_report_md_mid(pt__longdoc_mid(p.doc), &in);
      pt_report_md_tail(pt__longdoc_tail(p.doc), &in);
    } else {
      pt_report_json_head(pt__longdoc_head(p.doc), &in);
      pt_report_json_mid(pt__longdoc_mid(p.doc));
      pt_report_json_tail(pt__longdoc_tail(p.doc), &in);
    }
    pt__longdoc_entries(p.doc, &snaps);
    pt_body *dummy;
    rc = pt__longdoc_finish(p.doc, &v, NULL, out, body ? body : &dummy, err);
  } else {
    pt__longdoc_free(p.doc);
  }
  pt_event_free(p.first_fail);
  pt_buf_cleanup(&vb);
  pt__snaplist_free(&snaps);
  pt__view_close(&v);
  return rc;
}
