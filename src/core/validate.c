/* validate.c - event validation (docs/concepts.md#sessions-and-events). Checks run in a fixed order
 * so that the same bad event always earns the same refusal: shape and types of every member first,
 * then what the definitions say. */
#include "validate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "jcs.h"
#include "jparse.h"

static const char *const MEMBERS[] = {"id", "session_id", "pipeline_type", "step",  "status",
                                      "ts", "input",      "output",        "error", NULL};

/* Refuses the number of je, naming its field: the field given (or none) and
 * the path within it; place, when given, comes first ("line 3: ..."). */
static pt_status number_fail(pt_error *err, const char *place, const char *field,
                             const pt_jparse_error *je) {
  char f[sizeof err->field], why[160];
  const char *dot = field && je->path[0] && je->path[0] != '[' ? "." : "";
  snprintf(f, sizeof f, "%s%s%s", field ? field : "", dot, je->path);
  if (!f[0]) snprintf(f, sizeof f, "%s", place ? place : "json");
  pt_jparse_number_why(je, why, sizeof why);
  if (place && strcmp(f, place) != 0)
    return pt_fail(err, PT_EINVALID_JSON, f, "%s: %s: %s", place, f, why);
  return pt_fail(err, PT_EINVALID_JSON, f, "%s: %s", f, why);
}

pt_status pt_parse_ijson(const char *text, size_t len, const char *what, json_t **out,
                         pt_error *err) {
  /* JSON never holds a raw NUL byte (it is a control character, and in
   * strings it must be escaped): say so plainly. */
  const char *nul = memchr(text, 0, len);
  if (nul) {
    *out = NULL;
    return pt_fail(err, PT_EINVALID_JSON, what, "%s: not valid I-JSON at byte %zu: NUL byte", what,
                   (size_t)(nul - text));
  }
  pt_jparse_error je;
  if (pt_jparse_tree(text, len, 0, out, &je) != 0) {
    if (strcmp(je.reason, "out of memory") == 0)
      return pt_fail(err, PT_ENOMEM, what, "out of memory");
    if (je.number) {
      /* A request body and an import line are places, not fields: what they
       * hold is named bare ("event.input.a"), as in every other answer, after
       * the line ("line 3: event.ts: ..."). */
      if (strcmp(what, "body") == 0 && je.path[0] && je.path[0] != '[')
        return number_fail(err, NULL, NULL, &je);
      if (strncmp(what, "line ", 5) == 0) return number_fail(err, what, NULL, &je);
      return number_fail(err, NULL, what, &je);
    }
    return pt_fail(err, PT_EINVALID_JSON, what,
                   "%s: not valid I-JSON at line %d, column %d (byte %zu): %s", what, je.line,
                   je.column, je.offset, je.reason);
  }
  return PT_OK;
}

/* A string member without embedded NUL (names and ids never hold one). */
static const char *plain_string(const json_t *v) {
  if (!json_is_string(v)) return NULL;
  const char *s = json_string_value(v);
  return strlen(s) == json_string_length(v) ? s : NULL;
}

static pt_status canonical(const json_t *v, const pt_limits *lim, const char *field, pt_buf *b,
                           pt_error *err) {
  pt_buf_init(b, lim->max_payload);
  if (pt_jcs_write(b, v, lim->max_depth) != 0 && b->failed == 0) {
    pt_buf_cleanup(b);
    return pt_fail(err, PT_EINVALID, field, "%s: must nest at most %d levels deep", field,
                   lim->max_depth);
  }
  if (b->failed) {
    int over = b->failed == 2;
    pt_buf_cleanup(b);
    if (over)
      return pt_fail(err, PT_ETOOBIG, field, "%s: must be at most %zu bytes in canonical form",
                     field, lim->max_payload);
    return pt_fail(err, PT_ENOMEM, field, "out of memory");
  }
  if (!b->data) pt_buf_puts(b, ""); /* never hit: a value writes something */
  return PT_OK;
}

