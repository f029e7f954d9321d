/* routes.h - pipetrackd's route table: its own endpoints and the library's
 * JSON API (pt_api_routes) in one list of rows, and finding a request's
 * row. */
#ifndef PTD_ROUTES_H
#define PTD_ROUTES_H

#include "server.h"

/* Builds the table (the server's rows first, so "/issues/stream" is found
 * before "/issues/{id}"). *n: rows; the array has one more, the "other" row
 * that unknown paths and preflights are counted under. NULL when out of
 * memory. Free with free(). */
ptd_route *ptd_routes_build(size_t *n);

/* The row for method and path (param filled from a "{id}" segment; HEAD
 * finds a GET row), or n for an unknown path. When the path exists only
 * under another method, that row with *wrong_method set (a 405). */
size_t ptd_route_find(const ptd_route *routes, size_t n, const char *method, const char *path,
                      char param[64], int *wrong_method);

#endif
