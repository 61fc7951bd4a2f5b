/* The torrent surface: bencode, metainfo and the piece hasher. */
#include "harness.h"

void torrent(void) {
  const uint8_t *t = (const uint8_t *)TORRENT;
  size_t tlen = sizeof TORRENT - 1, off = 0, len = 0;
  airswarm_metainfo *m = NULL;
  uint8_t buf[64];
  EXPECT(airswarm_bencode_validate(NULL, 5, &off), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_bencode_validate(NULL, 0, &off), AIRSWARM_ERR_BENCODE);
  EXPECT(airswarm_bencode_validate((const uint8_t *)"i1e", 3, NULL), AIRSWARM_OK);
  EXPECT(airswarm_bencode_validate((const uint8_t *)"d1:ai1ex", 8, &off), AIRSWARM_ERR_BENCODE);
  EXPECT(airswarm_bencode_validate(t, tlen, &off), AIRSWARM_OK);
  EXPECT(airswarm_bencode_validate(t, SIZE_MAX, &off), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_bencode_validate(t, SIZE_MAX / 2 + 1, &off), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_parse(t, SIZE_MAX, &m), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_parse(NULL, 4, &m), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_parse(t, tlen, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_parse(t, 0, &m), AIRSWARM_ERR_METAINFO);
  EXPECT(airswarm_metainfo_parse(t, tlen - 1, &m), AIRSWARM_ERR_METAINFO);
  EXPECT(airswarm_metainfo_parse((const uint8_t *)"de", 2, &m), AIRSWARM_ERR_METAINFO);
  EXPECT(airswarm_metainfo_parse(t, tlen, &m), AIRSWARM_OK);
  airswarm_metainfo_free(NULL);

  EXPECT(airswarm_metainfo_info_hash(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_info_hash(m, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_info_hash(m, buf, 19, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  if (len != 20) failures++, fprintf(stderr, "info-hash needs %zu\n", len);
  EXPECT(airswarm_metainfo_info_hash(m, buf, sizeof buf, &len), AIRSWARM_OK);
  EXPECT(airswarm_metainfo_name(NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_name(m, buf, 5, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  if (len != 6) failures++, fprintf(stderr, "name needs %zu\n", len);
  EXPECT(airswarm_metainfo_name(m, buf, 6, &len), AIRSWARM_OK);
  if (strcmp((char *)buf, "hello") != 0) failures++, fprintf(stderr, "name %s\n", buf);
  airswarm_metainfo_summary s = {.struct_size = sizeof(airswarm_metainfo_summary)};
  EXPECT(airswarm_metainfo_summary_get(NULL, &s), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_summary_get(m, NULL), AIRSWARM_ERR_NULL);
  s.struct_size = 8;
  EXPECT(airswarm_metainfo_summary_get(m, &s), AIRSWARM_ERR_INVALID_ARGUMENT);
  s.struct_size = SIZE_MAX;
  EXPECT(airswarm_metainfo_summary_get(m, &s), AIRSWARM_OK);
  if (s.struct_size != sizeof s) failures++, fprintf(stderr, "summary wrote %zu\n", s.struct_size);
  EXPECT(airswarm_metainfo_summary_get(m, &s), AIRSWARM_OK);
  if (s.piece_count != 1 || s.total_length != 5 || s.file_count != 1) failures++;
  airswarm_file_entry f = {.struct_size = sizeof(airswarm_file_entry)};
  EXPECT(airswarm_metainfo_file(NULL, 0, &f, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_file(m, 0, NULL, buf, sizeof buf, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_file(m, 0, &f, buf, sizeof buf, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_file(m, 1, &f, buf, sizeof buf, &len), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_file(m, (size_t)-1, &f, buf, sizeof buf, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_file(m, 0, &f, NULL, 0, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  f.struct_size = 0;
  EXPECT(airswarm_metainfo_file(m, 0, &f, buf, sizeof buf, &len), AIRSWARM_ERR_INVALID_ARGUMENT);
  f.struct_size = sizeof f;
  EXPECT(airswarm_metainfo_file(m, 0, &f, buf, sizeof buf, &len), AIRSWARM_OK);
  if (f.length != 5 || len != 5) failures++, fprintf(stderr, "file %s\n", buf);
  uint64_t o;
  uint32_t sz;
  EXPECT(airswarm_metainfo_piece_span(NULL, 0, &o, &sz), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_piece_span(m, 0, NULL, &sz), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_piece_span(m, 0, &o, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_piece_span(m, 1, &o, &sz), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_piece_span(m, 0, &o, &sz), AIRSWARM_OK);
  if (o != 0 || sz != 5) failures++;
  uint8_t want[20], got[20];
  EXPECT(airswarm_metainfo_piece_hash(NULL, 0, want, sizeof want, &len), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_piece_hash(m, 7, want, sizeof want, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_piece_hash(m, 0, want, 3, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_metainfo_piece_hash(m, 0, want, sizeof want, &len), AIRSWARM_OK);
  const uint8_t *hello = (const uint8_t *)"hello";
  EXPECT(airswarm_metainfo_verify_piece(NULL, 0, hello, 5), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_verify_piece(m, 0, NULL, 5), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_metainfo_verify_piece(m, 0, NULL, 0), AIRSWARM_ERR_PIECE_MISMATCH);
  EXPECT(airswarm_metainfo_verify_piece(m, 1, hello, 5), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_verify_piece(m, 0, hello, 4), AIRSWARM_ERR_PIECE_MISMATCH);
  EXPECT(airswarm_metainfo_verify_piece(m, 0, (const uint8_t *)"jello", 5),
         AIRSWARM_ERR_PIECE_MISMATCH);
  EXPECT(airswarm_metainfo_verify_piece(m, 0, hello, 5), AIRSWARM_OK);
  EXPECT(airswarm_metainfo_verify_piece(m, 0, hello, SIZE_MAX), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_verify_piece(m, UINT32_MAX, hello, 5), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_piece_hash(m, UINT32_MAX, want, sizeof want, &len),
         AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_metainfo_piece_span(m, UINT32_MAX, &o, &sz), AIRSWARM_ERR_INVALID_ARGUMENT);

  airswarm_piece_hasher *h = NULL;
  EXPECT(airswarm_piece_hasher_new(NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_piece_hasher_new(&h), AIRSWARM_OK);
  EXPECT(airswarm_piece_hasher_update(NULL, hello, 2), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_piece_hasher_update(h, NULL, 2), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_piece_hasher_update(h, NULL, 0), AIRSWARM_OK);
  EXPECT(airswarm_piece_hasher_update(h, hello, SIZE_MAX), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_piece_hasher_update(h, hello, 2), AIRSWARM_OK);
  EXPECT(airswarm_piece_hasher_update(h, hello + 2, 3), AIRSWARM_OK);
  EXPECT(airswarm_piece_hasher_finish(h, got, 19, &len), AIRSWARM_ERR_BUFFER_TOO_SMALL);
  EXPECT(airswarm_piece_hasher_finish(h, got, sizeof got, NULL), AIRSWARM_ERR_NULL);
  EXPECT(airswarm_piece_hasher_finish(h, got, sizeof got, &len), AIRSWARM_OK);
  if (memcmp(got, want, 20) != 0) failures++, fprintf(stderr, "hasher digest differs\n");
  EXPECT(airswarm_piece_hasher_finish(h, got, sizeof got, &len), AIRSWARM_ERR_INVALID_ARGUMENT);
  EXPECT(airswarm_piece_hasher_update(h, hello, 1), AIRSWARM_ERR_INVALID_ARGUMENT);
  airswarm_piece_hasher_free(h);
  airswarm_piece_hasher_free(NULL);
  airswarm_metainfo_free(m);
}
