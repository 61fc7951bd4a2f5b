/* A line of five airswarm nodes exchanging messages over the library's in-memory mesh
 * (airswarm_mesh: instant radio, fake clock): node 1 sends a direct message to node 5 (four
 * hops, acknowledged) and a broadcast. Each frame a node transmits is heard by its
 * immediate neighbours in the line. */
#include "common.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODES 5

int main(void) {
  airswarm_node *nodes[NODES] = {0};
  int failed = 1;
  int direct_delivered = 0, acked = 0, broadcasts = 0;
  uint64_t now = 0;

  airswarm_node_config *cfg = NULL;
  airswarm_mesh *mesh = NULL;
  if (check(airswarm_node_config_new(&cfg), "node_config_new") ||
      check(airswarm_mesh_new(now, -90.0f, 5.0f, &mesh), "mesh_new"))
    goto out;
  for (int i = 0; i < NODES; i++) {
    if (check(airswarm_node_config_set_address(cfg, (uint32_t)(i + 1)), "set_address") ||
        check(airswarm_node_config_set_seed(cfg, (uint64_t)(1000 + i)), "set_seed") ||
        check(airswarm_node_new(cfg, &nodes[i]), "node_new"))
      goto out;
  }

  const char *hello = "hello from node 1 to node 5";
  uint32_t id = 0;
  if (check(airswarm_node_send(nodes[0], now, 5, (const uint8_t *)hello, strlen(hello), &id),
            "node_send"))
    goto out;
  printf("node 1 sent message %" PRIu32 " to node 5\n", id);
  const char *all = "broadcast to everyone";
  if (check(airswarm_node_send(nodes[0], now, AIRSWARM_BROADCAST, (const uint8_t *)all,
                               strlen(all), NULL),
            "node_send broadcast"))
    goto out;

  /* The library's mesh runs the exchange (the loop every airswarm test uses): each frame
   * reaches the node's neighbours in the line at once, and the fake clock jumps to the
   * next timer until nothing is left to send and no timer is pending. */
  for (int i = 0; i + 1 < NODES; i++)
    if (check(airswarm_mesh_add_link(mesh, (size_t)i, (size_t)i + 1, -90.0f, 5.0f), "add_link") ||
        check(airswarm_mesh_add_link(mesh, (size_t)i + 1, (size_t)i, -90.0f, 5.0f), "add_link"))
      goto out;
  size_t frames = 0;
  if (check(airswarm_mesh_run(mesh, nodes, NODES, UINT64_MAX, &frames), "mesh_run")) goto out;
  if (check(airswarm_mesh_now(mesh, &now), "mesh_now")) goto out;
  printf("%zu frames on the air; quiet at t=%" PRIu64 "ms\n", frames, now);

  airswarm_event ev = {.struct_size = sizeof(airswarm_event)};
  uint8_t payload[256];
  size_t plen = 0, i = 0;
  uint64_t at = 0;
  airswarm_result r;
  while ((r = airswarm_mesh_poll_event(mesh, &at, &i, &ev, payload, sizeof payload, &plen)) ==
         AIRSWARM_OK) {
    if (ev.kind == AIRSWARM_EVENT_MESSAGE) {
      printf("t=%" PRIu64 "ms node %zu got message %" PRIu32 " from %" PRIu32
             " after %u hops: %.*s\n",
             at, i + 1, ev.id, ev.src, (unsigned)ev.hops, (int)plen, (const char *)payload);
      if (ev.dst == AIRSWARM_BROADCAST)
        broadcasts++;
      else if (i == NODES - 1)
        direct_delivered++;
    } else if (ev.kind == AIRSWARM_EVENT_DELIVERED) {
      printf("t=%" PRIu64 "ms node %zu: message %" PRIu32 " acknowledged by %" PRIu32 "\n", at,
             i + 1, ev.id, ev.dst);
      acked++;
    } else if (ev.kind == AIRSWARM_EVENT_SEND_FAILED) {
      printf("node %zu: message %" PRIu32 " to %" PRIu32 " failed\n", i + 1, ev.id, ev.dst);
    }
  }
  if (r != AIRSWARM_DONE && check(r, "mesh_poll_event")) goto out;

  printf("direct delivered: %d, acknowledged: %d, broadcast copies delivered: %d\n",
         direct_delivered, acked, broadcasts);
  uint64_t relayed = 0, sent = 0;
  if (check(airswarm_node_stat(nodes[2], "frames_relayed", &relayed), "node_stat") ||
      check(airswarm_node_stat(nodes[0], "frames_sent", &sent), "node_stat"))
    goto out;
  printf("node 3 relayed %" PRIu64 " frames; node 1 sent %" PRIu64 "\n", relayed, sent);
  failed = !(direct_delivered == 1 && acked == 1 && broadcasts == NODES - 1);
  if (failed) fprintf(stderr, "mesh: expected 1 delivery, 1 ack and %d broadcasts\n", NODES - 1);

out:
  airswarm_mesh_free(mesh);
  airswarm_node_config_free(cfg);
  for (int i = 0; i < NODES; i++) airswarm_node_free(nodes[i]);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
