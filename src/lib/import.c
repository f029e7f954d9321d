/* import.c - reads the lines of an export (export.c) back: each line is
 * parsed and checked in the caller's thread (I-JSON, the event rules of
 * docs/concepts.md#sessions-and-events, payload digests against the exported ones, registry entry
 * shapes); the committer then applies them in order in one transaction
 * (pt__import_run), checking that each event continues its chain. */
#define _GNU_SOURCE /* memmem */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/jparse.h"
#include "../core/sha.h"
#include "../core/validate.h"
#include "tracker_int.h"

/* ---- parsing, in the caller's thread ---------------------------------------- */

static pt_status line_fail(pt_error *err, size_t line, const char *field, const char *what) {
  pt_status rc = pt_fail(err, PT_EINVALID, NULL, "line %zu: %s%s%s", line, field ? field : "",
                         field ? ": " : "", what);
  if (err && field) snprintf(err->field, sizeof err->field, "%s", field);
  return rc;
}

static int is_hex64(const char *s) {
  if (!s || strlen(s) != 64) return 0;
  for (int i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

/* Numbers come parsed as doubles (I-JSON): whole, >= 0 and exact. */
static int get_i64(json_t *o, const char *k, int64_t *out) {
  json_t *v = json_object_get(o, k);
  if (!json_is_number(v)) return -1;
  double d = json_number_value(v);
  if (!(d >= 0 && d <= 9007199254740991.0) || d != (double)(int64_t)d) return -1;
  *out = (int64_t)d;
  return 0;
}

/* The members a client sent: what validation and the chain take. */
static const char *const CLIENT_MEMBERS[] = {"id", "session_id", "pipeline_type", "step", "status",
                                             "ts", "input",      "output",        "error"};
/* ... and with what the server added, every member a stored event has */
static const char *const STORED_MEMBERS[] = {
    "id",          "session_id",   "pipeline_type", "step",  "status",
    "ts",          "input",        "output",        "error", "seq",
    "received_at", "input_sha256", "output_sha256", "link",  "redacted",
    NULL};

static pt_status parse_event(pt_tracker *t, pt_defs *defs, json_t *ev, size_t line, pt__imrec *r,
                             pt_error *err) {
  if (!json_is_object(ev)) return line_fail(err, line, "event", "must be an object");
  json_t *client = json_object();
  if (!client) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  char bad[64];
  if (!pt_json_only_members(ev, STORED_MEMBERS, bad, sizeof bad)) {
    json_decref(client);
    char f[80];
    snprintf(f, sizeof f, "event.%s", bad);
    return line_fail(err, line, f, "is not a member of a stored event");
  }
  for (size_t i = 0; i < sizeof CLIENT_MEMBERS / sizeof *CLIENT_MEMBERS; i++) {
    json_t *v = json_object_get(ev, CLIENT_MEMBERS[i]);
    if (v) json_object_set(client, CLIENT_MEMBERS[i], v);
  }
  /* A redacted event has no payloads left: its digests are taken as
   * exported, and the link (recomputed below) still binds them. */
  json_t *red = json_object_get(ev, "redacted");
  int redacted = json_is_true(red);
  if (red && !json_is_boolean(red)) {
    json_decref(client);
    return line_fail(err, line, "event.redacted", "must be true or false");
  }
  if (redacted &&
      ((json_object_get(ev, "input") && !json_is_null(json_object_get(ev, "input"))) ||
       (json_object_get(ev, "output") && !json_is_null(json_object_get(ev, "output"))))) {
    json_decref(client);
    return line_fail(err, line, "event.redacted", "a redacted event's input and output are null");
  }
  char prefix[48];
  snprintf(prefix, sizeof prefix, "line %zu: event", line);
  pt_status rc = pt_validate_event(client, defs, pt__limits(t), pt__now(t), prefix, &r->ev, err);
  json_decref(client);
  if (rc) return rc;
  int64_t seq, received_at;
  const char *link = json_string_value(json_object_get(ev, "link"));
  const char *in_d = json_string_value(json_object_get(ev, "input_sha256"));
  const char *out_d = json_string_value(json_object_get(ev, "output_sha256"));
  if (!r->ev->id_given) return line_fail(err, line, "event.id", "is required");
  if (r->ev->ts < 0) return line_fail(err, line, "event.ts", "is required");
  if (get_i64(ev, "seq", &seq)) return line_fail(err, line, "event.seq", "must be an integer >= 0");
  if (get_i64(ev, "received_at", &received_at))
    return line_fail(err, line, "event.received_at", "must be an integer >= 0");
  if (!is_hex64(link)) return line_fail(err, line, "event.link", "must be 64 lowercase hex digits");
  if (redacted) {
    if (!is_hex64(in_d))
      return line_fail(err, line, "event.input_sha256", "must be 64 lowercase hex digits");
    if (!is_hex64(out_d))
      return line_fail(err, line, "event.output_sha256", "must be 64 lowercase hex digits");
    memcpy(r->ev->input_sha256, in_d, 65);
    memcpy(r->ev->output_sha256, out_d, 65);
    r->ev->redacted = 1;
  }
  if (!in_d || strcmp(in_d, r->ev->input_sha256) != 0)
    return line_fail(err, line, "event.input_sha256", "does not match the event's input");
  if (!out_d || strcmp(out_d, r->ev->output_sha256) != 0)
    return line_fail(err, line, "event.output_sha256", "does not match the event's output");
  r->ev->seq = seq;
  r->ev->received_at = received_at;
  memcpy(r->link, link, 65);
  r->kind = 1;
  return PT_OK;
}

static pt_status copy_str(char *dst, size_t cap, json_t *v, int nullable, size_t line,
                          const char *field, pt_error *err) {
  if (nullable && (!v || json_is_null(v))) {
    dst[0] = '\0';
    return PT_OK;
  }
  const char *s = json_string_value(v);
  if (!s || strlen(s) >= cap)
    return line_fail(err, line, field, "must be a string of the stored kind");
  memcpy(dst, s, strlen(s) + 1);
  return PT_OK;
}

/* The members of a snapshot line: the entry as exported, without its
 * event_ids (rebuilt from the events), with n. */
static const char *const SNAPSHOT_MEMBERS[] = {
    "id",          "session_id",    "pipeline_type", "n",     "chain_hash",
    "event_count", "last_event_id", "progress",      "state", "is_valid",
    "created_at",  "notes",         "signature",     NULL};

static pt_status parse_snapshot(json_t *o, size_t line, pt__imrec *r, pt_error *err) {
  if (!json_is_object(o)) return line_fail(err, line, "snapshot", "must be an object");
  char bad[64];
  if (!pt_json_only_members(o, SNAPSHOT_MEMBERS, bad, sizeof bad)) {
    char f[80];
    snprintf(f, sizeof f, "snapshot.%s", bad);
    return line_fail(err, line, f, "is not a member of an exported registry entry");
  }
  pt_snap *s = &r->snap;
  memset(s, 0, sizeof *s);
  pt_status rc;
  if ((rc = copy_str(s->id, sizeof s->id, json_object_get(o, "id"), 0, line, "snapshot.id", err)) ||
      (rc = copy_str(s->session_id, sizeof s->session_id, json_object_get(o, "session_id"), 0, line,
                     "snapshot.session_id", err)) ||
      (rc = copy_str(s->pipeline_type, sizeof s->pipeline_type, json_object_get(o, "pipeline_type"),
                     0, line, "snapshot.pipeline_type", err)) ||
      (rc = copy_str(s->chain_hash, sizeof s->chain_hash, json_object_get(o, "chain_hash"), 0, line,
                     "snapshot.chain_hash", err)) ||
      (rc = copy_str(s->last_event_id, sizeof s->last_event_id, json_object_get(o, "last_event_id"),
                     1, line, "snapshot.last_event_id", err)) ||
      (rc = copy_str(s->state, sizeof s->state, json_object_get(o, "state"), 0, line,
                     "snapshot.state", err)))
    return rc;
  if (!pt_is_id(s->session_id))
    return line_fail(err, line, "snapshot.session_id", "is not a session id");
  if (!is_hex64(s->chain_hash))
    return line_fail(err, line, "snapshot.chain_hash", "must be 64 lowercase hex digits");
  if (get_i64(o, "n", &s->n)) return line_fail(err, line, "snapshot.n", "must be an integer >= 0");
  if (get_i64(o, "event_count", &s->event_count))
    return line_fail(err, line, "snapshot.event_count", "must be an integer >= 0");
  if (get_i64(o, "created_at", &s->created_at))
    return line_fail(err, line, "snapshot.created_at", "must be an integer >= 0");
  json_t *p = json_object_get(o, "progress");
  int64_t c, tot, pc;
  if (!json_is_object(p) || get_i64(p, "completed", &c) || get_i64(p, "total", &tot) ||
      get_i64(p, "percent", &pc) || c > 100000 || tot > 100000 || pc > 100)
    return line_fail(err, line, "snapshot.progress", "must hold completed, total and percent");
  s->completed = (int)c;
  s->total = (int)tot;
  s->percent = (int)pc;
  json_t *valid = json_object_get(o, "is_valid");
  if (!json_is_boolean(valid))
    return line_fail(err, line, "snapshot.is_valid", "must be a boolean");
  s->is_valid = json_is_true(valid);
  json_t *notes = json_object_get(o, "notes"), *sig = json_object_get(o, "signature");
  if ((notes && !json_is_null(notes) && !json_is_string(notes)) ||
      (sig && !json_is_null(sig) && !json_is_string(sig)))
    return line_fail(err, line, "snapshot.notes", "notes and signature must be strings or null");
  if (json_is_string(notes) && !(s->notes = strdup(json_string_value(notes))))
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  if (json_is_string(sig) && !(s->signature = strdup(json_string_value(sig))))
    return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  r->kind = 2;
  return PT_OK;
}

static void free_recs(pt__imrec *recs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (!recs[i].adopted) pt_event_free(recs[i].ev);
    pt_snap_cleanup(&recs[i].snap);
    pt_issue_cleanup(&recs[i].issue);
  }
  free(recs);
}

/* The sample event's text as the export wrote it (the last member of the
 * issue, the last member of the line: `..."sample_event":{...}}}`), so it is
 * kept byte for byte; NULL when the line is not shaped so. */
static char *raw_sample(const char *s, size_t l) {
  static const char key[] = "\"sample_event\":";
  const char *at = NULL;
  for (const char *p = s; (p = memmem(p, l - (size_t)(p - s), key, sizeof key - 1)); p++) at = p;
  if (!at) return NULL;
  at += sizeof key - 1;
  const char *end = s + l;
  if (end - at < 3 || end[-1] != '}' || end[-2] != '}') return NULL;
  end -= 2;
  size_t n = (size_t)(end - at);
  char *out = malloc(n + 1);
  if (!out) return NULL;
  memcpy(out, at, n);
  out[n] = '\0';
  json_t *v;
  pt_error e;
  if (pt_parse_ijson(out, n, "sample_event", &v, &e) != PT_OK) {
    free(out);
    return NULL;
  }
  int object = json_is_object(v);
  json_decref(v);
  if (!object) {
    free(out);
    return NULL;
  }
  return out;
}

static pt_status parse_issue(json_t *o, size_t line, pt__imrec *r, const char *text, size_t len,
                             pt_error *err) {
  if (!json_is_object(o)) return line_fail(err, line, "issue", "must be an object");
  pt_issue *x = &r->issue;
  const char *type = json_string_value(json_object_get(o, "pipeline_type"));
  const char *step = json_string_value(json_object_get(o, "step"));
  const char *code = json_string_value(json_object_get(o, "code"));
  const char *id = json_string_value(json_object_get(o, "id"));
  const char *status = json_string_value(json_object_get(o, "status"));
  if (!type || !step || !code || !id || !status)
    return line_fail(err, line, "issue", "id, pipeline_type, step, code and status are required");
  /* the id and fingerprint must be what they are derived from */
  if (strcmp(code, "stalled") == 0 && strcmp(step, "*") == 0) {
    pt_issue_key(x, NULL, type);
  } else {
    char fp[PT_ISSUE_FP_MAX + 1];
    snprintf(fp, sizeof fp, "%s/%s/%s", type, step, code);
    memset(x, 0, sizeof *x);
    snprintf(x->pipeline_type, sizeof x->pipeline_type, "%s", type);
    snprintf(x->step, sizeof x->step, "%s", step);
    snprintf(x->code, sizeof x->code, "%s", code);
    snprintf(x->fingerprint, sizeof x->fingerprint, "%s", fp);
    char hex[65];
    pt_sha256_hex(fp, strlen(fp), hex);
    snprintf(x->id, sizeof x->id, "iss_%.24s", hex);
  }
  if (strcmp(x->id, id) != 0)
    return line_fail(err, line, "issue.id", "does not match its pipeline_type, step and code");
  x->open = strcmp(status, "open") == 0;
  if (!x->open && strcmp(status, "resolved") != 0)
    return line_fail(err, line, "issue.status", "must be open or resolved");
  if (get_i64(o, "count", &x->count) || get_i64(o, "sessions_affected", &x->sessions_affected) ||
      get_i64(o, "first_seen", &x->first_seen) || get_i64(o, "last_seen", &x->last_seen) ||
      get_i64(o, "reopened", &x->reopened))
    return line_fail(err, line, "issue",
                     "count, sessions_affected, first_seen, last_seen and reopened must be "
                     "integers >= 0");
  json_t *ra = json_object_get(o, "resolved_at");
  x->resolved_at = -1;
  if (ra && !json_is_null(ra) && get_i64(o, "resolved_at", &x->resolved_at))
    return line_fail(err, line, "issue.resolved_at", "must be an integer >= 0 or null");
  const char *last = json_string_value(json_object_get(o, "last_session_id"));
  snprintf(x->last_session_id, sizeof x->last_session_id, "%s", last ? last : "");
  json_t *sample = json_object_get(o, "sample_event");
  if (sample && !json_is_null(sample)) {
    if (!json_is_object(sample))
      return line_fail(err, line, "issue.sample_event", "must be an event object or null");
    x->sample_event = raw_sample(text, len);
    if (!x->sample_event) x->sample_event = json_dumps(sample, JSON_COMPACT);
    if (!x->sample_event) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  }
  r->kind = 3;
  return PT_OK;
}

static pt_status parse_issue_session(json_t *o, size_t line, pt__imrec *r, pt_error *err) {
  const char *iid = json_string_value(json_object_get(o, "issue_id"));
  const char *sid = json_string_value(json_object_get(o, "session_id"));
  if (!iid || strlen(iid) >= sizeof r->iid || strncmp(iid, "iss_", 4) != 0)
    return line_fail(err, line, "issue_id", "must be an issue id");
  if (!sid || !pt_is_id(sid)) return line_fail(err, line, "session_id", "must be a session id");
  if (get_i64(o, "first_seen", &r->ifirst) || get_i64(o, "last_seen", &r->ilast))
    return line_fail(err, line, "first_seen", "first_seen and last_seen must be integers >= 0");
  snprintf(r->iid, sizeof r->iid, "%s", iid);
  snprintf(r->isid, sizeof r->isid, "%s", sid);
  r->kind = 4;
  return PT_OK;
}

pt_status pt_import(pt_tracker *t, const char *text, size_t len, size_t first_line,
                    pt_import_result *res, pt_error *err) {
  memset(res, 0, sizeof *res);
  size_t cap = 64, n = 0;
  pt__imrec *recs = calloc(cap, sizeof *recs);
  if (!recs) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  pt_defs *defs = pt__defs(t);
  pt_status rc = PT_OK;
  size_t line = first_line ? first_line : 1;
  for (size_t at = 0; at < len && rc == PT_OK; line++) {
    const char *nl = memchr(text + at, '\n', len - at);
    size_t l = nl ? (size_t)(nl - (text + at)) : len - at;
    const char *s = text + at;
    at += l + (nl ? 1 : 0);
    while (l && (s[l - 1] == '\r' || s[l - 1] == ' ')) l--;
    if (l == 0) continue;
    char what[32];
    snprintf(what, sizeof what, "line %zu", line);
    json_t *v;
    if ((rc = pt_parse_ijson(s, l, what, &v, err))) break;
    const char *type = json_string_value(json_object_get(v, "type"));
    if (n == cap) {
      pt__imrec *nr = realloc(recs, 2 * cap * sizeof *nr);
      if (!nr) {
        json_decref(v);
        rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
        break;
      }
      memset(nr + cap, 0, cap * sizeof *nr);
      recs = nr;
      cap *= 2;
    }
    pt__imrec *r = &recs[n];
    r->line = line;
    if (type && strcmp(type, "pipetrack_export") == 0) {
      int64_t ver;
      if (get_i64(v, "version", &ver) || ver != 1)
        rc = line_fail(err, line, "version", "this build reads export version 1");
    } else if (type && strcmp(type, "event") == 0) {
      rc = parse_event(t, defs, json_object_get(v, "event"), line, r, err);
      if (r->kind) n++;
    } else if (type && strcmp(type, "issue") == 0) {
      rc = parse_issue(json_object_get(v, "issue"), line, r, s, l, err);
      if (r->kind == 3)
        n++;
      else
        pt_issue_cleanup(&r->issue);
    } else if (type && strcmp(type, "issue_session") == 0) {
      rc = parse_issue_session(v, line, r, err);
      if (r->kind == 4) n++;
    } else if (type && strcmp(type, "snapshot") == 0) {
      rc = parse_snapshot(json_object_get(v, "snapshot"), line, r, err);
      if (r->kind == 2)
        n++;
      else
        pt_snap_cleanup(&r->snap);
    } else {
      rc = line_fail(err, line, "type",
                     "must be pipetrack_export, event, snapshot, issue or issue_session");
    }
    if (rc && r->kind == 0) {
      pt_event_free(r->ev);
      r->ev = NULL;
    }
    json_decref(v);
  }
  pt_defs_unref(defs);
  if (rc == PT_OK && n) rc = pt__import_run(t, recs, n, res, err);
  free_recs(recs, n < cap ? n + 1 : n);
  return rc;
}

/* ---- applying, in the committer ------------------------------------------------ */

/* An import runs in a transaction of its own; a refusal rolls back only that
 * one and keeps its own error. */
typedef struct import_job {
  pt__job h;
  pt__imrec *recs;
  size_t nrecs;
  pt_import_result *ires;
  int refused;
} import_job;

/* Refuses an import: the transaction (the import's own) is rolled back. */
static pt_status import_refuse(import_job *j, const pt__imrec *r, pt_status code, const char *fmt,
                               ...) __attribute__((format(printf, 4, 5)));
static pt_status import_refuse(import_job *j, const pt__imrec *r, pt_status code, const char *fmt,
                               ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  pt_fail(&j->h.err, code, NULL, "line %zu: %s", r->line, msg);
  j->refused = 1;
  return code;
}

/* The id suffix of a registry entry of that session and millisecond:
 * reg_<sid>_<ms> is 0, reg_<sid>_<ms>_<N> is N; -1 when it is neither. */
static int snap_suffix(const pt_snap *s) {
  char base[PT_ID_MAX + 64];
  int n = snprintf(base, sizeof base, "reg_%s_%" PRId64, s->session_id, s->created_at);
  if (n < 0 || (size_t)n >= sizeof base || strncmp(s->id, base, (size_t)n) != 0) return -1;
  const char *rest = s->id + n;
  if (!*rest) return 0;
  if (*rest != '_' || !rest[1]) return -1;
  char *end;
  long v = strtol(rest + 1, &end, 10);
  return *end || v <= 0 || v > 1000000000L ? -1 : (int)v;
}

/* PT_OK when entry s's chain_hash and last_event_id are those of its
 * session's chain at s->event_count; else the refusal (or a store error). */
static pt_status entry_matches_chain(pt_store *st, import_job *j, pt__imrec *r, const pt_snap *s,
                                     pt_error *err) {
  char want[65];
  int ok;
  if (s->event_count == 0) {
    pt_chain_hash(s->session_id, PT_GENESIS, want);
    ok = s->last_event_id[0] == '\0';
  } else {
    pt_event *e = NULL;
    pt_status rc = s->last_event_id[0]
                       ? pt_store_event_find(st, s->session_id, s->last_event_id, &e, err)
                       : PT_ENOTFOUND;
    if (rc && rc != PT_ENOTFOUND) return rc;
    ok = e && e->seq == s->event_count - 1;
    if (ok) pt_chain_hash(s->session_id, e->link, want);
    pt_event_free(e);
    if (!ok)
      return import_refuse(j, r, PT_EINVALID,
                           "registry entry \"%s\": last_event_id is not event %lld of its "
                           "session: the export was altered",
                           s->id, (long long)(s->event_count - 1));
  }
  if (!ok || strcmp(want, s->chain_hash) != 0)
    return import_refuse(j, r, PT_EINVALID,
                         "registry entry \"%s\": chain_hash is not the chain's at its %lld "
                         "events: the export was altered",
                         s->id, (long long)s->event_count);
  return PT_OK;
}

pt_status pt__import_apply(pt__tx *x, pt__job *h) {
  import_job *j = PT__JOB_AS(import_job, h);
  pt_store *st = x->t->store;
  for (size_t i = 0; i < j->nrecs; i++) {
    pt__imrec *r = &j->recs[i];
    pt__txsess *ts;
    pt_status rc;
    if (r->kind == 3) {
      /* the issue as it was in the source (after its failures, re-counted
       * above from the events, it is overwritten with the exported state) */
      if ((rc = pt_store_issue_put(st, &r->issue, 0, &h->err))) return rc;
      j->ires->issues_imported++;
      continue;
    }
    if (r->kind == 4) {
      pt_issue got;
      rc = pt_store_issue_get(st, r->iid, &got, &h->err);
      pt_issue_cleanup(&got);
      if (rc == PT_ENOTFOUND)
        return import_refuse(j, r, PT_EINVALID,
                             "issue_session of issue \"%s\" comes before the issue", r->iid);
      if (rc) return rc;
      int fresh;
      if ((rc = pt_store_issue_session_add(st, r->iid, r->isid, r->ifirst, &fresh, &h->err)) ||
          (rc = pt_store_issue_session_add(st, r->iid, r->isid, r->ilast, &fresh, &h->err)))
        return rc;
      continue;
    }
    if (r->kind == 1) {
      pt_event *e = r->ev;
      if ((rc = pt__tx_session(x, e->session_id, e->pipeline_type, &ts, &h->err))) return rc;
      if (ts->exists && strcmp(ts->s.pipeline_type, e->pipeline_type) != 0)
        return import_refuse(j, r, PT_ESESSION_CONFLICT, "session \"%s\" is a \"%s\" session here",
                             e->session_id, ts->s.pipeline_type);
      if (e->seq < ts->s.event_count) {
        pt_event *found = NULL;
        rc = pt_store_event_find(st, e->session_id, e->id, &found, &h->err);
        if (rc && rc != PT_ENOTFOUND) return rc;
        int same = found && found->seq == e->seq && strcmp(found->link, r->link) == 0;
        /* redacted where it came from: redacted here too */
        int redact = same && e->redacted && !found->redacted;
        pt_event_free(found);
        if (!same)
          return import_refuse(j, r, PT_EEVENT_ID_CONFLICT,
                               "event \"%s\" (seq %lld) differs from the stored session's event",
                               e->id, (long long)e->seq);
        if (redact) {
          if ((rc = pt_store_event_redact(st, e->session_id, e->seq, &h->err))) return rc;
          h->needs_scrub = 1;
        }
        j->ires->events_skipped++;
        continue;
      }
      if (e->seq > ts->s.event_count)
        return import_refuse(j, r, PT_EINVALID,
                             "event seq %lld of session \"%s\" leaves a gap: the session has "
                             "%lld events",
                             (long long)e->seq, e->session_id, (long long)ts->s.event_count);
      pt_chain_link(ts->s.event_count ? ts->s.last_link : PT_GENESIS, e, e->link);
      if (strcmp(e->link, r->link) != 0)
        return import_refuse(j, r, PT_EINVALID,
                             "the link of event \"%s\" (seq %lld) does not follow the chain: the "
                             "export was altered",
                             e->id, (long long)e->seq);
      if ((rc = pt_store_event_put(st, e, &r->adopted, &h->err))) return rc;
      if ((rc = pt__tx_apply(x, ts, e, &h->err))) return rc;
      ts->exists = ts->dirty = 1;
      /* issues are derived from the failures: counted here as when tracked */
      /* (not announced: an import replays history, it is not news) */
      if (e->status == PT_FAILURE && (rc = pt__record_failure(x, e, 0, &h->err))) return rc;
      j->ires->events_added++;
    } else {
      pt_snap *s = &r->snap;
      if ((rc = pt__tx_session(x, s->session_id, NULL, &ts, &h->err))) return rc;
      if (!ts->exists || strcmp(ts->s.pipeline_type, s->pipeline_type) != 0)
        return import_refuse(j, r, PT_EINVALID,
                             "registry entry \"%s\" comes before its session's events", s->id);
      if (s->n < ts->s.snapshot_count) {
        j->ires->snapshots_skipped++;
        continue;
      }
      int suffix = snap_suffix(s);
      if (suffix < 0)
        return import_refuse(j, r, PT_EINVALID,
                             "registry entry \"%s\": the id is not reg_<session_id>_<created_at> "
                             "(created_at %lld), with _N for more in one millisecond",
                             s->id, (long long)s->created_at);
      if (s->event_count > ts->s.event_count)
        return import_refuse(j, r, PT_EINVALID,
                             "registry entry \"%s\" covers %lld events: its session has %lld "
                             "before it",
                             s->id, (long long)s->event_count, (long long)ts->s.event_count);
      if (s->n > ts->s.snapshot_count)
        return import_refuse(j, r, PT_EINVALID,
                             "registry entry \"%s\" (n %lld) does not follow the session's "
                             "registry (%lld entries)",
                             s->id, (long long)s->n, (long long)ts->s.snapshot_count);
      /* the entry names the chain at its event count: recomputed from the
       * events (stored, or imported just before), so an altered entry is
       * refused here, not found later by verify */
      if ((rc = entry_matches_chain(st, j, r, s, &h->err))) return rc;
      if ((rc = pt_store_snapshot_put(st, s, &h->err))) return rc;
      if (s->created_at > ts->s.snap_ms ||
          (s->created_at == ts->s.snap_ms && suffix > ts->s.snap_suffix)) {
        ts->s.snap_ms = s->created_at;
        ts->s.snap_suffix = suffix;
      }
      ts->s.snapshot_count++;
      ts->dirty = 1;
      j->ires->snapshots_added++;
    }
  }
  return PT_OK;
}

/* The import's own transaction rolled back: its refusal, or the failure. */
void pt__import_rolled_back(pt__job *h, pt_status rc, const pt_error *err) {
  import_job *j = PT__JOB_AS(import_job, h);
  for (size_t i = 0; i < j->nrecs; i++) j->recs[i].adopted = 0; /* handed back */
  memset(j->ires, 0, sizeof *j->ires);
  if (!j->refused) {
    h->err.code = h->result = rc;
    if (!h->err.message[0]) h->err = *err;
    h->err.code = rc;
  } else {
    h->result = h->err.code;
  }
}

pt_status pt__import_run(pt_tracker *t, pt__imrec *recs, size_t n, pt_import_result *res,
                         pt_error *err) {
  import_job j = {.recs = recs, .nrecs = n, .ires = res};
  pt__job_init(&j.h, PT__JOB_IMPORT, t);
  pt_status rc = pt__job_run(t, &j.h, err);
  pt_defs_unref(j.h.defs);
  return rc;
}

/* Every session an import added to, once each run of its records, and the
 * issues it took over as one change (they are not named one by one). */
void pt__import_publish(pt_tracker *t, pt__job *h) {
  import_job *j = PT__JOB_AS(import_job, h);
  const char *last = NULL;
  int issues = 0;
  for (size_t i = 0; i < j->nrecs; i++) {
    const pt__imrec *r = &j->recs[i];
    const char *sid = r->kind == 1 && r->ev ? r->ev->session_id
                      : r->kind == 2        ? r->snap.session_id
                                            : NULL;
    issues |= r->kind == 3;
    if (!sid || (last && strcmp(last, sid) == 0)) continue;
    pt_change c = {.kind = PT_CHANGE_SESSION, .session_id = sid};
    pt__publish(t, &c);
    last = sid;
  }
  if (issues) {
    pt_change c = {.kind = PT_CHANGE_ISSUES};
    pt__publish(t, &c);
  }
}

void pt__import_keys(pt__job *h, pt__keys *k) {
  import_job *j = PT__JOB_AS(import_job, h);
  for (size_t i = 0; i < j->nrecs; i++) {
    const pt__imrec *r = &j->recs[i];
    if (r->kind == 1 && r->ev) {
      pt__keys_session(k, r->ev->session_id);
      pt__keys_event(k, r->ev->session_id, r->ev->id);
    } else if (r->kind == 2) {
      pt__keys_session(k, r->snap.session_id);
    } else if (r->kind == 3) {
      pt__keys_issue(k, r->issue.id);
    } else if (r->kind == 4) {
      pt__keys_issue(k, r->iid);
    }
  }
}

void pt__import_reset(pt__job *h) {
  import_job *j = PT__JOB_AS(import_job, h);
  memset(j->ires, 0, sizeof *j->ires);
  j->refused = 0;
  /* after a rollback the events the store had adopted are the job's again */
  for (size_t i = 0; i < j->nrecs; i++) j->recs[i].adopted = 0;
}
