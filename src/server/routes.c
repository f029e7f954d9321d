/* routes.c - the table of every endpoint pipetrackd answers: the rows of
 * its own (streams, metrics, health, the dashboard) and, generated from
 * pt_api_routes, a row for each JSON endpoint of the library, answered by
 * one handler (api.c). Each endpoint is declared once. */
#include "routes.h"

#include <stdlib.h>
#include <string.h>

#include "api_route.h"
#include "endpoints.h"

static const ptd_route OWN[] = {
    {"GET", "/api/pipeline/status/stream", "status_stream", PT_ACCESS_SESSION, NULL,
     ptd_status_stream_get, -1},
    {"POST", "/api/pipeline/read_token", "read_token", PT_ACCESS_API, "application/json",
     ptd_read_token_post, -1},
    {"GET", "/api/pipeline/issues/stream", "issues_stream", PT_ACCESS_API, NULL,
     ptd_issues_stream_get, -1},
    {"GET", "/metrics", "metrics", PT_ACCESS_API, NULL, ptd_metrics_get, -1},
    {"GET", "/healthz", "healthz", PT_ACCESS_OPEN, NULL, ptd_healthz_get, -1},
    {"GET", "/readyz", "readyz", PT_ACCESS_OPEN, NULL, ptd_readyz_get, -1},
    {"GET", "/", "index", PT_ACCESS_OPEN, NULL, ptd_index_get, -1},
    {"GET", "/assets/{id}", "asset", PT_ACCESS_OPEN, NULL, ptd_asset_get, -1},
};
#define NOWN (sizeof OWN / sizeof *OWN)

ptd_route *ptd_routes_build(size_t *n) {
  size_t na;
  const pt_route *api = pt_api_routes(&na);
  ptd_route *t = calloc(NOWN + na + 1, sizeof *t);
  if (!t) return NULL;
  memcpy(t, OWN, sizeof OWN);
  for (size_t i = 0; i < na; i++)
    t[NOWN + i] = (ptd_route){api[i].method,    api[i].path,    api[i].name, api[i].access,
                              api[i].body_type, ptd_api_answer, (int)i};
  t[NOWN + na] = (ptd_route){"GET", "", "other", PT_ACCESS_OPEN, NULL, NULL, -1};
  *n = NOWN + na;
  return t;
}

size_t ptd_route_find(const ptd_route *routes, size_t n, const char *method, const char *path,
                      char param[64], int *wrong_method) {
  int head = strcmp(method, "HEAD") == 0;
  size_t found = n;
  *wrong_method = 0;
  for (size_t i = 0; i < n; i++) {
    if (!pt_route_match(routes[i].path, path, param)) continue;
    if (strcmp(routes[i].method, method) == 0 || (head && strcmp(routes[i].method, "GET") == 0)) {
      *wrong_method = 0;
      return i;
    }
    if (found == n) { /* the path exists: a 405 names this row's method */
      found = i;
      *wrong_method = 1;
    }
  }
  return found;
}
