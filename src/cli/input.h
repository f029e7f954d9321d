/* input.h - what the tool reads from its user: integer options checked
 * against their rule, whole files, and files of lines sent in batches. */
#ifndef PTC_INPUT_H
#define PTC_INPUT_H

#include <stddef.h>
#include <stdio.h>

/* The value text of option opt of command cmd as an integer from lo to hi
 * in *out: EXIT_OK, or EXIT_USAGE having said the rule. */
int ptc_int_option(const char *cmd, const char *opt, const char *text, long long lo, long long hi,
                   long long *out);

/* The whole of f, NUL-terminated (free; *len its length), or NULL when it
 * cannot be read or holds more than max bytes. What it leaves behind while
 * it grows is wiped first, so a secret read with it stays in one place. */
char *ptc_read_all(FILE *f, size_t max, size_t *len);

/* Reading lines of input in batches: each batch is a text made of open, the
 * items joined with sep, and close. */
typedef struct ptc_batches {
  const char *open, *sep, *close;
  /* 1: an item is a line without its end, blank lines skipped (JSON
   * objects); 0: every line is an item, ending in '\n' (JSON Lines) */
  int trim;
  size_t max_items; /* a batch is sent at this many items */
  size_t max_bytes; /* ... or once its text is longer (0: no bound) */
  /* sends one batch; lines[i] is the line number of item i. EXIT_OK to go
   * on, else the exit status to stop with. */
  int (*send)(void *ctx, const char *text, size_t len, const size_t *lines, size_t n);
  void *ctx;
} ptc_batches;

/* Reads f to its end in batches. EXIT_OK, or the exit status that stopped
 * it (EXIT_USAGE when out of memory). */
int ptc_read_batches(FILE *f, const ptc_batches *b);

#endif
