/* sha.h - SHA-256 as lowercase hex, on OpenSSL's libcrypto.
 * The one-shot EVP path fetches the algorithm on every call, which costs more
 * than hashing a chain link; the low-level context is used instead (see
 * docs/decisions.md). */
#ifndef PT_SHA_H
#define PT_SHA_H

#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <stddef.h>

typedef SHA256_CTX pt_sha256;

static inline void pt_sha256_init(pt_sha256 *c) {
  SHA256_Init(c);
}
static inline void pt_sha256_update(pt_sha256 *c, const void *p, size_t n) {
  SHA256_Update(c, p, n);
}
/* Writes 64 hex digits and a NUL into out. */
void pt_sha256_final_hex(pt_sha256 *c, char out[65]);
void pt_sha256_hex(const void *p, size_t n, char out[65]);
void pt_hex(const unsigned char *p, size_t n, char *out);

#endif
