/* main.c - pipetrack, the command-line tool (docs/pipetrack.1): every command works
 * against a server (--server URL) or straight on a store (--db URL).
 * Readable output by default, --json for scripts; exit status 0 ok, 1 a
 * check failed (verification), 2 usage, input or I/O error. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "core/buf.h"
#include "core/event.h"
#include "core/jparse.h"
#include "core/sign.h"
#include "pipetrack.h"

enum { EXIT_OK = 0, EXIT_CHECK = 1, EXIT_USAGE = 2 };

static const char *USAGE =
    "usage: pipetrack [--server URL [--token T] | --db URL] [--json] COMMAND [ARGS]\n"
    "\n"
    "Where:\n"
    "  --server URL   a pipetrackd (http://127.0.0.1:8080); --token or PIPETRACK_TOKEN\n"
    "  --db URL       a store, through the library: sqlite:PATH or memory:\n"
    "                 (default: PIPETRACK_SERVER, else PIPETRACK_DB, else sqlite:./pipetrack.db)\n"
    "  --json         print the API's JSON instead of tables\n"
    "  --signing-key FILE  with --db: an Ed25519 key (PEM) to sign entries and\n"
    "                 receipts with and to check signatures by (PIPETRACK_SIGNING_KEY)\n"
    "\n"
    "Commands:\n"
    "  track --session S --pipeline P --step X --status started|success|failure\n"
    "        [--id ID] [--ts MS] [--input JSON] [--output JSON] [--error-code C]\n"
    "        [--error-message M] [--snapshot]        one event\n"
    "  track --file FILE|-                           JSON Lines of events, 1000 a batch\n"
    "  status SESSION [--pipeline P]                 the status summary\n"
    "  snapshot SESSION [--notes TEXT]               store a registry entry\n"
    "  redact SESSION [EVENT_ID ...] [--actor NAME]  delete events' payloads for good\n"
    "  check [--pubkey KEY] FILE|-                   check a receipt or signed entries offline\n"
    "  history SESSION [--limit N] [--cursor C]      registry entries, newest first\n"
    "  report SESSION [--format markdown|json]       the issue report (Markdown)\n"
    "  verify SESSION | verify --all                 check chains; exit 1 on a mismatch\n"
    "  sessions [--pipeline P] [--state S] [--limit N] [--cursor C]\n"
    "  export [--session S] [--output FILE]          JSON Lines (stdout by default)\n"
    "  import FILE|-                                 JSON Lines of an export\n"
    "  issues [list|show ID|resolve ID] [--status S] [--pipeline P]\n"
    "\n"
    "pipetrack COMMAND --help shows one command. Progress goes to stderr when it\n"
    "is a terminal.\n";

static int json_out;
static ptc_client *cli;

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("pipetrack: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return code;
}

/* An API answer: the document on success, else the error named and exit 2. */
/* An answer's JSON (any member names, U+0000 included), or NULL. */
static json_t *read_json(const char *text) {
  json_t *v = NULL;
  if (!text || pt_jparse_tree(text, strlen(text), 0, &v, NULL) != 0) return NULL;
  return v;
}

static json_t *call(const char *method, const char *path, const char *body, size_t len, int *status,
                    char **raw, int *rc) {
  char *out;
  int st = 0;
  *rc = EXIT_OK;
  if (ptc_send(cli, method, path, body, len, &st, &out) != 0) {
    *rc = fail(EXIT_USAGE, "%s", out ? out : "request failed");
    free(out);
    return NULL;
  }
  if (status) *status = st;
  json_t *doc = read_json(out);
  if (st >= 400) {
    json_t *e = json_object_get(doc, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    *rc = fail(EXIT_USAGE, "%s (%d %s)", msg ? msg : out, st,
               json_string_value(json_object_get(e, "code"))
                   ? json_string_value(json_object_get(e, "code"))
                   : "error");
    json_decref(doc);
    free(out);
    return NULL;
  }
  if (raw)
    *raw = out;
  else
    free(out);
  return doc;
}

/* Percent-escapes a query value into out (3x + 1 bytes). */
static void escape_into(char *out, size_t cap, const char *v) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const char *s = v ? v : ""; *s && o + 4 < cap; s++) {
    unsigned char ch = (unsigned char)*s;
    if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out[o++] = (char)ch;
    } else {
      out[o++] = '%';
      out[o++] = hex[ch >> 4];
      out[o++] = hex[ch & 15];
    }
  }
  out[o] = '\0';
}

static const char *js(json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "-";
}
static long long ji(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_number(v) ? (long long)json_number_value(v) : -1;
}

static void print_json(json_t *doc, const char *raw) {
  if (raw)
    puts(raw);
  else {
    char *s = json_dumps(doc, JSON_COMPACT);
    puts(s ? s : "null");
    free(s);
  }
}

/* Calls the API and prints the answer: its JSON with --json, else the
 * command's table. */
static int show(const char *method, const char *path, const char *body,
                void (*table)(json_t *doc)) {
  int rc;
  char *raw;
  json_t *doc = call(method, path, body, body ? strlen(body) : 0, NULL, &raw, &rc);
  if (!doc) return rc;
  if (json_out)
    print_json(doc, raw);
  else
    table(doc);
  free(raw);
  json_decref(doc);
  return EXIT_OK;
}

