/* Two secure nodes in two group channels ("ops" and "news"), joined in a different order
 * on each node, so a channel's index is each node's own. Each node signs a name into its
 * key announcement; each sees the other's name with the key's fingerprint. Node 1 posts to
 * "ops", node 2 to "news", and each message arrives marked with the receiver's index of
 * that channel. A third channel only node 1 is in stays closed to node 2 (it refuses the
 * frame it cannot open). The library's in-memory mesh (airswarm_mesh) carries the frames.
 * Usage: secure_channels KEY1.pem KEY2.pem */
#include "common.h"
#include <inttypes.h>
#include <string.h>

#define NODES 2

/* What one node saw. */
struct seen {
  char name[AIRSWARM_MAX_NAME_LEN + 1]; /* the other's announced name */
  int name_fingerprint_ok;              /* it came with the other's fingerprint */
  int on_ops, on_news, elsewhere;       /* channel messages, by the receiver's index */
  int refused;                          /* frames it could not open */
};

int main(int argc, char **argv) {
  if (argc != NODES + 1) {
    fprintf(stderr, "usage: %s KEY1.pem KEY2.pem\n", argv[0]);
    return 2;
  }
  static const char *const names[NODES] = {"alpha", "bravo"};
  airswarm_identity *ids[NODES] = {0};
  airswarm_secure_node *nodes[NODES] = {0};
  uint8_t fingerprints[NODES][AIRSWARM_FINGERPRINT_LEN];
  uint8_t ops_index[NODES] = {0}, news_index[NODES] = {0}, private_index = 0;
  struct seen seen[NODES];
  memset(seen, 0, sizeof seen);
  int failed = 1;
  uint64_t now = 1;
  airswarm_node_config *cfg = NULL;
  airswarm_mesh *mesh = NULL;
  if (check(airswarm_node_config_new(&cfg), "node_config_new") ||
      check(airswarm_mesh_new(now, -90.0f, 5.0f, &mesh), "mesh_new"))
    goto out;
  /* Example keys only: real hosts take channel keys from configuration. */
  uint8_t ops[AIRSWARM_KEY_LEN], news[AIRSWARM_KEY_LEN], private_key[AIRSWARM_KEY_LEN];
  memset(ops, 0x11, sizeof ops);
  memset(news, 0x22, sizeof news);
  memset(private_key, 0x33, sizeof private_key);

  for (int i = 0; i < NODES; i++) {
    size_t len = 0;
    if (load_identity(argv[i + 1], &ids[i])) goto out;
    if (check(airswarm_identity_fingerprint(ids[i], fingerprints[i], sizeof fingerprints[i], &len),
              "identity_fingerprint"))
      goto out;
    if (check(airswarm_node_config_set_seed(cfg, (uint64_t)i), "set_seed")) goto out;
    /* No channel key at creation: every channel is joined below. */
    if (check(airswarm_secure_node_new(cfg, ids[i], NULL, 0, 0, &nodes[i]), "secure_node_new"))
      goto out;
    /* Node 1 joins ops then news, node 2 news then ops. */
    const uint8_t *first = i == 0 ? ops : news, *second = i == 0 ? news : ops;
    uint8_t a = 0, b = 0;
    if (check(airswarm_secure_node_join_channel(nodes[i], first, AIRSWARM_KEY_LEN, &a), "join") ||
        check(airswarm_secure_node_join_channel(nodes[i], second, AIRSWARM_KEY_LEN, &b), "join"))
      goto out;
    ops_index[i] = i == 0 ? a : b;
    news_index[i] = i == 0 ? b : a;
    if (check(airswarm_secure_node_set_name(nodes[i], names[i]), "set_name")) goto out;
    if (check(airswarm_secure_node_announce(nodes[i], now, NULL), "announce")) goto out;
    printf("node %d (%s): ops is channel %u, news is channel %u\n", i + 1, names[i],
           ops_index[i], news_index[i]);
  }
  if (check(airswarm_secure_node_join_channel(nodes[0], private_key, AIRSWARM_KEY_LEN,
                                              &private_index),
            "join private"))
    goto out;
  size_t count = 0;
  if (check(airswarm_secure_node_channel_count(nodes[0], &count), "channel_count")) goto out;
  printf("node 1 is in %zu channels\n", count);

  /* The library's mesh (both nodes hear each other) runs the exchange until quiet; once
   * both have heard each other's announcement, each posts, and the mesh runs again. */
  for (int phase = 0; phase < 2; phase++) {
    if (check(airswarm_mesh_run_secure(mesh, nodes, NODES, UINT64_MAX, NULL), "mesh_run_secure"))
      goto out;
    airswarm_secure_event ev = {.struct_size = sizeof(airswarm_secure_event)};
    uint8_t payload[512];
    size_t len = 0, i = 0;
    airswarm_result r;
    while ((r = airswarm_mesh_poll_secure_event(mesh, NULL, &i, &ev, payload, sizeof payload,
                                                &len)) == AIRSWARM_OK) {
      struct seen *s = &seen[i];
      if (ev.kind == AIRSWARM_SECURE_EVENT_ANNOUNCED) {
        int fp_ok = ev.has_sender && memcmp(ev.sender, fingerprints[1 - i], 32) == 0;
        printf("node %zu: %08" PRIx32 " announced its key %02x%02x%02x%02x... as \"%.*s\"\n", i + 1,
               ev.src, ev.sender[0], ev.sender[1], ev.sender[2], ev.sender[3], (int)len,
               (const char *)payload);
        if (len <= AIRSWARM_MAX_NAME_LEN) {
          memcpy(s->name, payload, len);
          s->name[len] = '\0';
        }
        s->name_fingerprint_ok = fp_ok;
      } else if (ev.kind == AIRSWARM_SECURE_EVENT_REJECTED) {
        printf("node %zu refused a frame from %08" PRIx32 ": %.*s\n", i + 1, ev.src, (int)len,
               (const char *)payload);
        s->refused++;
      } else if (ev.kind == AIRSWARM_SECURE_EVENT_MESSAGE) {
        printf("node %zu got \"%.*s\" on %s%u\n", i + 1, (int)len, (const char *)payload,
               ev.has_channel ? "channel " : "no channel ", ev.channel);
        if (!ev.has_channel || ev.security != AIRSWARM_SECURITY_CHANNEL)
          s->elsewhere++;
        else if (ev.channel == ops_index[i] && len == 9 && memcmp(payload, "ops: hi 2", 9) == 0)
          s->on_ops++;
        else if (ev.channel == news_index[i] && len == 10 && memcmp(payload, "news: hi 1", 10) == 0)
          s->on_news++;
        else
          s->elsewhere++;
      }
    }
    if (r != AIRSWARM_DONE && check(r, "mesh_poll_secure_event")) goto out;
    if (phase == 1 || !seen[0].name[0] || !seen[1].name[0]) break;
    if (check(airswarm_mesh_now(mesh, &now), "mesh_now")) goto out;
    static const char to_ops[] = "ops: hi 2", to_news[] = "news: hi 1", secret[] = "only mine";
    uint32_t id = 0;
    if (check(airswarm_secure_node_send_on_channel(nodes[0], now, ops_index[0],
                                                   (const uint8_t *)to_ops, strlen(to_ops), &id),
              "send_on_channel ops") ||
        check(airswarm_secure_node_send_on_channel(nodes[1], now, news_index[1],
                                                   (const uint8_t *)to_news, strlen(to_news),
                                                   NULL),
              "send_on_channel news") ||
        check(airswarm_secure_node_send_on_channel(nodes[0], now, private_index,
                                                   (const uint8_t *)secret, strlen(secret), NULL),
              "send_on_channel private"))
      goto out;
    printf("node 1 posted message %" PRIu32 " to ops\n", id);
  }
  printf("node 1 knows \"%s\", node 2 knows \"%s\"; node 2 got %d on ops, node 1 got %d on news, "
         "%d elsewhere\n",
         seen[0].name, seen[1].name, seen[1].on_ops, seen[0].on_news,
         seen[0].elsewhere + seen[1].elsewhere);
  failed = !(strcmp(seen[0].name, "bravo") == 0 && strcmp(seen[1].name, "alpha") == 0 &&
             seen[0].name_fingerprint_ok && seen[1].name_fingerprint_ok && seen[1].on_ops == 1 &&
             seen[0].on_news == 1 && seen[0].elsewhere == 0 && seen[1].elsewhere == 0 &&
             count == 3 && ops_index[0] != ops_index[1] && seen[1].refused == 1 &&
             seen[0].refused == 0);
out:
  airswarm_mesh_free(mesh);
  airswarm_node_config_free(cfg);
  for (int i = 0; i < NODES; i++) {
    airswarm_secure_node_free(nodes[i]);
    airswarm_identity_free(ids[i]);
  }
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
