/* main.c - pipetrackd: options (flags, or PIPETRACK_* environment variables),
 * start-up, and the signals: SIGTERM/SIGINT drain and exit 0, SIGHUP
 * reloads the pipeline definitions (keeping the old ones on error). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lifecycle.h"
#include "reply.h"
#include "routes.h"
#include "server.h"

typedef struct opt {
  const char *name; /* flag without "--"; env is PIPETRACK_ + upper snake */
  int has_arg;
  const char *arg_name, *def, *help;
} opt;

static const opt OPTS[] = {
    {"listen", 1, "ADDR:PORT", "127.0.0.1:8080",
     "address and port to listen on (port 0: any free)"},
    {"db", 1, "URL", "sqlite:./pipetrack.db",
     "store: sqlite:PATH, postgres://USER@HOST/DB or memory:"},
    {"pipelines", 1, "FILE", NULL, "pipeline definitions (JSON); SIGHUP reloads it"},
    {"auto-snapshot", 0, NULL, NULL, "snapshot after every tracked event (a request may override)"},
    {"ingest-key", 1, "KEY", NULL, "Bearer key for the track endpoints only"},
    {"api-token", 1, "TOKEN", NULL, "Bearer token for everything under /api/ and /metrics"},
    {"cors-origin", 1, "LIST", NULL, "browser origins allowed, comma-separated, or *"},
    {"cors-headers", 1, "LIST", "traceparent,x-request-id",
     "request headers browsers may send besides Authorization, Content-Type, If-None-Match "
     "and Last-Event-ID"},
    {"read-token-secret", 1, "FILE", NULL,
     "secret (32-256 bytes) of the read tokens track answers hand out; without it, a random "
     "one: tokens end at restart"},
    {"read-token-secret-previous", 1, "FILE", NULL,
     "a former secret: its tokens are still accepted until they expire (rotation)"},
    {"read-token-ttl", 1, "SECONDS", "604800", "how long a read token is valid"},
    {"max-body", 1, "BYTES", "1048576", "largest request body"},
    {"max-depth", 1, "N", "32", "deepest JSON nesting in an event"},
    {"max-header-bytes", 1, "BYTES", "16384",
     "largest request line and headers (\"Name: value\" CRLF each); larger get 431"},
    {"conn-buffer", 1, "BYTES", NULL,
     "libmicrohttpd's memory per connection [2 x --max-header-bytes + 8192]; given alone, "
     "--max-header-bytes is (BYTES - 1024) / 2"},
    {"max-payload", 1, "BYTES", "65536", "largest canonical input/output of an event"},
    {"header-timeout", 1, "SECONDS", "10", "time allowed to send a request's headers"},
    {"idle-timeout", 1, "SECONDS", "60", "a silent keep-alive connection is closed after this"},
    {"max-connections", 1, "N", "16384", "open connections at most (streams included)"},
    {"max-connections-per-ip", 1, "N", "256",
     "open connections from one client address (0: no cap; behind a proxy, cap there)"},
    {"max-answer-memory", 1, "BYTES", "268435456",
     "memory held by answers their clients have not read yet (0: no cap); past it, large "
     "answers get 503"},
    {"threads", 1, "N", "0", "event loop threads (0: one per CPU)"},
    {"heartbeat", 1, "SECONDS", "15", "status streams send a comment line this often"},
    {"drain-timeout", 1, "SECONDS", "10", "on SIGTERM, wait this long for requests in flight"},
    {"quiet", 0, NULL, NULL, "no log line per request"},
    {"sweep-interval", 1, "SECONDS", "30",
     "longest wait between stall sweeps, which run when a session turns stalled (0: never)"},
    {"webhook-url", 1, "URL", NULL,
     "POST every issue change here (opened, updated, reopened, resolved)"},
    {"webhook-secret", 1, "SECRET", NULL, "sign deliveries: HMAC-SHA256 of \"timestamp.body\""},
    {"webhook-timeout", 1, "MS", "10000", "a delivery that takes longer is retried"},
    {"webhook-retry", 1, "MS", "1000", "first retry delay; doubles up to 5 minutes, with jitter"},
    {"webhook-coalesce", 1, "MS", "1000",
     "an update waits this long, gathering the ones that follow"},
    {"rate-limit", 1, "N", "0",
     "track requests a second per client address (0: no limit); more get 429"},
    {"rate-burst", 1, "N", "0", "requests a client may send at once before the limit (0: N)"},
    {"signing-key", 1, "FILE", NULL,
     "Ed25519 private key (PEM): sign registry entries and give receipts"},
    {"sqlite-row-lag", 1, "MS", "200",
     "SQLite: how long a session's row may lag its events (0: written in every commit)"},
    {"test-store-fault-after", 1, "N", "0",
     "for tests of failure paths: the store fails its N-th write call, once (0: never)"},
    {"test-inline-max", 1, "BYTES", "1048576",
     "for benchmarks: a status or report past this is streamed (0: always whole)"},
    {"routes", 0, NULL, NULL, "print every route (method, path, name, access) and exit"},
    {"help", 0, NULL, NULL, "this help"},
    {"version", 0, NULL, NULL, "print the version"},
};
#define NOPTS (sizeof OPTS / sizeof *OPTS)

