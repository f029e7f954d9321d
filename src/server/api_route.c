/* api_route.c - every JSON endpoint of the library (pt_api_routes) through
 * one handler: the request's query, body and headers handed to
 * pt_api_start, its answer sent. A track's answer waits for the group
 * commit with the connection suspended — no thread waits for the disk —
 * and the committer's done callback resumes it. */
#include "api_route.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "reply.h"

static const char *query_arg(void *ctx, const char *name) {
  return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

/* Called once, when the commit is done: from the committer thread, or from
 * inside pt_api_start. */
static void done(void *ctx) {
  ptd_req *r = ctx;
  pthread_mutex_lock(&r->lock);
  r->ready = 1;
  int resume = r->suspended;
  r->suspended = 0;
  struct MHD_Connection *conn = r->conn;
  pthread_mutex_unlock(&r->lock);
  /* after the unlock, and r is not touched again: once resumed, the loop
   * thread may answer and free the request at any moment */
  if (resume) MHD_resume_connection(conn);
}

/* Who asks, as a redaction records it: the credential and the address. */
static void actor(ptd_req *r, char *out, size_t cap) {
  char ip[INET_ADDRSTRLEN] = "?";
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, ip, sizeof ip);
  snprintf(out, cap, "%s from %s", r->srv->cfg.api_token ? "the API token" : "an open server", ip);
}

/* Read tokens for track answers (pt_request.read_token). */
static void mint(void *ctx, const char *session_id, char *out, size_t cap) {
  ptd_server *s = ctx;
  char tok[PTD_READ_TOKEN_SIZE];
  ptd_rt_mint(&s->rt, session_id, ptd_wall_ms(), tok, NULL);
  snprintf(out, cap, "%s", tok);
}

enum MHD_Result ptd_api_answer(ptd_req *r) {
  if (r->phase == PH_WAIT) { /* resumed: the commit is done */
    pt_call *c = r->call;
    r->call = NULL;
    return ptd_reply_answer(r, pt_call_finish(c));
  }
  const ptd_route *row = &r->srv->routes[r->route];
  char who[96];
  actor(r, who, sizeof who);
  pt_request rq = {
      .route = row->api_route,
      .param = r->param[0] ? r->param : NULL,
      .arg = query_arg,
      .arg_ctx = r->conn,
      .body = r->body,
      .body_len = r->len,
      .if_none_match = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match"),
      .actor = who,
      /* a status or report past this (1 MiB; --test-inline-max, for
       * benchmarks) is read from the store as its client takes it: one that
       * does not read holds this and a chunk, not the document. Not less:
       * libmicrohttpd sends a stream in chunks of what is free in the
       * connection's pool (--conn-buffer), slower than one buffer
       * (docs/performance.md, bench/long_answers.py) */
      .inline_max = r->srv->cfg.inline_max,
      .read_token = mint,
      .read_token_ctx = r->srv,
      .read_token_all = r->api_cred,
  };
  pt_answer *a = NULL;
  r->phase = PH_WAIT;
  /* not under r->lock: done may run inside this call */
  if (pt_api_start(r->srv->t, &rq, done, r, &r->call, &a) != PT_OK) {
    r->phase = PH_DONE;
    return ptd_reply_error(r, 503, "out_of_memory", NULL, "out of memory");
  }
  if (!r->call) return ptd_reply_answer(r, a);
  pthread_mutex_lock(&r->lock);
  if (!r->ready) {
    r->suspended = 1;
    MHD_suspend_connection(r->conn);
    pthread_mutex_unlock(&r->lock);
    return MHD_YES;
  }
  pthread_mutex_unlock(&r->lock);
  pt_call *c = r->call;
  r->call = NULL;
  return ptd_reply_answer(r, pt_call_finish(c));
}
