/* The plain node surface: its config, frames, sends, statistics and events, and the mesh
 * that runs nodes over links. */
#include "harness.h"
#include <inttypes.h>
#include <math.h>

airswarm_node *make_node(uint32_t address) {
  airswarm_node_config *cfg = NULL;
  airswarm_node *n = NULL;
  EXPECT(airswarm_node_config_new(&cfg), AIRSWARM_OK);
  EXPECT(airswarm_node_config_set_address(cfg, address), AIRSWARM_OK);
  EXPECT(airswarm_node_new(cfg, &n), AIRSWARM_OK);
  airswarm_node_config_free(cfg);
  return n;
}

void node(void) {
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
    /* SF12 at 7.8 kHz under 1 %: a 48-byte frame (36.9 s on air) never fits 36 s an hour.
     * The node refuses the message with the reason instead of queueing it forever. */
    airswarm_node *slow = NULL;
    uint32_t slow_id = 0;
    static const uint8_t msg32[32];
    EXPECT(airswarm_lora_config_set_bandwidth_hz(lc, 7800), AIRSWARM_OK);
    EXPECT(airswarm_node_config_set_lora(cfg, lc), AIRSWARM_OK);
    EXPECT(airswarm_node_config_set_duty_cycle_percent(cfg, 1.0), AIRSWARM_OK);
    EXPECT(airswarm_node_new(cfg, &slow), AIRSWARM_OK);
    EXPECT(airswarm_node_send(slow, 0, AIRSWARM_BROADCAST, msg32, sizeof msg32, &slow_id),
           AIRSWARM_ERR_RADIO_CONFIG);
    EXPECT_MESSAGE("could never be sent");
    EXPECT(airswarm_node_send(slow, 0, AIRSWARM_BROADCAST, msg32, 2, &slow_id), AIRSWARM_OK);
    airswarm_node_free(slow);
    EXPECT(airswarm_lora_config_set_bandwidth_hz(lc, 125000), AIRSWARM_OK);
    EXPECT(airswarm_node_config_set_lora(cfg, lc), AIRSWARM_OK);
    /* SF12 at 125 kHz under 1 %: a full frame is about 9 s on air, so five (a 1000-byte
     * message) never go out whole within 36 s an hour; three (600 bytes) do. */
    {
      static const uint8_t msg1000[1000];
      EXPECT(airswarm_node_new(cfg, &slow), AIRSWARM_OK);
      EXPECT(airswarm_node_send(slow, 0, AIRSWARM_BROADCAST, msg1000, sizeof msg1000, &slow_id),
             AIRSWARM_ERR_MESSAGE_TOO_LARGE);
      EXPECT_MESSAGE("never go out whole");
      EXPECT(airswarm_node_send(slow, 0, AIRSWARM_BROADCAST, msg1000, 600, &slow_id), AIRSWARM_OK);
      airswarm_node_free(slow);
    }
    EXPECT(airswarm_node_config_set_duty_cycle_percent(cfg, 100.0), AIRSWARM_OK);
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

/* The mesh: its arguments checked, then two plain nodes run by it, events kept in order. */
void mesh(void) {
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
