/* oset.h - an ordered set of (ms, id) keys, newest first: the memory
 * store's indexes (sessions by activity, by type, by state; an issue's
 * sessions by recency). A treap of nodes the caller embeds in its own
 * structs, so an entry sits in several sets without allocating. */
#ifndef PT_OSET_H
#define PT_OSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct pt_onode {
  struct pt_onode *l, *r;
  uint32_t prio;
  int64_t ms;
  const char *id; /* borrowed: the owner's, unchanged while in a set */
  void *owner;
} pt_onode;

typedef struct pt_oset {
  pt_onode *root;
  size_t n;
  uint32_t seed;
} pt_oset;

/* Adds n with its ms, id and owner set; the (ms, id) key must be absent. */
void pt_oset_insert(pt_oset *t, pt_onode *n);
/* Removes n, which is in t. */
void pt_oset_remove(pt_oset *t, pt_onode *n);
/* Calls cb for each node with after_ms < ms and (ms, id) < (before_ms,
 * before_id) (no upper bound when before_id is NULL), descending (ms, then
 * id by strcmp); stops when cb returns non-zero, and returns that. The set
 * must not change during the walk. */
int pt_oset_walk(const pt_oset *t, int64_t after_ms, int64_t before_ms, const char *before_id,
                 int (*cb)(void *ctx, pt_onode *n), void *ctx);

#endif
