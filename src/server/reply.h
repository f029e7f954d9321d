/* reply.h - answers, headers and the log: the leaf every other server
 * module may call (it calls none of them). */
#ifndef PTD_REPLY_H
#define PTD_REPLY_H

#include <jansson.h>

#include "server.h"

/* Monotonic nanoseconds, for durations. */
uint64_t ptd_mono_ns(void);
/* Wall-clock milliseconds since the epoch. */
int64_t ptd_wall_ms(void);

/* One JSON log line on stderr: {"ts", "level", "msg", ...extra's members}.
 * extra may be NULL; it is borrowed. One write a line, so lines of
 * concurrent threads never interleave. */
void ptd_log(const char *level, const char *msg, json_t *extra);

/* Answers with body (owned, malloc'd; NULL for none). etag may be NULL. */
enum MHD_Result ptd_reply(ptd_req *r, unsigned status, char *body, size_t len, const char *ctype,
                          const char *etag);
/* Answers with a pt_answer (taken: freed here), streamed when it streams. */
enum MHD_Result ptd_reply_answer(ptd_req *r, pt_answer *a);
/* The error body every refusal has, with its status. */
enum MHD_Result ptd_reply_error(ptd_req *r, unsigned status, const char *code, const char *field,
                                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Bytes held by answers created and not yet freed by MHD (sent, or their
 * connection ended). Past --max-answer-memory, a new answer larger than
 * 64 KiB gets 503 server_busy with Retry-After instead (ptd_reply). */
size_t ptd_answer_bytes(ptd_server *s);
/* Queues resp (not destroyed: the caller does) with the headers every
 * answer carries (CORS, Retry-After), and records the status. */
enum MHD_Result ptd_queue(ptd_req *r, unsigned status, struct MHD_Response *resp);

#endif
