/* stream.c - status and issues streams (Server-Sent Events). A stream is a
 * suspended connection plus a few hundred bytes here: no thread waits on
 * it. A change the tracker publishes marks the streams it concerns dirty and
 * resumes them; MHD then asks the stream's reader for bytes, which renders
 * the summary (only when its ETag moved) and suspends again when there is
 * nothing to send. A ticker resumes every stream each heartbeat interval for
 * a comment line (which also finds clients that went away) and a check of
 * the ETag, which catches changes made by other processes on the same
 * database. */
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "reply.h"

#define IDS_MAX 64   /* issues remembered between sends; more: resend the list */
#define BUCKETS 4096 /* status streams by session: ~2 a bucket at 10,000 */

typedef struct stream {
  ptd_hub *hub;
  struct MHD_Connection *conn;
  char sid[PT_ID_MAX + 1];
  char ptype[PT_NAME_MAX + 1]; /* empty: none given */
  char last_etag[PT_ETAG_SIZE];
  char *buf; /* bytes to send: buf[off..len) */
  size_t len, off;
  int dirty, heartbeat, closing, suspended, first;
  int linked;      /* in the hub's lists */
  int issues;      /* the issues stream, not a status one */
  char (*ids)[32]; /* issues changed since the last send */
  size_t nids;
  int resync;                 /* too many changed: send the whole list again */
  struct stream *next, *prev; /* in its bucket (status) or the issues list */
  struct stream *next_all, *prev_all;
} stream;

struct ptd_hub {
  ptd_server *srv;
  pthread_mutex_t lock;
  stream *bucket[BUCKETS]; /* status streams by hash of their session */
  stream *issue_streams;
  stream *all;
  size_t count;
};

static size_t bucket_of(const char *sid) {
  return ptd_hash(PTD_HASH_SEED, sid) % BUCKETS;
}

ptd_hub *ptd_hub_new(ptd_server *s) {
  ptd_hub *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->srv = s;
  pthread_mutex_init(&h->lock, NULL);
  return h;
}

void ptd_hub_free(ptd_hub *h) {
  if (!h) return;
  pthread_mutex_destroy(&h->lock);
  free(h);
}

size_t ptd_hub_count(ptd_hub *h) {
  pthread_mutex_lock(&h->lock);
  size_t n = h->count;
  pthread_mutex_unlock(&h->lock);
  return n;
}

/* Under h->lock. */
static void wake(stream *st) {
  if (st->suspended) {
    st->suspended = 0;
    MHD_resume_connection(st->conn);
  }
}

static void notify_session(ptd_hub *h, const char *sid) {
  pthread_mutex_lock(&h->lock);
  for (stream *st = h->bucket[bucket_of(sid)]; st; st = st->next)
    if (strcmp(st->sid, sid) == 0) {
      st->dirty = 1;
      wake(st);
    }
  pthread_mutex_unlock(&h->lock);
}

static void notify_issue(ptd_hub *h, const char *issue_id) {
  pthread_mutex_lock(&h->lock);
  for (stream *st = h->issue_streams; st; st = st->next) {
    if (issue_id) {
      size_t i = 0;
      while (i < st->nids && strcmp(st->ids[i], issue_id) != 0) i++;
      if (i == st->nids) {
        if (st->nids < IDS_MAX)
          snprintf(st->ids[st->nids++], 32, "%s", issue_id);
        else
          st->resync = 1;
      }
    } else {
      st->resync = 1; /* issues changed, not named: the whole list again */
    }
    st->dirty = 1;
    wake(st);
  }
  pthread_mutex_unlock(&h->lock);
}

enum { POKE_HEARTBEAT, POKE_CLOSE, POKE_DIRTY };

/* Marks every stream and wakes it. */
static void poke_all(ptd_hub *h, int what) {
  pthread_mutex_lock(&h->lock);
  for (stream *st = h->all; st; st = st->next_all) {
    if (what == POKE_HEARTBEAT)
      st->heartbeat = 1;
    else if (what == POKE_DIRTY)
      st->dirty = 1;
    else
      st->closing = 1;
    wake(st);
  }
  pthread_mutex_unlock(&h->lock);
}

