/* The radio surface: LoRa settings, the SX1276 driver and its register model, KISS and the
 * RNode host. */
#include "harness.h"

void lora(void) {
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

/* Radios (SX1276 driver, model, KISS, RNode host): NULLs, bad values, small buffers. The
 * HAL callbacks drive chip 0 of a model; panics() uses them too. */
int32_t r_spi(void *u, uint8_t *b, size_t n) {
  return airswarm_sx1276_model_spi(u, 0, b, n) == AIRSWARM_OK ? 0 : -1;
}
int32_t r_reset(void *u, uint8_t l) {
  return airswarm_sx1276_model_reset(u, 0, l) == AIRSWARM_OK ? 0 : -1;
}
int32_t r_dio0(void *u, uint8_t *l) {
  return airswarm_sx1276_model_dio0(u, 0, l) == AIRSWARM_OK ? 0 : -1;
}
void r_delay(void *u, uint32_t ns) { airswarm_sx1276_model_delay_ns(u, ns); }

void radio(void) {
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
