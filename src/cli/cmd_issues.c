/* cmd_issues.c - `pipetrack issues`: failures grouped by pipeline, step and
 * error code — list them, show one with the sessions it affected, resolve
 * one. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "times.h"

static void issues_table(const ptc_tool *tl, json_t *doc) {
  json_t *items = json_object_get(doc, "items");
  int w = tl->utc ? 24 : 29;
  printf("%-28s %-9s %6s %8s %-*s %s\n", "ISSUE", "STATUS", "COUNT", "SESSIONS", w, "LAST_SEEN",
         "TITLE");
  for (size_t i = 0; i < json_array_size(items); i++) {
    json_t *x = json_array_get(items, i);
    char t[PTC_TIME_LEN], title[512];
    printf("%-28s %-9s %6lld %8lld %-*s %s\n", ptc_js(x, "id"), ptc_js(x, "status"),
           ptc_ji(x, "count"), ptc_ji(x, "sessions_affected"), w, ptc_jtime(tl, x, "last_seen", t),
           ptc_clean(ptc_js(x, "title"), title, sizeof title));
  }
  ptc_more_line(doc);
}

static void issue_card(const ptc_tool *tl, json_t *x) {
  char t1[PTC_TIME_LEN], t2[PTC_TIME_LEN], t3[PTC_TIME_LEN], fp[512], title[512], msg[2048];
  printf(
      "%s  %s\n%s\nstatus     %s (reopened %lld times)\ncount      %lld failures in %lld sessions\n"
      "first seen %s\nlast seen  %s\n",
      ptc_js(x, "id"), ptc_clean(ptc_js(x, "fingerprint"), fp, sizeof fp),
      ptc_clean(ptc_js(x, "title"), title, sizeof title), ptc_js(x, "status"),
      ptc_ji(x, "reopened"), ptc_ji(x, "count"), ptc_ji(x, "sessions_affected"),
      ptc_jtime(tl, x, "first_seen", t1), ptc_jtime(tl, x, "last_seen", t2));
  if (json_is_number(json_object_get(x, "resolved_at")))
    printf("resolved   %s\n", ptc_jtime(tl, x, "resolved_at", t3));
  printf("last       %s\n", ptc_js(x, "last_session_id"));
  json_t *err = json_object_get(json_object_get(x, "sample_event"), "error");
  if (json_is_object(err))
    printf("message    %s\n", ptc_clean(ptc_js(err, "message"), msg, sizeof msg));
  json_t *sess = json_object_get(x, "sessions");
  int w = tl->utc ? 24 : 29;
  if (json_array_size(sess)) printf("\n%-32s %-*s %s\n", "SESSION", w, "FIRST_SEEN", "LAST_SEEN");
  for (size_t i = 0; i < json_array_size(sess); i++) {
    json_t *s = json_array_get(sess, i);
    printf("%-32s %-*s %s\n", ptc_js(s, "session_id"), w, ptc_jtime(tl, s, "first_seen", t1),
           ptc_jtime(tl, s, "last_seen", t2));
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

int ptc_cmd_issues(const ptc_tool *tl, const ptc_args *a) {
  const char *sub = a->npos ? a->pos[0] : "list";
  static const char *const list_only[] = {"--status", "--pipeline", "--since", "--until",
                                          "--limit",  "--cursor",   NULL};
  if (strcmp(sub, "show") == 0 || strcmp(sub, "resolve") == 0) {
    const char *opt = ptc_opt_any(a, list_only);
    if (opt)
      return ptc_fail(EXIT_USAGE,
                      "issues %s: unknown option \"%s\" (it is an option of issues list)", sub,
                      opt);
    if (a->npos < 2) return ptc_fail(EXIT_USAGE, "issues %s: ISSUE_ID is required", sub);
    if (a->npos > 2)
      return ptc_fail(EXIT_USAGE, "issues %s: unexpected argument \"%s\"", sub, a->pos[2]);
    return one_issue(tl, a->pos[1], strcmp(sub, "resolve") == 0);
  }
  if (strcmp(sub, "list") != 0)
    return ptc_fail(EXIT_USAGE, "issues: unknown subcommand \"%s\" (list, show, resolve)", sub);
  if (a->npos > 1)
    return ptc_fail(EXIT_USAGE, "issues list: unexpected argument \"%s\"", a->pos[1]);
  static const ptc_flag flags[] = {
      {"--status", "status", 0, 0},         {"--pipeline", "pipeline_type", 0, 0},
      {"--since", "since", PTC_TIME, 0},    {"--until", "until", PTC_TIME, 0},
      {"--limit", "limit", 1, PT_PAGE_MAX}, {"--cursor", "cursor", 0, 0}};
  return ptc_show_query(tl, "/api/pipeline/issues", NULL, a, flags, 6, "issues", issues_table);
}