void ptd_hub_on_change(void *ctx, const pt_change *c) {
  ptd_hub *h = ctx;
  switch (c->kind) {
    case PT_CHANGE_EVENT:
    case PT_CHANGE_SESSION: notify_session(h, c->session_id); break;
    case PT_CHANGE_ISSUE:
      if (c->issue_id && *c->issue_id) notify_issue(h, c->issue_id);
      break;
    case PT_CHANGE_ISSUES: notify_issue(h, NULL); break;
    case PT_CHANGE_RESYNC: /* every stream looks again (its ETag tells) */
      notify_issue(h, NULL);
      poke_all(h, POKE_DIRTY);
      break;
  }
}

void ptd_hub_heartbeat(ptd_hub *h) {
  poke_all(h, POKE_HEARTBEAT);
}

void ptd_hub_close_all(ptd_hub *h) {
  poke_all(h, POKE_CLOSE);
}

static stream **list_of(ptd_hub *h, stream *st) {
  return st->issues ? &h->issue_streams : &h->bucket[bucket_of(st->sid)];
}

static void unlink_stream(ptd_hub *h, stream *st) {
  pthread_mutex_lock(&h->lock);
  if (st->prev)
    st->prev->next = st->next;
  else
    *list_of(h, st) = st->next;
  if (st->next) st->next->prev = st->prev;
  if (st->prev_all)
    st->prev_all->next_all = st->next_all;
  else
    h->all = st->next_all;
  if (st->next_all) st->next_all->prev_all = st->prev_all;
  h->count--; /* SIGTERM's drain polls the count */
  pthread_mutex_unlock(&h->lock);
}

static void stream_free(void *cls) {
  stream *st = cls;
  if (st->linked) unlink_stream(st->hub, st);
  free(st->buf);
  free(st->ids);
  free(st);
}

/* Puts the rendered bytes (text, len; taken) in place of what was sent. */
static void set_buffer(stream *st, char *text, size_t len) {
  pthread_mutex_lock(&st->hub->lock);
  free(st->buf);
  st->buf = text;
  st->len = text ? len : 0;
  st->off = 0;
  pthread_mutex_unlock(&st->hub->lock);
}

/* The issues stream's next bytes: the open issues at first (and after an
 * overflow of changes, or a change not named), then each changed issue as
 * it is now. */
static void render_issues(stream *st, int heartbeat) {
  ptd_server *s = st->hub->srv;
  char ids[IDS_MAX][32];
  pthread_mutex_lock(&st->hub->lock);
  size_t n = st->nids;
  if (n) memcpy(ids, st->ids, n * sizeof ids[0]);
  st->nids = 0;
  int all = st->first || st->resync;
  st->resync = 0;
  pthread_mutex_unlock(&st->hub->lock);
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return;
  char *doc;
  if (st->first) fputs("retry: 2000\n\n", f);
  if (all && pt_issues(s->t, "open", NULL, 100, NULL, &doc, NULL) == PT_OK) {
    fprintf(f, "event: issues\ndata: %s\n\n", doc);
    pt_free(doc);
  }
  for (size_t i = 0; i < n; i++)
    if (pt_issue_get(s->t, ids[i], &doc, NULL) == PT_OK) {
      fprintf(f, "event: issue\ndata: %s\n\n", doc);
      pt_free(doc);
    }
  if (heartbeat && ftell(f) == 0) fputs(": keep-alive\n\n", f);
  st->first = 0;
  fclose(f);
  set_buffer(st, text, len);
}

/* Renders what the status stream should send now (outside the lock): the
 * summary when its ETag moved, else a comment line on a heartbeat. */
