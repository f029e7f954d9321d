/* guard.h - the connections' guard: each connection's state from accept to
 * close, a deadline for a whole request head (not per read), idle
 * connections closed early near the connection limit, a cap per client
 * address, and dropped connections and libmicrohttpd's messages counted into
 * at most one log line a second. */
#ifndef PTD_GUARD_H
#define PTD_GUARD_H

#include "server.h"

typedef struct ptd_guard ptd_guard;

/* Starts the guard's thread for s (s->cfg set). NULL when out of memory or
 * the thread cannot start. Free with ptd_guard_free after the daemon is
 * stopped. */
ptd_guard *ptd_guard_new(ptd_server *s);
/* Stops the thread, logs what is still counted, frees g. NULL: no-op. */
void ptd_guard_free(ptd_guard *g);

/* The daemon's options the guard needs (connection notices, the logger, the
 * cap per address, strict parsing), for MHD_OPTION_ARRAY; owned by g. */
const struct MHD_OptionItem *ptd_guard_options(ptd_guard *g);

/* A request line arrived on c: its head must be complete within
 * --header-timeout from now. */
void ptd_guard_head_started(ptd_guard *g, struct MHD_Connection *c);
/* The head is complete: the request is being answered (never pruned). */
void ptd_guard_head_done(ptd_guard *g, struct MHD_Connection *c);
/* The answer is sent: c is idle until its next request line. */
void ptd_guard_request_done(ptd_guard *g, struct MHD_Connection *c);
/* A request cut before its head was complete: counted, not logged alone. */
void ptd_guard_count_cut(ptd_guard *g);

#endif
