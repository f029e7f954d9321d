/* fuzz_defs.c - pipeline definitions (pt_defs_parse, as --pipelines and
 * pt_definitions_load read them): accepted definitions written back as
 * JSON (what GET /api/pipeline/definitions shows) must read back to the
 * same pipelines, each with the same digest. */
#include <stdint.h>
#include <string.h>

#include "core/defs.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pt_defs *d = (pt_defs *)1, *d2 = NULL;
  pt_error err;
  if (pt_defs_parse((const char *)data, size, &d, &err) != PT_OK) {
    if (d) fuzz_die("a refusal left definitions", NULL);
    fuzz_check_message(err.message);
    return 0;
  }
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_defs_write_json(&b, d);
  if (b.failed) fuzz_die("out of memory", NULL);
  if (pt_defs_parse(b.data, b.len, &d2, &err) != PT_OK)
    fuzz_die("the written definitions do not read back", err.message);
  if (d2->n != d->n) fuzz_die("the pipelines' count changed", b.data);
  for (int i = 0; i < d->n; i++) {
    const pt_pipeline *p = pt_defs_find(d2, d->p[i].type);
    if (!p || strcmp(p->digest, d->p[i].digest) != 0 || p->nsteps != d->p[i].nsteps ||
        p->nrequired != d->p[i].nrequired || p->stall_after_s != d->p[i].stall_after_s)
      fuzz_die("a pipeline changed once written and read", d->p[i].type);
  }
  pt_buf_cleanup(&b);
  pt_defs_unref(d2);
  pt_defs_unref(d);
  return 0;
}
