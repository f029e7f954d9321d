/* sign.c - Ed25519 signing and checking (see sign.h). PureEdDSA signs the
 * message itself (no digest), so each call is one EVP_DigestSign. */
#include "sign.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pt_signer {
  EVP_PKEY *key;
  char pubkey[PT_PUBKEY_B64];
};

pt_signer *pt_signer_from_pem(const char *pem, size_t len, char *errbuf, size_t errlen) {
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
  BIO_free(bio);
  ERR_clear_error();
  if (!key) {
    snprintf(errbuf, errlen, "not a PEM private key");
    return NULL;
  }
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    snprintf(errbuf, errlen, "not an Ed25519 key (make one with: openssl genpkey -algorithm ed25519)");
    EVP_PKEY_free(key);
    return NULL;
  }
  unsigned char raw[32];
  size_t rawlen = sizeof raw;
  pt_signer *s = calloc(1, sizeof *s);
  if (!s || EVP_PKEY_get_raw_public_key(key, raw, &rawlen) != 1 || rawlen != sizeof raw) {
    snprintf(errbuf, errlen, s ? "cannot read the public key" : "out of memory");
    free(s);
    EVP_PKEY_free(key);
    return NULL;
  }
  s->key = key;
  EVP_EncodeBlock((unsigned char *)s->pubkey, raw, (int)rawlen);
  return s;
}

void pt_signer_free(pt_signer *s) {
  if (!s) return;
  EVP_PKEY_free(s->key);
  free(s);
}

const char *pt_signer_pubkey(const pt_signer *s) {
  return s->pubkey;
}

int pt_signer_sign(const pt_signer *s, const void *msg, size_t len, char out[PT_SIG_B64]) {
  unsigned char sig[64];
  size_t siglen = sizeof sig;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->key) == 1 &&
           EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == sizeof sig;
  EVP_MD_CTX_free(ctx);
  if (!ok) {
    ERR_clear_error();
    out[0] = '\0';
    return -1;
  }
  EVP_EncodeBlock((unsigned char *)out, sig, (int)siglen);
  return 0;
}

/* Decodes exactly n bytes of base64 (with its padding); 0 or -1. */
static int unbase64(const char *text, unsigned char *out, size_t n) {
  size_t len = strlen(text);
  if (len != 4 * ((n + 2) / 3)) return -1;
  unsigned char buf[96];
  if (len / 4 * 3 > sizeof buf) return -1;
  int got = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)len);
  if (got < 0 || (size_t)got < n) return -1;
  memcpy(out, buf, n);
  return 0;
}

static int check_with(EVP_PKEY *key, const void *msg, size_t len, const char *sig_b64) {
  unsigned char sig[64];
  if (!sig_b64 || unbase64(sig_b64, sig, sizeof sig)) return 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
           EVP_DigestVerify(ctx, sig, sizeof sig, msg, len) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

int pt_signer_check(const pt_signer *s, const void *msg, size_t len, const char *sig) {
  return check_with(s->key, msg, len, sig);
}

int pt_ed25519_check(const char *pubkey_b64, const void *msg, size_t len, const char *sig) {
  unsigned char raw[32];
  if (!pubkey_b64 || unbase64(pubkey_b64, raw, sizeof raw)) return 0;
  EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, sizeof raw);
  if (!key) {
    ERR_clear_error();
    return 0;
  }
  int ok = check_with(key, msg, len, sig);
  EVP_PKEY_free(key);
  return ok;
}
