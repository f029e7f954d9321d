/* output.h - what the tool's commands share to talk to the API: calling it
 * and printing its answers, building request targets. Messages go to stderr
 * as "pipetrack: ..." lines. */
#ifndef PTC_OUTPUT_H
#define PTC_OUTPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "client.h"
#include "pipetrack.h"

/* Exit statuses (pipetrack --help, docs/pipetrack.1): success; a check
 * failed (verification, a signature, a refused import line); usage, input,
 * I/O or a refused request; what was named does not exist (a session, an
 * issue, an event: the API's 404 naming its field). */
enum { EXIT_OK = 0, EXIT_CHECK = 1, EXIT_USAGE = 2, EXIT_NOT_FOUND = 3 };

/* What a command runs with. */
typedef struct ptc_tool {
  ptc_client *client; /* NULL: offline (check --pubkey) */
  int json;           /* --json: print the API's JSON instead of tables */
  int utc;            /* --utc: times in UTC, else in local time */
} ptc_tool;

/* Prints "pipetrack: <message>" on stderr; returns code. */
int ptc_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Says what an error answer (status, text) says, in one line: its message
 * (else its text), status and code. Returns EXIT_NOT_FOUND for a 404 that
 * names what is missing (a session, an issue, an event), else EXIT_USAGE;
 * a 404 naming nothing is a route this server does not have. */
int ptc_answer_failed(int status, const char *text);

/* Sends a request to target (NULL: out of memory, as ptc_target_close
 * says) with body (NULL for none) and takes its answer: EXIT_OK with
 * the HTTP status in *status (may be NULL) and the text in *text (the
 * caller frees it); or, having said why (no answer, or an error answer:
 * its message, status and code), EXIT_USAGE or EXIT_NOT_FOUND (as
 * ptc_answer_failed) with *text NULL and *status 0 when no answer came. */
int ptc_fetch(const ptc_tool *tl, const char *method, const char *target, const char *body,
              size_t len, int *status, char **text);

/* ptc_fetch, the answer read as JSON: the document (json_decref) and, when
 * raw is not NULL, its text (free); or NULL with the exit status in *rc. */
json_t *ptc_call(const ptc_tool *tl, const char *method, const char *target, const char *body,
                 size_t len, int *status, char **raw, int *rc);

/* How a command prints an answer as a person reads it. */
typedef void (*ptc_table)(const ptc_tool *tl, json_t *doc);

/* Calls (body: NUL-terminated text or NULL) and prints the answer: its JSON
 * with --json, else table(tl, doc). Returns the exit status. */
int ptc_show(const ptc_tool *tl, const char *method, const char *target, const char *body,
             ptc_table table);

/* POSTs the JSON body (taken; NULL counts as out of memory) to path and
 * prints the answer as ptc_show does. */
int ptc_show_post(const ptc_tool *tl, const char *path, json_t *body, ptc_table table);

/* Reads a JSON text as pipetrack does (pt_json_read): the document, or NULL
 * with the reason, "not valid I-JSON at line L, column C (byte B): why",
 * in why. */
json_t *ptc_json(const char *text, size_t len, char *why, size_t whylen);

/* Member k of o: its string ("-" when absent); its number (-1 when absent
 * or not an integer a long long holds). */
const char *ptc_js(json_t *o, const char *k);
long long ptc_ji(json_t *o, const char *k);
/* "more: --cursor C" under a page that has a next one. */
void ptc_more_line(json_t *doc);

/* Member k of o, a time in ms since the epoch, as ISO 8601 (local time, or
 * UTC with --utc; "-" when absent or null) in buf. Returns buf. */
const char *ptc_jtime(const ptc_tool *tl, json_t *o, const char *k, char *buf);

/* s as it is safe to print to a terminal: control characters (newlines,
 * escapes) written as \n, \t, \xHH, cut with "..." past len - 4 bytes.
 * Returns buf. Text sent by clients (error messages, notes) goes through
 * it. */
const char *ptc_clean(const char *s, char *buf, size_t len);

/* ---- request targets ---- */

/* A target being built: a path, then "?name=value&..." (values escaped). */
typedef struct ptc_target {
  FILE *f; /* open_memstream on text */
  char *text;
  size_t len;
  char sep; /* before the next argument: '?' or '&' */
} ptc_target;

/* Starts a target with path. Out of memory shows at ptc_target_close. */
void ptc_target_open(ptc_target *t, const char *path);
/* Appends s percent-escaped (a path segment holding an id). */
void ptc_target_escape(ptc_target *t, const char *s);
/* Appends a raw piece of path. */
void ptc_target_puts(ptc_target *t, const char *s);
/* Adds the query argument name=value; value NULL adds nothing. */
void ptc_target_arg(ptc_target *t, const char *name, const char *value);
/* The target (free), or NULL when out of memory. */
char *ptc_target_close(ptc_target *t);

/* An option --flag VALUE of a command that becomes the query argument name;
 * with lo < hi its value must be an integer from lo to hi; with lo ==
 * PTC_TIME a time (ptc_time_parse), sent as ms since the epoch. */
typedef struct ptc_flag {
  const char *flag, *name;
  long long lo, hi;
} ptc_flag;
#define PTC_TIME (-2LL)

struct ptc_args;

/* The value of option opt of command cmd as ms since the epoch in *out (-1
 * when not given): EXIT_OK, or EXIT_USAGE having said what a time is. */
int ptc_time_option(const ptc_tool *tl, const char *cmd, const struct ptc_args *a, const char *opt,
                    long long *out);

/* Adds the options of a given among flags (each with its value) to the
 * target. EXIT_OK, or EXIT_USAGE having said the rule a value breaks. */
int ptc_target_flags(const ptc_tool *tl, ptc_target *t, const struct ptc_args *a,
                     const ptc_flag *flags, size_t n, const char *cmd);

/* GET path with the query argument session_id (when not NULL) and a's
 * options among flags, shown with table (ptc_show). */
int ptc_show_query(const ptc_tool *tl, const char *path, const char *session_id,
                   const struct ptc_args *a, const ptc_flag *flags, size_t n, const char *cmd,
                   ptc_table table);

#endif
