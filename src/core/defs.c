/* defs.c - pipeline definitions: parse, validate, look up (see defs.h). */
#include "defs.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "jparse.h"
#include "sha.h"

/* The built-in default when no --pipelines file is given. checkout_digital is
 * the one the spec requires; the others show optional steps and longer
 * pipelines in the dashboard and examples. */
static const char DEFAULT_DEFS[] =
    "{\"pipelines\":["
    "{\"type\":\"checkout_digital\",\"steps\":[\"checkout_started\",\"payment_initiated\","
    "\"payment_confirmed\",\"checkout_completed\"],\"optional\":[],\"stall_after_s\":900},"
    "{\"type\":\"signup\",\"steps\":[\"account_created\",\"email_verified\","
    "\"profile_completed\"],\"optional\":[\"profile_completed\"],\"stall_after_s\":86400},"
    "{\"type\":\"data_job\",\"steps\":[\"job_queued\",\"extract\",\"transform\",\"load\","
    "\"job_completed\"],\"optional\":[],\"stall_after_s\":3600}"
    "]}";

int pt_is_name(const char *s) {
  if (!s || !(*s >= 'a' && *s <= 'z')) return 0;
  size_t n = 1;
  for (const char *p = s + 1; *p; p++, n++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return 0;
  }
  return n <= 64;
}

int pt_is_id(const char *s) {
  if (!s || !*s) return 0;
  size_t n = 0;
  for (const char *p = s; *p; p++, n++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == ':' || c == '-'))
      return 0;
  }
  return n <= 128;
}

static void free_pipeline(pt_pipeline *p) {
  for (int i = 0; i < p->nsteps; i++) free(p->steps[i]);
  free(p->steps);
  free(p->optional);
  free(p->type);
}

static void defs_free(pt_defs *d) {
  if (!d) return;
  for (int i = 0; i < d->n; i++) free_pipeline(&d->p[i]);
  free(d->p);
  free(d);
}

pt_defs *pt_defs_ref(pt_defs *d) {
  if (d) __atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED);
  return d;
}

void pt_defs_unref(pt_defs *d) {
  if (d && __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) == 0) defs_free(d);
}

/* A string without U+0000 (a name never holds one), else NULL. */
static const char *plain(const json_t *v) {
  if (!json_is_string(v)) return NULL;
  const char *s = json_string_value(v);
  return strlen(s) == json_string_length(v) ? s : NULL;
}

static pt_status parse_pipeline(json_t *o, int idx, pt_pipeline *p, pt_error *err) {
  char path[96];
  if (!json_is_object(o))
    return pt_fail(err, PT_EDEFINITIONS, NULL, "pipelines[%d]: must be an object", idx);
  static const char *const MEMBERS[] = {"type", "steps", "optional", "stall_after_s", NULL};
  char bad[48];
  if (!pt_json_only_members(o, MEMBERS, bad, sizeof bad))
    return pt_fail(err, PT_EDEFINITIONS, NULL, "pipelines[%d].%s: unknown member", idx, bad);
  json_t *type = json_object_get(o, "type");
  if (!pt_is_name(plain(type)))
    return pt_fail(err, PT_EDEFINITIONS, NULL,
                   "pipelines[%d].type: must be a string matching ^[a-z][a-z0-9_]{0,63}$", idx);
  json_t *steps = json_object_get(o, "steps");
  if (!json_is_array(steps) || json_array_size(steps) == 0 || json_array_size(steps) > PT_MAX_STEPS)
    return pt_fail(err, PT_EDEFINITIONS, NULL,
                   "pipelines[%d].steps: must be an array of 1 to %d step names", idx,
                   PT_MAX_STEPS);
  int n = (int)json_array_size(steps);
  p->type = strdup(json_string_value(type));
  p->steps = calloc((size_t)n, sizeof *p->steps);
  p->optional = calloc((size_t)n, 1);
  if (!p->type || !p->steps || !p->optional) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  for (int i = 0; i < n; i++) {
    json_t *s = json_array_get(steps, (size_t)i);
    snprintf(path, sizeof path, "pipelines[%d].steps[%d]", idx, i);
    if (!pt_is_name(plain(s)))
      return pt_fail(err, PT_EDEFINITIONS, NULL,
                     "%s: must be a string matching ^[a-z][a-z0-9_]{0,63}$", path);
    for (int j = 0; j < i; j++)
      if (strcmp(p->steps[j], json_string_value(s)) == 0)
        return pt_fail(err, PT_EDEFINITIONS, NULL, "%s: step \"%s\" is listed twice", path,
                       p->steps[j]);
    p->steps[i] = strdup(json_string_value(s));
    if (!p->steps[i]) return pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    p->nsteps = i + 1;
  }
  json_t *opt = json_object_get(o, "optional");
  if (opt && !json_is_array(opt))
    return pt_fail(err, PT_EDEFINITIONS, NULL, "pipelines[%d].optional: must be an array", idx);
  for (size_t i = 0; opt && i < json_array_size(opt); i++) {
    json_t *s = json_array_get(opt, i);
    int at = plain(s) ? pt_pipeline_step(p, plain(s)) : -1;
    if (at < 0)
      return pt_fail(err, PT_EDEFINITIONS, NULL,
                     "pipelines[%d].optional[%zu]: must name a step of this pipeline", idx, i);
    p->optional[at] = 1;
  }
  p->nrequired = 0;
  for (int i = 0; i < n; i++) p->nrequired += !p->optional[i];
  json_t *stall = json_object_get(o, "stall_after_s");
  p->stall_after_s = 900;
  if (stall) {
    double d = json_number_value(stall);
    if (!json_is_number(stall) || d < 1 || d > 31536000 || d != (double)(int64_t)d)
      return pt_fail(err, PT_EDEFINITIONS, NULL,
                     "pipelines[%d].stall_after_s: must be a whole number of seconds from 1 "
                     "to 31536000",
                     idx);
    p->stall_after_s = (int64_t)d;
  }
  return PT_OK;
}

