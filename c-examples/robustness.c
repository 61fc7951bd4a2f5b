/* Every entry point given NULL pointers, zero lengths, too-small buffers, out-of-range
 * values, lengths near SIZE_MAX, all-ones settings (the opaque configs' equivalent of a
 * 0xFF-filled struct), extreme counts, intervals, durations and counters, and a forced
 * panic must return an error code with a specific message and never crash. Also runs tiny
 * simulations and reads every field of their reports and of a node's statistics.
 *
 * This file runs the parts in robustness/, a file a surface (radio, node and mesh, sim,
 * torrent, secure, file mesh, forced panics); robustness/harness.h has what they share. */
#include "robustness/harness.h"

int failures = 0;
long checks = 0;

static void messages_and_version(void) {
  char buf[256];
  size_t len = 0;
  EXPECT(airswarm_result_message(AIRSWARM_OK, (uint8_t *)buf, sizeof buf, &len), AIRSWARM_OK);
  if (strcmp(buf, "success") != 0 || len != 7) failures++, fprintf(stderr, "message: %s\n", buf);
  EXPECT(airswarm_result_message(999999, (uint8_t *)buf, sizeof buf, &len), AIRSWARM_OK);
  EXPECT(airswarm_result_message(AIRSWARM_OK, NULL, 0, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  if (len != 8) failures++, fprintf(stderr, "needed %zu, expected 8\n", len);
  EXPECT(airswarm_result_message(AIRSWARM_OK, (uint8_t *)buf, 7, &len),
         AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_result_message(AIRSWARM_OK, NULL, 100, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_result_message(AIRSWARM_OK, (uint8_t *)buf, sizeof buf, NULL),
         AIRSWARM_ERR_NULL);
  EXPECT(airswarm_version((uint8_t *)buf, sizeof buf, &len), AIRSWARM_OK);
  if (strcmp(buf, AIRSWARM_VERSION) != 0) failures++, fprintf(stderr, "version %s\n", buf);
  EXPECT(airswarm_version(NULL, 0, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_version((uint8_t *)buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT_MESSAGE("NULL");
  /* A success clears the message; reading it changes nothing. */
  EXPECT(airswarm_version((uint8_t *)buf, sizeof buf, &len), AIRSWARM_OK);
  EXPECT(airswarm_last_error_message((uint8_t *)buf, sizeof buf, &len), AIRSWARM_OK);
  if (len != 0 || buf[0] != '\0') failures++, fprintf(stderr, "stale error: %s\n", buf);
  EXPECT(airswarm_last_error_message(NULL, 0, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_last_error_message((uint8_t *)buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_last_error_message(NULL, 10, &len), AIRSWARM_ERR_NULL);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s KEY.pem\n", argv[0]);
    return 2;
  }
  messages_and_version();
  lora();
  node();
  mesh();
  sim();
  sim_limits();
  sim_crypto_acks();
  torrent();
  crypto(argv[1]);
  secure_event_versions(argv[1]);
  keyring();
  file_mesh(argv[1]);
  radio();
  panics();
  if (failures) {
    fprintf(stderr, "robustness: %d failures\n", failures);
    return EXIT_FAILURE;
  }
  printf("robustness: %ld checks, every call returned the expected code\n", checks);
  return EXIT_SUCCESS;
}
