/* args.c - reading the command line (see args.h). One pass that knows which
 * options take a value: "--notes --json" is a note, not --json. */
#include "args.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The global options: every command takes them. */
static const char *const GLOBALS[] = {"--server=", "--db=",  "--token=", "--signing-key=", "--json",
                                      "--utc",     "--help", "-h",       "--version",      NULL};

/* The spec in list matching the option's name (n bytes of arg), or NULL. */
static const char *find(const char *const *list, const char *arg, size_t n) {
  for (; list && *list; list++) {
    size_t len = strcspn(*list, "=");
    if (len == n && strncmp(*list, arg, n) == 0) return *list;
  }
  return NULL;
}

static const char *find_any(const ptc_command *cmds, size_t ncmds, const char *arg, size_t n) {
  for (size_t i = 0; i < ncmds; i++) {
    const char *s = find(cmds[i].options, arg, n);
    if (s) return s;
  }
  return NULL;
}

static int takes_value(const char *spec) {
  return spec[strlen(spec) - 1] == '=';
}

/* Says "pipetrack: [COMMAND: ]message" and frees what a holds. */
static int fail(ptc_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ptc_args *a, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (a->cmd)
    ptc_fail(EXIT_USAGE, "%s: %s (see pipetrack %s --help)", a->cmd->name, msg, a->cmd->name);
  else
    ptc_fail(EXIT_USAGE, "%s (see pipetrack --help)", msg);
  ptc_args_cleanup(a);
  return EXIT_USAGE;
}

/* The option's name as given (n bytes, long ones cut), for messages. */
static const char *shown(const char *arg, size_t n, char buf[72]) {
  snprintf(buf, 72, "%.*s%s", (int)(n > 64 ? 64 : n), arg, n > 64 ? "..." : "");
  return buf;
}

int ptc_args_parse(int argc, char **argv, const ptc_command *cmds, size_t ncmds, ptc_args *a) {
  memset(a, 0, sizeof *a);
  /* at most every argument is a positional one or an option */
  a->pos = calloc((size_t)argc + 1, sizeof *a->pos);
  a->opts = calloc((size_t)argc + 1, sizeof *a->opts);
  if (!a->pos || !a->opts) {
    ptc_args_cleanup(a);
    return ptc_fail(EXIT_USAGE, "out of memory");
  }
  int ended = 0;
  char name[72];
  for (int i = 1; i < argc; i++) {
    char *arg = argv[i];
    if (ended || arg[0] != '-' || strcmp(arg, "-") == 0) {
      if (a->cmd) {
        a->pos[a->npos++] = arg;
        continue;
      }
      for (size_t k = 0; k < ncmds && !a->cmd; k++)
        if (strcmp(cmds[k].name, arg) == 0) a->cmd = &cmds[k];
      if (!a->cmd) return fail(a, "unknown command \"%s\"", shown(arg, strlen(arg), name));
      continue;
    }
    if (strcmp(arg, "--") == 0) {
      ended = 1;
      continue;
    }
    const char *eq = arg[1] == '-' ? strchr(arg, '=') : NULL;
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    const char *spec = find(GLOBALS, arg, n);
    int global = spec != NULL;
    if (!spec) spec = a->cmd ? find(a->cmd->options, arg, n) : find_any(cmds, ncmds, arg, n);
    if (!spec) return fail(a, "unknown option \"%s\"", shown(arg, n, name));
    const char *value = NULL;
    if (takes_value(spec)) {
      if (eq)
        value = eq + 1;
      else if (i + 1 < argc)
        value = argv[++i];
      else
        return fail(a, "%s needs a value", shown(arg, n, name));
    } else if (eq) {
      return fail(a, "%s takes no value", shown(arg, n, name));
    }
    if (!global) {
      a->opts[a->nopt++] = (ptc_given){spec, value};
      continue;
    }
    if (strcmp(spec, "--server=") == 0)
      a->server = value;
    else if (strcmp(spec, "--db=") == 0)
      a->db = value;
    else if (strcmp(spec, "--token=") == 0)
      a->token = value;
    else if (strcmp(spec, "--signing-key=") == 0)
      a->keyfile = value;
    else if (strcmp(spec, "--json") == 0)
      a->json = 1;
    else if (strcmp(spec, "--utc") == 0)
      a->utc = 1;
    else if (strcmp(spec, "--version") == 0)
      a->version = 1;
    else
      a->help = 1;
  }
  if (!a->cmd) {
    if (a->nopt && !a->help && !a->version) {
      const char *s = a->opts[0].spec;
      return fail(a, "%s: an option of a command, and no command is given",
                  shown(s, strcspn(s, "="), name));
    }
    return EXIT_OK;
  }
  /* options given before the command's name: are they the command's? */
  for (int i = 0; i < a->nopt; i++) {
    const char *s = a->opts[i].spec;
    size_t n = strcspn(s, "=");
    if (!find(a->cmd->options, s, n)) return fail(a, "unknown option \"%s\"", shown(s, n, name));
  }
  if (a->cmd->max_pos >= 0 && a->npos > a->cmd->max_pos && !a->help)
    return fail(a, "unexpected argument \"%s\"",
                shown(a->pos[a->cmd->max_pos], strlen(a->pos[a->cmd->max_pos]), name));
  return EXIT_OK;
}

void ptc_args_cleanup(ptc_args *a) {
  free(a->pos);
  free(a->opts);
  a->pos = NULL;
  a->opts = NULL;
  a->npos = a->nopt = 0;
}

const char *ptc_opt(const ptc_args *a, const char *name) {
  size_t n = strlen(name);
  const char *v = NULL;
  for (int i = 0; i < a->nopt; i++) {
    const char *s = a->opts[i].spec;
    if (strcspn(s, "=") == n && strncmp(s, name, n) == 0)
      v = a->opts[i].value ? a->opts[i].value : "";
  }
  return v;
}

const char *ptc_opt_any(const ptc_args *a, const char *const *names) {
  for (int i = 0; i < a->nopt; i++)
    for (const char *const *p = names; *p; p++) {
      size_t n = strlen(*p);
      if (strcspn(a->opts[i].spec, "=") == n && strncmp(a->opts[i].spec, *p, n) == 0) return *p;
    }
  return NULL;
}

const char *ptc_need(const ptc_args *a, const char *what) {
  if (a->npos > 0) return a->pos[0];
  ptc_fail(EXIT_USAGE, "%s: %s is required (see pipetrack %s --help)", a->cmd->name, what,
           a->cmd->name);
  return NULL;
}
