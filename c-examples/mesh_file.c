/* Files over the mesh: three secure nodes in a line (1 - 2 - 3; 1 and 3 out of each
 * other's range) with RSA identities from PKCS#8 PEM files. They announce their keys;
 * node 1 shares a 5000-byte file (8 pieces), nodes 2 and 3 fetch it when it is offered,
 * and node 3 gets it through node 2, byte-identical. Then bad input: corrupt payloads, a
 * tampered piece, unknown ids and bad arguments give clear errors and change nothing.
 * In-memory radio, fake clock. Usage: mesh_file KEY1.pem KEY2.pem KEY3.pem */
#include "common.h"
#include <inttypes.h>
#include <string.h>

#define NODES 3
#define FILE_LEN 5000

static airswarm_identity *ids[NODES];
static airswarm_secure_node *nodes[NODES];
static airswarm_file_mesh *files[NODES];
static uint32_t addr[NODES];
static int pinned[NODES], completed[NODES];
static uint64_t now = 1;

/* The node's delivered messages: file payloads go to its file engine. */
static int node_events(int i, int *activity) {
  airswarm_secure_event ev = {.struct_size = sizeof(airswarm_secure_event)};
  static uint8_t payload[AIRSWARM_MAX_MESSAGE];
  size_t len = 0;
  airswarm_result r;
  while ((r = airswarm_secure_node_poll_event(nodes[i], &ev, payload, sizeof payload, &len)) ==
         AIRSWARM_OK) {
    *activity = 1;
    uint8_t is_file = 0;
    if (ev.kind == AIRSWARM_SECURE_EVENT_PEER_PINNED) pinned[i]++;
    if (ev.kind != AIRSWARM_SECURE_EVENT_MESSAGE) continue;
    if (check(airswarm_file_mesh_is_file_payload(payload, len, &is_file), "is_file_payload"))
      return 1;
    if (!is_file) continue;
    r = airswarm_file_mesh_handle_message(files[i], now, ev.src, payload, len, nodes[i], NULL);
    if (check(r, "file_mesh_handle_message")) return 1;
  }
  return r != AIRSWARM_DONE && check(r, "secure_node_poll_event");
}

/* The file engine's events (fetch what is offered) and messages (sent through the node). */
static int file_traffic(int i, int *activity) {
  airswarm_file_event fe = {.struct_size = sizeof(airswarm_file_event)};
  char text[256];
  size_t len = 0;
  airswarm_result r;
  while ((r = airswarm_file_mesh_poll_event(files[i], &fe, (uint8_t *)text, sizeof text, &len)) ==
         AIRSWARM_OK) {
    *activity = 1;
    if (fe.kind == AIRSWARM_FILE_EVENT_OFFERED) {
      printf("t=%" PRIu64 "ms node %d: offered %.*s (%" PRIu32 " bytes), fetching\n", now, i + 1,
             (int)len, text, fe.size);
      if (check(airswarm_file_mesh_fetch(files[i], now, fe.file), "fetch")) return 1;
    } else if (fe.kind == AIRSWARM_FILE_EVENT_PIECE) {
      printf("t=%" PRIu64 "ms node %d: piece %" PRIu32 " (%" PRIu32 "/%" PRIu32 ")\n", now, i + 1,
             fe.index, fe.have, fe.pieces);
    } else if (fe.kind == AIRSWARM_FILE_EVENT_COMPLETED) {
      printf("t=%" PRIu64 "ms node %d: file complete\n", now, i + 1);
      completed[i] = 1;
    } else if (fe.kind == AIRSWARM_FILE_EVENT_REJECTED) {
      printf("node %d: metainfo refused: %.*s\n", i + 1, (int)len, text);
    }
  }
  if (r != AIRSWARM_DONE && check(r, "file_mesh_poll_event")) return 1;
  static uint8_t out[AIRSWARM_MAX_MESSAGE];
  /* File pieces are polite traffic: they wait while the channel is busy (>= 25 %). */
  double util = 0.0;
  if (check(airswarm_secure_node_channel_utilisation(nodes[i], now, &util), "utilisation")) return 1;
  if (check(airswarm_file_mesh_set_channel_utilisation(files[i], util), "set_utilisation")) return 1;
  for (;;) {
    size_t queued = 0;
    uint32_t scope = 0;
    if (check(airswarm_secure_node_queued_frames(nodes[i], &queued), "queued_frames")) return 1;
    r = airswarm_file_mesh_poll_transmit(files[i], now, queued, &scope, out, sizeof out, &len);
    if (r == AIRSWARM_DONE) return 0;
    if (check(r, "file_mesh_poll_transmit")) return 1;
    *activity = 1;
    r = scope == AIRSWARM_FILE_SCOPE_MESH
            ? airswarm_secure_node_send(nodes[i], now, AIRSWARM_BROADCAST, out, len, NULL, NULL)
            : airswarm_secure_node_send_on_channel_one_hop(nodes[i], now, 0, out, len, NULL);
    if (check(r, "send file message")) return 1;
  }
}