static int want_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
  return 0;
}

/* ---- track --------------------------------------------------------------------- */

static int track_lines(const char *file) {
  FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
  if (!f) return fail(EXIT_USAGE, "%s: %s", file, strerror(errno));
  int tty = isatty(2);
  pt_buf body;
  pt_buf_init(&body, 0);
  char *line = NULL;
  size_t cap = 0, lineno = 0, inbatch = 0, first = 1;
  long long stored = 0, replayed = 0, refused = 0;
  int rc = EXIT_OK;
  for (;;) {
    ssize_t n = getline(&line, &cap, f);
    if (n > 0) {
      lineno++;
      while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
      if (n == 0) continue;
      pt_buf_puts(&body, inbatch ? "," : "{\"events\":[");
      pt_buf_put(&body, line, (size_t)n);
      inbatch++;
    }
    if ((n < 0 && inbatch) || inbatch == 1000) {
      pt_buf_puts(&body, "]}");
      int st;
      json_t *doc = call("POST", "/api/pipeline/track/batch", body.data, body.len, &st, NULL, &rc);
      if (!doc) break;
      json_t *res = json_object_get(doc, "results");
      for (size_t i = 0; i < json_array_size(res); i++) {
        json_t *it = json_array_get(res, i);
        long long s = ji(it, "status");
        if (s == 201)
          stored++;
        else if (s == 200)
          replayed++;
        else {
          refused++;
          fprintf(stderr, "pipetrack: line %zu: %s\n", first + i,
                  js(json_object_get(it, "error"), "message"));
        }
      }
      if (json_out) print_json(doc, NULL);
      json_decref(doc);
      first = lineno + 1;
      inbatch = 0;
      pt_buf_reset(&body);
      if (tty) fprintf(stderr, "\rtracked %lld events", stored + replayed);
    }
    if (n < 0) break;
  }
  if (tty) fputc('\n', stderr);
  free(line);
  pt_buf_cleanup(&body);
  if (f != stdin) fclose(f);
  if (rc) return rc;
  if (!json_out) printf("stored %lld, replayed %lld, refused %lld\n", stored, replayed, refused);
  return refused ? EXIT_USAGE : EXIT_OK;
}

static int cmd_track(int argc, char **argv) {
  static struct option lo[] = {{"session", 1, 0, 's'},
                               {"pipeline", 1, 0, 'p'},
                               {"step", 1, 0, 'x'},
                               {"status", 1, 0, 't'},
                               {"id", 1, 0, 'i'},
                               {"ts", 1, 0, 'T'},
                               {"input", 1, 0, 'I'},
                               {"output", 1, 0, 'O'},
                               {"error-code", 1, 0, 'c'},
                               {"error-message", 1, 0, 'm'},
                               {"snapshot", 0, 0, 'S'},
                               {"file", 1, 0, 'f'},
                               {0, 0, 0, 0}};
  const char *v[128] = {0};
  int c, snap = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (c == '?') return fail(EXIT_USAGE, "track: unknown option (see pipetrack track --help)");
    if (c == 'S')
      snap = 1;
    else
      v[c] = optarg;
  }
  if (v['f']) return track_lines(v['f']);
  if (!v['s'] || !v['p'] || !v['x'] || !v['t'])
    return fail(EXIT_USAGE, "track: --session, --pipeline, --step and --status are required");
  json_t *ev = json_object();
  json_object_set_new(ev, "session_id", json_string(v['s']));
  json_object_set_new(ev, "pipeline_type", json_string(v['p']));
  json_object_set_new(ev, "step", json_string(v['x']));
  json_object_set_new(ev, "status", json_string(v['t']));
  if (v['i']) json_object_set_new(ev, "id", json_string(v['i']));
  if (v['T']) json_object_set_new(ev, "ts", json_integer(strtoll(v['T'], NULL, 10)));
  const char *payload[2] = {v['I'], v['O']}, *names[2] = {"input", "output"};
  for (int k = 0; k < 2; k++) {
    if (!payload[k]) continue;
    json_t *p = NULL;
    pt_jparse_error je;
    if (pt_jparse_tree(payload[k], strlen(payload[k]), 0, &p, &je) != 0) {
      json_decref(ev);
      return fail(EXIT_USAGE, "track: --%s: not valid I-JSON at byte %zu: %s", names[k], je.offset,
                  je.reason);
    }
    json_object_set_new(ev, names[k], p);
  }
  if (v['c'] || v['m']) {
    json_t *e = json_object();
    if (v['c']) json_object_set_new(e, "code", json_string(v['c']));
    if (v['m']) json_object_set_new(e, "message", json_string(v['m']));
    json_object_set_new(ev, "error", e);
  }
  json_t *body = json_pack("{s:o, s:b}", "event", ev, "auto_snapshot", snap);
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  int rc, st;
  char *raw;
  json_t *doc = call("POST", "/api/pipeline/track", text, strlen(text), &st, &raw, &rc);
  free(text);
  if (!doc) return rc;
  if (json_out) {
    print_json(doc, raw);
  } else {
    json_t *e = json_object_get(doc, "event");
    printf("%s %s seq %lld  %s/%s %s\n  link %s\n", st == 200 ? "replayed" : "stored", js(e, "id"),
           ji(e, "seq"), js(e, "pipeline_type"), js(e, "step"), js(e, "status"), js(e, "link"));
  }
  free(raw);
  json_decref(doc);
  return EXIT_OK;
}

