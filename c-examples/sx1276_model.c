/* Drives the SX1276 driver through its C callback surface (SPI transfer, RESET, DIO0 and
 * delay with a `void *userdata`), with the callbacks wired to airswarm's register-level
 * SX1276 model instead of /dev/spidev0.1 and GPIO: two modelled chips 25 m apart exchange
 * 1-, 100- and 255-byte packets through the simulated channel. On a Raspberry Pi the same
 * callbacks would call ioctl(SPI_IOC_MESSAGE) and libgpiod. Also shows a wiring error
 * (a bus that reads 0x00) and a KISS round trip. */
#include <airswarm.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  airswarm_sx1276_model *model;
  uint32_t chip;
  int dead_bus; /* simulate a missing chip: every byte read is 0x00 */
} chip_ctx;

static int32_t spi_transfer(void *userdata, uint8_t *buf, size_t len) {
  chip_ctx *c = userdata;
  if (c->dead_bus) {
    memset(buf, 0, len);
    return 0;
  }
  return airswarm_sx1276_model_spi(c->model, c->chip, buf, len) == AIRSWARM_OK ? 0 : -1;
}

static int32_t reset_write(void *userdata, uint8_t level) {
  chip_ctx *c = userdata;
  return airswarm_sx1276_model_reset(c->model, c->chip, level) == AIRSWARM_OK ? 0 : -1;
}

static int32_t dio0_read(void *userdata, uint8_t *level) {
  chip_ctx *c = userdata;
  return airswarm_sx1276_model_dio0(c->model, c->chip, level) == AIRSWARM_OK ? 0 : -1;
}

static void delay_ns(void *userdata, uint32_t ns) {
  chip_ctx *c = userdata;
  airswarm_sx1276_model_delay_ns(c->model, ns);
}

static airswarm_sx1276 *make_radio(chip_ctx *ctx) {
  airswarm_sx1276_hal hal = {ctx, spi_transfer, reset_write, dio0_read, delay_ns};
  airswarm_sx1276 *r = NULL;
  if (airswarm_sx1276_new(&hal, 0, 1, &r) != AIRSWARM_OK) return NULL;
  return r;
}

static uint64_t now_ms(airswarm_sx1276_model *m) {
  uint64_t us = 0;
  airswarm_sx1276_model_now_us(m, &us);
  return us / 1000;
}

static int fail(const char *what, airswarm_sx1276 *r) {
  char msg[256];
  size_t n = 0;
  msg[0] = 0;
  if (r != NULL) airswarm_sx1276_last_error(r, (uint8_t *)msg, sizeof msg, &n);
  fprintf(stderr, "sx1276_model: %s failed: %s\n", what, msg);
  return 1;
}