/* Radio between neighbours in the line, node and file events, then the clock moves to
 * the earliest timer. Returns 1 on error; stops when `*done` is set or time runs out. */
static int run(int *done, uint64_t until) {
  while (!*done && now < until) {
    int activity = 0;
    for (int i = 0; i < NODES; i++) {
      uint8_t frame[AIRSWARM_MAX_FRAME];
      size_t len = 0;
      airswarm_result r;
      while ((r = airswarm_secure_node_poll_transmit(nodes[i], frame, sizeof frame, &len)) ==
             AIRSWARM_OK) {
        activity = 1;
        for (int j = i - 1; j <= i + 1; j += 2) {
          if (j < 0 || j >= NODES) continue;
          r = airswarm_secure_node_handle_frame(nodes[j], now, frame, len, -95.0f, 4.0f);
          if (check(r, "handle_frame")) return 1;
        }
      }
      if (r != AIRSWARM_DONE && check(r, "poll_transmit")) return 1;
      if (node_events(i, &activity) || file_traffic(i, &activity)) return 1;
    }
    if (activity) continue;
    uint64_t next = UINT64_MAX, t;
    for (int i = 0; i < NODES; i++) {
      if (airswarm_secure_node_poll_timeout(nodes[i], &t) == AIRSWARM_OK && t < next) next = t;
      if (airswarm_file_mesh_poll_timeout(files[i], &t) == AIRSWARM_OK && t < next) next = t;
    }
    if (next == UINT64_MAX) break;
    now = next > now ? next : now + 1;
    for (int i = 0; i < NODES; i++) {
      if (check(airswarm_secure_node_handle_timeout(nodes[i], now), "handle_timeout")) return 1;
      if (check(airswarm_file_mesh_handle_timeout(files[i], now), "file_handle_timeout")) return 1;
    }
  }
  return 0;
}

