/* fuzz_request.c - the request layer as a whole, without sockets: raw
 * bytes read as an HTTP/1.1 request (request line, header lines, a blank
 * line, the body), its path and query decoded with libmicrohttpd's own
 * MHD_http_unescape as pipetrackd's HTTP layer does, routed like
 * pipetrackd (HEAD as GET, a JSON route's Content-Type) and answered by
 * pt_api_call on a seeded memory: tracker, If-None-Match included. Framing
 * itself is libmicrohttpd's (src/server/http.c), not fuzzed here. */
#include <microhttpd.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 32

typedef struct args {
  char *name[MAX_ARGS], *value[MAX_ARGS];
  int n;
} args;

static const char *arg(void *ctx, const char *name) {
  args *a = ctx;
  for (int i = 0; i < a->n; i++)
    if (strcmp(a->name[i], name) == 0) return a->value[i];
  return NULL;
}

/* Splits q (modified in place) at '&' and '=', each part unescaped. */
static void split_query(char *q, args *a) {
  for (char *p = q; p && *p && a->n < MAX_ARGS;) {
    char *amp = strchr(p, '&');
    if (amp) *amp = '\0';
    char *eq = strchr(p, '=');
    if (eq) *eq = '\0';
    MHD_http_unescape(p);
    a->name[a->n] = p;
    a->value[a->n] = eq ? eq + 1 : "";
    if (eq) MHD_http_unescape(eq + 1);
    a->n++;
    p = amp ? amp + 1 : NULL;
  }
}

/* The next line of s[*at..n) (ending at LF, a CR before it dropped), NUL
 * terminated in place; NULL when there is none. */
static char *line(char *s, size_t n, size_t *at) {
  if (*at >= n) return NULL;
  char *start = s + *at, *lf = memchr(start, '\n', n - *at);
  if (!lf) return NULL;
  *lf = '\0';
  if (lf > start && lf[-1] == '\r') lf[-1] = '\0';
  *at = (size_t)(lf - s) + 1;
  return start;
}

/* Read tokens as a server mints them, minus the secret: the answers'
 * read_token members are exercised. */
static void fake_read_token(void *ctx, const char *session_id, char *out, size_t cap) {
  (void)ctx;
  snprintf(out, cap, "rt1.0.%.40s", session_id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  size_t at = 0;
  char *req = line(s, size, &at), *inm = NULL, *ctype = NULL;
  char *sp1 = req ? strchr(req, ' ') : NULL, *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
  if (!sp2) goto out;
  *sp1 = *sp2 = '\0';
  char *method = req, *target = sp1 + 1;
  for (char *h; (h = line(s, size, &at)) && *h;) {
    char *colon = strchr(h, ':');
    if (!colon) goto out; /* a malformed header: the server's 400 */
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    if (strcasecmp(h, "If-None-Match") == 0) inm = v;
    if (strcasecmp(h, "Content-Type") == 0) ctype = v;
  }
  char *q = strchr(target, '?');
  if (q) *q++ = '\0';
  MHD_http_unescape(target);
  char param[64] = "";
  int head = strcmp(method, "HEAD") == 0;
  int route = pt_api_route_find(head ? "GET" : method, target, param, NULL);
  if (route < 0) goto out; /* 404 or 405, the server's own */
  size_t nr;
  const pt_route *row = &pt_api_routes(&nr)[route];
  if (row->body_type && (!ctype || strncasecmp(ctype, row->body_type, strlen(row->body_type))))
    goto out; /* 415, the server's own */
  args a = {.n = 0};
  if (q) split_query(q, &a);
  pt_request rq = {.route = route,
                   .param = param[0] ? param : NULL,
                   .arg = arg,
                   .arg_ctx = &a,
                   .body = at < size ? s + at : NULL,
                   .body_len = at < size ? size - at : 0,
                   .if_none_match = inm,
                   .actor = "fuzz",
                   /* small: long-document streams are taken apart too */
                   .inline_max = 512,
                   .read_token = fake_read_token,
                   .read_token_all = (size & 1) != 0};
  pt_answer *ans = pt_api_call(fuzz_tracker(1), &rq);
  fuzz_check_answer(ans);
  if (ans->status == 304 && !inm) fuzz_die("304 without If-None-Match", target);
  pt_answer_free(ans);
out:
  free(s);
  return 0;
}
