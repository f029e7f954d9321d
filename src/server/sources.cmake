# pipetrackd: one module a job; the modules depend one way (docs/architecture.md).
set(PTD_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/main.c
  ${CMAKE_CURRENT_LIST_DIR}/lifecycle.c
  ${CMAKE_CURRENT_LIST_DIR}/http.c
  ${CMAKE_CURRENT_LIST_DIR}/routes.c
  ${CMAKE_CURRENT_LIST_DIR}/api_route.c
  ${CMAKE_CURRENT_LIST_DIR}/endpoints.c
  ${CMAKE_CURRENT_LIST_DIR}/stream.c
  ${CMAKE_CURRENT_LIST_DIR}/metrics.c
  ${CMAKE_CURRENT_LIST_DIR}/webhook.c
  ${CMAKE_CURRENT_LIST_DIR}/ratelimit.c
  ${CMAKE_CURRENT_LIST_DIR}/reply.c
)
