/* cmd_track.c - `pipetrack track`: one event built from options, or a file
 * of events (one JSON object a line) sent in batches, each refusal named by
 * its line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "input.h"
#include "pipetrack.h"

/* What the batches of a file came to. */
typedef struct tally {
  const ptc_tool *tl;
  long long stored, replayed, refused;
  int tty;
} tally;

static int send_batch(void *ctx, const char *text, size_t len, const size_t *lines, size_t n) {
  tally *y = ctx;
  int rc;
  char *raw;
  json_t *doc = ptc_call(y->tl, "POST", "/api/pipeline/track/batch", text, len, NULL, &raw, &rc);
  if (!doc) return rc;
  json_t *res = json_object_get(doc, "results");
  for (size_t i = 0; i < json_array_size(res); i++) {
    json_t *it = json_array_get(res, i);
    long long s = ptc_ji(it, "status");
    if (s == 201) {
      y->stored++;
    } else if (s == 200) {
      y->replayed++;
    } else {
      y->refused++;
      fprintf(stderr, "pipetrack: line %zu: %s\n", lines[i < n ? i : n - 1],
              ptc_js(json_object_get(it, "error"), "message"));
    }
  }
  if (y->tl->json) puts(raw);
  free(raw);
  json_decref(doc);
  if (y->tty) fprintf(stderr, "\rtracked %lld events", y->stored + y->replayed);
  return EXIT_OK;
}

static int track_lines(const ptc_tool *tl, const char *file) {
  FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
  if (!f) return ptc_fail(EXIT_USAGE, "%s: %s", file, strerror(errno));
  tally y = {tl, 0, 0, 0, isatty(2)};
  ptc_batches b = {"{\"events\":[", ",", "]}", 1, PT_BATCH_MAX, 0, send_batch, &y};
  int rc = ptc_read_batches(f, &b);
  if (y.tty) fputc('\n', stderr);
  if (f != stdin) fclose(f);
  if (rc) return rc;
  if (!tl->json)
    printf("stored %lld, replayed %lld, refused %lld\n", y.stored, y.replayed, y.refused);
  return y.refused ? EXIT_USAGE : EXIT_OK;
}

/* The event of the options with its input and output already read
 * (taken); NULL when out of memory. A text that is not UTF-8 leaves its
 * member out, for the API to name. */
static json_t *event_of(const ptc_args *a, long long ts, json_t **payload) {
  static const struct {
    const char *opt, *name;
  } members[] = {{"--session", "session_id"},
                 {"--pipeline", "pipeline_type"},
                 {"--step", "step"},
                 {"--status", "status"},
                 {"--id", "id"}};
  json_t *ev = json_object();
  for (size_t k = 0; ev && k < sizeof members / sizeof *members; k++) {
    const char *v = ptc_opt(a, members[k].opt);
    if (v) json_object_set_new(ev, members[k].name, json_string(v));
  }
  if (ev && ts >= 0) json_object_set_new(ev, "ts", json_integer(ts));
  if (ev && payload[0]) json_object_set(ev, "input", payload[0]);
  if (ev && payload[1]) json_object_set(ev, "output", payload[1]);
  const char *code = ptc_opt(a, "--error-code"), *msg = ptc_opt(a, "--error-message");
  if (ev && (code || msg)) {
    json_t *e = json_object();
    if (code) json_object_set_new(e, "code", json_string(code));
    if (msg) json_object_set_new(e, "message", json_string(msg));
    json_object_set_new(ev, "error", e);
  }
  json_decref(payload[0]);
  json_decref(payload[1]);
  return ev;
}

static int track_one(const ptc_tool *tl, const ptc_args *a) {
  long long ts = -1;
  const char *tstext = ptc_opt(a, "--ts");
  if (tstext && ptc_int_option("track", "--ts", tstext, 0, PT_TS_MAX, &ts) != EXIT_OK)
    return EXIT_USAGE;
  json_t *payload[2] = {NULL, NULL};
  const char *names[2] = {"input", "output"};
  const char *texts[2] = {ptc_opt(a, "--input"), ptc_opt(a, "--output")};
  for (int k = 0; k < 2; k++) {
    char why[300];
    if (texts[k] && !(payload[k] = ptc_json(texts[k], strlen(texts[k]), why, sizeof why))) {
      json_decref(payload[0]);
      return ptc_fail(EXIT_USAGE, "track: --%s: %s", names[k], why);
    }
  }
  json_t *ev = event_of(a, ts, payload);
  int snap = ptc_opt(a, "--snapshot") != NULL;
  json_t *body = ev ? json_pack("{s:o, s:b}", "event", ev, "auto_snapshot", snap) : NULL;
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  if (!text) return ptc_fail(EXIT_USAGE, "out of memory");
  int rc, st;
  char *raw;
  json_t *doc = ptc_call(tl, "POST", "/api/pipeline/track", text, strlen(text), &st, &raw, &rc);
  free(text);
  if (!doc) return rc;
  if (tl->json) {
    puts(raw);
  } else {
    json_t *e = json_object_get(doc, "event");
    printf("%s %s seq %lld  %s/%s %s\n  link %s\n", st == 200 ? "replayed" : "stored",
           ptc_js(e, "id"), ptc_ji(e, "seq"), ptc_js(e, "pipeline_type"), ptc_js(e, "step"),
           ptc_js(e, "status"), ptc_js(e, "link"));
  }
  free(raw);
  json_decref(doc);
  return EXIT_OK;
}

int ptc_cmd_track(const ptc_tool *tl, const ptc_args *a) {
  static const char *const one[] = {
      "--session", "--pipeline", "--step",       "--status",        "--id",       "--ts",
      "--input",   "--output",   "--error-code", "--error-message", "--snapshot", NULL};
  const char *file = ptc_opt(a, "--file"), *other = ptc_opt_any(a, one);
  if (file && other)
    return ptc_fail(EXIT_USAGE,
                    "track: --file and %s: events come from the file or from options, not both",
                    other);
  if (file) return track_lines(tl, file);
  if (!ptc_opt(a, "--session") || !ptc_opt(a, "--pipeline") || !ptc_opt(a, "--step") ||
      !ptc_opt(a, "--status"))
    return ptc_fail(EXIT_USAGE,
                    "track: --session, --pipeline, --step and --status are required (or --file)");
  return track_one(tl, a);
}
