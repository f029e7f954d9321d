/* map.h - a string-keyed hash map (open addressing, linear probing) from
 * NUL-terminated keys to pointers. Keys are borrowed: they must live as long
 * as their entry (stores point them into the value they map to). */
#ifndef PT_MAP_H
#define PT_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct pt_map_entry {
  const char *key;
  uint64_t hash;
  void *value;
} pt_map_entry;

typedef struct pt_map {
  pt_map_entry *slots;
  size_t cap; /* power of two, or 0 */
  size_t count;
} pt_map;

void pt_map_init(pt_map *m);
/* Frees the table, not the keys or values. */
void pt_map_cleanup(pt_map *m);
void *pt_map_get(const pt_map *m, const char *key);
/* Inserts or replaces; returns 0, or -1 on out of memory. */
int pt_map_put(pt_map *m, const char *key, void *value);
/* Makes room for n entries without rehashing; 0, or -1 on out of memory. */
int pt_map_reserve(pt_map *m, size_t n);
/* Removes the key if present (backward-shift deletion: no tombstones). */
void pt_map_del(pt_map *m, const char *key);
uint64_t pt_map_hash(const char *key);

#endif
