/* event.c - event ownership, rendering, and the SHA-256 chain (docs/concepts.md#the-chain). */
#include "event.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "sha.h"

const char *const pt_status_names[3] = {"started", "success", "failure"};

int pt_status_parse(const char *s) {
  for (int i = 0; i < 3; i++)
    if (strcmp(s, pt_status_names[i]) == 0) return i;
  return -1;
}

/* Ids and step names hold no character JSON escapes (their patterns say
 * so); one from a damaged store might, and then the chain takes the general
 * path. */
static int plain(const char *s, size_t n) {
  unsigned bad = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    bad |= (c < 0x20) | (c == '"') | (c == '\\');
  }
  return !bad;
}

static char *place(char **cur, const char *s, size_t n) {
  char *d = *cur;
  memcpy(d, s, n);
  d[n] = '\0';
  *cur += n + 1;
  return d;
}

pt_event *pt_event_new(const char *id, const char *session_id, const char *pipeline_type,
                       const char *step, const char *input, size_t input_len, const char *output,
                       size_t output_len, const char *error, size_t error_len) {
  if (!input) input = "null", input_len = 4;
  if (!output) output = "null", output_len = 4;
  if (!error) error = "null", error_len = 4;
  size_t lid = strlen(id), lsid = strlen(session_id), lpt = strlen(pipeline_type),
         lst = strlen(step);
  /* One allocation: the struct, then its strings. */
  size_t strings = lid + lsid + lpt + lst + input_len + output_len + error_len + 7;
  pt_event *e = malloc(sizeof *e + strings);
  if (!e) return NULL;
  memset(e, 0, sizeof *e);
  e->blob = (char *)(e + 1);
  char *cur = e->blob;
  e->id = place(&cur, id, lid);
  e->session_id = place(&cur, session_id, lsid);
  e->pipeline_type = place(&cur, pipeline_type, lpt);
  e->step = place(&cur, step, lst);
  e->input = place(&cur, input, input_len);
  e->output = place(&cur, output, output_len);
  e->error = place(&cur, error, error_len);
  e->input_len = input_len;
  e->output_len = output_len;
  e->error_len = error_len;
  e->id_len = lid;
  e->step_len = lst;
  e->names_plain = lid <= PT_ID_MAX && lst <= PT_NAME_MAX && plain(id, lid) && plain(step, lst);
  e->ts = -1;
  e->seq = -1;
  return e;
}

/* A copy of s; without its payloads (null) and marked redacted when
 * redact is set. */
static pt_event *copy_event(const pt_event *s, int redact) {
  pt_event *e =
      pt_event_new(s->id, s->session_id, s->pipeline_type, s->step, redact ? NULL : s->input,
                   redact ? 0 : s->input_len, redact ? NULL : s->output, redact ? 0 : s->output_len,
                   s->error, s->error_len);
  if (!e) return NULL;
  e->status = s->status;
  e->ts = s->ts;
  e->ts_given = s->ts_given;
  e->id_given = s->id_given;
  e->redacted = redact || s->redacted;
  e->seq = s->seq;
  e->received_at = s->received_at;
  memcpy(e->input_sha256, s->input_sha256, 65);
  memcpy(e->output_sha256, s->output_sha256, 65);
  memcpy(e->link, s->link, 65);
  return e;
}

pt_event *pt_event_clone(const pt_event *s) {
  return copy_event(s, 0);
}

pt_event *pt_event_redacted(const pt_event *s) {
  return copy_event(s, 1);
}

void pt_event_free(pt_event *e) {
  free(e);
}

/* hex(SHA256("null")): the digest of every absent payload, worth caching. */
const char pt_null_sha256[65] = "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b";
#define NULL_SHA pt_null_sha256

static void payload_digest(const char *p, size_t n, char out[65]) {
  if (n == 4 && memcmp(p, "null", 4) == 0)
    memcpy(out, NULL_SHA, 65);
  else
    pt_sha256_hex(p, n, out);
}

void pt_event_digest(pt_event *e) {
  payload_digest(e->input, e->input_len, e->input_sha256);
  payload_digest(e->output, e->output_len, e->output_sha256);
}

size_t pt_event_json_size(const pt_event *e) {
  /* member names and fixed parts < 320 bytes; strings may escape to 6x */
  return 320 + 6 * (e->id_len + e->step_len + strlen(e->session_id) + strlen(e->pipeline_type)) +
         e->input_len + e->output_len + e->error_len + 3 * 64 + 3 * 20;
}

void pt_event_write_json(pt_buf *b, const pt_event *e) {
  pt_buf_json_member(b, "{\"id\":", e->id);
  pt_buf_json_member(b, ",\"session_id\":", e->session_id);
  pt_buf_json_member(b, ",\"pipeline_type\":", e->pipeline_type);
  pt_buf_json_member(b, ",\"step\":", e->step);
  pt_buf_puts(b, ",\"status\":\"");
  pt_buf_puts(b, pt_status_names[e->status]);
  pt_buf_puts(b, "\",\"ts\":");
  pt_buf_i64(b, e->ts);
  pt_buf_puts(b, ",\"input\":");
  pt_buf_put(b, e->input, e->input_len);
  pt_buf_puts(b, ",\"output\":");
  pt_buf_put(b, e->output, e->output_len);
  pt_buf_puts(b, ",\"error\":");
  pt_buf_put(b, e->error, e->error_len);
  pt_buf_puts(b, ",\"seq\":");
  pt_buf_i64(b, e->seq);
  pt_buf_puts(b, ",\"received_at\":");
  pt_buf_i64(b, e->received_at);
  pt_buf_puts(b, ",\"input_sha256\":\"");
  pt_buf_put(b, e->input_sha256, 64);
  pt_buf_puts(b, "\",\"output_sha256\":\"");
  pt_buf_put(b, e->output_sha256, 64);
  pt_buf_puts(b, "\",\"link\":\"");
  pt_buf_put(b, e->link, 64);
  pt_buf_puts(b, e->redacted ? "\",\"redacted\":true}" : "\",\"redacted\":false}");
}

