/* event.h - a stored event and its chain link (docs/concepts.md#sessions-and-events,
 * docs/concepts.md#the-chain). An event owns one allocation holding all of its strings, so copying
 * one into a store or a result is a single malloc. */
#ifndef PT_EVENT_H
#define PT_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pipetrack.h" /* PT_ID_MAX, PT_NAME_MAX */

typedef struct pt_event {
  const char *id;
  const char *session_id;
  const char *pipeline_type;
  const char *step;
  const char *input;  /* canonical JSON text, "null" when absent */
  const char *output; /* canonical JSON text */
  const char *error;  /* canonical {"code","message"} or "null" */
  size_t input_len, output_len, error_len;
  size_t id_len, step_len;
  int names_plain; /* id and step need no JSON escaping (always, once valid) */
  int status;      /* pt_event_status */
  int64_t ts;      /* client time, or received time when the client gave none */
  int ts_given;    /* the client sent ts (for replay comparison only) */
  int id_given;    /* the client sent id (generated ids never replay) */
  int redacted;
  int64_t seq;
  int64_t received_at;
  char input_sha256[65];
  char output_sha256[65];
  char link[65];
  char *blob; /* the strings above, in the same allocation as the struct */
} pt_event;

extern const char *const pt_status_names[3];

/* Parses "started"/"success"/"failure"; -1 otherwise. */
int pt_status_parse(const char *s);

/* Builds an owned event from borrowed strings (NULL payloads become "null").
 * Digests are computed unless `digests` is 0 (a store loading an event
 * passes 0 and fills them itself). Returns NULL on out of memory. */
pt_event *pt_event_new(const char *id, const char *session_id, const char *pipeline_type,
                       const char *step, const char *input, size_t input_len, const char *output,
                       size_t output_len, const char *error, size_t error_len);
pt_event *pt_event_clone(const pt_event *e);
/* A copy as it is once redacted (docs/concepts.md#redaction): input and output null, the
 * digests and link kept, redacted set. NULL on OOM. */
pt_event *pt_event_redacted(const pt_event *e);
void pt_event_free(pt_event *e);
void pt_event_digest(pt_event *e);
/* hex(SHA256("null")): the digest of an absent (null) payload. */
extern const char pt_null_sha256[65];

/* The stored event as the API returns it. */
void pt_event_write_json(pt_buf *b, const pt_event *e);
/* An upper bound of the size pt_event_write_json writes, to size a buffer
 * once instead of growing it. */
size_t pt_event_json_size(const pt_event *e);

/* ---- the chain ---- */

#define PT_GENESIS "GENESIS"

/* input_n and output_n of docs/concepts.md#the-chain appended to b. */
void pt_chain_input_n(pt_buf *b, const pt_event *e);
void pt_chain_output_n(pt_buf *b, const pt_event *e);
/* link_n from link_{n-1} (PT_GENESIS for the first event). */
void pt_chain_link(const char *prev, const pt_event *e, char out[65]);
/* chain_hash from the last link (PT_GENESIS for no events). */
void pt_chain_hash(const char *session_id, const char *last_link, char out[65]);

/* Event ids: "evt_" + 26 Crockford base32 characters, 10 of time (ms) and
 * 16 random, so they sort by time. out needs 31 bytes. */
void pt_event_id_make(int64_t now_ms, char out[31]);

#endif
