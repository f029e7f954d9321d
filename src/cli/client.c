/* client.c - the two ways to a store (see client.h). The db side maps the
 * API's requests onto library calls and the library's errors onto the
 * statuses the server would answer, so the tool's commands and their exit
 * codes do not depend on the mode. */
#include "client.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/jparse.h"
#include "core/validate.h"
#include "lib/internal.h"

struct ptc_client {
  CURL *curl;    /* server mode */
  char *base;    /* "http://host:port" without a trailing slash */
  char *auth;    /* "Authorization: Bearer …" or NULL */
  pt_tracker *t; /* db mode */
};

ptc_client *ptc_open(const char *server, const char *db, const char *token, const char *key_pem,
                     char *why,
                     size_t whylen) {
  ptc_client *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(why, whylen, "out of memory");
    return NULL;
  }
  if (server) {
    if (strncmp(server, "http://", 7) != 0 && strncmp(server, "https://", 8) != 0) {
      snprintf(why, whylen, "--server: must be an http:// or https:// URL, got \"%s\"", server);
      free(c);
      return NULL;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c->curl = curl_easy_init();
    c->base = strdup(server);
    if (c->base) {
      size_t n = strlen(c->base);
      while (n && c->base[n - 1] == '/') c->base[--n] = '\0';
    }
    if (token) {
      size_t n = strlen(token) + 32;
      c->auth = malloc(n);
      if (c->auth) snprintf(c->auth, n, "Authorization: Bearer %s", token);
    }
    if (!c->curl || !c->base || (token && !c->auth)) {
      snprintf(why, whylen, "cannot start the HTTP client");
      ptc_close(c);
      return NULL;
    }
    return c;
  }
  pt_options o = {.db_url = db, .signing_key_pem = key_pem};
  pt_error err;
  if (pt_open(&o, &c->t, &err) != PT_OK) {
    snprintf(why, whylen, "--db %s: %s", db ? db : "(default)", err.message);
    free(c);
    return NULL;
  }
  return c;
}

void ptc_close(ptc_client *c) {
  if (!c) return;
  if (c->curl) {
    curl_easy_cleanup(c->curl);
    curl_global_cleanup();
  }
  free(c->base);
  free(c->auth);
  pt_close(c->t);
  free(c);
}

void ptc_escape(const char *s, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (; *s && o + 4 < cap; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out[o++] = (char)ch;
    } else {
      out[o++] = '%';
      out[o++] = hex[ch >> 4];
      out[o++] = hex[ch & 15];
    }
  }
  out[o] = '\0';
}

/* ---- server mode --------------------------------------------------------------- */

static size_t to_buf(char *p, size_t size, size_t n, void *ctx) {
  pt_buf_put(ctx, p, size * n);
  return size * n;
}

static int http_call(ptc_client *c, const char *method, const char *path, const char *body,
                     size_t len, int *status, char **out) {
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_buf_printf(&b, "%s%s", c->base, path);
  char *url = pt_buf_take(&b);
  pt_buf resp;
  pt_buf_init(&resp, 0);
  struct curl_slist *h = NULL;
  if (c->auth) h = curl_slist_append(h, c->auth);
  int lines = strstr(path, "/import") != NULL;
  if (body)
    h = curl_slist_append(
        h, lines ? "Content-Type: application/x-ndjson" : "Content-Type: application/json");
  h = curl_slist_append(h, "Expect:");
  CURL *k = c->curl;
  curl_easy_reset(k);
  curl_easy_setopt(k, CURLOPT_URL, url);
  curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, to_buf);
  curl_easy_setopt(k, CURLOPT_WRITEDATA, &resp);
  curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT, 10L);
  if (strcmp(method, "POST") == 0) {
    curl_easy_setopt(k, CURLOPT_POST, 1L);
    curl_easy_setopt(k, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
  }
  CURLcode rc = curl_easy_perform(k);
  curl_slist_free_all(h);
  free(url);
  if (rc != CURLE_OK) {
    pt_buf_cleanup(&resp);
    pt_buf e;
    pt_buf_init(&e, 0);
    pt_buf_printf(&e, "%s: %s", c->base, curl_easy_strerror(rc));
    *out = pt_buf_take(&e);
    return -1;
  }
  long code = 0;
  curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &code);
  *status = (int)code;
  pt_buf_putc(&resp, '\0');
  resp.len--;
  *out = pt_buf_take(&resp);
  if (!*out) *out = strdup("");
  return 0;
}