static void usage(FILE *f) {
  fprintf(f,
          "usage: pipetrackd [options]\n\n"
          "The pipetrack HTTP/JSON server. Every option can also be set by an environment\n"
          "variable: --max-body is PIPETRACK_MAX_BODY (flags win).\n\n");
  for (size_t i = 0; i < NOPTS; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", OPTS[i].name, OPTS[i].has_arg ? " " : "",
             OPTS[i].has_arg ? OPTS[i].arg_name : "");
    fprintf(f, "  %-28s %s", left, OPTS[i].help);
    if (OPTS[i].def) fprintf(f, " [%s]", OPTS[i].def);
    fputc('\n', f);
  }
}

static const char *env_for(const char *name) {
  char key[64] = "PIPETRACK_";
  size_t n = strlen(key);
  for (const char *p = name; *p && n + 1 < sizeof key; p++)
    key[n++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
  key[n] = '\0';
  const char *v = getenv(key);
  return v && *v ? v : NULL;
}

static int parse_uint(const char *name, const char *v, unsigned long long max,
                      unsigned long long *out) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (errno || end == v || *end || n > max || v[0] == '-') {
    fprintf(stderr, "pipetrackd: --%s: must be a whole number from 0 to %llu, got \"%s\"\n", name,
            max, v);
    return -1;
  }
  *out = n;
  return 0;
}

/* A whole file (NUL-terminated, *len bytes), or NULL with errno set. */
static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *text = NULL;
  size_t n = 0;
  FILE *m = open_memstream(&text, &n);
  char chunk[8192];
  size_t got;
  while (m && (got = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, got, m);
  int bad = ferror(f) || !m;
  fclose(f);
  if (m && fclose(m) != 0) bad = 1;
  if (bad) {
    free(text);
    errno = errno ? errno : ENOMEM;
    return NULL;
  }
  *len = n;
  return text;
}

/* A secret file's bytes into out (trailing whitespace dropped): 32 to
 * PTD_READ_SECRET_MAX bytes. path NULL: nothing, 0. -1 after a message. */
static int read_secret(const char *name, const char *path, unsigned char *out, size_t *len) {
  *len = 0;
  if (!path) return 0;
  size_t n;
  char *text = read_all(path, &n);
  if (!text) {
    fprintf(stderr, "pipetrackd: --%s: cannot read %s: %s\n", name, path, strerror(errno));
    return -1;
  }
  while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ')) n--;
  int ok = n >= 32 && n <= PTD_READ_SECRET_MAX;
  if (ok) {
    memcpy(out, text, n);
    *len = n;
  } else {
    fprintf(stderr,
            "pipetrackd: --%s: %s holds %zu bytes, must be 32 to %d (e.g. openssl rand -hex 32)\n",
            name, path, n, PTD_READ_SECRET_MAX);
  }
  OPENSSL_cleanse(text, n);
  free(text);
  return ok ? 0 : -1;
}

static void reload(ptd_server *s) {
  if (!s->cfg.pipelines_file) {
    ptd_log("info", "SIGHUP: no --pipelines file; the built-in definitions stay", NULL);
    return;
  }
  size_t len;
  char *text = read_all(s->cfg.pipelines_file, &len);
  json_t *extra = json_pack("{s:s}", "file", s->cfg.pipelines_file);
  if (!text) {
    json_object_set_new(extra, "error", json_string(strerror(errno)));
    ptd_log("error", "SIGHUP: cannot read the definitions; the old ones stay", extra);
  } else {
    pt_error err;
    if (pt_definitions_load(s->t, text, len, &err) != PT_OK) {
      json_object_set_new(extra, "error", json_string(err.message));
      ptd_log("error", "SIGHUP: invalid definitions; the old ones stay", extra);
    } else {
      ptd_log("info", "SIGHUP: definitions reloaded", extra);
    }
  }
  free(text);
  json_decref(extra);
}