/* Appends "&name=value" to path for each --flag VALUE of flags (pairs of
 * flag, query name) in argv[first..]; 0, or an exit status for an unknown
 * argument. */
static int query_flags(int argc, char **argv, int first, const char *const (*flags)[2], int nflags,
                       char *path, size_t cap, const char *cmd) {
  for (int i = first; i < argc; i++) {
    int known = 0;
    for (int k = 0; k < nflags && !known; k++)
      if (strcmp(argv[i], flags[k][0]) == 0 && i + 1 < argc) {
        char e[400];
        escape_into(e, sizeof e, argv[++i]);
        size_t n = strlen(path);
        snprintf(path + n, cap - n, "&%s=%s", flags[k][1], e);
        known = 1;
      }
    if (!known) return fail(EXIT_USAGE, "%s: unknown argument \"%s\"", cmd, argv[i]);
  }
  return EXIT_OK;
}

/* ---- reading commands ------------------------------------------------------------ */

static void print_steps(json_t *ck) {
  const char *kinds[] = {"completed_steps", "failed_steps", "missing_steps", "out_of_order_steps"};
  const char *labels[] = {"completed", "failed", "missing", "out of order"};
  for (int k = 0; k < 4; k++) {
    json_t *a = json_object_get(ck, kinds[k]);
    if (!json_array_size(a)) continue;
    printf("  %-13s", labels[k]);
    for (size_t i = 0; i < json_array_size(a); i++)
      printf("%s%s", i ? ", " : "", json_string_value(json_array_get(a, i)));
    putchar('\n');
  }
}

static void status_table(json_t *doc);

static int cmd_status(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '-') return fail(EXIT_USAGE, "status: SESSION is required");
  const char *ptype = NULL;
  for (int i = 2; i + 1 < argc; i++)
    if (strcmp(argv[i], "--pipeline") == 0) ptype = argv[++i];
  char s[400], p[200], path[700];
  escape_into(s, sizeof s, argv[1]);
  escape_into(p, sizeof p, ptype);
  snprintf(path, sizeof path, "/api/pipeline/status?session_id=%s%s%s", s,
           ptype ? "&pipeline_type=" : "", ptype ? p : "");
  return show("GET", path, NULL, status_table);
}

static void status_table(json_t *doc) {
  {
    json_t *ck = json_object_get(doc, "checksum"), *pr = json_object_get(ck, "progress");
    printf(
        "session    %s (%s)\nstate      %s%s\nprogress   %lld/%lld steps (%lld%%)\nevents     "
        "%lld\n"
        "chain      %s\n",
        js(doc, "session_id"), js(doc, "pipeline_type"), js(ck, "state"),
        json_is_true(json_object_get(doc, "terminal")) ? " (terminal)" : "", ji(pr, "completed"),
        ji(pr, "total"), ji(pr, "percent"), ji(doc, "event_count"), js(ck, "chain_hash"));
    print_steps(ck);
    json_t *evs = json_object_get(doc, "events");
    size_t n = json_array_size(evs), from = n > 10 ? n - 10 : 0;
    if (n) printf("\n%5s  %-24s %-10s %-14s %s\n", "SEQ", "STEP", "STATUS", "TS", "ID");
    for (size_t i = from; i < n; i++) {
      json_t *e = json_array_get(evs, i);
      printf("%5lld  %-24s %-10s %-14lld %s\n", ji(e, "seq"), js(e, "step"), js(e, "status"),
             ji(e, "ts"), js(e, "id"));
    }
    json_t *ls = json_object_get(doc, "latest_snapshot");
    if (json_is_object(ls))
      printf("\nlatest snapshot %s (%lld events)\n", js(ls, "id"), ji(ls, "event_count"));
  }
}

static void snapshot_line(json_t *doc) {
  printf("%s  %s  %lld events  chain %s\n", js(doc, "id"), js(doc, "state"), ji(doc, "event_count"),
         js(doc, "chain_hash"));
}

static int cmd_snapshot(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '-') return fail(EXIT_USAGE, "snapshot: SESSION is required");
  json_t *b = json_pack("{s:s}", "session_id", argv[1]);
  for (int i = 2; i + 1 < argc; i++)
    if (strcmp(argv[i], "--notes") == 0) json_object_set_new(b, "notes", json_string(argv[++i]));
  char *text = json_dumps(b, JSON_COMPACT);
  json_decref(b);
  int rc = show("POST", "/api/pipeline/snapshot", text, snapshot_line);
  free(text);
  return rc;
}

static void redact_line(json_t *doc) {
  json_t *ids = json_object_get(doc, "redacted");
  json_t *snap = json_object_get(doc, "snapshot");
  printf("%zu event%s of %s redacted%s\n", json_array_size(ids),
         json_array_size(ids) == 1 ? "" : "s", js(doc, "session_id"),
         json_is_null(snap) ? " (all were already)" : "");
  if (!json_is_null(snap)) printf("noted in %s\n", js(snap, "id"));
}

