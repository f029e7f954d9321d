/* main.c - pipetrack, the command-line tool (docs/pipetrack.1): the global
 * options, the table of commands, and the dispatch to one. Every command
 * works against a server (--server URL) or straight on a store (--db URL);
 * exit status 0 ok, 1 a check failed, 2 usage, input or I/O error. */
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "input.h"
#include "pipetrack.h"

/* The largest signing key file read: a PEM key is a few hundred bytes. */
#define KEY_MAX ((size_t)64 << 10)

static const char *USAGE =
    "usage: pipetrack [--server URL [--token T] | --db URL] [--json] COMMAND [ARGS]\n"
    "\n"
    "Where:\n"
    "  --server URL   a pipetrackd (http://127.0.0.1:8080); --token or PIPETRACK_TOKEN\n"
    "  --db URL       a store, through the library: sqlite:PATH, postgres://... or memory:\n"
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

typedef struct command {
  const char *name;
  int (*run)(const ptc_tool *tl, int argc, char **argv);
  const char *help;
} command;

static const command COMMANDS[] = {
    {"track", ptc_cmd_track,
     "pipetrack track --session S --pipeline P --step X --status started|success|failure\n"
     "                [--id ID] [--ts MS] [--input JSON] [--output JSON]\n"
     "                [--error-code C] [--error-message M] [--snapshot]\n"
     "pipetrack track --file FILE|-   (one event object a line; 1,000 a batch)\n"
     "Tracks events; a 2xx answer means durable. Exit 2 when an event is refused.\n"},
    {"status", ptc_cmd_status,
     "pipetrack status SESSION [--pipeline P]\nThe status summary: state, progress, steps, "
     "the latest events.\n"},
    {"snapshot", ptc_cmd_snapshot,
     "pipetrack snapshot SESSION [--notes TEXT]\nStores a registry entry.\n"},
    {"check", ptc_cmd_check,
     "pipetrack check [--pubkey KEY] FILE|-\nChecks, offline, what a server signed: the receipt "
     "of a saved track answer, signed registry entries (a snapshot, a registry page). KEY is "
     "the base64 public key; without it the server's (or, with --db, --signing-key's) is "
     "used. Exit 1 when a signature does not verify.\n"},
    {"redact", ptc_cmd_redact,
     "pipetrack redact SESSION [EVENT_ID ...] [--actor NAME]\nDeletes the input and output of "
     "the events (all of the session's without ids) for good; digests and links stay, so the "
     "chain still verifies. A registry entry notes who and how many.\n"},
    {"history", ptc_cmd_history,
     "pipetrack history SESSION [--limit N] [--cursor C]\nRegistry entries, newest first.\n"},
    {"report", ptc_cmd_report,
     "pipetrack report SESSION [--format markdown|json]\nThe issue report (Markdown unless "
     "--json or --format json).\n"},
    {"verify", ptc_cmd_verify,
     "pipetrack verify SESSION | pipetrack verify --all\nRecomputes chains; prints every "
     "mismatching event and snapshot. Exit 1 when any mismatch.\n"},
    {"sessions", ptc_cmd_sessions,
     "pipetrack sessions [--pipeline P] [--state S] [--limit N] [--cursor C]\nSessions, most "
     "recent activity first.\n"},
    {"export", ptc_cmd_export,
     "pipetrack export [--session S] [--output FILE]\nEverything (or one session) as JSON "
     "Lines, streamed in bounded memory.\n"},
    {"issues", ptc_cmd_issues,
     "pipetrack issues [list] [--status open|resolved] [--pipeline P] [--limit N] [--cursor C]\n"
     "pipetrack issues show ISSUE_ID\npipetrack issues resolve ISSUE_ID\nFailures grouped by "
     "pipeline/step/error code, most recent first; show lists the sessions affected.\n"},
    {"import", ptc_cmd_import,
     "pipetrack import FILE|-\nImports an export (1,000 lines a transaction); importing twice "
     "changes nothing; an altered chain is refused by line.\n"},
};

static int want_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
  return 0;
}

/* The signing key file's text (NUL-terminated; *len its length), or NULL.
 * Unbuffered, so no copy of the key stays in a stdio buffer. */
static char *read_key(const char *file, size_t *len) {
  FILE *f = fopen(file, "rb");
  if (!f) return NULL;
  setvbuf(f, NULL, _IONBF, 0);
  char *key = ptc_read_all(f, KEY_MAX, len);
  fclose(f);
  return key;
}

/* check with a key given works offline: no server, no store opened */
static int offline(int argc, char **argv) {
  if (strcmp(argv[0], "check") != 0) return 0;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--pubkey") == 0) return 1;
  return 0;
}

int main(int argc, char **argv) {
  static const struct option lo[] = {{"server", 1, 0, 's'},      {"db", 1, 0, 'd'},
                                     {"token", 1, 0, 't'},       {"json", 0, 0, 'j'},
                                     {"help", 0, 0, 'h'},        {"version", 0, 0, 'v'},
                                     {"signing-key", 1, 0, 'k'}, {0, 0, 0, 0}};
  const char *server = getenv("PIPETRACK_SERVER"), *db = getenv("PIPETRACK_DB"),
             *token = getenv("PIPETRACK_TOKEN"), *keyfile = getenv("PIPETRACK_SIGNING_KEY");
  int c, explicit_db = 0;
  ptc_tool tl = {NULL, 0};
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
      case 'j': tl.json = 1; break;
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
  int cargc = argc - optind;
  char **cargv = argv + optind;
  const command *cmd = NULL;
  for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
    if (strcmp(COMMANDS[i].name, cargv[0]) == 0) cmd = &COMMANDS[i];
  if (!cmd) return ptc_fail(EXIT_USAGE, "unknown command \"%s\" (see pipetrack --help)", cargv[0]);
  if (want_help(cargc, cargv)) {
    fputs(cmd->help, stdout);
    return EXIT_OK;
  }
  char *key = NULL;
  size_t keylen = 0;
  if (keyfile && *keyfile && !server && !(key = read_key(keyfile, &keylen)))
    return ptc_fail(EXIT_USAGE, "--signing-key %s: cannot read it", keyfile);
  char why[600];
  int off = offline(cargc, cargv);
  if (!off) tl.client = ptc_open(server, server ? NULL : db, token, key, why, sizeof why);
  /* pt_open keeps its own copy: this one is wiped before it is freed */
  if (key) OPENSSL_cleanse(key, keylen);
  free(key);
  if (!off && !tl.client) return ptc_fail(EXIT_USAGE, "%s", why);
  int rc = cmd->run(&tl, cargc, cargv);
  ptc_close(tl.client);
  return rc;
}
