/* cmd_issues.c - `pipetrack issues`: failures grouped by pipeline, step and
 * error code — list them, show one with the sessions it affected, resolve
 * one. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static void issues_table(json_t *doc) {
  json_t *items = json_object_get(doc, "items");
  printf("%-28s %-9s %6s %8s %-14s %s\n", "ISSUE", "STATUS", "COUNT", "SESSIONS", "LAST_SEEN",
         "TITLE");
  for (size_t i = 0; i < json_array_size(items); i++) {
    json_t *x = json_array_get(items, i);
    printf("%-28s %-9s %6lld %8lld %-14lld %s\n", ptc_js(x, "id"), ptc_js(x, "status"),
           ptc_ji(x, "count"), ptc_ji(x, "sessions_affected"), ptc_ji(x, "last_seen"),
           ptc_js(x, "title"));
  }
  ptc_more_line(doc);
}

static void issue_card(json_t *x) {
  printf(
      "%s  %s\n%s\nstatus     %s (reopened %lld times)\ncount      %lld failures in %lld sessions\n"
      "first/last %lld / %lld\nlast       %s\n",
      ptc_js(x, "id"), ptc_js(x, "fingerprint"), ptc_js(x, "title"), ptc_js(x, "status"),
      ptc_ji(x, "reopened"), ptc_ji(x, "count"), ptc_ji(x, "sessions_affected"),
      ptc_ji(x, "first_seen"), ptc_ji(x, "last_seen"), ptc_js(x, "last_session_id"));
  json_t *sess = json_object_get(x, "sessions");
  if (json_array_size(sess)) printf("\n%-32s %-14s %s\n", "SESSION", "FIRST_SEEN", "LAST_SEEN");
  for (size_t i = 0; i < json_array_size(sess); i++) {
    json_t *s = json_array_get(sess, i);
    printf("%-32s %-14lld %lld\n", ptc_js(s, "session_id"), ptc_ji(s, "first_seen"),
           ptc_ji(s, "last_seen"));
  }
}

/* issues show ID | issues resolve ID */
static int one_issue(const ptc_tool *tl, const char *id, int resolve) {
  ptc_target t;
  ptc_target_open(&t, "/api/pipeline/issues/");
  ptc_target_escape(&t, id);
  if (resolve) ptc_target_puts(&t, "/resolve");
  char *target = ptc_target_close(&t);
  int rc = ptc_show(tl, resolve ? "POST" : "GET", target, NULL, issue_card);
  free(target);
  return rc;
}

int ptc_cmd_issues(const ptc_tool *tl, int argc, char **argv) {
  int named = argc > 1 && argv[1][0] != '-';
  const char *sub = named ? argv[1] : "list";
  if (strcmp(sub, "show") == 0 || strcmp(sub, "resolve") == 0) {
    if (argc < 3) return ptc_fail(EXIT_USAGE, "issues %s: ISSUE_ID is required", sub);
    return one_issue(tl, argv[2], strcmp(sub, "resolve") == 0);
  }
  if (strcmp(sub, "list") != 0)
    return ptc_fail(EXIT_USAGE, "issues: unknown subcommand \"%s\" (list, show, resolve)", sub);
  static const ptc_flag flags[] = {{"--status", "status", 0, 0},
                                   {"--pipeline", "pipeline_type", 0, 0},
                                   {"--limit", "limit", 1, PT_PAGE_MAX},
                                   {"--cursor", "cursor", 0, 0}};
  return ptc_show_query(tl, "/api/pipeline/issues", NULL, argc, argv, named ? 2 : 1, flags, 4,
                        "issues", issues_table);
}
