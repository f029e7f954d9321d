/* commands.h - the tool's commands, a function each, in a file per group:
 * cmd_track.c, cmd_session.c, cmd_issues.c, cmd_data.c, cmd_check.c. Each
 * takes its arguments with argv[0] its name and returns the exit status. */
#ifndef PTC_COMMANDS_H
#define PTC_COMMANDS_H

#include "output.h"

int ptc_cmd_track(const ptc_tool *tl, int argc, char **argv);
int ptc_cmd_status(const ptc_tool *tl, int argc, char **argv);
int ptc_cmd_snapshot(const ptc_tool *tl, int argc, char **argv);
int ptc_cmd_history(const ptc_tool *tl, int argc, char **argv);
int ptc_cmd_report(const ptc_tool *tl, int argc, char **argv);
int ptc_cmd_verify(const ptc_tool *tl, int argc, char **argv);
int ptc_cmd_sessions(const ptc_tool *tl, int argc, char **argv);
int ptc_cmd_issues(const ptc_tool *tl, int argc, char **argv);
int ptc_cmd_export(const ptc_tool *tl, int argc, char **argv);
int ptc_cmd_import(const ptc_tool *tl, int argc, char **argv);
int ptc_cmd_redact(const ptc_tool *tl, int argc, char **argv);
/* tl->client is NULL when a public key is given: nothing is opened */
int ptc_cmd_check(const ptc_tool *tl, int argc, char **argv);

#endif
