/* Airtime calculator: `airtime [SF [BW_HZ [PAYLOAD_BYTES [CR]]]]` prints the LoRa time on
 * air of one packet; with no arguments, a table for SF7..SF12 at 125 kHz. */
#include <airswarm.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* Prints the specific message of the last error, e.g. "spreading factor 13 is out of range". */
static void print_error(const char *what) {
  char msg[256];
  size_t n;
  if (airswarm_last_error_message((uint8_t *)msg, sizeof msg, &n) != AIRSWARM_OK) msg[0] = '\0';
  fprintf(stderr, "airtime: %s: %s\n", what, msg);
}

static int airtime(unsigned long sf, unsigned long bw, unsigned long len, unsigned long cr) {
  airswarm_lora_config *cfg = NULL;
  uint64_t us = 0, sym = 0;
  int bad = 1;
  if (airswarm_lora_config_new(&cfg) != AIRSWARM_OK) return 1;
  /* Each setter checks its value (a uint32_t SF of 256 is refused, not truncated to 0). */
  if (airswarm_lora_config_set_spreading_factor(cfg, (uint32_t)(sf > UINT32_MAX ? UINT32_MAX : sf)) ||
      airswarm_lora_config_set_bandwidth_hz(cfg, bw) ||
      airswarm_lora_config_set_coding_rate(cfg, (uint32_t)(cr > UINT32_MAX ? UINT32_MAX : cr)) ||
      airswarm_lora_time_on_air_us(cfg, (size_t)len, &us) ||
      airswarm_lora_symbol_time_ns(cfg, &sym)) {
    print_error("settings");
    goto out;
  }
  printf("SF%-2lu %7lu Hz CR4/%lu %3lu bytes: %8.3f ms on air (symbol %.3f ms)\n", sf, bw, cr, len,
         (double)us / 1000.0, (double)sym / 1e6);
  bad = 0;
out:
  airswarm_lora_config_free(cfg);
  return bad;
}

int main(int argc, char **argv) {
  if (argc > 1) {
    unsigned long sf = strtoul(argv[1], NULL, 10);
    unsigned long bw = argc > 2 ? strtoul(argv[2], NULL, 10) : 125000;
    unsigned long len = argc > 3 ? strtoul(argv[3], NULL, 10) : 32;
    unsigned long cr = argc > 4 ? strtoul(argv[4], NULL, 10) : 5;
    return airtime(sf, bw, len, cr) ? EXIT_FAILURE : EXIT_SUCCESS;
  }
  int bad = 0;
  for (unsigned long sf = 7; sf <= 12; sf++) bad |= airtime(sf, 125000, 32, 5);
  /* Semtech's LoRa calculator: SF7/125 kHz/CR4/5, 8-symbol preamble, explicit header,
   * CRC on, 10 bytes = 41.216 ms. */
  airswarm_lora_config *cfg = NULL;
  uint64_t us = 0;
  if (airswarm_lora_config_new(&cfg) != AIRSWARM_OK) return EXIT_FAILURE;
  if (airswarm_lora_time_on_air_us(cfg, 10, &us) != AIRSWARM_OK || us < 41000 || us > 41300) {
    fprintf(stderr, "airtime: SF7 10 bytes gave %" PRIu64 " us, expected about 41216\n", us);
    bad = 1;
  }
  /* An invalid spreading factor must be refused, and the config keep its valid value. */
  if (airswarm_lora_config_set_spreading_factor(cfg, 13) != AIRSWARM_ERR_RADIO_CONFIG ||
      airswarm_lora_time_on_air_us(cfg, 10, &us) != AIRSWARM_OK || us > 41300) {
    fprintf(stderr, "airtime: SF13 was not refused\n");
    bad = 1;
  }
  airswarm_lora_config_free(cfg);
  return bad ? EXIT_FAILURE : EXIT_SUCCESS;
}
