/* check.c - what a client checks offline (receipts, signed registry
 * entries, chain hashes) and reading JSON the way pipetrack reads it: the
 * public helpers that need no tracker. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/buf.h"
#include "../core/error.h"
#include "../core/event.h"
#include "../core/jcs.h"
#include "../core/jparse.h"
#include "../core/sign.h"
#include "../core/validate.h"
#include "pipetrack.h"

void pt_chain_hash_of(const char *session_id, const char *link, char out[65]) {
  pt_chain_hash(session_id, link, out);
}

pt_status pt_json_read(const char *text, size_t len, struct json_t **out, pt_error *err) {
  return pt_parse_ijson(text, len, "json", out, err);
}

int pt_signature_check(const char *pubkey, const char *json, size_t len, const char *signature) {
  if (!pubkey || !json || !signature) return 0;
  char *canon = NULL;
  if (pt_canonicalize(json, len, &canon, NULL) != PT_OK) return 0;
  int ok = pt_ed25519_check(pubkey, canon, strlen(canon), signature);
  pt_free(canon);
  return ok;
}

int pt_entry_check(const char *pubkey, const char *entry_json, size_t len) {
  json_t *e = NULL;
  if (pt_parse_ijson(entry_json, len, "entry", &e, NULL) != PT_OK) return -1;
  json_t *sig = json_object_get(e, "signature");
  int rc = -1;
  if (json_is_object(e) && json_is_string(sig)) {
    char *s = strdup(json_string_value(sig));
    json_object_del(e, "signature");
    /* the canonical form is what was signed: any member order will do */
    pt_buf b;
    pt_buf_init(&b, 0);
    rc =
        s && pt_jcs_write(&b, e, 0) == 0 && !b.failed && pt_ed25519_check(pubkey, b.data, b.len, s);
    pt_buf_cleanup(&b);
    free(s);
  }
  json_decref(e);
  return rc;
}

int pt_receipt_check(const char *pubkey, const char *session_id, const char *link, int64_t seq,
                     const char *receipt) {
  if (!pubkey || !session_id || !link || !receipt) return 0;
  char chain[65];
  pt_chain_hash(session_id, link, chain);
  pt_buf b;
  pt_buf_init(&b, 0);
  /* {"chain_hash","link","seq","session_id"}: already in canonical order */
  pt_buf_json_member(&b, "{\"chain_hash\":", chain);
  pt_buf_json_member(&b, ",\"link\":", link);
  pt_buf_printf(&b, ",\"seq\":%" PRId64 ",\"session_id\":", seq);
  pt_buf_json_cstr(&b, session_id);
  pt_buf_putc(&b, '}');
  int ok = !b.failed && pt_ed25519_check(pubkey, b.data, b.len, receipt);
  pt_buf_cleanup(&b);
  return ok;
}
