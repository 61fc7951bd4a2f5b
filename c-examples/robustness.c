/* Every entry point given NULL pointers, zero lengths, too-small buffers, out-of-range
 * values, lengths near SIZE_MAX, all-ones settings (the opaque configs' equivalent of a
 * 0xFF-filled struct), extreme counts, intervals, durations and counters, and a forced
 * panic must return an error code with a specific message and never crash. Also runs tiny
 * simulations and reads every field of their reports and of a node's statistics. */
#include "common.h"
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Test hooks: exported only by a library built with `--features test-hooks` (as the
 * Makefile builds it), never declared in airswarm.h. */
airswarm_result airswarm_test_panic(void);
airswarm_result airswarm_test_force_panic(uint32_t on);

static int failures = 0;

#define EXPECT(call, want)                                                                     \
  do {                                                                                         \
    airswarm_result got_ = (call);                                                             \
    if (got_ != (want)) {                                                                      \
      fprintf(stderr, "%s:%d: %s returned %d, expected %d\n", __FILE__, __LINE__, #call,      \
              (int)got_, (int)(want));                                                         \
      failures++;                                                                              \
    }                                                                                          \
  } while (0)

/* The last error message must contain `needle` (its specific text, not only the code's). */
#define EXPECT_MESSAGE(needle)                                                                 \
  do {                                                                                         \
    char m_[512];                                                                              \
    size_t l_ = 0;                                                                             \
    if (airswarm_last_error_message((uint8_t *)m_, sizeof m_, &l_) != AIRSWARM_OK ||          \
        strstr(m_, (needle)) == NULL) {                                                        \
      fprintf(stderr, "%s:%d: last error %s lacks \"%s\"\n", __FILE__, __LINE__, m_,           \
              (needle));                                                                       \
      failures++;                                                                              \
    }                                                                                          \
  } while (0)

static airswarm_node *make_node(uint32_t address) {
  airswarm_node_config *cfg = NULL;
  airswarm_node *n = NULL;
  EXPECT(airswarm_node_config_new(&cfg), AIRSWARM_OK);
  EXPECT(airswarm_node_config_set_address(cfg, address), AIRSWARM_OK);
  EXPECT(airswarm_node_new(cfg, &n), AIRSWARM_OK);
  airswarm_node_config_free(cfg);
  return n;
}

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