int main(void) {
  int rc = 1;
  airswarm_sx1276_model *model = NULL;
  airswarm_sx1276 *a = NULL, *b = NULL, *dead = NULL;
  airswarm_lora_config *cfg = NULL;
  if (airswarm_sx1276_model_new(7, &model) != AIRSWARM_OK) return 1;
  chip_ctx ca = {model, 0, 0}, cb = {model, 0, 0}, cd = {model, 0, 1};
  if (airswarm_sx1276_model_add_chip(model, 0.0, 0.0, &ca.chip) != AIRSWARM_OK ||
      airswarm_sx1276_model_add_chip(model, 25.0, 0.0, &cb.chip) != AIRSWARM_OK ||
      airswarm_sx1276_model_add_chip(model, 50.0, 0.0, &cd.chip) != AIRSWARM_OK)
    goto out;
  a = make_radio(&ca);
  b = make_radio(&cb);
  dead = make_radio(&cd);
  if (a == NULL || b == NULL || dead == NULL) goto out;

  /* 868.1 MHz, SF7, 125 kHz, CR 4/5, 14 dBm */
  if (airswarm_lora_config_new(&cfg) != AIRSWARM_OK) goto out;
  if (airswarm_sx1276_init(a, cfg) != AIRSWARM_OK) { rc = fail("init A", a); goto out; }
  if (airswarm_sx1276_init(b, cfg) != AIRSWARM_OK) { rc = fail("init B", b); goto out; }

  /* A chip that does not answer is named by the version it read. */
  char msg[256];
  size_t mlen = 0;
  if (airswarm_sx1276_init(dead, cfg) != AIRSWARM_ERR_RADIO_HARDWARE) goto out;
  airswarm_sx1276_last_error(dead, (uint8_t *)msg, sizeof msg, &mlen);
  if (strstr(msg, "0x00") == NULL) goto out;
  printf("dead bus: %s\n", msg);

  if (airswarm_sx1276_receive_start(b, 0) != AIRSWARM_OK) { rc = fail("receive", b); goto out; }
  const size_t sizes[] = {1, 100, 255};
  for (size_t k = 0; k < 3; k++) {
    uint8_t payload[255], got[255];
    for (size_t i = 0; i < sizes[k]; i++) payload[i] = (uint8_t)(i * 13 + k);
    uint64_t tx0 = 0, tx1 = 0, rx0 = 0, rx1 = 0;
    airswarm_sx1276_spi_transactions(a, &tx0);
    airswarm_sx1276_spi_transactions(b, &rx0);
    if (airswarm_sx1276_transmit_start(a, now_ms(model), payload, sizes[k]) != AIRSWARM_OK) {
      rc = fail("transmit", a);
      goto out;
    }
    uint8_t done = 0;
    for (int ms = 0; ms < 2000 && !done; ms++) {
      if (airswarm_sx1276_transmit_check(a, now_ms(model), &done) != AIRSWARM_OK) {
        rc = fail("transmit check", a);
        goto out;
      }
      if (!done) delay_ns(&ca, 1000000); /* 1 ms of model time */
    }
    airswarm_sx1276_rx info;
    size_t len = 0;
    if (!done || airswarm_sx1276_receive_check(b, got, sizeof got, &len, &info) != AIRSWARM_OK ||
        info.status != AIRSWARM_SX1276_RX_PACKET || len != sizes[k] ||
        memcmp(got, payload, len) != 0) {
      rc = fail("receive check", b);
      goto out;
    }
    airswarm_sx1276_spi_transactions(a, &tx1);
    airswarm_sx1276_spi_transactions(b, &rx1);
    printf("%3zu bytes: RSSI %d dBm, SNR %.2f dB, SPI transactions: transmit %" PRIu64
           ", receive %" PRIu64 "\n",
           len, info.rssi_dbm, info.snr_quarter_db / 4.0, tx1 - tx0, rx1 - rx0);
  }

  /* KISS: encode a frame with bytes that need escaping, decode it from a noisy stream. */
  uint8_t frame[16], data[8];
  size_t flen = 0, dlen = 0;
  uint8_t cmd = 0xFF;
  const uint8_t raw[3] = {0xC0, 0xDB, 0x01};
  airswarm_kiss_decoder *dec = NULL;
  if (airswarm_kiss_encode(0x00, raw, 3, frame, sizeof frame, &flen) != AIRSWARM_OK) goto out;
  if (airswarm_kiss_decoder_new(64, &dec) != AIRSWARM_OK) goto out;
  const uint8_t noise[4] = {0x11, 0x22, 0xDB, 0x33};
  airswarm_kiss_decoder_feed(dec, noise, sizeof noise, NULL);
  airswarm_kiss_decoder_feed(dec, frame, flen, NULL);
  airswarm_result pr = airswarm_kiss_decoder_poll(dec, &cmd, data, sizeof data, &dlen);
  airswarm_kiss_decoder_free(dec);
  if (pr != AIRSWARM_OK || cmd != 0 || dlen != 3 || memcmp(data, raw, 3) != 0) goto out;
  printf("KISS: %zu-byte frame decoded after line noise\n", flen);
  rc = 0;
out:
  airswarm_lora_config_free(cfg);
  airswarm_sx1276_free(a);
  airswarm_sx1276_free(b);
  airswarm_sx1276_free(dead);
  airswarm_sx1276_model_free(model);
  if (rc) fprintf(stderr, "sx1276_model: FAILED\n");
  return rc;
}
