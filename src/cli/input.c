/* input.c - reading what the tool's user gives (see input.h): integer
 * options by a stated rule, whole files within a bound, and lines of input
 * in batches, each item's line number kept for the messages. */
#include "input.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "output.h"

int ptc_int_option(const char *cmd, const char *opt, const char *text, long long lo, long long hi,
                   long long *out) {
  /* digits with an optional minus: no blanks, "+", hex or trailing text */
  const char *p = text[0] == '-' ? text + 1 : text;
  char *end = NULL;
  long long v = 0;
  int ok = *p >= '0' && *p <= '9';
  if (ok) {
    errno = 0;
    v = strtoll(text, &end, 10);
    ok = *end == '\0' && errno == 0 && v >= lo && v <= hi;
  }
  if (!ok)
    return ptc_fail(EXIT_USAGE, "%s: %s: must be an integer from %lld to %lld, got \"%s\"", cmd,
                    opt, lo, hi, text);
  *out = v;
  return EXIT_OK;
}

char *ptc_read_all(FILE *f, size_t max, size_t *len) {
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap || cap > max) break; /* the end, or more than max */
    /* grown by hand, not realloc: the old block is wiped before it is freed */
    char *grown = malloc(2 * cap + 1);
    if (grown) memcpy(grown, buf, n);
    OPENSSL_cleanse(buf, n);
    free(buf);
    buf = grown;
    cap *= 2;
  }
  if (buf && (ferror(f) || n > max)) {
    OPENSSL_cleanse(buf, n);
    free(buf);
    buf = NULL;
  }
  if (!buf) return NULL;
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* A batch being written: its text, its items' line numbers. */
typedef struct batch {
  FILE *f; /* open_memstream on text; NULL while empty */
  char *text;
  size_t size, n;
  size_t *lines;
} batch;

/* Adds one line (got bytes, its end included) as an item, unless it is
 * blank and b->trim. 0, or -1 when out of memory. */
static int add(const ptc_batches *b, batch *x, const char *line, size_t got, size_t lineno) {
  size_t len = got;
  if (b->trim)
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
  if (b->trim && len == 0) return 0;
  if (!x->f && !(x->f = open_memstream(&x->text, &x->size))) return -1;
  fputs(x->n ? b->sep : b->open, x->f);
  fwrite(line, 1, len, x->f);
  if (!b->trim && line[len - 1] != '\n') fputc('\n', x->f);
  x->lines[x->n++] = lineno;
  return 0;
}

/* Closes the batch's text and sends it. */
static int flush(const ptc_batches *b, batch *x) {
  fputs(b->close, x->f);
  int bad = ferror(x->f);
  bad |= fclose(x->f);
  x->f = NULL;
  int rc = bad ? ptc_fail(EXIT_USAGE, "out of memory")
               : b->send(b->ctx, x->text, x->size, x->lines, x->n);
  free(x->text);
  x->text = NULL;
  x->n = 0;
  return rc;
}

int ptc_read_batches(FILE *f, const ptc_batches *b) {
  batch x = {NULL, NULL, 0, 0, malloc(b->max_items * sizeof(size_t))};
  char *line = NULL;
  size_t cap = 0, lineno = 0;
  int rc = x.lines ? EXIT_OK : ptc_fail(EXIT_USAGE, "out of memory");
  while (rc == EXIT_OK) {
    ssize_t got = getline(&line, &cap, f);
    if (got > 0 && add(b, &x, line, (size_t)got, ++lineno) != 0) {
      rc = ptc_fail(EXIT_USAGE, "out of memory");
      break;
    }
    long size = x.f ? ftell(x.f) : 0;
    if (x.n && (got < 0 || x.n == b->max_items || (b->max_bytes && (size_t)size > b->max_bytes)))
      rc = flush(b, &x);
    if (got < 0) break;
  }
  if (rc == EXIT_OK && ferror(f))
    rc = ptc_fail(EXIT_USAGE, "cannot read the input: %s", strerror(errno));
  if (x.f) fclose(x.f);
  free(x.text);
  free(x.lines);
  free(line);
  return rc;
}
