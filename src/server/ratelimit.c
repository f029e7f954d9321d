/* ratelimit.c - a token bucket per client address for the track endpoints
 * (--rate-limit, docs/api.md's 429 rate_limited). The table has a fixed size:
 * memory does not grow with the number of clients; when a probe finds no
 * free slot the least recently seen client of the probed ones is forgotten
 * (it starts again with a full bucket). One mutex: a take is a few hundred
 * nanoseconds, next to the tens of microseconds a tracked event costs. */
#include "ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 8192 /* a power of two */
#define PROBES 8

typedef struct slot {
  uint32_t addr;
  int used;
  double tokens;
  uint64_t last_ns;
} slot;

struct ptd_limiter {
  double rate, burst; /* tokens a second; bucket size */
  pthread_mutex_t lock;
  slot slots[SLOTS];
};

ptd_limiter *ptd_limiter_new(unsigned rate, unsigned burst) {
  if (rate == 0) return NULL;
  ptd_limiter *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->rate = rate;
  l->burst = burst ? burst : rate;
  pthread_mutex_init(&l->lock, NULL);
  return l;
}

void ptd_limiter_free(ptd_limiter *l) {
  if (!l) return;
  pthread_mutex_destroy(&l->lock);
  free(l);
}

static uint32_t mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

uint64_t ptd_limiter_take(ptd_limiter *l, uint32_t addr, uint64_t now_ns) {
  if (!l) return 0;
  pthread_mutex_lock(&l->lock);
  uint32_t h = mix(addr);
  slot *s = NULL, *free_slot = NULL, *oldest = NULL;
  for (int i = 0; i < PROBES; i++) {
    slot *c = &l->slots[(h + (uint32_t)i) & (SLOTS - 1)];
    if (c->used && c->addr == addr) {
      s = c;
      break;
    }
    if (!c->used) {
      if (!free_slot) free_slot = c;
    } else if (!oldest || c->last_ns < oldest->last_ns) {
      oldest = c;
    }
  }
  if (!s) { /* a new client, or one forgotten: a full bucket */
    s = free_slot ? free_slot : oldest;
    s->used = 1;
    s->addr = addr;
    s->tokens = l->burst;
    s->last_ns = now_ns;
  }
  if (now_ns > s->last_ns) {
    s->tokens += (double)(now_ns - s->last_ns) / 1e9 * l->rate;
    if (s->tokens > l->burst) s->tokens = l->burst;
    s->last_ns = now_ns;
  }
  uint64_t wait_ms = 0;
  if (s->tokens >= 1.0)
    s->tokens -= 1.0;
  else
    wait_ms = (uint64_t)((1.0 - s->tokens) / l->rate * 1000.0) + 1;
  pthread_mutex_unlock(&l->lock);
  return wait_ms;
}
