/* test_sign.c - Ed25519 signatures (docs/concepts.md#registry-entries-snapshots,
 * docs/concepts.md#receipts): the signing module, signed registry entries and receipts checked the
 * way a client would (from the public key and the JSON it was given), and verification naming an
 * entry whose signature no longer holds. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sign.h"
#include "lib/internal.h"
#include "testutil.h"

/* A fresh key as PEM text (caller frees); type is EVP_PKEY_ED25519 or
 * another algorithm's id for the refusal case. */
static char *make_key_pem(const char *alg) {
  EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, alg);
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

static void test_signer(void **state) {
  (void)state;
  char *pem = make_key_pem("ED25519");
  char why[200];
  pt_signer *s = pt_signer_from_pem(pem, strlen(pem), why, sizeof why);
  assert_non_null(s);
  assert_int_equal(strlen(pt_signer_pubkey(s)), 44);
  char sig[PT_SIG_B64], again[PT_SIG_B64];
  assert_int_equal(pt_signer_sign(s, "hello", 5, sig), 0);
  assert_int_equal(strlen(sig), 88);
  assert_int_equal(pt_signer_sign(s, "hello", 5, again), 0);
  assert_string_equal(sig, again); /* Ed25519 is deterministic */
  assert_int_equal(pt_signer_check(s, "hello", 5, sig), 1);
  assert_int_equal(pt_ed25519_check(pt_signer_pubkey(s), "hello", 5, sig), 1);
  assert_int_equal(pt_ed25519_check(pt_signer_pubkey(s), "hellO", 5, sig), 0);
  sig[10] = sig[10] == 'A' ? 'B' : 'A';
  assert_int_equal(pt_ed25519_check(pt_signer_pubkey(s), "hello", 5, sig), 0);
  assert_int_equal(pt_ed25519_check(pt_signer_pubkey(s), "hello", 5, "short"), 0);
  assert_int_equal(pt_ed25519_check("not a key", "hello", 5, again), 0);
  pt_signer_free(s);
  free(pem);
  /* refusals say why */
  assert_null(pt_signer_from_pem("garbage", 7, why, sizeof why));
  assert_string_equal(why, "not a PEM private key");
  pem = make_key_pem("X25519");
  assert_null(pt_signer_from_pem(pem, strlen(pem), why, sizeof why));
  assert_non_null(strstr(why, "not an Ed25519 key"));
  free(pem);
}

static pt_tracker *open_signed(const char *url, const char *pem) {
  pt_options o = {.db_url = url, .signing_key_pem = pem, .auto_snapshot = 1};
  pt_tracker *t;
  pt_error err;
  TU_ASSERT_OK(pt_open(&o, &t, &err), &err);
  return t;
}

static char *pubkey_of(pt_tracker *t) {
  char *doc;
  pt_error err;
  TU_ASSERT_OK(pt_pubkey(t, &doc, &err), &err);
  json_t *v = tu_json(doc);
  assert_string_equal(json_string_value(json_object_get(v, "algorithm")), "ed25519");
  char *key = strdup(json_string_value(json_object_get(v, "public_key")));
  json_decref(v);
  pt_free(doc);
  return key;
}

/* Checks an entry's signature as a client would: the entry it was given,
 * without "signature", in RFC 8785 form (jansson's sorted compact output is
 * that form for these ASCII members and integers). */
static void check_entry(const char *pubkey, const char *entry_json) {
  json_t *e = tu_json(entry_json);
  const char *sig = json_string_value(json_object_get(e, "signature"));
  assert_non_null(sig);
  char *sigc = strdup(sig);
  json_object_del(e, "signature");
  char *text = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
  if (!pt_ed25519_check(pubkey, text, strlen(text), sigc))
    fail_msg("entry signature does not verify over %s", text);
  free(text);
  free(sigc);
  json_decref(e);
}

static void check_receipt(const char *pubkey, const pt_track_result *r, const char *sid) {
  json_t *m = json_pack("{s:s,s:s,s:I,s:s}", "chain_hash", r->chain_hash, "link", r->link, "seq",
                        (json_int_t)r->seq, "session_id", sid);
  char *text = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
  if (!pt_ed25519_check(pubkey, text, strlen(text), r->receipt))
    fail_msg("receipt does not verify over %s", text);
  free(text);
  json_decref(m);
}

