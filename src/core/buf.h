/* buf.h - a growable byte buffer with a hard cap, used to build JSON and
 * canonical text. A buffer that hits its cap or fails to grow turns "failed"
 * and ignores further appends, so callers check once at the end. */
#ifndef PT_BUF_H
#define PT_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct pt_buf {
  char *data; /* NUL-terminated when len > 0 or after pt_buf_cstr */
  size_t len;
  size_t cap;
  size_t limit; /* 0: no limit beyond memory */
  int failed;   /* 1: out of memory, 2: over limit */
  int borrowed; /* data is caller storage (a stack array): never freed */
} pt_buf;

void pt_buf_init(pt_buf *b, size_t limit);
/* Starts on caller storage; grows onto the heap only if it must, so
 * pt_buf_cleanup is still required. */
void pt_buf_init_on(pt_buf *b, char *storage, size_t cap);
void pt_buf_cleanup(pt_buf *b);
void pt_buf_reset(pt_buf *b);
int pt_buf_reserve(pt_buf *b, size_t extra);
void pt_buf_put(pt_buf *b, const void *p, size_t n);
void pt_buf_puts(pt_buf *b, const char *s);
void pt_buf_putc(pt_buf *b, char c);
void pt_buf_i64(pt_buf *b, int64_t v);
/* Writes the decimal digits of u to out (at least 20 bytes, no NUL) and
 * returns how many. */
size_t pt_u64_digits(uint64_t u, char *out);
void pt_buf_printf(pt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal (quotes included), escaped as RFC 8785 requires:
 * only ", \\ and control characters; \b \t \n \f \r in short form. */
void pt_buf_json_str(pt_buf *b, const char *s, size_t n);
void pt_buf_json_cstr(pt_buf *b, const char *s);
/* Appends head (a member's lead, such as ",\"id\":") and then s as
 * pt_buf_json_cstr does: one call a string member. */
void pt_buf_json_member(pt_buf *b, const char *head, const char *s); /* NULL writes null */
/* Takes the text out (NUL-terminated, caller frees); the buffer is reset.
 * NULL when the buffer failed. */
char *pt_buf_take(pt_buf *b);
const char *pt_buf_cstr(pt_buf *b);

#endif
