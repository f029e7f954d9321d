/* client.h - how the pipetrack tool reaches a store: through a server's HTTP
 * API (--server URL) or straight through the library (--db URL). Both speak
 * the same requests and return the same JSON documents, so every command is
 * written once. */
#ifndef PTC_CLIENT_H
#define PTC_CLIENT_H

#include <stddef.h>
#include <stdio.h>

#include "pipetrack.h"

typedef struct ptc_client ptc_client;

/* url: "http://…" (server) or a store URL (db); token for the server. On
 * failure returns NULL with a message in why. */
/* key_pem: an Ed25519 signing key (PEM text) for the library (--db) mode,
 * or NULL. */
ptc_client *ptc_open(const char *server, const char *db, const char *token, const char *key_pem,
                     char *why,
                     size_t whylen);
void ptc_close(ptc_client *c);

/* A request as the HTTP API takes it: method, path with its query string
 * (values already escaped with ptc_escape), a body (JSON or JSON Lines) or
 * NULL. *status is the HTTP status (db mode: the one the server would
 * answer); *out the body (caller frees), NUL-terminated. Returns 0, or -1
 * when the server could not be reached (message in *out). */
int ptc_call(ptc_client *c, const char *method, const char *path, const char *body, size_t len,
             int *status, char **out);

/* Streams an export (one session or all) to f; *lines counts the lines.
 * Returns 0, or -1 with a message in why. progress (may be NULL) is called
 * now and then with the lines so far. */
int ptc_export(ptc_client *c, const char *session_id, FILE *f, long long *lines,
               void (*progress)(long long lines), char *why, size_t whylen);

/* Percent-escapes a query value into out (3x + 1 bytes). */
void ptc_escape(const char *s, char *out, size_t cap);

#endif
