/* http.h - the callbacks libmicrohttpd calls for each request (http.c):
 * server.c hands them to the daemon. */
#ifndef PTD_HTTP_H
#define PTD_HTTP_H

#include "server.h"

/* MHD_OPTION_URI_LOG_CALLBACK: the request line is in; cls is the server. */
void *ptd_http_on_uri(void *cls, const char *uri, struct MHD_Connection *c);
/* The access handler. */
enum MHD_Result ptd_http_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *upload,
                                    size_t *upload_size, void **con_cls);
/* MHD_OPTION_NOTIFY_COMPLETED: counts, logs and frees the request. */
void ptd_http_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe);

#endif
