/* Airtime calculator: `airtime [SF [BW_HZ [PAYLOAD_BYTES [CR]]]]` prints the LoRa time on
 * air of one packet; with no arguments, a table for SF7..SF12 at 125 kHz. */
#include <airswarm.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static int airtime(unsigned sf, unsigned long bw, unsigned long len, unsigned cr) {
  airswarm_lora_config cfg;
  airswarm_lora_config_default(&cfg);
  cfg.spreading_factor = (uint8_t)sf;
  cfg.bandwidth_hz = (uint32_t)bw;
  cfg.coding_rate = (uint8_t)cr;
  uint64_t us = 0, sym = 0;
  airswarm_result r = airswarm_lora_time_on_air_us(&cfg, (size_t)len, &us);
  if (r == AIRSWARM_OK) r = airswarm_lora_symbol_time_ns(&cfg, &sym);
  if (r != AIRSWARM_OK) {
    char msg[128];
    size_t n;
    airswarm_result_message((uint32_t)r, (uint8_t *)msg, sizeof msg, &n);
    fprintf(stderr, "airtime: SF%u %lu Hz %lu bytes: %s\n", sf, bw, len, msg);
    return 1;
  }
  printf("SF%-2u %7lu Hz CR4/%u %3lu bytes: %8.3f ms on air (symbol %.3f ms)\n", sf, bw, cr, len,
         (double)us / 1000.0, (double)sym / 1e6);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1) {
    unsigned sf = (unsigned)strtoul(argv[1], NULL, 10);
    unsigned long bw = argc > 2 ? strtoul(argv[2], NULL, 10) : 125000;
    unsigned long len = argc > 3 ? strtoul(argv[3], NULL, 10) : 32;
    unsigned cr = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 5;
    return airtime(sf, bw, len, cr) ? EXIT_FAILURE : EXIT_SUCCESS;
  }
  int bad = 0;
  for (unsigned sf = 7; sf <= 12; sf++) bad |= airtime(sf, 125000, 32, 5);
  /* Semtech's LoRa calculator: SF7/125 kHz/CR4/5, 8-symbol preamble, explicit header,
   * CRC on, 10 bytes = 41.216 ms. */
  airswarm_lora_config cfg;
  uint64_t us = 0;
  airswarm_lora_config_default(&cfg);
  if (airswarm_lora_time_on_air_us(&cfg, 10, &us) != AIRSWARM_OK || us < 41000 || us > 41300) {
    fprintf(stderr, "airtime: SF7 10 bytes gave %" PRIu64 " us, expected about 41216\n", us);
    bad = 1;
  }
  /* An invalid spreading factor must be refused, not computed. */
  cfg.spreading_factor = 13;
  if (airswarm_lora_time_on_air_us(&cfg, 10, &us) != AIRSWARM_ERR_RADIO_CONFIG) {
    fprintf(stderr, "airtime: SF13 was not refused\n");
    bad = 1;
  }
  return bad ? EXIT_FAILURE : EXIT_SUCCESS;
}
