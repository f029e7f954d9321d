# The pipetrack tool: built on include/pipetrack.h only (CMakeLists.txt gives
# it src/cli, not src, as its include directory).
set(PTC_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/main.c
  ${CMAKE_CURRENT_LIST_DIR}/client.c
  ${CMAKE_CURRENT_LIST_DIR}/output.c
  ${CMAKE_CURRENT_LIST_DIR}/input.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_track.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_session.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_issues.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_data.c
  ${CMAKE_CURRENT_LIST_DIR}/cmd_check.c
)