pt_status pt_defs_parse(const char *json, size_t len, pt_defs **out, pt_error *err) {
  *out = NULL;
  json_t *root = NULL;
  pt_jparse_error je;
  if (pt_jparse_tree(json, len, 0, &root, &je) != 0) {
    if (je.number) {
      char why[160];
      pt_jparse_number_why(&je, why, sizeof why);
      return pt_fail(err, PT_EDEFINITIONS, NULL, "line %d, column %d: %s: %s", je.line, je.column,
                     je.path[0] ? je.path : "top level", why);
    }
    return pt_fail(err, PT_EDEFINITIONS, NULL, "line %d, column %d: %s", je.line, je.column,
                   je.reason);
  }
  pt_status rc = PT_OK;
  pt_defs *d = calloc(1, sizeof *d);
  json_t *arr = json_is_object(root) ? json_object_get(root, "pipelines") : NULL;
  if (!d) {
    rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
  } else if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(arr)) {
    rc = pt_fail(err, PT_EDEFINITIONS, NULL,
                 "top level: must be an object {\"pipelines\": [...]} and nothing else");
  } else if (json_array_size(arr) == 0 || json_array_size(arr) > PT_MAX_PIPELINES) {
    rc = pt_fail(err, PT_EDEFINITIONS, NULL, "pipelines: must hold 1 to %d pipelines",
                 PT_MAX_PIPELINES);
  } else {
    size_t n = json_array_size(arr);
    d->p = calloc(n, sizeof *d->p);
    if (!d->p) rc = pt_fail(err, PT_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; rc == PT_OK && i < n; i++) {
      d->n = (int)i + 1;
      rc = parse_pipeline(json_array_get(arr, i), (int)i, &d->p[i], err);
      for (size_t j = 0; rc == PT_OK && j < i; j++)
        if (strcmp(d->p[j].type, d->p[i].type) == 0)
          rc = pt_fail(err, PT_EDEFINITIONS, NULL, "pipelines[%zu].type: \"%s\" is defined twice",
                       i, d->p[i].type);
    }
  }
  json_decref(root);
  if (rc != PT_OK) {
    defs_free(d);
    return rc;
  }
  for (int i = 0; i < d->n; i++) {
    pt_buf b;
    pt_buf_init(&b, 0);
    pt_pipeline *p = &d->p[i];
    pt_buf_printf(&b, "%s|%lld", p->type, (long long)p->stall_after_s);
    for (int k = 0; k < p->nsteps; k++) pt_buf_printf(&b, "|%s:%d", p->steps[k], p->optional[k]);
    pt_sha256_hex(b.data ? b.data : "", b.len, p->digest);
    pt_buf_cleanup(&b);
  }
  d->refs = 1;
  *out = d;
  return PT_OK;
}

