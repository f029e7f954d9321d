/* fuzz_jparse.c - differential fuzz target for the canonicalising parser:
 * jparse and jansson (with the flags the event path uses) must agree on what
 * is I-JSON, produce the same canonical text when both accept, and the
 * canonical text must be a fixed point. Any disagreement aborts. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jcs.h"
#include "core/jparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  pt_buf a;
  pt_buf_init(&a, 1 << 20);
  pt_jparse_error je;
  int ra = pt_jparse_canonical(text, size, 64, &a, &je);
  json_error_t jerr;
  json_t *tree = json_loadb(text, size, PT_JSON_FLAGS | JSON_DECODE_ANY, &jerr);
  pt_buf b;
  pt_buf_init(&b, 1 << 20);
  int rb = tree ? pt_jcs_write(&b, tree, 64) : -1;
  /* Depth and size limits are checked differently (jansson parses first),
   * so only compare texts that neither side refused for a limit. */
  int limited = (ra && (je.too_deep || je.too_large)) || (tree && rb) || a.failed || b.failed;
  /* jansson stops at a raw NUL byte as if the text ended there; JSON never
   * holds one (pt_parse_ijson refuses them before jansson sees the text). */
  if (memchr(text, 0, size)) {
    if (ra == 0) {
      fprintf(stderr, "jparse accepted a raw NUL byte\n");
      abort();
    }
    limited = 1;
  }
  if (!limited) {
    if ((ra == 0) != (tree != NULL)) {
      fprintf(stderr, "acceptance differs: jparse %s (%s), jansson %s (%s)\n",
              ra ? "refused" : "accepted", ra ? je.reason : "", tree ? "accepted" : "refused",
              tree ? "" : jerr.text);
      abort();
    }
    if (ra == 0 && (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)) {
      fprintf(stderr, "canonical text differs\n");
      abort();
    }
    if (ra == 0) {
      pt_buf c;
      pt_buf_init(&c, 0);
      if (pt_jparse_canonical(a.data, a.len, 64, &c, &je) != 0 || c.len != a.len ||
          memcmp(c.data, a.data, a.len) != 0) {
        fprintf(stderr, "canonical text is not a fixed point\n");
        abort();
      }
      pt_buf_cleanup(&c);
    }
  }
  json_decref(tree);
  pt_buf_cleanup(&a);
  pt_buf_cleanup(&b);
  return 0;
}