#define WANT(call, code)                                                                       \
  do {                                                                                         \
    airswarm_result got_ = (call);                                                             \
    if (got_ != (code)) {                                                                      \
      fprintf(stderr, "%s returned %d, expected %d\n", #call, (int)got_, (int)(code));         \
      bad++;                                                                                   \
    } else if (got_ != AIRSWARM_OK) {                                                          \
      report("  as expected: " #call, got_);                                                   \
    }                                                                                          \
  } while (0)

/* Bad input to node 3's engine after the transfer: nothing crashes, every call says why. */
static int bad_input(airswarm_file_id id, const uint8_t *original) {
  int bad = 0;
  airswarm_file_id unknown = {{0}};
  static uint8_t buf[FILE_LEN + 1024];
  size_t len = 0, meta_len = 0;
  /* Not file traffic at all, a file tag with a truncated body, random bytes. */
  const uint8_t junk[] = {0xF1, 0x03, 1, 2, 3};
  WANT(airswarm_file_mesh_handle_message(files[2], now, addr[1], junk, sizeof junk, nodes[2], NULL),
       AIRSWARM_ERR_BAD_FILE_MESSAGE);
  WANT(airswarm_file_mesh_handle_message(files[2], now, addr[1], junk, 1, nodes[2], NULL),
       AIRSWARM_ERR_BAD_FILE_MESSAGE);
  WANT(airswarm_file_mesh_handle_message(files[2], now, addr[1], NULL, 0, nodes[2], NULL),
       AIRSWARM_ERR_BAD_FILE_MESSAGE);
  WANT(airswarm_file_mesh_handle_message(files[2], now, addr[1], junk, sizeof junk, NULL, NULL),
       AIRSWARM_ERR_NULL);
  /* The metainfo with one byte of the signature flipped: refused, nothing offered. */
  WANT(airswarm_file_mesh_meta(files[2], id, buf, sizeof buf, &meta_len), AIRSWARM_OK);
  WANT(airswarm_file_mesh_meta(files[2], id, buf, 3, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  if (len != meta_len) bad++, fprintf(stderr, "meta size needed %zu, not %zu\n", len, meta_len);
  WANT(airswarm_file_mesh_meta(files[2], unknown, buf, sizeof buf, &len),
       AIRSWARM_ERR_UNKNOWN_FILE);
  /* A fresh engine (keys from node 3's keyring) resumes from the metainfo and a copy with
   * piece 2 damaged: it keeps 7 pieces and is not complete. */
  airswarm_file_mesh *fresh = NULL;
  airswarm_file_id resumed;
  uint8_t damaged[FILE_LEN];
  memcpy(damaged, original, FILE_LEN);
  damaged[2 * AIRSWARM_FILE_DEFAULT_PIECE_LEN + 5] ^= 0xFF;
  WANT(airswarm_file_mesh_new(addr[2], NULL, 9, &fresh), AIRSWARM_OK);
  WANT(airswarm_file_mesh_resume(fresh, now, buf, meta_len - 1, damaged, FILE_LEN, &resumed),
       AIRSWARM_ERR_BAD_FILE_MESSAGE);
  WANT(airswarm_file_mesh_resume(fresh, now, buf, meta_len, damaged, FILE_LEN, &resumed),
       AIRSWARM_OK);
  if (memcmp(&resumed, &id, sizeof id) != 0) bad++, fprintf(stderr, "resume changed the id\n");
  WANT(airswarm_file_mesh_data(fresh, id, damaged, sizeof damaged, &len),
       AIRSWARM_ERR_FILE_INCOMPLETE);
  airswarm_file_status st = {.struct_size = sizeof st};
  WANT(airswarm_file_mesh_file(fresh, 0, &st, (uint8_t *)buf, sizeof buf, &len), AIRSWARM_OK);
  if (st.have != 7 || st.pieces != 8) bad++, fprintf(stderr, "resumed %u/%u\n", st.have, st.pieces);
  WANT(airswarm_file_mesh_file(fresh, 1, &st, (uint8_t *)buf, sizeof buf, &len), AIRSWARM_DONE);
  airswarm_file_mesh_free(fresh);
  /* Flip a signature byte (the last byte of the metainfo) and feed it as a metainfo message
   * ("F1 01" + metainfo) to a fresh engine: refused with the reason in an event. */
  WANT(airswarm_file_mesh_new(addr[2], NULL, 9, &fresh), AIRSWARM_OK);
  static uint8_t msg[FILE_LEN + 1024];
  WANT(airswarm_file_mesh_meta(files[2], id, msg + 2, sizeof msg - 2, &meta_len), AIRSWARM_OK);
  msg[0] = 0xF1;
  msg[1] = 0x01;
  msg[2 + meta_len - 1] ^= 0x01;
  WANT(airswarm_file_mesh_handle_message(fresh, now, addr[0], msg, meta_len + 2, nodes[2], NULL),
       AIRSWARM_ERR_BAD_FILE_MESSAGE);
  airswarm_file_event fe = {.struct_size = sizeof fe};
  WANT(airswarm_file_mesh_poll_event(fresh, &fe, buf, sizeof buf, &len), AIRSWARM_OK);
  if (fe.kind != AIRSWARM_FILE_EVENT_REJECTED) bad++, fprintf(stderr, "no REJECTED event\n");
  printf("tampered metainfo refused: %.*s\n", (int)len, (const char *)buf);
  WANT(airswarm_file_mesh_fetch(fresh, now, id), AIRSWARM_ERR_UNKNOWN_FILE);
  airswarm_file_mesh_free(fresh);
  /* Unknown ids and bad arguments. */
  WANT(airswarm_file_mesh_fetch(files[2], now, unknown), AIRSWARM_ERR_UNKNOWN_FILE);
  WANT(airswarm_file_mesh_data(files[2], unknown, buf, sizeof buf, &len), AIRSWARM_ERR_UNKNOWN_FILE);
  WANT(airswarm_file_mesh_data(files[2], id, buf, 10, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  WANT(airswarm_file_mesh_share(files[0], now, ids[0], "../etc/passwd", original, 10, 0, &unknown),
       AIRSWARM_ERR_FILE_REFUSED);
  WANT(airswarm_file_mesh_share(files[0], now, ids[0], "a.bin", original, 0, 0, &unknown),
       AIRSWARM_ERR_FILE_REFUSED);
  WANT(airswarm_file_mesh_share(files[0], now, ids[0], "a.bin", original, 10, 7, &unknown),
       AIRSWARM_ERR_FILE_REFUSED);
  WANT(airswarm_file_mesh_share(files[0], now, ids[0], "a.bin", original, 10, 70000, &unknown),
       AIRSWARM_ERR_FILE_REFUSED);
  WANT(airswarm_file_mesh_share(files[0], now, NULL, "a.bin", original, 10, 0, &unknown),
       AIRSWARM_ERR_NULL);
  /* After all that, node 3 still has the file. */
  WANT(airswarm_file_mesh_data(files[2], id, buf, sizeof buf, &len), AIRSWARM_OK);
  if (len != FILE_LEN || memcmp(buf, original, FILE_LEN) != 0)
    bad++, fprintf(stderr, "node 3's copy changed\n");
  return bad;
}

int main(int argc, char **argv) {
  if (argc != NODES + 1) {
    fprintf(stderr, "usage: %s KEY1.pem KEY2.pem KEY3.pem\n", argv[0]);
    return 2;
  }
  int failed = 1;
  airswarm_node_config *cfg = NULL;
  static uint8_t original[FILE_LEN], copy[FILE_LEN];
  uint8_t channel_key[AIRSWARM_KEY_LEN];
  memset(channel_key, 0x42, sizeof channel_key); /* example value only */
  uint32_t x = 12345; /* a reproducible, incompressible file */
  for (size_t k = 0; k < FILE_LEN; k++) x = x * 1103515245u + 12345u, original[k] = (uint8_t)(x >> 16);
  if (check(airswarm_node_config_new(&cfg), "node_config_new")) goto out;
  for (int i = 0; i < NODES; i++) {
    if (load_identity(argv[i + 1], &ids[i])) goto out;
    if (check(airswarm_identity_address(ids[i], &addr[i]), "identity_address")) goto out;
    if (check(airswarm_node_config_set_seed(cfg, (uint64_t)i), "set_seed")) goto out;
    if (check(airswarm_secure_node_new(cfg, ids[i], channel_key, sizeof channel_key, 0, &nodes[i]),
              "secure_node_new"))
      goto out;
    if (check(airswarm_file_mesh_new(addr[i], NULL, (uint64_t)i, &files[i]), "file_mesh_new"))
      goto out;
    if (check(airswarm_secure_node_announce(nodes[i], now, NULL), "announce")) goto out;
  }
  /* Every node pins the others' keys (node 3 needs node 1's to trust its metainfo). */
  int all_pinned = 0;
  while (!all_pinned) {
    if (run(&all_pinned, now + 60000)) goto out;
    all_pinned = pinned[0] == NODES - 1 && pinned[1] == NODES - 1 && pinned[2] == NODES - 1;
    if (!all_pinned && now > 600000) {
      fprintf(stderr, "keys not pinned: %d %d %d\n", pinned[0], pinned[1], pinned[2]);
      goto out;
    }
  }
  airswarm_file_id id;
  if (check(airswarm_file_mesh_share(files[0], now, ids[0], "sample.bin", original, FILE_LEN, 0,
                                     &id),
            "share"))
    goto out;
  printf("t=%" PRIu64 "ms node 1 shares sample.bin, %d bytes, id ", now, FILE_LEN);
  for (int k = 0; k < AIRSWARM_FILE_ID_LEN; k++) printf("%02x", id.bytes[k]);
  printf("\n");
  uint64_t started = now;
  if (run(&completed[2], now + 6 * 3600 * 1000ull)) goto out;
  if (!completed[2]) {
    fprintf(stderr, "node 3 did not complete the file by t=%" PRIu64 "ms\n", now);
    goto out;
  }
  size_t len = 0;
  if (check(airswarm_file_mesh_data(files[2], id, copy, sizeof copy, &len), "data")) goto out;
  int identical = len == FILE_LEN && memcmp(copy, original, FILE_LEN) == 0;
  printf("node 3 has the file after %.1f s of simulated time: %zu bytes, %s\n",
         (double)(now - started) / 1000.0, len, identical ? "byte-identical" : "DIFFERENT");
  if (!identical) goto out;
  int bad = bad_input(id, original);
  if (bad) {
    fprintf(stderr, "%d bad-input checks failed\n", bad);
    goto out;
  }
  printf("bad input: every call refused with a reason, nothing crashed\n");
  failed = 0;
out:
  airswarm_node_config_free(cfg);
  for (int i = 0; i < NODES; i++) {
    airswarm_file_mesh_free(files[i]);
    airswarm_secure_node_free(nodes[i]);
    airswarm_identity_free(ids[i]);
  }
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
