/* version_print.c - prints pt_version() of the libpipetrack.so it runs
 * with, and the header's PT_VERSION: test_version compares them with the
 * project's version. */
#include <stdio.h>

#include "pipetrack.h"

int main(void) {
  printf("%s %s\n", pt_version(), PT_VERSION);
  return 0;
}
