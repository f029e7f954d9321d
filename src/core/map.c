/* map.c - string-keyed hash map (see map.h). */
#include "map.h"

#include <stdlib.h>
#include <string.h>

uint64_t pt_map_hash(const char *key) {
  /* FNV-1a: short keys, no adversary can choose a flood of collisions that
   * costs more than the request limits allow. */
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
    h ^= *p;
    h *= 1099511628211ULL;
  }
  return h;
}

void pt_map_init(pt_map *m) {
  m->slots = NULL;
  m->cap = m->count = 0;
}

void pt_map_cleanup(pt_map *m) {
  free(m->slots);
  pt_map_init(m);
}

static pt_map_entry *find(const pt_map *m, const char *key, uint64_t h) {
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    pt_map_entry *e = &m->slots[i];
    if (!e->key || (e->hash == h && strcmp(e->key, key) == 0)) return e;
  }
}

void *pt_map_get(const pt_map *m, const char *key) {
  if (!m->cap) return NULL;
  pt_map_entry *e = find(m, key, pt_map_hash(key));
  return e->key ? e->value : NULL;
}

static int rehash(pt_map *m, size_t ncap) {
  pt_map_entry *old = m->slots;
  size_t ocap = m->cap;
  m->slots = calloc(ncap, sizeof *m->slots);
  if (!m->slots) {
    m->slots = old;
    return -1;
  }
  m->cap = ncap;
  for (size_t i = 0; i < ocap; i++)
    if (old[i].key) *find(m, old[i].key, old[i].hash) = old[i];
  free(old);
  return 0;
}

static int grow(pt_map *m) {
  return rehash(m, m->cap ? m->cap * 2 : 16);
}

int pt_map_reserve(pt_map *m, size_t n) {
  size_t cap = m->cap ? m->cap : 16;
  while (n * 4 > cap * 3) cap *= 2;
  return cap > m->cap ? rehash(m, cap) : 0;
}

int pt_map_put(pt_map *m, const char *key, void *value) {
  if ((m->count + 1) * 4 > m->cap * 3 && grow(m)) return -1;
  uint64_t h = pt_map_hash(key);
  pt_map_entry *e = find(m, key, h);
  if (!e->key) {
    e->key = key;
    e->hash = h;
    m->count++;
  }
  e->key = key;
  e->value = value;
  return 0;
}

void pt_map_del(pt_map *m, const char *key) {
  if (!m->cap) return;
  pt_map_entry *e = find(m, key, pt_map_hash(key));
  if (!e->key) return;
  size_t mask = m->cap - 1, hole = (size_t)(e - m->slots);
  /* Shift later members of the probe run back so lookups never stop early. */
  for (size_t i = (hole + 1) & mask; m->slots[i].key; i = (i + 1) & mask) {
    size_t home = m->slots[i].hash & mask;
    int movable = hole <= i ? (home <= hole || home > i) : (home <= hole && home > i);
    if (movable) {
      m->slots[hole] = m->slots[i];
      hole = i;
    }
  }
  m->slots[hole].key = NULL;
  m->slots[hole].value = NULL;
  m->count--;
}
