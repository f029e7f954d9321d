/* hash.h - FNV-1a over a string, for the server's small hash tables (streams
 * by session, event counters): keys are short, and any spread will do. */
#ifndef PTD_HASH_H
#define PTD_HASH_H

#include <stdint.h>

#define PTD_HASH_SEED 2166136261u

/* Continues hash h over s (start with PTD_HASH_SEED). */
static inline uint32_t ptd_hash(uint32_t h, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * 16777619u;
  return h;
}

#endif
