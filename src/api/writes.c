/* writes.c - the POST endpoints besides tracking: snapshot, redact, import
 * and resolving an issue. Each checks its body's members by name before it
 * calls the library, so a refused request changes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/buf.h"

#define UNUSED_ASYNC \
  (void)done;        \
  (void)ctx;         \
  (void)pending

/* POST /api/pipeline/snapshot {"session_id", "pipeline_type"?, "notes"?} */
pt_answer *pt__api_snapshot(ARGS) {
  UNUSED_ASYNC;
  static const char *const allowed[] = {"session_id", "pipeline_type", "notes", NULL};
  pt_answer *fail = NULL;
  json_t *doc = pt__body_members(t, rq, allowed, &fail);
  if (!doc) return fail;
  const char *sid = pt__str_member(doc, "session_id", 1, &fail);
  const char *ptype = pt__str_member(doc, "pipeline_type", 0, &fail);
  const char *notes = pt__str_member(doc, "notes", 0, &fail);
  pt_answer *a = fail;
  if (!fail) {
    char *out = NULL;
    pt_error err;
    pt_status st = pt_snapshot(t, sid, ptype, notes, &out, &err);
    a = pt__ans_doc(st, 201, out, &err);
    pt__ans_session(a, sid);
  }
  json_decref(doc);
  return a;
}

/* POST /api/pipeline/redact {"session_id", "event_ids"?, "actor"?}: who
 * asked is recorded as the caller says (rq->actor: a server names the
 * credential and the address) and the name the body gives, if any. */
pt_answer *pt__api_redact(ARGS) {
  UNUSED_ASYNC;
  static const char *const allowed[] = {"session_id", "event_ids", "actor", NULL};
  pt_answer *fail = NULL;
  json_t *doc = pt__body_members(t, rq, allowed, &fail);
  if (!doc) return fail;
  json_t *ids = json_object_get(doc, "event_ids"), *actor = json_object_get(doc, "actor");
  const char *sid = pt__str_member(doc, "session_id", 1, &fail);
  pt__str_member(doc, "actor", 0, &fail);
  size_t n = ids ? json_array_size(ids) : 0;
  if (fail) {
  } else if (ids && !json_is_array(ids)) {
    fail = pt_answer_error(400, "invalid_request", "event_ids",
                           "event_ids: must be an array of event ids (absent: all)");
  } else if (ids && n == 0) {
    fail = pt_answer_error(400, "invalid_request", "event_ids",
                           "event_ids: must not be empty (leave it out to redact every event)");
  } else if (actor && json_string_length(actor) > 128) {
    fail = pt_answer_error(400, "invalid_request", "actor",
                           "actor: must be a string of at most 128 bytes without U+0000");
  } else if (n > PT_BATCH_MAX) {
    fail = pt_answer_error(413, "payload_too_large", "event_ids",
                           "event_ids: at most %d ids a request", PT_BATCH_MAX);
  }
  const char **list = NULL;
  if (!fail && n && !(list = calloc(n, sizeof *list))) {
    json_decref(doc);
    return NULL; /* out of memory */
  }
  for (size_t i = 0; !fail && i < n; i++) {
    list[i] = pt__cstr(json_array_get(ids, i));
    if (!list[i]) {
      char field[32];
      snprintf(field, sizeof field, "event_ids[%zu]", i);
      fail = pt_answer_error(400, "invalid_request", field, "%s: must be a string without U+0000",
                             field);
    }
  }
  if (fail) {
    free(list);
    pt__ans_session(fail, sid);
    json_decref(doc);
    return fail;
  }
  pt_buf who;
  pt_buf_init(&who, 0);
  pt_buf_puts(&who, rq->actor ? rq->actor : "unknown");
  if (actor) {
    pt_buf_json_member(&who, " as ", pt__cstr(actor));
  }
  char *out = NULL;
  pt_error err;
  pt_status st = pt_redact(t, sid, list, n, pt_buf_cstr(&who), &out, &err);
  pt_buf_cleanup(&who);
  free(list);
  pt_answer *a = pt__ans_doc(st, 200, out, &err);
  pt__ans_session(a, sid);
  json_decref(doc);
  return a;
}

/* POST /api/pipeline/import?first_line=N, a body of JSON Lines: one
 * transaction a request (a client sends a large file in parts of whole
 * lines; `pipetrack import` sends 1,000 lines a request). */
pt_answer *pt__api_import(ARGS) {
  UNUSED_ASYNC;
  long first;
  pt_answer *bad = pt__arg_int(rq, "first_line", 1, 2000000000L, &first);
  if (bad) return bad;
  pt_import_result res;
  pt_error err;
  if (pt_import(t, rq->body ? rq->body : "", rq->body_len, first ? (size_t)first : 1, &res, &err) !=
      PT_OK)
    return pt_answer_fail(&err);
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_buf_printf(&b,
                "{\"events_added\":%lld,\"events_skipped\":%lld,\"snapshots_added\":%lld,"
                "\"snapshots_skipped\":%lld,\"issues_imported\":%lld}",
                (long long)res.events_added, (long long)res.events_skipped,
                (long long)res.snapshots_added, (long long)res.snapshots_skipped,
                (long long)res.issues_imported);
  return pt__ans_json(200, pt_buf_take(&b));
}

/* POST /api/pipeline/issues/{id}/resolve */
pt_answer *pt__api_issue_resolve(ARGS) {
  UNUSED_ASYNC;
  return pt__by_param(t, rq, pt_issue_resolve);
}
