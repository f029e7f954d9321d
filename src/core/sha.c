/* sha.c - SHA-256 helpers (see sha.h). */
#include "sha.h"

void pt_hex(const unsigned char *p, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[p[i] >> 4];
    out[2 * i + 1] = hex[p[i] & 15];
  }
  out[2 * n] = '\0';
}

void pt_sha256_final_hex(pt_sha256 *c, char out[65]) {
  unsigned char md[32];
  SHA256_Final(md, c);
  pt_hex(md, 32, out);
}

void pt_sha256_hex(const void *p, size_t n, char out[65]) {
  pt_sha256 c;
  pt_sha256_init(&c);
  pt_sha256_update(&c, p, n);
  pt_sha256_final_hex(&c, out);
}
