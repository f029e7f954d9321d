/* endpoints.h - the endpoints pipetrackd answers itself rather than the
 * library: the two event streams, /metrics, /healthz, /readyz and the
 * dashboard's files. */
#ifndef PTD_ENDPOINTS_H
#define PTD_ENDPOINTS_H

#include "server.h"

enum MHD_Result ptd_status_stream_get(ptd_req *r);
enum MHD_Result ptd_issues_stream_get(ptd_req *r);
enum MHD_Result ptd_read_token_post(ptd_req *r);
enum MHD_Result ptd_metrics_get(ptd_req *r);
enum MHD_Result ptd_healthz_get(ptd_req *r);
enum MHD_Result ptd_readyz_get(ptd_req *r);
enum MHD_Result ptd_index_get(ptd_req *r);
enum MHD_Result ptd_asset_get(ptd_req *r);

#endif