pt_status pt_canonical_payload(const char *text, size_t len, const pt_limits *lim,
                               const char *field, char **out, size_t *out_len, pt_error *err) {
  *out = NULL;
  pt_buf b;
  pt_buf_init(&b, lim->max_payload);
  pt_jparse_error je;
  if (pt_jparse_canonical(text, len, lim->max_depth, &b, &je)) {
    pt_buf_cleanup(&b);
    if (je.too_large)
      return pt_fail(err, PT_ETOOBIG, field, "%s: must be at most %zu bytes in canonical form",
                     field, lim->max_payload);
    if (je.too_deep)
      return pt_fail(err, PT_EINVALID, field, "%s: must nest at most %d levels deep", field,
                     lim->max_depth);
    if (strcmp(je.reason, "out of memory") == 0)
      return pt_fail(err, PT_ENOMEM, field, "out of memory");
    if (je.number) return number_fail(err, NULL, field, &je);
    return pt_fail(err, PT_EINVALID_JSON, field, "%s: not valid I-JSON at byte %zu: %s", field,
                   je.offset, je.reason);
  }
  *out_len = b.len;
  *out = pt_buf_take(&b);
  return *out ? PT_OK : pt_fail(err, PT_ENOMEM, field, "out of memory");
}

pt_status pt_validate_event(const json_t *v, const pt_defs *defs, const pt_limits *lim,
                            int64_t now_ms, const char *prefix, pt_event **out, pt_error *err) {
  *out = NULL;
  char f[160];
#define FIELD(name) (snprintf(f, sizeof f, "%s.%s", prefix, name), f)
  if (!json_is_object(v))
    return pt_fail(err, PT_EINVALID, prefix, "%s: must be a JSON object", prefix);
  char bad[72];
  if (!pt_json_only_members(v, MEMBERS, bad, sizeof bad))
    return pt_fail(err, PT_EINVALID, FIELD(bad),
                   "%s: unknown member (allowed: id, session_id, pipeline_type, step, "
                   "status, ts, input, output, error)",
                   f);

  json_t *jid = json_object_get(v, "id");
  const char *id = NULL;
  if (jid) {
    id = plain_string(jid);
    if (!pt_is_id(id))
      return pt_fail(err, PT_EINVALID, FIELD("id"),
                     "%s: must be 1-128 characters of A-Z a-z 0-9 _ . : -", f);
  }
  const char *sid = plain_string(json_object_get(v, "session_id"));
  if (!json_object_get(v, "session_id"))
    return pt_fail(err, PT_EINVALID, FIELD("session_id"), "%s: is required", f);
  if (!pt_is_id(sid))
    return pt_fail(err, PT_EINVALID, FIELD("session_id"),
                   "%s: must be 1-128 characters of A-Z a-z 0-9 _ . : -", f);
  const char *type = plain_string(json_object_get(v, "pipeline_type"));
  if (!json_object_get(v, "pipeline_type"))
    return pt_fail(err, PT_EINVALID, FIELD("pipeline_type"), "%s: is required", f);
  if (!pt_is_name(type))
    return pt_fail(err, PT_EINVALID, FIELD("pipeline_type"),
                   "%s: must be a string matching ^[a-z][a-z0-9_]{0,63}$", f);
  const char *step = plain_string(json_object_get(v, "step"));
  if (!json_object_get(v, "step"))
    return pt_fail(err, PT_EINVALID, FIELD("step"), "%s: is required", f);
  if (!pt_is_name(step))
    return pt_fail(err, PT_EINVALID, FIELD("step"),
                   "%s: must be a string matching ^[a-z][a-z0-9_]{0,63}$", f);
  json_t *jst = json_object_get(v, "status");
  if (!jst) return pt_fail(err, PT_EINVALID, FIELD("status"), "%s: is required", f);
  const char *sst = plain_string(jst);
  int status = sst ? pt_status_parse(sst) : -1;
  if (status < 0)
    return pt_fail(err, PT_EINVALID, FIELD("status"),
                   "%s: must be one of started, success, failure", f);
  int64_t ts = -1;
  json_t *jts = json_object_get(v, "ts");
  if (jts) {
    double d = json_is_number(jts) ? json_number_value(jts) : -1;
    if (!(d >= 0 && d < 9007199254740992.0 && d == floor(d)))
      return pt_fail(err, PT_EINVALID, FIELD("ts"),
                     "%s: must be an integer number of milliseconds from 0 to 2^53-1", f);
    ts = (int64_t)d;
  }
  json_t *jerr = json_object_get(v, "error");
  if (jerr && !json_is_null(jerr)) {
    if (!json_is_object(jerr))
      return pt_fail(err, PT_EINVALID, FIELD("error"),
                     "%s: must be {\"code\": string, \"message\": string} or null", f);
    static const char *const ERROR_MEMBERS[] = {"code", "message", NULL};
    if (!pt_json_only_members(jerr, ERROR_MEMBERS, bad, sizeof bad)) {
      snprintf(f, sizeof f, "%s.error.%s", prefix, bad);
      return pt_fail(err, PT_EINVALID, f, "%s: unknown member (allowed: code, message)", f);
    }
    if (!json_is_string(json_object_get(jerr, "code")))
      return pt_fail(err, PT_EINVALID, FIELD("error.code"), "%s: is required, a string", f);
    if (!json_is_string(json_object_get(jerr, "message")))
      return pt_fail(err, PT_EINVALID, FIELD("error.message"), "%s: is required, a string", f);
  }

  /* Payloads: canonical form, bounded in depth and size. */
  pt_buf bin, bout, berr;
  json_t *jin = json_object_get(v, "input"), *jout = json_object_get(v, "output");
  pt_status rc = PT_OK;
  int have_in = 0, have_out = 0, have_err = 0;
  if (jin && !json_is_null(jin)) {
    rc = canonical(jin, lim, FIELD("input"), &bin, err);
    have_in = rc == PT_OK;
  }
  if (rc == PT_OK && jout && !json_is_null(jout)) {
    rc = canonical(jout, lim, FIELD("output"), &bout, err);
    have_out = rc == PT_OK;
  }
  if (rc == PT_OK && jerr && !json_is_null(jerr)) {
    rc = canonical(jerr, lim, FIELD("error"), &berr, err);
    have_err = rc == PT_OK;
  }

  /* What the definitions say comes last: the event is well-formed. */
  const pt_pipeline *p = NULL;
  if (rc == PT_OK) {
    p = pt_defs_find(defs, type);
    char h[160];
    if (!p) {
      pt_defs_hint(defs, type, h, sizeof h);
      rc = pt_fail(err, PT_EUNKNOWN_PIPELINE, FIELD("pipeline_type"),
                   "%s: no pipeline \"%s\" is defined%s", f, type, h);
    } else if (pt_pipeline_step(p, step) < 0) {
      pt_pipeline_step_hint(p, step, h, sizeof h);
      rc = pt_fail(err, PT_EUNKNOWN_STEP, FIELD("step"), "%s: pipeline \"%s\" has no step \"%s\"%s",
                   f, type, step, h);
    }
  }
  char genid[31];
  if (rc == PT_OK && !id) {
    pt_event_id_make(now_ms, genid);
    id = genid;
  }
  if (rc == PT_OK) {
    *out = pt_event_new(id, sid, type, step, have_in ? bin.data : NULL, have_in ? bin.len : 0,
                        have_out ? bout.data : NULL, have_out ? bout.len : 0,
                        have_err ? berr.data : NULL, have_err ? berr.len : 0);
    if (!*out) rc = pt_fail(err, PT_ENOMEM, prefix, "out of memory");
  }
  if (have_in) pt_buf_cleanup(&bin);
  if (have_out) pt_buf_cleanup(&bout);
  if (have_err) pt_buf_cleanup(&berr);
  if (rc != PT_OK) return rc;
  (*out)->status = status;
  (*out)->ts = ts;
  (*out)->ts_given = ts >= 0;
  (*out)->id_given = jid != NULL;
  pt_event_digest(*out);
  return PT_OK;
#undef FIELD
}

