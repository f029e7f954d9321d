/* client.h - how the pipetrack tool reaches a store: through a server's HTTP
 * API (--server URL, libcurl) or in-process through the same request layer
 * the server answers with (--db URL, pt_api_call_url). Both take the same
 * requests and give the same answers, so every command is written once. */
#ifndef PTC_CLIENT_H
#define PTC_CLIENT_H

#include <stddef.h>
#include <stdio.h>

typedef struct ptc_client ptc_client;

/* A server (server not NULL: an http:// or https:// URL, token for its
 * Authorization header or NULL), else the store db (NULL: the library's
 * default) opened with key_pem (an Ed25519 signing key as PEM text, or
 * NULL); pt_open has copied key_pem when this returns. Returns the client
 * (ptc_close), or NULL with a one-line message in why. */
ptc_client *ptc_open(const char *server, const char *db, const char *token, const char *key_pem,
                     char *why, size_t whylen);
/* Closes the connection or the store. NULL is a no-op. */
void ptc_close(ptc_client *c);

/* Sends a request: method, target (the path and its percent-encoded query,
 * "/api/pipeline/status?session_id=a%20b"), body (JSON or JSON Lines, as the
 * route takes; NULL for none). Returns 0 with the HTTP status in *status and
 * the answer's text in *text (NUL-terminated), or -1 when no answer came:
 * *text is then a one-line message. The caller frees *text (NULL only when
 * out of memory). */
int ptc_send(ptc_client *c, const char *method, const char *target, const char *body, size_t len,
             int *status, char **text);

/* Streams an export (target: "/api/pipeline/export" and its query) to f in
 * bounded memory; *lines counts the lines written. progress (may be NULL) is
 * called every 10,000 lines with the count so far. Returns 0 when it is
 * written; 1 when the answer was an error, with its status in *status and
 * its text in *text; -1 when the transfer failed, with a one-line message in
 * *text. The caller frees *text (NULL after 0, or when out of memory). */
int ptc_export(ptc_client *c, const char *target, FILE *f, long long *lines,
               void (*progress)(long long lines), int *status, char **text);

#endif