typedef struct streamer {
  FILE *f;
  long long lines;
  void (*progress)(long long);
  long long shown;
  int status_ok;
  pt_buf err; /* the body of an error answer */
  CURL *k;
} streamer;

static size_t to_file(char *p, size_t size, size_t n, void *ctx) {
  streamer *s = ctx;
  size_t len = size * n;
  if (!s->status_ok) {
    long code = 0;
    curl_easy_getinfo(s->k, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
      pt_buf_put(&s->err, p, len);
      return len;
    }
    s->status_ok = 1;
  }
  for (size_t i = 0; i < len; i++) s->lines += p[i] == '\n';
  if (s->progress && s->lines - s->shown >= 10000) {
    s->progress(s->lines);
    s->shown = s->lines;
  }
  return fwrite(p, 1, len, s->f) == len ? len : 0;
}

int ptc_export(ptc_client *c, const char *session_id, FILE *f, long long *lines,
               void (*progress)(long long), char *why, size_t whylen) {
  *lines = 0;
  if (c->t) {
    pt_export *x;
    pt_error err;
    if (pt_export_open(c->t, session_id, &x, &err) != PT_OK) {
      snprintf(why, whylen, "%s", err.message);
      return -1;
    }
    const char *chunk;
    size_t n;
    long long shown = 0;
    int rc = 0;
    for (;;) {
      if (pt_export_next(x, &chunk, &n, &err) != PT_OK) {
        snprintf(why, whylen, "%s", err.message);
        rc = -1;
        break;
      }
      if (!n) break;
      for (size_t i = 0; i < n; i++) *lines += chunk[i] == '\n';
      if (fwrite(chunk, 1, n, f) != n) {
        snprintf(why, whylen, "cannot write the export");
        rc = -1;
        break;
      }
      if (progress && *lines - shown >= 10000) {
        progress(*lines);
        shown = *lines;
      }
    }
    pt_export_close(x);
    return rc;
  }
  char q[3 * PT_ID_MAX + 32] = "";
  if (session_id) {
    char e[3 * PT_ID_MAX + 1];
    ptc_escape(session_id, e, sizeof e);
    snprintf(q, sizeof q, "?session_id=%s", e);
  }
  char url[4096];
  snprintf(url, sizeof url, "%s/api/pipeline/export%s", c->base, q);
  streamer s = {f, 0, progress, 0, 0, {0}, c->curl};
  pt_buf_init(&s.err, 4096);
  struct curl_slist *h = NULL;
  if (c->auth) h = curl_slist_append(h, c->auth);
  curl_easy_reset(c->curl);
  curl_easy_setopt(c->curl, CURLOPT_URL, url);
  curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, to_file);
  curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(c->curl);
  curl_slist_free_all(h);
  long code = 0;
  curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
  *lines = s.lines;
  int ret = 0;
  if (rc != CURLE_OK) {
    snprintf(why, whylen, "%s: %s", c->base, curl_easy_strerror(rc));
    ret = -1;
  } else if (code != 200) {
    snprintf(why, whylen, "the server answered %ld: %.*s", code, (int)s.err.len,
             s.err.data ? s.err.data : "");
    ret = -1;
  }
  pt_buf_cleanup(&s.err);
  return ret;
}

/* ---- db mode: the API's requests on the library ------------------------------- */

