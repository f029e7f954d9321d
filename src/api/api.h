/* api.h - what the request layer's files share (src/api only): the handler
 * signature, the route table with handlers, and the helpers every handler
 * uses to read a request and build its answer. The layer is built on the
 * public API, plus the tracker's asynchronous tracking. */
#ifndef PT_API_H
#define PT_API_H

#include <jansson.h>

#include "pipetrack.h"

/* A handler answers a request at once (returns the answer), or — tracking
 * only — starts a commit and returns NULL with *pending set (see track.c). */
typedef struct pt__api_pending pt__api_pending;
typedef pt_answer *(*pt__api_handler)(pt_tracker *t, const pt_request *rq, void (*done)(void *),
                                      void *done_ctx, pt__api_pending **pending);

/* The handlers behind the rows of pt_api_routes, in the same order. */
extern const pt__api_handler pt__api_handlers[];

/* A handler's parameters, for defining one. */
#define ARGS \
  pt_tracker *t, const pt_request *rq, void (*done)(void *), void *ctx, pt__api_pending **pending

/* the handlers, one a route (track.c, reads.c, writes.c) */
pt_answer *pt__api_track(ARGS);
pt_answer *pt__api_track_batch(ARGS);
pt_answer *pt__api_status(ARGS);
pt_answer *pt__api_snapshot(ARGS);
pt_answer *pt__api_registry(ARGS);
pt_answer *pt__api_checksum(ARGS);
pt_answer *pt__api_report(ARGS);
pt_answer *pt__api_verify(ARGS);
pt_answer *pt__api_sessions(ARGS);
pt_answer *pt__api_definitions(ARGS);
pt_answer *pt__api_export(ARGS);
pt_answer *pt__api_import(ARGS);
pt_answer *pt__api_issues(ARGS);
pt_answer *pt__api_issue(ARGS);
pt_answer *pt__api_issue_timeseries(ARGS);
pt_answer *pt__api_issue_resolve(ARGS);
pt_answer *pt__api_stats(ARGS);
pt_answer *pt__api_timeseries(ARGS);
pt_answer *pt__api_pubkey(ARGS);
pt_answer *pt__api_redact(ARGS);
/* a started track's answer (track.c); frees p */
pt_answer *pt__api_track_finish(pt_tracker *t, pt__api_pending *p);

/* ---- answers (call.c) ---- */
/* An answer with a JSON body (owned, taken; NULL: out of memory -> 503). */
pt_answer *pt__ans_json(int status, char *doc);
/* A library call's result: 200-class doc, or its error. */
pt_answer *pt__ans_doc(pt_status rc, int status, char *doc, const pt_error *err);
/* The same with a body read as it is taken when body is not NULL (taken). */
pt_answer *pt__ans_body(pt_status rc, int status, char *doc, pt_body *body, const pt_error *err);
/* The answer of fn on the route's {id} (an issue's id). */
pt_answer *pt__by_param(pt_tracker *t, const pt_request *rq,
                        pt_status (*fn)(pt_tracker *t, const char *id, char **out, pt_error *err));
/* Remembers the session a request names, for the log line. */
void pt__ans_session(pt_answer *a, const char *sid);

/* ---- reading a request (call.c) ---- */
/* A query argument, or NULL when absent or empty. */
const char *pt__arg(const pt_request *rq, const char *name);
/* An integer argument in [lo, hi] into *out (0 when absent). NULL, or the
 * 400 answer. */
pt_answer *pt__arg_int(const pt_request *rq, const char *name, long lo, long hi, long *out);
/* session_id, required: NULL with *fail set to the 400 answer. */
const char *pt__arg_session(const pt_request *rq, pt_answer **fail);
/* The body as a JSON object (owned); NULL with *fail set to its answer. */
json_t *pt__body_object(pt_tracker *t, const pt_request *rq, pt_answer **fail);
/* Whether every member of o is one of allowed (NULL-terminated); else the
 * 400 answer naming the member. */
pt_answer *pt__only_members(json_t *o, const char *const *allowed);
/* The body as an object of allowed members only; NULL with *fail set. */
json_t *pt__body_members(pt_tracker *t, const pt_request *rq, const char *const *allowed,
                         pt_answer **fail);
/* The member as a C string, or NULL when absent or null; *fail set to the
 * 400 answer when it is not a string without U+0000 (or absent and
 * required). Does nothing when *fail is set already, so checks chain. */
const char *pt__str_member(json_t *doc, const char *name, int required, pt_answer **fail);
/* A JSON string member usable as a C string (no U+0000), or NULL. */
const char *pt__cstr(const json_t *v);

#endif
