/* client.c - the tool's two transports (see client.h): HTTP with libcurl to
 * a server, and the library's request layer in-process (pt_api_call_url),
 * which is exactly what a server answers with. */
#include "client.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "pipetrack.h"

/* A cap on an answer held in memory: far above any answer's size (a status
 * summary of 1,000 events of 64 KiB payloads each), far below a runaway. */
#define ANSWER_MAX ((size_t)256 << 20)

struct ptc_client {
  CURL *curl;    /* server mode */
  char *base;    /* "http://host:port" without a trailing slash */
  char *auth;    /* "Authorization: Bearer …" or NULL */
  pt_tracker *t; /* db mode */
  char *actor;   /* who redacts in db mode */
};

/* printf into new memory (free), or NULL when out of memory. */
static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *s = n < 0 ? NULL : malloc((size_t)n + 1);
  if (!s) return NULL;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

ptc_client *ptc_open(const char *server, const char *db, const char *token, const char *key_pem,
                     char *why, size_t whylen) {
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
    if (token) c->auth = format("Authorization: Bearer %s", token);
    if (!c->curl || !c->base || (token && !c->auth)) {
      snprintf(why, whylen, "cannot start the HTTP client");
      ptc_close(c);
      return NULL;
    }
    return c;
  }
  /* who redacts: this tool on this machine's account (a name given with
   * --actor is added by the request layer) */
  const char *user = getenv("USER");
  c->actor = format("the pipetrack tool (user %s)", user && *user ? user : "?");
  pt_options o = {.db_url = db, .signing_key_pem = key_pem};
  pt_error err;
  if (!c->actor) {
    snprintf(why, whylen, "out of memory");
    free(c);
    return NULL;
  }
  if (pt_open(&o, &c->t, &err) != PT_OK) {
    char shown[512];
    pt_db_url_display(db ? db : "(default)", shown, sizeof shown);
    snprintf(why, whylen, "--db %s: %s", shown, err.message);
    free(c->actor);
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
  free(c->actor);
  pt_close(c->t);
  free(c);
}

/* ---- server mode --------------------------------------------------------------- */

/* The Content-Type a route's body must have (its row of the API's table), or
 * NULL when it takes none. */
static const char *body_type(const char *method, const char *target) {
  char path[512], param[64];
  size_t n = strcspn(target, "?"), count;
  if (n >= sizeof path) return NULL;
  memcpy(path, target, n);
  path[n] = '\0';
  const pt_route *routes = pt_api_routes(&count);
  int i = pt_api_route_find(method, path, param, NULL);
  return i >= 0 ? routes[i].body_type : NULL;
}

/* One request on the connection, the answer's bytes handed to write(ctx). */
static CURLcode perform(ptc_client *c, const char *method, const char *target, const char *body,
                        size_t len, curl_write_callback write, void *ctx) {
  const char *type = body ? body_type(method, target) : NULL;
  char *url = format("%s%s", c->base, target);
  char *content = type ? format("Content-Type: %s", type) : NULL;
  struct curl_slist *h = curl_slist_append(NULL, "Expect:");
  if (h && c->auth) h = curl_slist_append(h, c->auth);
  if (h && content) h = curl_slist_append(h, content);
  CURLcode rc = CURLE_OUT_OF_MEMORY;
  if (url && h && (content || !type)) {
    CURL *k = c->curl;
    curl_easy_reset(k);
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, write);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, ctx);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT, 10L);
    if (strcmp(method, "POST") == 0) {
      curl_easy_setopt(k, CURLOPT_POST, 1L);
      curl_easy_setopt(k, CURLOPT_POSTFIELDS, body ? body : "");
      curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
    }
    rc = curl_easy_perform(k);
  }
  curl_slist_free_all(h);
  free(content);
  free(url);
  return rc;
}

/* An answer's text as it arrives, in memory up to ANSWER_MAX. */
typedef struct answer_text {
  FILE *f; /* open_memstream */
  size_t len;
  int over;
} answer_text;

static size_t to_text(char *p, size_t size, size_t n, void *ctx) {
  answer_text *t = ctx;
  size_t len = size * n;
  if (t->len + len > ANSWER_MAX) {
    t->over = 1;
    return 0; /* curl ends the transfer */
  }
  t->len += len;
  return fwrite(p, 1, len, t->f);
}

/* A transfer's failure as one line: the server, and why. */
static char *transfer_failed(ptc_client *c, CURLcode rc, int over) {
  if (over) return format("%s: the answer is larger than %zu MiB", c->base, ANSWER_MAX >> 20);
  return format("%s: %s", c->base, curl_easy_strerror(rc));
}