/* redact SESSION [EVENT_ID ...] [--actor NAME] */
static int cmd_redact(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '-') return fail(EXIT_USAGE, "redact: SESSION is required");
  json_t *b = json_pack("{s:s}", "session_id", argv[1]);
  json_t *ids = json_array();
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--actor") == 0 && i + 1 < argc)
      json_object_set_new(b, "actor", json_string(argv[++i]));
    else if (argv[i][0] == '-') {
      json_decref(ids);
      json_decref(b);
      return fail(EXIT_USAGE, "redact: unknown option %s", argv[i]);
    } else
      json_array_append_new(ids, json_string(argv[i]));
  }
  if (json_array_size(ids))
    json_object_set_new(b, "event_ids", ids);
  else
    json_decref(ids);
  char *text = json_dumps(b, JSON_COMPACT);
  json_decref(b);
  int rc = show("POST", "/api/pipeline/redact", text, redact_line);
  free(text);
  return rc;
}

/* ---- check: receipts and signed entries, offline ------------------------------ */

/* 1 when sig signs the RFC 8785 form of doc (a JSON value) with pubkey. */
static int signs(const char *pubkey, json_t *doc, const char *sig) {
  char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
  char *canon = NULL;
  pt_error err;
  int ok = text && pt_canonicalize(text, strlen(text), &canon, &err) == PT_OK &&
           pt_ed25519_check(pubkey, canon, strlen(canon), sig);
  free(text);
  pt_free(canon);
  return ok;
}

/* Checks an entry's signature (over the entry without "signature"); -1 when
 * it has none. */
static int check_entry(const char *pubkey, json_t *entry, int *bad) {
  const char *sig = json_string_value(json_object_get(entry, "signature"));
  if (!sig) return -1;
  json_t *copy = json_deep_copy(entry);
  json_object_del(copy, "signature");
  int ok = signs(pubkey, copy, sig);
  json_decref(copy);
  printf("entry %s: %s\n", json_string_value(json_object_get(entry, "id")),
         ok ? "signature ok" : "signature does NOT verify");
  if (!ok) (*bad)++;
  return ok;
}

/* check [--pubkey KEY] FILE|-: a saved track answer (its receipt, and its
 * entry), an entry, or a registry page, against the public key (given, or
 * the server's / the store's). */
static int cmd_check(int argc, char **argv) {
  const char *pubkey = NULL, *file = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--pubkey") == 0 && i + 1 < argc)
      pubkey = argv[++i];
    else if (argv[i][0] == '-' && argv[i][1])
      return fail(EXIT_USAGE, "check: unknown option %s", argv[i]);
    else
      file = argv[i];
  }
  if (!file) return fail(EXIT_USAGE, "check: FILE (or - for stdin) is required");
  FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
  if (!f) return fail(EXIT_USAGE, "check: %s: %s", file, strerror(errno));
  pt_buf text;
  pt_buf_init(&text, 64 << 20);
  char chunk[4096];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) pt_buf_put(&text, chunk, got);
  int rerr = ferror(f);
  if (f != stdin) fclose(f);
  if (rerr || text.failed) {
    pt_buf_cleanup(&text);
    return fail(EXIT_USAGE, "check: %s: cannot read it", file);
  }
  json_t *doc = NULL;
  pt_jparse_error je;
  int perr = pt_jparse_tree(text.data ? text.data : "", text.len, 0, &doc, &je);
  pt_buf_cleanup(&text);
  if (perr)
    return fail(EXIT_USAGE, "check: %s: not JSON (%s, line %d, column %d)", file, je.reason,
                je.line, je.column);
  json_t *keydoc = NULL;
  if (!pubkey) {
    int rc;
    keydoc = call("GET", "/api/pipeline/pubkey", NULL, 0, NULL, NULL, &rc);
    if (!keydoc) {
      json_decref(doc);
      return rc;
    }
    pubkey = json_string_value(json_object_get(keydoc, "public_key"));
  }
  int bad = 0, checked = 0;
  const char *receipt = json_string_value(json_object_get(doc, "receipt"));
  json_t *ev = json_object_get(doc, "event");
  if (receipt && json_is_object(ev)) {
    /* what was acknowledged: the chain hash right after the event is
     * SHA-256(session_id ":" link), so the answer alone suffices */
    const char *sid = json_string_value(json_object_get(ev, "session_id"));
    const char *link = json_string_value(json_object_get(ev, "link"));
    json_t *seq = json_object_get(ev, "seq");
    int ok = 0;
    if (sid && link && json_is_number(seq)) {
      char chain[65];
      pt_chain_hash(sid, link, chain);
      json_t *m = json_pack("{s:s,s:s,s:O,s:s}", "chain_hash", chain, "link", link, "seq", seq,
                            "session_id", sid);
      ok = m && signs(pubkey, m, receipt);
      json_decref(m);
    }
    printf("receipt for %s seq %lld: %s\n", sid ? sid : "?", (long long)json_number_value(seq),
           ok ? "ok" : "does NOT verify");
    bad += !ok;
    checked++;
  }
  json_t *items = json_object_get(doc, "items");
  for (size_t i = 0; i < json_array_size(items); i++)
    checked += check_entry(pubkey, json_array_get(items, i), &bad) >= 0;
  if (json_is_object(json_object_get(doc, "snapshot")))
    checked += check_entry(pubkey, json_object_get(doc, "snapshot"), &bad) >= 0;
  if (json_object_get(doc, "signature")) checked += check_entry(pubkey, doc, &bad) >= 0;
  json_decref(doc);
  json_decref(keydoc);
  if (!checked) return fail(EXIT_USAGE, "check: %s holds no receipt and no signed entry", file);
  return bad ? EXIT_CHECK : EXIT_OK;
}

