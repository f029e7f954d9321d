/* output.c - calling the API and printing its answers (see output.h): error
 * answers become one line naming the message, the HTTP status and the code;
 * request targets are built with their values percent-escaped. */
#include "output.h"

#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "input.h"
#include "pipetrack.h"
#include "times.h"

int ptc_fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("pipetrack: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return code;
}

json_t *ptc_json(const char *text, size_t len, char *why, size_t whylen) {
  json_t *doc = NULL;
  pt_error err;
  if (pt_json_read(text, len, &doc, &err) == PT_OK) return doc;
  /* the reader's message starts with the name it was given ("json: "), or
   * with a path under it ("json.a: ", kept as "a: ") */
  const char *m = err.message;
  size_t n = strlen(err.field);
  if (strncmp(m, "json.", 5) == 0)
    m += 5;
  else if (n && strncmp(m, err.field, n) == 0 && strncmp(m + n, ": ", 2) == 0)
    m += n + 2;
  snprintf(why, whylen, "%s", m);
  return NULL;
}

int ptc_answer_failed(int status, const char *text) {
  char why[300];
  json_t *doc = ptc_json(text, strlen(text), why, sizeof why);
  json_t *e = json_object_get(doc, "error");
  const char *msg = json_string_value(json_object_get(e, "message"));
  const char *code = json_string_value(json_object_get(e, "code"));
  int named = json_is_string(json_object_get(e, "field"));
  int rc = ptc_fail(status == 404 && named ? EXIT_NOT_FOUND : EXIT_USAGE, "%s (%d %s)",
                    msg ? msg : text, status, code ? code : "error");
  json_decref(doc);
  return rc;
}

int ptc_fetch(const ptc_tool *tl, const char *method, const char *target, const char *body,
              size_t len, int *status, char **text) {
  *text = NULL;
  if (status) *status = 0;
  if (!target) return ptc_fail(EXIT_USAGE, "out of memory");
  int st;
  char *out;
  if (ptc_send(tl->client, method, target, body, len, &st, &out) != 0) {
    int rc = ptc_fail(EXIT_USAGE, "%s", out ? out : "out of memory");
    free(out);
    return rc;
  }
  if (status) *status = st;
  if (st >= 400) {
    int rc = ptc_answer_failed(st, out);
    free(out);
    return rc;
  }
  *text = out;
  return EXIT_OK;
}

json_t *ptc_call(const ptc_tool *tl, const char *method, const char *target, const char *body,
                 size_t len, int *status, char **raw, int *rc) {
  char *text;
  if (raw) *raw = NULL;
  if ((*rc = ptc_fetch(tl, method, target, body, len, status, &text)) != EXIT_OK) return NULL;
  char why[300];
  json_t *doc = ptc_json(text, strlen(text), why, sizeof why);
  if (!doc) {
    *rc = ptc_fail(EXIT_USAGE, "the answer to %s %s is not JSON: %s", method, target, why);
    free(text);
    return NULL;
  }
  if (raw)
    *raw = text;
  else
    free(text);
  return doc;
}

int ptc_show(const ptc_tool *tl, const char *method, const char *target, const char *body,
             ptc_table table) {
  int rc;
  char *raw;
  json_t *doc = ptc_call(tl, method, target, body, body ? strlen(body) : 0, NULL, &raw, &rc);
  if (!doc) return rc;
  if (tl->json)
    puts(raw);
  else
    table(tl, doc);
  free(raw);
  json_decref(doc);
  return EXIT_OK;
}

int ptc_show_post(const ptc_tool *tl, const char *path, json_t *body, ptc_table table) {
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  if (!text) return ptc_fail(EXIT_USAGE, "out of memory");
  int rc = ptc_show(tl, "POST", path, text, table);
  free(text);
  return rc;
}

const char *ptc_js(json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "-";
}

long long ptc_ji(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  double d = json_is_number(v) ? json_number_value(v) : -1;
  /* 2^63: the first double a long long does not hold */
  return d >= -9223372036854775808.0 && d < 9223372036854775808.0 ? (long long)d : -1;
}

void ptc_more_line(json_t *doc) {
  const char *next = json_string_value(json_object_get(doc, "next_cursor"));
  if (next) printf("more: --cursor %s\n", next);
}

