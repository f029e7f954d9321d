/* api_route.h - the one handler behind every row of the library's JSON
 * API: the request handed to pt_api_start, the answer sent back. */
#ifndef PTD_API_ROUTE_H
#define PTD_API_ROUTE_H

#include "server.h"

/* Answers r (a row with api_route >= 0). A track is suspended until its
 * commit; MHD calls the request again, and this finishes it. */
enum MHD_Result ptd_api_answer(ptd_req *r);

#endif
