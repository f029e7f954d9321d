/* guard.c - the connections' guard (guard.h): a list of every open
 * connection with its state, swept by one thread a few times a second.
 * libmicrohttpd's timeout restarts at every read, so a client sending a
 * header line every few seconds would hold its connection for ever; the
 * sweep closes it once its head has taken --header-timeout in all. */
#include "guard.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "reply.h"

enum { C_IDLE, C_HEAD, C_BUSY, C_CUT };

typedef struct conn {
  struct conn *prev, *next;
  int fd;
  int state;
  uint64_t since_ns; /* when the state began */
} conn;

/* What was dropped since the last log line. */
typedef struct counts {
  unsigned long head_deadline, idle_pruned, cut_before_head, library;
} counts;

struct ptd_guard {
  ptd_server *s;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  pthread_t thread;
  int stop;
  conn head; /* the list's sentinel */
  unsigned open;
  counts n;
  char last_library[200]; /* libmicrohttpd's last message, for the log line */
  struct MHD_OptionItem opts[5];
};

/* Near the limit, a connection that has sent no request line for this long
 * is closed: long enough for a browser's next request on a keep-alive
 * connection, short enough that idle sockets cannot hold the server. */
#define IDLE_NEAR_LIMIT_NS (2ull * 1000000000u)
/* The sweep's period: the head deadline is kept within this. */
#define SWEEP_NS (200ull * 1000000u)

static conn *conn_of(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

static void set_state(ptd_guard *g, struct MHD_Connection *c, int state) {
  conn *e = conn_of(c);
  if (!e) return;
  pthread_mutex_lock(&g->lock);
  if (e->state != C_CUT) {
    e->state = state;
    e->since_ns = ptd_mono_ns();
  }
  pthread_mutex_unlock(&g->lock);
}

void ptd_guard_head_started(ptd_guard *g, struct MHD_Connection *c) {
  set_state(g, c, C_HEAD);
}
void ptd_guard_head_done(ptd_guard *g, struct MHD_Connection *c) {
  set_state(g, c, C_BUSY);
}
void ptd_guard_request_done(ptd_guard *g, struct MHD_Connection *c) {
  set_state(g, c, C_IDLE);
}

void ptd_guard_count_cut(ptd_guard *g) {
  pthread_mutex_lock(&g->lock);
  g->n.cut_before_head++;
  pthread_mutex_unlock(&g->lock);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  ptd_guard *g = cls;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    conn *e = calloc(1, sizeof *e);
    if (!e || !ci) { /* not guarded: only MHD's own timeouts apply */
      free(e);
      return;
    }
    e->fd = ci->connect_fd;
    e->since_ns = ptd_mono_ns();
    pthread_mutex_lock(&g->lock);
    e->next = g->head.next;
    e->prev = &g->head;
    g->head.next->prev = e;
    g->head.next = e;
    g->open++;
    pthread_mutex_unlock(&g->lock);
    *socket_context = e;
    return;
  }
  conn *e = *socket_context;
  if (!e) return;
  /* removed before libmicrohttpd closes the descriptor, under the lock the
   * sweep holds while it shuts one down: the sweep never touches a
   * descriptor that was closed (and maybe reused) */
  pthread_mutex_lock(&g->lock);
  e->prev->next = e->next;
  e->next->prev = e->prev;
  g->open--;
  pthread_mutex_unlock(&g->lock);
  free(e);
  *socket_context = NULL;
}

/* libmicrohttpd's messages (one per refused or broken connection) are
 * counted and the last one kept: a flood of them is one line a second. */
static void on_library_log(void *cls, const char *fmt, va_list ap) {
  ptd_guard *g = cls;
  char msg[sizeof g->last_library];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) msg[--n] = '\0';
  pthread_mutex_lock(&g->lock);
  g->n.library++;
  memcpy(g->last_library, msg, n + 1);
  pthread_mutex_unlock(&g->lock);
}

