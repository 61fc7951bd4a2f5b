/* Prints the info-hash, name, piece layout and files of a .torrent:
 * `torrent_inspect FILE.torrent`. */
#include "common.h"
#include <inttypes.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s FILE.torrent\n", argv[0]);
    return 2;
  }
  size_t len = 0;
  uint8_t *data = read_file(argv[1], &len);
  if (data == NULL) return 1;
  int status = 1;
  airswarm_metainfo *meta = NULL;
  size_t bad_at = 0;
  airswarm_result r = airswarm_bencode_validate(data, len, &bad_at);
  if (r != AIRSWARM_OK) {
    report(argv[1], r);
    fprintf(stderr, "%s: bencode error at byte %zu\n", argv[1], bad_at);
    goto out;
  }
  if ((r = airswarm_metainfo_parse(data, len, &meta)) != AIRSWARM_OK) {
    report(argv[1], r);
    goto out;
  }
  uint8_t hash[AIRSWARM_SHA1_LEN];
  size_t n;
  char name[1024];
  airswarm_metainfo_summary s = {.struct_size = sizeof(airswarm_metainfo_summary)};
  if (airswarm_metainfo_info_hash(meta, hash, sizeof hash, &n) != AIRSWARM_OK ||
      airswarm_metainfo_name(meta, (uint8_t *)name, sizeof name, &n) != AIRSWARM_OK ||
      airswarm_metainfo_summary_get(meta, &s) != AIRSWARM_OK)
    goto out;
  printf("info-hash: ");
  for (size_t i = 0; i < sizeof hash; i++) printf("%02x", hash[i]);
  printf("\nname:      %s\n", name);
  printf("size:      %" PRIu64 " bytes in %" PRIu32 " pieces of %" PRIu32 " bytes%s\n",
         s.total_length, s.piece_count, s.piece_length, s.private_flag ? " (private)" : "");
  printf("files:     %zu\n", s.file_count);
  for (size_t i = 0; i < s.file_count; i++) {
    airswarm_file_entry f = {.struct_size = sizeof(airswarm_file_entry)};
    char path[4096];
    if ((r = airswarm_metainfo_file(meta, i, &f, (uint8_t *)path, sizeof path, &n)) !=
        AIRSWARM_OK) {
      report("file", r);
      goto out;
    }
    printf("  %12" PRIu64 "  @%-10" PRIu64 " %s%s\n", f.length, f.offset, path,
           f.pad ? "  (padding)" : "");
  }
  status = 0;
out:
  airswarm_metainfo_free(meta);
  free(data);
  return status;
}