static const char *param(const char *query, const char *name, char *out, size_t cap) {
  size_t n = strlen(name);
  for (const char *p = query; p && *p;) {
    if (strncmp(p, name, n) == 0 && p[n] == '=') {
      p += n + 1;
      size_t o = 0;
      while (*p && *p != '&' && o + 1 < cap) {
        if (*p == '%' && p[1] && p[2]) {
          char hx[3] = {p[1], p[2], 0};
          out[o++] = (char)strtol(hx, NULL, 16);
          p += 3;
        } else {
          out[o++] = *p == '+' ? ' ' : *p;
          p++;
        }
      }
      out[o] = '\0';
      return out;
    }
    p = strchr(p, '&');
    if (p) p++;
  }
  return NULL;
}

static unsigned status_of(pt_status s) {
  return pt_http_status(s);
}

static char *error_doc(const pt_error *e) {
  return pt_error_json(pt_err_name(e->code), e->message, e->field);
}

static int done(pt_status rc, char *doc, const pt_error *err, unsigned ok, int *status,
                char **out) {
  if (rc == PT_OK) {
    *status = (int)ok;
    *out = doc;
  } else {
    *status = (int)status_of(rc);
    *out = error_doc(err);
  }
  return 0;
}

/* Parsed and tracked as pipetrackd does (the same I-JSON parser and the
 * same entry point), so both modes accept and refuse the same bodies. */
static int db_track(ptc_client *c, const char *body, size_t len, int batch, int *status,
                    char **out) {
  pt_error err;
  json_t *doc;
  pt_status rc = pt_parse_ijson(body, len, "body", &doc, &err);
  if (rc != PT_OK) return done(rc, NULL, &err, 0, status, out);
  json_t *ev = json_object_get(doc, batch ? "events" : "event");
  json_t *as = json_object_get(doc, "auto_snapshot");
  if (!ev || (batch && !json_is_array(ev))) {
    json_decref(doc);
    pt_error e = {PT_EINVALID, "", ""};
    snprintf(e.field, sizeof e.field, "%s", batch ? "events" : "event");
    snprintf(e.message, sizeof e.message, "%s: is required", e.field);
    return done(PT_EINVALID, NULL, &e, 0, status, out);
  }
  int snap = json_is_boolean(as) ? json_is_true(as) : PT_SNAPSHOT_DEFAULT;
  size_t n = batch ? json_array_size(ev) : 1;
  const json_t **items = malloc((n ? n : 1) * sizeof *items);
  if (!items) {
    json_decref(doc);
    return -1;
  }
  for (size_t i = 0; i < n; i++) items[i] = batch ? json_array_get(ev, i) : ev;
  pt_batch_result *br = NULL;
  rc = pt__track_values(c->t, items, n, snap, batch ? NULL : "event", &br, &err);
  free(items);
  json_decref(doc);
  if (rc != PT_OK) return done(rc, NULL, &err, 0, status, out);
  pt_buf b;
  pt_buf_init(&b, 0);
  if (!batch) {
    pt_batch_item *it = &br->items[0];
    if (it->status != PT_OK) {
      pt_error e = it->error;
      pt_batch_result_free(br);
      return done(e.code ? e.code : it->status, NULL, &e, 0, status, out);
    }
    pt_track_result *r = it->result;
    pt_buf_printf(&b, "{\"event\":%s,\"snapshot\":%s,\"receipt\":", r->event_json,
                  r->snapshot_json ? r->snapshot_json : "null");
    pt_buf_json_cstr(&b, r->receipt[0] ? r->receipt : NULL);
    pt_buf_printf(&b, ",\"replayed\":%s}", r->replayed ? "true" : "false");
    *status = r->replayed ? 200 : 201;
  } else {
    pt_buf_puts(&b, "{\"results\":[");
    for (size_t i = 0; i < br->count; i++) {
      pt_batch_item *it = &br->items[i];
      if (i) pt_buf_putc(&b, ',');
      if (it->status == PT_OK) {
        pt_buf_printf(&b, "{\"status\":%d,\"event\":%s,\"snapshot\":%s,\"replayed\":%s}",
                      it->result->replayed ? 200 : 201, it->result->event_json,
                      it->result->snapshot_json ? it->result->snapshot_json : "null",
                      it->result->replayed ? "true" : "false");
      } else {
        char *e = error_doc(&it->error);
        pt_buf_printf(&b, "{\"status\":%u,%.*s}", status_of(it->status), e ? (int)strlen(e) - 2 : 0,
                      e ? e + 1 : "");
        free(e);
      }
    }
    pt_buf_puts(&b, "]}");
    *status = 200;
  }
  pt_batch_result_free(br);
  *out = pt_buf_take(&b);
  return *out ? 0 : -1;
}

