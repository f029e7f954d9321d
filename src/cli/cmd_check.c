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

/* Checks a registry entry's signature: 1 ok, 0 not (both printed), -1 when
 * it carries none. */
static int check_entry(const char *pubkey, json_t *entry, int *bad) {
  char *text = json_dumps(entry, JSON_COMPACT);
  int ok = text ? pt_entry_check(pubkey, text, strlen(text)) : -1;
  free(text);
  if (ok < 0) return -1;
  printf("entry %s: %s\n", ptc_js(entry, "id"), ok ? "signature ok" : "signature does NOT verify");
  if (!ok) (*bad)++;
  return ok;
}

/* Checks a track answer's receipt: what was acknowledged is the event's
 * session, link and seq (the chain hash right after it follows from them),
 * so the answer alone suffices. */
static void check_receipt(const char *pubkey, json_t *ev, const char *receipt, int *bad) {
  const char *sid = cstr(json_object_get(ev, "session_id"));
  const char *link = cstr(json_object_get(ev, "link"));
  json_t *seq = json_object_get(ev, "seq");
  double d = json_is_number(seq) ? json_number_value(seq) : -1;
  /* a seq is a whole number below 2^53: 1.5 must not pass as 1 */
  int whole = d >= 0 && d < 9007199254740992.0 && d == (double)(int64_t)d;
  int ok = sid && link && whole && pt_receipt_check(pubkey, sid, link, (int64_t)d, receipt);
  printf("receipt for %s seq %lld: %s\n", sid ? sid : "?", whole ? (long long)d : 0,
         ok ? "ok" : "does NOT verify");
  *bad += !ok;
}

/* Everything signed in doc, checked; EXIT_OK, EXIT_CHECK or, with nothing
 * to check, EXIT_USAGE. */
static int check_doc(const char *pubkey, json_t *doc, const char *file) {
  int bad = 0, checked = 0;
  const char *receipt = json_string_value(json_object_get(doc, "receipt"));
  json_t *ev = json_object_get(doc, "event");
  if (receipt && json_is_object(ev)) {
    check_receipt(pubkey, ev, receipt, &bad);
    checked++;
  }
  json_t *items = json_object_get(doc, "items");
  for (size_t i = 0; i < json_array_size(items); i++)
    checked += check_entry(pubkey, json_array_get(items, i), &bad) >= 0;
  if (json_is_object(json_object_get(doc, "snapshot")))
    checked += check_entry(pubkey, json_object_get(doc, "snapshot"), &bad) >= 0;
  if (json_object_get(doc, "signature")) checked += check_entry(pubkey, doc, &bad) >= 0;
  if (!checked) return ptc_fail(EXIT_USAGE, "check: %s holds no receipt and no signed entry", file);
  return bad ? EXIT_CHECK : EXIT_OK;
}

/* check [--pubkey KEY] FILE|- */
int ptc_cmd_check(const ptc_tool *tl, int argc, char **argv) {
  const char *pubkey = NULL, *file = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--pubkey") == 0 && i + 1 < argc)
      pubkey = argv[++i];
    else if (argv[i][0] == '-' && argv[i][1])
      return ptc_fail(EXIT_USAGE, "check: unknown option %s", argv[i]);
    else
      file = argv[i];
  }
  if (!file) return ptc_fail(EXIT_USAGE, "check: FILE (or - for stdin) is required");
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
  if (rc == EXIT_OK) rc = check_doc(pubkey, doc, file);
  json_decref(doc);
  json_decref(keydoc);
  return rc;
}
