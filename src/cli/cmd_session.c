/* cmd_session.c - the commands that read or note one session, or list
 * them: status, snapshot, history, report, verify (one or --all) and
 * sessions, each printing a table or, with --json, the API's JSON. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "times.h"

/* ---- status ------------------------------------------------------------------------- */

static void print_steps(json_t *ck) {
  const char *kinds[] = {"completed_steps", "failed_steps", "missing_steps", "out_of_order_steps"};
  const char *labels[] = {"completed", "failed", "missing", "out of order"};
  for (int k = 0; k < 4; k++) {
    json_t *a = json_object_get(ck, kinds[k]);
    if (!json_array_size(a)) continue;
    printf("  %-13s", labels[k]);
    for (size_t i = 0; i < json_array_size(a); i++)
      printf("%s%s", i ? ", " : "", json_string_value(json_array_get(a, i)));
    putchar('\n');
  }
}

/* The latest failure of step among the events shown, or NULL. */
static json_t *failure_of(json_t *evs, const char *step) {
  for (size_t i = json_array_size(evs); i-- > 0;) {
    json_t *e = json_array_get(evs, i);
    if (strcmp(ptc_js(e, "step"), step) == 0 && strcmp(ptc_js(e, "status"), "failure") == 0)
      return e;
  }
  return NULL;
}

/* "error      STEP (seq N): CODE: MESSAGE" for each failed step. */
static void print_errors(json_t *doc, json_t *ck) {
  json_t *failed = json_object_get(ck, "failed_steps"), *evs = json_object_get(doc, "events");
  for (size_t i = 0; i < json_array_size(failed); i++) {
    const char *step = json_string_value(json_array_get(failed, i));
    json_t *e = step ? failure_of(evs, step) : NULL;
    char code[256], msg[2048];
    if (!step) continue;
    if (!e) {
      printf("error      %s: not among the %zu latest events (pipetrack report %s shows it)\n",
             step, json_array_size(evs), ptc_js(doc, "session_id"));
      continue;
    }
    json_t *err = json_object_get(e, "error");
    if (json_is_object(err))
      printf("error      %s (seq %lld): %s: %s\n", step, ptc_ji(e, "seq"),
             ptc_clean(ptc_js(err, "code"), code, sizeof code),
             ptc_clean(ptc_js(err, "message"), msg, sizeof msg));
    else
      printf("error      %s (seq %lld): no error given\n", step, ptc_ji(e, "seq"));
  }
}

static void status_table(const ptc_tool *tl, json_t *doc) {
  json_t *ck = json_object_get(doc, "checksum"), *pr = json_object_get(ck, "progress");
  char t1[PTC_TIME_LEN], t2[PTC_TIME_LEN], d[32];
  printf(
      "session    %s (%s)\nstate      %s%s\nprogress   %lld/%lld steps (%lld%%)\nevents     "
      "%lld\n",
      ptc_js(doc, "session_id"), ptc_js(doc, "pipeline_type"), ptc_js(ck, "state"),
      json_is_true(json_object_get(doc, "terminal")) ? " (terminal)" : "", ptc_ji(pr, "completed"),
      ptc_ji(pr, "total"), ptc_ji(pr, "percent"), ptc_ji(doc, "event_count"));
  if (json_is_number(json_object_get(ck, "started_at")))
    printf("started    %s\nlast event %s (%s after the start)\n",
           ptc_jtime(tl, ck, "started_at", t1), ptc_jtime(tl, ck, "last_event_at", t2),
           ptc_duration_format((double)ptc_ji(ck, "duration_ms"), d, sizeof d));
  printf("chain      %s\n", ptc_js(ck, "chain_hash"));
  print_steps(ck);
  print_errors(doc, ck);
  json_t *evs = json_object_get(doc, "events");
  size_t n = json_array_size(evs), from = n > 10 ? n - 10 : 0;
  int w = tl->utc ? 24 : 29;
  if (n) printf("\n%5s  %-24s %-10s %-*s %s\n", "SEQ", "STEP", "STATUS", w, "TS", "ID");
  for (size_t i = from; i < n; i++) {
    json_t *e = json_array_get(evs, i);
    printf("%5lld  %-24s %-10s %-*s %s\n", ptc_ji(e, "seq"), ptc_js(e, "step"), ptc_js(e, "status"),
           w, ptc_jtime(tl, e, "ts", t1), ptc_js(e, "id"));
  }
  json_t *ls = json_object_get(doc, "latest_snapshot");
  if (json_is_object(ls))
    printf("\nlatest snapshot %s (%lld events, %s)\n", ptc_js(ls, "id"), ptc_ji(ls, "event_count"),
           ptc_jtime(tl, ls, "created_at", t1));
}