/* Called with the lock held: the sum since the last line, then zeroed. */
static void flush_counts(ptd_guard *g) {
  counts n = g->n;
  if (!n.head_deadline && !n.idle_pruned && !n.cut_before_head && !n.library) return;
  json_t *e = json_pack("{s:I,s:I,s:I,s:I,s:I}", "head_deadline", (json_int_t)n.head_deadline,
                        "idle_near_limit", (json_int_t)n.idle_pruned, "cut_before_head",
                        (json_int_t)n.cut_before_head, "library_messages", (json_int_t)n.library,
                        "open", (json_int_t)g->open);
  if (e && n.library) json_object_set_new(e, "last_library_message", json_string(g->last_library));
  memset(&g->n, 0, sizeof g->n);
  ptd_log("warn", "connections dropped", e);
  json_decref(e);
}

static void sweep(ptd_guard *g, uint64_t now) {
  const ptd_config *c = &g->s->cfg;
  uint64_t head_ns = (uint64_t)c->header_timeout_s * 1000000000u;
  /* within a tenth of the limit (at least 16 connections) */
  unsigned margin = c->max_connections / 10 > 16 ? c->max_connections / 10 : 16;
  int near = g->open + margin >= c->max_connections;
  for (conn *e = g->head.next; e != &g->head; e = e->next) {
    int cut = 0;
    if (e->state == C_HEAD && head_ns && now - e->since_ns > head_ns) {
      g->n.head_deadline++;
      cut = 1;
    } else if (e->state == C_IDLE && near && now - e->since_ns > IDLE_NEAR_LIMIT_NS) {
      g->n.idle_pruned++;
      cut = 1;
    }
    if (!cut) continue;
    /* the event loop sees the end of the stream and closes the connection
     * itself (libmicrohttpd has no call to close one from another thread) */
    shutdown(e->fd, SHUT_RDWR);
    e->state = C_CUT;
  }
}

static void *run(void *arg) {
  ptd_guard *g = arg;
  uint64_t next_log = ptd_mono_ns() + 1000000000u;
  pthread_mutex_lock(&g->lock);
  while (!g->stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)SWEEP_NS;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&g->cond, &g->lock, &until);
    if (g->stop) break;
    uint64_t now = ptd_mono_ns();
    sweep(g, now);
    if (now >= next_log) {
      flush_counts(g);
      next_log = now + 1000000000u;
    }
  }
  pthread_mutex_unlock(&g->lock);
  return NULL;
}

ptd_guard *ptd_guard_new(ptd_server *s) {
  ptd_guard *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->s = s;
  g->head.next = g->head.prev = &g->head;
  pthread_mutex_init(&g->lock, NULL);
  pthread_cond_init(&g->cond, NULL);
  g->opts[1] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, g};
  /* the logger first: libmicrohttpd warns when another option precedes it */
  g->opts[0] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_library_log, g};
  /* 0, libmicrohttpd's default, on purpose: at 1 it refuses a request
   * without Host itself, with its status line and headers written twice
   * (0.9.75); our own check answers that once (http.c) */
  g->opts[2] = (struct MHD_OptionItem){MHD_OPTION_STRICT_FOR_CLIENT, 0, NULL};
  g->opts[3] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                       (intptr_t)s->cfg.max_conns_per_ip, NULL};
  g->opts[4] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  if (pthread_create(&g->thread, NULL, run, g) != 0) {
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    free(g);
    return NULL;
  }
  return g;
}

const struct MHD_OptionItem *ptd_guard_options(ptd_guard *g) {
  return g->opts;
}

void ptd_guard_free(ptd_guard *g) {
  if (!g) return;
  pthread_mutex_lock(&g->lock);
  g->stop = 1;
  pthread_cond_broadcast(&g->cond);
  pthread_mutex_unlock(&g->lock);
  pthread_join(g->thread, NULL);
  pthread_mutex_lock(&g->lock);
  flush_counts(g);
  pthread_mutex_unlock(&g->lock);
  pthread_cond_destroy(&g->cond);
  pthread_mutex_destroy(&g->lock);
  free(g);
}
