/* test_check.c - the offline checks a client makes (src/lib/check.c): chain
 * hashes against the contract's vectors, signatures over any spelling of a
 * JSON text, registry entries and receipts, each refused when altered. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* pt_chain_hash_of gives every vector session's chain_hash from its last
 * link ("GENESIS" for a session without events). */
static void test_chain_hash_of_vectors(void **state) {
  (void)state;
  json_t *v = tu_vectors();
  json_t *sessions = json_object_get(v, "sessions");
  assert_true(json_array_size(sessions) > 3);
  size_t i;
  json_t *s;
  json_array_foreach(sessions, i, s) {
    json_t *evs = json_object_get(s, "events");
    size_t n = json_array_size(evs);
    const char *link =
        n ? json_string_value(json_object_get(json_array_get(evs, n - 1), "link")) : "GENESIS";
    assert_non_null(link);
    char out[65];
    memset(out, 'x', sizeof out);
    pt_chain_hash_of(json_string_value(json_object_get(s, "session_id")), link, out);
    assert_string_equal(out, json_string_value(json_object_get(s, "chain_hash")));
  }
  json_decref(v);
}

static char *key_pem(void) {
  EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  assert_non_null(key);
  BIO *bio = BIO_new(BIO_s_mem());
  assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
  char *data;
  long n = BIO_get_mem_data(bio, &data);
  char *pem = malloc((size_t)n + 1);
  memcpy(pem, data, (size_t)n);
  pem[n] = '\0';
  BIO_free(bio);
  EVP_PKEY_free(key);
  return pem;
}

static char *pubkey(pt_tracker *t) {
  char *doc;
  pt_error err;
  TU_ASSERT_OK(pt_pubkey(t, &doc, &err), &err);
  json_t *v = tu_json(doc);
  char *key = strdup(json_string_value(json_object_get(v, "public_key")));
  json_decref(v);
  pt_free(doc);
  return key;
}

/* A registry entry signed by a tracker, checked with pt_signature_check
 * over the entry without "signature" in any member order and spacing, with
 * pt_entry_check over the entry as listed, and refused when anything is
 * changed: a value, the key, the signature, a text that is not I-JSON. */
