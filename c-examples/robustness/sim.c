/* The simulator surface: config setters and their limits, runs, and every report field. */
#include "harness.h"
#include <math.h>

/* A small plain scenario: 6 nodes, 2 km, 2 messages. */
airswarm_sim_config *small_sim(void) {
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

void sim(void) {
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
void sim_limits(void) {
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
  /* At a 1 % duty cycle a message this long never goes out whole (255 frames, 101.6 s
   * on air, against 36 s an hour); without a limit it would. */
  EXPECT(airswarm_sim_config_set_payload(cfg, 60000), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_set_duty_cycle_percent(cfg, 1.0), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_validate(cfg), AIRSWARM_ERR_SIM_CONFIG);
  EXPECT_MESSAGE("never go out whole");
  EXPECT(airswarm_sim_config_set_duty_cycle_percent(cfg, 100.0), AIRSWARM_OK);
  EXPECT(airswarm_sim_config_validate(cfg), AIRSWARM_OK);
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
void sim_crypto_acks(void) {
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
