/* main.c - pipetrack, the command-line tool (docs/pipetrack.1): the table of
 * commands with their options and help, and the dispatch to one. Every
 * command works against a server (--server URL) or straight on a store
 * (--db URL); the exit statuses are in USAGE below. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "input.h"
#include "pipetrack.h"

/* The largest signing key file read: a PEM key is a few hundred bytes. */
#define KEY_MAX ((size_t)64 << 10)

static const char *USAGE =
    "usage: pipetrack [--server URL [--token T] | --db URL] [--json] [--utc] COMMAND [ARGS]\n"
    "\n"
    "Global options (anywhere on the line, before or after the command):\n"
    "  --server URL   a pipetrackd (http://127.0.0.1:8080); --token T or PIPETRACK_TOKEN\n"
    "  --db URL       a store, through the library: sqlite:PATH, postgres://... or memory:\n"
    "                 (default: PIPETRACK_SERVER, else PIPETRACK_DB, else sqlite:./pipetrack.db)\n"
    "  --json         print the API's JSON instead of tables (times in ms since the epoch)\n"
    "  --utc          print times in UTC (2026-11-30T03:58:09.123Z); by default they are\n"
    "                 ISO 8601 in local time (TZ), 2026-11-30T09:28:09.123+05:30\n"
    "  --signing-key FILE  with --db: an Ed25519 key (PEM) to sign entries and\n"
    "                 receipts with and to check signatures by (PIPETRACK_SIGNING_KEY)\n"
    "  --help         this, or with a command its own help; --version\n"
    "\n"
    "Commands:\n"
    "  track --session S --pipeline P --step X --status started|success|failure [...]\n"
    "                                                one event (track --help: every option)\n"
    "  track --file FILE|-                           JSON Lines of events, 1000 a batch\n"
    "  status SESSION [--pipeline P]                 state, progress, errors, latest events\n"
    "  sessions [--pipeline P] [--state S] [--since T] [--until T] [--limit N] [--cursor C]\n"
    "  stats TYPE [--since TIME] [--until TIME]      the funnel of a pipeline type\n"
    "  issues [list|show ID|resolve ID] [--status S] [--pipeline P] [--since T] [--until T]\n"
    "                                    [--limit N] [--cursor C]\n"
    "  snapshot SESSION [--notes TEXT]               store a registry entry\n"
    "  history SESSION [--limit N] [--cursor C]      registry entries, newest first\n"
    "  report SESSION [--format markdown|json]       the issue report (Markdown)\n"
    "  verify SESSION | verify --all                 check chains; exit 1 on a mismatch\n"
    "  redact SESSION [EVENT_ID ...] [--actor NAME]  delete events' payloads for good\n"
    "  check [--pubkey KEY] FILE|-                   check a receipt or signed entries offline\n"
    "  export [--session S] [--output FILE]          JSON Lines (stdout by default)\n"
    "  import FILE|-                                 JSON Lines of an export\n"
    "  help [COMMAND]                                this, or one command's help\n"
    "\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  a check failed: verify found a mismatch, check a signature that does not\n"
    "     verify, import a refused line (an altered export)\n"
    "  2  usage, input or I/O error, or a request refused (an event track refuses, an\n"
    "     unreachable server, a missing token, an unreadable file)\n"
    "  3  not found: no such session, issue or event\n"
    "\n"
    "pipetrack COMMAND --help shows one command. Progress goes to stderr when it\n"
    "is a terminal.\n";

/* Under every command's help. */
static const char *FOOTER =
    "\nGlobal options, anywhere on the line: --server URL [--token T] | --db URL,\n"
    "--json, --utc, --signing-key FILE (pipetrack --help). Exit status: 0 ok,\n"
    "1 a check failed, 2 usage or I/O error, 3 not found.\n";

static const char *const TRACK_OPTS[] = {
    "--session=", "--pipeline=",   "--step=",          "--status=",  "--id=",   "--ts=", "--input=",
    "--output=",  "--error-code=", "--error-message=", "--snapshot", "--file=", NULL};
static const char *const STATUS_OPTS[] = {"--pipeline=", NULL};
static const char *const SNAPSHOT_OPTS[] = {"--notes=", NULL};
static const char *const PAGE_OPTS[] = {"--limit=", "--cursor=", NULL};
static const char *const REPORT_OPTS[] = {"--format=", NULL};
static const char *const VERIFY_OPTS[] = {"--all", NULL};
/* What a TIME option takes (stats, sessions, issues: ptc_time_parse). */
#define TIME_HELP                                                                           \
  "TIME is an ISO 8601 date or time (2026-11-30, 2026-11-30T14:05, 2026-11-30T14:05:09Z,\n" \
  "2026-11-30T14:05+05:30; without a zone in local time, or UTC with --utc), a duration\n"  \
  "before now (90s, 30m, 1h, 7d, 2w), now, or ms since the epoch.\n"