const char *ptc_jtime(const ptc_tool *tl, json_t *o, const char *k, char *buf) {
  json_t *v = json_object_get(o, k);
  return ptc_time_format(json_is_number(v) ? ptc_ji(o, k) : -1, tl->utc, buf);
}

const char *ptc_clean(const char *s, char *buf, size_t len) {
  size_t o = 0;
  assert(len >= 8);
  for (; *s && o + 4 < len; s++) {
    unsigned char c = (unsigned char)*s;
    if (c >= 0x20 && c != 0x7f) {
      buf[o++] = (char)c;
    } else if (o + 8 < len) {
      o += (size_t)snprintf(buf + o, len - o, c == '\n' ? "\\n" : c == '\t' ? "\\t" : "\\x%02X", c);
    } else {
      break;
    }
  }
  if (*s) {
    o = o > len - 4 ? len - 4 : o;
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o] = '\0';
  return buf;
}

/* ---- request targets ------------------------------------------------------------ */

void ptc_target_open(ptc_target *t, const char *path) {
  t->text = NULL;
  t->len = 0;
  t->sep = '?';
  t->f = open_memstream(&t->text, &t->len);
  ptc_target_puts(t, path);
}

void ptc_target_puts(ptc_target *t, const char *s) {
  if (t->f) fputs(s, t->f);
}

void ptc_target_escape(ptc_target *t, const char *s) {
  for (; t->f && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '_' || ch == '.' || ch == '~')
      fputc(ch, t->f);
    else
      fprintf(t->f, "%%%02X", ch);
  }
}

void ptc_target_arg(ptc_target *t, const char *name, const char *value) {
  if (!value || !t->f) return;
  fprintf(t->f, "%c%s=", t->sep, name);
  ptc_target_escape(t, value);
  t->sep = '&';
}

char *ptc_target_close(ptc_target *t) {
  if (!t->f) return NULL;
  int bad = ferror(t->f);
  if (fclose(t->f) != 0 || bad) {
    free(t->text);
    t->text = NULL;
  }
  t->f = NULL;
  return t->text;
}

int ptc_time_option(const ptc_tool *tl, const char *cmd, const ptc_args *a, const char *opt,
                    long long *out) {
  const char *v = ptc_opt(a, opt);
  *out = -1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  if (!v || ptc_time_parse(v, now, tl->utc, out) == 0) return EXIT_OK;
  return ptc_fail(EXIT_USAGE,
                  "%s: %s: must be a time: 2026-11-30, 2026-11-30T14:05[:09][Z|+05:30] (local "
                  "time without a zone), a duration before now (90s, 30m, 1h, 7d, 2w), now, or ms "
                  "since the epoch; got \"%s\"",
                  cmd, opt, v);
}

int ptc_target_flags(const ptc_tool *tl, ptc_target *t, const ptc_args *a, const ptc_flag *flags,
                     size_t n, const char *cmd) {
  for (size_t k = 0; k < n; k++) {
    const char *v = ptc_opt(a, flags[k].flag);
    long long x;
    if (!v) continue;
    if (flags[k].lo == PTC_TIME) {
      char ms[24];
      if (ptc_time_option(tl, cmd, a, flags[k].flag, &x) != EXIT_OK) return EXIT_USAGE;
      snprintf(ms, sizeof ms, "%lld", x);
      ptc_target_arg(t, flags[k].name, ms);
      continue;
    }
    if (flags[k].lo < flags[k].hi &&
        ptc_int_option(cmd, flags[k].flag, v, flags[k].lo, flags[k].hi, &x) != EXIT_OK)
      return EXIT_USAGE;
    ptc_target_arg(t, flags[k].name, v);
  }
  return EXIT_OK;
}

int ptc_show_query(const ptc_tool *tl, const char *path, const char *session_id, const ptc_args *a,
                   const ptc_flag *flags, size_t n, const char *cmd, ptc_table table) {
  ptc_target t;
  ptc_target_open(&t, path);
  ptc_target_arg(&t, "session_id", session_id);
  int rc = ptc_target_flags(tl, &t, a, flags, n, cmd);
  char *target = ptc_target_close(&t);
  if (rc == EXIT_OK) rc = ptc_show(tl, "GET", target, NULL, table);
  free(target);
  return rc;
}
