/* fuzz_jparse.c - differential fuzz target for the JSON readers: the
 * canonicalising parser (pt_jparse_canonical), the tree reader on the same
 * grammar (pt_jparse_tree, then pt_jcs_write) and jansson's own reader (with
 * the flags the event path used before) must agree on what is I-JSON and
 * produce the same canonical text, and that text must be a fixed point. The
 * one difference allowed: jansson refuses U+0000 in a member name, which
 * I-JSON allows and ours take. Any other disagreement aborts. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jcs.h"
#include "core/jparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what) {
  fprintf(stderr, "%s\n", what);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  pt_buf a;
  pt_buf_init(&a, 1 << 20);
  pt_jparse_error je, te;
  int ra = pt_jparse_canonical(text, size, 64, &a, &je);
  json_t *tree = NULL;
  int rt = pt_jparse_tree(text, size, 64, &tree, &te);
  pt_buf b;
  pt_buf_init(&b, 1 << 20);
  int rb = rt == 0 ? pt_jcs_write(&b, tree, 64) : -1;
  json_error_t jerr;
  json_t *jt = json_loadb(text, size, PT_JSON_FLAGS | JSON_DECODE_ANY, &jerr);
  pt_buf c;
  pt_buf_init(&c, 1 << 20);
  int rc = jt ? pt_jcs_write(&c, jt, 64) : -1;
  /* Size limits are checked at different moments (the tree is built first),
   * so only compare texts that no side refused for a limit. */
  int limited = (ra && je.too_large) || a.failed || b.failed || c.failed || (jt && rc);
  if (memchr(text, 0, size)) {
    /* a raw NUL byte is never JSON; jansson would stop reading there */
    if (ra == 0 || rt == 0) die("a raw NUL byte was accepted");
    limited = 1;
  }
  if (!limited) {
    if ((ra == 0) != (rt == 0)) {
      fprintf(stderr, "acceptance differs: canonical %s (%s), tree %s (%s)\n",
              ra ? "refused" : "accepted", ra ? je.reason : "", rt ? "refused" : "accepted",
              rt ? te.reason : "");
      abort();
    }
    if (ra == 0 && (rb != 0 || a.len != b.len || memcmp(a.data, b.data, a.len) != 0))
      die("canonical text differs between the canonical and the tree reader");
    /* deeper than jansson's own bound is refused by jansson alone; a
     * non-zero number too small for a double (1e-400) is refused by us
     * alone (jansson reads it as 0) */
    if ((ra == 0) != (jt != NULL) &&
        !(ra == 0 && !jt && strstr(jerr.text, "NUL byte in object key")) &&
        !(ra && je.too_deep) && !(ra && je.number == 2)) {
      fprintf(stderr, "acceptance differs: ours %s (%s), jansson %s (%s)\n",
              ra ? "refused" : "accepted", ra ? je.reason : "", jt ? "accepted" : "refused",
              jt ? "" : jerr.text);
      abort();
    }
    if (ra == 0 && jt && (a.len != c.len || memcmp(a.data, c.data, a.len) != 0))
      die("canonical text differs from jansson's tree");
    if (ra == 0) {
      pt_buf d;
      pt_buf_init(&d, 0);
      if (pt_jparse_canonical(a.data, a.len, 64, &d, &je) != 0 || d.len != a.len ||
          memcmp(d.data, a.data, a.len) != 0)
        die("canonical text is not a fixed point");
      pt_buf_cleanup(&d);
    }
  }
  json_decref(tree);
  json_decref(jt);
  pt_buf_cleanup(&a);
  pt_buf_cleanup(&b);
  pt_buf_cleanup(&c);
  return 0;
}
