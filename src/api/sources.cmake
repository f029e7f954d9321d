# The request layer: the HTTP API's JSON endpoints as calls (part of the library).
set(PT_API_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/call.c
  ${CMAKE_CURRENT_LIST_DIR}/routes.c
  ${CMAKE_CURRENT_LIST_DIR}/track.c
  ${CMAKE_CURRENT_LIST_DIR}/reads.c
  ${CMAKE_CURRENT_LIST_DIR}/writes.c
)