static int http_send(ptc_client *c, const char *method, const char *target, const char *body,
                     size_t len, int *status, char **out) {
  char *data = NULL;
  size_t size = 0;
  answer_text t = {open_memstream(&data, &size), 0, 0};
  if (!t.f) return -1;
  CURLcode rc = perform(c, method, target, body, len, to_text, &t);
  int failed = fclose(t.f) != 0;
  if (rc != CURLE_OK || failed) {
    free(data);
    *out = failed ? NULL : transfer_failed(c, rc, t.over);
    return -1;
  }
  long code = 0;
  curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
  *status = (int)code;
  *out = data;
  return 0;
}

/* ---- db mode: the request layer in-process ------------------------------------- */

/* The answer's body as NUL-terminated text (free), "" for none. */
static char *body_text(const pt_answer *a) {
  char *s = malloc(a->len + 1);
  if (!s) return NULL;
  if (a->len) memcpy(s, a->body, a->len);
  s[a->len] = '\0';
  return s;
}

static int db_send(ptc_client *c, const char *method, const char *target, const char *body,
                   size_t len, int *status, char **out) {
  pt_answer *a = pt_api_call_url(c->t, method, target, body, len, c->actor);
  if (!a) return -1;
  *status = a->status;
  *out = body_text(a);
  pt_answer_free(a);
  return *out ? 0 : -1;
}

int ptc_send(ptc_client *c, const char *method, const char *target, const char *body, size_t len,
             int *status, char **text) {
  *text = NULL;
  *status = 0;
  return c->t ? db_send(c, method, target, body, len, status, text)
              : http_send(c, method, target, body, len, status, text);
}

/* ---- export: streamed in both modes ---------------------------------------------- */

/* Where an export's lines go, counted. */
typedef struct sink {
  FILE *f;
  long long lines, shown;
  void (*progress)(long long);
} sink;

static int sink_write(sink *s, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) s->lines += p[i] == '\n';
  if (s->progress && s->lines - s->shown >= 10000) {
    s->progress(s->lines);
    s->shown = s->lines;
  }
  return fwrite(p, 1, n, s->f) == n ? 0 : -1;
}

static int db_export(ptc_client *c, const char *target, sink *s, int *status, char **out) {
  pt_answer *a = pt_api_call_url(c->t, "GET", target, NULL, 0, c->actor);
  if (!a) return -1;
  *status = a->status;
  if (!a->stream) {
    *out = body_text(a);
    pt_answer_free(a);
    return 1;
  }
  const char *chunk;
  size_t n;
  pt_error err;
  int rc = 0;
  for (;;) {
    if (pt_body_next(a->stream, &chunk, &n, &err) != PT_OK) {
      *out = format("%s", err.message);
      rc = -1;
      break;
    }
    if (!n) break;
    if (sink_write(s, chunk, n) != 0) {
      *out = format("cannot write the export");
      rc = -1;
      break;
    }
  }
  pt_answer_free(a);
  return rc;
}

/* The export's bytes: to the sink once the server says 200, else kept as
 * the error answer's text. */
typedef struct streamer {
  sink *s;
  answer_text err;
  int status_ok;
  CURL *k;
} streamer;

static size_t to_sink(char *p, size_t size, size_t n, void *ctx) {
  streamer *st = ctx;
  size_t len = size * n;
  if (!st->status_ok) {
    long code = 0;
    curl_easy_getinfo(st->k, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) return to_text(p, size, n, &st->err);
    st->status_ok = 1;
  }
  return sink_write(st->s, p, len) == 0 ? len : 0;
}

static int http_export(ptc_client *c, const char *target, sink *s, int *status, char **out) {
  char *data = NULL;
  size_t size = 0;
  streamer st = {s, {open_memstream(&data, &size), 0, 0}, 0, c->curl};
  if (!st.err.f) return -1;
  CURLcode rc = perform(c, "GET", target, NULL, 0, to_sink, &st);
  int failed = fclose(st.err.f) != 0;
  long code = 0;
  curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
  *status = (int)code;
  if (rc != CURLE_OK || failed) {
    free(data);
    *out = failed ? NULL : transfer_failed(c, rc, st.err.over);
    return -1;
  }
  if (code == 200) {
    free(data);
    return 0;
  }
  *out = data;
  return 1;
}

int ptc_export(ptc_client *c, const char *target, FILE *f, long long *lines,
               void (*progress)(long long), int *status, char **text) {
  sink s = {f, 0, 0, progress};
  *text = NULL;
  *status = 0;
  int rc = c->t ? db_export(c, target, &s, status, text) : http_export(c, target, &s, status, text);
  *lines = s.lines;
  return rc;
}
