/* args.h - the command line, read the same way for every command: the
 * global options (--server, --db, --json, --utc, ...) anywhere on it, a
 * command's own options anywhere after "pipetrack" (before the command's
 * name too), "--opt=value" or "--opt value", "--" before arguments that
 * start with "-". An option the command does not take is refused, naming
 * it and the command: nothing given is ever ignored. */
#ifndef PTC_ARGS_H
#define PTC_ARGS_H

#include <stddef.h>

#include "output.h"

typedef struct ptc_args ptc_args;

/* A command of the tool. */
typedef struct ptc_command {
  const char *name;
  int (*run)(const ptc_tool *tl, const ptc_args *a);
  /* its own options, NULL-terminated: "--limit=" takes a value, "--all"
   * does not. An option name means the same (value or not) in every
   * command, so one given before the command's name reads the same. */
  const char *const *options;
  int max_pos;      /* most positional arguments; -1: no limit */
  const char *help; /* usage, options, an example */
} ptc_command;

/* One option given to the command: its name as the command's table spells
 * it ("--limit=") and its value (NULL for an option without one). */
typedef struct ptc_given {
  const char *spec, *value;
} ptc_given;

struct ptc_args {
  const ptc_command *cmd; /* NULL: none named */
  int npos;
  char **pos; /* the positional arguments after the command's name */
  int nopt;
  ptc_given *opts; /* in the order given */
  /* the global options given (NULL / 0: not given) */
  const char *server, *db, *token, *keyfile;
  int json, utc, help, version;
};

/* Reads argv (argv[0] the program) against the commands. EXIT_OK with *a
 * filled (ptc_args_cleanup), or EXIT_USAGE having said what is wrong in one
 * line on stderr (*a then holds nothing to clean up). */
int ptc_args_parse(int argc, char **argv, const ptc_command *cmds, size_t ncmds,
                   ptc_args *a /* out */);
void ptc_args_cleanup(ptc_args *a);

/* The value of option name ("--limit", without "="), the last given when
 * it came more than once; "" for an option without a value; NULL when not
 * given. */
const char *ptc_opt(const ptc_args *a, const char *name);

/* The name of the first option given of names (NULL-terminated), or NULL. */
const char *ptc_opt_any(const ptc_args *a, const char *const *names);

/* The first positional argument, or NULL having said "CMD: WHAT is
 * required" (what: "SESSION"). */
const char *ptc_need(const ptc_args *a, const char *what);

#endif
