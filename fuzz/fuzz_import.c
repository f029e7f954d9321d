/* fuzz_import.c - import lines (pt_import, as POST /api/pipeline/import
 * and `pipetrack import` send them) into a memory: tracker, reopened every
 * FUZZ_RESET_EVERY runs. A refusal names its line in one line; what was
 * imported once imports again with nothing added (importing twice changes
 * nothing). */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pt_tracker *t = fuzz_tracker(0);
  pt_import_result r, r2;
  pt_error err;
  memset(&r, 0, sizeof r);
  if (pt_import(t, (const char *)data, size, 1, &r, &err) != PT_OK) {
    fuzz_check_message(err.message);
    return 0;
  }
  memset(&r2, 0, sizeof r2);
  if (pt_import(t, (const char *)data, size, 1, &r2, &err) != PT_OK)
    fuzz_die("an import refused the second time", err.message);
  if (r2.events_added || r2.snapshots_added) fuzz_die("importing twice added something", NULL);
  return 0;
}