int ptc_cmd_status(const ptc_tool *tl, const ptc_args *a) {
  const char *sid = ptc_need(a, "SESSION");
  if (!sid) return EXIT_USAGE;
  static const ptc_flag flags[] = {{"--pipeline", "pipeline_type", 0, 0}};
  return ptc_show_query(tl, "/api/pipeline/status", sid, a, flags, 1, "status", status_table);
}

/* ---- snapshot and history ------------------------------------------------------------ */

static void snapshot_line(const ptc_tool *tl, json_t *doc) {
  char t[PTC_TIME_LEN];
  printf("%s  %s  %lld events  %s  chain %s\n", ptc_js(doc, "id"), ptc_js(doc, "state"),
         ptc_ji(doc, "event_count"), ptc_jtime(tl, doc, "created_at", t),
         ptc_js(doc, "chain_hash"));
}

int ptc_cmd_snapshot(const ptc_tool *tl, const ptc_args *a) {
  const char *sid = ptc_need(a, "SESSION"), *notes = ptc_opt(a, "--notes");
  if (!sid) return EXIT_USAGE;
  json_t *b = json_object();
  json_object_set_new(b, "session_id", json_string(sid));
  if (notes) json_object_set_new(b, "notes", json_string(notes));
  return ptc_show_post(tl, "/api/pipeline/snapshot", b, snapshot_line);
}

static void history_table(const ptc_tool *tl, json_t *doc) {
  json_t *items = json_object_get(doc, "items");
  int w = tl->utc ? 24 : 29;
  printf("%-40s %-12s %7s %-*s %s\n", "ID", "STATE", "EVENTS", w, "CREATED_AT", "NOTES");
  for (size_t i = 0; i < json_array_size(items); i++) {
    json_t *e = json_array_get(items, i);
    const char *notes = json_string_value(json_object_get(e, "notes"));
    char t[PTC_TIME_LEN], clean[512];
    printf("%-40s %-12s %7lld %-*s %s\n", ptc_js(e, "id"), ptc_js(e, "state"),
           ptc_ji(e, "event_count"), w, ptc_jtime(tl, e, "created_at", t),
           notes ? ptc_clean(notes, clean, sizeof clean) : "");
  }
  ptc_more_line(doc);
}

int ptc_cmd_history(const ptc_tool *tl, const ptc_args *a) {
  const char *sid = ptc_need(a, "SESSION");
  if (!sid) return EXIT_USAGE;
  static const ptc_flag flags[] = {{"--limit", "limit", 1, PT_PAGE_MAX},
                                   {"--cursor", "cursor", 0, 0}};
  return ptc_show_query(tl, "/api/pipeline/registry", sid, a, flags, 2, "history", history_table);
}

/* ---- report ------------------------------------------------------------------------------ */

int ptc_cmd_report(const ptc_tool *tl, const ptc_args *a) {
  const char *sid = ptc_need(a, "SESSION"), *fmt = ptc_opt(a, "--format");
  if (!sid) return EXIT_USAGE;
  if (fmt && strcmp(fmt, "json") != 0 && strcmp(fmt, "markdown") != 0)
    return ptc_fail(EXIT_USAGE, "report: --format must be markdown or json, got \"%s\"", fmt);
  if (fmt && tl->json && strcmp(fmt, "markdown") == 0)
    return ptc_fail(EXIT_USAGE, "report: --json and --format markdown ask for different things");
  if (!fmt) fmt = tl->json ? "json" : "markdown";
  ptc_target t;
  ptc_target_open(&t, "/api/pipeline/report");
  ptc_target_arg(&t, "session_id", sid);
  ptc_target_arg(&t, "format", fmt);
  char *target = ptc_target_close(&t), *out;
  int rc = ptc_fetch(tl, "GET", target, NULL, 0, NULL, &out);
  free(target);
  if (rc) return rc;
  fputs(out, stdout);
  if (out[0] && out[strlen(out) - 1] != '\n') putchar('\n');
  free(out);
  return EXIT_OK;
}

/* ---- verify ------------------------------------------------------------------------------ */

static void print_mismatches(json_t *doc) {
  json_t *mm = json_object_get(doc, "mismatches");
  for (size_t i = 0; i < json_array_size(mm); i++) {
    json_t *m = json_array_get(mm, i);
    char *t = json_dumps(m, JSON_COMPACT);
    if (json_is_number(json_object_get(m, "seq")))
      printf("  event seq %lld: %s\n", ptc_ji(m, "seq"), t ? t : "?");
    else
      printf("  %s\n", t ? t : "?");
    free(t);
  }
}

/* EXIT_OK ok, EXIT_CHECK a mismatch, EXIT_USAGE an error; prints the
 * mismatches unless quiet (and the session ok). */
