/* version.c - pt_version: the version this library was built as (the
 * project's, from CMakeLists.txt), whatever header the caller compiled with. */
#include "pipetrack.h"

#ifndef PT_LIB_VERSION
#error "PT_LIB_VERSION is set by CMakeLists.txt from project(VERSION)"
#endif

const char *pt_version(void) { return PT_LIB_VERSION; }
