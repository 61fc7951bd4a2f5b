/* What every part of the robustness test shares: the check macros and their counters, the
 * test hooks, the helpers more than one surface uses, and one entry point per surface.
 * robustness.c runs them in order; each part is a file in this folder. */
#ifndef AIRSWARM_ROBUSTNESS_HARNESS_H
#define AIRSWARM_ROBUSTNESS_HARNESS_H
#include "../common.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Test hooks: exported only by a library built with `--features test-hooks` (as the
 * Makefile builds it), never declared in airswarm.h. */
airswarm_result airswarm_test_panic(void);
airswarm_result airswarm_test_force_panic(uint32_t on);

/* Checks that failed, and checks made by EXPECT and EXPECT_MESSAGE (defined in robustness.c). */
extern int failures;
extern long checks;

#define EXPECT(call, want)                                                                     \
  do {                                                                                         \
    checks++;                                                                                  \
    airswarm_result got_ = (call);                                                             \
    if (got_ != (want)) {                                                                      \
      fprintf(stderr, "%s:%d: %s returned %d, expected %d\n", __FILE__, __LINE__, #call,      \
              (int)got_, (int)(want));                                                         \
      failures++;                                                                              \
    }                                                                                          \
  } while (0)

/* The last error message must contain `needle` (its specific text, not only the code's). */
#define EXPECT_MESSAGE(needle)                                                                 \
  do {                                                                                         \
    char m_[512];                                                                              \
    size_t l_ = 0;                                                                             \
    checks++;                                                                                  \
    if (airswarm_last_error_message((uint8_t *)m_, sizeof m_, &l_) != AIRSWARM_OK ||          \
        strstr(m_, (needle)) == NULL) {                                                        \
      fprintf(stderr, "%s:%d: last error %s lacks \"%s\"\n", __FILE__, __LINE__, m_,           \
              (needle));                                                                       \
      failures++;                                                                              \
    }                                                                                          \
  } while (0)

/* A one-file torrent built by hand: 5 bytes "hello", one piece (torrent.c, panics.c). */
#define TORRENT                                                                                \
  "d4:infod6:lengthi5e4:name5:hello12:piece lengthi16384e6:pieces20:"                         \
  "\xaa\xf4\xc6\x1d\xdc\xc5\xe8\xa2\xda\xbe\xde\x0f\x3b\x48\x2c\xd9\xae\xa9\x43\x4d"         \
  "ee"

/* node.c: a plain node with this address and otherwise default settings. */
airswarm_node *make_node(uint32_t address);
/* sim.c: a small plain scenario (6 nodes, 2 km, 2 messages). */
airswarm_sim_config *small_sim(void);
/* radio.c: SX1276 HAL callbacks that drive chip 0 of an airswarm_sx1276_model (`u`). */
int32_t r_spi(void *u, uint8_t *b, size_t n);
int32_t r_reset(void *u, uint8_t l);
int32_t r_dio0(void *u, uint8_t *l);
void r_delay(void *u, uint32_t ns);

/* The surfaces, in the order main() runs them; a `pem_path` is an RSA-2048 PKCS#8 key. */
void lora(void);                                   /* radio.c */
void node(void);                                   /* node.c */
void mesh(void);                                   /* node.c */
void sim(void);                                    /* sim.c */
void sim_limits(void);                             /* sim.c */
void sim_crypto_acks(void);                        /* sim.c */
void torrent(void);                                /* torrent.c */
void crypto(const char *pem_path);                 /* secure.c */
void secure_event_versions(const char *pem_path);  /* secure.c */
void keyring(void);                                /* secure.c */
void file_mesh(const char *pem_path);              /* file_mesh.c */
void radio(void);                                  /* radio.c */
void panics(void);                                 /* panics.c */
#endif