static void test_signed_entries_and_receipts(void **state) {
  (void)state;
  char *pem = make_key_pem("ED25519");
  char urls[TU_STORES_MAX][TU_URL_SIZE];
  size_t n = tu_store_urls("signed", urls, TU_STORES_MAX);
  TU_EACH_URL(urls, n, url) {
    pt_tracker *t = open_signed(url, pem);
    char *pub = pubkey_of(t);
    pt_error err;
    /* 20 events: the entries of the last four list ids the session's recent
     * list no longer holds (read inside the transaction) */
    for (int i = 0; i < 20; i++) {
      char id[16];
      snprintf(id, sizeof id, "s%d", i);
      pt_event_in ev = {.id = id,
                        .session_id = "sig",
                        .pipeline_type = "checkout_digital",
                        .step = "checkout_started",
                        .status = PT_STARTED,
                        .ts = -1};
      pt_track_result *r;
      TU_ASSERT_OK(pt_track(t, &ev, PT_SNAPSHOT_DEFAULT, &r, &err), &err);
      assert_int_equal(strlen(r->receipt), 88);
      check_receipt(pub, r, "sig");
      check_entry(pub, r->snapshot_json);
      pt_track_result_free(r);
    }
    /* a replay carries the receipt of the stored event again */
    pt_event_in again = {.id = "s3",
                         .session_id = "sig",
                         .pipeline_type = "checkout_digital",
                         .step = "checkout_started",
                         .status = PT_STARTED,
                         .ts = -1};
    pt_track_result *r;
    TU_ASSERT_OK(pt_track(t, &again, 0, &r, &err), &err);
    assert_int_equal(r->replayed, 1);
    assert_int_equal(r->seq, 3);
    check_receipt(pub, r, "sig");
    pt_track_result_free(r);
    /* a manual entry with notes, and the entries as the registry lists them */
    char *doc;
    TU_ASSERT_OK(pt_snapshot(t, "sig", NULL, "checked by hand", &doc, &err), &err);
    check_entry(pub, doc);
    pt_free(doc);
    TU_ASSERT_OK(pt_history(t, "sig", 5, NULL, &doc, &err), &err);
    json_t *h = tu_json(doc);
    json_t *items = json_object_get(h, "items");
    assert_int_equal(json_array_size(items), 5);
    for (size_t i = 0; i < json_array_size(items); i++) {
      char *one = json_dumps(json_array_get(items, i), JSON_COMPACT);
      check_entry(pub, one);
      free(one);
    }
    json_decref(h);
    pt_free(doc);
    int ok;
    TU_ASSERT_OK(pt_verify(t, "sig", &ok, &doc, &err), &err);
    assert_int_equal(ok, 1);
    pt_free(doc);
    /* a redaction's note is a signed entry too, and every signature made
     * before it still holds (entries bind ids and the chain, not payloads) */
    const char *two[] = {"s2"};
    TU_ASSERT_OK(pt_redact(t, "sig", two, 1, "tester", &doc, &err), &err);
    json_t *rd = tu_json(doc);
    pt_free(doc);
    char *entry = json_dumps(json_object_get(rd, "snapshot"), JSON_COMPACT);
    check_entry(pub, entry);
    free(entry);
    json_decref(rd);
    TU_ASSERT_OK(pt_verify(t, "sig", &ok, &doc, &err), &err);
    assert_int_equal(ok, 1);
    pt_free(doc);
    pt_close(t);
    free(pub);
  }
  free(pem);
}

/* An entry whose signature was altered, or signed by another key, is named. */
static void test_verify_names_bad_signature(void **state) {
  (void)state;
  char *pem = make_key_pem("ED25519");
  const char *path = tu_tmp_db("badsig");
  char url[600];
  snprintf(url, sizeof url, "sqlite:%s", path);
  pt_tracker *t = open_signed(url, pem);
  tu_track(t, "bs", "checkout_digital", "checkout_started", PT_SUCCESS, "b0");
  tu_track(t, "bs", "checkout_digital", "payment_initiated", PT_SUCCESS, "b1");
  pt_close(t);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  /* the second entry gets the first one's signature */
  assert_int_equal(sqlite3_exec(db,
                                "UPDATE snapshots SET signature = (SELECT signature FROM snapshots"
                                " WHERE n = 0) WHERE n = 1",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  t = open_signed(url, pem);
  char *doc;
  pt_error err;
  int ok;
  TU_ASSERT_OK(pt_verify(t, "bs", &ok, &doc, &err), &err);
  assert_int_equal(ok, 0);
  json_t *v = tu_json(doc);
  json_t *mm = json_object_get(v, "mismatches");
  assert_int_equal(json_array_size(mm), 1);
  json_t *m = json_array_get(mm, 0);
  assert_string_equal(json_string_value(json_object_get(m, "kind")), "snapshot");
  assert_string_equal(json_string_value(json_object_get(m, "reason")),
                      "signature does not verify with the signing key");
  json_decref(v);
  pt_free(doc);
  pt_close(t);
  /* another key: both entries are named; without a key nothing is checked */
  char *other = make_key_pem("ED25519");
  t = open_signed(url, other);
  TU_ASSERT_OK(pt_verify(t, "bs", &ok, &doc, &err), &err);
  v = tu_json(doc);
  assert_int_equal(json_array_size(json_object_get(v, "mismatches")), 2);
  json_decref(v);
  pt_free(doc);
  assert_int_equal(pt_pubkey(t, &doc, &err), PT_OK);
  pt_free(doc);
  pt_close(t);
  t = open_signed(url, NULL);
  TU_ASSERT_OK(pt_verify(t, "bs", &ok, &doc, &err), &err);
  assert_int_equal(ok, 1);
  pt_free(doc);
  assert_int_equal(pt_pubkey(t, &doc, &err), PT_ENOTFOUND);
  assert_null(doc);
  pt_close(t);
  /* a key that is not one is refused at open, naming the option */
  pt_options o = {.db_url = "memory:", .signing_key_pem = "nope"};
  assert_int_equal(pt_open(&o, &t, &err), PT_EINVALID);
  assert_string_equal(err.field, "signing_key");
  free(other);
  free(pem);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_signer),
      cmocka_unit_test(test_signed_entries_and_receipts),
      cmocka_unit_test(test_verify_names_bad_signature),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