static const char *const SESSIONS_OPTS[] = {
    "--pipeline=", "--state=", "--since=", "--until=", "--limit=", "--cursor=", NULL};
static const char *const EXPORT_OPTS[] = {"--session=", "--output=", NULL};
static const char *const ISSUES_OPTS[] = {
    "--status=", "--pipeline=", "--since=", "--until=", "--limit=", "--cursor=", NULL};
static const char *const REDACT_OPTS[] = {"--actor=", NULL};
static const char *const CHECK_OPTS[] = {"--pubkey=", NULL};
static const char *const STATS_OPTS[] = {"--since=", "--until=", NULL};

static const ptc_command COMMANDS[] = {
    {"track", ptc_cmd_track, TRACK_OPTS, 0,
     "usage: pipetrack track --session S --pipeline P --step X --status started|success|failure\n"
     "                       [--id ID] [--ts MS] [--input JSON] [--output JSON]\n"
     "                       [--error-code C --error-message M] [--snapshot]\n"
     "       pipetrack track --file FILE|-\n"
     "\n"
     "Tracks one event, or a file of events (one JSON object a line, 1,000 a batch).\n"
     "An event is durable when the command returns 0; each refused line of a file is\n"
     "named on stderr by its number (exit 2).\n"
     "\n"
     "Options:\n"
     "  --session S        the session id\n"
     "  --pipeline P       its pipeline type (checkout_digital, signup, data_job, ...)\n"
     "  --step X           a step of that pipeline\n"
     "  --status S         started, success or failure\n"
     "  --id ID            the event's id (a retry with the same id is replayed, not stored "
     "twice)\n"
     "  --ts MS            when it happened, ms since the epoch (default: now)\n"
     "  --input JSON       the step's input;  --output JSON  its output\n"
     "  --error-code C     with --error-message M: why a failure failed\n"
     "  --snapshot         store a registry entry after the event\n"
     "  --file FILE|-      events from FILE (- for stdin) instead of the options above\n"
     "\n"
     "Example:\n"
     "  pipetrack track --session chk_1 --pipeline checkout_digital --step payment_initiated \\\n"
     "    --status failure --error-code card_declined --error-message 'Card declined'\n"},
    {"status", ptc_cmd_status, STATUS_OPTS, 1,
     "usage: pipetrack status SESSION [--pipeline P]\n"
     "\n"
     "The status summary of a session: state, progress, when it started and its last\n"
     "event, the chain hash, the completed, failed and missing steps, the error code\n"
     "and message of each failed step, the latest 10 events and the latest snapshot.\n"
     "Exit 3 when there is no such session.\n"
     "\n"
     "Options:\n"
     "  --pipeline P   the session's pipeline type: a session not tracked yet is then\n"
     "                 shown as pending instead of not found\n"
     "\n"
     "Example:\n"
     "  pipetrack --db sqlite:./pipetrack.db status chk_abc123 --utc\n"},
    {"snapshot", ptc_cmd_snapshot, SNAPSHOT_OPTS, 1,
     "usage: pipetrack snapshot SESSION [--notes TEXT]\n"
     "\n"
     "Stores a registry entry of the session now (its chain hash, event count, state).\n"
     "\n"
     "Options:\n"
     "  --notes TEXT   a note kept with the entry\n"
     "\n"
     "Example:\n"
     "  pipetrack snapshot chk_abc123 --notes 'before the refund'\n"},
    {"check", ptc_cmd_check, CHECK_OPTS, 1,
     "usage: pipetrack check [--pubkey KEY] FILE|-\n"
     "\n"
     "Checks, offline, what a server signed: the receipt of a saved track answer, signed\n"
     "registry entries (a snapshot, a history --json page). Exit 1 when a signature does\n"
     "not verify.\n"
     "\n"
     "Options:\n"
     "  --pubkey KEY   the base64 public key (GET /api/pipeline/pubkey); with it nothing is\n"
     "                 opened. Without it the server's key (with --db, --signing-key's) is used\n"
     "\n"
     "Example:\n"
     "  pipetrack check --pubkey \"$PUBKEY\" saved-answer.json\n"},
    {"redact", ptc_cmd_redact, REDACT_OPTS, -1,
     "usage: pipetrack redact SESSION [EVENT_ID ...] [--actor NAME]\n"
     "\n"
     "Deletes the input and output of the events (all of the session's without ids) for\n"
     "good; digests and links stay, so the chain still verifies. A registry entry notes\n"
     "who and how many. Exit 3 when the session or an event does not exist.\n"
     "\n"
     "Options:\n"
     "  --actor NAME   who asked (a ticket, a person), noted in the entry\n"
     "\n"
     "Example:\n"
     "  pipetrack --server http://127.0.0.1:8080 --token \"$T\" redact chk_abc123 --actor 'ticket "
     "4711'\n"},
    {"history", ptc_cmd_history, PAGE_OPTS, 1,
     "usage: pipetrack history SESSION [--limit N] [--cursor C]\n"
     "\n"
     "The session's registry entries, newest first, a page at a time.\n"
     "\n"
     "Options:\n"
     "  --limit N      entries a page, 1 to 1000 (default 50)\n"
     "  --cursor C     the next page, as the line \"more: --cursor C\" says\n"
     "\n"
     "Example:\n"
     "  pipetrack history chk_abc123 --limit 5\n"},
    {"report", ptc_cmd_report, REPORT_OPTS, 1,
     "usage: pipetrack report SESSION [--format markdown|json]\n"
     "\n"
     "The issue report of a session: Markdown, or JSON with --json or --format json.\n"
     "\n"
     "Options:\n"
     "  --format F     markdown (the default) or json\n"
     "\n"
     "Example:\n"
     "  pipetrack report chk_abc123 > chk_abc123.md\n"},
    {"verify", ptc_cmd_verify, VERIFY_OPTS, 1,
     "usage: pipetrack verify SESSION\n"
     "       pipetrack verify --all\n"
     "\n"
     "Recomputes chains and compares them with every stored link and snapshot; prints\n"
     "every mismatching event and snapshot. Exit 1 when anything does not match.\n"
     "\n"
     "Options:\n"
     "  --all          every session in the store, a page at a time\n"
     "\n"
     "Example:\n"
     "  pipetrack --db sqlite:./pipetrack.db verify --all\n"},
    {"sessions", ptc_cmd_sessions, SESSIONS_OPTS, 0,
     "usage: pipetrack sessions [--pipeline P] [--state S] [--since TIME] [--until TIME]\n"
     "                          [--limit N] [--cursor C]\n"
     "\n"
     "Sessions, most recent activity first, a page at a time.\n"
     "\n"
     "Options:\n"
     "  --pipeline P   of this pipeline type only\n"
     "  --state S      pending, in_progress, completed, failed or stalled\n"
     "  --since TIME   whose latest activity is at TIME or later\n"
     "  --until TIME   whose latest activity is before TIME\n"
     "  --limit N      sessions a page, 1 to 1000\n"
     "  --cursor C     the next page, as the line \"more: --cursor C\" says\n" TIME_HELP "\n"
     "Example:\n"
     "  pipetrack sessions --state failed --since 1h\n"},
    {"stats", ptc_cmd_stats, STATS_OPTS, 1,
     "usage: pipetrack stats TYPE [--since TIME] [--until TIME]\n"
     "\n"
     "The funnel of pipeline type TYPE over the sessions created in [since, until):\n"
     "how many completed, failed and stalled, and per step how many sessions reached it\n"
     "(REACHED% of all), succeeded and failed (SUCCESS% and FAILED% of those that\n"
     "reached it), with the p50 and p95 of its duration.\n"
     "\n"
     "Options:\n"
     "  --since TIME   from TIME (default: the first session)\n"
     "  --until TIME   to TIME, not included (default: now)\n" TIME_HELP "\n"
     "Example:\n"
     "  pipetrack stats checkout_digital --since 7d\n"},
    {"export", ptc_cmd_export, EXPORT_OPTS, 0,
     "usage: pipetrack export [--session S] [--output FILE]\n"
     "\n"
     "Everything (or one session) as JSON Lines, streamed in bounded memory: a header\n"
     "line, then per session its events and registry entries, then the issues.\n"
     "Exit 3 when --session names no session.\n"
     "\n"
     "Options:\n"
     "  --session S    one session only\n"
     "  --output FILE  into FILE (default: standard output)\n"
     "\n"
     "Example:\n"
     "  pipetrack --server http://old:8080 export --output all.jsonl\n"},
    {"issues", ptc_cmd_issues, ISSUES_OPTS, 2,
     "usage: pipetrack issues [list] [--status open|resolved] [--pipeline P]\n"
     "                        [--since TIME] [--until TIME] [--limit N] [--cursor C]\n"
     "       pipetrack issues show ISSUE_ID\n"
     "       pipetrack issues resolve ISSUE_ID\n"
     "\n"
     "Failures grouped by pipeline, step and error code (and stalled sessions), the\n"
     "most recent first; show one with its message and the sessions it affected;\n"
     "resolve one (it reopens when it fails again). Exit 3 when there is no such issue.\n"
     "\n"
     "Options (of list):\n"
     "  --status S     open or resolved\n"
     "  --pipeline P   of this pipeline type only\n"
     "  --since TIME   seen at TIME or later (last seen at or after it)\n"
     "  --until TIME   seen before TIME (first seen before it)\n"
     "  --limit N      issues a page, 1 to 1000\n"
     "  --cursor C     the next page, as the line \"more: --cursor C\" says\n" TIME_HELP "\n"
     "Example:\n"
     "  pipetrack issues --status open --since 24h\n"},
    {"import", ptc_cmd_import, NULL, 1,
     "usage: pipetrack import FILE|-\n"
     "\n"
     "Imports an export, 1,000 lines a transaction. Every event must continue its\n"
     "session's chain; importing twice changes nothing. A refused line (an altered\n"
     "export) is named by its number, nothing of its transaction is stored, and the\n"
     "exit status is 1.\n"
     "\n"
     "Example:\n"
     "  pipetrack --db sqlite:/srv/new.db import all.jsonl\n"},
    {"help", NULL, NULL, 1,
     "usage: pipetrack help [COMMAND]\n"
     "\n"
     "The tool's help, or one command's (as pipetrack COMMAND --help).\n"
     "\n"
     "Example:\n"
     "  pipetrack help stats\n"},
};
#define NCOMMANDS (sizeof COMMANDS / sizeof *COMMANDS)

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

