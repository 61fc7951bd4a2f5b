/* The file surface: files over the mesh, and the secure node calls a file host uses. */
#include "harness.h"

/* Files over the mesh: every entry point with NULLs, bad lengths, bad names, unknown ids,
 * corrupt payloads, too-small buffers and struct sizes; a share, its metainfo and resume. */
void file_mesh(const char *pem_path) {
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
