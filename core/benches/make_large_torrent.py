#!/usr/bin/python3
# Usage: /usr/bin/python3 core/benches/make_large_torrent.py /tmp/large.torrent
# then: AIRSWARM_BENCH_TORRENT=/tmp/large.torrent cargo bench -p airswarm-core --bench bencode
# Make a large v1 torrent with libtorrent without reading any data: 20 000 files,
# 100 GiB in 256 KiB pieces (409 600 pieces, an 8 MB `pieces` string), random hashes.
import sys, os, random, libtorrent as lt
out = sys.argv[1]
random.seed(1)
fs = lt.file_storage()
total = 0
n = 20000
for i in range(n):
    size = random.randint(1, 10 * 1024 * 1024)
    fs.add_file("large/dir%03d/file-%05d.bin" % (i % 500, i), size)
    total += size
t = lt.create_torrent(fs, 256 * 1024, flags=lt.create_torrent.v1_only)
t.add_tracker("http://tracker.example/announce")
for p in range(t.num_pieces()):
    t.set_hash(p, bytes(random.getrandbits(8) for _ in range(20)))
open(out, "wb").write(lt.bencode(t.generate()))
print(out, os.path.getsize(out), "bytes,", t.num_pieces(), "pieces,", n, "files")
