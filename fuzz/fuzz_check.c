/* fuzz_check.c - `pipetrack check` inputs: a saved answer (a track answer
 * with its receipt, a registry page, a snapshot, a signed entry) read as
 * the command reads it (ptc_json) and checked by the command's own code
 * (check_doc, reached by including cmd_check.c) against a fixed public
 * key; the seeds are signed by its private key, so both verdicts are
 * reached. What it prints goes to /dev/null. */
#include <stdint.h>
#include <stdio.h>

#include "cli/cmd_check.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The public half of the key the seeds were made with (an Ed25519 key made
 * for the corpus, signing nothing else). */
#define FUZZ_PUBKEY "Zo+Ui61w8FKfbF8eAPGE06lgl2pLdHifw9x9IbaN4Ts="

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int quiet;
  if (!quiet) {
    quiet = freopen("/dev/null", "w", stdout) != NULL;
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  }
  char why[300];
  json_t *doc = ptc_json((const char *)data, size, why, sizeof why);
  if (!doc) return 0;
  int rc = check_doc(FUZZ_PUBKEY, doc, "input");
  if (rc != EXIT_OK && rc != EXIT_CHECK && rc != EXIT_USAGE) abort();
  json_decref(doc);
  return 0;
}