int pt_utf8_valid(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str, *e = s + n;
  while (s < e) {
    int len = pt_utf8_seq_len(s, e);
    if (!len) return 0;
    s += len;
  }
  return 1;
}

pt_status pt_validate_struct(const pt_event_in *in, const pt_defs *defs, const pt_limits *lim,
                             int64_t now_ms, const char *prefix, pt_event **out, pt_error *err) {
  *out = NULL;
  char f[160];
#define FIELD(name) (snprintf(f, sizeof f, "%s.%s", prefix, name), f)
  if (in->id && !pt_is_id(in->id))
    return pt_fail(err, PT_EINVALID, FIELD("id"),
                   "%s: must be 1-128 characters of A-Z a-z 0-9 _ . : -", f);
  if (!in->session_id) return pt_fail(err, PT_EINVALID, FIELD("session_id"), "%s: is required", f);
  if (!pt_is_id(in->session_id))
    return pt_fail(err, PT_EINVALID, FIELD("session_id"),
                   "%s: must be 1-128 characters of A-Z a-z 0-9 _ . : -", f);
  if (!in->pipeline_type)
    return pt_fail(err, PT_EINVALID, FIELD("pipeline_type"), "%s: is required", f);
  if (!pt_is_name(in->pipeline_type))
    return pt_fail(err, PT_EINVALID, FIELD("pipeline_type"),
                   "%s: must be a string matching ^[a-z][a-z0-9_]{0,63}$", f);
  if (!in->step) return pt_fail(err, PT_EINVALID, FIELD("step"), "%s: is required", f);
  if (!pt_is_name(in->step))
    return pt_fail(err, PT_EINVALID, FIELD("step"),
                   "%s: must be a string matching ^[a-z][a-z0-9_]{0,63}$", f);
  if ((unsigned)in->status > PT_FAILURE)
    return pt_fail(err, PT_EINVALID, FIELD("status"),
                   "%s: must be one of started, success, failure", f);
  if (in->ts >= 9007199254740992LL)
    return pt_fail(err, PT_EINVALID, FIELD("ts"),
                   "%s: must be an integer number of milliseconds from 0 to 2^53-1", f);
  if ((in->error_code == NULL) != (in->error_message == NULL))
    return pt_fail(err, PT_EINVALID, FIELD("error"), "%s: needs both code and message, or neither",
                   f);
  pt_buf berr;
  pt_buf_init(&berr, lim->max_payload);
  if (in->error_code) {
    size_t cl = strlen(in->error_code), ml = strlen(in->error_message);
    if (!pt_utf8_valid(in->error_code, cl))
      return pt_fail(err, PT_EINVALID, FIELD("error.code"), "%s: must be valid UTF-8", f);
    if (!pt_utf8_valid(in->error_message, ml))
      return pt_fail(err, PT_EINVALID, FIELD("error.message"), "%s: must be valid UTF-8", f);
    pt_buf_puts(&berr, "{\"code\":");
    pt_buf_json_str(&berr, in->error_code, cl);
    pt_buf_puts(&berr, ",\"message\":");
    pt_buf_json_str(&berr, in->error_message, ml);
    pt_buf_putc(&berr, '}');
    if (berr.failed) {
      pt_buf_cleanup(&berr);
      return pt_fail(err, PT_ETOOBIG, FIELD("error"), "%s: must be at most %zu bytes", f,
                     lim->max_payload);
    }
  }
  char *cin = NULL, *cout = NULL;
  size_t lin = 0, lout = 0;
  pt_status rc = PT_OK;
  if (in->input_json)
    rc = pt_canonical_payload(in->input_json, strlen(in->input_json), lim, FIELD("input"), &cin,
                              &lin, err);
  if (rc == PT_OK && in->output_json)
    rc = pt_canonical_payload(in->output_json, strlen(in->output_json), lim, FIELD("output"), &cout,
                              &lout, err);
  const pt_pipeline *p = rc == PT_OK ? pt_defs_find(defs, in->pipeline_type) : NULL;
  char h[160];
  if (rc == PT_OK && !p) {
    pt_defs_hint(defs, in->pipeline_type, h, sizeof h);
    rc = pt_fail(err, PT_EUNKNOWN_PIPELINE, FIELD("pipeline_type"),
                 "%s: no pipeline \"%s\" is defined%s", f, in->pipeline_type, h);
  }
  if (rc == PT_OK && pt_pipeline_step(p, in->step) < 0) {
    pt_pipeline_step_hint(p, in->step, h, sizeof h);
    rc = pt_fail(err, PT_EUNKNOWN_STEP, FIELD("step"), "%s: pipeline \"%s\" has no step \"%s\"%s",
                 f, in->pipeline_type, in->step, h);
  }
  char genid[31];
  const char *id = in->id;
  if (rc == PT_OK && !id) {
    pt_event_id_make(now_ms, genid);
    id = genid;
  }
  if (rc == PT_OK) {
    *out = pt_event_new(id, in->session_id, in->pipeline_type, in->step, cin, lin, cout, lout,
                        berr.data, berr.len);
    if (!*out) rc = pt_fail(err, PT_ENOMEM, prefix, "out of memory");
  }
  free(cin);
  free(cout);
  pt_buf_cleanup(&berr);
  if (rc != PT_OK) return rc;
  (*out)->status = (int)in->status;
  (*out)->ts = in->ts >= 0 ? in->ts : -1;
  (*out)->ts_given = in->ts >= 0;
  (*out)->id_given = in->id != NULL;
  pt_event_digest(*out);
  return PT_OK;
#undef FIELD
}