pt_status pt_defs_default(pt_defs **out, pt_error *err) {
  return pt_defs_parse(DEFAULT_DEFS, sizeof DEFAULT_DEFS - 1, out, err);
}

const pt_pipeline *pt_defs_find(const pt_defs *d, const char *type) {
  for (int i = 0; i < d->n; i++)
    if (strcmp(d->p[i].type, type) == 0) return &d->p[i];
  return NULL;
}

int pt_pipeline_step(const pt_pipeline *p, const char *step) {
  for (int i = 0; i < p->nsteps; i++)
    if (p->steps[i] && strcmp(p->steps[i], step) == 0) return i;
  return -1;
}

/* Levenshtein distance of a and b (names of at most 64 bytes; longer ones
 * count as far apart). */
static size_t edits(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  if (na > 64 || nb > 64) return SIZE_MAX;
  size_t row[65];
  for (size_t j = 0; j <= nb; j++) row[j] = j;
  for (size_t i = 1; i <= na; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= nb; j++) {
      size_t up = row[j];
      size_t sub = diag + (a[i - 1] != b[j - 1]);
      size_t del = row[j] + 1, ins = row[j - 1] + 1;
      row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
      diag = up;
    }
  }
  return row[nb];
}

/* names[i] for i < n (NULL entries skipped): the hint of defs.h. */
static void hint(const char *const *names, int n, const char *given, const char *what, char *out,
                 size_t cap) {
  size_t len = strlen(given), best = SIZE_MAX, near = len <= 4 ? 1 : len <= 10 ? 2 : 3;
  const char *closest = NULL;
  for (int i = 0; i < n; i++) {
    if (!names[i]) continue;
    size_t d = edits(given, names[i]);
    if (d < best) {
      best = d;
      closest = names[i];
    }
  }
  pt_buf b;
  pt_buf_init(&b, 0);
  if (closest && best <= near) pt_buf_printf(&b, "; did you mean \"%s\"?", closest);
  pt_buf_printf(&b, " (%s: ", what);
  int listed = 0;
  for (int i = 0; i < n; i++) {
    if (!names[i]) continue;
    if (b.len + strlen(names[i]) + 8 > cap) { /* room for ", …)" and the NUL */
      pt_buf_puts(&b, ", …");
      break;
    }
    if (listed++) pt_buf_puts(&b, ", ");
    pt_buf_puts(&b, names[i]);
  }
  pt_buf_putc(&b, ')');
  snprintf(out, cap, "%s", b.failed || !listed ? "" : pt_buf_cstr(&b));
  pt_buf_cleanup(&b);
}

void pt_defs_hint(const pt_defs *d, const char *type, char *out, size_t cap) {
  const char *names[256];
  int n = d->n < 256 ? d->n : 256;
  for (int i = 0; i < n; i++) names[i] = d->p[i].type;
  hint(names, n, type, "defined", out, cap);
}

void pt_pipeline_step_hint(const pt_pipeline *p, const char *step, char *out, size_t cap) {
  hint((const char *const *)p->steps, p->nsteps, step, "steps", out, cap);
}

void pt_defs_write_json(pt_buf *b, const pt_defs *d) {
  pt_buf_puts(b, "{\"pipelines\":[");
  for (int i = 0; i < d->n; i++) {
    const pt_pipeline *p = &d->p[i];
    if (i) pt_buf_putc(b, ',');
    pt_buf_json_member(b, "{\"type\":", p->type);
    pt_buf_puts(b, ",\"steps\":[");
    for (int j = 0; j < p->nsteps; j++) {
      if (j) pt_buf_putc(b, ',');
      pt_buf_json_cstr(b, p->steps[j]);
    }
    pt_buf_puts(b, "],\"optional\":[");
    int first = 1;
    for (int j = 0; j < p->nsteps; j++) {
      if (!p->optional[j]) continue;
      if (!first) pt_buf_putc(b, ',');
      first = 0;
      pt_buf_json_cstr(b, p->steps[j]);
    }
    pt_buf_puts(b, "],\"stall_after_s\":");
    pt_buf_i64(b, p->stall_after_s);
    pt_buf_putc(b, '}');
  }
  pt_buf_puts(b, "]}");
}
