/* routes.c - the JSON endpoints of the HTTP API, one row each: method, path,
 * short name, access and body — and, in the same order, the handler that
 * answers it. Servers and tools read this table; nothing else lists the
 * routes. */
#include <string.h>

#include "api.h"

#define JSON "application/json"
#define LINES "application/x-ndjson"

static const pt_route ROUTES[] = {
    {"POST", "/api/pipeline/track", "track", PT_ACCESS_INGEST, JSON},
    {"POST", "/api/pipeline/track/batch", "track_batch", PT_ACCESS_INGEST, JSON},
    {"GET", "/api/pipeline/status", "status", PT_ACCESS_SESSION, NULL},
    {"POST", "/api/pipeline/snapshot", "snapshot", PT_ACCESS_API, JSON},
    {"GET", "/api/pipeline/registry", "registry", PT_ACCESS_API, NULL},
    {"GET", "/api/pipeline/checksum", "checksum", PT_ACCESS_API, NULL},
    {"GET", "/api/pipeline/report", "report", PT_ACCESS_SESSION, NULL},
    {"GET", "/api/pipeline/verify", "verify", PT_ACCESS_API, NULL},
    {"GET", "/api/pipeline/sessions", "sessions", PT_ACCESS_API, NULL},
    {"GET", "/api/pipeline/definitions", "definitions", PT_ACCESS_API, NULL},
    {"GET", "/api/pipeline/export", "export", PT_ACCESS_API, NULL},
    {"POST", "/api/pipeline/import", "import", PT_ACCESS_API, LINES},
    {"GET", "/api/pipeline/issues", "issues", PT_ACCESS_API, NULL},
    {"GET", "/api/pipeline/issues/{id}", "issue", PT_ACCESS_API, NULL},
    {"POST", "/api/pipeline/issues/{id}/resolve", "issue_resolve", PT_ACCESS_API, NULL},
    {"GET", "/api/pipeline/issues/{id}/timeseries", "issue_timeseries", PT_ACCESS_API, NULL},
    {"GET", "/api/pipeline/stats", "stats", PT_ACCESS_API, NULL},
    {"GET", "/api/pipeline/timeseries", "timeseries", PT_ACCESS_API, NULL},
    {"GET", "/api/pipeline/pubkey", "pubkey", PT_ACCESS_API, NULL},
    {"POST", "/api/pipeline/redact", "redact", PT_ACCESS_TOKEN, JSON},
};

const pt__api_handler pt__api_handlers[] = {
    pt__api_track,    pt__api_track_batch, pt__api_status,        pt__api_snapshot,
    pt__api_registry, pt__api_checksum,    pt__api_report,        pt__api_verify,
    pt__api_sessions, pt__api_definitions, pt__api_export,        pt__api_import,
    pt__api_issues,   pt__api_issue,       pt__api_issue_resolve, pt__api_issue_timeseries,
    pt__api_stats,    pt__api_timeseries,  pt__api_pubkey,        pt__api_redact,
};

_Static_assert(sizeof ROUTES / sizeof *ROUTES == sizeof pt__api_handlers / sizeof *pt__api_handlers,
               "one handler a route");

const pt_route *pt_api_routes(size_t *n) {
  *n = sizeof ROUTES / sizeof *ROUTES;
  return ROUTES;
}

int pt_route_match(const char *pattern, const char *path, char param[64]) {
  const char *hole = strstr(pattern, "{id}");
  if (!hole) return strcmp(pattern, path) == 0;
  size_t pre = (size_t)(hole - pattern);
  if (strncmp(pattern, path, pre) != 0) return 0;
  const char *seg = path + pre, *end = strchr(seg, '/');
  size_t n = end ? (size_t)(end - seg) : strlen(seg);
  if (n == 0 || n > 63) return 0;
  if (strcmp(hole + 4, end ? end : "") != 0) return 0;
  memcpy(param, seg, n);
  param[n] = '\0';
  return 1;
}

int pt_api_route_find(const char *method, const char *path, char param[64], int *path_known) {
  int known = 0;
  for (size_t i = 0; i < sizeof ROUTES / sizeof *ROUTES; i++) {
    if (!pt_route_match(ROUTES[i].path, path, param)) continue;
    if (strcmp(ROUTES[i].method, method) == 0) return (int)i;
    known = 1;
  }
  if (path_known) *path_known = known;
  return -1;
}
