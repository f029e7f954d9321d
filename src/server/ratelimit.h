/* ratelimit.h - per-client-address request rate limits (token buckets in a
 * table of fixed size). */
#ifndef PTD_RATELIMIT_H
#define PTD_RATELIMIT_H

#include <stdint.h>

typedef struct ptd_limiter ptd_limiter;

/* rate requests a second with bursts of burst (0: rate); rate 0: no limit
 * (NULL, which every call accepts). */
ptd_limiter *ptd_limiter_new(unsigned rate, unsigned burst);
void ptd_limiter_free(ptd_limiter *l);
/* Takes a token for the IPv4 address (network order) at now_ns: 0 when the
 * request may go on, else how many ms until a token is there. */
uint64_t ptd_limiter_take(ptd_limiter *l, uint32_t addr, uint64_t now_ns);

#endif
