# The tracker: the public API of include/pipetrack.h.
set(PT_LIB_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/tracker.c
  ${CMAKE_CURRENT_LIST_DIR}/committer.c
  ${CMAKE_CURRENT_LIST_DIR}/changes.c
  ${CMAKE_CURRENT_LIST_DIR}/tx.c
  ${CMAKE_CURRENT_LIST_DIR}/track.c
  ${CMAKE_CURRENT_LIST_DIR}/append.c
  ${CMAKE_CURRENT_LIST_DIR}/snapshot.c
  ${CMAKE_CURRENT_LIST_DIR}/issues.c
  ${CMAKE_CURRENT_LIST_DIR}/redact.c
  ${CMAKE_CURRENT_LIST_DIR}/step.c
  ${CMAKE_CURRENT_LIST_DIR}/reads.c
  ${CMAKE_CURRENT_LIST_DIR}/export.c
  ${CMAKE_CURRENT_LIST_DIR}/import.c
  ${CMAKE_CURRENT_LIST_DIR}/check.c
  ${CMAKE_CURRENT_LIST_DIR}/monitor.c
)
