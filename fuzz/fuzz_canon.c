/* fuzz_canon.c - the public canonicaliser (pt_canonicalize, RFC 8785), as
 * `pipetrack canonicalize` and offline checkers call it: its output must
 * canonicalise to itself, a refusal must leave *out NULL and say why in one
 * line. */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *out = (char *)1, *again = NULL;
  pt_error err;
  if (pt_canonicalize((const char *)data, size, &out, &err) != PT_OK) {
    if (out) fuzz_die("a refusal left an output", NULL);
    fuzz_check_message(err.message);
    return 0;
  }
  size_t n = strlen(out);
  if (pt_canonicalize(out, n, &again, &err) != PT_OK) fuzz_die("its own output refused", out);
  if (strcmp(out, again) != 0) fuzz_die("the canonical text is not a fixed point", out);
  pt_free(again);
  pt_free(out);
  return 0;
}
