/* cmd_check.c - `pipetrack check`: what a server signed, checked offline —
 * the receipt of a saved track answer, signed registry entries (a snapshot,
 * a registry page) — by a public key given, or by the server's (the
 * store's). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "input.h"
#include "pipetrack.h"

/* The largest file checked: a registry page of 1,000 entries is far less. */
#define CHECK_MAX ((size_t)64 << 20)

/* A JSON string usable as a C string (no U+0000), or NULL. */
static const char *cstr(json_t *v) {
  const char *s = json_string_value(v);
  return s && strlen(s) == json_string_length(v) ? s : NULL;
}

/* What was checked: a line each, or with --json one result each in
 * results. */
typedef struct outcome {
  json_t *results; /* NULL: print lines */
  int bad, checked;
} outcome;

/* Checks a registry entry's signature: 1 ok, 0 not (both noted), -1 when
 * it carries none. */
static int check_entry(const char *pubkey, json_t *entry, outcome *o) {
  char *text = json_dumps(entry, JSON_COMPACT);
  int ok = text ? pt_entry_check(pubkey, text, strlen(text)) : -1;
  free(text);
  if (ok < 0) return -1;
  if (o->results)
    json_array_append_new(o->results, json_pack("{s:s, s:s, s:b}", "kind", "entry", "id",
                                                ptc_js(entry, "id"), "ok", ok));
  else
    printf("entry %s: %s\n", ptc_js(entry, "id"),
           ok ? "signature ok" : "signature does NOT verify");
  o->bad += !ok;
  o->checked++;
  return ok;
}

/* Checks a track answer's receipt: what was acknowledged is the event's
 * session, link and seq (the chain hash right after it follows from them),
 * so the answer alone suffices. */
static void check_receipt(const char *pubkey, json_t *ev, const char *receipt, outcome *o) {
  const char *sid = cstr(json_object_get(ev, "session_id"));
  const char *link = cstr(json_object_get(ev, "link"));
  json_t *seq = json_object_get(ev, "seq");
  double d = json_is_number(seq) ? json_number_value(seq) : -1;
  /* a seq is a whole number below 2^53: 1.5 must not pass as 1 */
  int whole = d >= 0 && d < 9007199254740992.0 && d == (double)(int64_t)d;
  int ok = sid && link && whole && pt_receipt_check(pubkey, sid, link, (int64_t)d, receipt);
  if (o->results)
    json_array_append_new(
        o->results, json_pack("{s:s, s:s?, s:I, s:b}", "kind", "receipt", "session_id", sid, "seq",
                              (json_int_t)(whole ? (long long)d : 0), "ok", ok));
  else
    printf("receipt for %s seq %lld: %s\n", sid ? sid : "?", whole ? (long long)d : 0,
           ok ? "ok" : "does NOT verify");
  o->bad += !ok;
  o->checked++;
}

/* Everything signed in doc, checked, noted in results (NULL: printed
 * a line each); EXIT_OK, EXIT_CHECK or, with nothing to check, EXIT_USAGE. */
static int check_into(const char *pubkey, json_t *doc, const char *file, json_t *results) {
  outcome o = {results, 0, 0};
  const char *receipt = json_string_value(json_object_get(doc, "receipt"));
  json_t *ev = json_object_get(doc, "event");
  if (receipt && json_is_object(ev)) check_receipt(pubkey, ev, receipt, &o);
  json_t *items = json_object_get(doc, "items");
  for (size_t i = 0; i < json_array_size(items); i++)
    check_entry(pubkey, json_array_get(items, i), &o);
  if (json_is_object(json_object_get(doc, "snapshot")))
    check_entry(pubkey, json_object_get(doc, "snapshot"), &o);
  if (json_object_get(doc, "signature")) check_entry(pubkey, doc, &o);
  if (!o.checked)
    return ptc_fail(EXIT_USAGE, "check: %s holds no receipt and no signed entry", file);
  return o.bad ? EXIT_CHECK : EXIT_OK;
}

/* check_into, a line printed for each thing checked. */
static int check_doc(const char *pubkey, json_t *doc, const char *file) {
  return check_into(pubkey, doc, file, NULL);
}

/* check_into, the outcome printed as {"ok", "results": [{"kind": "receipt"
 * |"entry", "session_id", "seq" | "id", "ok"}]}. */
static int check_doc_json(const char *pubkey, json_t *doc, const char *file) {
  json_t *results = json_array();
  if (!results) return ptc_fail(EXIT_USAGE, "out of memory");
  int rc = check_into(pubkey, doc, file, results);
  json_t *out =
      rc == EXIT_USAGE ? NULL : json_pack("{s:b, s:O}", "ok", rc == EXIT_OK, "results", results);
  char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;
  json_decref(out);
  json_decref(results);
  if (rc == EXIT_USAGE) return rc;
  if (!text) return ptc_fail(EXIT_USAGE, "out of memory");
  puts(text);
  free(text);
  return rc;
}

/* check [--pubkey KEY] FILE|- */
int ptc_cmd_check(const ptc_tool *tl, const ptc_args *a) {
  const char *pubkey = ptc_opt(a, "--pubkey"), *file = ptc_need(a, "FILE (or - for stdin)");
  if (!file) return EXIT_USAGE;
  FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
  if (!f) return ptc_fail(EXIT_USAGE, "check: %s: %s", file, strerror(errno));
  size_t len;
  char *text = ptc_read_all(f, CHECK_MAX, &len), why[300];
  if (f != stdin) fclose(f);
  if (!text) return ptc_fail(EXIT_USAGE, "check: %s: cannot read it", file);
  json_t *doc = ptc_json(text, len, why, sizeof why), *keydoc = NULL;
  free(text);
  if (!doc) return ptc_fail(EXIT_USAGE, "check: %s: %s", file, why);
  int rc = EXIT_OK;
  if (!pubkey) {
    keydoc = ptc_call(tl, "GET", "/api/pipeline/pubkey", NULL, 0, NULL, NULL, &rc);
    pubkey = json_string_value(json_object_get(keydoc, "public_key"));
  }
  if (rc == EXIT_OK && !pubkey)
    rc = ptc_fail(EXIT_USAGE, "check: the public key's answer holds none");
  if (rc == EXIT_OK)
    rc = tl->json ? check_doc_json(pubkey, doc, file) : check_doc(pubkey, doc, file);
  json_decref(doc);
  json_decref(keydoc);
  return rc;
}