static void more_line(json_t *doc) {
  const char *next = json_string_value(json_object_get(doc, "next_cursor"));
  if (next) printf("more: --cursor %s\n", next);
}

static void history_table(json_t *doc) {
  json_t *items = json_object_get(doc, "items");
  printf("%-40s %-12s %7s %-15s %s\n", "ID", "STATE", "EVENTS", "CREATED_AT", "NOTES");
  for (size_t i = 0; i < json_array_size(items); i++) {
    json_t *e = json_array_get(items, i);
    const char *notes = json_string_value(json_object_get(e, "notes"));
    printf("%-40s %-12s %7lld %-15lld %s\n", js(e, "id"), js(e, "state"), ji(e, "event_count"),
           ji(e, "created_at"), notes ? notes : "");
  }
  more_line(doc);
}

static int cmd_history(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '-') return fail(EXIT_USAGE, "history: SESSION is required");
  char s[400], path[900], extra[300] = "";
  escape_into(s, sizeof s, argv[1]);
  for (int i = 2; i + 1 < argc; i++) {
    char e[200];
    if (strcmp(argv[i], "--limit") == 0 || strcmp(argv[i], "--cursor") == 0) {
      escape_into(e, sizeof e, argv[i + 1]);
      size_t n = strlen(extra);
      snprintf(extra + n, sizeof extra - n, "&%s=%s", argv[i] + 2, e);
      i++;
    }
  }
  snprintf(path, sizeof path, "/api/pipeline/registry?session_id=%s%s", s, extra);
  return show("GET", path, NULL, history_table);
}

static int cmd_report(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '-') return fail(EXIT_USAGE, "report: SESSION is required");
  const char *fmt = json_out ? "json" : "markdown";
  for (int i = 2; i + 1 < argc; i++)
    if (strcmp(argv[i], "--format") == 0) fmt = argv[++i];
  if (strcmp(fmt, "json") != 0 && strcmp(fmt, "markdown") != 0)
    return fail(EXIT_USAGE, "report: --format must be markdown or json");
  char s[400], path[600];
  escape_into(s, sizeof s, argv[1]);
  snprintf(path, sizeof path, "/api/pipeline/report?session_id=%s&format=%s", s, fmt);
  char *out;
  int st;
  if (ptc_send(cli, "GET", path, NULL, 0, &st, &out) != 0) {
    int rc = fail(EXIT_USAGE, "%s", out);
    free(out);
    return rc;
  }
  if (st >= 400) {
    json_t *d = read_json(out);
    int rc = fail(EXIT_USAGE, "%s (%d)", js(json_object_get(d, "error"), "message"), st);
    json_decref(d);
    free(out);
    return rc;
  }
  fputs(out, stdout);
  if (out[0] && out[strlen(out) - 1] != '\n') putchar('\n');
  free(out);
  return EXIT_OK;
}

/* 0 ok, 1 mismatch, 2 error; prints the mismatches unless quiet */
static int verify_one(const char *sid, int quiet) {
  char s[400], path[600];
  escape_into(s, sizeof s, sid);
  snprintf(path, sizeof path, "/api/pipeline/verify?session_id=%s", s);
  int rc;
  char *raw;
  json_t *doc = call("GET", path, NULL, 0, NULL, &raw, &rc);
  if (!doc) return rc;
  int ok = json_is_true(json_object_get(doc, "ok"));
  if (json_out) {
    printf("{\"session_id\":");
    json_t *j = json_string(sid);
    char *t = json_dumps(j, JSON_ENCODE_ANY);
    printf("%s,\"verify\":%s}\n", t, raw);
    free(t);
    json_decref(j);
  } else if (!ok || !quiet) {
    printf("%s: %s\n", sid, ok ? "ok" : "MISMATCH");
    json_t *mm = json_object_get(doc, "mismatches");
    for (size_t i = 0; i < json_array_size(mm); i++) {
      json_t *m = json_array_get(mm, i);
      json_t *seq = json_object_get(m, "seq");
      char *t = json_dumps(m, JSON_COMPACT);
      if (json_is_number(seq))
        printf("  event seq %lld: %s\n", (long long)json_number_value(seq), t);
      else
        printf("  %s\n", t);
      free(t);
    }
  }
  free(raw);
  json_decref(doc);
  return ok ? EXIT_OK : EXIT_CHECK;
}

