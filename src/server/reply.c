/* reply.c - answers, headers and the log line: what every other part of
 * pipetrackd uses to speak, and which uses none of them. */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t ptd_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t ptd_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ptd_log(const char *level, const char *msg, json_t *extra) {
  json_t *o =
      json_pack("{s:I,s:s,s:s}", "ts", (json_int_t)ptd_wall_ms(), "level", level, "msg", msg);
  if (!o) return;
  if (extra) json_object_update(o, extra);
  /* JSON_PRESERVE_ORDER: ts, level and msg lead every line */
  char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (!line) return;
  size_t n = strlen(line);
  line[n] = '\n'; /* the NUL becomes the newline: one write */
  fwrite(line, 1, n + 1, stderr);
  free(line);
}

enum MHD_Result ptd_queue(ptd_req *r, unsigned status, struct MHD_Response *resp) {
  if (r->retry_after) {
    char v[16];
    snprintf(v, sizeof v, "%u", r->retry_after);
    MHD_add_response_header(resp, "Retry-After", v);
  }
  if (r->origin) {
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->origin);
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", "ETag, Retry-After");
    MHD_add_response_header(resp, "Vary", "Origin");
  }
  if (r->close) /* after a framing error the rest of the stream is not a request */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  if (status == 405 && r->route < r->srv->nroutes)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->srv->routes[r->route].method);
  r->status = status;
  r->phase = PH_DONE;
  return MHD_queue_response(r->conn, status, resp);
}

/* ---- answers held until their client reads them ------------------------------ */

/* An answer this small is never refused (errors, track answers, health):
 * the cap is for the large reads that can exhaust memory. */
#define ANSWER_SMALL (64 * 1024)
/* What a streamed body holds at most beside what it rendered ahead: one
 * chunk (256 KiB after the row that crossed it, rows up to 64 KiB) and
 * MHD's block. */
#define STREAM_HOLD (512 * 1024)

/* Counts len bytes as held; 0 (nothing counted) when a large answer would
 * take the total past --max-answer-memory. */
static int hold(ptd_server *s, size_t len) {
  size_t now = __atomic_add_fetch(&s->answer_bytes, len, __ATOMIC_SEQ_CST);
  if (s->cfg.max_answer_memory && len > ANSWER_SMALL && now > s->cfg.max_answer_memory) {
    __atomic_sub_fetch(&s->answer_bytes, len, __ATOMIC_SEQ_CST);
    return 0;
  }
  return 1;
}

static enum MHD_Result busy(ptd_req *r, size_t len) {
  ptd_server *s = r->srv;
  r->retry_after = 1;
  return ptd_reply_error(r, 503, "server_busy", NULL,
                         "answers not yet read by their clients hold %zu MiB, the limit is %zu MiB "
                         "(--max-answer-memory): an answer of %zu KiB must wait; retry later",
                         __atomic_load_n(&s->answer_bytes, __ATOMIC_SEQ_CST) >> 20,
                         s->cfg.max_answer_memory >> 20, len >> 10);
}

size_t ptd_answer_bytes(ptd_server *s) {
  return __atomic_load_n(&s->answer_bytes, __ATOMIC_SEQ_CST);
}

static void release(ptd_server *s, size_t len) {
  __atomic_sub_fetch(&s->answer_bytes, len, __ATOMIC_SEQ_CST);
}

/* A whole-body answer: its bytes counted from its creation until MHD
 * frees it (once sent, or when the connection ends). */
typedef struct held {
  ptd_server *s;
  char *body;
  size_t len;
} held;

static void held_free(void *cls) {
  held *h = cls;
  release(h->s, h->len);
  free(h->body);
  free(h);
}

enum MHD_Result ptd_reply(ptd_req *r, unsigned status, char *body, size_t len, const char *ctype,
                          const char *etag) {
  struct MHD_Response *resp;
  if (body) {
    if (!hold(r->srv, len)) {
      free(body);
      return busy(r, len);
    }
    held *h = malloc(sizeof *h);
    if (!h) {
      release(r->srv, len);
      free(body);
      return MHD_NO;
    }
    *h = (held){r->srv, body, len};
    resp = MHD_create_response_from_buffer_with_free_callback_cls(len, body, held_free, h);
    if (!resp) {
      held_free(h);
      return MHD_NO;
    }
  } else {
    resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
  }
  if (ctype) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  if (etag && *etag) {
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    /* may be stored, never used without asking (If-None-Match) */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
  } else {
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  }
  enum MHD_Result rc = ptd_queue(r, status, resp);
  MHD_destroy_response(resp);
  return rc;
}

enum MHD_Result ptd_reply_error(ptd_req *r, unsigned status, const char *code, const char *field,
                                const char *fmt, ...) {
  char msg[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return ptd_reply_answer(r, pt_answer_error((int)status, code, field, "%s", msg));
}

/* A body pulled a chunk at a time (an export, a long status or report):
 * memory stays bounded however large the answer. A failure mid-way can only
 * cut the stream (the status is sent): an export's last line is then
 * incomplete, which import refuses, and a document does not parse. */
typedef struct pull {
  ptd_server *s;
  pt_answer *a;
  size_t held;
  const char *chunk;
  size_t len, off;
  int failed;
} pull;

static ssize_t pull_read(void *cls, uint64_t pos, char *buf, size_t max) {
  pull *p = cls;
  (void)pos;
  if (p->off == p->len) {
    if (p->failed || pt_body_next(p->a->stream, &p->chunk, &p->len, NULL) != PT_OK) {
      p->failed = 1;
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    p->off = 0;
    if (p->len == 0) return MHD_CONTENT_READER_END_OF_STREAM;
  }
  size_t n = p->len - p->off < max ? p->len - p->off : max;
  memcpy(buf, p->chunk + p->off, n);
  p->off += n;
  return (ssize_t)n;
}

static void pull_free(void *cls) {
  pull *p = cls;
  release(p->s, p->held);
  pt_answer_free(p->a);
  free(p);
}

enum MHD_Result ptd_reply_answer(ptd_req *r, pt_answer *a) {
  if (!a) /* out of memory: say so if we can, else drop the connection */
    return MHD_NO;
  if (a->session_id[0]) snprintf(r->session_id, sizeof r->session_id, "%s", a->session_id);
  if (a->stream) {
    size_t bytes = STREAM_HOLD + pt_body_held(a->stream);
    if (!hold(r->srv, bytes)) {
      pt_answer_free(a);
      return busy(r, bytes);
    }
    pull *p = calloc(1, sizeof *p);
    if (!p) {
      release(r->srv, bytes);
      pt_answer_free(a);
      return MHD_NO;
    }
    p->s = r->srv;
    p->a = a;
    p->held = bytes;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 256 * 1024, pull_read, p, pull_free);
    if (!resp) {
      pull_free(p);
      return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
    if (a->etag[0]) {
      MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    } else {
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    }
    enum MHD_Result rc = ptd_queue(r, (unsigned)a->status, resp);
    MHD_destroy_response(resp);
    return rc;
  }
  char *body = a->body;
  a->body = NULL;
  enum MHD_Result rc =
      ptd_reply(r, (unsigned)a->status, body, a->len, body ? a->content_type : NULL, a->etag);
  pt_answer_free(a);
  return rc;
}
