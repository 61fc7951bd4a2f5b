/* The secure surface: keyrings, identities, the secure node, and secure events by struct
 * version. */
#include "harness.h"

/* An RSA-2048 public key (SPKI PEM) to pin. */
static const char TEST_PUBLIC_KEY[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApYb19hGtqMnqYIpTB9nL\n"
    "9N5c2cb9DKlPG+ofY6aE6W/xLgH++JWkH7tXgtVALih+FUvw1IWT+vxdaBOK6IkO\n"
    "XQfYNq8Be75oEG3T8/55bxREwP5XhAiOZ0pZ1JLBEc5nGe6L16VNkyGnGGQvOt+a\n"
    "EVVRjqInyZWpH4YqDQtJ1mtD3H+TDAPlWwvoIOj86Qj+xKo9grxsyZqdFwuQePm7\n"
    "XGoTD+sFVH6LSu2SAR/RHqA/0je/cXRCloPup7ewthXrurHct3sX8UVw4HcLI9f9\n"
    "bSBdP231yM8R6+vQ4sqAgwPX2Kpdh4gAbq5R1tuT1XPWSMY9qmZZYaxBRcg5Nts2\n"
    "xQIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
    ;

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Keyrings: pin, export, import (what a C host saves and loads across reboots), remove,
 * and a secure node's pins taken out and put back. */
void keyring(void) {
  airswarm_keyring *r = NULL, *r2 = NULL, *from_node = NULL;
  uint8_t added8 = 9, buf[4096], fp[32];
  size_t added = 9, len = 0, n = 0;
  EXPECT(airswarm_keyring_new(0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_new(0, &r), AIRSWARM_OK);
  EXPECT(airswarm_keyring_new(SIZE_MAX, &r2), AIRSWARM_OK);
  const uint8_t *pem = (const uint8_t *)TEST_PUBLIC_KEY;
  size_t pem_len = strlen(TEST_PUBLIC_KEY);
  EXPECT(airswarm_keyring_pin(NULL, pem, pem_len, &added8), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_pin(r, NULL, pem_len, &added8), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_pin(r, pem, SIZE_MAX, &added8), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_keyring_pin(r, (const uint8_t *)"hello", 5, &added8), AIRSWARM_ERR_KEY);
  EXPECT_MESSAGE("no PEM block");
  EXPECT(airswarm_keyring_pin(r, pem, 0, &added8), AIRSWARM_ERR_KEY);
  EXPECT_MESSAGE("empty");
  EXPECT(airswarm_keyring_pin(r, pem, pem_len, &added8), AIRSWARM_OK);
  if (added8 != 1) failures++, fprintf(stderr, "first pin added %u\n", added8);
  EXPECT(airswarm_keyring_pin(r, pem, pem_len, NULL), AIRSWARM_OK);
  EXPECT(airswarm_keyring_pin(r, pem, pem_len, &added8), AIRSWARM_OK);
  if (added8 != 0) failures++, fprintf(stderr, "second pin added %u\n", added8);
  EXPECT(airswarm_keyring_len(r, &n), AIRSWARM_OK);
  if (n != 1) failures++, fprintf(stderr, "keyring holds %zu\n", n);
  EXPECT(airswarm_keyring_len(NULL, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_len(r, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_export(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_export(r, buf, 10, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_keyring_export(r, buf, sizeof buf, &len), AIRSWARM_OK);
  if (len < 64 + 1 + 2 * 290) failures++, fprintf(stderr, "export is %zu bytes\n", len);
  /* Saved, then loaded after a reboot: the same pins. */
  EXPECT(airswarm_keyring_import(NULL, buf, len, &added), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_import(r2, NULL, len, &added), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_import(r2, buf, SIZE_MAX, &added), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_keyring_import(r2, (const uint8_t *)"zz 00\n", 6, &added), AIRSWARM_ERR_KEY);
  EXPECT(airswarm_keyring_import(r2, (const uint8_t *)"\xff\xfe", 2, &added), AIRSWARM_ERR_KEY);
  EXPECT(airswarm_keyring_import(r2, buf, len, &added), AIRSWARM_OK);
  if (added != 1) failures++, fprintf(stderr, "import added %zu\n", added);
  EXPECT(airswarm_keyring_import(r2, buf, len, NULL), AIRSWARM_OK);
  for (int i = 0; i < 32; i++) fp[i] = (uint8_t)(hexval((char)buf[2 * i]) << 4 | hexval((char)buf[2 * i + 1]));
  EXPECT(airswarm_keyring_remove(NULL, fp, 32), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_remove(r2, NULL, 32), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_keyring_remove(r2, fp, 31), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_keyring_remove(r2, fp, SIZE_MAX), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_keyring_remove(r2, fp, 32), AIRSWARM_OK);
  EXPECT(airswarm_keyring_remove(r2, fp, 32), AIRSWARM_ERR_KEY);
  EXPECT_MESSAGE("no pinned key has fingerprint");
  EXPECT(airswarm_keyring_len(r2, &n), AIRSWARM_OK);
  if (n != 0) failures++, fprintf(stderr, "removed key still there: %zu\n", n);

  /* A secure node takes a keyring and gives back what it holds. */
  airswarm_identity *id = NULL;
  airswarm_node_config *cfg = NULL;
  airswarm_secure_node *sn = NULL;
  uint8_t seed[32] = {3};
  EXPECT(airswarm_identity_generate_for_tests(seed, 32, &id), AIRSWARM_OK);
  EXPECT(airswarm_node_config_new(&cfg), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, NULL, 0, 0, seed, 32, &sn), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_set_keyring(NULL, r), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_set_keyring(sn, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_set_keyring(sn, r), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_keyring(NULL, &from_node), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_keyring(sn, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_keyring(sn, &from_node), AIRSWARM_OK);
  EXPECT(airswarm_keyring_len(from_node, &n), AIRSWARM_OK);
  if (n != 1) failures++, fprintf(stderr, "the node's keyring holds %zu\n", n);
  airswarm_keyring_free(from_node);
  /* Replay state: handshake counters (none yet) and, with a channel, its windows. */
  EXPECT(airswarm_secure_node_replay_state(sn, buf, sizeof buf, &len), AIRSWARM_OK);
  if (len != 5) failures++, fprintf(stderr, "replay state without a channel is %zu bytes\n", len);
  EXPECT(airswarm_secure_node_restore_replay_state(sn, buf, len), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_restore_replay_state(sn, buf, 1), AIRSWARM_ERR_KEY);
  airswarm_secure_node_free(sn);
  sn = NULL;
  uint8_t ckey[AIRSWARM_KEY_LEN] = {9};
  EXPECT(airswarm_secure_node_new(cfg, id, ckey, sizeof ckey, 0, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new(NULL, id, ckey, sizeof ckey, 0, &sn), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new(cfg, id, ckey, sizeof ckey, 0, &sn), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_replay_state(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_replay_state(sn, buf, 0, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_secure_node_replay_state(sn, buf, sizeof buf, &len), AIRSWARM_OK);
  if (len != 6) failures++, fprintf(stderr, "replay state with a channel is %zu bytes\n", len);
  EXPECT(airswarm_secure_node_restore_replay_state(NULL, buf, len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_restore_replay_state(sn, NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_restore_replay_state(sn, buf, SIZE_MAX), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_restore_replay_state(sn, buf, len), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_restore_replay_state(sn, (const uint8_t *)"\x02", 1), AIRSWARM_ERR_KEY);
  EXPECT_MESSAGE("saved replay state");
  airswarm_secure_node_free(sn);
  airswarm_node_config_free(cfg);
  airswarm_identity_free(id);
  airswarm_keyring_free(r);
  airswarm_keyring_free(r2);
  airswarm_keyring_free(NULL);
}

/* Identities and the secure node; `pem_path` is an RSA-2048 PKCS#8 key. */
void crypto(const char *pem_path) {
  size_t plen = 0, len = 0;
  uint8_t *pem = read_file(pem_path, &plen);
  if (pem == NULL) {
    failures++;
    return;
  }
  uint8_t seed[AIRSWARM_KEY_LEN] = {1}, buf[64];
  airswarm_identity *id = NULL;
  EXPECT(airswarm_identity_generate_for_tests(NULL, 32, &id), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_identity_generate_for_tests(seed, 31, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_identity_generate_for_tests(seed, 0, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_identity_generate_for_tests(seed, 32, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_identity_generate_for_tests(seed, SIZE_MAX, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
  {
    /* No seed: two keys from the operating system's generator, never the same. */
    airswarm_identity *o1 = NULL, *o2 = NULL;
    uint8_t f1[AIRSWARM_FINGERPRINT_LEN], f2[AIRSWARM_FINGERPRINT_LEN];
    size_t l1 = 0, l2 = 0;
    EXPECT(airswarm_identity_generate(NULL), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_identity_generate(&o1), AIRSWARM_OK);
    EXPECT(airswarm_identity_generate(&o2), AIRSWARM_OK);
    EXPECT(airswarm_identity_fingerprint(o1, f1, sizeof f1, &l1), AIRSWARM_OK);
    EXPECT(airswarm_identity_fingerprint(o2, f2, sizeof f2, &l2), AIRSWARM_OK);
    if (memcmp(f1, f2, sizeof f1) == 0) failures++, fprintf(stderr, "two OS keys are equal\n");
    airswarm_identity_free(o1);
    airswarm_identity_free(o2);
  }
  {
    /* The same seed gives the same key (tests and simulations only). */
    airswarm_identity *g1 = NULL, *g2 = NULL;
    uint8_t f1[AIRSWARM_FINGERPRINT_LEN], f2[AIRSWARM_FINGERPRINT_LEN];
    EXPECT(airswarm_identity_generate_for_tests(seed, 32, &g1), AIRSWARM_OK);
    EXPECT(airswarm_identity_generate_for_tests(seed, 32, &g2), AIRSWARM_OK);
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
  EXPECT(airswarm_identity_from_pem(pem, SIZE_MAX, &id), AIRSWARM_ERR_INVALID_ARGUMENT);
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

  airswarm_node_config *cfg = NULL;
  airswarm_secure_node *n = NULL;
  uint8_t key[AIRSWARM_KEY_LEN] = {7};
  EXPECT(airswarm_node_config_new(&cfg), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, SIZE_MAX, 0, seed, 32, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 32, 0, seed, SIZE_MAX, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 32, UINT8_MAX, seed, 32, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT_MESSAGE("sign_channel must be 0 or 1, not 255");
  EXPECT(airswarm_secure_node_new_for_tests(NULL, id, key, 32, 0, seed, 32, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, NULL, key, 32, 0, seed, 32, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, NULL, 32, 0, seed, 32, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 16, 0, seed, 32, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 32, 2, seed, 32, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 32, 0, NULL, 32, &n), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 32, 0, seed, 0, &n),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 32, 0, seed, 32, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, NULL, 0, 0, seed, 32, &n), AIRSWARM_OK);
  airswarm_secure_node_free(n);
  n = NULL;
  EXPECT(airswarm_secure_node_new_for_tests(cfg, id, key, 32, 0, seed, 32, &n), AIRSWARM_OK);
  airswarm_identity_free(id); /* the node keeps its own copy */
  airswarm_secure_node_free(NULL);
  airswarm_identity_free(NULL);

  uint32_t mid = 0;
  uint64_t ticket = 9, stat = 0;
  airswarm_secure_event ev = {.struct_size = sizeof(airswarm_secure_event)};
  uint64_t t;
  EXPECT(airswarm_secure_node_announce(NULL, 1, &mid), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_announce(n, 1, NULL), AIRSWARM_OK);
  /* To one node: an answer to a newcomer. Not to ourselves. */
  EXPECT(airswarm_secure_node_announce_to(NULL, 1, 5, &mid), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_announce_to(n, 1, addr, &mid), AIRSWARM_ERR_SEND_TO_SELF);
  EXPECT(airswarm_secure_node_announce_to(n, 1, 5, NULL), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_announce_to(n, 1, AIRSWARM_BROADCAST, &mid), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_send(NULL, 1, 5, buf, 4, &mid, &ticket), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_send(n, 1, 5, NULL, 4, &mid, &ticket), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_send(n, 1, addr, buf, 4, &mid, &ticket), AIRSWARM_ERR_SEND_TO_SELF);
  EXPECT(airswarm_secure_node_send(n, 1, 5, buf, 4, &mid, &ticket), AIRSWARM_ERR_CRYPTO);
  EXPECT(airswarm_secure_node_send(n, 1, AIRSWARM_BROADCAST, NULL, 0, NULL, NULL), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_send(n, 1, AIRSWARM_BROADCAST, buf, 4, &mid, &ticket), AIRSWARM_OK);
  if (ticket != 0) failures++, fprintf(stderr, "a sent broadcast got ticket %llu\n",
                                       (unsigned long long)ticket);
  EXPECT(airswarm_secure_node_send(n, 1, 5, buf, SIZE_MAX, &mid, &ticket),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  {
    uint8_t fp[32] = {0};
    EXPECT(airswarm_secure_node_send_to(NULL, 1, fp, 32, buf, 4, &mid, &ticket), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_send_to(n, 1, NULL, 32, buf, 4, &mid, &ticket), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_send_to(n, 1, fp, 31, buf, 4, &mid, &ticket),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_send_to(n, 1, fp, SIZE_MAX, buf, 4, &mid, &ticket),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_send_to(n, 1, fp, 32, buf, SIZE_MAX, &mid, &ticket),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    /* No key with that fingerprint is pinned. */
    EXPECT(airswarm_secure_node_send_to(n, 1, fp, 32, buf, 4, &mid, &ticket), AIRSWARM_ERR_CRYPTO);
    EXPECT_MESSAGE("no key is pinned");
  }
  EXPECT(airswarm_secure_node_handle_frame(n, 1, buf, SIZE_MAX, 0, 0),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  {
    /* Channels: the key given at creation is channel 0 (joining it again gives 0), seven
     * more fit, a ninth is refused; send_on_channel checks the index and the length. */
    uint8_t index = 99, more[AIRSWARM_KEY_LEN] = {0};
    size_t count = 0;
    EXPECT(airswarm_secure_node_join_channel(NULL, key, 32, &index), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_join_channel(n, NULL, 32, &index), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_join_channel(n, key, 32, NULL), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_join_channel(n, key, 0, &index), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_join_channel(n, key, 31, &index), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_join_channel(n, key, SIZE_MAX, &index),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_channel_count(NULL, &count), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_channel_count(n, NULL), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_channel_count(n, &count), AIRSWARM_OK);
    if (count != 1) failures++, fprintf(stderr, "%zu channels, expected 1\n", count);
    EXPECT(airswarm_secure_node_join_channel(n, key, 32, &index), AIRSWARM_OK);
    if (index != 0) failures++, fprintf(stderr, "the first channel has index %u\n", index);
    for (uint8_t k = 1; k < AIRSWARM_MAX_CHANNELS; k++) {
      more[0] = (uint8_t)(100 + k);
      EXPECT(airswarm_secure_node_join_channel(n, more, 32, &index), AIRSWARM_OK);
      if (index != k) failures++, fprintf(stderr, "channel %u got index %u\n", k, index);
    }
    more[0] = 200;
    index = 99;
    EXPECT(airswarm_secure_node_join_channel(n, more, 32, &index), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT_MESSAGE("in 8 channels already");
    if (index != 99) failures++, fprintf(stderr, "a refused join wrote index %u\n", index);
    EXPECT(airswarm_secure_node_channel_count(n, &count), AIRSWARM_OK);
    if (count != AIRSWARM_MAX_CHANNELS) failures++, fprintf(stderr, "%zu channels\n", count);
    mid = 0;
    EXPECT(airswarm_secure_node_send_on_channel(NULL, 1, 0, buf, 4, &mid), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_send_on_channel(n, 1, 0, NULL, 4, &mid), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_send_on_channel(n, 1, 0, buf, SIZE_MAX, &mid),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_send_on_channel(n, 1, 0, buf, AIRSWARM_MAX_MESSAGE + 1, &mid),
           AIRSWARM_ERR_MESSAGE_TOO_LARGE);
    EXPECT(airswarm_secure_node_send_on_channel(n, 1, AIRSWARM_MAX_CHANNELS, buf, 4, &mid),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT_MESSAGE("no channel 8 was joined");
    EXPECT(airswarm_secure_node_send_on_channel(n, 1, UINT8_MAX, buf, 4, &mid),
           AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_send_on_channel(n, 1, 7, buf, 4, &mid), AIRSWARM_OK);
    if (mid == 0) failures++, fprintf(stderr, "send_on_channel gave no message id\n");
    EXPECT(airswarm_secure_node_send_on_channel(n, 1, 3, NULL, 0, NULL), AIRSWARM_OK);
  }
  {
    /* Names: 1 to 32 bytes of UTF-8, no control characters, no white space at the ends;
     * a refused name leaves the old one; NULL clears it. */
    char longest[AIRSWARM_MAX_NAME_LEN + 2];
    memset(longest, 'n', sizeof longest);
    longest[AIRSWARM_MAX_NAME_LEN] = '\0';
    EXPECT(airswarm_secure_node_set_name(NULL, "x"), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_set_name(n, longest), AIRSWARM_OK);
    longest[AIRSWARM_MAX_NAME_LEN] = 'n';
    longest[AIRSWARM_MAX_NAME_LEN + 1] = '\0';
    EXPECT(airswarm_secure_node_set_name(n, longest), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT_MESSAGE("1 to 32 bytes");
    EXPECT(airswarm_secure_node_set_name(n, ""), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT(airswarm_secure_node_set_name(n, " lead"), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT_MESSAGE("white space");
    EXPECT(airswarm_secure_node_set_name(n, "bell\a"), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT_MESSAGE("control characters");
    EXPECT(airswarm_secure_node_set_name(n, "\xff\xfe"), AIRSWARM_ERR_INVALID_ARGUMENT);
    EXPECT_MESSAGE("not UTF-8");
    EXPECT(airswarm_secure_node_set_name(n, "n\xc3\xb6" "de 7"), AIRSWARM_OK);
    EXPECT(airswarm_secure_node_announce(n, 2, NULL), AIRSWARM_OK);
    uint64_t named_ms = 0, plain_ms = 0;
    EXPECT(airswarm_secure_node_announcement_airtime(NULL, &named_ms), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_announcement_airtime(n, NULL), AIRSWARM_ERR_NULL);
    EXPECT(airswarm_secure_node_announcement_airtime(n, &named_ms), AIRSWARM_OK);
    EXPECT(airswarm_secure_node_set_name(n, NULL), AIRSWARM_OK);
    EXPECT(airswarm_secure_node_announce(n, 3, NULL), AIRSWARM_OK);
    EXPECT(airswarm_secure_node_announcement_airtime(n, &plain_ms), AIRSWARM_OK);
    /* 521 bytes in three frames: about 0.9 s at SF7 / 125 kHz; a name adds bytes to the
     * last frame. */
    checks += 2;
    if (plain_ms < 800 || plain_ms > 1100 || named_ms <= plain_ms) {
      fprintf(stderr, "%s:%d: announcement airtime %llu ms unnamed, %llu ms named\n", __FILE__,
              __LINE__, (unsigned long long)plain_ms, (unsigned long long)named_ms);
      failures++;
    }
  }
  EXPECT(airswarm_secure_node_stat(NULL, "frames_sent", &stat), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_stat(n, NULL, &stat), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_stat(n, "frames_sent", NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_stat(n, "nope", &stat), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_secure_node_stat(n, "pull_answers", &stat), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_handle_frame(NULL, 1, buf, 4, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_handle_frame(n, 1, NULL, 4, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_handle_frame(n, 1, NULL, 0, 0, 0), AIRSWARM_ERR_BAD_FRAME);
  EXPECT(airswarm_secure_node_handle_frame_off_air(NULL, 1, buf, 4, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_handle_frame_off_air(n, 1, NULL, 4, 0, 0), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_handle_frame_off_air(n, 1, NULL, 0, 0, 0), AIRSWARM_ERR_BAD_FRAME);
  EXPECT(airswarm_secure_node_handle_timeout(NULL, 1), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_timeout(NULL, &t), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_timeout(n, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_transmit(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_transmit(n, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_transmit(n, buf, 1, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_secure_node_poll_event(NULL, &ev, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_event(n, NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_secure_node_poll_event(n, &ev, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  ev.struct_size = 3;
  EXPECT(airswarm_secure_node_poll_event(n, &ev, buf, sizeof buf, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  ev.struct_size = sizeof ev;
  airswarm_secure_node_free(n);
  airswarm_node_config_free(cfg);
}

/* Secure events by struct version: a caller compiled with version 1 of the struct (48
 * bytes) gets the fields it has and nothing past them; the full struct carries the
 * announced name's fingerprint and the channel index. Node `a` hears `b`'s announcement
 * (with a name) and a broadcast on the channel both share, then one on a second channel. */
void secure_event_versions(const char *pem_path) {
  size_t plen = 0, len = 0;
  uint8_t *pem = read_file(pem_path, &plen);
  if (pem == NULL) {
    failures++;
    return;
  }
  uint8_t seed[AIRSWARM_KEY_LEN] = {9}, shared[AIRSWARM_KEY_LEN] = {5}, second[AIRSWARM_KEY_LEN] = {6};
  uint8_t fp_b[AIRSWARM_FINGERPRINT_LEN], index = 0;
  airswarm_identity *ia = NULL, *ib = NULL;
  airswarm_secure_node *a = NULL, *b = NULL;
  airswarm_node_config *cfg = NULL;
  EXPECT(airswarm_identity_from_pem(pem, plen, &ia), AIRSWARM_OK);
  free(pem);
  EXPECT(airswarm_identity_generate_for_tests(seed, 32, &ib), AIRSWARM_OK);
  EXPECT(airswarm_identity_fingerprint(ib, fp_b, sizeof fp_b, &len), AIRSWARM_OK);
  EXPECT(airswarm_node_config_new(&cfg), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_new_for_tests(cfg, ia, shared, 32, 0, seed, 32, &a), AIRSWARM_OK);
  seed[1] = 1;
  EXPECT(airswarm_secure_node_new_for_tests(cfg, ib, shared, 32, 0, seed, 32, &b), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_join_channel(a, second, 32, &index), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_join_channel(b, second, 32, &index), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_set_name(b, "node b"), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_announce(b, 1, NULL), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_send(b, 1, AIRSWARM_BROADCAST, (const uint8_t *)"v1", 2, NULL, NULL),
         AIRSWARM_OK);
  EXPECT(airswarm_secure_node_send_on_channel(b, 1, index, (const uint8_t *)"v3", 2, NULL),
         AIRSWARM_OK);
  /* Everything b sends reaches a (a mesh with the one link b -> a, run until quiet); the
   * mesh keeps the events, filled as airswarm_secure_node_poll_event fills them. */
  uint64_t now = 1;
  size_t at = 0;
  airswarm_mesh *mesh = NULL;
  airswarm_secure_node *pair[2] = {a, b};
  EXPECT(airswarm_mesh_new(now, -90.0f, 5.0f, &mesh), AIRSWARM_OK);
  EXPECT(airswarm_mesh_add_link(mesh, 1, 0, -90.0f, 5.0f), AIRSWARM_OK);
  EXPECT(airswarm_mesh_run_secure(mesh, pair, 2, UINT64_MAX, NULL), AIRSWARM_OK);
  union {
    airswarm_secure_event ev;
    unsigned char bytes[sizeof(airswarm_secure_event)];
  } u;
  uint8_t payload[64];
  int pinned = 0, named = 0, v1_message = 0, v3_message = 0;
  airswarm_result r;
  for (;;) {
    /* Version 1 until the first message is read, the full struct after it. */
    memset(u.bytes, 0xAA, sizeof u.bytes);
    u.ev.struct_size = v1_message ? sizeof u.ev : AIRSWARM_SECURE_EVENT_V1_SIZE;
    r = airswarm_mesh_poll_secure_event(mesh, NULL, &at, &u.ev, payload, sizeof payload, &len);
    if (r != AIRSWARM_OK) break;
    if (at != 0) continue; /* only a's events */
    if (u.ev.kind == AIRSWARM_SECURE_EVENT_PEER_PINNED) pinned++;
    if (u.ev.kind == AIRSWARM_SECURE_EVENT_ANNOUNCED && !v1_message) {
      /* Version 1 has no `sender`: the bytes past 48 are untouched. */
      named = len == 6 && memcmp(payload, "node b", 6) == 0 &&
              u.ev.struct_size == AIRSWARM_SECURE_EVENT_V1_SIZE && u.bytes[48] == 0xAA &&
              u.bytes[sizeof u.bytes - 1] == 0xAA;
    }
    if (u.ev.kind == AIRSWARM_SECURE_EVENT_MESSAGE && !v1_message)
      v1_message = len == 2 && memcmp(payload, "v1", 2) == 0 &&
                   u.ev.struct_size == AIRSWARM_SECURE_EVENT_V1_SIZE && u.bytes[48] == 0xAA &&
                   u.ev.security == AIRSWARM_SECURITY_CHANNEL;
    else if (u.ev.kind == AIRSWARM_SECURE_EVENT_MESSAGE)
      v3_message = len == 2 && memcmp(payload, "v3", 2) == 0 && u.ev.struct_size == sizeof u.ev &&
                   u.ev.has_channel == 1 && u.ev.channel == index && u.ev.has_sender == 0;
  }
  EXPECT(r, AIRSWARM_DONE);
  if (!(pinned == 1 && named && v1_message && v3_message))
    failures++, fprintf(stderr, "event versions: pinned %d named %d v1 %d v3 %d\n", pinned, named,
                        v1_message, v3_message);
  /* With the full struct, an announcement names the key in `sender`, and channel 0 is the
   * key given at creation. (An announcement's sequence is its time: a later one.) */
  EXPECT(airswarm_mesh_now(mesh, &now), AIRSWARM_OK);
  now += 1000;
  EXPECT(airswarm_mesh_set_now(mesh, now), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_announce(b, now, NULL), AIRSWARM_OK);
  EXPECT(airswarm_secure_node_send(b, now, AIRSWARM_BROADCAST, (const uint8_t *)"c0", 2, NULL, NULL),
         AIRSWARM_OK);
  int full_named = 0, on_zero = 0;
  EXPECT(airswarm_mesh_run_secure(mesh, pair, 2, UINT64_MAX, NULL), AIRSWARM_OK);
  airswarm_secure_event ev = {.struct_size = sizeof ev};
  while (airswarm_mesh_poll_secure_event(mesh, NULL, &at, &ev, payload, sizeof payload, &len) ==
         AIRSWARM_OK) {
    if (at != 0) continue;
    if (ev.kind == AIRSWARM_SECURE_EVENT_ANNOUNCED)
      full_named = ev.has_sender && memcmp(ev.sender, fp_b, 32) == 0 && len == 6 && !ev.has_channel;
    if (ev.kind == AIRSWARM_SECURE_EVENT_MESSAGE)
      on_zero = ev.has_channel == 1 && ev.channel == 0 && len == 2 && memcmp(payload, "c0", 2) == 0;
    ev.struct_size = sizeof ev;
  }
  if (!full_named || !on_zero)
    failures++, fprintf(stderr, "full struct: named %d, channel 0 %d\n", full_named, on_zero);
  airswarm_mesh_free(mesh);
  airswarm_secure_node_free(a);
  airswarm_secure_node_free(b);
  airswarm_identity_free(ia);
  airswarm_identity_free(ib);
  airswarm_node_config_free(cfg);
}
