/* Three secure nodes in a line (1 - 2 - 3) with RSA identities read from PKCS#8 PEM files:
 * they announce their keys, node 1 sends a session-sealed message to node 3 (the handshake
 * runs over the mesh first) and a channel-sealed broadcast. The library's in-memory mesh
 * (airswarm_mesh: instant radio, fake clock) carries the frames.
 * Usage: secure_mesh KEY1.pem KEY2.pem KEY3.pem */
#include "common.h"
#include <inttypes.h>
#include <string.h>

#define NODES 3

int main(int argc, char **argv) {
  if (argc != NODES + 1) {
    fprintf(stderr, "usage: %s KEY1.pem KEY2.pem KEY3.pem\n", argv[0]);
    return 2;
  }
  airswarm_identity *ids[NODES] = {0};
  airswarm_secure_node *nodes[NODES] = {0};
  uint32_t addr[NODES] = {0};
  int failed = 1, pinned_by_1 = 0, sealed_direct = 0, sealed_broadcast = 0, acked = 0;
  uint64_t now = 1, ticket = 0;
  uint32_t direct_id = 0; /* the id the waiting direct message went out with */
  airswarm_node_config *cfg = NULL;
  airswarm_mesh *mesh = NULL;
  if (check(airswarm_node_config_new(&cfg), "node_config_new") ||
      check(airswarm_mesh_new(now, -95.0f, 4.0f, &mesh), "mesh_new"))
    goto out;
  /* Example value only: real hosts take the channel key from configuration (or share
   * `airswarm-channel:<hex>`). Randomness comes from the operating system (NULL seed). */
  uint8_t channel_key[AIRSWARM_KEY_LEN];
  memset(channel_key, 0x42, sizeof channel_key);

  for (int i = 0; i < NODES; i++) {
    if (load_identity(argv[i + 1], &ids[i])) goto out;
    if (check(airswarm_identity_address(ids[i], &addr[i]), "identity_address")) goto out;
    if (check(airswarm_node_config_set_seed(cfg, (uint64_t)i), "set_seed")) goto out;
    if (check(airswarm_secure_node_new(cfg, ids[i], channel_key, sizeof channel_key, 0, &nodes[i]),
              "secure_node_new"))
      goto out;
    if (check(airswarm_secure_node_announce(nodes[i], now, NULL), "announce")) goto out;
    printf("node %d has address %08" PRIx32 "\n", i + 1, addr[i]);
  }

  /* The library's mesh runs the exchange (a line: each node hears its neighbours) until
   * quiet; then node 1, knowing every key (announcements are relayed), sends, and the mesh
   * runs again. */
  for (int i = 0; i + 1 < NODES; i++)
    if (check(airswarm_mesh_add_link(mesh, (size_t)i, (size_t)i + 1, -95.0f, 4.0f), "add_link") ||
        check(airswarm_mesh_add_link(mesh, (size_t)i + 1, (size_t)i, -95.0f, 4.0f), "add_link"))
      goto out;
  for (int phase = 0; phase < 2; phase++) {
    if (check(airswarm_mesh_run_secure(mesh, nodes, NODES, UINT64_MAX, NULL), "mesh_run_secure"))
      goto out;
    airswarm_secure_event ev = {.struct_size = sizeof(airswarm_secure_event)};
    uint8_t payload[512];
    size_t len = 0, i = 0;
    airswarm_result r;
    while ((r = airswarm_mesh_poll_secure_event(mesh, &now, &i, &ev, payload, sizeof payload,
                                                &len)) == AIRSWARM_OK) {
      switch (ev.kind) {
        case AIRSWARM_SECURE_EVENT_MESSAGE:
          printf("t=%" PRIu64 "ms node %zu got %s message from %08" PRIx32 ": %.*s\n", now, i + 1,
                 ev.security == AIRSWARM_SECURITY_SESSION ? "session-sealed"
                 : ev.security == AIRSWARM_SECURITY_PLAIN ? "PLAIN"
                                                          : "channel-sealed",
                 ev.src, (int)len, (const char *)payload);
          if (ev.security == AIRSWARM_SECURITY_SESSION && i == 2) sealed_direct++;
          if (ev.security == AIRSWARM_SECURITY_CHANNEL && ev.dst == AIRSWARM_BROADCAST)
            sealed_broadcast++;
          break;
        case AIRSWARM_SECURE_EVENT_PEER_PINNED:
          printf("node %zu pinned the key of %08" PRIx32 "\n", i + 1, ev.src);
          if (i == 0) pinned_by_1++;
          break;
        case AIRSWARM_SECURE_EVENT_SESSION_ESTABLISHED:
          printf("t=%" PRIu64 "ms node %zu: session with %08" PRIx32 " established\n", now, i + 1,
                 ev.src);
          break;
        case AIRSWARM_SECURE_EVENT_SENT:
          printf("t=%" PRIu64 "ms node %zu: ticket %" PRIu64 " sent as message %" PRIu32 "\n", now,
                 i + 1, ev.ticket, ev.id);
          if (i == 0 && ev.ticket == ticket) direct_id = ev.id;
          break;
        case AIRSWARM_SECURE_EVENT_DELIVERED:
          /* The acknowledgement names the id the SENT event gave the waiting message. */
          if (i == 0 && ticket != 0 && ev.id == direct_id) acked++;
          break;
        case AIRSWARM_SECURE_EVENT_REJECTED:
          printf("node %zu rejected something from %08" PRIx32 ": %.*s\n", i + 1, ev.src, (int)len,
                 (const char *)payload);
          break;
        default:
          break;
      }
    }
    if (r != AIRSWARM_DONE && check(r, "mesh_poll_secure_event")) goto out;
    if (phase == 1 || pinned_by_1 != NODES - 1) break;
    if (check(airswarm_mesh_now(mesh, &now), "mesh_now")) goto out;
    const char *secret = "for node 3 only";
    const char *group = "hello, channel";
    if (check(airswarm_secure_node_send(nodes[0], now, addr[2], (const uint8_t *)secret,
                                        strlen(secret), NULL, &ticket),
              "send direct"))
      goto out;
    printf("node 1 -> node 3: %s (ticket %" PRIu64 ")\n",
           ticket ? "waiting for the handshake" : "sent", ticket);
    if (check(airswarm_secure_node_send(nodes[0], now, AIRSWARM_BROADCAST, (const uint8_t *)group,
                                        strlen(group), NULL, NULL),
              "send broadcast"))
      goto out;
  }
  printf("sealed direct delivered: %d, acknowledged: %d, channel broadcasts delivered: %d\n",
         sealed_direct, acked, sealed_broadcast);
  failed = !(sealed_direct == 1 && acked >= 1 && sealed_broadcast == NODES - 1);
out:
  airswarm_mesh_free(mesh);
  airswarm_node_config_free(cfg);
  for (int i = 0; i < NODES; i++) {
    airswarm_secure_node_free(nodes[i]);
    airswarm_identity_free(ids[i]);
  }
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
