/* stream.c - status streams (Server-Sent Events). A stream is a suspended
 * connection plus a few hundred bytes here: no thread waits on it. A tracked
 * event or a snapshot marks the session's streams dirty and resumes them;
 * MHD then asks the stream's reader for bytes, which renders the summary
 * (only when its ETag moved) and suspends again when there is nothing to
 * send. A ticker resumes every stream each heartbeat interval for a comment
 * line (which also finds clients that went away) and a check of the ETag,
 * which catches changes made by other processes on the same database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

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
  int resync;                           /* too many changed: send the whole list again */
  struct stream *next_same, *prev_same; /* streams of this session */
  struct stream *next_all, *prev_all;
} stream;

struct ptd_hub {
  ptd_server *srv;
  pthread_mutex_t lock;
  pt_map by_session; /* sid -> first stream of the session */
  stream *all;
  size_t count;
};

ptd_hub *ptd_hub_new(ptd_server *s) {
  ptd_hub *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  h->srv = s;
  pthread_mutex_init(&h->lock, NULL);
  pt_map_init(&h->by_session);
  return h;
}

void ptd_hub_free(ptd_hub *h) {
  if (!h) return;
  pt_map_cleanup(&h->by_session);
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

void ptd_hub_notify(ptd_hub *h, const char *sid) {
  pthread_mutex_lock(&h->lock);
  for (stream *st = pt_map_get(&h->by_session, sid); st; st = st->next_same) {
    st->dirty = 1;
    wake(st);
  }
  pthread_mutex_unlock(&h->lock);
}

/* The hub key of the issues streams: session ids cannot hold \x01. */
#define ISSUES_KEY "\x01issues"
#define IDS_MAX 64

void ptd_hub_notify_issue(ptd_hub *h, const char *issue_id) {
  if (!issue_id || !*issue_id) return;
  pthread_mutex_lock(&h->lock);
  for (stream *st = pt_map_get(&h->by_session, ISSUES_KEY); st; st = st->next_same) {
    size_t i = 0;
    while (i < st->nids && strcmp(st->ids[i], issue_id) != 0) i++;
    if (i == st->nids) {
      if (st->nids < IDS_MAX && st->ids)
        snprintf(st->ids[st->nids++], 32, "%s", issue_id);
      else
        st->resync = 1;
    }
    st->dirty = 1;
    wake(st);
  }
  pthread_mutex_unlock(&h->lock);
}

void ptd_hub_issues_resync(ptd_hub *h) {
  pthread_mutex_lock(&h->lock);
  for (stream *st = pt_map_get(&h->by_session, ISSUES_KEY); st; st = st->next_same) {
    st->resync = st->dirty = 1;
    wake(st);
  }
  pthread_mutex_unlock(&h->lock);
}

enum { POKE_HEARTBEAT, POKE_CLOSE };

/* Marks every stream and wakes it. */
static void poke_all(ptd_hub *h, int what) {
  pthread_mutex_lock(&h->lock);
  for (stream *st = h->all; st; st = st->next_all) {
    if (what == POKE_HEARTBEAT)
      st->heartbeat = 1;
    else
      st->closing = 1;
    wake(st);
  }
  pthread_mutex_unlock(&h->lock);
}

void ptd_hub_heartbeat(ptd_hub *h) {
  poke_all(h, POKE_HEARTBEAT);
}

void ptd_hub_close_all(ptd_hub *h) {
  poke_all(h, POKE_CLOSE);
}

static void unlink_stream(ptd_hub *h, stream *st) {
  pthread_mutex_lock(&h->lock);
  if (st->prev_same) {
    st->prev_same->next_same = st->next_same;
  } else {
    pt_map_del(&h->by_session, st->sid);
    if (st->next_same && pt_map_put(&h->by_session, st->next_same->sid, st->next_same) != 0) {
      /* out of memory: the remaining streams of the session miss updates
       * until their heartbeat check */
    }
  }
  if (st->next_same) st->next_same->prev_same = st->prev_same;
  if (st->prev_all)
    st->prev_all->next_all = st->next_all;
  else
    h->all = st->next_all;
  if (st->next_all) st->next_all->prev_all = st->prev_all;
  h->count--; /* ptd_stop polls the count */
  pthread_mutex_unlock(&h->lock);
}

static void stream_free(void *cls) {
  stream *st = cls;
  if (st->linked) unlink_stream(st->hub, st);
  free(st->buf);
  free(st->ids);
  free(st);
}

/* The issues stream's next bytes: the open issues at first (and after an
 * overflow of changes), then each changed issue as it is now. */
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
  pt_buf b;
  pt_buf_init(&b, 0);
  pt_error err;
  char *doc;
  if (st->first) pt_buf_puts(&b, "retry: 2000\n\n");
  if (all && pt_issues(s->t, "open", NULL, 100, NULL, &doc, &err) == PT_OK) {
    pt_buf_printf(&b, "event: issues\ndata: %s\n\n", doc);
    pt_free(doc);
  }
  for (size_t i = 0; i < n; i++)
    if (pt_issue_get(s->t, ids[i], &doc, &err) == PT_OK) {
      pt_buf_printf(&b, "event: issue\ndata: %s\n\n", doc);
      pt_free(doc);
    }
  if (heartbeat && b.len == 0) pt_buf_puts(&b, ": keep-alive\n\n");
  st->first = 0;
  pthread_mutex_lock(&st->hub->lock);
  free(st->buf);
  st->len = b.len;
  st->off = 0;
  st->buf = pt_buf_take(&b);
  if (!st->buf) st->len = 0;
  pthread_mutex_unlock(&st->hub->lock);
  pt_buf_cleanup(&b);
}

