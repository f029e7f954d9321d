/* stream.h - the status and issues streams (Server-Sent Events) and the hub
 * that wakes them when the tracker publishes a change. */
#ifndef PTD_STREAM_H
#define PTD_STREAM_H

#include "server.h"

ptd_hub *ptd_hub_new(ptd_server *s);
void ptd_hub_free(ptd_hub *h);

/* Answers r with the status stream of a session (checked by the caller). */
enum MHD_Result ptd_stream_start(ptd_req *r, const char *sid, const char *ptype);
/* Answers r with the issues stream: the open issues at once, then every
 * changed issue. */
enum MHD_Result ptd_issue_stream_start(ptd_req *r);

/* A pt_change_fn (ctx: the hub): marks the streams a change concerns and
 * wakes them. */
void ptd_hub_on_change(void *ctx, const pt_change *c);
/* Every stream sends a comment line (and checks its ETag: changes made by
 * other processes on the same database show up here). */
void ptd_hub_heartbeat(ptd_hub *h);
/* Ends every stream (SIGTERM). */
void ptd_hub_close_all(ptd_hub *h);
/* Streams open. */
size_t ptd_hub_count(ptd_hub *h);

#endif
