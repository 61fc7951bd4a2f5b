/* The forced-panic surface: every entry point once more, with a panic forced inside. */
#include "harness.h"

/* With forced panics on, every entry point must report AIRSWARM_ERR_PANIC. The Makefile
 * checks that this one function calls every function in the header. */
void panics(void) {
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
    EXPECT(airswarm_secure_node_announce_to(sn, 1, 2, &id32), AIRSWARM_ERR_PANIC);
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
        uint64_t ms = 0;
        EXPECT(airswarm_secure_node_announcement_airtime(sn, &ms), AIRSWARM_ERR_PANIC);
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
