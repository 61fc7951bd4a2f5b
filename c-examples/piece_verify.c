/* Checks a file on disk against a single-file .torrent, piece by piece:
 * `piece_verify FILE.torrent DATA`. Exit 0 when every piece matches, 3 when some do not. */
#include "common.h"
#include <inttypes.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s FILE.torrent DATA\n", argv[0]);
    return 2;
  }
  size_t tlen = 0, dlen = 0;
  uint8_t *tdata = read_file(argv[1], &tlen);
  if (tdata == NULL) return 1;
  uint8_t *data = read_file(argv[2], &dlen);
  int status = 1;
  airswarm_metainfo *meta = NULL;
  airswarm_metainfo_summary s = {.struct_size = sizeof(airswarm_metainfo_summary)};
  airswarm_result r;
  if (data == NULL) goto out;
  if ((r = airswarm_metainfo_parse(tdata, tlen, &meta)) != AIRSWARM_OK) {
    report(argv[1], r);
    goto out;
  }
  if (airswarm_metainfo_summary_get(meta, &s) != AIRSWARM_OK) goto out;
  if (s.multi_file || s.total_length != dlen) {
    fprintf(stderr, "%s: expected a single file of %" PRIu64 " bytes, %s has %zu\n", argv[1],
            s.total_length, argv[2], dlen);
    goto out;
  }
  uint32_t good = 0;
  for (uint32_t i = 0; i < s.piece_count; i++) {
    uint64_t off;
    uint32_t size;
    if ((r = airswarm_metainfo_piece_span(meta, i, &off, &size)) != AIRSWARM_OK) {
      report("piece_span", r);
      goto out;
    }
    r = airswarm_metainfo_verify_piece(meta, i, data + off, size);
    if (r == AIRSWARM_OK)
      good++;
    else if (r == AIRSWARM_ERR_PIECE_MISMATCH)
      printf("piece %" PRIu32 " (bytes %" PRIu64 "..%" PRIu64 ") is bad\n", i, off, off + size);
    else {
      report("verify_piece", r);
      goto out;
    }
  }
  printf("%" PRIu32 "/%" PRIu32 " pieces good\n", good, s.piece_count);
  status = good == s.piece_count ? 0 : 3;
out:
  airswarm_metainfo_free(meta);
  free(data);
  free(tdata);
  return status;
}
