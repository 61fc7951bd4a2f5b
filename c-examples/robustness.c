/* Every entry point given NULL pointers, zero lengths, too-small buffers, out-of-range
 * values and a forced panic (airswarm_test_force_panic, test-only) must return an error
 * code and never crash. Also runs a tiny simulation and reads its report. */
#include "common.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static airswarm_node *make_node(uint32_t address) {
  airswarm_node_config cfg;
  airswarm_node *n = NULL;
  EXPECT(airswarm_node_config_default(&cfg), AIRSWARM_OK);
  cfg.address = address;
  EXPECT(airswarm_node_new(&cfg, &n), AIRSWARM_OK);
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
}

static void lora(void) {
  airswarm_lora_config cfg;
  uint64_t v = 0;
  EXPECT(airswarm_lora_config_default(NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_config_default(&cfg), AIRSWARM_OK);
  EXPECT(airswarm_lora_config_validate(NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_config_validate(&cfg), AIRSWARM_OK);
  EXPECT(airswarm_lora_time_on_air_us(NULL, 10, &v), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_time_on_air_us(&cfg, 10, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_time_on_air_us(&cfg, 0, &v), AIRSWARM_OK);
  EXPECT(airswarm_lora_time_on_air_us(&cfg, 256, &v), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_lora_time_on_air_us(&cfg, (size_t)-1, &v), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_lora_symbol_time_ns(NULL, &v), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_lora_symbol_time_ns(&cfg, NULL), AIRSWARM_ERR_NULL);
  airswarm_lora_config bad = cfg;
  bad.crc = 7;
  EXPECT(airswarm_lora_config_validate(&bad), AIRSWARM_ERR_INVALID_ARGUMENT);
  bad = cfg;
  bad.ldro = 9;
  EXPECT(airswarm_lora_time_on_air_us(&bad, 10, &v), AIRSWARM_ERR_INVALID_ARGUMENT);
  bad = cfg;
  bad.spreading_factor = 0;
  EXPECT(airswarm_lora_symbol_time_ns(&bad, &v), AIRSWARM_ERR_RADIO_CONFIG);
  bad = cfg;
  bad.bandwidth_hz = 0;
  EXPECT(airswarm_lora_time_on_air_us(&bad, 10, &v), AIRSWARM_ERR_RADIO_CONFIG);
}

static void node(void) {
  airswarm_node_config cfg;
  airswarm_node *n = NULL;
  uint8_t buf[AIRSWARM_MAX_FRAME];
  size_t len = 0;
  uint64_t t = 0;
  uint32_t id = 0;
  airswarm_event ev;

  EXPECT(airswarm_node_config_default(NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_config_default(&cfg), AIRSWARM_OK);
  EXPECT(airswarm_node_new(NULL, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_new(&cfg, NULL), AIRSWARM_ERR_NULL);
  airswarm_node_config bad = cfg;
  bad.strategy = 77;
  EXPECT(airswarm_node_new(&bad, &n), AIRSWARM_ERR_INVALID_ARGUMENT);
  bad = cfg;
  bad.duty_cycle = -1.0;
  EXPECT(airswarm_node_new(&bad, &n), AIRSWARM_ERR_INVALID_ARGUMENT);
  bad = cfg;
  bad.lora.spreading_factor = 40;
  EXPECT(airswarm_node_new(&bad, &n), AIRSWARM_ERR_RADIO_CONFIG);
  bad = cfg;
  bad.address = AIRSWARM_BROADCAST;
  EXPECT(airswarm_node_new(&bad, &n), AIRSWARM_ERR_NODE_CONFIG);
  if (n != NULL) failures++, fprintf(stderr, "a failed node_new wrote a handle\n");
  airswarm_node_free(NULL);

  n = make_node(1);
  airswarm_node *m = make_node(2);
  EXPECT(airswarm_node_handle_frame(NULL, 0, buf, 10, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_handle_frame(n, 0, NULL, 10, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_handle_frame(n, 0, NULL, 0, 0, 0), AIRSWARM_ERR_BAD_FRAME);
  memset(buf, 0xAB, sizeof buf);
  EXPECT(airswarm_node_handle_frame(n, 0, buf, sizeof buf, 0, 0), AIRSWARM_ERR_BAD_FRAME);
  EXPECT(airswarm_node_handle_frame(n, 0, buf, (size_t)-1, 0, 0), AIRSWARM_ERR_INVALID_ARGUMENT);

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
  EXPECT(airswarm_node_send_content(n, 0, 2, 200, buf, 4, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
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
  airswarm_node_stats st;
  EXPECT(airswarm_node_stats_get(NULL, &st), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_stats_get(n, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_node_stats_get(n, &st), AIRSWARM_OK);
  if (st.bad_frames != 2) failures++, fprintf(stderr, "bad_frames %llu\n",
                                              (unsigned long long)st.bad_frames);
  if (st.route_fallbacks != 0) failures++, fprintf(stderr, "route_fallbacks %llu\n",
                                                   (unsigned long long)st.route_fallbacks);

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

static void sim(void) {
  airswarm_sim_config cfg;
  airswarm_sim_report *rep = NULL;
  airswarm_sim_summary sum;
  size_t len = 0;
  EXPECT(airswarm_sim_config_default(NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_config_default(&cfg), AIRSWARM_OK);
  cfg.nodes = 6;
  cfg.area_m = 2000.0;
  cfg.messages = 2;
  cfg.drain_ms = 60000;
  EXPECT(airswarm_sim_run(NULL, &rep), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_run(&cfg, NULL), AIRSWARM_ERR_NULL);
  airswarm_sim_config bad = cfg;
  bad.nodes = 0;
  EXPECT(airswarm_sim_run(&bad, &rep), AIRSWARM_ERR_SIM_CONFIG);
  bad = cfg;
  bad.listen_before_talk = 3;
  EXPECT(airswarm_sim_run(&bad, &rep), AIRSWARM_ERR_INVALID_ARGUMENT);
  bad = cfg;
  bad.strategy = 3;
  EXPECT(airswarm_sim_run(&bad, &rep), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_sim_run(&cfg, &rep), AIRSWARM_OK);
  EXPECT(airswarm_sim_report_summary(NULL, &sum), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_report_summary(rep, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_report_summary(rep, &sum), AIRSWARM_OK);
  if (sum.nodes != 6 || sum.delivery_ratio < 0.0 || sum.delivery_ratio > 1.0)
    failures++, fprintf(stderr, "summary nodes %zu ratio %f\n", sum.nodes, sum.delivery_ratio);
  EXPECT(airswarm_sim_report_json(NULL, NULL, 0, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_report_json(rep, NULL, 0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sim_report_json(rep, NULL, 0, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  char *json = malloc(len);
  if (json != NULL) {
    EXPECT(airswarm_sim_report_json(rep, (uint8_t *)json, len, &len), AIRSWARM_OK);
    if (json[0] != '{' || strlen(json) != len) failures++, fprintf(stderr, "json %s\n", json);
    free(json);
  }
  printf("sim: %zu nodes, delivery ratio %.2f, %llu transmissions\n", sum.nodes,
         sum.delivery_ratio, (unsigned long long)sum.transmissions);
  airswarm_sim_report_free(rep);
  airswarm_sim_report_free(NULL);
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
  airswarm_metainfo_summary s;
  EXPECT(airswarm_metainfo_summary_get(NULL, &s), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_summary_get(m, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_summary_get(m, &s), AIRSWARM_OK);
  if (s.piece_count != 1 || s.total_length != 5 || s.file_count != 1) failures++;
  airswarm_file_entry f;
  EXPECT(airswarm_metainfo_file(NULL, 0, &f, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_file(m, 0, NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_file(m, 0, &f, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_file(m, 1, &f, buf, sizeof buf, &len), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_file(m, (size_t)-1, &f, buf, sizeof buf, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_file(m, 0, &f, NULL, 0, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
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

  airswarm_piece_hasher *h = NULL;
  EXPECT(airswarm_piece_hasher_new(NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_piece_hasher_new(&h), AIRSWARM_OK);
  EXPECT(airswarm_piece_hasher_update(NULL, hello, 2), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_piece_hasher_update(h, NULL, 2), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_piece_hasher_update(h, NULL, 0), AIRSWARM_OK);
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
static void crypto(const char *pem_path) {
  size_t plen = 0, len = 0;
  uint8_t *pem = read_file(pem_path, &plen);
  if (pem == NULL) {
    failures++;
    return;
  }
  uint8_t seed[AIRSWARM_KEY_LEN] = {1}, buf[64];
  airswarm_identity *id = NULL;
  EXPECT(airswarm_identity_generate(NULL, 32, &id), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_identity_generate(seed, 31, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_identity_generate(seed, 0, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_identity_generate(seed, 32, NULL), AIRSWARM_ERR_NULL);
  {
    /* The same seed gives the same key. */
    airswarm_identity *g1 = NULL, *g2 = NULL;
    uint8_t f1[AIRSWARM_FINGERPRINT_LEN], f2[AIRSWARM_FINGERPRINT_LEN];
    EXPECT(airswarm_identity_generate(seed, 32, &g1), AIRSWARM_OK);
    EXPECT(airswarm_identity_generate(seed, 32, &g2), AIRSWARM_OK);
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

  airswarm_node_config cfg;
  airswarm_secure_node *n = NULL;
  uint8_t key[AIRSWARM_KEY_LEN] = {7};
  airswarm_node_config_default(&cfg);
  EXPECT(airswarm_secure_node_new(NULL, id, key, 32, 0, seed, 32, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new(&cfg, NULL, key, 32, 0, seed, 32, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new(&cfg, id, NULL, 32, 0, seed, 32, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new(&cfg, id, key, 16, 0, seed, 32, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_new(&cfg, id, key, 32, 2, seed, 32, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_new(&cfg, id, key, 32, 0, NULL, 32, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new(&cfg, id, key, 32, 0, seed, 0, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_new(&cfg, id, key, 32, 0, seed, 32, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new(&cfg, id, NULL, 0, 0, seed, 32, &n), AIRSWARM_OK);
  airswarm_secure_node_free(n);
  n = NULL;
  EXPECT(airswarm_secure_node_new(&cfg, id, key, 32, 0, seed, 32, &n), AIRSWARM_OK);
  airswarm_identity_free(id); /* the node keeps its own copy */
  airswarm_secure_node_free(NULL);
  airswarm_identity_free(NULL);

  uint32_t mid = 0;
  uint8_t waiting = 9;
  airswarm_secure_event ev;
  uint64_t t;
  EXPECT(airswarm_secure_node_announce(NULL, 1, &mid), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_announce(n, 1, NULL), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_send(NULL, 1, 5, buf, 4, &mid, &waiting), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_send(n, 1, 5, NULL, 4, &mid, &waiting), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_send(n, 1, addr, buf, 4, &mid, &waiting), AIRSWARM_ERR_SEND_TO_SELF);
  EXPECT(airswarm_secure_node_send(n, 1, 5, buf, 4, &mid, &waiting), AIRSWARM_ERR_CRYPTO);
  EXPECT(airswarm_secure_node_send(n, 1, AIRSWARM_BROADCAST, NULL, 0, NULL, NULL), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_send(n, 1, AIRSWARM_BROADCAST, buf, 4, &mid, &waiting), AIRSWARM_OK);
  if (waiting != 0) failures++;
  EXPECT(airswarm_secure_node_handle_frame(NULL, 1, buf, 4, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_handle_frame(n, 1, NULL, 4, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_handle_frame(n, 1, NULL, 0, 0, 0), AIRSWARM_ERR_BAD_FRAME);
  EXPECT(airswarm_secure_node_handle_timeout(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_timeout(NULL, &t), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_timeout(n, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_transmit(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_transmit(n, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_transmit(n, buf, 1, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_secure_node_poll_event(NULL, &ev, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_event(n, NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_event(n, &ev, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  airswarm_secure_node_free(n);
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
  airswarm_lora_config lc;
  airswarm_lora_config_default(&lc);
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
  EXPECT(airswarm_sx1276_init(NULL, &lc), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_sx1276_init(r, NULL), AIRSWARM_ERR_NULL);
  airswarm_lora_config bad = lc;
  bad.spreading_factor = 13;
  EXPECT(airswarm_sx1276_init(r, &bad), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT(airswarm_sx1276_init(r, &lc), AIRSWARM_OK);
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
  EXPECT(airswarm_rnode_host_new(&lc, 2, 0, &h), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_rnode_host_new(&bad, 1, 0, &h), AIRSWARM_ERR_RADIO_CONFIG);
  EXPECT(airswarm_rnode_host_new(&lc, 1, 0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_rnode_host_new(&lc, 1, 0, &h), AIRSWARM_OK);
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
}

static void panics(void) {
  airswarm_node *n = make_node(1);
  airswarm_lora_config lc;
  airswarm_node_config nc;
  airswarm_sim_config sc;
  airswarm_lora_config_default(&lc);
  airswarm_node_config_default(&nc);
  airswarm_sim_config_default(&sc);
  uint8_t buf[64];
  size_t len;
  uint64_t v;
  uint32_t id, id32;
  airswarm_event ev;
  airswarm_node_stats st;
  airswarm_node *n2 = NULL;
  airswarm_sim_report *rep = NULL;
  airswarm_sim_summary sum;

  EXPECT(airswarm_test_panic(), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_test_force_panic(1), AIRSWARM_OK);
  EXPECT(airswarm_result_message(0, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_version(buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_config_default(&lc), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_config_validate(&lc), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_time_on_air_us(&lc, 10, &v), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_lora_symbol_time_ns(&lc, &v), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_config_default(&nc), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_new(&nc, &n2), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_handle_frame(n, 0, buf, sizeof buf, 0, 0), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_send(n, 0, 2, buf, 4, &id), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_send_content(n, 0, 2, 0, buf, 4, &id), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_handle_timeout(n, 0), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_poll_transmit(n, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_poll_event(n, &ev, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_poll_timeout(n, &v), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_address(n, &id), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_node_stats_get(n, &st), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_config_default(&sc), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_run(&sc, &rep), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_report_summary(rep, &sum), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_sim_report_json(rep, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  airswarm_sim_report_free(NULL); /* panics inside, caught, returns */
  airswarm_metainfo *meta = NULL;
  airswarm_piece_hasher *ph = NULL;
  EXPECT(airswarm_bencode_validate((const uint8_t *)"i1e", 3, &len), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_metainfo_parse((const uint8_t *)TORRENT, sizeof TORRENT - 1, &meta),
         AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_metainfo_info_hash(meta, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  EXPECT(airswarm_metainfo_name(meta, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
  {
    airswarm_metainfo_summary ms;
    airswarm_file_entry fe;
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
    airswarm_secure_event sev;
    EXPECT(airswarm_identity_generate(seed, 32, &id), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_identity_from_pem(seed, 32, &id), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_identity_address(id, &id32), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_identity_fingerprint(id, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_new(&nc, id, NULL, 0, 0, seed, 32, &sn), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_announce(sn, 1, &id32), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_send(sn, 1, 2, buf, 1, &id32, NULL), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_handle_frame(sn, 1, buf, 1, 0, 0), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_handle_timeout(sn, 1), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_poll_transmit(sn, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_poll_timeout(sn, &v), AIRSWARM_ERR_PANIC);
    EXPECT(airswarm_secure_node_poll_event(sn, &sev, buf, sizeof buf, &len), AIRSWARM_ERR_PANIC);
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
    EXPECT(airswarm_sx1276_init(sx, &lc), AIRSWARM_ERR_PANIC);
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
    EXPECT(airswarm_rnode_host_new(&lc, 1, 0, &rh), AIRSWARM_ERR_PANIC);
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
  if (n2 != NULL || rep != NULL) failures++, fprintf(stderr, "a panicking _new wrote a handle\n");
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
  sim();
  torrent();
  crypto(argv[1]);
  radio();
  panics();
  if (failures) {
    fprintf(stderr, "robustness: %d failures\n", failures);
    return EXIT_FAILURE;
  }
  printf("robustness: every call returned the expected code\n");
  return EXIT_SUCCESS;
}