static int cmd_verify(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "--all") == 0) {
    int tty = isatty(2), worst = EXIT_OK;
    long long n = 0, bad = 0;
    char cursor[600] = "";
    for (;;) {
      char path[900], e[600];
      escape_into(e, sizeof e, cursor);
      snprintf(path, sizeof path, "/api/pipeline/sessions?limit=1000%s%s",
               cursor[0] ? "&cursor=" : "", cursor[0] ? e : "");
      int rc;
      json_t *doc = call("GET", path, NULL, 0, NULL, NULL, &rc);
      if (!doc) return rc;
      json_t *items = json_object_get(doc, "items");
      for (size_t i = 0; i < json_array_size(items); i++) {
        int r = verify_one(js(json_array_get(items, i), "session_id"), 1);
        if (r == EXIT_USAGE) {
          json_decref(doc);
          return r;
        }
        if (r == EXIT_CHECK) {
          bad++;
          worst = EXIT_CHECK;
        }
        n++;
        if (tty && n % 100 == 0)
          fprintf(stderr, "\rverified %lld sessions, %lld mismatched", n, bad);
      }
      const char *next = json_string_value(json_object_get(doc, "next_cursor"));
      if (next) snprintf(cursor, sizeof cursor, "%s", next);
      json_decref(doc);
      if (!next) break;
    }
    if (tty) fputc('\n', stderr);
    if (!json_out) printf("%lld sessions verified, %lld mismatched\n", n, bad);
    return worst;
  }
  if (argc < 2 || argv[1][0] == '-')
    return fail(EXIT_USAGE, "verify: SESSION or --all is required");
  return verify_one(argv[1], 0);
}

static void sessions_table(json_t *doc) {
  json_t *items = json_object_get(doc, "items");
  printf("%-32s %-18s %-12s %8s %6s %s\n", "SESSION", "PIPELINE", "STATE", "PROGRESS", "EVENTS",
         "LAST_ACTIVITY");
  for (size_t i = 0; i < json_array_size(items); i++) {
    json_t *s = json_array_get(items, i), *p = json_object_get(s, "progress");
    char prog[32];
    snprintf(prog, sizeof prog, "%lld/%lld", ji(p, "completed"), ji(p, "total"));
    printf("%-32s %-18s %-12s %8s %6lld %lld\n", js(s, "session_id"), js(s, "pipeline_type"),
           js(s, "state"), prog, ji(s, "event_count"), ji(s, "updated_at"));
  }
  more_line(doc);
}

static int cmd_sessions(int argc, char **argv) {
  char path[1000] = "/api/pipeline/sessions?x=1";
  static const char *const flags[][2] = {{"--pipeline", "pipeline_type"},
                                         {"--state", "state"},
                                         {"--limit", "limit"},
                                         {"--cursor", "cursor"}};
  int rc = query_flags(argc, argv, 1, flags, 4, path, sizeof path, "sessions");
  if (rc) return rc;
  return show("GET", path, NULL, sessions_table);
}

/* ---- issues ------------------------------------------------------------------------------ */

static void issues_table(json_t *doc) {
  json_t *items = json_object_get(doc, "items");
  printf("%-28s %-9s %6s %8s %-14s %s\n", "ISSUE", "STATUS", "COUNT", "SESSIONS", "LAST_SEEN",
         "TITLE");
  for (size_t i = 0; i < json_array_size(items); i++) {
    json_t *x = json_array_get(items, i);
    printf("%-28s %-9s %6lld %8lld %-14lld %s\n", js(x, "id"), js(x, "status"), ji(x, "count"),
           ji(x, "sessions_affected"), ji(x, "last_seen"), js(x, "title"));
  }
  more_line(doc);
}

static void issue_card(json_t *x) {
  printf(
      "%s  %s\n%s\nstatus     %s (reopened %lld times)\ncount      %lld failures in %lld sessions\n"
      "first/last %lld / %lld\nlast       %s\n",
      js(x, "id"), js(x, "fingerprint"), js(x, "title"), js(x, "status"), ji(x, "reopened"),
      ji(x, "count"), ji(x, "sessions_affected"), ji(x, "first_seen"), ji(x, "last_seen"),
      js(x, "last_session_id"));
  json_t *sess = json_object_get(x, "sessions");
  if (json_array_size(sess)) printf("\n%-32s %-14s %s\n", "SESSION", "FIRST_SEEN", "LAST_SEEN");
  for (size_t i = 0; i < json_array_size(sess); i++) {
    json_t *s = json_array_get(sess, i);
    printf("%-32s %-14lld %lld\n", js(s, "session_id"), ji(s, "first_seen"), ji(s, "last_seen"));
  }
}

static int cmd_issues(int argc, char **argv) {
  const char *sub = argc > 1 && argv[1][0] != '-' ? argv[1] : "list";
  int first = argc > 1 && argv[1][0] != '-' ? 2 : 1;
  if (strcmp(sub, "show") == 0 || strcmp(sub, "resolve") == 0) {
    if (argc < 3) return fail(EXIT_USAGE, "issues %s: ISSUE_ID is required", sub);
    char id[200], path[300];
    escape_into(id, sizeof id, argv[2]);
    int resolve = strcmp(sub, "resolve") == 0;
    snprintf(path, sizeof path, "/api/pipeline/issues/%s%s", id, resolve ? "/resolve" : "");
    return show(resolve ? "POST" : "GET", path, resolve ? "" : NULL, issue_card);
  }
  if (strcmp(sub, "list") != 0)
    return fail(EXIT_USAGE, "issues: unknown subcommand \"%s\" (list, show, resolve)", sub);
  char path[1000] = "/api/pipeline/issues?x=1";
  static const char *const flags[][2] = {{"--status", "status"},
                                         {"--pipeline", "pipeline_type"},
                                         {"--limit", "limit"},
                                         {"--cursor", "cursor"}};
  int rc = query_flags(argc, argv, first, flags, 4, path, sizeof path, "issues");
  if (rc) return rc;
  return show("GET", path, NULL, issues_table);
}