static int show_help(const ptc_command *cmd) {
  if (!cmd) {
    fputs(USAGE, stdout);
    return EXIT_OK;
  }
  fputs(cmd->help, stdout);
  fputs(FOOTER, stdout);
  return EXIT_OK;
}

/* pipetrack help [COMMAND] */
static int help_command(const ptc_args *a) {
  if (!a->npos) return show_help(NULL);
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(COMMANDS[i].name, a->pos[0]) == 0) return show_help(&COMMANDS[i]);
  return ptc_fail(EXIT_USAGE, "help: unknown command \"%s\" (see pipetrack --help)", a->pos[0]);
}

/* Opens the server or store the options and the environment name (the
 * options win; --db wins over PIPETRACK_SERVER), refusing options that
 * the mode would not use. EXIT_OK with tl->client set, else the status. */
static int open_client(const ptc_args *a, ptc_tool *tl) {
  const char *server = a->server ? a->server : getenv("PIPETRACK_SERVER");
  const char *db = a->db ? a->db : getenv("PIPETRACK_DB");
  const char *token = a->token ? a->token : getenv("PIPETRACK_TOKEN");
  const char *keyfile = a->keyfile ? a->keyfile : getenv("PIPETRACK_SIGNING_KEY");
  if (a->server && a->db)
    return ptc_fail(EXIT_USAGE, "--server and --db: give one (a server, or a store opened here)");
  if (a->db || (server && !*server)) server = NULL;
  if (a->token && !server)
    return ptc_fail(EXIT_USAGE,
                    "--token: only with --server (a store opened with --db takes none)");
  if (a->keyfile && server)
    return ptc_fail(EXIT_USAGE,
                    "--signing-key: only with --db (a server signs with its own --signing-key)");
  char *key = NULL;
  size_t keylen = 0;
  if (keyfile && *keyfile && !server && !(key = read_key(keyfile, &keylen)))
    return ptc_fail(EXIT_USAGE, "--signing-key %s: cannot read it", keyfile);
  char why[600];
  tl->client = ptc_open(server, server ? NULL : db, token, key, why, sizeof why);
  /* pt_open keeps its own copy: this one is wiped before it is freed */
  if (key) OPENSSL_cleanse(key, keylen);
  free(key);
  return tl->client ? EXIT_OK : ptc_fail(EXIT_USAGE, "%s", why);
}

int main(int argc, char **argv) {
  ptc_args a;
  if (ptc_args_parse(argc, argv, COMMANDS, NCOMMANDS, &a) != EXIT_OK) return EXIT_USAGE;
  int rc;
  if (a.version) {
    printf("pipetrack %s\n", pt_version());
    rc = EXIT_OK;
  } else if (a.help) {
    rc = show_help(a.cmd);
  } else if (a.cmd && !a.cmd->run) {
    rc = help_command(&a);
  } else if (!a.cmd) {
    fputs(USAGE, stderr);
    rc = EXIT_USAGE;
  } else {
    ptc_tool tl = {NULL, a.json, a.utc};
    /* check with a key given works offline: no server, no store opened */
    int offline = a.cmd->run == ptc_cmd_check && ptc_opt(&a, "--pubkey");
    rc = offline ? EXIT_OK : open_client(&a, &tl);
    if (rc == EXIT_OK) rc = a.cmd->run(&tl, &a);
    ptc_close(tl.client);
  }
  ptc_args_cleanup(&a);
  return rc;
}
