/* sign.h - Ed25519 signatures for registry entries (docs/concepts.md#registry-entries-snapshots)
 * and receipts (docs/concepts.md#receipts), on OpenSSL's libcrypto. A signer holds the private key;
 * it is read-only once made, so any number of threads may sign with it at once (each call uses a
 * context of its own). */
#ifndef PT_SIGN_H
#define PT_SIGN_H

#include <stddef.h>

/* base64 of a 64-byte signature: 88 characters and a NUL */
#define PT_SIG_B64 89
/* base64 of a 32-byte public key: 44 characters and a NUL */
#define PT_PUBKEY_B64 45

typedef struct pt_signer pt_signer;

/* An Ed25519 private key from PEM text (as `openssl genpkey -algorithm
 * ed25519` writes it). NULL on error, with the reason in errbuf. */
pt_signer *pt_signer_from_pem(const char *pem, size_t len, char *errbuf, size_t errlen);
void pt_signer_free(pt_signer *s);
/* The signature of msg, base64, into out. 0, or -1 (no memory). */
int pt_signer_sign(const pt_signer *s, const void *msg, size_t len, char out[PT_SIG_B64]);
/* 1 when sig (base64) is this key's signature of msg, else 0. */
int pt_signer_check(const pt_signer *s, const void *msg, size_t len, const char *sig);
/* The public key: base64 of its 32 raw bytes. */
const char *pt_signer_pubkey(const pt_signer *s);

/* Checks sig (base64) of msg against a public key given as base64 of its 32
 * raw bytes, as a client would offline. 1 valid, 0 not. */
int pt_ed25519_check(const char *pubkey_b64, const void *msg, size_t len, const char *sig);

#endif
