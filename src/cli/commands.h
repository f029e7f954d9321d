/* commands.h - the tool's commands, a function each, in a file per group:
 * cmd_track.c, cmd_session.c, cmd_issues.c, cmd_data.c, cmd_check.c,
 * cmd_stats.c. Each takes the command line as read (args.h: only options
 * of its own, positional arguments after its name) and returns the exit
 * status. */
#ifndef PTC_COMMANDS_H
#define PTC_COMMANDS_H

#include "args.h"
#include "output.h"

/* Every command, by name: each is int ptc_cmd_<name>(const ptc_tool *tl,
 * const ptc_args *a). check runs with tl->client NULL when a public key is
 * given: nothing is opened. */
#define PTC_COMMANDS(X) \
  X(track)              \
  X(status)             \
  X(snapshot)           \
  X(history)            \
  X(report)             \
  X(verify)             \
  X(sessions)           \
  X(issues)             \
  X(export)             \
  X(import)             \
  X(redact)             \
  X(check)              \
  X(stats)

#define PTC_DECLARE(name) int ptc_cmd_##name(const ptc_tool *tl, const ptc_args *a);
PTC_COMMANDS(PTC_DECLARE)
#undef PTC_DECLARE

#endif
