/* fuzz_event.c - event validation from JSON, as a track body's "event" is
 * read: the text as I-JSON (pt_parse_ijson), then the event rules
 * (pt_validate_event) against definitions with a required and an optional
 * step. A refusal names a field under "event" in one line; an accepted
 * event holds what the rules promise (an id, the session, a known step). */
#include <stdint.h>
#include <string.h>

#include "core/defs.h"
#include "core/validate.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static pt_defs *defs;
  pt_error err;
  if (!defs && pt_defs_parse(FUZZ_DEFS, sizeof FUZZ_DEFS - 1, &defs, &err) != PT_OK)
    fuzz_die("definitions", err.message);
  const pt_limits lim = {4096, 16};
  json_t *v = NULL;
  if (pt_parse_ijson((const char *)data, size, "event", &v, &err) != PT_OK) {
    if (v) fuzz_die("a refused text left a tree", NULL);
    fuzz_check_message(err.message);
    return 0;
  }
  pt_event *ev = NULL;
  memset(&err, 0, sizeof err);
  pt_status st = pt_validate_event(v, defs, &lim, 1795896449859, "event", &ev, &err);
  if (st != PT_OK) {
    if (ev) fuzz_die("a refused event was built", err.message);
    fuzz_check_message(err.message);
    if (err.field[0] && strncmp(err.field, "event", 5) != 0)
      fuzz_die("a refusal names a field outside the event", err.field);
  } else {
    if (!ev) fuzz_die("an accepted event was not built", NULL);
    json_t *sid = json_object_get(v, "session_id");
    if (!json_is_string(sid) || strcmp(json_string_value(sid), ev->session_id) != 0)
      fuzz_die("the session differs from the text's", ev->session_id);
    if (!pt_is_id(ev->id)) fuzz_die("an accepted event has a malformed id", ev->id);
    const pt_pipeline *p = pt_defs_find(defs, ev->pipeline_type);
    if (!p || pt_pipeline_step(p, ev->step) < 0)
      fuzz_die("an accepted event has an unknown step", ev->step);
  }
  pt_event_free(ev);
  json_decref(v);
  return 0;
}
