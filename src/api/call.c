/* call.c - the request layer's entry points (pt_api_start, pt_api_call,
 * pt_api_call_url) and the pieces every handler shares: answers, query
 * arguments, the JSON body. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "core/error.h"
#include "core/jparse.h"
#include "core/validate.h"
#include "lib/internal.h"

/* ---- answers ---------------------------------------------------------------- */

void pt_answer_free(pt_answer *a) {
  if (!a) return;
  free(a->body);
  pt_body_free(a->stream);
  free(a);
}

/* An answer holding doc (taken; NULL: out of memory). */
static pt_answer *with_body(int status, char *doc) {
  pt_answer *a = doc ? calloc(1, sizeof *a) : NULL;
  if (!a) {
    free(doc);
    return NULL; /* out of memory */
  }
  a->status = status;
  a->body = doc;
  a->len = strlen(doc);
  a->content_type = "application/json";
  return a;
}

pt_answer *pt__ans_json(int status, char *doc) {
  if (!doc) return pt_answer_error(503, "out_of_memory", NULL, "out of memory");
  return with_body(status, doc);
}

pt_answer *pt_answer_error(int status, const char *code, const char *field, const char *fmt, ...) {
  char msg[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return with_body(status, pt_error_json(code, msg, field && *field ? field : NULL));
}

pt_answer *pt_answer_fail(const pt_error *err) {
  const char *msg = err->message[0] ? err->message : pt_strerror(err->code);
  return pt_answer_error((int)pt_http_status(err->code), pt_err_name(err->code), err->field, "%s",
                         msg);
}

pt_answer *pt__ans_doc(pt_status rc, int status, char *doc, const pt_error *err) {
  return rc == PT_OK ? pt__ans_json(status, doc) : pt_answer_fail(err);
}

pt_answer *pt__ans_body(pt_status rc, int status, char *doc, pt_body *body, const pt_error *err) {
  if (rc != PT_OK || !body) return pt__ans_doc(rc, status, doc, err);
  pt_answer *a = calloc(1, sizeof *a);
  if (!a) {
    pt_body_free(body);
    return NULL;
  }
  a->status = status;
  a->stream = body;
  a->content_type = "application/json";
  return a;
}

pt_answer *pt__by_param(pt_tracker *t, const pt_request *rq,
                        pt_status (*fn)(pt_tracker *t, const char *id, char **out, pt_error *err)) {
  char *out = NULL;
  pt_error err;
  pt_status st = fn(t, rq->param ? rq->param : "", &out, &err);
  return pt__ans_doc(st, 200, out, &err);
}

void pt__ans_session(pt_answer *a, const char *sid) {
  if (a && sid) snprintf(a->session_id, sizeof a->session_id, "%s", sid);
}

/* ---- reading a request --------------------------------------------------------- */

const char *pt__arg(const pt_request *rq, const char *name) {
  const char *v = rq->arg ? rq->arg(rq->arg_ctx, name) : NULL;
  return v && *v ? v : NULL;
}

pt_answer *pt__arg_int(const pt_request *rq, const char *name, long lo, long hi, long *out) {
  const char *v = pt__arg(rq, name);
  *out = 0;
  if (!v) return NULL;
  char *end;
  long n = strtol(v, &end, 10);
  if (*end || end == v || n < lo || n > hi)
    return pt_answer_error(400, "invalid_request", name, "%s: must be an integer from %ld to %ld",
                           name, lo, hi);
  *out = n;
  return NULL;
}

const char *pt__arg_session(const pt_request *rq, pt_answer **fail) {
  const char *sid = pt__arg(rq, "session_id");
  *fail =
      sid ? NULL : pt_answer_error(400, "invalid_request", "session_id", "session_id: is required");
  return sid;
}

/* Deepest nesting of a JSON text, strings skipped: bounds the reader's work
 * before it runs. */
static int json_depth(const char *s, size_t n) {
  int d = 0, max = 0, in_str = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = 0;
    } else if (c == '"') {
      in_str = 1;
    } else if (c == '{' || c == '[') {
      if (++d > max) max = d;
    } else if (c == '}' || c == ']') {
      d--;
    }
  }
  return max;
}

