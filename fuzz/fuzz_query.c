/* fuzz_query.c - request targets: routes and query strings. The input is
 * "METHOD /path?query" (a method, a space, the target): the route table
 * (pt_api_route_find, pt_route_match) on the path, then the whole target
 * answered in-process by pt_api_call_url (its percent-decoding, its query
 * split and each handler's reading of its arguments) on a seeded memory:
 * tracker, without a body. */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char buf[4097];
  memcpy(buf, data, size);
  buf[size] = '\0';
  char *sp = strchr(buf, ' ');
  if (!sp) return 0;
  *sp = '\0';
  const char *method = buf, *target = sp + 1;

  /* the table: a row found matches its pattern and method, its {id} is a
   * bounded segment */
  char path[4097], param[64] = "";
  size_t plen = strcspn(target, "?");
  memcpy(path, target, plen);
  path[plen] = '\0';
  int known = -1;
  int row = pt_api_route_find(method, path, param, &known);
  size_t n;
  const pt_route *routes = pt_api_routes(&n);
  if (row >= 0) {
    char p2[64] = "";
    if ((size_t)row >= n || strcmp(routes[row].method, method) != 0 ||
        !pt_route_match(routes[row].path, path, p2) || strcmp(p2, param) != 0)
      fuzz_die("a route found does not match", path);
    if (strlen(param) > 63 || strchr(param, '/')) fuzz_die("a malformed {id}", param);
  } else if (known != 0 && known != 1) {
    fuzz_die("path_known not set", path);
  }

  /* a track without a body changes nothing: every route may be called */
  pt_answer *a = pt_api_call_url(fuzz_tracker(1), method, target, NULL, 0, "fuzz");
  fuzz_check_answer(a);
  /* the path is percent-decoded before it is routed: only a plain one is
   * known unknown here */
  if (row < 0 && !strchr(path, '%') && a->status != 404 && a->status != 405)
    fuzz_die("an unknown route answered", target);
  pt_answer_free(a);
  return 0;
}