static void test_signature_and_entry_check(void **state) {
  (void)state;
  char *pem = key_pem();
  pt_options o = {.db_url = "memory:", .signing_key_pem = pem};
  pt_tracker *t;
  pt_error err;
  TU_ASSERT_OK(pt_open(&o, &t, &err), &err);
  char *other_pem = key_pem();
  pt_options o2 = {.db_url = "memory:", .signing_key_pem = other_pem};
  pt_tracker *t2;
  TU_ASSERT_OK(pt_open(&o2, &t2, &err), &err);
  char *pub = pubkey(t), *other = pubkey(t2);
  tu_track(t, "c1", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
  char *entry;
  TU_ASSERT_OK(pt_snapshot(t, "c1", NULL, "n\u00e9e \"quoted\"", &entry, &err), &err);

  assert_int_equal(pt_entry_check(pub, entry, strlen(entry)), 1);
  assert_int_equal(pt_entry_check(other, entry, strlen(entry)), 0);

  json_t *e = tu_json(entry);
  char *sig = strdup(json_string_value(json_object_get(e, "signature")));
  json_object_del(e, "signature");
  /* as given, indented, and sorted compact: the same canonical form */
  char *pretty = json_dumps(e, JSON_INDENT(3) | JSON_PRESERVE_ORDER);
  char *sorted = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
  assert_string_not_equal(pretty, sorted);
  assert_int_equal(pt_signature_check(pub, pretty, strlen(pretty), sig), 1);
  assert_int_equal(pt_signature_check(pub, sorted, strlen(sorted), sig), 1);
  assert_int_equal(pt_signature_check(other, sorted, strlen(sorted), sig), 0);
  /* a value changed */
  json_object_set_new(e, "event_count", json_integer(2));
  char *changed = json_dumps(e, JSON_COMPACT);
  assert_int_equal(pt_signature_check(pub, changed, strlen(changed), sig), 0);
  /* not I-JSON (a duplicate member), malformed key or signature, NULLs */
  const char *dup = "{\"a\":1,\"a\":1}";
  assert_int_equal(pt_signature_check(pub, dup, strlen(dup), sig), 0);
  assert_int_equal(pt_signature_check("not base64!", sorted, strlen(sorted), sig), 0);
  assert_int_equal(pt_signature_check(pub, sorted, strlen(sorted), "AAAA"), 0);
  assert_int_equal(pt_signature_check(NULL, sorted, strlen(sorted), sig), 0);
  assert_int_equal(pt_signature_check(pub, NULL, 0, sig), 0);
  assert_int_equal(pt_signature_check(pub, sorted, strlen(sorted), NULL), 0);
  /* the signature checks the text's length, not past it */
  assert_int_equal(pt_signature_check(pub, sorted, strlen(sorted) - 1, sig), 0);

  /* pt_entry_check: an entry altered, without a signature, not an object */
  json_object_set_new(e, "signature", json_string(sig));
  char *altered = json_dumps(e, JSON_COMPACT);
  assert_int_equal(pt_entry_check(pub, altered, strlen(altered)), 0);
  json_object_del(e, "signature");
  char *unsigned_entry = json_dumps(e, JSON_COMPACT);
  assert_int_equal(pt_entry_check(pub, unsigned_entry, strlen(unsigned_entry)), -1);
  assert_int_equal(pt_entry_check(pub, "[1]", 3), -1);
  assert_int_equal(pt_entry_check(pub, "{\"signature\":1}", 15), -1);
  assert_int_equal(pt_entry_check(pub, "{", 1), -1);

  free(pretty);
  free(sorted);
  free(changed);
  free(altered);
  free(unsigned_entry);
  free(sig);
  json_decref(e);
  pt_free(entry);
  free(pub);
  free(other);
  pt_close(t);
  pt_close(t2);
  free(pem);
  free(other_pem);
}

/* A track's receipt holds for its session, link and seq, and for nothing
 * else. */
static void test_receipt_check(void **state) {
  (void)state;
  char *pem = key_pem();
  pt_options o = {.db_url = "memory:", .signing_key_pem = pem};
  pt_tracker *t;
  pt_error err;
  TU_ASSERT_OK(pt_open(&o, &t, &err), &err);
  char *pub = pubkey(t);
  tu_track(t, "r1", "checkout_digital", "checkout_started", PT_SUCCESS, NULL);
  pt_event_in ev = {.session_id = "r1",
                    .pipeline_type = "checkout_digital",
                    .step = "payment_initiated",
                    .status = PT_SUCCESS,
                    .ts = -1};
  pt_track_result *r;
  TU_ASSERT_OK(pt_track(t, &ev, 0, &r, &err), &err);
  assert_int_equal(r->seq, 1);
  assert_int_equal(strlen(r->receipt), 88);
  char chain[65];
  pt_chain_hash_of("r1", r->link, chain);
  assert_string_equal(chain, r->chain_hash);
  assert_int_equal(pt_receipt_check(pub, "r1", r->link, 1, r->receipt), 1);
  assert_int_equal(pt_receipt_check(pub, "r1", r->link, 0, r->receipt), 0);
  assert_int_equal(pt_receipt_check(pub, "r2", r->link, 1, r->receipt), 0);
  char link[65];
  memcpy(link, r->link, sizeof link);
  link[0] = link[0] == '0' ? '1' : '0';
  assert_int_equal(pt_receipt_check(pub, "r1", link, 1, r->receipt), 0);
  assert_int_equal(pt_receipt_check(pub, NULL, r->link, 1, r->receipt), 0);
  assert_int_equal(pt_receipt_check(pub, "r1", r->link, 1, NULL), 0);
  pt_track_result_free(r);
  free(pub);
  pt_close(t);
  free(pem);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chain_hash_of_vectors),
      cmocka_unit_test(test_signature_and_entry_check),
      cmocka_unit_test(test_receipt_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
