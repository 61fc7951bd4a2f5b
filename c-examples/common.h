/* Small helpers shared by the examples. */
#ifndef AIRSWARM_EXAMPLES_COMMON_H
#define AIRSWARM_EXAMPLES_COMMON_H
#include <airswarm.h>
#include <stdio.h>
#include <stdlib.h>

/* Reads a whole file into a malloc'd buffer; NULL (with a message) on failure. */
static inline uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    return NULL;
  }
  uint8_t *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 65536;
      uint8_t *nb = realloc(buf, ncap);
      if (nb == NULL) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = nb;
      cap = ncap;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    fprintf(stderr, "%s: read error\n", path);
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

/* Prints "what: <the specific message of the last error>" to stderr (falling back to the
 * code's generic text). Call it right after the failing call, on the same thread. */
static inline void report(const char *what, airswarm_result r) {
  char msg[512];
  size_t len;
  if (airswarm_last_error_message((uint8_t *)msg, sizeof msg, &len) != AIRSWARM_OK || len == 0)
    if (airswarm_result_message((uint32_t)r, (uint8_t *)msg, sizeof msg, &len) != AIRSWARM_OK)
      msg[0] = '\0';
  fprintf(stderr, "%s: %s (%d)\n", what, msg, (int)r);
}

/* 0 if `r` is AIRSWARM_OK; otherwise reports it (see `report`) and returns 1. */
static inline int check(airswarm_result r, const char *what) {
  if (r == AIRSWARM_OK) return 0;
  report(what, r);
  return 1;
}

/* Loads an identity from a PKCS#8 PEM file (`airswarm keygen`); 0 on success, 1 (with a
 * message) on failure. */
static inline int load_identity(const char *path, airswarm_identity **out) {
  size_t len = 0;
  uint8_t *pem = read_file(path, &len);
  if (pem == NULL) return 1;
  airswarm_result r = airswarm_identity_from_pem(pem, len, out);
  free(pem);
  return check(r, path);
}
#endif