static void render(stream *st, int heartbeat) {
  ptd_server *s = st->hub->srv;
  char etag[PT_ETAG_SIZE];
  const char *ptype = st->ptype[0] ? st->ptype : NULL;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return;
  if (st->first) fputs("retry: 2000\n\n", f);
  pt_status rc = pt_status_summary_etag(s->t, st->sid, ptype, 0, 0, etag, NULL, NULL);
  if (rc == PT_OK && strcmp(etag, st->last_etag) != 0) {
    char *doc = NULL;
    rc = pt_status_summary_etag(s->t, st->sid, ptype, 0, 0, etag, &doc, NULL);
    if (rc == PT_OK) {
      fprintf(f, "id: %.32s\nevent: status\ndata: %s\n\n", etag + 1, doc);
      memcpy(st->last_etag, etag, sizeof etag);
    }
    pt_free(doc);
  }
  if (rc != PT_OK)
    fprintf(f, "event: error\ndata: {\"code\":\"%s\"}\n\n", pt_err_name(rc));
  else if (heartbeat && ftell(f) == 0)
    fputs(": keep-alive\n\n", f);
  st->first = 0;
  fclose(f);
  set_buffer(st, text, len);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max) {
  stream *st = cls;
  ptd_hub *h = st->hub;
  (void)pos;
  for (;;) {
    pthread_mutex_lock(&h->lock);
    if (st->off < st->len) {
      size_t n = st->len - st->off;
      if (n > max) n = max;
      memcpy(out, st->buf + st->off, n);
      st->off += n;
      if (st->off == st->len) { /* an idle stream keeps no buffer */
        free(st->buf);
        st->buf = NULL;
        st->len = st->off = 0;
      }
      pthread_mutex_unlock(&h->lock);
      return (ssize_t)n;
    }
    if (st->closing) {
      pthread_mutex_unlock(&h->lock);
      return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (st->dirty || st->heartbeat) {
      int hb = st->heartbeat;
      st->dirty = st->heartbeat = 0;
      pthread_mutex_unlock(&h->lock);
      if (st->issues)
        render_issues(st, hb);
      else
        render(st, hb);
      continue;
    }
    /* nothing to say: off MHD's loop until a change or a heartbeat resumes it */
    st->suspended = 1;
    MHD_suspend_connection(st->conn);
    pthread_mutex_unlock(&h->lock);
    return 0;
  }
}

static enum MHD_Result start(ptd_req *r, const char *sid, const char *ptype, int issues) {
  ptd_hub *h = r->srv->hub;
  stream *st = calloc(1, sizeof *st);
  if (!st) return MHD_NO;
  st->issues = issues;
  if (issues && !(st->ids = malloc(IDS_MAX * sizeof *st->ids))) {
    free(st);
    return MHD_NO;
  }
  st->hub = h;
  st->conn = r->conn;
  snprintf(st->sid, sizeof st->sid, "%s", sid ? sid : "");
  snprintf(st->ptype, sizeof st->ptype, "%s", ptype ? ptype : "");
  st->dirty = 1; /* the summary at once */
  st->first = 1;
  struct MHD_Response *resp =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, stream_read, st, stream_free);
  if (!resp) {
    free(st->ids);
    free(st);
    return MHD_NO;
  }
  pthread_mutex_lock(&h->lock);
  stream **head = list_of(h, st);
  st->next = *head;
  if (*head) (*head)->prev = st;
  *head = st;
  st->next_all = h->all;
  if (h->all) h->all->prev_all = st;
  h->all = st;
  h->count++;
  st->linked = 1;
  pthread_mutex_unlock(&h->lock);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(resp, "X-Accel-Buffering", "no");
  r->stream = 1;
  /* a stream is not a request in flight: SIGTERM ends it instead */
  if (r->counted) {
    r->counted = 0;
    __atomic_sub_fetch(&r->srv->inflight, 1, __ATOMIC_ACQ_REL);
  }
  /* heartbeats keep it alive; MHD's idle limit would cut a quiet stream */
  MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0);
  enum MHD_Result rc = ptd_queue(r, 200, resp);
  MHD_destroy_response(resp);
  return rc;
}

enum MHD_Result ptd_stream_start(ptd_req *r, const char *sid, const char *ptype) {
  return start(r, sid, ptype, 0);
}

enum MHD_Result ptd_issue_stream_start(ptd_req *r) {
  return start(r, NULL, NULL, 1);
}
