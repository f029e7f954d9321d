/* readtoken.c - read tokens (see readtoken.h). */
#include "readtoken.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "rt1."

int ptd_rt_is_token(const char *text) {
  return text && strncmp(text, PREFIX, sizeof PREFIX - 1) == 0;
}

/* The 43 characters of the base64url MAC (no padding) into out. */
static void mac(const unsigned char *key, size_t key_len, int64_t expires_at,
                const char *session_id, char out[44]) {
  char msg[200];
  int n = snprintf(msg, sizeof msg, "rt1|%" PRId64 "|%s", expires_at, session_id);
  unsigned char d[32];
  unsigned int dl = sizeof d;
  HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, (size_t)n, d, &dl);
  static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0;
  for (size_t i = 0; i < 32; i += 3) {
    uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < 32 ? (uint32_t)d[i + 1] << 8 : 0) |
                 (i + 2 < 32 ? d[i + 2] : 0);
    out[o++] = B64[v >> 18 & 63];
    out[o++] = B64[v >> 12 & 63];
    if (i + 1 < 32) out[o++] = B64[v >> 6 & 63];
    if (i + 2 < 32) out[o++] = B64[v & 63];
  }
  out[o] = '\0'; /* 32 bytes: 43 characters */
}

void ptd_rt_mint(const ptd_readtoken *rt, const char *session_id, int64_t now_ms,
                 char out[PTD_READ_TOKEN_SIZE], int64_t *expires_at_ms) {
  int64_t exp = now_ms + rt->ttl_ms;
  char m[44];
  mac(rt->secret, rt->secret_len, exp, session_id, m);
  snprintf(out, PTD_READ_TOKEN_SIZE, PREFIX "%" PRId64 ".%s", exp, m);
  if (expires_at_ms) *expires_at_ms = exp;
}

ptd_rt_check ptd_rt_check_token(const ptd_readtoken *rt, const char *token, const char *session_id,
                                int64_t now_ms) {
  if (!ptd_rt_is_token(token)) return PTD_RT_MALFORMED;
  const char *p = token + sizeof PREFIX - 1;
  int64_t exp = 0;
  int digits = 0;
  for (; *p >= '0' && *p <= '9' && digits < 19; p++, digits++) exp = exp * 10 + (*p - '0');
  if (!digits || *p != '.' || strlen(p + 1) != 43) return PTD_RT_MALFORMED;
  /* the MAC first, so that an expiry is only ever reported for a real token */
  char m[44];
  mac(rt->secret, rt->secret_len, exp, session_id, m);
  int ok = CRYPTO_memcmp(m, p + 1, 43) == 0;
  if (!ok && rt->previous_len) {
    mac(rt->previous, rt->previous_len, exp, session_id, m);
    ok = CRYPTO_memcmp(m, p + 1, 43) == 0;
  }
  if (!ok) return PTD_RT_WRONG;
  return exp <= now_ms ? PTD_RT_EXPIRED : PTD_RT_OK;
}