/* Renders what the stream should send now into st->buf (outside the lock).
 * changed: something happened to the session; heartbeat: the interval is
 * up. */
static void render(stream *st, int changed, int heartbeat) {
  ptd_server *s = st->hub->srv;
  char etag[PT_ETAG_SIZE];
  pt_error err;
  const char *ptype = st->ptype[0] ? st->ptype : NULL;
  pt_buf b;
  pt_buf_init(&b, 0);
  if (st->first) pt_buf_puts(&b, "retry: 2000\n\n");
  pt_status rc = pt_status_summary_etag(s->t, st->sid, ptype, 0, 0, etag, NULL, &err);
  if (rc == PT_OK && strcmp(etag, st->last_etag) != 0) {
    char *doc = NULL;
    rc = pt_status_summary_etag(s->t, st->sid, ptype, 0, 0, etag, &doc, &err);
    if (rc == PT_OK) {
      pt_buf_printf(&b, "id: %.32s\nevent: status\ndata: %s\n\n", etag + 1, doc);
      memcpy(st->last_etag, etag, sizeof etag);
    }
    pt_free(doc);
  }
  if (rc != PT_OK) {
    pt_buf_printf(&b, "event: error\ndata: {\"code\":\"%s\"}\n\n", pt_err_name(rc));
  } else if (heartbeat && b.len == 0) {
    pt_buf_puts(&b, ": keep-alive\n\n");
  }
  (void)changed;
  st->first = 0;
  pthread_mutex_lock(&st->hub->lock);
  free(st->buf);
  st->len = b.len;
  st->off = 0;
  st->buf = pt_buf_take(&b);
  if (!st->buf) st->len = 0;
  pthread_mutex_unlock(&st->hub->lock);
  pt_buf_cleanup(&b);
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
      int changed = st->dirty, hb = st->heartbeat;
      st->dirty = st->heartbeat = 0;
      pthread_mutex_unlock(&h->lock);
      if (st->issues)
        render_issues(st, hb);
      else
        render(st, changed, hb);
      continue;
    }
    /* nothing to say: off MHD's loop until notify/heartbeat resumes it */
    st->suspended = 1;
    MHD_suspend_connection(st->conn);
    pthread_mutex_unlock(&h->lock);
    return 0;
  }
}

static enum MHD_Result start(ptd_req *r, const char *sid, const char *ptype, int issues);

enum MHD_Result ptd_stream_start(ptd_req *r, const char *sid, const char *ptype) {
  return start(r, sid, ptype, 0);
}

enum MHD_Result ptd_issue_stream_start(ptd_req *r) {
  return start(r, ISSUES_KEY, NULL, 1);
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
  snprintf(st->sid, sizeof st->sid, "%s", sid);
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
  stream *head = pt_map_get(&h->by_session, st->sid);
  if (pt_map_put(&h->by_session, st->sid, st) != 0) {
    pthread_mutex_unlock(&h->lock);
    MHD_destroy_response(resp); /* frees st (not linked) */
    return MHD_NO;
  }
  st->linked = 1;
  st->next_same = head;
  if (head) head->prev_same = st;
  st->next_all = h->all;
  if (h->all) h->all->prev_all = st;
  h->all = st;
  h->count++;
  pthread_mutex_unlock(&h->lock);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(resp, "X-Accel-Buffering", "no");
  ptd_add_common_headers(r, resp);
  r->status = 200;
  r->stream = 1;
  r->phase = PH_DONE;
  /* a stream is not a request in flight: SIGTERM ends it instead */
  if (r->counted) {
    r->counted = 0;
    __atomic_sub_fetch(&r->srv->inflight, 1, __ATOMIC_ACQ_REL);
  }
  /* heartbeats keep it alive; MHD's idle limit would cut a quiet stream */
  MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0);
  enum MHD_Result rc = MHD_queue_response(r->conn, 200, resp);
  MHD_destroy_response(resp);
  return rc;
}