static int db_call(ptc_client *c, const char *method, const char *path, const char *body,
                   size_t len, int *status, char **out) {
  const char *q = strchr(path, '?');
  size_t plen = q ? (size_t)(q - path) : strlen(path);
  if (q) q++;
  char sid[PT_ID_MAX * 3 + 1], a[256], b2[256], cur[512];
  const char *s = param(q, "session_id", sid, sizeof sid);
  pt_error err;
  memset(&err, 0, sizeof err);
  char *doc = NULL;
  pt_status rc;
#define IS(p) (plen == strlen(p) && strncmp(path, p, plen) == 0)
  if (IS("/api/pipeline/track") && strcmp(method, "POST") == 0)
    return db_track(c, body, len, 0, status, out);
  if (IS("/api/pipeline/track/batch")) return db_track(c, body, len, 1, status, out);
  if (IS("/api/pipeline/status")) {
    const char *ev = param(q, "events_limit", a, sizeof a),
               *hl = param(q, "history_limit", b2, sizeof b2);
    char pt[80];
    rc = pt_status_summary(c->t, s, param(q, "pipeline_type", pt, sizeof pt), ev ? atoi(ev) : 0,
                           hl ? atoi(hl) : 0, &doc, &err);
    return done(rc, doc, &err, 200, status, out);
  }
  if (IS("/api/pipeline/snapshot")) {
    json_t *d = NULL;
    if (pt_jparse_tree(body, len, 0, &d, NULL) != 0) d = NULL;
    rc = pt_snapshot(c->t, json_string_value(json_object_get(d, "session_id")),
                     json_string_value(json_object_get(d, "pipeline_type")),
                     json_string_value(json_object_get(d, "notes")), &doc, &err);
    json_decref(d);
    return done(rc, doc, &err, 201, status, out);
  }
  if (IS("/api/pipeline/pubkey")) {
    rc = pt_pubkey(c->t, &doc, &err);
    return done(rc, doc, &err, 200, status, out);
  }
  if (IS("/api/pipeline/redact")) {
    json_t *d = NULL;
    if (pt_jparse_tree(body, len, 0, &d, NULL) != 0) d = NULL;
    json_t *ids = json_object_get(d, "event_ids");
    size_t n = json_array_size(ids);
    const char **list = n ? calloc(n, sizeof *list) : NULL;
    for (size_t i = 0; list && i < n; i++) list[i] = json_string_value(json_array_get(ids, i));
    /* who: this tool on this machine's account, and the name given */
    pt_buf who;
    pt_buf_init(&who, 0);
    const char *user = getenv("USER");
    pt_buf_printf(&who, "the pipetrack tool (user %s)", user && *user ? user : "?");
    const char *actor = json_string_value(json_object_get(d, "actor"));
    if (actor) {
      pt_buf_puts(&who, " as ");
      pt_buf_json_cstr(&who, actor);
    }
    rc = n && !list ? pt_fail(&err, PT_ENOMEM, NULL, "out of memory")
                    : pt_redact(c->t, json_string_value(json_object_get(d, "session_id")), list, n,
                                pt_buf_cstr(&who), &doc, &err);
    free(list);
    pt_buf_cleanup(&who);
    json_decref(d);
    return done(rc, doc, &err, 200, status, out);
  }
  if (IS("/api/pipeline/registry")) {
    const char *l = param(q, "limit", a, sizeof a);
    rc = pt_history(c->t, s, l ? atoi(l) : 0, param(q, "cursor", cur, sizeof cur), &doc, &err);
    return done(rc, doc, &err, 200, status, out);
  }
  if (IS("/api/pipeline/checksum")) {
    rc = pt_checksum(c->t, s, &doc, &err);
    return done(rc, doc, &err, 200, status, out);
  }
  if (IS("/api/pipeline/report")) {
    const char *f = param(q, "format", a, sizeof a);
    rc = pt_report(c->t, s, f && strcmp(f, "markdown") == 0 ? PT_FORMAT_MARKDOWN : PT_FORMAT_JSON,
                   &doc, &err);
    return done(rc, doc, &err, 200, status, out);
  }
  if (IS("/api/pipeline/verify")) {
    int ok;
    rc = pt_verify(c->t, s, &ok, &doc, &err);
    return done(rc, doc, &err, 200, status, out);
  }
  if (IS("/api/pipeline/sessions")) {
    char pt[80], st[40];
    const char *l = param(q, "limit", a, sizeof a);
    rc = pt_sessions(c->t, param(q, "pipeline_type", pt, sizeof pt),
                     param(q, "state", st, sizeof st), l ? atoi(l) : 0,
                     param(q, "cursor", cur, sizeof cur), &doc, &err);
    return done(rc, doc, &err, 200, status, out);
  }
  if (IS("/api/pipeline/issues")) {
    char st[40], pt[80];
    const char *l = param(q, "limit", a, sizeof a);
    rc =
        pt_issues(c->t, param(q, "status", st, sizeof st), param(q, "pipeline_type", pt, sizeof pt),
                  l ? atoi(l) : 0, param(q, "cursor", cur, sizeof cur), &doc, &err);
    return done(rc, doc, &err, 200, status, out);
  }
  if (plen > 21 && strncmp(path, "/api/pipeline/issues/", 21) == 0) {
    char id[64];
    size_t n = plen - 21;
    int resolve = n > 8 && strncmp(path + plen - 8, "/resolve", 8) == 0;
    if (resolve) n -= 8;
    snprintf(id, sizeof id, "%.*s", (int)(n < 63 ? n : 63), path + 21);
    rc = resolve ? pt_issue_resolve(c->t, id, &doc, &err) : pt_issue_get(c->t, id, &doc, &err);
    return done(rc, doc, &err, 200, status, out);
  }
  if (IS("/api/pipeline/import")) {
    const char *fl = param(q, "first_line", a, sizeof a);
    pt_import_result res;
    rc = pt_import(c->t, body, len, fl ? strtoull(fl, NULL, 10) : 1, &res, &err);
    if (rc == PT_OK) {
      pt_buf o;
      pt_buf_init(&o, 0);
      pt_buf_printf(&o,
                    "{\"events_added\":%lld,\"events_skipped\":%lld,\"snapshots_added\":%lld,"
                    "\"snapshots_skipped\":%lld,\"issues_imported\":%lld}",
                    (long long)res.events_added, (long long)res.events_skipped,
                    (long long)res.snapshots_added, (long long)res.snapshots_skipped,
                    (long long)res.issues_imported);
      doc = pt_buf_take(&o);
    }
    return done(rc, doc, &err, 200, status, out);
  }
#undef IS
  pt_error e = {PT_ENOTFOUND, "no such request in --db mode", ""};
  return done(PT_ENOTFOUND, NULL, &e, 0, status, out);
}

int ptc_call(ptc_client *c, const char *method, const char *path, const char *body, size_t len,
             int *status, char **out) {
  *out = NULL;
  int rc = c->t ? db_call(c, method, path, body, len, status, out)
                : http_call(c, method, path, body, len, status, out);
  if (rc == 0 && !*out) {
    *out = strdup("{\"error\":{\"code\":\"out_of_memory\",\"message\":\"out of memory\"}}");
    *status = 503;
  }
  return rc;
}