static void lora(void) {
  airswarm_lora_config *cfg = NULL;
  uint64_t v = 0;
  EXPECT(airswarm_lora_config_new(NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_config_new(&cfg), AIRSWARM_OK);
  EXPECT(airswarm_lora_time_on_air_us(NULL, 10, &v), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_time_on_air_us(cfg, 10, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_time_on_air_us(cfg, 0, &v), AIRSWARM_OK);
  EXPECT(airswarm_lora_time_on_air_us(cfg, 256, &v), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("256-byte payload");
  EXPECT(airswarm_lora_time_on_air_us(cfg, SIZE_MAX, &v), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_lora_time_on_air_us(cfg, SIZE_MAX / 2 + 1, &v), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_lora_symbol_time_ns(NULL, &v), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_symbol_time_ns(cfg, NULL), AIRSWARM_ERR_NULL);
  /* Every setter: NULL handle, an out-of-range value with its message, the all-ones value;
   * a refused value leaves the config as it was (still valid). */
  EXPECT(airswarm_lora_config_set_spreading_factor(NULL, 7), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_config_set_spreading_factor(cfg, 13), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT_MESSAGE("spreading factor 13 is out of range 5..=12");
  EXPECT(airswarm_lora_config_set_spreading_factor(cfg, 256), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT_MESSAGE("spreading factor 256 is out of range 5..=12");
  EXPECT(airswarm_lora_config_set_spreading_factor(cfg, UINT32_MAX), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT(airswarm_lora_config_set_frequency_hz(NULL, 868000000), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_config_set_frequency_hz(cfg, UINT64_MAX), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT(airswarm_lora_config_set_frequency_hz(cfg, 0), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT_MESSAGE("137");
  EXPECT(airswarm_lora_config_set_bandwidth_hz(NULL, 125000), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_config_set_bandwidth_hz(cfg, 0), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT(airswarm_lora_config_set_bandwidth_hz(cfg, UINT64_MAX), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT(airswarm_lora_config_set_coding_rate(NULL, 5), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_config_set_coding_rate(cfg, UINT32_MAX), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT(airswarm_lora_config_set_preamble_len(NULL, 8), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_config_set_preamble_len(cfg, UINT32_MAX), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT(airswarm_lora_config_set_preamble_len(cfg, 5), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT(airswarm_lora_config_set_implicit_header(NULL, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_config_set_implicit_header(cfg, UINT32_MAX), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_lora_config_set_crc(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_config_set_crc(cfg, 7), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("crc must be 0 or 1, not 7");
  EXPECT(airswarm_lora_config_set_ldro(NULL, AIRSWARM_LDRO_AUTO), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_config_set_ldro(cfg, 9), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_lora_config_set_tx_power_dbm(NULL, 14), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_config_set_tx_power_dbm(cfg, INT32_MIN), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT(airswarm_lora_config_set_tx_power_dbm(cfg, 21), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT(airswarm_lora_config_set_sync_word(NULL, 0x12), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_config_set_sync_word(cfg, 256), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT(airswarm_lora_time_on_air_us(cfg, 10, &v), AIRSWARM_OK);
  if (v < 41000 || v > 41300) failures++, fprintf(stderr, "refused settings changed the config\n");
  /* Valid changes take. */
  EXPECT(airswarm_lora_config_set_spreading_factor(cfg, 12), AIRSWARM_OK);
  EXPECT(airswarm_lora_config_set_bandwidth_hz(cfg, 125000), AIRSWARM_OK);
  EXPECT(airswarm_lora_config_set_coding_rate(cfg, 8), AIRSWARM_OK);
  EXPECT(airswarm_lora_config_set_preamble_len(cfg, 65535), AIRSWARM_OK);
  EXPECT(airswarm_lora_config_set_implicit_header(cfg, 1), AIRSWARM_OK);
  EXPECT(airswarm_lora_config_set_crc(cfg, 0), AIRSWARM_OK);
  EXPECT(airswarm_lora_config_set_ldro(cfg, AIRSWARM_LDRO_ON), AIRSWARM_OK);
  EXPECT(airswarm_lora_config_set_tx_power_dbm(cfg, -4), AIRSWARM_OK);
  EXPECT(airswarm_lora_config_set_sync_word(cfg, 255), AIRSWARM_OK);
  EXPECT(airswarm_lora_config_set_frequency_hz(cfg, 915000000), AIRSWARM_OK);
  EXPECT(airswarm_lora_time_on_air_us(cfg, 255, &v), AIRSWARM_OK);
  EXPECT(airswarm_lora_symbol_time_ns(cfg, &v), AIRSWARM_OK);
  if (v != 32768000) failures++, fprintf(stderr, "SF12 symbol %llu ns\n", (unsigned long long)v);
  airswarm_lora_config_free(cfg);
  airswarm_lora_config_free(NULL);
}

static void node(void) {
  airswarm_node_config *cfg = NULL;
  airswarm_node *n = NULL;
  uint8_t buf[AIRSWARM_MAX_FRAME];
  size_t len = 0;
  uint64_t t = 0;
  uint32_t id = 0;
  airswarm_event ev = {.struct_size = sizeof(airswarm_event)};

  EXPECT(airswarm_node_config_new(NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_config_new(&cfg), AIRSWARM_OK);
  EXPECT(airswarm_node_new(NULL, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_new(cfg, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_config_validate(NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_config_validate(cfg), AIRSWARM_OK);
  EXPECT(airswarm_node_config_set_strategy(NULL, AIRSWARM_STRATEGY_BLIND), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_config_set_strategy(cfg, 77), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_node_config_set_strategy(cfg, UINT32_MAX), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_node_config_set_address(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_config_set_address(cfg, AIRSWARM_BROADCAST), AIRSWARM_OK);
  EXPECT(airswarm_node_new(cfg, &n), AIRSWARM_ERR_NODE_CONFIG);
  EXPECT_MESSAGE("broadcast range");
  EXPECT(airswarm_node_config_set_address(cfg, 1), AIRSWARM_OK);
  /* Duty cycle is a percentage: 0, negative, NaN, infinite and above 100 are refused with
   * a message in percent; 1.0 (1 %) and 100.0 (no limit) are accepted. */
  EXPECT(airswarm_node_config_set_duty_cycle_percent(NULL, 1.0), AIRSWARM_ERR_NULL);
  double bad_duty[] = {0.0, -1.0, 100.5, NAN, INFINITY, -INFINITY};
  for (size_t k = 0; k < sizeof bad_duty / sizeof bad_duty[0]; k++) {
    EXPECT(airswarm_node_config_set_duty_cycle_percent(cfg, bad_duty[k]), AIRSWARM_OK);
    EXPECT(airswarm_node_new(cfg, &n), AIRSWARM_ERR_NODE_CONFIG);
    EXPECT_MESSAGE("% must be more than 0 and at most 100");
  }
  EXPECT(airswarm_node_config_set_duty_cycle_percent(cfg, 1.0), AIRSWARM_OK);
  EXPECT(airswarm_node_config_validate(cfg), AIRSWARM_OK);
  EXPECT(airswarm_node_config_set_duty_cycle_percent(cfg, 100.0), AIRSWARM_OK);
  EXPECT(airswarm_node_config_validate(cfg), AIRSWARM_OK);
  /* Hop limit and retries are refused, not wrapped or clamped. */
  EXPECT(airswarm_node_config_set_hop_limit(NULL, 7), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_config_set_hop_limit(cfg, 256), AIRSWARM_ERR_NODE_CONFIG);
  EXPECT_MESSAGE("hop limit 256 is out of range 1..=15");
  EXPECT(airswarm_node_config_set_hop_limit(cfg, UINT32_MAX), AIRSWARM_ERR_NODE_CONFIG);
  EXPECT(airswarm_node_config_set_hop_limit(cfg, 0), AIRSWARM_OK);
  EXPECT(airswarm_node_config_validate(cfg), AIRSWARM_ERR_NODE_CONFIG);
  EXPECT(airswarm_node_config_set_hop_limit(cfg, 7), AIRSWARM_OK);
  EXPECT(airswarm_node_config_set_max_retries(NULL, 3), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_config_set_max_retries(cfg, 255), AIRSWARM_OK);
  EXPECT(airswarm_node_new(cfg, &n), AIRSWARM_ERR_NODE_CONFIG);
  EXPECT_MESSAGE("max retries 255 is out of range 0..=3");
  EXPECT(airswarm_node_config_set_max_retries(cfg, UINT32_MAX), AIRSWARM_ERR_NODE_CONFIG);
  EXPECT(airswarm_node_config_set_max_retries(cfg, 3), AIRSWARM_OK);
  EXPECT(airswarm_node_config_set_max_queue(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_config_set_max_queue(cfg, 0), AIRSWARM_OK);
  EXPECT(airswarm_node_config_validate(cfg), AIRSWARM_ERR_NODE_CONFIG);
  EXPECT(airswarm_node_config_set_max_queue(cfg, SIZE_MAX), AIRSWARM_OK);
  EXPECT(airswarm_node_config_validate(cfg), AIRSWARM_OK);
  EXPECT(airswarm_node_config_set_max_queue(cfg, 512), AIRSWARM_OK);
  EXPECT(airswarm_node_config_set_seed(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_config_set_seed(cfg, UINT64_MAX), AIRSWARM_OK);
  /* A first counter of 2^64-1 would wrap message ids (and nonces) to 0: refused. */
  EXPECT(airswarm_node_config_set_first_counter(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_config_set_first_counter(cfg, UINT64_MAX), AIRSWARM_OK);
  EXPECT(airswarm_node_new(cfg, &n), AIRSWARM_ERR_NODE_CONFIG);
  EXPECT_MESSAGE("first counter 18446744073709551615 is out of range");
  EXPECT(airswarm_node_config_set_first_counter(cfg, AIRSWARM_MAX_FIRST_COUNTER), AIRSWARM_OK);
  EXPECT(airswarm_node_config_validate(cfg), AIRSWARM_OK);
  EXPECT(airswarm_node_config_set_first_counter(cfg, 1), AIRSWARM_OK);
  {
    airswarm_lora_config *lc = NULL;
    EXPECT(airswarm_lora_config_new(&lc), AIRSWARM_OK);
    EXPECT(airswarm_lora_config_set_spreading_factor(lc, 12), AIRSWARM_OK);
    EXPECT(airswarm_node_config_set_lora(NULL, lc), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_node_config_set_lora(cfg, NULL), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_node_config_set_lora(cfg, lc), AIRSWARM_OK);
    airswarm_lora_config_free(lc);
  }
  if (n != NULL) failures++, fprintf(stderr, "a failed node_new wrote a handle\n");
  EXPECT(airswarm_node_new(cfg, &n), AIRSWARM_OK);
  airswarm_node_free(n);
  n = NULL;
  airswarm_node_config_free(cfg);
  airswarm_node_config_free(NULL);
  airswarm_node_free(NULL);

  n = make_node(1);
  airswarm_node *m = make_node(2);
  EXPECT(airswarm_node_handle_frame(NULL, 0, buf, 10, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_handle_frame(n, 0, NULL, 10, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_handle_frame(n, 0, NULL, 0, 0, 0), AIRSWARM_ERR_BAD_FRAME);
  memset(buf, 0xAB, sizeof buf);
  EXPECT(airswarm_node_handle_frame(n, 0, buf, sizeof buf, 0, 0), AIRSWARM_ERR_BAD_FRAME);
  EXPECT(airswarm_node_handle_frame(n, 0, buf, SIZE_MAX, 0, 0), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("larger than any buffer");
  EXPECT(airswarm_node_handle_frame(n, 0, buf, SIZE_MAX / 2 + 1, 0, 0),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_node_handle_frame(n, UINT64_MAX, buf, 3, 0, 0), AIRSWARM_ERR_BAD_FRAME);
  /* The same checks for a frame that came by a bridge. */
  EXPECT(airswarm_node_handle_frame_off_air(NULL, 0, buf, 10, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_handle_frame_off_air(n, 0, NULL, 10, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_handle_frame_off_air(n, 0, NULL, 0, 0, 0), AIRSWARM_ERR_BAD_FRAME);
  EXPECT(airswarm_node_handle_frame_off_air(n, 0, buf, SIZE_MAX, 0, 0),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_node_handle_frame_off_air(n, UINT64_MAX, buf, 3, 0, 0), AIRSWARM_ERR_BAD_FRAME);
  EXPECT_MESSAGE("shorter than its 16-byte header");

  EXPECT(airswarm_node_send(NULL, 0, 2, buf, 4, &id), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_send(n, 0, 2, NULL, 4, &id), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_send(n, 0, 1, buf, 4, &id), AIRSWARM_ERR_SEND_TO_SELF);
  {
    uint8_t *big = calloc(AIRSWARM_MAX_MESSAGE + 1, 1);
    if (big != NULL) {
      EXPECT(airswarm_node_send(n, 0, 2, big, AIRSWARM_MAX_MESSAGE + 1, &id),
             AIRSWARM_ERR_MESSAGE_TOO_LARGE);
      free(big);
    }
  }
  EXPECT_MESSAGE("exceeds the mesh maximum of 60180 bytes");
  EXPECT(airswarm_node_send(n, 0, 2, buf, SIZE_MAX, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_node_send(n, 0, 2, buf, SIZE_MAX / 2 + 1, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_node_send_content(n, 0, 2, 0, buf, SIZE_MAX, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_node_send_content(n, 0, 2, 200, buf, 4, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_node_send_content(n, 0, 2, UINT8_MAX, buf, 4, &id),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_node_send(n, 0, 2, NULL, 0, NULL), AIRSWARM_OK); /* empty message, no id */
  EXPECT(airswarm_node_send(n, 0, 2, (const uint8_t *)"ping", 4, &id), AIRSWARM_OK);

  EXPECT(airswarm_node_handle_timeout(NULL, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_poll_timeout(NULL, &t), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_poll_timeout(n, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_poll_timeout(m, &t), AIRSWARM_DONE);
  EXPECT(airswarm_node_address(NULL, &id), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_address(n, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_address(m, &id), AIRSWARM_OK);
  if (id != 2) failures++, fprintf(stderr, "address %u\n", (unsigned)id);
  /* Statistics by name: every name the library lists reads back; unknown names fail. */
  uint64_t stat = 0;
  EXPECT(airswarm_node_stat(NULL, "bad_frames", &stat), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_stat(n, NULL, &stat), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_stat(n, "bad_frames", NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_stat(n, "no_such_counter", &stat), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("\"no_such_counter\" is not a node statistic");
  EXPECT(airswarm_node_stat(n, "\xff\xfe", &stat), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_node_stat(n, "bad_frames", &stat), AIRSWARM_OK);
  if (stat != 5) failures++, fprintf(stderr, "bad_frames %llu\n", (unsigned long long)stat);
  EXPECT(airswarm_node_stat(n, "route_fallbacks", &stat), AIRSWARM_OK);
  if (stat != 0) failures++, fprintf(stderr, "route_fallbacks %llu\n", (unsigned long long)stat);
  {
    char name[64];
    size_t k = 0, nlen = 0;
    int saw_pulls = 0, saw_answers = 0;
    EXPECT(airswarm_node_stat_name(0, NULL, 0, &nlen), AIRSWARM_ERR_BUFFER_TOO_SMALL);
    EXPECT(airswarm_node_stat_name(0, (uint8_t *)name, sizeof name, NULL), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_node_stat_name(SIZE_MAX, (uint8_t *)name, sizeof name, &nlen), AIRSWARM_DONE);
    for (; airswarm_node_stat_name(k, (uint8_t *)name, sizeof name, &nlen) == AIRSWARM_OK; k++) {
      EXPECT(airswarm_node_stat(n, name, &stat), AIRSWARM_OK);
      saw_pulls |= strcmp(name, "pulls_sent") == 0;
      saw_answers |= strcmp(name, "pull_answers") == 0;
    }
    if (k < 16 || !saw_pulls || !saw_answers)
      failures++, fprintf(stderr, "%zu node statistics listed\n", k);
  }

  /* Frames: NULL, too small (kept, size reported), then delivered in full. */
  for (int k = 0; k < 100 && airswarm_node_poll_timeout(n, &t) == AIRSWARM_OK; k++)
    EXPECT(airswarm_node_handle_timeout(n, t), AIRSWARM_OK);
  EXPECT(airswarm_node_poll_transmit(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_poll_transmit(n, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_poll_transmit(n, NULL, 0, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  size_t need = len;
  EXPECT(airswarm_node_poll_transmit(n, buf, 1, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  if (len != need || need < 14) failures++, fprintf(stderr, "frame sizes %zu %zu\n", need, len);
  EXPECT(airswarm_node_poll_transmit(n, NULL, need, &len), AIRSWARM_ERR_NULL);
  int frames = 0;
  while (airswarm_node_poll_transmit(n, buf, sizeof buf, &len) == AIRSWARM_OK) {
    frames++;
    EXPECT(airswarm_node_handle_frame(m, t, buf, len, -80.0f, 8.0f), AIRSWARM_OK);
  }
  if (frames < 2) failures++, fprintf(stderr, "%d frames, expected at least 2\n", frames);

  /* Events: NULLs, too-small payload buffer (kept, size reported), then in full. */
  uint8_t payload[8];
  EXPECT(airswarm_node_poll_event(NULL, &ev, payload, sizeof payload, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_poll_event(m, NULL, payload, sizeof payload, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_poll_event(m, &ev, payload, sizeof payload, NULL), AIRSWARM_ERR_NULL);
  /* A struct_size below the first version's is refused before anything is consumed; a
   * larger one (SIZE_MAX) is clamped to the struct the library knows. */
  ev.struct_size = 0;
  EXPECT(airswarm_node_poll_event(m, &ev, payload, sizeof payload, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("struct_size 0 is smaller than the first version");
  ev.struct_size = AIRSWARM_EVENT_V1_SIZE - 1;
  EXPECT(airswarm_node_poll_event(m, &ev, payload, sizeof payload, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  ev.struct_size = sizeof ev;
  int got_ping = 0;
  airswarm_result r;
  while ((r = airswarm_node_poll_event(m, &ev, payload, 2, &len)) != AIRSWARM_DONE) {
    if (r == AIRSWARM_ERR_BUFFER_TOO_SMALL) {
      if (len != 4) failures++, fprintf(stderr, "needed %zu, expected 4\n", len);
      EXPECT(airswarm_node_poll_event(m, &ev, NULL, 4, &len), AIRSWARM_ERR_NULL);
      EXPECT(airswarm_node_poll_event(m, &ev, payload, sizeof payload, &len), AIRSWARM_OK);
      got_ping = ev.kind == AIRSWARM_EVENT_MESSAGE && len == 4 && memcmp(payload, "ping", 4) == 0;
    } else if (r != AIRSWARM_OK) {
      failures++, fprintf(stderr, "poll_event returned %d\n", (int)r);
      break;
    }
  }
  if (!got_ping) failures++, fprintf(stderr, "the ping was not delivered\n");
  airswarm_node_free(n);
  airswarm_node_free(m);
}

/* A small plain scenario: 6 nodes, 2 km, 2 messages. */
static airswarm_sim_config *small_sim(void) {
  airswarm_sim_config *cfg = NULL;
  EXPECT(airswarm_sim_config_new(&cfg), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_nodes(cfg, 6), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_area_m(cfg, 2000.0), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_messages(cfg, 2), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_drain_ms(cfg, 60000), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_crypto(cfg, 0), AIRSWARM_OK);
  return cfg;
}

/* Reads every field the library lists, by its kind; returns how many. */
static size_t read_all_fields(const airswarm_sim_report *rep, int *saw_pulls) {
  char name[64], text[32];
  size_t k = 0, len = 0;
  uint32_t kind = 0;
  for (; airswarm_sim_report_field(k, (uint8_t *)name, sizeof name, &len, &kind) == AIRSWARM_OK;
       k++) {
    uint64_t u = 0;
    double d = 0;
    *saw_pulls += strcmp(name, "pulls") == 0 || strcmp(name, "pull_answers") == 0;
    if (kind == AIRSWARM_FIELD_COUNT || kind == AIRSWARM_FIELD_FLAG) {
      EXPECT(airswarm_sim_report_u64(rep, name, &u), AIRSWARM_OK);
      EXPECT(airswarm_sim_report_f64(rep, name, &d), AIRSWARM_ERR_INVALID_ARGUMENT);
    } else if (kind == AIRSWARM_FIELD_REAL) {
      EXPECT(airswarm_sim_report_f64(rep, name, &d), AIRSWARM_OK);
      EXPECT(airswarm_sim_report_u64(rep, name, &u), AIRSWARM_ERR_INVALID_ARGUMENT);
    } else if (kind == AIRSWARM_FIELD_OPTIONAL_REAL) {
      airswarm_result r = airswarm_sim_report_f64(rep, name, &d);
      if (r != AIRSWARM_OK && r != AIRSWARM_DONE) failures++, fprintf(stderr, "%s: %d\n", name, r);
    } else if (kind == AIRSWARM_FIELD_TEXT) {
      EXPECT(airswarm_sim_report_text(rep, name, (uint8_t *)text, sizeof text, &len), AIRSWARM_OK);
      EXPECT(airswarm_sim_report_u64(rep, name, &u), AIRSWARM_ERR_INVALID_ARGUMENT);
    } else {
      failures++, fprintf(stderr, "field %s has unknown kind %u\n", name, (unsigned)kind);
    }
  }
  return k;
}

static void sim(void) {
  airswarm_sim_config *cfg = small_sim();
  airswarm_sim_report *rep = NULL;
  size_t len = 0;
  EXPECT(airswarm_sim_config_new(NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_run(NULL, &rep), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_run(cfg, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_validate(NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_validate(cfg), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_listen_before_talk(cfg, 3), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_sim_config_set_strategy(cfg, 3), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_sim_config_set_crypto(cfg, UINT32_MAX), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_sim_config_set_nodes(cfg, 0), AIRSWARM_OK);
  EXPECT(airswarm_sim_run(cfg, &rep), AIRSWARM_ERR_SIM_CONFIG);
  EXPECT_MESSAGE("at least 2 nodes");
  EXPECT(airswarm_sim_config_set_nodes(cfg, 6), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_strategy(cfg, AIRSWARM_STRATEGY_AIRSWARM), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_listen_before_talk(cfg, 1), AIRSWARM_OK);
  EXPECT(airswarm_sim_run(cfg, &rep), AIRSWARM_OK);

  uint64_t u = 0;
  double d = 0;
  char text[16];
  EXPECT(airswarm_sim_report_u64(NULL, "nodes", &u), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_report_u64(rep, NULL, &u), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_report_u64(rep, "nodes", NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_report_u64(rep, "nope", &u), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("\"nope\" is not a report field");
  EXPECT(airswarm_sim_report_u64(rep, "nodes", &u), AIRSWARM_OK);
  if (u != 6) failures++, fprintf(stderr, "report nodes %llu\n", (unsigned long long)u);
  EXPECT(airswarm_sim_report_f64(NULL, "delivery_ratio", &d), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_report_f64(rep, "delivery_ratio", NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_report_f64(rep, "delivery_ratio", &d), AIRSWARM_OK);
  if (d < 0.0 || d > 1.0) failures++, fprintf(stderr, "delivery ratio %f\n", d);
  EXPECT(airswarm_sim_report_f64(rep, "nodes", &d), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("airswarm_sim_report_u64");
  /* No direct messages: ack_ratio is absent, not a made-up number. */
  EXPECT(airswarm_sim_report_f64(rep, "ack_ratio", &d), AIRSWARM_DONE);
  EXPECT(airswarm_sim_report_text(NULL, "strategy", (uint8_t *)text, sizeof text, &len),
         AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_report_text(rep, "strategy", (uint8_t *)text, 3, &len),
         AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_sim_report_text(rep, "strategy", (uint8_t *)text, sizeof text, &len),
         AIRSWARM_OK);
  if (strcmp(text, "airswarm") != 0) failures++, fprintf(stderr, "strategy %s\n", text);
  EXPECT(airswarm_sim_report_text(rep, "nodes", (uint8_t *)text, sizeof text, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_sim_report_field(SIZE_MAX, (uint8_t *)text, sizeof text, &len, NULL),
         AIRSWARM_DONE);
  EXPECT(airswarm_sim_report_field(0, NULL, 0, &len, NULL), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  int saw_pulls = 0;
  size_t fields = read_all_fields(rep, &saw_pulls);
  if (fields < 23 || saw_pulls != 2)
    failures++, fprintf(stderr, "%zu report fields, pulls seen %d\n", fields, saw_pulls);

  EXPECT(airswarm_sim_report_json(NULL, NULL, 0, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_report_json(rep, NULL, 0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_report_json(rep, NULL, 0, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  char *json = malloc(len);
  if (json != NULL) {
    EXPECT(airswarm_sim_report_json(rep, (uint8_t *)json, len, &len), AIRSWARM_OK);
    if (json[0] != '{' || strlen(json) != len || strstr(json, "\"pull_answers\"") == NULL)
      failures++, fprintf(stderr, "json %s\n", json);
    free(json);
  }
  EXPECT(airswarm_sim_report_u64(rep, "transmissions", &u), AIRSWARM_OK);
  printf("sim: 6 nodes, delivery ratio %.2f, %llu transmissions, %zu report fields\n", d,
         (unsigned long long)u, fields);
  airswarm_sim_report_free(rep);
  airswarm_sim_report_free(NULL);
  airswarm_sim_config_free(cfg);
  airswarm_sim_config_free(NULL);
}

/* Extreme counts, intervals, durations and payloads: refused with the limit in the message
 * (before, 10^9 messages aborted the process on a 64 GB allocation and SIZE_MAX panicked). */
static void sim_limits(void) {
  airswarm_sim_config *cfg = small_sim();
  airswarm_sim_report *rep = NULL;
#define REFUSED(setter, value, needle)                                                         \
  do {                                                                                         \
    airswarm_sim_config *c_ = small_sim();                                                     \
    EXPECT(setter(c_, value), AIRSWARM_OK);                                                    \
    EXPECT(airswarm_sim_run(c_, &rep), AIRSWARM_ERR_SIM_CONFIG);                               \
    EXPECT_MESSAGE(needle);                                                                    \
    EXPECT(airswarm_sim_config_validate(c_), AIRSWARM_ERR_SIM_CONFIG);                         \
    airswarm_sim_config_free(c_);                                                              \
  } while (0)
  REFUSED(airswarm_sim_config_set_messages, (size_t)1000000000, "limit of 1000000");
  REFUSED(airswarm_sim_config_set_messages, SIZE_MAX, "limit of 1000000");
  REFUSED(airswarm_sim_config_set_nodes, SIZE_MAX, "limit of 100000");
  REFUSED(airswarm_sim_config_set_nodes, (size_t)1, "at least 2 nodes");
  REFUSED(airswarm_sim_config_set_interval_ms, UINT64_MAX / 1000, "limit of 86400000 ms");
  REFUSED(airswarm_sim_config_set_interval_ms, UINT64_MAX, "limit of 86400000 ms");
  REFUSED(airswarm_sim_config_set_drain_ms, UINT64_MAX / 1000 + 1, "limit of 604800000 ms");
  REFUSED(airswarm_sim_config_set_drain_ms, UINT64_MAX, "limit of 604800000 ms");
  REFUSED(airswarm_sim_config_set_payload, SIZE_MAX, "maximum of 60180 bytes for plain");
  REFUSED(airswarm_sim_config_set_payload, (size_t)3, "4-byte index");
  REFUSED(airswarm_sim_config_set_area_m, NAN, "positive number of metres");
  REFUSED(airswarm_sim_config_set_area_m, INFINITY, "positive number of metres");
  REFUSED(airswarm_sim_config_set_area_m, -1.0, "positive number of metres");
  REFUSED(airswarm_sim_config_set_duty_cycle_percent, 0.0, "% must be more than 0");
  REFUSED(airswarm_sim_config_set_duty_cycle_percent, NAN, "% must be more than 0");
  REFUSED(airswarm_sim_config_set_hop_limit, 0u, "hop limit 0 is out of range 1..=15");
  EXPECT(airswarm_sim_config_set_hop_limit(cfg, 256), AIRSWARM_ERR_SIM_CONFIG);
  EXPECT_MESSAGE("hop limit 256 is out of range 1..=15");
  EXPECT(airswarm_sim_config_set_hop_limit(NULL, 7), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_set_direct_percent(cfg, 150.0), AIRSWARM_ERR_SIM_CONFIG);
  EXPECT_MESSAGE("direct share 150 % must be between 0 and 100");
  EXPECT(airswarm_sim_config_set_direct_percent(cfg, NAN), AIRSWARM_ERR_SIM_CONFIG);
  EXPECT(airswarm_sim_config_set_direct_percent(NULL, 1.0), AIRSWARM_ERR_NULL);
  /* Sealing costs bytes: with crypto the maximum is lower, and the message says so. */
  EXPECT(airswarm_sim_config_set_crypto(cfg, 1), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_payload(cfg, 60164), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_validate(cfg), AIRSWARM_ERR_SIM_CONFIG);
  EXPECT_MESSAGE("maximum of 60155 bytes for channel-sealed broadcasts");
  EXPECT(airswarm_sim_config_set_direct_percent(cfg, 100.0), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_validate(cfg), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_payload(cfg, 60165), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_validate(cfg), AIRSWARM_ERR_SIM_CONFIG);
  EXPECT_MESSAGE("maximum of 60164 bytes for session-sealed direct messages");
  /* The limits themselves run, with the right simulated time (no wrapped arithmetic). */
  airswarm_sim_config_free(cfg);
  cfg = small_sim();
  EXPECT(airswarm_sim_config_set_nodes(cfg, 2), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_messages(cfg, 1), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_interval_ms(cfg, 86400000), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_drain_ms(cfg, 604800000), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_seed(cfg, UINT64_MAX), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_seed(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_run(cfg, &rep), AIRSWARM_OK);
  double simulated = 0;
  EXPECT(airswarm_sim_report_f64(rep, "simulated_s", &simulated), AIRSWARM_OK);
  if (simulated < 604800.0 || simulated > 604800.0 + 86400.0 * 40)
    failures++, fprintf(stderr, "simulated %f s\n", simulated);
  airswarm_sim_report_free(rep);
  rep = NULL;
  /* NULL handles on every setter. */
  EXPECT(airswarm_sim_config_set_nodes(NULL, 2), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_set_area_m(NULL, 1.0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_set_messages(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_set_payload(NULL, 4), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_set_strategy(NULL, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_set_lora(NULL, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_set_lora(cfg, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_set_duty_cycle_percent(NULL, 1.0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_set_interval_ms(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_set_drain_ms(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_set_listen_before_talk(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_set_crypto(NULL, 1), AIRSWARM_ERR_NULL);
  {
    airswarm_lora_config *lc = NULL;
    EXPECT(airswarm_lora_config_new(&lc), AIRSWARM_OK);
    EXPECT(airswarm_sim_config_set_lora(cfg, lc), AIRSWARM_OK);
    airswarm_lora_config_free(lc);
  }
  airswarm_sim_config_free(cfg);
#undef REFUSED
}

/* With crypto on, direct messages wait for a handshake; their acknowledgements must still
 * count (ack_ratio was 0.0 while delivery was 1.0). */
static void sim_crypto_acks(void) {
  airswarm_sim_config *cfg = small_sim();
  airswarm_sim_report *rep = NULL;
  EXPECT(airswarm_sim_config_set_nodes(cfg, 3), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_area_m(cfg, 300.0), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_messages(cfg, 4), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_drain_ms(cfg, 300000), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_direct_percent(cfg, 100.0), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_crypto(cfg, 1), AIRSWARM_OK);
  EXPECT(airswarm_sim_run(cfg, &rep), AIRSWARM_OK);
  double delivery = 0, acks = -1;
  EXPECT(airswarm_sim_report_f64(rep, "delivery_ratio", &delivery), AIRSWARM_OK);
  EXPECT(airswarm_sim_report_f64(rep, "ack_ratio", &acks), AIRSWARM_OK);
  printf("sim with crypto: delivery %.2f, acknowledged %.2f\n", delivery, acks);
  if (delivery < 0.99 || acks < 0.99)
    failures++, fprintf(stderr, "crypto: delivery %f, ack ratio %f\n", delivery, acks);
  airswarm_sim_report_free(rep);
  airswarm_sim_config_free(cfg);
}

/* A one-file torrent built by hand: 5 bytes "hello", one piece. */
static const char TORRENT[] =
    "d4:infod6:lengthi5e4:name5:hello12:piece lengthi16384e6:pieces20:"
    "\xaa\xf4\xc6\x1d\xdc\xc5\xe8\xa2\xda\xbe\xde\x0f\x3b\x48\x2c\xd9\xae\xa9\x43\x4d"
    "ee";

static void torrent(void) {
  const uint8_t *t = (const uint8_t *)TORRENT;
  size_t tlen = sizeof TORRENT - 1, off = 0, len = 0;
  airswarm_metainfo *m = NULL;
  uint8_t buf[64];
  EXPECT(airswarm_bencode_validate(NULL, 5, &off), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_bencode_validate(NULL, 0, &off), AIRSWARM_ERR_BENCODE);
  EXPECT(airswarm_bencode_validate((const uint8_t *)"i1e", 3, NULL), AIRSWARM_OK);
  EXPECT(airswarm_bencode_validate((const uint8_t *)"d1:ai1ex", 8, &off), AIRSWARM_ERR_BENCODE);
  EXPECT(airswarm_bencode_validate(t, tlen, &off), AIRSWARM_OK);
  EXPECT(airswarm_bencode_validate(t, SIZE_MAX, &off), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_bencode_validate(t, SIZE_MAX / 2 + 1, &off), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_parse(t, SIZE_MAX, &m), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_parse(NULL, 4, &m), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_parse(t, tlen, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_parse(t, 0, &m), AIRSWARM_ERR_METAINFO);
  EXPECT(airswarm_metainfo_parse(t, tlen - 1, &m), AIRSWARM_ERR_METAINFO);
  EXPECT(airswarm_metainfo_parse((const uint8_t *)"de", 2, &m), AIRSWARM_ERR_METAINFO);
  EXPECT(airswarm_metainfo_parse(t, tlen, &m), AIRSWARM_OK);
  airswarm_metainfo_free(NULL);

  EXPECT(airswarm_metainfo_info_hash(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_info_hash(m, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_info_hash(m, buf, 19, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  if (len != 20) failures++, fprintf(stderr, "info-hash needs %zu\n", len);
  EXPECT(airswarm_metainfo_info_hash(m, buf, sizeof buf, &len), AIRSWARM_OK);
  EXPECT(airswarm_metainfo_name(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_name(m, buf, 5, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  if (len != 6) failures++, fprintf(stderr, "name needs %zu\n", len);
  EXPECT(airswarm_metainfo_name(m, buf, 6, &len), AIRSWARM_OK);
  if (strcmp((char *)buf, "hello") != 0) failures++, fprintf(stderr, "name %s\n", buf);
  airswarm_metainfo_summary s = {.struct_size = sizeof(airswarm_metainfo_summary)};
  EXPECT(airswarm_metainfo_summary_get(NULL, &s), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_summary_get(m, NULL), AIRSWARM_ERR_NULL);
  s.struct_size = 8;
  EXPECT(airswarm_metainfo_summary_get(m, &s), AIRSWARM_ERR_INVALID_ARGUMENT);
  s.struct_size = SIZE_MAX;
  EXPECT(airswarm_metainfo_summary_get(m, &s), AIRSWARM_OK);
  if (s.struct_size != sizeof s) failures++, fprintf(stderr, "summary wrote %zu\n", s.struct_size);
  EXPECT(airswarm_metainfo_summary_get(m, &s), AIRSWARM_OK);
  if (s.piece_count != 1 || s.total_length != 5 || s.file_count != 1) failures++;
  airswarm_file_entry f = {.struct_size = sizeof(airswarm_file_entry)};
  EXPECT(airswarm_metainfo_file(NULL, 0, &f, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_file(m, 0, NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_file(m, 0, &f, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_file(m, 1, &f, buf, sizeof buf, &len), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_file(m, (size_t)-1, &f, buf, sizeof buf, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_file(m, 0, &f, NULL, 0, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  f.struct_size = 0;
  EXPECT(airswarm_metainfo_file(m, 0, &f, buf, sizeof buf, &len), AIRSWARM_ERR_INVALID_ARGUMENT);
  f.struct_size = sizeof f;
  EXPECT(airswarm_metainfo_file(m, 0, &f, buf, sizeof buf, &len), AIRSWARM_OK);
  if (f.length != 5 || len != 5) failures++, fprintf(stderr, "file %s\n", buf);
  uint64_t o;
  uint32_t sz;
  EXPECT(airswarm_metainfo_piece_span(NULL, 0, &o, &sz), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_piece_span(m, 0, NULL, &sz), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_piece_span(m, 0, &o, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_piece_span(m, 1, &o, &sz), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_piece_span(m, 0, &o, &sz), AIRSWARM_OK);
  if (o != 0 || sz != 5) failures++;
  uint8_t want[20], got[20];
  EXPECT(airswarm_metainfo_piece_hash(NULL, 0, want, sizeof want, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_piece_hash(m, 7, want, sizeof want, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_piece_hash(m, 0, want, 3, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_metainfo_piece_hash(m, 0, want, sizeof want, &len), AIRSWARM_OK);
  const uint8_t *hello = (const uint8_t *)"hello";
  EXPECT(airswarm_metainfo_verify_piece(NULL, 0, hello, 5), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_verify_piece(m, 0, NULL, 5), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_verify_piece(m, 0, NULL, 0), AIRSWARM_ERR_PIECE_MISMATCH);
  EXPECT(airswarm_metainfo_verify_piece(m, 1, hello, 5), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_verify_piece(m, 0, hello, 4), AIRSWARM_ERR_PIECE_MISMATCH);
  EXPECT(airswarm_metainfo_verify_piece(m, 0, (const uint8_t *)"jello", 5),
         AIRSWARM_ERR_PIECE_MISMATCH);
  EXPECT(airswarm_metainfo_verify_piece(m, 0, hello, 5), AIRSWARM_OK);
  EXPECT(airswarm_metainfo_verify_piece(m, 0, hello, SIZE_MAX), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_verify_piece(m, UINT32_MAX, hello, 5), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_piece_hash(m, UINT32_MAX, want, sizeof want, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_piece_span(m, UINT32_MAX, &o, &sz), AIRSWARM_ERR_INVALID_ARGUMENT);

  airswarm_piece_hasher *h = NULL;
  EXPECT(airswarm_piece_hasher_new(NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_piece_hasher_new(&h), AIRSWARM_OK);
  EXPECT(airswarm_piece_hasher_update(NULL, hello, 2), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_piece_hasher_update(h, NULL, 2), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_piece_hasher_update(h, NULL, 0), AIRSWARM_OK);
  EXPECT(airswarm_piece_hasher_update(h, hello, SIZE_MAX), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_piece_hasher_update(h, hello, 2), AIRSWARM_OK);
  EXPECT(airswarm_piece_hasher_update(h, hello + 2, 3), AIRSWARM_OK);
  EXPECT(airswarm_piece_hasher_finish(h, got, 19, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_piece_hasher_finish(h, got, sizeof got, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_piece_hasher_finish(h, got, sizeof got, &len), AIRSWARM_OK);
  if (memcmp(got, want, 20) != 0) failures++, fprintf(stderr, "hasher digest differs\n");
  EXPECT(airswarm_piece_hasher_finish(h, got, sizeof got, &len), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_piece_hasher_update(h, hello, 1), AIRSWARM_ERR_INVALID_ARGUMENT);
  airswarm_piece_hasher_free(h);
  airswarm_piece_hasher_free(NULL);
  airswarm_metainfo_free(m);
}

/* Identities and the secure node; `pem_path` is an RSA-2048 PKCS#8 key. */
static const char TEST_PUBLIC_KEY[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApYb19hGtqMnqYIpTB9nL\n"
    "9N5c2cb9DKlPG+ofY6aE6W/xLgH++JWkH7tXgtVALih+FUvw1IWT+vxdaBOK6IkO\n"
    "XQfYNq8Be75oEG3T8/55bxREwP5XhAiOZ0pZ1JLBEc5nGe6L16VNkyGnGGQvOt+a\n"
    "EVVRjqInyZWpH4YqDQtJ1mtD3H+TDAPlWwvoIOj86Qj+xKo9grxsyZqdFwuQePm7\n"
    "XGoTD+sFVH6LSu2SAR/RHqA/0je/cXRCloPup7ewthXrurHct3sX8UVw4HcLI9f9\n"
    "bSBdP231yM8R6+vQ4sqAgwPX2Kpdh4gAbq5R1tuT1XPWSMY9qmZZYaxBRcg5Nts2\n"
    "xQIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
    ;

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Keyrings: pin, export, import (what a C host saves and loads across reboots), remove,
 * and a secure node's pins taken out and put back. */
static void keyring(void) {
  airswarm_keyring *r = NULL, *r2 = NULL, *from_node = NULL;
  uint8_t added8 = 9, buf[4096], fp[32];
  size_t added = 9, len = 0, n = 0;
  EXPECT(airswarm_keyring_new(0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_new(0, &r), AIRSWARM_OK);
  EXPECT(airswarm_keyring_new(SIZE_MAX, &r2), AIRSWARM_OK);
  const uint8_t *pem = (const uint8_t *)TEST_PUBLIC_KEY;
  size_t pem_len = strlen(TEST_PUBLIC_KEY);
  EXPECT(airswarm_keyring_pin(NULL, pem, pem_len, &added8), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_pin(r, NULL, pem_len, &added8), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_pin(r, pem, SIZE_MAX, &added8), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_keyring_pin(r, (const uint8_t *)"hello", 5, &added8), AIRSWARM_ERR_KEY);
  EXPECT_MESSAGE("no PEM block");
  EXPECT(airswarm_keyring_pin(r, pem, 0, &added8), AIRSWARM_ERR_KEY);
  EXPECT_MESSAGE("empty");
  EXPECT(airswarm_keyring_pin(r, pem, pem_len, &added8), AIRSWARM_OK);
  if (added8 != 1) failures++, fprintf(stderr, "first pin added %u\n", added8);
  EXPECT(airswarm_keyring_pin(r, pem, pem_len, NULL), AIRSWARM_OK);
  EXPECT(airswarm_keyring_pin(r, pem, pem_len, &added8), AIRSWARM_OK);
  if (added8 != 0) failures++, fprintf(stderr, "second pin added %u\n", added8);
  EXPECT(airswarm_keyring_len(r, &n), AIRSWARM_OK);
  if (n != 1) failures++, fprintf(stderr, "keyring holds %zu\n", n);
  EXPECT(airswarm_keyring_len(NULL, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_len(r, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_export(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_export(r, buf, 10, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_keyring_export(r, buf, sizeof buf, &len), AIRSWARM_OK);
  if (len < 64 + 1 + 2 * 290) failures++, fprintf(stderr, "export is %zu bytes\n", len);
  /* Saved, then loaded after a reboot: the same pins. */
  EXPECT(airswarm_keyring_import(NULL, buf, len, &added), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_import(r2, NULL, len, &added), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_import(r2, buf, SIZE_MAX, &added), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_keyring_import(r2, (const uint8_t *)"zz 00\n", 6, &added), AIRSWARM_ERR_KEY);
  EXPECT(airswarm_keyring_import(r2, (const uint8_t *)"\xff\xfe", 2, &added), AIRSWARM_ERR_KEY);
  EXPECT(airswarm_keyring_import(r2, buf, len, &added), AIRSWARM_OK);
  if (added != 1) failures++, fprintf(stderr, "import added %zu\n", added);
  EXPECT(airswarm_keyring_import(r2, buf, len, NULL), AIRSWARM_OK);
  for (int i = 0; i < 32; i++) fp[i] = (uint8_t)(hexval((char)buf[2 * i]) << 4 | hexval((char)buf[2 * i + 1]));
  EXPECT(airswarm_keyring_remove(NULL, fp, 32), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_remove(r2, NULL, 32), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_remove(r2, fp, 31), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_keyring_remove(r2, fp, SIZE_MAX), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_keyring_remove(r2, fp, 32), AIRSWARM_OK);
  EXPECT(airswarm_keyring_remove(r2, fp, 32), AIRSWARM_ERR_KEY);
  EXPECT_MESSAGE("no pinned key has fingerprint");
  EXPECT(airswarm_keyring_len(r2, &n), AIRSWARM_OK);
  if (n != 0) failures++, fprintf(stderr, "removed key still there: %zu\n", n);

  /* A secure node takes a keyring and gives back what it holds. */
  airswarm_identity *id = NULL;
  airswarm_node_config *cfg = NULL;
  airswarm_secure_node *sn = NULL;
  uint8_t seed[32] = {3};
  EXPECT(airswarm_identity_generate_for_tests(seed, 32, &id), AIRSWARM_OK);
  EXPECT(airswarm_node_config_new(&cfg), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, NULL, 0, 0, seed, 32, &sn), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_set_keyring(NULL, r), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_set_keyring(sn, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_set_keyring(sn, r), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_keyring(NULL, &from_node), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_keyring(sn, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_keyring(sn, &from_node), AIRSWARM_OK);
  EXPECT(airswarm_keyring_len(from_node, &n), AIRSWARM_OK);
  if (n != 1) failures++, fprintf(stderr, "the node's keyring holds %zu\n", n);
  airswarm_keyring_free(from_node);
  /* Replay state: handshake counters (none yet) and, with a channel, its windows. */
  EXPECT(airswarm_secure_node_replay_state(sn, buf, sizeof buf, &len), AIRSWARM_OK);
  if (len != 5) failures++, fprintf(stderr, "replay state without a channel is %zu bytes\n", len);
  EXPECT(airswarm_secure_node_restore_replay_state(sn, buf, len), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_restore_replay_state(sn, buf, 1), AIRSWARM_ERR_KEY);
  airswarm_secure_node_free(sn);
  sn = NULL;
  uint8_t ckey[AIRSWARM_KEY_LEN] = {9};
  EXPECT(airswarm_secure_node_new(cfg, id, ckey, sizeof ckey, 0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new(NULL, id, ckey, sizeof ckey, 0, &sn), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new(cfg, id, ckey, sizeof ckey, 0, &sn), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_replay_state(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_replay_state(sn, buf, 0, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_secure_node_replay_state(sn, buf, sizeof buf, &len), AIRSWARM_OK);
  if (len != 6) failures++, fprintf(stderr, "replay state with a channel is %zu bytes\n", len);
  EXPECT(airswarm_secure_node_restore_replay_state(NULL, buf, len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_restore_replay_state(sn, NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_restore_replay_state(sn, buf, SIZE_MAX), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_restore_replay_state(sn, buf, len), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_restore_replay_state(sn, (const uint8_t *)"\x02", 1), AIRSWARM_ERR_KEY);
  EXPECT_MESSAGE("saved replay state");
  airswarm_secure_node_free(sn);
  airswarm_node_config_free(cfg);
  airswarm_identity_free(id);
  airswarm_keyring_free(r);
  airswarm_keyring_free(r2);
  airswarm_keyring_free(NULL);
}

static void crypto(const char *pem_path) {
  size_t plen = 0, len = 0;
  uint8_t *pem = read_file(pem_path, &plen);
  if (pem == NULL) {
    failures++;
    return;
  }
  uint8_t seed[AIRSWARM_KEY_LEN] = {1}, buf[64];
  airswarm_identity *id = NULL;
  EXPECT(airswarm_identity_generate_for_tests(NULL, 32, &id), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_identity_generate_for_tests(seed, 31, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_identity_generate_for_tests(seed, 0, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_identity_generate_for_tests(seed, 32, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_identity_generate_for_tests(seed, SIZE_MAX, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
  {
    /* No seed: two keys from the operating system's generator, never the same. */
    airswarm_identity *o1 = NULL, *o2 = NULL;
    uint8_t f1[AIRSWARM_FINGERPRINT_LEN], f2[AIRSWARM_FINGERPRINT_LEN];
    size_t l1 = 0, l2 = 0;
    EXPECT(airswarm_identity_generate(NULL), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_identity_generate(&o1), AIRSWARM_OK);
    EXPECT(airswarm_identity_generate(&o2), AIRSWARM_OK);
    EXPECT(airswarm_identity_fingerprint(o1, f1, sizeof f1, &l1), AIRSWARM_OK);
    EXPECT(airswarm_identity_fingerprint(o2, f2, sizeof f2, &l2), AIRSWARM_OK);
    if (memcmp(f1, f2, sizeof f1) == 0) failures++, fprintf(stderr, "two OS keys are equal\n");
    airswarm_identity_free(o1);
    airswarm_identity_free(o2);
  }
  {
    /* The same seed gives the same key (tests and simulations only). */
    airswarm_identity *g1 = NULL, *g2 = NULL;
    uint8_t f1[AIRSWARM_FINGERPRINT_LEN], f2[AIRSWARM_FINGERPRINT_LEN];
    EXPECT(airswarm_identity_generate_for_tests(seed, 32, &g1), AIRSWARM_OK);
    EXPECT(airswarm_identity_generate_for_tests(seed, 32, &g2), AIRSWARM_OK);
    EXPECT(airswarm_identity_fingerprint(g1, f1, sizeof f1, &len), AIRSWARM_OK);
    EXPECT(airswarm_identity_fingerprint(g2, f2, sizeof f2, &len), AIRSWARM_OK);
    if (memcmp(f1, f2, sizeof f1) != 0) failures++, fprintf(stderr, "generate not seeded\n");
    airswarm_identity_free(g1);
    airswarm_identity_free(g2);
  }
  EXPECT(airswarm_identity_from_pem(NULL, plen, &id), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_identity_from_pem(pem, 0, &id), AIRSWARM_ERR_KEY);
  EXPECT(airswarm_identity_from_pem(pem, plen / 2, &id), AIRSWARM_ERR_KEY);
  EXPECT(airswarm_identity_from_pem((const uint8_t *)"\xff\xfe", 2, &id), AIRSWARM_ERR_KEY);
  EXPECT(airswarm_identity_from_pem(pem, plen, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_identity_from_pem(pem, SIZE_MAX, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_identity_from_pem(pem, plen, &id), AIRSWARM_OK);
  free(pem);
  uint32_t addr = 0;
  EXPECT(airswarm_identity_address(NULL, &addr), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_identity_address(id, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_identity_address(id, &addr), AIRSWARM_OK);
  EXPECT(airswarm_identity_fingerprint(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_identity_fingerprint(id, buf, 31, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  if (len != 32) failures++, fprintf(stderr, "fingerprint needs %zu\n", len);
  EXPECT(airswarm_identity_fingerprint(id, buf, sizeof buf, &len), AIRSWARM_OK);
  /* The address is the fingerprint's first four bytes, big-endian. */
  if (addr != ((uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3]))
    failures++, fprintf(stderr, "address does not match the fingerprint\n");

  airswarm_node_config *cfg = NULL;
  airswarm_secure_node *n = NULL;
  uint8_t key[AIRSWARM_KEY_LEN] = {7};
  EXPECT(airswarm_node_config_new(&cfg), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, SIZE_MAX, 0, seed, 32, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 32, 0, seed, SIZE_MAX, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 32, UINT8_MAX, seed, 32, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("sign_channel must be 0 or 1, not 255");
  EXPECT(airswarm_secure_node_new_for_tests(NULL, id, key, 32, 0, seed, 32, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, NULL, key, 32, 0, seed, 32, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, NULL, 32, 0, seed, 32, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 16, 0, seed, 32, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 32, 2, seed, 32, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 32, 0, NULL, 32, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 32, 0, seed, 0, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 32, 0, seed, 32, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, NULL, 0, 0, seed, 32, &n), AIRSWARM_OK);
  airswarm_secure_node_free(n);
  n = NULL;
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 32, 0, seed, 32, &n), AIRSWARM_OK);
  airswarm_identity_free(id); /* the node keeps its own copy */
  airswarm_secure_node_free(NULL);
  airswarm_identity_free(NULL);

  uint32_t mid = 0;
  uint64_t ticket = 9, stat = 0;
  airswarm_secure_event ev = {.struct_size = sizeof(airswarm_secure_event)};
  uint64_t t;
  EXPECT(airswarm_secure_node_announce(NULL, 1, &mid), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_announce(n, 1, NULL), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_send(NULL, 1, 5, buf, 4, &mid, &ticket), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_send(n, 1, 5, NULL, 4, &mid, &ticket), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_send(n, 1, addr, buf, 4, &mid, &ticket), AIRSWARM_ERR_SEND_TO_SELF);
  EXPECT(airswarm_secure_node_send(n, 1, 5, buf, 4, &mid, &ticket), AIRSWARM_ERR_CRYPTO);
  EXPECT(airswarm_secure_node_send(n, 1, AIRSWARM_BROADCAST, NULL, 0, NULL, NULL), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_send(n, 1, AIRSWARM_BROADCAST, buf, 4, &mid, &ticket), AIRSWARM_OK);
  if (ticket != 0) failures++, fprintf(stderr, "a sent broadcast got ticket %llu\n",
                                       (unsigned long long)ticket);
  EXPECT(airswarm_secure_node_send(n, 1, 5, buf, SIZE_MAX, &mid, &ticket),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  {
    uint8_t fp[32] = {0};
    EXPECT(airswarm_secure_node_send_to(NULL, 1, fp, 32, buf, 4, &mid, &ticket), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_send_to(n, 1, NULL, 32, buf, 4, &mid, &ticket), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_send_to(n, 1, fp, 31, buf, 4, &mid, &ticket),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_send_to(n, 1, fp, SIZE_MAX, buf, 4, &mid, &ticket),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_send_to(n, 1, fp, 32, buf, SIZE_MAX, &mid, &ticket),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    /* No key with that fingerprint is pinned. */
    EXPECT(airswarm_secure_node_send_to(n, 1, fp, 32, buf, 4, &mid, &ticket), AIRSWARM_ERR_CRYPTO);
    EXPECT_MESSAGE("no key is pinned");
  }
  EXPECT(airswarm_secure_node_handle_frame(n, 1, buf, SIZE_MAX, 0, 0),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  {
    /* Channels: the key given at creation is channel 0 (joining it again gives 0), seven
     * more fit, a ninth is refused; send_on_channel checks the index and the length. */
    uint8_t index = 99, more[AIRSWARM_KEY_LEN] = {0};
    size_t count = 0;
    EXPECT(airswarm_secure_node_join_channel(NULL, key, 32, &index), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_join_channel(n, NULL, 32, &index), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_join_channel(n, key, 32, NULL), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_join_channel(n, key, 0, &index), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_join_channel(n, key, 31, &index), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_join_channel(n, key, SIZE_MAX, &index),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_channel_count(NULL, &count), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_channel_count(n, NULL), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_channel_count(n, &count), AIRSWARM_OK);
    if (count != 1) failures++, fprintf(stderr, "%zu channels, expected 1\n", count);
    EXPECT(airswarm_secure_node_join_channel(n, key, 32, &index), AIRSWARM_OK);
    if (index != 0) failures++, fprintf(stderr, "the first channel has index %u\n", index);
    for (uint8_t k = 1; k < AIRSWARM_MAX_CHANNELS; k++) {
      more[0] = (uint8_t)(100 + k);
      EXPECT(airswarm_secure_node_join_channel(n, more, 32, &index), AIRSWARM_OK);
      if (index != k) failures++, fprintf(stderr, "channel %u got index %u\n", k, index);
    }
    more[0] = 200;
    index = 99;
    EXPECT(airswarm_secure_node_join_channel(n, more, 32, &index), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT_MESSAGE("in 8 channels already");
    if (index != 99) failures++, fprintf(stderr, "a refused join wrote index %u\n", index);
    EXPECT(airswarm_secure_node_channel_count(n, &count), AIRSWARM_OK);
    if (count != AIRSWARM_MAX_CHANNELS) failures++, fprintf(stderr, "%zu channels\n", count);
    mid = 0;
    EXPECT(airswarm_secure_node_send_on_channel(NULL, 1, 0, buf, 4, &mid), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_send_on_channel(n, 1, 0, NULL, 4, &mid), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_send_on_channel(n, 1, 0, buf, SIZE_MAX, &mid),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_send_on_channel(n, 1, 0, buf, AIRSWARM_MAX_MESSAGE + 1, &mid),
           AIRSWARM_ERR_MESSAGE_TOO_LARGE);
    EXPECT(airswarm_secure_node_send_on_channel(n, 1, AIRSWARM_MAX_CHANNELS, buf, 4, &mid),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT_MESSAGE("no channel 8 was joined");
    EXPECT(airswarm_secure_node_send_on_channel(n, 1, UINT8_MAX, buf, 4, &mid),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_send_on_channel(n, 1, 7, buf, 4, &mid), AIRSWARM_OK);
    if (mid == 0) failures++, fprintf(stderr, "send_on_channel gave no message id\n");
    EXPECT(airswarm_secure_node_send_on_channel(n, 1, 3, NULL, 0, NULL), AIRSWARM_OK);
  }
  {
    /* Names: 1 to 32 bytes of UTF-8, no control characters, no white space at the ends;
     * a refused name leaves the old one; NULL clears it. */
    char longest[AIRSWARM_MAX_NAME_LEN + 2];
    memset(longest, 'n', sizeof longest);
    longest[AIRSWARM_MAX_NAME_LEN] = '\0';
    EXPECT(airswarm_secure_node_set_name(NULL, "x"), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_set_name(n, longest), AIRSWARM_OK);
    longest[AIRSWARM_MAX_NAME_LEN] = 'n';
    longest[AIRSWARM_MAX_NAME_LEN + 1] = '\0';
    EXPECT(airswarm_secure_node_set_name(n, longest), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT_MESSAGE("1 to 32 bytes");
    EXPECT(airswarm_secure_node_set_name(n, ""), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_set_name(n, " lead"), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT_MESSAGE("white space");
    EXPECT(airswarm_secure_node_set_name(n, "bell\a"), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT_MESSAGE("control characters");
    EXPECT(airswarm_secure_node_set_name(n, "\xff\xfe"), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT_MESSAGE("not UTF-8");
    EXPECT(airswarm_secure_node_set_name(n, "n\xc3\xb6" "de 7"), AIRSWARM_OK);
    EXPECT(airswarm_secure_node_announce(n, 2, NULL), AIRSWARM_OK);
    EXPECT(airswarm_secure_node_set_name(n, NULL), AIRSWARM_OK);
    EXPECT(airswarm_secure_node_announce(n, 3, NULL), AIRSWARM_OK);
  }
  EXPECT(airswarm_secure_node_stat(NULL, "frames_sent", &stat), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_stat(n, NULL, &stat), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_stat(n, "frames_sent", NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_stat(n, "nope", &stat), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_stat(n, "pull_answers", &stat), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_handle_frame(NULL, 1, buf, 4, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_handle_frame(n, 1, NULL, 4, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_handle_frame(n, 1, NULL, 0, 0, 0), AIRSWARM_ERR_BAD_FRAME);
  EXPECT(airswarm_secure_node_handle_frame_off_air(NULL, 1, buf, 4, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_handle_frame_off_air(n, 1, NULL, 4, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_handle_frame_off_air(n, 1, NULL, 0, 0, 0), AIRSWARM_ERR_BAD_FRAME);
  EXPECT(airswarm_secure_node_handle_timeout(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_timeout(NULL, &t), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_timeout(n, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_transmit(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_transmit(n, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_transmit(n, buf, 1, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_secure_node_poll_event(NULL, &ev, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_event(n, NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_event(n, &ev, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  ev.struct_size = 3;
  EXPECT(airswarm_secure_node_poll_event(n, &ev, buf, sizeof buf, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  ev.struct_size = sizeof ev;
  airswarm_secure_node_free(n);
  airswarm_node_config_free(cfg);
}

/* Secure events by struct version: a caller compiled with version 1 of the struct (48
 * bytes) gets the fields it has and nothing past them; the full struct carries the
 * announced name's fingerprint and the channel index. Node `a` hears `b`'s announcement
 * (with a name) and a broadcast on the channel both share, then one on a second channel. */
static void secure_event_versions(const char *pem_path) {
  size_t plen = 0, len = 0;
  uint8_t *pem = read_file(pem_path, &plen);
  if (pem == NULL) {
    failures++;
    return;
  }
  uint8_t seed[AIRSWARM_KEY_LEN] = {9}, shared[AIRSWARM_KEY_LEN] = {5}, second[AIRSWARM_KEY_LEN] = {6};
  uint8_t fp_b[AIRSWARM_FINGERPRINT_LEN], index = 0;
  airswarm_identity *ia = NULL, *ib = NULL;
  airswarm_secure_node *a = NULL, *b = NULL;
  airswarm_node_config *cfg = NULL;
  EXPECT(airswarm_identity_from_pem(pem, plen, &ia), AIRSWARM_OK);
  free(pem);
  EXPECT(airswarm_identity_generate_for_tests(seed, 32, &ib), AIRSWARM_OK);
  EXPECT(airswarm_identity_fingerprint(ib, fp_b, sizeof fp_b, &len), AIRSWARM_OK);
  EXPECT(airswarm_node_config_new(&cfg), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, ia, shared, 32, 0, seed, 32, &a), AIRSWARM_OK);
  seed[1] = 1;
  EXPECT(airswarm_secure_node_new_for_tests(cfg, ib, shared, 32, 0, seed, 32, &b), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_join_channel(a, second, 32, &index), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_join_channel(b, second, 32, &index), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_set_name(b, "node b"), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_announce(b, 1, NULL), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_send(b, 1, AIRSWARM_BROADCAST, (const uint8_t *)"v1", 2, NULL, NULL),
         AIRSWARM_OK);
  EXPECT(airswarm_secure_node_send_on_channel(b, 1, index, (const uint8_t *)"v3", 2, NULL),
         AIRSWARM_OK);
  /* Everything b sends reaches a (a mesh with the one link b -> a, run until quiet); the
   * mesh keeps the events, filled as airswarm_secure_node_poll_event fills them. */
  uint64_t now = 1;
  size_t at = 0;
  airswarm_mesh *mesh = NULL;
  airswarm_secure_node *pair[2] = {a, b};
  EXPECT(airswarm_mesh_new(now, -90.0f, 5.0f, &mesh), AIRSWARM_OK);
  EXPECT(airswarm_mesh_add_link(mesh, 1, 0, -90.0f, 5.0f), AIRSWARM_OK);
  EXPECT(airswarm_mesh_run_secure(mesh, pair, 2, UINT64_MAX, NULL), AIRSWARM_OK);
  union {
    airswarm_secure_event ev;
    unsigned char bytes[sizeof(airswarm_secure_event)];
  } u;
  uint8_t payload[64];
  int pinned = 0, named = 0, v1_message = 0, v3_message = 0;
  airswarm_result r;
  for (;;) {
    /* Version 1 until the first message is read, the full struct after it. */
    memset(u.bytes, 0xAA, sizeof u.bytes);
    u.ev.struct_size = v1_message ? sizeof u.ev : AIRSWARM_SECURE_EVENT_V1_SIZE;
    r = airswarm_mesh_poll_secure_event(mesh, NULL, &at, &u.ev, payload, sizeof payload, &len);
    if (r != AIRSWARM_OK) break;
    if (at != 0) continue; /* only a's events */
    if (u.ev.kind == AIRSWARM_SECURE_EVENT_PEER_PINNED) pinned++;
    if (u.ev.kind == AIRSWARM_SECURE_EVENT_ANNOUNCED && !v1_message) {
      /* Version 1 has no `sender`: the bytes past 48 are untouched. */
      named = len == 6 && memcmp(payload, "node b", 6) == 0 &&
              u.ev.struct_size == AIRSWARM_SECURE_EVENT_V1_SIZE && u.bytes[48] == 0xAA &&
              u.bytes[sizeof u.bytes - 1] == 0xAA;
    }
    if (u.ev.kind == AIRSWARM_SECURE_EVENT_MESSAGE && !v1_message)
      v1_message = len == 2 && memcmp(payload, "v1", 2) == 0 &&
                   u.ev.struct_size == AIRSWARM_SECURE_EVENT_V1_SIZE && u.bytes[48] == 0xAA &&
                   u.ev.security == AIRSWARM_SECURITY_CHANNEL;
    else if (u.ev.kind == AIRSWARM_SECURE_EVENT_MESSAGE)
      v3_message = len == 2 && memcmp(payload, "v3", 2) == 0 && u.ev.struct_size == sizeof u.ev &&
                   u.ev.has_channel == 1 && u.ev.channel == index && u.ev.has_sender == 0;
  }
  EXPECT(r, AIRSWARM_DONE);
  if (!(pinned == 1 && named && v1_message && v3_message))
    failures++, fprintf(stderr, "event versions: pinned %d named %d v1 %d v3 %d\n", pinned, named,
                        v1_message, v3_message);
  /* With the full struct, an announcement names the key in `sender`, and channel 0 is the
   * key given at creation. (An announcement's sequence is its time: a later one.) */
  EXPECT(airswarm_mesh_now(mesh, &now), AIRSWARM_OK);
  now += 1000;
  EXPECT(airswarm_mesh_set_now(mesh, now), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_announce(b, now, NULL), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_send(b, now, AIRSWARM_BROADCAST, (const uint8_t *)"c0", 2, NULL, NULL),
         AIRSWARM_OK);
  int full_named = 0, on_zero = 0;
  EXPECT(airswarm_mesh_run_secure(mesh, pair, 2, UINT64_MAX, NULL), AIRSWARM_OK);
  airswarm_secure_event ev = {.struct_size = sizeof ev};
  while (airswarm_mesh_poll_secure_event(mesh, NULL, &at, &ev, payload, sizeof payload, &len) ==
         AIRSWARM_OK) {
    if (at != 0) continue;
    if (ev.kind == AIRSWARM_SECURE_EVENT_ANNOUNCED)
      full_named = ev.has_sender && memcmp(ev.sender, fp_b, 32) == 0 && len == 6 && !ev.has_channel;
    if (ev.kind == AIRSWARM_SECURE_EVENT_MESSAGE)
      on_zero = ev.has_channel == 1 && ev.channel == 0 && len == 2 && memcmp(payload, "c0", 2) == 0;
    ev.struct_size = sizeof ev;
  }
  if (!full_named || !on_zero)
    failures++, fprintf(stderr, "full struct: named %d, channel 0 %d\n", full_named, on_zero);
  airswarm_mesh_free(mesh);
  airswarm_secure_node_free(a);
  airswarm_secure_node_free(b);
  airswarm_identity_free(ia);
  airswarm_identity_free(ib);
  airswarm_node_config_free(cfg);
}

/* The mesh: its arguments checked, then two plain nodes run by it, events kept in order. */
static void mesh(void) {
  airswarm_mesh *m = NULL, *m2 = NULL;
  airswarm_node *n[2] = {make_node(1), make_node(2)};
  airswarm_node *twice[2] = {n[0], n[0]}, *holes[2] = {n[0], NULL};
  uint64_t now = 0, at = 0;
  size_t frames = 0, node = 9, len = 0;
  EXPECT(airswarm_mesh_new(0, -80.0f, 5.0f, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_mesh_new(0, NAN, 5.0f, &m2), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("rssi_dbm NaN is not a finite number");
  EXPECT(airswarm_mesh_new(0, -80.0f, INFINITY, &m2), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_mesh_new(10, -80.0f, 5.0f, &m), AIRSWARM_OK);
  EXPECT(airswarm_mesh_add_link(NULL, 0, 1, -80.0f, 5.0f), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_mesh_add_link(m, 1, 1, -80.0f, 5.0f), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("a link from node 1 to itself");
  EXPECT(airswarm_mesh_add_link(m, 0, 1, -80.0f, NAN), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_mesh_run(NULL, n, 2, UINT64_MAX, &frames), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_mesh_run(m, NULL, 2, UINT64_MAX, &frames), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_mesh_run(m, NULL, SIZE_MAX, UINT64_MAX, &frames), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_mesh_run(m, twice, 2, UINT64_MAX, &frames), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("listed twice");
  EXPECT(airswarm_mesh_run(m, holes, 2, UINT64_MAX, &frames), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_mesh_run(m, NULL, 0, UINT64_MAX, NULL), AIRSWARM_OK);
  EXPECT(airswarm_mesh_run_secure(NULL, NULL, 0, 0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_mesh_run_secure(m, NULL, 1, 0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_mesh_now(NULL, &now), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_mesh_now(m, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_mesh_now(m, &now), AIRSWARM_OK);
  if (now != 10) failures++, fprintf(stderr, "mesh clock %" PRIu64 ", expected 10\n", now);
  EXPECT(airswarm_mesh_set_now(NULL, 20), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_mesh_set_now(m, 9), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("before the mesh's clock");
  EXPECT(airswarm_mesh_set_now(m, 20), AIRSWARM_OK);
  /* A link to node 5 of 2. */
  EXPECT(airswarm_mesh_add_link(m, 0, 5, -80.0f, 5.0f), AIRSWARM_OK);
  EXPECT(airswarm_mesh_run(m, n, 2, UINT64_MAX, &frames), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("past the 2 given");
  airswarm_mesh_free(m);
  m = NULL;
  EXPECT(airswarm_mesh_new(20, -80.0f, 5.0f, &m), AIRSWARM_OK);
  EXPECT(airswarm_mesh_add_link(m, 0, 1, -80.0f, 5.0f), AIRSWARM_OK);
  EXPECT(airswarm_mesh_add_link(m, 1, 0, -80.0f, 5.0f), AIRSWARM_OK);
  uint32_t id = 0;
  EXPECT(airswarm_node_send(n[0], 20, 2, (const uint8_t *)"ping", 4, &id), AIRSWARM_OK);
  EXPECT(airswarm_mesh_run(m, n, 2, UINT64_MAX, &frames), AIRSWARM_OK);
  if (frames != 2) failures++, fprintf(stderr, "mesh run: %zu frames, expected 2\n", frames);
  /* Events: NULLs, too-small struct or buffer (kept), then in order with time and node. */
  airswarm_event ev = {.struct_size = sizeof ev};
  uint8_t payload[8];
  EXPECT(airswarm_mesh_poll_event(NULL, &at, &node, &ev, payload, sizeof payload, &len),
         AIRSWARM_ERR_NULL);
  EXPECT(airswarm_mesh_poll_event(m, &at, &node, NULL, payload, sizeof payload, &len),
         AIRSWARM_ERR_NULL);
  EXPECT(airswarm_mesh_poll_event(m, &at, &node, &ev, payload, sizeof payload, NULL),
         AIRSWARM_ERR_NULL);
  ev.struct_size = AIRSWARM_EVENT_V1_SIZE - 1;
  EXPECT(airswarm_mesh_poll_event(m, &at, &node, &ev, payload, sizeof payload, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  ev.struct_size = sizeof ev;
  int got_ping = 0, acked = 0;
  airswarm_result r;
  while ((r = airswarm_mesh_poll_event(m, &at, &node, &ev, payload, 2, &len)) != AIRSWARM_DONE) {
    if (r == AIRSWARM_ERR_BUFFER_TOO_SMALL) {
      if (len != 4) failures++, fprintf(stderr, "mesh event needed %zu, expected 4\n", len);
      EXPECT(airswarm_mesh_poll_event(m, NULL, NULL, &ev, payload, sizeof payload, &len),
             AIRSWARM_OK);
      got_ping = ev.kind == AIRSWARM_EVENT_MESSAGE && len == 4 && memcmp(payload, "ping", 4) == 0;
    } else if (r == AIRSWARM_OK) {
      acked |= ev.kind == AIRSWARM_EVENT_DELIVERED && ev.id == id && node == 0 && at >= 20;
    } else {
      failures++, fprintf(stderr, "mesh_poll_event returned %d\n", (int)r);
      break;
    }
  }
  airswarm_secure_event sev = {.struct_size = sizeof sev};
  EXPECT(airswarm_mesh_poll_secure_event(m, &at, &node, &sev, payload, sizeof payload, &len),
         AIRSWARM_DONE);
  EXPECT(airswarm_mesh_poll_secure_event(NULL, &at, &node, &sev, payload, sizeof payload, &len),
         AIRSWARM_ERR_NULL);
  sev.struct_size = 0;
  EXPECT(airswarm_mesh_poll_secure_event(m, &at, &node, &sev, payload, sizeof payload, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  if (!got_ping || !acked) failures++, fprintf(stderr, "mesh: ping %d, ack %d\n", got_ping, acked);
  if (m2 != NULL) failures++, fprintf(stderr, "a refused airswarm_mesh_new wrote a handle\n");
  airswarm_mesh_free(NULL);
  airswarm_mesh_free(m);
  airswarm_node_free(n[0]);
  airswarm_node_free(n[1]);
}

/* With forced panics on, every entry point must report AIRSWARM_ERR_PANIC. */
/* Radios (SX1276 driver, model, KISS, RNode host): NULLs, bad values, small buffers. */
static int32_t r_spi(void *u, uint8_t *b, size_t n) {
  return airswarm_sx1276_model_spi(u, 0, b, n) == AIRSWARM_OK ? 0 : -1;
}
static int32_t r_reset(void *u, uint8_t l) {
  return airswarm_sx1276_model_reset(u, 0, l) == AIRSWARM_OK ? 0 : -1;
}
static int32_t r_dio0(void *u, uint8_t *l) {
  return airswarm_sx1276_model_dio0(u, 0, l) == AIRSWARM_OK ? 0 : -1;
}
static void r_delay(void *u, uint32_t ns) { airswarm_sx1276_model_delay_ns(u, ns); }

static void radio(void) {
  airswarm_sx1276_model *m = NULL;
  airswarm_sx1276 *r = NULL;
  airswarm_lora_config *lc = NULL;
  EXPECT(airswarm_lora_config_new(&lc), AIRSWARM_OK);
  uint8_t buf[300], st = 9;
  size_t len = 0;
  uint64_t v = 0;
  uint32_t chip = 99;
  airswarm_sx1276_rx rx;
  EXPECT(airswarm_sx1276_model_new(1, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_model_new(1, &m), AIRSWARM_OK);
  EXPECT(airswarm_sx1276_model_add_chip(NULL, 0, 0, &chip), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_model_add_chip(m, 0, 0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_model_add_chip(m, 0.0 / 0.0, 0, &chip), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_sx1276_model_add_chip(m, 0, 0, &chip), AIRSWARM_OK);
  EXPECT(airswarm_sx1276_model_spi(m, 5, buf, 2), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_sx1276_model_spi(m, 0, NULL, 2), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_model_spi(NULL, 0, buf, 2), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_model_reset(m, 0, 2), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_sx1276_model_reset(NULL, 0, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_model_dio0(m, 0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_model_dio0(NULL, 0, &st), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_model_delay_ns(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_model_now_us(m, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_model_now_us(NULL, &v), AIRSWARM_ERR_NULL);
  airswarm_sx1276_hal hal = {m, r_spi, r_reset, r_dio0, r_delay};
  airswarm_sx1276_hal nohal = hal;
  nohal.spi_transfer = NULL;
  EXPECT(airswarm_sx1276_new(NULL, 0, 0, &r), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_new(&nohal, 0, 0, &r), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_new(&hal, 2, 0, &r), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_sx1276_new(&hal, 0, 0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_new(&hal, 1, 0, &r), AIRSWARM_OK);
  EXPECT(airswarm_sx1276_receive_start(r, 0), AIRSWARM_ERR_RADIO_STATE);
  EXPECT(airswarm_sx1276_init(NULL, lc), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_init(r, NULL), AIRSWARM_ERR_NULL);
  /* An invalid setting never reaches the chip: the config refuses it first. */
  EXPECT(airswarm_lora_config_set_spreading_factor(lc, 13), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT(airswarm_sx1276_init(r, lc), AIRSWARM_OK);
  EXPECT(airswarm_sx1276_transmit_start(NULL, 0, buf, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_transmit_start(r, 0, NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_transmit_start(r, 0, buf, 255), AIRSWARM_ERR_MESSAGE_TOO_LARGE);
  EXPECT(airswarm_sx1276_transmit_check(r, 0, &st), AIRSWARM_ERR_RADIO_STATE);
  EXPECT(airswarm_sx1276_transmit_check(r, 0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_transmit_check(NULL, 0, &st), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_receive_check(r, buf, sizeof buf, &len, &rx), AIRSWARM_ERR_RADIO_STATE);
  EXPECT(airswarm_sx1276_receive_start(r, 2), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_sx1276_receive_start(NULL, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_receive_start(r, 0), AIRSWARM_OK);
  EXPECT(airswarm_sx1276_receive_check(r, buf, sizeof buf, &len, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_receive_check(r, NULL, 10, &len, &rx), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_receive_check(NULL, buf, sizeof buf, &len, &rx), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_receive_check(r, buf, sizeof buf, &len, &rx), AIRSWARM_OK);
  if (rx.status != AIRSWARM_SX1276_RX_PENDING || len != 0) failures++;
  EXPECT(airswarm_sx1276_cad_start(NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_cad_check(r, &st), AIRSWARM_ERR_RADIO_STATE);
  EXPECT(airswarm_sx1276_cad_start(r), AIRSWARM_OK);
  EXPECT(airswarm_sx1276_cad_check(r, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_cad_check(NULL, &st), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_spi_transactions(r, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_spi_transactions(NULL, &v), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_spi_transactions(r, &v), AIRSWARM_OK);
  EXPECT(airswarm_sx1276_last_error(r, buf, 2, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_sx1276_last_error(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_last_error(r, buf, sizeof buf, &len), AIRSWARM_OK);
  airswarm_sx1276_free(r);
  airswarm_sx1276_free(NULL);
  airswarm_sx1276_model_free(m);
  airswarm_sx1276_model_free(NULL);

  airswarm_kiss_decoder *d = NULL;
  uint8_t cmd = 0;
  EXPECT(airswarm_kiss_encode(0, NULL, 1, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_kiss_encode(0, buf, 1, buf + 100, 2, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_kiss_encode(0, buf, 1, buf + 100, 100, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_kiss_decoder_new(16, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_kiss_decoder_new((size_t)-1, &d), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_kiss_decoder_new(16, &d), AIRSWARM_OK);
  EXPECT(airswarm_kiss_decoder_feed(NULL, buf, 1, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_kiss_decoder_feed(d, NULL, 1, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_kiss_decoder_poll(d, &cmd, buf, sizeof buf, &len), AIRSWARM_DONE);
  const uint8_t fr[5] = {0xC0, 0x05, 0x01, 0x02, 0xC0};
  EXPECT(airswarm_kiss_decoder_feed(d, fr, 5, &v), AIRSWARM_OK);
  EXPECT(airswarm_kiss_decoder_poll(d, &cmd, buf, 1, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_kiss_decoder_poll(d, NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_kiss_decoder_poll(NULL, &cmd, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_kiss_decoder_poll(d, &cmd, buf, sizeof buf, &len), AIRSWARM_OK);
  if (cmd != 5 || len != 2) failures++;
  airswarm_kiss_decoder_free(d);
  airswarm_kiss_decoder_free(NULL);

  airswarm_rnode_host *h = NULL;
  airswarm_rnode_event ev;
  EXPECT(airswarm_rnode_host_new(NULL, 1, 0, &h), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_new(lc, 2, 0, &h), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_rnode_host_new(lc, 1, 0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_new(lc, 1, 0, &h), AIRSWARM_OK);
  EXPECT(airswarm_rnode_host_poll_transmit(h, buf, sizeof buf, &len), AIRSWARM_DONE);
  EXPECT(airswarm_rnode_host_poll_timeout(h, &v), AIRSWARM_OK);
  if (v != 2000) failures++;
  EXPECT(airswarm_rnode_host_handle_timeout(h, v), AIRSWARM_OK);
  EXPECT(airswarm_rnode_host_poll_transmit(h, buf, 4, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  if (len != 13) failures++;
  EXPECT(airswarm_rnode_host_poll_transmit(h, buf, sizeof buf, &len), AIRSWARM_OK);
  EXPECT(airswarm_rnode_host_poll_transmit(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_poll_transmit(h, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_handle_bytes(NULL, 0, buf, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_handle_bytes(h, 0, NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_handle_bytes(h, 2001, (const uint8_t *)"noise", 5), AIRSWARM_OK);
  EXPECT(airswarm_rnode_host_handle_timeout(NULL, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_send(h, 2001, buf, 3), AIRSWARM_ERR_RADIO_STATE);
  EXPECT(airswarm_rnode_host_send(NULL, 2001, buf, 3), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_send(h, 2001, NULL, 3), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_handle_timeout(h, 2200), AIRSWARM_OK);
  EXPECT(airswarm_rnode_host_poll_event(h, &ev, buf, 2, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_rnode_host_poll_event(h, NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_poll_event(NULL, &ev, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_poll_event(h, &ev, buf, sizeof buf, &len), AIRSWARM_OK);
  if (ev.kind != AIRSWARM_RNODE_FAILED) failures++;
  EXPECT(airswarm_rnode_host_poll_event(h, &ev, buf, sizeof buf, &len), AIRSWARM_DONE);
  EXPECT(airswarm_rnode_host_poll_timeout(h, &v), AIRSWARM_DONE);
  EXPECT(airswarm_rnode_host_poll_timeout(h, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_poll_timeout(NULL, &v), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_last_error(h, buf, sizeof buf, &len), AIRSWARM_OK);
  if (strstr((char *)buf, "no RNode answered") == NULL) failures++;
  EXPECT(airswarm_rnode_host_last_error(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_handle_closed(h, 3000), AIRSWARM_OK);
  EXPECT(airswarm_rnode_host_handle_closed(NULL, 3000), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_close(h, 3000), AIRSWARM_OK);
  EXPECT(airswarm_rnode_host_close(NULL, 3000), AIRSWARM_ERR_NULL);
  airswarm_rnode_host_free(h);
  airswarm_rnode_host_free(NULL);
  airswarm_lora_config_free(lc);
}

/* Files over the mesh: every entry point with NULLs, bad lengths, bad names, unknown ids,
 * corrupt payloads, too-small buffers and struct sizes; a share, its metainfo and resume. */
static void file_mesh(const char *pem_path) {
  size_t plen = 0, len = 0, n = 0;
  uint8_t *pem = read_file(pem_path, &plen);
  if (pem == NULL) {
    failures++;
    return;
  }
  airswarm_identity *me = NULL;
  EXPECT(airswarm_identity_from_pem(pem, plen, &me), AIRSWARM_OK);
  free(pem);
  uint32_t addr = 0;
  EXPECT(airswarm_identity_address(me, &addr), AIRSWARM_OK);
  airswarm_file_config *fc = NULL;
  EXPECT(airswarm_file_config_new(NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_config_new(&fc), AIRSWARM_OK);
  EXPECT(airswarm_file_config_set(NULL, "pace_ms", 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_config_set(fc, NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_config_set(fc, "speed", 1), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("not a file engine setting");
  EXPECT(airswarm_file_config_set(fc, "auto_fetch", 2), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_file_config_set(fc, "auto_fetch", UINT64_MAX), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_file_config_set(fc, "relay", 2), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_file_config_set(fc, "relay", 0), AIRSWARM_OK);
  EXPECT(airswarm_file_config_set(fc, "relay", 1), AIRSWARM_OK);
  EXPECT(airswarm_file_config_set(fc, "requests_per_peer", 0), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_file_config_set(fc, "requests_per_peer", 3), AIRSWARM_OK);
  EXPECT(airswarm_file_config_set(fc, "pace_ms", UINT64_MAX), AIRSWARM_OK);
  EXPECT(airswarm_file_config_set(fc, "pace_ms", 0), AIRSWARM_OK);
  EXPECT(airswarm_file_config_set(fc, "max_node_queue", 2), AIRSWARM_OK);
  EXPECT(airswarm_file_config_set(fc, "have_interval_ms", 1000), AIRSWARM_OK);
  EXPECT(airswarm_file_config_set(fc, "max_have_interval_ms", 8000), AIRSWARM_OK);
  EXPECT(airswarm_file_config_set(fc, "request_timeout_ms", 5000), AIRSWARM_OK);
  EXPECT(airswarm_file_config_set(fc, "auto_fetch", 1), AIRSWARM_OK);
  airswarm_file_mesh *fm = NULL;
  EXPECT(airswarm_file_mesh_new(addr, fc, 1, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_new(addr, fc, 1, &fm), AIRSWARM_OK);
  airswarm_file_config_free(fc);
  airswarm_file_config_free(NULL);
  airswarm_file_mesh_free(NULL);

  static uint8_t data[3000], buf[4096];
  for (size_t k = 0; k < sizeof data; k++) data[k] = (uint8_t)(k * 7);
  airswarm_file_id id = {{0}}, unknown = {{0xAB}};
  EXPECT(airswarm_file_mesh_share(NULL, 1, me, "a.bin", data, sizeof data, 0, &id), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_share(fm, 1, NULL, "a.bin", data, sizeof data, 0, &id), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_share(fm, 1, me, NULL, data, sizeof data, 0, &id), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_share(fm, 1, me, "a.bin", NULL, 10, 0, &id), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_share(fm, 1, me, "a.bin", data, SIZE_MAX, 0, &id),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_file_mesh_share(fm, 1, me, "a.bin", data, sizeof data, 0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_share(fm, 1, me, "", data, sizeof data, 0, &id), AIRSWARM_ERR_FILE_REFUSED);
  EXPECT(airswarm_file_mesh_share(fm, 1, me, "/abs", data, sizeof data, 0, &id),
         AIRSWARM_ERR_FILE_REFUSED);
  EXPECT(airswarm_file_mesh_share(fm, 1, me, "a.bin", data, 0, 0, &id), AIRSWARM_ERR_FILE_REFUSED);
  EXPECT_MESSAGE("file of 0 bytes");
  EXPECT(airswarm_file_mesh_share(fm, 1, me, "a.bin", data, sizeof data, 63, &id),
         AIRSWARM_ERR_FILE_REFUSED);
  EXPECT_MESSAGE("piece length 63");
  EXPECT(airswarm_file_mesh_share(fm, 1, me, "a.bin", data, sizeof data, UINT32_MAX, &id),
         AIRSWARM_ERR_FILE_REFUSED);
  EXPECT(airswarm_file_mesh_share(fm, 1, me, "a.bin", data, sizeof data, 0, &id), AIRSWARM_OK);

  uint8_t is_file = 9;
  EXPECT(airswarm_file_mesh_is_file_payload(NULL, 1, &is_file), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_is_file_payload(buf, 1, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_is_file_payload(NULL, 0, &is_file), AIRSWARM_OK);
  if (is_file != 0) failures++;
  buf[0] = 0xF1;
  buf[1] = 0x02;
  EXPECT(airswarm_file_mesh_is_file_payload(buf, 2, &is_file), AIRSWARM_OK);

  airswarm_keyring *ring = NULL;
  EXPECT(airswarm_keyring_new(0, &ring), AIRSWARM_OK);
  EXPECT(airswarm_file_mesh_handle_message(NULL, 1, 2, buf, 2, NULL, ring), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_handle_message(fm, 1, 2, buf, 2, NULL, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_handle_message(fm, 1, 2, NULL, 2, NULL, ring), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_handle_message(fm, 1, 2, buf, SIZE_MAX, NULL, ring),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_file_mesh_handle_message(fm, 1, 2, buf, 2, NULL, ring),
         AIRSWARM_ERR_BAD_FILE_MESSAGE);
  for (int kind = 0; kind < 256; kind++) {
    /* Every kind byte, short and long bodies of junk: refused or ignored, never a crash. */
    buf[1] = (uint8_t)kind;
    for (size_t l = 0; l < 40; l += 13) {
      airswarm_result r = airswarm_file_mesh_handle_message(fm, 1, 2, buf, l, NULL, ring);
      if (r != AIRSWARM_OK && r != AIRSWARM_ERR_BAD_FILE_MESSAGE) failures++;
    }
  }
  airswarm_keyring_free(ring);

  uint32_t scope = 0;
  EXPECT(airswarm_file_mesh_poll_transmit(NULL, 1, 0, &scope, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_poll_transmit(fm, 1, 0, NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_poll_transmit(fm, 1, 0, &scope, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  /* The metainfo announcement: kept when the buffer is too small, then given whole. */
  EXPECT(airswarm_file_mesh_poll_transmit(fm, 1, 0, &scope, buf, 4, &len),
         AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_file_mesh_poll_transmit(fm, 1, 0, &scope, NULL, 0, &len),
         AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_file_mesh_poll_transmit(fm, 1, 0, &scope, buf, sizeof buf, &n), AIRSWARM_OK);
  if (n != len || scope != AIRSWARM_FILE_SCOPE_MESH) failures++, fprintf(stderr, "meta out\n");
  /* Then its bitfield (pace 0), and nothing more. */
  for (int k = 0; k < 8 && airswarm_file_mesh_poll_transmit(fm, 1, 0, &scope, buf, sizeof buf,
                                                            &len) == AIRSWARM_OK;
       k++)
    if (scope != AIRSWARM_FILE_SCOPE_NEIGHBOURS) failures++;
  EXPECT(airswarm_file_mesh_poll_transmit(fm, 1, 0, &scope, buf, sizeof buf, &len), AIRSWARM_DONE);
  EXPECT(airswarm_file_mesh_handle_timeout(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_handle_timeout(fm, UINT64_MAX), AIRSWARM_OK);
  EXPECT(airswarm_file_mesh_set_channel_utilisation(NULL, 10.0), AIRSWARM_ERR_NULL);
  {
    airswarm_file_config *pc = NULL;
    EXPECT(airswarm_file_config_new(&pc), AIRSWARM_OK);
    EXPECT(airswarm_file_config_set(pc, "polite_channel_util_percent", 101),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_file_config_set(pc, "polite_channel_util_percent", 40), AIRSWARM_OK);
    airswarm_file_config_free(pc);
  }
  EXPECT(airswarm_file_mesh_set_channel_utilisation(fm, 0.0 / 0.0), AIRSWARM_OK);
  EXPECT(airswarm_file_mesh_set_channel_utilisation(fm, 0.0), AIRSWARM_OK);
  uint64_t t = 0;
  EXPECT(airswarm_file_mesh_poll_timeout(NULL, &t), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_poll_timeout(fm, NULL), AIRSWARM_ERR_NULL);
  airswarm_result tr = airswarm_file_mesh_poll_timeout(fm, &t);
  if (tr != AIRSWARM_OK && tr != AIRSWARM_DONE) failures++;

  airswarm_file_event fe = {.struct_size = sizeof fe};
  airswarm_file_event small = {.struct_size = 8};
  EXPECT(airswarm_file_mesh_poll_event(NULL, &fe, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_poll_event(fm, NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_poll_event(fm, &fe, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_poll_event(fm, &small, buf, sizeof buf, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  /* The junk metainfos above were refused with a reason each. */
  EXPECT(airswarm_file_mesh_poll_event(fm, &fe, buf, 0, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_file_mesh_poll_event(fm, &fe, buf, sizeof buf, &len), AIRSWARM_OK);
  if (fe.kind != AIRSWARM_FILE_EVENT_REJECTED || len == 0) failures++;
  for (int k = 0; k < 300 && airswarm_file_mesh_poll_event(fm, &fe, buf, sizeof buf, &len) ==
                                 AIRSWARM_OK;
       k++) {
  }
  EXPECT(airswarm_file_mesh_poll_event(fm, &fe, buf, sizeof buf, &len), AIRSWARM_DONE);

  airswarm_file_status st = {.struct_size = sizeof st};
  airswarm_file_status st_small = {.struct_size = 4};
  EXPECT(airswarm_file_mesh_file(NULL, 0, &st, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_file(fm, 0, NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_file(fm, 0, &st_small, buf, sizeof buf, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_file_mesh_file(fm, 0, &st, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_file(fm, 0, &st, buf, 2, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_file_mesh_file(fm, 0, &st, buf, sizeof buf, &len), AIRSWARM_OK);
  if (st.have != 5 || st.pieces != 5 || st.size != sizeof data || len != 5 ||
      memcmp(&st.file, &id, sizeof id) != 0)
    failures++, fprintf(stderr, "file status %u/%u\n", st.have, st.pieces);
  EXPECT(airswarm_file_mesh_file(fm, SIZE_MAX, &st, buf, sizeof buf, &len), AIRSWARM_DONE);

  EXPECT(airswarm_file_mesh_data(NULL, id, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_data(fm, id, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_data(fm, unknown, buf, sizeof buf, &len), AIRSWARM_ERR_UNKNOWN_FILE);
  EXPECT_MESSAGE("no file ab00000000000000");
  EXPECT(airswarm_file_mesh_data(fm, id, buf, 10, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  if (len != sizeof data) failures++;
  EXPECT(airswarm_file_mesh_data(fm, id, buf, sizeof buf, &len), AIRSWARM_OK);
  if (len != sizeof data || memcmp(buf, data, len) != 0) failures++;

  static uint8_t meta[2048];
  size_t meta_len = 0;
  EXPECT(airswarm_file_mesh_meta(NULL, id, meta, sizeof meta, &meta_len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_meta(fm, unknown, meta, sizeof meta, &meta_len), AIRSWARM_ERR_UNKNOWN_FILE);
  EXPECT(airswarm_file_mesh_meta(fm, id, meta, 1, &meta_len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_file_mesh_meta(fm, id, meta, sizeof meta, &meta_len), AIRSWARM_OK);

  EXPECT(airswarm_file_mesh_fetch(NULL, 1, id), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_fetch(fm, 1, unknown), AIRSWARM_ERR_UNKNOWN_FILE);
  EXPECT(airswarm_file_mesh_fetch(fm, 1, id), AIRSWARM_OK); /* already here */
  EXPECT(airswarm_file_mesh_reannounce(NULL, id), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_reannounce(fm, unknown), AIRSWARM_ERR_UNKNOWN_FILE);
  EXPECT(airswarm_file_mesh_reannounce(fm, id), AIRSWARM_OK);

  airswarm_file_mesh *fm2 = NULL;
  airswarm_file_id rid = {{0}};
  EXPECT(airswarm_file_mesh_new(addr, NULL, 2, &fm2), AIRSWARM_OK);
  EXPECT(airswarm_file_mesh_resume(NULL, 1, meta, meta_len, data, sizeof data, &rid), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_resume(fm2, 1, NULL, meta_len, data, sizeof data, &rid), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_resume(fm2, 1, meta, meta_len, data, SIZE_MAX, &rid),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_file_mesh_resume(fm2, 1, meta, meta_len, data, sizeof data, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_file_mesh_resume(fm2, 1, data, 100, data, sizeof data, &rid),
         AIRSWARM_ERR_BAD_FILE_MESSAGE);
  EXPECT_MESSAGE("ASF1");
  EXPECT(airswarm_file_mesh_resume(fm2, 1, meta, meta_len + 1, data, sizeof data, &rid),
         AIRSWARM_ERR_BAD_FILE_MESSAGE);
  /* Only the first 1500 bytes kept (pieces 0 and 1 of 640, and not piece 2). */
  EXPECT(airswarm_file_mesh_resume(fm2, 1, meta, meta_len, data, 1500, &rid), AIRSWARM_OK);
  if (memcmp(&rid, &id, sizeof id) != 0) failures++;
  EXPECT(airswarm_file_mesh_file(fm2, 0, &st, buf, sizeof buf, &len), AIRSWARM_OK);
  if (st.have != 2) failures++, fprintf(stderr, "resumed %u pieces, not 2\n", st.have);
  EXPECT(airswarm_file_mesh_data(fm2, id, buf, sizeof buf, &len), AIRSWARM_ERR_FILE_INCOMPLETE);
  EXPECT_MESSAGE("2 of 5 pieces");
  airswarm_file_mesh_free(fm2);

  /* The secure node's one-hop channel send and queue length. */
  airswarm_node_config *nc = NULL;
  airswarm_secure_node *sn = NULL;
  uint8_t ckey[AIRSWARM_KEY_LEN] = {5}, seed[32] = {3};
  uint32_t mid = 0;
  EXPECT(airswarm_node_config_new(&nc), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_new_for_tests(nc, me, ckey, sizeof ckey, 0, seed, 32, &sn), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_queued_frames(NULL, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_queued_frames(sn, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_queued_frames(sn, &n), AIRSWARM_OK);
  {
    double util = -1.0;
    EXPECT(airswarm_secure_node_channel_utilisation(NULL, 0, &util), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_channel_utilisation(sn, 0, NULL), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_channel_utilisation(sn, UINT64_MAX, &util), AIRSWARM_OK);
    if (!(util >= 0.0 && util <= 100.0)) failures++, fprintf(stderr, "utilisation %f\n", util);
  }
  if (n != 0) failures++;
  EXPECT(airswarm_secure_node_send_on_channel_one_hop(NULL, 1, 0, buf, 4, &mid), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_send_on_channel_one_hop(sn, 1, 0, NULL, 4, &mid), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_send_on_channel_one_hop(sn, 1, 0, buf, SIZE_MAX, &mid),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_send_on_channel_one_hop(sn, 1, 0, buf, AIRSWARM_MAX_MESSAGE + 1, &mid),
         AIRSWARM_ERR_MESSAGE_TOO_LARGE);
  EXPECT(airswarm_secure_node_send_on_channel_one_hop(sn, 1, 1, buf, 4, &mid),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_send_on_channel_one_hop(sn, 1, 0, buf, 4, NULL), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_queued_frames(sn, &n), AIRSWARM_OK);
  if (n == 0) failures++, fprintf(stderr, "a one-hop send queued nothing\n");
  airswarm_secure_node_free(sn);
  airswarm_node_config_free(nc);
  airswarm_file_mesh_free(fm);
  airswarm_identity_free(me);

  /* The simulator's file scenario. */
  airswarm_sim_config *sc = NULL;
  EXPECT(airswarm_sim_config_new(&sc), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_file(NULL, 1, AIRSWARM_FILE_MODE_SWARM, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_set_file(sc, 1, 7, 0), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_sim_config_set_file(sc, 2000, AIRSWARM_FILE_MODE_SWARM, 0), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_validate(sc), AIRSWARM_ERR_SIM_CONFIG);
  EXPECT_MESSAGE("file");
  EXPECT(airswarm_sim_config_set_file(sc, 1, AIRSWARM_FILE_MODE_UNICAST, SIZE_MAX), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_validate(sc), AIRSWARM_ERR_SIM_CONFIG);
  EXPECT_MESSAGE("liars");
  EXPECT(airswarm_sim_config_set_file(sc, 0, AIRSWARM_FILE_MODE_SWARM, 0), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_validate(sc), AIRSWARM_OK);
  airswarm_sim_config_free(sc);
}

static void panics(void) {
  airswarm_node *n = make_node(1);
  airswarm_lora_config *lc = NULL, *lc2 = NULL;
  airswarm_node_config *nc = NULL, *nc2 = NULL;
  airswarm_sim_config *sc = small_sim(), *sc2 = NULL;
  EXPECT(airswarm_lora_config_new(&lc), AIRSWARM_OK);
  EXPECT(airswarm_node_config_new(&nc), AIRSWARM_OK);
  airswarm_sim_report *good = NULL;
  EXPECT(airswarm_sim_run(sc, &good), AIRSWARM_OK);
  uint8_t buf[64];
  size_t len;
  uint64_t v;
  uint32_t id, id32;
  airswarm_event ev = {.struct_size = sizeof(airswarm_event)};
  airswarm_node *n2 = NULL;
  airswarm_sim_report *rep = NULL;
  double d;

  EXPECT(airswarm_test_panic(), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_test_force_panic(1), AIRSWARM_OK);
  EXPECT(airswarm_result_message(0, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_version(buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  /* The panic's own text is the last error; reading it works while panics are forced. */
  {
    uint8_t big[512];
    EXPECT(airswarm_last_error_message(big, sizeof big, &len), AIRSWARM_OK);
  }
  EXPECT_MESSAGE("airswarm_test_force_panic is on");
  EXPECT(airswarm_lora_config_new(&lc2), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_config_set_frequency_hz(lc, 868000000), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_config_set_spreading_factor(lc, 7), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_config_set_bandwidth_hz(lc, 125000), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_config_set_coding_rate(lc, 5), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_config_set_preamble_len(lc, 8), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_config_set_implicit_header(lc, 0), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_config_set_crc(lc, 1), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_config_set_ldro(lc, 0), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_config_set_tx_power_dbm(lc, 14), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_config_set_sync_word(lc, 0x12), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_time_on_air_us(lc, 10, &v), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_symbol_time_ns(lc, &v), AIRSWARM_ERR_PANIC);
  airswarm_lora_config_free(NULL);
  EXPECT(airswarm_node_config_new(&nc2), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_config_validate(nc), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_config_set_address(nc, 1), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_config_set_strategy(nc, 0), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_config_set_lora(nc, lc), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_config_set_duty_cycle_percent(nc, 1.0), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_config_set_hop_limit(nc, 7), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_config_set_max_retries(nc, 3), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_config_set_max_queue(nc, 8), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_config_set_seed(nc, 1), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_config_set_first_counter(nc, 1), AIRSWARM_ERR_PANIC);
  airswarm_node_config_free(NULL);
  EXPECT(airswarm_node_new(nc, &n2), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_handle_frame(n, 0, buf, sizeof buf, 0, 0), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_handle_frame_off_air(n, 0, buf, sizeof buf, 0, 0), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_send(n, 0, 2, buf, 4, &id), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_send_content(n, 0, 2, 0, buf, 4, &id), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_handle_timeout(n, 0), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_poll_transmit(n, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_poll_event(n, &ev, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_poll_timeout(n, &v), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_address(n, &id), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_stat(n, "frames_sent", &v), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_stat_name(0, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  {
    airswarm_mesh *mesh = NULL;
    airswarm_secure_event sev = {.struct_size = sizeof sev};
    size_t at = 0;
    EXPECT(airswarm_mesh_new(0, -80.0f, 5.0f, &mesh), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_mesh_add_link(mesh, 0, 1, -80.0f, 5.0f), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_mesh_run(mesh, &n, 1, 0, &len), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_mesh_run_secure(mesh, NULL, 0, 0, &len), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_mesh_now(mesh, &v), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_mesh_set_now(mesh, 1), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_mesh_poll_event(mesh, &v, &at, &ev, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_mesh_poll_secure_event(mesh, &v, &at, &sev, buf, sizeof buf, &len),
           AIRSWARM_ERR_PANIC);
    airswarm_mesh_free(NULL);
    if (mesh != NULL) failures++;
  }
  EXPECT(airswarm_sim_config_new(&sc2), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_validate(sc), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_nodes(sc, 3), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_area_m(sc, 1.0), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_seed(sc, 1), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_messages(sc, 1), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_payload(sc, 8), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_strategy(sc, 0), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_lora(sc, lc), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_duty_cycle_percent(sc, 1.0), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_hop_limit(sc, 7), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_direct_percent(sc, 1.0), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_interval_ms(sc, 1), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_drain_ms(sc, 1), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_listen_before_talk(sc, 1), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_crypto(sc, 0), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_set_file(sc, 1, AIRSWARM_FILE_MODE_SWARM, 0), AIRSWARM_ERR_PANIC);
  airswarm_sim_config_free(NULL);
  EXPECT(airswarm_sim_run(sc, &rep), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_report_field(0, buf, sizeof buf, &len, NULL), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_report_u64(good, "nodes", &v), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_report_f64(good, "airtime_s", &d), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_report_text(good, "strategy", buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_report_json(good, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  airswarm_sim_report_free(NULL); /* panics inside, caught, returns */
  airswarm_metainfo *meta = NULL;
  airswarm_piece_hasher *ph = NULL;
  EXPECT(airswarm_bencode_validate((const uint8_t *)"i1e", 3, &len), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_metainfo_parse((const uint8_t *)TORRENT, sizeof TORRENT - 1, &meta),
         AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_metainfo_info_hash(meta, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_metainfo_name(meta, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  {
    airswarm_metainfo_summary ms = {.struct_size = sizeof(airswarm_metainfo_summary)};
    airswarm_file_entry fe = {.struct_size = sizeof(airswarm_file_entry)};
    uint32_t sz;
    EXPECT(airswarm_metainfo_summary_get(meta, &ms), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_metainfo_file(meta, 0, &fe, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_metainfo_piece_span(meta, 0, &v, &sz), AIRSWARM_ERR_PANIC);
  }
  EXPECT(airswarm_metainfo_piece_hash(meta, 0, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_metainfo_verify_piece(meta, 0, buf, 5), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_piece_hasher_new(&ph), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_piece_hasher_update(ph, buf, 1), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_piece_hasher_finish(ph, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  airswarm_metainfo_free(NULL);
  airswarm_piece_hasher_free(NULL);
  if (meta != NULL || ph != NULL) failures++;
  {
    uint8_t seed[32] = {0};
    airswarm_identity *id = NULL;
    airswarm_secure_node *sn = NULL;
    airswarm_secure_event sev = {.struct_size = sizeof(airswarm_secure_event)};
    EXPECT(airswarm_identity_generate_for_tests(seed, 32, &id), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_identity_generate(&id), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_identity_from_pem(seed, 32, &id), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_identity_address(id, &id32), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_identity_fingerprint(id, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_new_for_tests(nc, id, NULL, 0, 0, seed, 32, &sn), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_new(nc, id, NULL, 0, 0, &sn), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_announce(sn, 1, &id32), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_send(sn, 1, 2, buf, 1, &id32, NULL), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_send_to(sn, 1, buf, 32, buf, 1, &id32, NULL), AIRSWARM_ERR_PANIC);
    {
      uint8_t idx = 0;
      size_t cnt = 0;
      EXPECT(airswarm_secure_node_join_channel(sn, seed, 32, &idx), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_secure_node_channel_count(sn, &cnt), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_secure_node_send_on_channel(sn, 1, 0, buf, 1, &id32), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_secure_node_set_name(sn, "x"), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_secure_node_send_on_channel_one_hop(sn, 1, 0, buf, 1, &id32),
             AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_secure_node_queued_frames(sn, &cnt), AIRSWARM_ERR_PANIC);
      {
        double util = 0.0;
        EXPECT(airswarm_secure_node_channel_utilisation(sn, 1, &util), AIRSWARM_ERR_PANIC);
      }
    }
    {
      /* Files over the mesh. */
      airswarm_file_config *fc = NULL;
      airswarm_file_mesh *fm = NULL;
      airswarm_file_id fid = {{0}};
      airswarm_file_event fe = {.struct_size = sizeof fe};
      airswarm_file_status fs = {.struct_size = sizeof fs};
      uint32_t scope = 0;
      uint8_t is_file = 0;
      EXPECT(airswarm_file_config_new(&fc), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_config_set(fc, "pace_ms", 1), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_new(1, fc, 0, &fm), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_share(fm, 1, id, "a", buf, 1, 0, &fid), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_resume(fm, 1, buf, 1, buf, 1, &fid), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_fetch(fm, 1, fid), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_reannounce(fm, fid), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_is_file_payload(buf, 1, &is_file), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_handle_message(fm, 1, 2, buf, 1, sn, NULL), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_handle_timeout(fm, 1), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_set_channel_utilisation(fm, 1.0), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_poll_transmit(fm, 1, 0, &scope, buf, sizeof buf, &len),
             AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_poll_event(fm, &fe, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_poll_timeout(fm, &v), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_file(fm, 0, &fs, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_data(fm, fid, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_file_mesh_meta(fm, fid, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
      airswarm_file_config_free(NULL);
      airswarm_file_mesh_free(NULL);
      if (fc != NULL || fm != NULL) failures++;
    }
    {
      airswarm_keyring *kr = NULL;
      size_t kn = 0;
      uint8_t k8 = 0;
      EXPECT(airswarm_keyring_new(0, &kr), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_keyring_import(kr, buf, 1, &kn), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_keyring_pin(kr, buf, 1, &k8), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_keyring_remove(kr, buf, 32), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_keyring_len(kr, &kn), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_keyring_export(kr, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_secure_node_set_keyring(sn, kr), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_secure_node_keyring(sn, &kr), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_secure_node_replay_state(sn, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
      EXPECT(airswarm_secure_node_restore_replay_state(sn, buf, 1), AIRSWARM_ERR_PANIC);
      airswarm_keyring_free(NULL);
      if (kr != NULL) failures++;
    }
    EXPECT(airswarm_secure_node_handle_frame(sn, 1, buf, 1, 0, 0), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_handle_frame_off_air(sn, 1, buf, 1, 0, 0), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_handle_timeout(sn, 1), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_poll_transmit(sn, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_poll_timeout(sn, &v), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_poll_event(sn, &sev, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_stat(sn, "frames_sent", &v), AIRSWARM_ERR_PANIC);
    airswarm_identity_free(NULL);
    airswarm_secure_node_free(NULL);
    if (id != NULL || sn != NULL) failures++;
  }
  {
    /* Radios. */
    airswarm_sx1276 *sx = NULL;
    airswarm_sx1276_model *sm = NULL;
    airswarm_kiss_decoder *kd = NULL;
    airswarm_rnode_host *rh = NULL;
    airswarm_sx1276_hal hal = {NULL, r_spi, r_reset, r_dio0, r_delay};
    airswarm_sx1276_rx rx;
    airswarm_rnode_event rev;
    uint8_t b8 = 0;
    EXPECT(airswarm_sx1276_model_new(1, &sm), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_model_add_chip(sm, 0, 0, &id), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_model_spi(sm, 0, buf, 1), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_model_reset(sm, 0, 1), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_model_dio0(sm, 0, &b8), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_model_delay_ns(sm, 1), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_model_now_us(sm, &v), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_new(&hal, 0, 0, &sx), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_init(sx, lc), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_transmit_start(sx, 0, buf, 1), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_transmit_check(sx, 0, &b8), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_receive_start(sx, 0), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_receive_check(sx, buf, sizeof buf, &len, &rx), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_cad_start(sx), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_cad_check(sx, &b8), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_spi_transactions(sx, &v), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_sx1276_last_error(sx, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_kiss_encode(0, buf, 1, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_kiss_decoder_new(16, &kd), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_kiss_decoder_feed(kd, buf, 1, NULL), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_kiss_decoder_poll(kd, &b8, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_rnode_host_new(lc, 1, 0, &rh), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_rnode_host_handle_bytes(rh, 0, buf, 1), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_rnode_host_handle_timeout(rh, 0), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_rnode_host_handle_closed(rh, 0), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_rnode_host_send(rh, 0, buf, 1), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_rnode_host_close(rh, 0), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_rnode_host_poll_transmit(rh, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_rnode_host_poll_event(rh, &rev, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_rnode_host_poll_timeout(rh, &v), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_rnode_host_last_error(rh, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
    airswarm_sx1276_free(NULL);
    airswarm_sx1276_model_free(NULL);
    airswarm_kiss_decoder_free(NULL);
    airswarm_rnode_host_free(NULL);
    if (sx != NULL || sm != NULL || kd != NULL || rh != NULL) failures++;
  }
  EXPECT(airswarm_test_force_panic(0), AIRSWARM_OK);
  if (n2 != NULL || rep != NULL || lc2 != NULL || nc2 != NULL || sc2 != NULL)
    failures++, fprintf(stderr, "a panicking _new wrote a handle\n");
  airswarm_sim_report_free(good);
  airswarm_sim_config_free(sc);
  airswarm_node_config_free(nc);
  airswarm_lora_config_free(lc);
  /* The node is still usable after caught panics. */
  EXPECT(airswarm_node_send(n, 0, 2, (const uint8_t *)"ok", 2, &id), AIRSWARM_OK);
  airswarm_node_free(n);
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
  printf("robustness: every call returned the expected code\n");
  return EXIT_SUCCESS;
}
