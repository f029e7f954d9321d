/* reads.c - the GET endpoints answered from the store: status (with its
 * ETag and 304), registry, checksum, report, verify, sessions, definitions,
 * stats, the public key, issues, and the export (a streamed answer). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "lib/internal.h"
#include "lib/longdoc.h"

#define UNUSED_ASYNC \
  (void)done;        \
  (void)ctx;         \
  (void)pending

/* A handler of one session: session_id required, remembered for the log. */
#define SESSION_OR_FAIL(sid)                     \
  pt_answer *fail_ = NULL;                       \
  const char *sid = pt__arg_session(rq, &fail_); \
  if (!sid) return fail_

static pt_answer *with_session(pt_answer *a, const char *sid) {
  pt__ans_session(a, sid);
  return a;
}

pt_answer *pt__api_status(ARGS) {
  UNUSED_ASYNC;
  SESSION_OR_FAIL(sid);
  long evl, hl;
  pt_answer *bad;
  if ((bad = pt__arg_int(rq, "events_limit", 1, PT_PAGE_MAX, &evl)) ||
      (bad = pt__arg_int(rq, "history_limit", 1, PT_PAGE_MAX, &hl)))
    return with_session(bad, sid);
  const char *ptype = pt__arg(rq, "pipeline_type");
  char etag[PT_ETAG_SIZE];
  pt_error err;
  if (rq->if_none_match) {
    /* the tag alone costs one session read: an unchanged poll is cheap */
    pt_status st = pt_status_summary_etag(t, sid, ptype, (int)evl, (int)hl, etag, NULL, &err);
    if (st != PT_OK) return with_session(pt_answer_fail(&err), sid);
    if (strstr(rq->if_none_match, etag) || strcmp(rq->if_none_match, "*") == 0) {
      pt_answer *a = calloc(1, sizeof *a);
      if (!a) return NULL;
      a->status = 304;
      memcpy(a->etag, etag, sizeof etag);
      return with_session(a, sid);
    }
  }
  char *doc;
  pt_body *body;
  pt_status st = pt__status_doc(t, sid, ptype, (int)evl, (int)hl, etag, rq->inline_max, &doc,
                                rq->inline_max ? &body : NULL, &err);
  pt_answer *a = pt__ans_body(st, 200, st == PT_OK ? doc : NULL,
                              st == PT_OK && rq->inline_max ? body : NULL, &err);
  if (a && st == PT_OK) memcpy(a->etag, etag, sizeof etag);
  return with_session(a, sid);
}

pt_answer *pt__api_registry(ARGS) {
  UNUSED_ASYNC;
  SESSION_OR_FAIL(sid);
  long limit;
  pt_answer *bad = pt__arg_int(rq, "limit", 1, PT_PAGE_MAX, &limit);
  if (bad) return with_session(bad, sid);
  char *out = NULL;
  pt_error err;
  pt_status st = pt_history(t, sid, (int)limit, pt__arg(rq, "cursor"), &out, &err);
  return with_session(pt__ans_doc(st, 200, out, &err), sid);
}

pt_answer *pt__api_checksum(ARGS) {
  UNUSED_ASYNC;
  SESSION_OR_FAIL(sid);
  char *out = NULL;
  pt_error err;
  pt_status st = pt_checksum(t, sid, &out, &err);
  return with_session(pt__ans_doc(st, 200, out, &err), sid);
}

pt_answer *pt__api_report(ARGS) {
  UNUSED_ASYNC;
  SESSION_OR_FAIL(sid);
  const char *f = pt__arg(rq, "format");
  pt_format fmt = PT_FORMAT_JSON;
  if (f && strcmp(f, "markdown") == 0)
    fmt = PT_FORMAT_MARKDOWN;
  else if (f && strcmp(f, "json") != 0)
    return with_session(
        pt_answer_error(400, "invalid_request", "format", "format: must be json or markdown"), sid);
  char *out = NULL;
  pt_body *body = NULL;
  pt_error err;
  pt_status st =
      pt__report_doc(t, sid, fmt, rq->inline_max, &out, rq->inline_max ? &body : NULL, &err);
  pt_answer *a = pt__ans_body(st, 200, out, body, &err);
  if (a && st == PT_OK && fmt == PT_FORMAT_MARKDOWN)
    a->content_type = "text/markdown; charset=utf-8";
  return with_session(a, sid);
}

pt_answer *pt__api_verify(ARGS) {
  UNUSED_ASYNC;
  SESSION_OR_FAIL(sid);
  char *out = NULL;
  int ok;
  pt_error err;
  pt_status st = pt_verify(t, sid, &ok, &out, &err);
  return with_session(pt__ans_doc(st, 200, out, &err), sid);
}

/* A time parameter: absent leaves *ms as it is; 0 when it is not a time. */
static int time_arg(const pt_request *rq, const char *name, int64_t *ms) {
  const char *v = pt__arg(rq, name);
  if (!v) return 1;
  if (*v < '0' || *v > '9') return 0; /* digits only: strtoll takes "+5" and " 5" */
  char *end = NULL;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  /* at most ECMAScript's last date (year 275760): rounding a time to a
   * bucket stays far from overflow */
  if (*end || end == v || x < 0 || errno == ERANGE || x > PT_TIME_MAX_MS) return 0;
  *ms = x;
  return 1;
}

