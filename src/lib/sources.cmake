# The tracker: the public API of include/pipetrack.h.
set(PT_LIB_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/tracker.c
  ${CMAKE_CURRENT_LIST_DIR}/reads.c
  ${CMAKE_CURRENT_LIST_DIR}/export.c
  ${CMAKE_CURRENT_LIST_DIR}/import.c
  ${CMAKE_CURRENT_LIST_DIR}/check.c
)