/* ---- export and import -------------------------------------------------------------- */

static void export_progress(long long lines) {
  fprintf(stderr, "\rexported %lld lines", lines);
}

static int cmd_export(int argc, char **argv) {
  const char *sid = NULL, *file = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--session") == 0 && i + 1 < argc)
      sid = argv[++i];
    else if (strcmp(argv[i], "--output") == 0 && i + 1 < argc)
      file = argv[++i];
    else
      return fail(EXIT_USAGE, "export: unknown argument \"%s\"", argv[i]);
  }
  FILE *f = file ? fopen(file, "w") : stdout;
  if (!f) return fail(EXIT_USAGE, "%s: %s", file, strerror(errno));
  long long lines;
  char path[600] = "/api/pipeline/export", e[400];
  if (sid) {
    escape_into(e, sizeof e, sid);
    snprintf(path, sizeof path, "/api/pipeline/export?session_id=%s", e);
  }
  int tty = isatty(2), st;
  char *why;
  int r = ptc_export(cli, path, f, &lines, tty ? export_progress : NULL, &st, &why);
  if (tty) fputc('\n', stderr);
  int closed = f == stdout ? fflush(f) : fclose(f);
  if (r) {
    json_t *d = r > 0 ? read_json(why) : NULL;
    const char *msg = json_string_value(json_object_get(json_object_get(d, "error"), "message"));
    int rc = r > 0 ? fail(EXIT_USAGE, "export: %s (%d)", msg ? msg : why, st)
                   : fail(EXIT_USAGE, "export: %s", why ? why : "out of memory");
    json_decref(d);
    free(why);
    return rc;
  }
  if (closed) return fail(EXIT_USAGE, "export: cannot write %s", file ? file : "stdout");
  if (file && !json_out) fprintf(stderr, "exported %lld lines to %s\n", lines, file);
  return EXIT_OK;
}

static int cmd_import(int argc, char **argv) {
  if (argc < 2) return fail(EXIT_USAGE, "import: FILE (or - for stdin) is required");
  FILE *f = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "r");
  if (!f) return fail(EXIT_USAGE, "%s: %s", argv[1], strerror(errno));
  int tty = isatty(2), rc = EXIT_OK;
  pt_buf body;
  pt_buf_init(&body, 0);
  char *line = NULL;
  size_t cap = 0, lineno = 0, inbody = 0, first = 1;
  long long ea = 0, es = 0, sa = 0, ss = 0;
  for (;;) {
    ssize_t n = getline(&line, &cap, f);
    if (n > 0) {
      lineno++;
      pt_buf_put(&body, line, (size_t)n);
      if (line[n - 1] != '\n') pt_buf_putc(&body, '\n');
      inbody++;
    }
    /* whole lines, at most 1,000 or ~512 KB a request (the server's body
     * limit is 1 MiB by default) */
    if ((n < 0 && inbody) || inbody == 1000 || body.len > 512 * 1024) {
      char path[100];
      snprintf(path, sizeof path, "/api/pipeline/import?first_line=%zu", first);
      json_t *doc = call("POST", path, body.data, body.len, NULL, NULL, &rc);
      if (!doc) break;
      ea += ji(doc, "events_added");
      es += ji(doc, "events_skipped");
      sa += ji(doc, "snapshots_added");
      ss += ji(doc, "snapshots_skipped");
      json_decref(doc);
      first = lineno + 1;
      inbody = 0;
      pt_buf_reset(&body);
      if (tty) fprintf(stderr, "\rimported %zu lines", lineno);
    }
    if (n < 0) break;
  }
  if (tty) fputc('\n', stderr);
  free(line);
  pt_buf_cleanup(&body);
  if (f != stdin) fclose(f);
  if (rc) return rc;
  if (json_out)
    printf(
        "{\"events_added\":%lld,\"events_skipped\":%lld,\"snapshots_added\":%lld,"
        "\"snapshots_skipped\":%lld}\n",
        ea, es, sa, ss);
  else
    printf("events: %lld added, %lld already there; snapshots: %lld added, %lld already there\n",
           ea, es, sa, ss);
  return EXIT_OK;
}

/* ---- main ------------------------------------------------------------------------------ */

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *help;
} command;