#define TIME_ARGS(since, until)                                            \
  if (!time_arg(rq, "since", &since))                                      \
    return pt_answer_error(400, "invalid_request", "since",                \
                           "since: must be a time in ms since the epoch, " \
                           "at most 8640000000000000");                    \
  if (!time_arg(rq, "until", &until))                                      \
    return pt_answer_error(400, "invalid_request", "until",                \
                           "until: must be a time in ms since the epoch, " \
                           "at most 8640000000000000");

/* A listing with two filters, a time window, a limit and a cursor (sessions, issues). */
typedef pt_status (*list_fn)(pt_tracker *t, const char *a, const char *b, int64_t since,
                             int64_t until, int limit, const char *cursor, char **out,
                             pt_error *err);

static pt_answer *listing(pt_tracker *t, const pt_request *rq, const char *a, const char *b,
                          list_fn fn) {
  long limit;
  pt_answer *bad = pt__arg_int(rq, "limit", 1, PT_PAGE_MAX, &limit);
  if (bad) return bad;
  int64_t since = -1, until = -1;
  TIME_ARGS(since, until)
  char *out = NULL;
  pt_error err;
  pt_status st = fn(t, pt__arg(rq, a), pt__arg(rq, b), since, until, (int)limit,
                    pt__arg(rq, "cursor"), &out, &err);
  return pt__ans_doc(st, 200, out, &err);
}

pt_answer *pt__api_sessions(ARGS) {
  UNUSED_ASYNC;
  const char *prefix = pt__arg(rq, "id_prefix");
  if (!prefix) return listing(t, rq, "pipeline_type", "state", pt_sessions_range);
  /* a search by id: its own order (by id), not combined with the filters */
  const char *other = pt__arg(rq, "pipeline_type") ? "pipeline_type"
                      : pt__arg(rq, "state")       ? "state"
                      : pt__arg(rq, "since")       ? "since"
                      : pt__arg(rq, "until")       ? "until"
                                                   : NULL;
  if (other)
    return pt_answer_error(400, "invalid_request", other,
                           "%s: cannot be combined with id_prefix (a search by id)", other);
  long limit;
  pt_answer *bad = pt__arg_int(rq, "limit", 1, PT_PAGE_MAX, &limit);
  if (bad) return bad;
  char *out = NULL;
  pt_error err;
  pt_status st = pt_sessions_prefix(t, prefix, (int)limit, pt__arg(rq, "cursor"), &out, &err);
  return pt__ans_doc(st, 200, out, &err);
}

/* A document of the whole tracker (no argument). */
static pt_answer *whole(pt_tracker *t, pt_status (*fn)(pt_tracker *t, char **out, pt_error *err)) {
  char *out = NULL;
  pt_error err;
  pt_status st = fn(t, &out, &err);
  return pt__ans_doc(st, 200, out, &err);
}

pt_answer *pt__api_definitions(ARGS) {
  UNUSED_ASYNC;
  (void)rq;
  return whole(t, pt_definitions_json);
}

pt_answer *pt__api_pubkey(ARGS) {
  UNUSED_ASYNC;
  (void)rq;
  return whole(t, pt_pubkey);
}

pt_answer *pt__api_stats(ARGS) {
  UNUSED_ASYNC;
  int64_t since = 0, until = -1;
  TIME_ARGS(since, until)
  char *out = NULL;
  pt_error err;
  pt_status st = pt_stats(t, pt__arg(rq, "pipeline_type"), since, until, &out, &err);
  return pt__ans_doc(st, 200, out, &err);
}

/* A series of what key names (a pipeline type, an issue): interval,
 * since and until. */
typedef pt_status (*series_fn)(pt_tracker *t, const char *key, int64_t since, int64_t until,
                               const char *interval, char **out, pt_error *err);

static pt_answer *series(pt_tracker *t, const pt_request *rq, const char *key, series_fn fn) {
  int64_t since = -1, until = -1;
  TIME_ARGS(since, until)
  char *out = NULL;
  pt_error err;
  pt_status st = fn(t, key, since, until, pt__arg(rq, "interval"), &out, &err);
  return pt__ans_doc(st, 200, out, &err);
}

pt_answer *pt__api_timeseries(ARGS) {
  UNUSED_ASYNC;
  return series(t, rq, pt__arg(rq, "pipeline_type"), pt_timeseries);
}

pt_answer *pt__api_issues(ARGS) {
  UNUSED_ASYNC;
  return listing(t, rq, "status", "pipeline_type", pt_issues_range);
}

pt_answer *pt__api_issue(ARGS) {
  UNUSED_ASYNC;
  return pt__by_param(t, rq, pt_issue_get);
}

pt_answer *pt__api_issue_timeseries(ARGS) {
  UNUSED_ASYNC;
  return series(t, rq, rq->param ? rq->param : "", pt_issue_timeseries);
}

/* The export streams: the answer holds the open export and the program
 * pulls it a chunk at a time, so memory stays bounded however large the
 * store. */
pt_answer *pt__api_export(ARGS) {
  UNUSED_ASYNC;
  const char *sid = pt__arg(rq, "session_id");
  pt_export *x;
  pt_error err;
  if (pt_export_open(t, sid, &x, &err) != PT_OK) return with_session(pt_answer_fail(&err), sid);
  pt_answer *a = calloc(1, sizeof *a);
  if (!a) {
    pt_export_close(x);
    return NULL;
  }
  a->status = 200;
  a->stream = pt__export_body(x);
  if (!a->stream) {
    free(a);
    return NULL;
  }
  a->content_type = "application/x-ndjson";
  return with_session(a, sid);
}