/* --routes: the table every request is found in, one row a line. */
static int print_routes(void) {
  static const char *ACCESS[] = {"open", "ingest", "api", "token", "session"};
  size_t n;
  ptd_route *t = ptd_routes_build(&n);
  if (!t) return 1;
  for (size_t i = 0; i < n; i++)
    printf("%-5s %-36s %-14s %s\n", t[i].method, t[i].path, t[i].name, ACCESS[t[i].access]);
  free(t);
  return 0;
}

int main(int argc, char **argv) {
  const char *val[NOPTS];
  for (size_t i = 0; i < NOPTS; i++) val[i] = env_for(OPTS[i].name);
  struct option lo[NOPTS + 1];
  for (size_t i = 0; i < NOPTS; i++)
    lo[i] = (struct option){OPTS[i].name, OPTS[i].has_arg ? required_argument : no_argument, NULL,
                            (int)(1000 + i)};
  lo[NOPTS] = (struct option){0, 0, 0, 0};
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (c < 1000 || c >= 1000 + (int)NOPTS) {
      fprintf(stderr, "pipetrackd: unknown or incomplete option \"%s\" (see --help)\n",
              argv[optind - 1]);
      return 2;
    }
    val[c - 1000] = OPTS[c - 1000].has_arg ? optarg : "1";
  }
  if (optind < argc) {
    fprintf(stderr, "pipetrackd: unexpected argument \"%s\" (see --help)\n", argv[optind]);
    return 2;
  }
  const char *get[NOPTS];
  for (size_t i = 0; i < NOPTS; i++) get[i] = val[i] ? val[i] : OPTS[i].def;
  enum {
    O_LISTEN,
    O_DB,
    O_PIPELINES,
    O_AUTO,
    O_INGEST,
    O_TOKEN,
    O_CORS,
    O_CORS_HEADERS,
    O_RT_SECRET,
    O_RT_PREVIOUS,
    O_RT_TTL,
    O_BODY,
    O_DEPTH,
    O_MAXHDR,
    O_CONNBUF,
    O_PAYLOAD,
    O_HDR,
    O_IDLE,
    O_CONNS,
    O_CONNS_IP,
    O_ANSWER_MEM,
    O_THREADS,
    O_HB,
    O_DRAIN,
    O_QUIET,
    O_SWEEP,
    O_WH_URL,
    O_WH_SECRET,
    O_WH_TIMEOUT,
    O_WH_RETRY,
    O_WH_COALESCE,
    O_RATE,
    O_BURST,
    O_SIGNING_KEY,
    O_ROW_LAG,
    O_FAULT,
    O_INLINE_MAX,
    O_ROUTES,
    O_HELP,
    O_VERSION
  };
  _Static_assert(O_VERSION + 1 == NOPTS, "the O_ names follow OPTS, in order");
  if (val[O_HELP]) {
    usage(stdout);
    return 0;
  }
  if (val[O_VERSION]) {
    printf("pipetrackd %s\n", pt_version());
    return 0;
  }
  if (val[O_ROUTES]) return print_routes();
  ptd_server srv;
  memset(&srv, 0, sizeof srv);
  ptd_config *cfg = &srv.cfg;
  const char *listen = get[O_LISTEN];
  const char *colon = strrchr(listen, ':');
  unsigned long long n;
  if (!colon || (size_t)(colon - listen) >= sizeof cfg->host || colon == listen ||
      parse_uint("listen", colon + 1, 65535, &n)) {
    fprintf(stderr, "pipetrackd: --listen: must be ADDR:PORT (e.g. 127.0.0.1:8080), got \"%s\"\n",
            listen);
    return 2;
  }
  memcpy(cfg->host, listen, (size_t)(colon - listen));
  cfg->port = (int)n;
  cfg->db_url = get[O_DB];
  cfg->pipelines_file = get[O_PIPELINES];
  int auto_snapshot = get[O_AUTO] && strcmp(get[O_AUTO], "0") != 0;
  cfg->ingest_key = get[O_INGEST];
  cfg->api_token = get[O_TOKEN];
  cfg->cors_origins = get[O_CORS];
  cfg->quiet = get[O_QUIET] && strcmp(get[O_QUIET], "0") != 0;
  struct {
    int o;
    unsigned long long max;
  } nums[] = {{O_BODY, 1ull << 30},    {O_DEPTH, 256},
              {O_PAYLOAD, 1ull << 26}, {O_HDR, 3600},
              {O_IDLE, 86400},         {O_CONNS, 1000000},
              {O_THREADS, 256},        {O_HB, 3600},
              {O_DRAIN, 3600},         {O_MAXHDR, 1 << 18},
              {O_WH_TIMEOUT, 600000},  {O_WH_RETRY, 3600000},
              {O_SWEEP, 86400},        {O_WH_COALESCE, 3600000},
              {O_RATE, 1000000},       {O_BURST, 1000000},
              {O_ROW_LAG, 86400000},   {O_FAULT, 1000000000},
              {O_CONNS_IP, 1000000},   {O_ANSWER_MEM, 1ull << 40},
              {O_RT_TTL, 31536000},    {O_INLINE_MAX, 1ull << 30}};
  unsigned long long out[sizeof nums / sizeof *nums];
  for (size_t i = 0; i < sizeof nums / sizeof *nums; i++)
    if (parse_uint(OPTS[nums[i].o].name, get[nums[i].o], nums[i].max, &out[i])) return 2;
  cfg->max_body = (size_t)out[0];
  int max_depth = (int)out[1];
  size_t max_payload = (size_t)out[2];
  cfg->header_timeout_s = (unsigned)out[3];
  cfg->idle_timeout_s = (unsigned)out[4];
  cfg->max_connections = (unsigned)out[5];
  cfg->threads = (unsigned)out[6];
  cfg->heartbeat_s = (unsigned)out[7];
  cfg->drain_timeout_s = (unsigned)out[8];
  cfg->max_header_bytes = (size_t)out[9];
  cfg->webhook_timeout_ms = (unsigned)out[10];
  cfg->webhook_retry_ms = (unsigned)out[11];
  cfg->sweep_interval_s = (unsigned)out[12];
  unsigned webhook_coalesce_ms = (unsigned)out[13];
  cfg->rate_limit = (unsigned)out[14];
  cfg->rate_burst = (unsigned)out[15];
  /* 0 on the command line is "every commit"; the library's 0 is its default */
  int64_t row_lag = out[16] ? (int64_t)out[16] : -1;
  int fault_after = (int)out[17];
  cfg->max_conns_per_ip = (unsigned)out[18];
  cfg->max_answer_memory = (size_t)out[19];
  srv.rt.ttl_ms = (int64_t)out[20] * 1000;
  cfg->inline_max = (size_t)out[21];
  cfg->cors_headers = get[O_CORS_HEADERS];
  if (srv.rt.ttl_ms < 1000) {
    fprintf(stderr, "pipetrackd: --read-token-ttl: must be at least 1 second\n");
    return 2;
  }
  if (read_secret("read-token-secret", get[O_RT_SECRET], srv.rt.secret, &srv.rt.secret_len) ||
      read_secret("read-token-secret-previous", get[O_RT_PREVIOUS], srv.rt.previous,
                  &srv.rt.previous_len))
    return 2;
  int random_secret = !get[O_RT_SECRET];
  if (random_secret) {
    if (RAND_bytes(srv.rt.secret, 32) != 1) {
      fprintf(stderr, "pipetrackd: cannot draw a random read-token secret\n");
      return 1;
    }
    srv.rt.secret_len = 32;
  }
  cfg->webhook_url = get[O_WH_URL];
  cfg->webhook_secret = get[O_WH_SECRET];
  if (cfg->webhook_url && strncmp(cfg->webhook_url, "http://", 7) != 0 &&
      strncmp(cfg->webhook_url, "https://", 8) != 0) {
    fprintf(stderr, "pipetrackd: --webhook-url: must be an http:// or https:// URL\n");
    return 2;
  }
  if (cfg->webhook_retry_ms < 1 || cfg->webhook_timeout_ms < 1) {
    fprintf(stderr, "pipetrackd: --webhook-retry and --webhook-timeout must be at least 1\n");
    return 2;
  }
  if (max_depth < 1 || cfg->max_body < 1 || cfg->max_connections < 1 || cfg->heartbeat_s < 1) {
    fprintf(stderr,
            "pipetrackd: --max-depth, --max-body, --max-connections and --heartbeat must "
            "be at least 1\n");
    return 2;
  }
  /* libmicrohttpd's pool holds a head of about half of it (a Cookie is
   * copied into it); past --max-header-bytes pipetrackd answers 431 itself,
   * so the pool leaves room beyond the limit: 4 KiB of head by default (a
   * whole cookie), at least 512 bytes (docs/decisions.md) */
  if (get[O_CONNBUF]) {
    if (parse_uint(OPTS[O_CONNBUF].name, get[O_CONNBUF], 1 << 20, &n)) return 2;
    cfg->conn_buffer = (size_t)n;
    if (cfg->conn_buffer < 2048) {
      fprintf(stderr, "pipetrackd: --conn-buffer: must be at least 2048 bytes\n");
      return 2;
    }
    if (!val[O_MAXHDR]) cfg->max_header_bytes = (cfg->conn_buffer - 1024) / 2;
  } else {
    cfg->conn_buffer = 2 * cfg->max_header_bytes + 8192;
  }
  if (cfg->max_header_bytes < 512) {
    fprintf(stderr, "pipetrackd: --max-header-bytes: must be at least 512 bytes\n");
    return 2;
  }
  if (cfg->conn_buffer < 2 * cfg->max_header_bytes + 1024) {
    fprintf(stderr,
            "pipetrackd: --conn-buffer %zu is too small for --max-header-bytes %zu: it must be at "
            "least 2 x --max-header-bytes + 1024 (%zu)\n",
            cfg->conn_buffer, cfg->max_header_bytes, 2 * cfg->max_header_bytes + 1024);
    return 2;
  }
  if (cfg->threads == 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = cpus > 0 ? (unsigned)cpus : 1;
  }
  /* one descriptor per connection: take what the hard limit allows */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  /* signals are taken by sigwait below; every thread started from here on
   * inherits the mask */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  char *key_pem = NULL;
  if (get[O_SIGNING_KEY]) {
    size_t len;
    if (!(key_pem = read_all(get[O_SIGNING_KEY], &len))) {
      fprintf(stderr, "pipetrackd: --signing-key: cannot read %s: %s\n", get[O_SIGNING_KEY],
              strerror(errno));
      return 2;
    }
  }
  pt_options o = {.db_url = cfg->db_url,
                  .signing_key_pem = key_pem,
                  .pipelines_file = cfg->pipelines_file,
                  .auto_snapshot = auto_snapshot,
                  .max_payload = max_payload,
                  .max_depth = max_depth,
                  .issue_outbox = cfg->webhook_url != NULL,
                  .issue_outbox_window_ms = webhook_coalesce_ms,
                  .sqlite_row_lag_ms = row_lag,
                  .store_fault_after = fault_after};
  pt_error err;
  pt_status orc = pt_open(&o, &srv.t, &err);
  if (key_pem) { /* the tracker keeps the key, not the text */
    OPENSSL_cleanse(key_pem, strlen(key_pem));
    free(key_pem);
  }
  if (orc != PT_OK) {
    if (strcmp(err.field, "signing_key") == 0)
      fprintf(stderr, "pipetrackd: --signing-key %s: %s\n", get[O_SIGNING_KEY],
              err.message + strlen("signing_key: "));
    else
      fprintf(stderr, "pipetrackd: %s\n", err.message);
    return orc == PT_EINVALID && strcmp(err.field, "signing_key") == 0 ? 2 : 1;
  }
  char why[256];
  if (ptd_start(&srv, why, sizeof why) != 0) {
    fprintf(stderr, "pipetrackd: %s\n", why);
    pt_close(srv.t);
    return 1;
  }
  char url[128];
  snprintf(url, sizeof url, "http://%s:%u/", cfg->host, (unsigned)srv.port);
  char db_shown[512]; /* never a password in the log */
  pt_db_url_display(cfg->db_url, db_shown, sizeof db_shown);
  json_t *extra = json_pack("{s:s,s:s,s:i,s:s}", "url", url, "db", db_shown, "threads",
                            (int)cfg->threads, "version", pt_version());
  ptd_log("info", "listening", extra);
  json_decref(extra);
  if (strncmp(cfg->db_url, "memory:", 7) == 0)
    ptd_log("warn", "the memory: store keeps nothing after exit (for tests and demos)", NULL);
  if (random_secret && (cfg->api_token || cfg->ingest_key))
    ptd_log("warn",
            "no --read-token-secret: the read tokens handed out end when this process does, and "
            "other servers on the same database refuse them",
            NULL);
  printf("pipetrackd listening on %s\n", url);
  fflush(stdout);

  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      reload(&srv);
      continue;
    }
    break;
  }
  ptd_log("info", "draining", NULL);
  ptd_stop(&srv);
  pt_close(srv.t); /* commits what is queued; SQLite rows written */
  ptd_free(&srv);
  OPENSSL_cleanse(&srv.rt, sizeof srv.rt);
  ptd_log("info", "stopped", NULL);
  return 0;
}