json_t *pt__body_object(pt_tracker *t, const pt_request *rq, pt_answer **fail) {
  /* the envelope and a batch's array add two levels to an event's own */
  int limit = pt__limits(t)->max_depth + 2;
  *fail = NULL;
  if (!rq->body || rq->body_len == 0) {
    *fail = pt_answer_error(400, "invalid_json", "body", "body: must be a JSON object");
    return NULL;
  }
  if (json_depth(rq->body, rq->body_len) > limit) {
    *fail = pt_answer_error(400, "invalid_request", "body",
                            "body: JSON nested deeper than %d levels", limit);
    return NULL;
  }
  json_t *v;
  pt_error err;
  if (pt_parse_ijson(rq->body, rq->body_len, "body", &v, &err) != PT_OK) {
    *fail = pt_answer_fail(&err);
    return NULL;
  }
  if (!json_is_object(v)) {
    json_decref(v);
    *fail = pt_answer_error(400, "invalid_request", "body", "body: must be a JSON object");
    return NULL;
  }
  return v;
}

json_t *pt__body_members(pt_tracker *t, const pt_request *rq, const char *const *allowed,
                         pt_answer **fail) {
  json_t *doc = pt__body_object(t, rq, fail);
  if (doc && (*fail = pt__only_members(doc, allowed))) {
    json_decref(doc);
    doc = NULL;
  }
  return doc;
}

const char *pt__str_member(json_t *doc, const char *name, int required, pt_answer **fail) {
  if (*fail) return NULL;
  json_t *v = json_object_get(doc, name);
  if (!v || json_is_null(v)) {
    if (required)
      *fail = pt_answer_error(400, "invalid_request", name,
                              "%s: is required and must be a string without U+0000", name);
    return NULL;
  }
  const char *s = pt__cstr(v);
  if (!s)
    *fail =
        pt_answer_error(400, "invalid_request", name, "%s: must be a string without U+0000", name);
  return s;
}

pt_answer *pt__only_members(json_t *o, const char *const *allowed) {
  char f[64];
  if (pt_json_only_members(o, allowed, f, sizeof f)) return NULL;
  return pt_answer_error(400, "invalid_request", f, "%s: is not a member of this request", f);
}

/* The ids, names and notes the library takes are C strings: one holding
 * U+0000 would be cut short, so it is refused instead of read as its prefix. */
const char *pt__cstr(const json_t *v) {
  if (!json_is_string(v)) return NULL;
  const char *s = json_string_value(v);
  return strlen(s) == json_string_length(v) ? s : NULL;
}

/* ---- entry points ------------------------------------------------------------------ */

struct pt_call {
  pt_tracker *t;
  pt__api_pending *pending;
};

pt_status pt_api_start(pt_tracker *t, const pt_request *rq, void (*done)(void *done_ctx),
                       void *done_ctx, pt_call **call, pt_answer **answer) {
  *call = NULL;
  size_t n;
  pt_api_routes(&n);
  if (rq->route < 0 || (size_t)rq->route >= n) {
    *answer = pt_answer_error(404, "not_found", NULL, "no such endpoint");
    return *answer ? PT_OK : PT_ENOMEM;
  }
  pt_call *c = calloc(1, sizeof *c);
  if (!c) {
    *answer = NULL;
    return PT_ENOMEM;
  }
  c->t = t;
  *answer = pt__api_handlers[rq->route](t, rq, done, done_ctx, &c->pending);
  if (c->pending) {
    *call = c;
    return PT_OK;
  }
  free(c);
  return *answer ? PT_OK : PT_ENOMEM;
}

pt_answer *pt_call_finish(pt_call *c) {
  if (!c) return NULL;
  pt_answer *a = pt__api_track_finish(c->t, c->pending);
  free(c);
  return a;
}

/* A started call waited for in the calling thread. */
typedef struct waiter {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int ready;
} waiter;

static void wake(void *ctx) {
  waiter *w = ctx;
  pthread_mutex_lock(&w->lock);
  w->ready = 1;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->lock);
}