static int verify_one(const ptc_tool *tl, const char *sid, int quiet) {
  ptc_target t;
  ptc_target_open(&t, "/api/pipeline/verify");
  ptc_target_arg(&t, "session_id", sid);
  char *target = ptc_target_close(&t), *raw;
  int rc;
  json_t *doc = ptc_call(tl, "GET", target, NULL, 0, NULL, &raw, &rc);
  free(target);
  if (!doc) return rc;
  int ok = json_is_true(json_object_get(doc, "ok"));
  if (tl->json) {
    json_t *j = json_string(sid);
    char *s = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    printf("{\"session_id\":%s,\"verify\":%s}\n", s ? s : "null", raw);
    free(s);
    json_decref(j);
  } else if (!ok || !quiet) {
    printf("%s: %s\n", sid, ok ? "ok" : "MISMATCH");
    print_mismatches(doc);
  }
  free(raw);
  json_decref(doc);
  return ok ? EXIT_OK : EXIT_CHECK;
}

/* Every session, a page of sessions at a time. */
static int verify_all(const ptc_tool *tl) {
  int tty = isatty(2), worst = EXIT_OK;
  long long n = 0, bad = 0;
  char *cursor = NULL;
  do {
    ptc_target t;
    ptc_target_open(&t, "/api/pipeline/sessions");
    ptc_target_arg(&t, "limit", "1000");
    ptc_target_arg(&t, "cursor", cursor);
    char *target = ptc_target_close(&t);
    int rc;
    json_t *doc = ptc_call(tl, "GET", target, NULL, 0, NULL, NULL, &rc);
    free(target);
    free(cursor);
    cursor = NULL;
    if (!doc) return rc;
    json_t *items = json_object_get(doc, "items");
    for (size_t i = 0; i < json_array_size(items); i++) {
      int r = verify_one(tl, ptc_js(json_array_get(items, i), "session_id"), 1);
      if (r != EXIT_OK && r != EXIT_CHECK) {
        json_decref(doc);
        return r;
      }
      if (r == EXIT_CHECK) {
        bad++;
        worst = EXIT_CHECK;
      }
      n++;
      if (tty && n % 100 == 0) fprintf(stderr, "\rverified %lld sessions, %lld mismatched", n, bad);
    }
    const char *next = json_string_value(json_object_get(doc, "next_cursor"));
    if (next && !(cursor = strdup(next))) rc = ptc_fail(EXIT_USAGE, "out of memory");
    json_decref(doc);
    if (rc) return rc;
  } while (cursor);
  if (tty) fputc('\n', stderr);
  if (!tl->json) printf("%lld sessions verified, %lld mismatched\n", n, bad);
  return worst;
}

int ptc_cmd_verify(const ptc_tool *tl, const ptc_args *a) {
  int all = ptc_opt(a, "--all") != NULL;
  if (all && a->npos) return ptc_fail(EXIT_USAGE, "verify: SESSION or --all, not both");
  if (all) return verify_all(tl);
  if (!a->npos) return ptc_fail(EXIT_USAGE, "verify: SESSION or --all is required");
  return verify_one(tl, a->pos[0], 0);
}

/* ---- sessions ----------------------------------------------------------------------------- */

static void sessions_table(const ptc_tool *tl, json_t *doc) {
  json_t *items = json_object_get(doc, "items");
  char t[PTC_TIME_LEN];
  printf("%-32s %-18s %-12s %8s %6s %s\n", "SESSION", "PIPELINE", "STATE", "PROGRESS", "EVENTS",
         "LAST_ACTIVITY");
  for (size_t i = 0; i < json_array_size(items); i++) {
    json_t *s = json_array_get(items, i), *p = json_object_get(s, "progress");
    char prog[48];
    snprintf(prog, sizeof prog, "%lld/%lld", ptc_ji(p, "completed"), ptc_ji(p, "total"));
    printf("%-32s %-18s %-12s %8s %6lld %s\n", ptc_js(s, "session_id"), ptc_js(s, "pipeline_type"),
           ptc_js(s, "state"), prog, ptc_ji(s, "event_count"), ptc_jtime(tl, s, "updated_at", t));
  }
  ptc_more_line(doc);
}

int ptc_cmd_sessions(const ptc_tool *tl, const ptc_args *a) {
  static const ptc_flag flags[] = {
      {"--pipeline", "pipeline_type", 0, 0}, {"--state", "state", 0, 0},
      {"--since", "since", PTC_TIME, 0},     {"--until", "until", PTC_TIME, 0},
      {"--limit", "limit", 1, PT_PAGE_MAX},  {"--cursor", "cursor", 0, 0}};
  return ptc_show_query(tl, "/api/pipeline/sessions", NULL, a, flags, 6, "sessions",
                        sessions_table);
}
