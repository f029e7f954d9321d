/* cmd_data.c - the commands that move or delete stored data: export (JSON
 * Lines, streamed), import (an export, sent in parts of whole lines) and
 * redact (events' payloads deleted for good). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "input.h"

/* ---- export ----------------------------------------------------------------------------- */

static void export_progress(long long lines) {
  fprintf(stderr, "\rexported %lld lines", lines);
}

int ptc_cmd_export(const ptc_tool *tl, const ptc_args *a) {
  const char *sid = ptc_opt(a, "--session"), *file = ptc_opt(a, "--output");
  ptc_target t;
  ptc_target_open(&t, "/api/pipeline/export");
  ptc_target_arg(&t, "session_id", sid);
  char *target = ptc_target_close(&t), *text;
  if (!target) return ptc_fail(EXIT_USAGE, "out of memory");
  FILE *f = file ? fopen(file, "w") : stdout;
  if (!f) {
    free(target);
    return ptc_fail(EXIT_USAGE, "%s: %s", file, strerror(errno));
  }
  long long lines;
  int status, tty = isatty(2), rc = EXIT_OK;
  int r = ptc_export(tl->client, target, f, &lines, tty ? export_progress : NULL, &status, &text);
  free(target);
  if (tty) fputc('\n', stderr);
  int closed = f == stdout ? fflush(f) : fclose(f);
  if (r < 0)
    rc = ptc_fail(EXIT_USAGE, "export: %s", text ? text : "out of memory");
  else if (r > 0)
    rc = ptc_answer_failed(status, text ? text : "");
  free(text);
  if (rc) return rc;
  if (closed) return ptc_fail(EXIT_USAGE, "export: cannot write %s", file ? file : "stdout");
  if (file && !tl->json) fprintf(stderr, "exported %lld lines to %s\n", lines, file);
  return EXIT_OK;
}

/* ---- import ----------------------------------------------------------------------------- */

/* Whole lines, at most 1,000 or ~512 KB a request (one transaction each; a
 * server's body limit is 1 MiB by default). */
#define IMPORT_LINES 1000
#define IMPORT_BYTES (512 * 1024)

/* What the parts of an import came to. */
typedef struct counts {
  const ptc_tool *tl;
  long long events_added, events_skipped, snapshots_added, snapshots_skipped;
  int tty;
} counts;

/* The answers to an import that refuse a line of it (its message names
 * the line): the export was altered, a stored event differs, a line is not
 * an export's or too large. A check failed, as verify's mismatch. */
static int refuses_a_line(int status) {
  return status == 400 || status == 409 || status == 413 || status == 422;
}

static int send_part(void *ctx, const char *text, size_t len, const size_t *lines, size_t n) {
  counts *c = ctx;
  char target[80];
  snprintf(target, sizeof target, "/api/pipeline/import?first_line=%zu", lines[0]);
  int rc, status;
  json_t *doc = ptc_call(c->tl, "POST", target, text, len, &status, NULL, &rc);
  if (!doc) return rc == EXIT_USAGE && refuses_a_line(status) ? EXIT_CHECK : rc;
  c->events_added += ptc_ji(doc, "events_added");
  c->events_skipped += ptc_ji(doc, "events_skipped");
  c->snapshots_added += ptc_ji(doc, "snapshots_added");
  c->snapshots_skipped += ptc_ji(doc, "snapshots_skipped");
  json_decref(doc);
  if (c->tty) fprintf(stderr, "\rimported %zu lines", lines[n - 1]);
  return EXIT_OK;
}

int ptc_cmd_import(const ptc_tool *tl, const ptc_args *a) {
  const char *file = ptc_need(a, "FILE (or - for stdin)");
  if (!file) return EXIT_USAGE;
  FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
  if (!f) return ptc_fail(EXIT_USAGE, "%s: %s", file, strerror(errno));
  counts c = {tl, 0, 0, 0, 0, isatty(2)};
  ptc_batches b = {"", "", "", 0, IMPORT_LINES, IMPORT_BYTES, send_part, &c};
  int rc = ptc_read_batches(f, &b);
  if (c.tty) fputc('\n', stderr);
  if (f != stdin) fclose(f);
  if (rc) return rc;
  if (tl->json)
    printf(
        "{\"events_added\":%lld,\"events_skipped\":%lld,\"snapshots_added\":%lld,"
        "\"snapshots_skipped\":%lld}\n",
        c.events_added, c.events_skipped, c.snapshots_added, c.snapshots_skipped);
  else
    printf("events: %lld added, %lld already there; snapshots: %lld added, %lld already there\n",
           c.events_added, c.events_skipped, c.snapshots_added, c.snapshots_skipped);
  return EXIT_OK;
}

/* ---- redact ----------------------------------------------------------------------------- */

static void redact_line(const ptc_tool *tl, json_t *doc) {
  (void)tl;
  json_t *ids = json_object_get(doc, "redacted");
  json_t *snap = json_object_get(doc, "snapshot");
  printf("%zu event%s of %s redacted%s\n", json_array_size(ids),
         json_array_size(ids) == 1 ? "" : "s", ptc_js(doc, "session_id"),
         json_is_null(snap) ? " (all were already)" : "");
  if (!json_is_null(snap)) printf("noted in %s\n", ptc_js(snap, "id"));
}

/* redact SESSION [EVENT_ID ...] [--actor NAME] */
int ptc_cmd_redact(const ptc_tool *tl, const ptc_args *a) {
  const char *sid = ptc_need(a, "SESSION"), *actor = ptc_opt(a, "--actor");
  if (!sid) return EXIT_USAGE;
  json_t *b = json_object(), *ids = json_array();
  json_object_set_new(b, "session_id", json_string(sid));
  if (actor) json_object_set_new(b, "actor", json_string(actor));
  for (int i = 1; i < a->npos; i++) json_array_append_new(ids, json_string(a->pos[i]));
  if (json_array_size(ids))
    json_object_set_new(b, "event_ids", ids);
  else
    json_decref(ids);
  return ptc_show_post(tl, "/api/pipeline/redact", b, redact_line);
}