static const command COMMANDS[] = {
    {"track", cmd_track,
     "pipetrack track --session S --pipeline P --step X --status started|success|failure\n"
     "                [--id ID] [--ts MS] [--input JSON] [--output JSON]\n"
     "                [--error-code C] [--error-message M] [--snapshot]\n"
     "pipetrack track --file FILE|-   (one event object a line; 1,000 a batch)\n"
     "Tracks events; a 2xx answer means durable. Exit 2 when an event is refused.\n"},
    {"status", cmd_status,
     "pipetrack status SESSION [--pipeline P]\nThe status summary: state, progress, steps, "
     "the latest events.\n"},
    {"snapshot", cmd_snapshot,
     "pipetrack snapshot SESSION [--notes TEXT]\nStores a registry entry.\n"},
    {"check", cmd_check,
     "pipetrack check [--pubkey KEY] FILE|-\nChecks, offline, what a server signed: the receipt "
     "of a saved track answer, signed registry entries (a snapshot, a registry page). KEY is "
     "the base64 public key; without it the server's (or, with --db, --signing-key's) is "
     "used. Exit 1 when a signature does not verify.\n"},
    {"redact", cmd_redact,
     "pipetrack redact SESSION [EVENT_ID ...] [--actor NAME]\nDeletes the input and output of "
     "the events (all of the session's without ids) for good; digests and links stay, so the "
     "chain still verifies. A registry entry notes who and how many.\n"},
    {"history", cmd_history,
     "pipetrack history SESSION [--limit N] [--cursor C]\nRegistry entries, newest first.\n"},
    {"report", cmd_report,
     "pipetrack report SESSION [--format markdown|json]\nThe issue report (Markdown unless "
     "--json or --format json).\n"},
    {"verify", cmd_verify,
     "pipetrack verify SESSION | pipetrack verify --all\nRecomputes chains; prints every "
     "mismatching event and snapshot. Exit 1 when any mismatch.\n"},
    {"sessions", cmd_sessions,
     "pipetrack sessions [--pipeline P] [--state S] [--limit N] [--cursor C]\nSessions, most "
     "recent activity first.\n"},
    {"export", cmd_export,
     "pipetrack export [--session S] [--output FILE]\nEverything (or one session) as JSON "
     "Lines, streamed in bounded memory.\n"},
    {"issues", cmd_issues,
     "pipetrack issues [list] [--status open|resolved] [--pipeline P] [--limit N] [--cursor C]\n"
     "pipetrack issues show ISSUE_ID\npipetrack issues resolve ISSUE_ID\nFailures grouped by "
     "pipeline/step/error code, most recent first; show lists the sessions affected.\n"},
    {"import", cmd_import,
     "pipetrack import FILE|-\nImports an export (1,000 lines a transaction); importing twice "
     "changes nothing; an altered chain is refused by line.\n"},
};

int main(int argc, char **argv) {
  static struct option lo[] = {{"server", 1, 0, 's'},      {"db", 1, 0, 'd'},
                               {"token", 1, 0, 't'},       {"json", 0, 0, 'j'},
                               {"help", 0, 0, 'h'},        {"version", 0, 0, 'v'},
                               {"signing-key", 1, 0, 'k'}, {0, 0, 0, 0}};
  const char *server = getenv("PIPETRACK_SERVER"), *db = getenv("PIPETRACK_DB"),
             *token = getenv("PIPETRACK_TOKEN"), *keyfile = getenv("PIPETRACK_SIGNING_KEY");
  int c, explicit_db = 0;
  /* options before the command only: "+" stops at the first non-option */
  while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
    switch (c) {
      case 's': server = optarg; break;
      case 'd':
        db = optarg;
        explicit_db = 1;
        break;
      case 't': token = optarg; break;
      case 'k': keyfile = optarg; break;
      case 'j': json_out = 1; break;
      case 'h': fputs(USAGE, stdout); return EXIT_OK;
      case 'v': printf("pipetrack %s\n", PT_VERSION); return EXIT_OK;
      default: fputs(USAGE, stderr); return EXIT_USAGE;
    }
  }
  if (explicit_db) server = NULL;
  if (optind >= argc) {
    fputs(USAGE, stderr);
    return EXIT_USAGE;
  }
  const char *name = argv[optind];
  const command *cmd = NULL;
  for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
    if (strcmp(COMMANDS[i].name, name) == 0) cmd = &COMMANDS[i];
  if (!cmd) return fail(EXIT_USAGE, "unknown command \"%s\" (see pipetrack --help)", name);
  if (want_help(argc - optind, argv + optind)) {
    fputs(cmd->help, stdout);
    return EXIT_OK;
  }
  char *key = NULL;
  if (keyfile && *keyfile && !server) {
    FILE *f = fopen(keyfile, "rb");
    pt_buf kb;
    pt_buf_init(&kb, 1 << 16);
    char chunk[4096];
    size_t n;
    while (f && (n = fread(chunk, 1, sizeof chunk, f)) > 0) pt_buf_put(&kb, chunk, n);
    if (f) fclose(f);
    if (!f || !(key = pt_buf_take(&kb))) {
      pt_buf_cleanup(&kb);
      return fail(EXIT_USAGE, "--signing-key %s: cannot read it", keyfile);
    }
  }
  /* check with a key given works offline: no server, no store opened */
  int offline = strcmp(name, "check") == 0;
  for (int i = optind; offline && i < argc; i++) offline = strcmp(argv[i], "--pubkey") != 0;
  offline = strcmp(name, "check") == 0 && !offline;
  if (offline) {
    if (key) memset(key, 0, strlen(key));
    free(key);
    return cmd->run(argc - optind, argv + optind);
  }
  char why[600];
  cli = ptc_open(server, server ? NULL : db, token, key, why, sizeof why);
  if (key) {
    memset(key, 0, strlen(key));
    free(key);
  }
  if (!cli) return fail(EXIT_USAGE, "%s", why);
  int rc = cmd->run(argc - optind, argv + optind);
  ptc_close(cli);
  return rc;
}
