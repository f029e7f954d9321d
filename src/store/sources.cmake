# Storage backends behind one vtable (store.h).
set(PT_STORE_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/store.c
  ${CMAKE_CURRENT_LIST_DIR}/memory_store.c
  ${CMAKE_CURRENT_LIST_DIR}/memory_issues.c
  ${CMAKE_CURRENT_LIST_DIR}/sqlite_codec.c
  ${CMAKE_CURRENT_LIST_DIR}/sqlite_issues.c
  ${CMAKE_CURRENT_LIST_DIR}/sqlite_open.c
  ${CMAKE_CURRENT_LIST_DIR}/sqlite_read.c
  ${CMAKE_CURRENT_LIST_DIR}/sqlite_schema.c
  ${CMAKE_CURRENT_LIST_DIR}/sqlite_write.c
)