/* The members of input_n / output_n are already in JCS order
 * (id < input_sha256 < step < ts; error < output_sha256 < status), so the
 * canonical text is written directly, without building an object. */
void pt_chain_input_n(pt_buf *b, const pt_event *e) {
  pt_buf_json_member(b, "{\"id\":", e->id);
  pt_buf_puts(b, ",\"input_sha256\":\"");
  pt_buf_put(b, e->input_sha256, 64);
  pt_buf_json_member(b, "\",\"step\":", e->step);
  pt_buf_puts(b, ",\"ts\":");
  if (e->ts < 0)
    pt_buf_puts(b, "null");
  else
    pt_buf_i64(b, e->ts);
  pt_buf_putc(b, '}');
}

void pt_chain_output_n(pt_buf *b, const pt_event *e) {
  pt_buf_puts(b, "{\"error\":");
  pt_buf_put(b, e->error, e->error_len);
  pt_buf_puts(b, ",\"output_sha256\":\"");
  pt_buf_put(b, e->output_sha256, 64);
  pt_buf_puts(b, "\",\"status\":\"");
  pt_buf_puts(b, pt_status_names[e->status]);
  pt_buf_puts(b, "\"}");
}

#define PUT(lit) (memcpy(o, lit, sizeof lit - 1), o += sizeof lit - 1)

void pt_chain_link(const char *prev, const pt_event *e, char out[65]) {
  /* The common case is written straight into a stack buffer: the link is the
   * hot path of every append and of verification. */
  char stack[1024];
  size_t lp = strlen(prev);
  if (e->names_plain && lp <= 64 + 7 && e->error_len <= 512) {
    char *o = stack;
    memcpy(o, prev, lp);
    o += lp;
    PUT(":{\"id\":\"");
    memcpy(o, e->id, e->id_len);
    o += e->id_len;
    PUT("\",\"input_sha256\":\"");
    memcpy(o, e->input_sha256, 64);
    o += 64;
    PUT("\",\"step\":\"");
    memcpy(o, e->step, e->step_len);
    o += e->step_len;
    PUT("\",\"ts\":");
    if (e->ts < 0)
      PUT("null");
    else
      o += pt_u64_digits((uint64_t)e->ts, o);
    PUT("}:{\"error\":");
    memcpy(o, e->error, e->error_len);
    o += e->error_len;
    PUT(",\"output_sha256\":\"");
    memcpy(o, e->output_sha256, 64);
    o += 64;
    PUT("\",\"status\":\"");
    static const char *const st[3] = {"started\"}", "success\"}", "failure\"}"};
    memcpy(o, st[e->status], 9);
    o += 9;
    pt_sha256_hex(stack, (size_t)(o - stack), out);
    return;
  }
  pt_buf b;
  pt_buf_init_on(&b, stack, sizeof stack);
  pt_buf_puts(&b, prev);
  pt_buf_putc(&b, ':');
  pt_chain_input_n(&b, e);
  pt_buf_putc(&b, ':');
  pt_chain_output_n(&b, e);
  pt_sha256_hex(b.data, b.len, out);
  pt_buf_cleanup(&b);
}

#undef PUT

void pt_chain_hash(const char *session_id, const char *last_link, char out[65]) {
  pt_sha256 c;
  pt_sha256_init(&c);
  pt_sha256_update(&c, session_id, strlen(session_id));
  pt_sha256_update(&c, ":", 1);
  pt_sha256_update(&c, last_link, strlen(last_link));
  pt_sha256_final_hex(&c, out);
}

static const char CROCKFORD[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Bumped in a forked child, so every thread's generator reseeds there: a
 * child must not repeat its parent's ids. */
static unsigned fork_generation = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void after_fork_child(void) {
  fork_generation++;
}
static void register_atfork(void) {
  pthread_atfork(NULL, NULL, after_fork_child);
}

void pt_event_id_make(int64_t now_ms, char out[31]) {
  /* Randomness from a per-thread generator seeded by the kernel: ids must
   * be unique, not secret, and a syscall per event costs too much. */
  static __thread uint64_t s = 0;
  static __thread unsigned seeded_in = 0;
  if (seeded_in != fork_generation) {
    pthread_once(&atfork_once, register_atfork);
    s = 0;
    seeded_in = fork_generation;
  }
  while (s == 0)
    if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s) s = (uint64_t)now_ms ^ (uint64_t)&s;
  memcpy(out, "evt_", 4);
  uint64_t t = (uint64_t)now_ms;
  for (int i = 13; i >= 4; i--) {
    out[i] = CROCKFORD[t & 31];
    t >>= 5;
  }
  for (int i = 14; i < 30; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    out[i] = CROCKFORD[(s >> 32) & 31];
  }
  out[30] = '\0';
}