pt_answer *pt_api_call(pt_tracker *t, const pt_request *rq) {
  waiter w = {.ready = 0};
  pthread_mutex_init(&w.lock, NULL);
  pthread_cond_init(&w.cond, NULL);
  pt_call *c = NULL;
  pt_answer *a = NULL;
  if (pt_api_start(t, rq, wake, &w, &c, &a) == PT_OK && c) {
    pthread_mutex_lock(&w.lock);
    while (!w.ready) pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    a = pt_call_finish(c);
  }
  pthread_cond_destroy(&w.cond);
  pthread_mutex_destroy(&w.lock);
  return a;
}

/* ---- a request target, as a tool sends it ---------------------------------------- */

typedef struct query {
  char **names, **values;
  size_t n;
} query;

static int unhex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..n) into a new string; in a query ('+' is a space
 * there, as in forms) with plus. */
static char *decode(const char *s, size_t n, int plus) {
  char *out = malloc(n + 1), *o = out;
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && unhex(s[i + 1]) >= 0 && unhex(s[i + 2]) >= 0) {
      *o++ = (char)(unhex(s[i + 1]) * 16 + unhex(s[i + 2]));
      i += 2;
    } else {
      *o++ = plus && s[i] == '+' ? ' ' : s[i];
    }
  }
  *o = '\0';
  return out;
}

static const char *query_arg(void *ctx, const char *name) {
  query *q = ctx;
  for (size_t i = 0; i < q->n; i++)
    if (strcmp(q->names[i], name) == 0) return q->values[i];
  return NULL;
}

static void query_free(query *q) {
  for (size_t i = 0; i < q->n; i++) {
    free(q->names[i]);
    free(q->values[i]);
  }
  free(q->names);
  free(q->values);
}

/* Splits "a=1&b=2" into q (percent-decoded). -1: out of memory. */
static int query_parse(query *q, const char *qs) {
  size_t cap = 1;
  for (const char *p = qs; p && *p; p++) cap += *p == '&';
  q->names = calloc(cap, sizeof *q->names);
  q->values = calloc(cap, sizeof *q->values);
  if (!q->names || !q->values) return -1;
  for (const char *p = qs; p && *p;) {
    const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
    const char *eq = memchr(p, '=', (size_t)(end - p));
    if (eq) {
      q->names[q->n] = decode(p, (size_t)(eq - p), 1);
      q->values[q->n] = decode(eq + 1, (size_t)(end - eq - 1), 1);
      q->n++;
      if (!q->names[q->n - 1] || !q->values[q->n - 1]) return -1;
    }
    p = amp ? amp + 1 : NULL;
  }
  return 0;
}

pt_answer *pt_api_call_url(pt_tracker *t, const char *method, const char *target, const char *body,
                           size_t len, const char *actor) {
  const char *qs = strchr(target, '?');
  size_t plen = qs ? (size_t)(qs - target) : strlen(target);
  /* percent-decoded, as a server's HTTP layer hands the path on */
  char *path = decode(target, plen, 0);
  if (!path) return NULL;
  char param[64] = "";
  int known = 0;
  int route = pt_api_route_find(method, path, param, &known);
  if (route < 0) {
    pt_answer *a;
    if (known) {
      /* the method the path takes, as a server's 405 names it */
      size_t nr;
      const pt_route *rows = pt_api_routes(&nr);
      const char *takes = "another method";
      char p2[64];
      for (size_t i = 0; i < nr; i++)
        if (pt_route_match(rows[i].path, path, p2)) takes = rows[i].method;
      a = pt_answer_error(405, "method_not_allowed", NULL, "%s takes %s, not %s", path, takes,
                          method);
    } else {
      a = pt_answer_error(404, "not_found", NULL, "no such endpoint: %s", path);
    }
    free(path);
    return a;
  }
  free(path);
  query q = {NULL, NULL, 0};
  if (query_parse(&q, qs ? qs + 1 : NULL) != 0) {
    query_free(&q);
    return NULL;
  }
  pt_request rq = {.route = route,
                   .param = param[0] ? param : NULL,
                   .arg = query_arg,
                   .arg_ctx = &q,
                   .body = body,
                   .body_len = len,
                   .actor = actor};
  pt_answer *a = pt_api_call(t, &rq);
  query_free(&q);
  return a;
}
